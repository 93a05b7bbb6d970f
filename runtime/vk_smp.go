//go:build velocity

// Velocity kernel: multiprocessor bring-up and inter-processor interrupts.
//
// The CPUs come from ACPI's MADT. Each application processor is started
// with INIT-SIPI-SIPI through the real-mode trampoline that BOOT_ND.BIN
// carries (docs/boot-protocol.md), lands in vkAPEntry on the kernel's page
// tables, and joins the scheduler through its idle thread.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkReschedVector = 0xF0 // wake an idle CPU / re-evaluate the run queue
	vkTLBVector     = 0xF1 // flush the TLB (after munmap, madvise, mprotect)
	vkHaltVector    = 0xF2 // stop: another CPU is ending the machine

	lapicICRLow  = 0x300
	lapicICRHigh = 0x310

	vkTrampBase = 0x8000
)

var vkSMP struct {
	apicIDs  [vkMaxCPU]uint32
	found    int // enabled processors in the MADT
	failed   int // processors that did not come up
	tlbDirty bool
	tlbAcks  uint32
	tlbGen   uint32 // bumped by every shootdown
	haveMADT bool
	ioapics  int
}

// vkACPITable finds an ACPI table by signature through the RSDT or XSDT.
func vkACPITable(sig string) uintptr {
	bi := vkBoot0
	if bi.flags&bootFlagRSDP == 0 || bi.rsdp == 0 {
		return 0
	}
	rsdp := vkDMAP + uintptr(bi.rsdp)
	rev := *(*uint8)(unsafe.Pointer(rsdp + 15))
	var sdt uintptr
	entry := uintptr(4)
	if rev >= 2 && *(*uint64)(unsafe.Pointer(rsdp + 24)) != 0 {
		sdt = uintptr(*(*uint64)(unsafe.Pointer(rsdp + 24)))
		entry = 8
	} else {
		sdt = uintptr(*(*uint32)(unsafe.Pointer(rsdp + 16)))
	}
	if sdt == 0 {
		return 0
	}
	hdr := vkDMAP + sdt
	n := (uintptr(*(*uint32)(unsafe.Pointer(hdr + 4))) - 36) / entry
	for i := uintptr(0); i < n && i < 256; i++ {
		var t uintptr
		if entry == 8 {
			t = uintptr(*(*uint64)(unsafe.Pointer(hdr + 36 + i*8)))
		} else {
			t = uintptr(*(*uint32)(unsafe.Pointer(hdr + 36 + i*4)))
		}
		p := vkDMAP + t
		if *(*[4]byte)(unsafe.Pointer(p)) == [4]byte{sig[0], sig[1], sig[2], sig[3]} {
			return p
		}
	}
	return 0
}

// vkParseMADT records the local APIC ID of every enabled processor.
func vkParseMADT() {
	madt := vkACPITable("APIC")
	if madt == 0 {
		return
	}
	vkSMP.haveMADT = true
	length := uintptr(*(*uint32)(unsafe.Pointer(madt + 4)))
	for off := uintptr(44); off+2 <= length; {
		typ := *(*uint8)(unsafe.Pointer(madt + off))
		l := uintptr(*(*uint8)(unsafe.Pointer(madt + off + 1)))
		if l < 2 {
			break
		}
		switch typ {
		case 0: // processor local APIC
			flags := *(*uint32)(unsafe.Pointer(madt + off + 4))
			if flags&1 != 0 && vkSMP.found < vkMaxCPU {
				vkSMP.apicIDs[vkSMP.found] = uint32(*(*uint8)(unsafe.Pointer(madt + off + 3)))
				vkSMP.found++
			}
		case 1: // I/O APIC: id, reserved, address, GSI base
			if vkSMP.ioapics < len(vkIOAPICs) {
				vkIOAPICs[vkSMP.ioapics] = vkIOAPIC{
					phys:    uintptr(*(*uint32)(unsafe.Pointer(madt + off + 4))),
					gsiBase: *(*uint32)(unsafe.Pointer(madt + off + 8)),
				}
			}
			vkSMP.ioapics++
		case 2: // interrupt source override: bus, source IRQ, GSI, flags
			irq := *(*uint8)(unsafe.Pointer(madt + off + 3))
			if irq < 16 {
				vkISAOverride[irq] = vkOverride{
					valid: true,
					gsi:   *(*uint32)(unsafe.Pointer(madt + off + 4)),
					flags: *(*uint16)(unsafe.Pointer(madt + off + 8)),
				}
			}
		}
		off += l
	}
}

func vkLAPICID() uint32 { return *vkLAPIC(lapicID) >> 24 }

func vkICRWait() {
	for i := 0; i < 1000000 && *vkLAPIC(lapicICRLow)&(1<<12) != 0; i++ {
	}
}

func vkSendIPIRaw(apic uint32, low uint32) {
	vkICRWait()
	*vkLAPIC(lapicICRHigh) = apic << 24
	*vkLAPIC(lapicICRLow) = low
	vkICRWait()
}

// vkSendIPI sends a fixed interrupt to one CPU.
func vkSendIPI(apic uint32, vector uint32) {
	atomic.Xadd64(&vkThisCPU().ipis, 1)
	vkSendIPIRaw(apic, vector|1<<14)
}

func vkDelayNs(ns int64) {
	end := vkNanotime() + ns
	for vkNanotime() < end {
	}
}

// vkSMPInit starts every other CPU the MADT lists. A CPU that does not
// come up is reported and boot goes on with the rest.
func vkSMPInit(bi *vkBootInfo) {
	bsp := &vkCPUs[0]
	bsp.apicID = vkLAPICID()
	vkParseMADT()
	if vkSMP.found <= 1 {
		return
	}
	if bi.apTramp == 0 || bi.apTrampLen == 0 || bi.apTrampLen > 4096-64 {
		vkPrint("velocity: BOOT_ND.BIN has no AP trampoline; running on one CPU\n")
		return
	}
	tramp := vkDMAP + vkTrampBase
	memmove(unsafe.Pointer(tramp), unsafe.Pointer(vkDMAP+uintptr(bi.apTramp)), uintptr(bi.apTrampLen))
	params := tramp + uintptr(bi.apTrampLen) - 40
	// The AP fetches here right after paging: executable (and writable,
	// for the parameter block) until every AP is up, then unmapped. Its
	// EFER (parameter 1) carries NXE, set before the switch to these
	// tables, whose data pages have the NX bit.
	vkMap(vkTrampBase, vkTrampBase, ptePresent|pteWrite)
	put := func(i uintptr, v uint64) { *(*uint64)(unsafe.Pointer(params + i*8)) = v }
	put(0, uint64(vkPML4))
	put(1, vkRdmsr(msrEFER)&^(1<<10)) // LMA is the CPU's to set
	put(4, uint64(vkAPEntryPC()))

	for i := 0; i < vkSMP.found; i++ {
		apic := vkSMP.apicIDs[i]
		if apic == bsp.apicID {
			continue
		}
		if vkCPUCount == vkMaxCPU {
			break
		}
		c := &vkCPUs[vkCPUCount]
		atomic.Store(&c.online, 0) // the slot of an AP given up on is reused; that AP was sent INIT
		c.id = uint32(vkCPUCount)
		c.apicID = apic
		// Everything the AP needs is allocated here, by one CPU.
		c.ist1 = vkKernelStack(vkISTStackSize)
		c.ist2 = vkKernelStack(vkISTStackSize)
		stack := vkKernelStack(vkKStackSize)
		vkNewIdleThread(c, stack)
		put(2, uint64(stack))
		put(3, uint64(uintptr(unsafe.Pointer(c))))
		vkSendIPIRaw(apic, 0x4500) // INIT, assert
		vkDelayNs(10_000_000)
		for sipi := 0; sipi < 2 && atomic.Load(&c.online) == 0; sipi++ {
			vkSendIPIRaw(apic, 0x4600|vkTrampBase>>12) // STARTUP
			vkDelayNs(200_000)
		}
		if !vkAPWait(c) {
			vkPrint("velocity: CPU with APIC id ")
			vkPrintDec(int64(apic))
			vkPrint(" did not start; continuing without it\n")
			vkSMP.failed++
			continue
		}
		vkCPUCount++
	}
	*vkPTE(vkTrampBase, false) = 0 // low memory is not the allocator's: just unmap
	vkInvlpg(vkTrampBase)
}

func vkAPEntryPC() uintptr

// An AP's vkCPU.online goes 0 → vkAPStarting (the AP claimed its slot) →
// 1 (running its idle loop), or to vkAPGone (it failed its set-up, or the
// boot CPU gave up on it before it claimed the slot).
const (
	vkAPGone     = 2
	vkAPStarting = 3
	// vkAPStartNs bounds the wait for an AP to claim its slot after the
	// STARTUP IPIs, and again for it to finish (Linux waits up to 10 s;
	// a healthy AP takes milliseconds, but under TCG on a loaded host its
	// vCPU thread may not run for a long while).
	vkAPStartNs = 2_000_000_000
)

// vkAPWait waits for the AP in slot c and reports whether it is online.
// An AP that never claimed its slot is abandoned by compare-and-swap, so
// it halts if it ever starts, and is sent INIT, which puts it back to
// waiting for a STARTUP that will not come. (A 200 ms window once lost a
// CPU that started late on the next CPU's parameters or after the
// trampoline was unmapped: a triple fault, which resets the machine.)
func vkAPWait(c *vkCPU) bool {
	for start := vkNanotime(); vkNanotime()-start < vkAPStartNs; {
		if atomic.Load(&c.online) != 0 {
			break
		}
	}
	if atomic.Cas(&c.online, 0, vkAPGone) {
		vkSendIPIRaw(c.apicID, 0x4500) // INIT
		vkDelayNs(10_000_000)
		return false
	}
	for start := vkNanotime(); vkNanotime()-start < vkAPStartNs; {
		switch atomic.Load(&c.online) {
		case 1:
			return true
		case vkAPGone:
			return false
		}
	}
	// It claimed the slot and is running kernel code, but never finished:
	// its state cannot be reclaimed safely.
	vkFatal("an application processor started but did not finish its set-up")
	return false
}

// vkAPMain is an AP's first Go code, on its idle thread's stack.
//
// No write barriers: called from vkAPEntry's assembly with no P, on kernel
// memory that is not Go heap.
//
//go:nowritebarrierrec
func vkAPMain(c *vkCPU) {
	// Claim the slot first: if the boot CPU gave up on this AP (it came
	// up after vkAPStartNs), the slot and its stacks may be another CPU's
	// now, so touch nothing and halt.
	if !atomic.Cas(&c.online, 0, vkAPStarting) {
		vkHaltForever()
	}
	if !vkFPUSetupAP(c) {
		atomic.Store(&c.online, vkAPGone)
		return // not online: vkSMPInit reports it and goes on without it
	}
	vkCPUInit(c)
	vkLAPICInit()
	vkFpuInit()
	t := vkThreadOf(c.idleT)
	c.cur = c.idleT
	c.kstackTop = t.kstackTop
	c.fpu = uintptr(unsafe.Pointer(&t.fpu[0]))
	vkRqLock() // the idle loop holds its run-queue lock except while halted
	atomic.Store(&c.online, 1)
	vkIdleLoop()
}

// vkTLBFlushLocal answers a shootdown once: a CPU may see the same
// request both as an IPI and by polling while it spins on the lock.
func vkTLBFlushLocal() {
	c := vkThisCPU()
	gen := atomic.Load(&vkSMP.tlbGen)
	if atomic.Load(&c.tlbSeen) == gen {
		return
	}
	vkWriteCR3(vkReadCR3())
	atomic.Store(&c.tlbSeen, gen)
	atomic.Xadd(&vkSMP.tlbAcks, 1)
}

// vkTLBShootdown makes every other CPU drop stale translations after the
// kernel unmapped pages, and waits until all have: only then may the freed
// frames be reused safely. The caller holds the kernel lock.
func vkTLBShootdown() {
	vkAssertHeld(&vkBKL)
	if !vkSMP.tlbDirty {
		return
	}
	vkSMP.tlbDirty = false
	me := vkThisCPU()
	atomic.Store(&vkSMP.tlbAcks, 0)
	gen := atomic.Xadd(&vkSMP.tlbGen, 1)
	atomic.Store(&me.tlbSeen, gen)
	n := uint32(0)
	for i := 0; i < vkCPUCount; i++ {
		c := &vkCPUs[i]
		if c != me && atomic.Load(&c.online) != 0 {
			vkSendIPI(c.apicID, vkTLBVector)
			n++
		}
	}
	for atomic.Load(&vkSMP.tlbAcks) < n {
	}
}

// vkStopOthers halts every other CPU before the machine ends.
func vkStopOthers() {
	me := vkThisCPU()
	for i := 0; i < vkCPUCount; i++ {
		c := &vkCPUs[i]
		if c != me && atomic.Load(&c.online) != 0 {
			vkSendIPI(c.apicID, vkHaltVector)
		}
	}
}
