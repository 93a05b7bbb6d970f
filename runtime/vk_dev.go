//go:build velocity

// Velocity kernel: what device drivers written in ordinary Go need. All
// Go code runs at CPL 0 in one address space, so a driver package (the
// virtio-net driver in package netstack) could touch I/O ports and
// physical memory itself; it asks the kernel instead, because these need
// the kernel's own state: the PCI configuration ports are a two-step
// protocol that must not interleave with another CPU's, DMA memory must
// come from the frame allocator, and an interrupt must be acknowledged in
// trap context, where no Go code of the driver's can run.
//
//	0x5630 pci(bdf, off, width, val, write)  PCI configuration space
//	0x5631 io(port, width, val, write)       an I/O port
//	0x5632 dma(pages, out)                   zeroed, physically contiguous
//	                                         memory; out gets {va, pa}
//	0x5633 irq(line, ackPort)                route a PCI INTx line; the
//	                                         handler reads ackPort (virtio's
//	                                         ISR, which lowers the line)
//	                                         or, above 0xFFFF, the address
//	                                         of a byte in an MMIO mapping
//	                                         from 0x5635 (virtio 1.x's ISR)
//	0x5634 irqwait(handle, seen)             sleep until the interrupt's
//	                                         count passes seen; returns the
//	                                         count. handle: an INTx line, or
//	                                         16+slot for an MSI vector
//	0x5635 mmio(bdf, bar, out)               map a memory BAR of a device
//	                                         uncached; out gets {va, size}
//	0x5636 msi(out)                          reserve an MSI vector on a CPU
//	                                         irqcpus= allows; out gets
//	                                         {address, data, handle, cpu}
//	0x5637 netstats(op, p, n)                op 0: the network driver
//	                                         registers its counters (p, n);
//	                                         op 1: copy them to p (n bytes
//	                                         at most), returns the length
//	0x5638 irqfd(handle, fd)                 every arrival of the interrupt
//	                                         also adds 1 to eventfd fd and
//	                                         wakes its epoll watchers; fd -1
//	                                         unbinds. The eventfd is kept
//	                                         while bound, even if closed.
//	0x5639 msifree(handle)                   give back an MSI vector from
//	                                         0x5636 (a driver whose device
//	                                         refused it): unbound from its
//	                                         eventfd, waiters in irqwait get
//	                                         EINVAL, the slot is reused
//
// irqfd exists so that a driver waits for its interrupt in Go's netpoller
// instead of in irqwait: a goroutine parked there costs nothing, and the
// thread that wakes from epoll_pwait for the interrupt runs the driver's
// goroutine and then, in the same thread, the goroutines the driver made
// runnable. A thread blocked in irqwait instead is woken by the kernel,
// must get a processor back from Go's scheduler, and hands the work it
// readies to yet another thread.
//
// Errors are Linux's: EFAULT for a pointer the kernel cannot write, EINVAL
// for a bad argument (a BAR that is not an assigned memory BAR, an
// offset outside configuration space), ENODEV when no device answers,
// ENOSPC when MSI vectors or MMIO address space run out.
//
// Configuration space: through ECAM (memory-mapped, from ACPI's MCFG, with
// the 4 KiB extended space per function) when the firmware describes it,
// otherwise configuration mechanism #1 (ports 0xCF8/0xCFC, 256 bytes).
//
// Trap context: the interrupt handler (vkDevIRQ) runs with or without the
// kernel lock, //go:nosplit and //go:nowritebarrierrec, allocating
// nothing; it only reads the ack port or ISR byte (INTx), sets a pending
// bit and sends EOI. vkDevIRQWork, under the lock, counts and wakes. The
// system calls above run under the kernel lock and never block, except
// irqwait, which sleeps only when the caller may (canBlock).

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkSysPCI     = 0x5630
	vkSysIO      = 0x5631
	vkSysDMA     = 0x5632
	vkSysIRQ     = 0x5633
	vkSysIRQWait = 0x5634
	vkSysMMIO    = 0x5635
	vkSysMSI     = 0x5636
	vkSysNetStat = 0x5637
	vkSysIRQFD   = 0x5638
	vkSysMSIFree = 0x5639

	// PCI INTx line n interrupts at vector 0x20+n, as ISA IRQ n would;
	// lines 0 (the timer's vector), 2, 3 and 4 (the serial ports) are
	// not given to devices.
	vkDevVectorBase = 0x20
	vkDevLines      = 16
	vkDMAMaxPages   = 512
	vkDevAcks       = 4 // devices sharing one INTx line

	// MSI vectors 0x30-0x37 (vk_entry_amd64.s has their stubs); handle
	// vkDevLines+i is slot i.
	vkMSIVectorBase = 0x30
	vkMSISlots      = 8

	// MMIO mappings live above the kernel stacks, uncached.
	vkMMIOBase    = uintptr(0xffffd00000000000)
	vkMMIOLimit   = uintptr(64 << 30)
	vkMMIOMaxBAR  = uint64(256 << 20)
	vkMMIOSlots   = 32
	vkNetStatsMax = 512
	vkErrNoSpace  = 28 // ENOSPC (vk_syscall.go has no constant for it yet)
)

var vkDev struct {
	pending uint32 // bit per INTx line, and bit 16+i per MSI slot i: interrupted, not yet counted
	routed  [vkDevLines + vkMSISlots]bool
	// ack lists, per line, what the handler reads: a port (<= 0xFFFF) or
	// an MMIO byte. PCI lines are shared (two virtio cards on line 11),
	// and each device lowers its part of the line only when its own ISR
	// is read, so every attached device's is read.
	ack     [vkDevLines][vkDevAcks]uintptr
	count   [vkDevLines + vkMSISlots]uint64
	efd     [vkDevLines + vkMSISlots]int32 // irqfd: the eventfd's description + 1, 0 = none
	isr     uint32                         // the last ISR value read (so the read is never dropped)
	msiMade int                            // MSI vectors reserved since boot: the next one's CPU, round-robin

	mmio  [vkMMIOSlots]vkMMIOMapping
	nmmio int
	next  uintptr // bytes of the MMIO region used

	ecam struct {
		probed     bool
		va         uintptr // bus busStart, device 0, function 0
		pa         uintptr
		start, end uintptr // buses
	}

	netStats struct{ p, n uintptr }
	rings    uintptr // the network driver's [2]vkRingInfo (op 2 of vkSysNetStats), for the NMI dump
	// The network stack's counters (ops 3 and 4 of vkSysNetStats): where
	// each one is, 0 for one this build lacks.
	stackCtrs  [vkStackCtrsMax]uintptr
	nStackCtrs uintptr
}

// vkStackCtrsMax bounds the network stack's counters (vkSysNetStats op 3).
const vkStackCtrsMax = 64

func vkSysPCIConfig(bdf, off, width uintptr, val uint32, write bool) uintptr {
	if bdf > 0xFFFF || off > 0xFFF || (width != 1 && width != 2 && width != 4) || off%width != 0 {
		return vkErr(vkEINVAL)
	}
	if r, ok := vkPCIConfigRW(bdf, off, width, val, write); ok {
		return r
	}
	return vkErr(vkEINVAL) // extended configuration space without ECAM
}

// vkPCIConfigRW reads or writes configuration space, through ECAM when
// the firmware described it (offsets up to 0xFFF), else through ports
// 0xCF8/0xCFC (up to 0xFF). The kernel lock is held, so the two-port
// protocol never interleaves with another CPU's.
func vkPCIConfigRW(bdf, off, width uintptr, val uint32, write bool) (uintptr, bool) {
	vkECAMProbe()
	e := &vkDev.ecam
	if bus := bdf >> 8; e.va != 0 && bus >= e.start && bus <= e.end {
		p := e.va + (bdf-e.start<<8)<<12 + off
		if write {
			switch width {
			case 1:
				*(*uint8)(unsafe.Pointer(p)) = uint8(val)
			case 2:
				*(*uint16)(unsafe.Pointer(p)) = uint16(val)
			default:
				atomic.Store((*uint32)(unsafe.Pointer(p)), val)
			}
			return 0, true
		}
		switch width {
		case 1:
			return uintptr(*(*uint8)(unsafe.Pointer(p))), true
		case 2:
			return uintptr(*(*uint16)(unsafe.Pointer(p))), true
		}
		return uintptr(atomic.Load((*uint32)(unsafe.Pointer(p)))), true
	}
	if off > 0xFF {
		return 0, false
	}
	vkOutl(0xCF8, uint32(1)<<31|uint32(bdf)<<8|uint32(off)&0xFC)
	return vkPortRW(uint16(0xCFC+off&3), width, val, write), true
}

// vkECAMProbe looks once for ACPI's MCFG table and maps the configuration
// space of segment 0 uncached, in 2 MiB pages. Without the table, or with
// one the kernel cannot use, configuration stays on the ports.
func vkECAMProbe() {
	e := &vkDev.ecam
	if e.probed {
		return
	}
	e.probed = true
	t := vkACPITable("MCFG")
	if t == 0 {
		return
	}
	n := uintptr(*(*uint32)(unsafe.Pointer(t + 4)))
	for off := uintptr(44); off+16 <= n && off < 44+16*16; off += 16 {
		ent := t + off
		base := uintptr(*(*uint64)(unsafe.Pointer(ent)))
		seg := *(*uint16)(unsafe.Pointer(ent + 8))
		start := uintptr(*(*uint8)(unsafe.Pointer(ent + 10)))
		end := uintptr(*(*uint8)(unsafe.Pointer(ent + 11)))
		if seg != 0 || end < start {
			continue
		}
		// base is where bus 0 would be; the window starts at bus start.
		pa := base + start<<20
		size := (end - start + 1) << 20
		if pa&(2<<20-1) != 0 || size > vkMMIOLimit-vkDev.next {
			vkPrint("velocity: pci: MCFG window not 2 MiB-aligned; using ports 0xCF8/0xCFC\n")
			return
		}
		va := vkMMIOBase + vkDev.next
		for o := uintptr(0); o < (size+2<<20-1)&^(2<<20-1); o += 2 << 20 {
			vkMapHugeUncached(va+o, pa+o)
		}
		vkDev.next += (size + 2<<20 - 1) &^ (2<<20 - 1)
		e.va, e.pa, e.start, e.end = va, pa, start, end
		vkPrint("velocity: pci: ECAM at ")
		vkPrintHex(uint64(pa))
		vkPrint(", buses ")
		vkPrintDec(int64(start))
		vkPrint("-")
		vkPrintDec(int64(end))
		vkPrint("\n")
		return
	}
}

// vkMapHugeUncached maps one 2 MiB page of device memory (PCD|PWT).
func vkMapHugeUncached(va, pa uintptr) {
	vkMapHugeEntry(va, uint64(pa)|ptePresent|pteWrite|pteHuge|ptePWT|ptePCD)
}

// vkSysMMIOMap maps memory BAR bar of device bdf uncached and writes
// {va, size} to out. Only a BAR the device has (its size learned by the
// standard probe, with decoding off meanwhile) can be mapped, so a driver
// cannot map RAM or another device's registers by naming an address.
// Mapping the same BAR again returns the same address.
func vkSysMMIOMap(bdf, bar, out uintptr) uintptr {
	if bdf > 0xFFFF || bar > 5 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(out, 16, true) {
		return vkErr(vkEFAULT)
	}
	id, _ := vkPCIConfigRW(bdf, 0, 4, 0, false)
	if uint32(id) == 0xFFFFFFFF || id == 0 {
		return vkErr(vkENODEV)
	}
	if hdr, _ := vkPCIConfigRW(bdf, 0x0E, 1, 0, false); hdr&0x7F != 0 {
		return vkErr(vkEINVAL) // a bridge: its BARs are not a driver's
	}
	reg := 0x10 + 4*bar
	lo, _ := vkPCIConfigRW(bdf, reg, 4, 0, false)
	if lo&1 != 0 {
		return vkErr(vkEINVAL) // an I/O BAR: use the port call
	}
	is64 := lo>>1&3 == 2
	if is64 && bar == 5 {
		return vkErr(vkEINVAL)
	}
	var hi uintptr
	if is64 {
		hi, _ = vkPCIConfigRW(bdf, reg+4, 4, 0, false)
	}
	pa := uintptr(uint32(lo)&^15) | hi<<32
	// Mapped before (at this address): no second size probe, which would
	// turn the device's decoding off under a driver already using it.
	for i := 0; i < vkDev.nmmio; i++ {
		if m := &vkDev.mmio[i]; m.bdf == bdf && m.bar == bar && m.pa == pa && pa != 0 {
			*(*[2]uint64)(unsafe.Pointer(out)) = [2]uint64{uint64(m.va), uint64(m.size)}
			return 0
		}
	}
	// Size: write all ones with memory decoding off, read the mask back.
	cmd, _ := vkPCIConfigRW(bdf, 4, 2, 0, false)
	vkPCIConfigRW(bdf, 4, 2, uint32(cmd)&^2, true)
	vkPCIConfigRW(bdf, reg, 4, 0xFFFFFFFF, true)
	mlo, _ := vkPCIConfigRW(bdf, reg, 4, 0, false)
	mhi := uintptr(0xFFFFFFFF)
	if is64 {
		vkPCIConfigRW(bdf, reg+4, 4, 0xFFFFFFFF, true)
		mhi, _ = vkPCIConfigRW(bdf, reg+4, 4, 0, false)
		vkPCIConfigRW(bdf, reg+4, 4, uint32(hi), true)
	}
	vkPCIConfigRW(bdf, reg, 4, uint32(lo), true)
	vkPCIConfigRW(bdf, 4, 2, uint32(cmd), true)
	mask := uint64(uint32(mlo)&^15) | uint64(uint32(mhi))<<32
	size := ^mask + 1
	if pa == 0 || mask == 0 || size == 0 || size > vkMMIOMaxBAR || pa&4095 != 0 && size >= 4096 {
		return vkErr(vkEINVAL) // unassigned, not implemented, or too big to map
	}
	pages := (uintptr(size) + uintptr(pa&4095) + 4095) / 4096
	if vkDev.nmmio == vkMMIOSlots || pages*4096 > vkMMIOLimit-vkDev.next {
		return vkErr(vkErrNoSpace)
	}
	base := vkMMIOBase + vkDev.next
	for i := uintptr(0); i < pages; i++ {
		vkMap(base+i*4096, pa&^4095+i*4096, ptePresent|pteWrite|ptePWT|ptePCD)
	}
	vkDev.next += pages * 4096
	va := base + pa&4095
	vkDev.mmio[vkDev.nmmio] = vkMMIOMapping{bdf: bdf, bar: bar, pa: pa, size: uintptr(size), va: va}
	vkDev.nmmio++
	*(*[2]uint64)(unsafe.Pointer(out)) = [2]uint64{uint64(va), size}
	return 0
}

// vkMMIOMapping is one BAR mapped by vkSysMMIOMap.
type vkMMIOMapping struct {
	bdf, bar     uintptr
	pa, size, va uintptr
}

// vkMMIOByte reports whether va is a byte of an MMIO mapping.
func vkMMIOByte(va uintptr) bool {
	for i := 0; i < vkDev.nmmio; i++ {
		if m := &vkDev.mmio[i]; va >= m.va && va < m.va+m.size {
			return true
		}
	}
	return false
}

// vkSysMSIAlloc reserves an MSI vector and writes {address, data, handle,
// cpu} to out. Vectors go round-robin to the CPUs irqcpus= allows (fixed
// delivery, physical destination, edge-triggered).
func vkSysMSIAlloc(out uintptr) uintptr {
	if !vkUserOK(out, 32, true) {
		return vkErr(vkEFAULT)
	}
	slot := 0
	for slot < vkMSISlots && vkDev.routed[vkDevLines+slot] {
		slot++
	}
	if slot == vkMSISlots {
		return vkErr(vkErrNoSpace)
	}
	cpus := vkIRQCPUs & vkAllCPUs()
	if cpus == 0 {
		cpus = 1
	}
	k := vkDev.msiMade % vkPopcount(cpus)
	cpu := 0
	for ; cpu < 64; cpu++ {
		if cpus&(1<<cpu) != 0 {
			if k == 0 {
				break
			}
			k--
		}
	}
	apic := vkCPUs[cpu].apicID
	if apic > 255 {
		return vkErr(vkErrNoSpace) // needs x2APIC interrupt remapping
	}
	vkDev.msiMade++
	vkDev.routed[vkDevLines+slot] = true
	*(*[4]uint64)(unsafe.Pointer(out)) = [4]uint64{0xFEE00000 | uint64(apic)<<12, uint64(vkMSIVectorBase + slot), uint64(vkDevLines + slot), uint64(cpu)}
	return 0
}

// vkSysMSIRelease gives back the MSI vector of handle (vkSysMSIAlloc's),
// whose device will never send it: a driver that programmed a vector the
// device then refused would otherwise leak one of the vkMSISlots. Its
// eventfd is unbound and put, a thread in irqwait on it is woken (and
// gets EINVAL), and its count starts again from 0 for the next owner.
// The kernel lock is held.
func vkSysMSIRelease(line uintptr) uintptr {
	if line < vkDevLines || line >= vkDevLines+vkMSISlots || !vkDev.routed[line] {
		return vkErr(vkEINVAL)
	}
	vkDev.routed[line] = false
	atomic.And(&vkDev.pending, ^(uint32(1) << line))
	if old := vkDev.efd[line]; old != 0 {
		vkDev.efd[line] = 0
		vkFilePut(old - 1)
	}
	vkDev.count[line] = 0
	vkFutexWake(uintptr(unsafe.Pointer(&vkDev.count[line])), vkMaxThreads)
	return 0
}

func vkPopcount(m uint64) int {
	n := 0
	for ; m != 0; m &= m - 1 {
		n++
	}
	return n
}

// vkRingInfo is one of the network driver's queues as it registers it
// for the NMI dump (netstack/virtio.go, ringInfo): where its rings are,
// the used index it takes next, and whether it sleeps for the queue's
// interrupt. The driver updates the last two as it goes.
type vkRingInfo struct {
	size, availPA, usedPA uint64
	lastUsed, waiting     uint64
}

// vkSysNetStats keeps (op 0) or copies out (op 1) the network driver's
// counters, or keeps where its queues are (op 2, [2]vkRingInfo: receive,
// transmit). The kernel only copies the counters; their layout is the
// driver's and kernel.NICStats's. Ops 3 and 4 do the same for the network
// stack's counters, which are gVisor's and lie apart (netstack/
// stackstats.go): op 3 keeps a list of n/8 addresses at p, each a word
// that never moves or 0, and op 4 copies out what those words hold now,
// in the list's order (kernel.StackStats's), and returns the bytes
// written: 0 when no stack registered, so no counter is ever invented.
func vkSysNetStats(op, p, n uintptr) uintptr {
	switch op {
	case 3:
		vkAssertHeld(&vkBKL) // vkDev's list, which op 4 reads, is under it
		if n == 0 || n > vkStackCtrsMax*8 || n%8 != 0 {
			return vkErr(vkEINVAL)
		}
		if !vkUserOK(p, n, false) {
			return vkErr(vkEFAULT)
		}
		for i := uintptr(0); i < n/8; i++ {
			a := *(*uintptr)(unsafe.Pointer(p + i*8))
			if a != 0 && (a%8 != 0 || !vkUserOK(a, 8, false)) {
				return vkErr(vkEFAULT) // the list registered before stays
			}
		}
		// Read again as copied: the kernel lock is held, and a list that
		// changed meanwhile is checked once more at each read (op 4).
		for i := uintptr(0); i < n/8; i++ {
			vkDev.stackCtrs[i] = *(*uintptr)(unsafe.Pointer(p + i*8))
		}
		vkDev.nStackCtrs = n / 8
		return 0
	case 4:
		vkAssertHeld(&vkBKL)
		k := vkDev.nStackCtrs
		if n/8 < k {
			k = n / 8
		}
		if !vkUserOK(p, k*8, true) {
			return vkErr(vkEFAULT)
		}
		for i := uintptr(0); i < k; i++ {
			v := uint64(0)
			// Checked again: a counter is the stack's memory, which
			// stays while the program runs, but a read must not fault.
			if a := vkDev.stackCtrs[i]; a != 0 && vkUserOK(a, 8, false) {
				v = atomic.Load64((*uint64)(unsafe.Pointer(a)))
			}
			*(*uint64)(unsafe.Pointer(p + i*8)) = v
		}
		return k * 8
	case 2:
		if n != unsafe.Sizeof([2]vkRingInfo{}) {
			return vkErr(vkEINVAL)
		}
		if !vkUserOK(p, n, false) {
			return vkErr(vkEFAULT)
		}
		rings := (*[2]vkRingInfo)(unsafe.Pointer(p))
		for i := range rings {
			if !vkRingOK(&rings[i]) {
				return vkErr(vkEINVAL)
			}
		}
		vkDev.rings = p
		return 0
	case 0:
		if n == 0 || n > vkNetStatsMax || n%8 != 0 {
			return vkErr(vkEINVAL)
		}
		if !vkUserOK(p, n, true) {
			return vkErr(vkEFAULT)
		}
		vkDev.netStats.p, vkDev.netStats.n = p, n
		return 0
	case 1:
		if n > vkNetStatsMax {
			n = vkNetStatsMax
		}
		if n > vkDev.netStats.n {
			n = vkDev.netStats.n
		}
		if !vkUserOK(p, n, true) {
			return vkErr(vkEFAULT)
		}
		for i := uintptr(0); i+8 <= n; i += 8 {
			*(*uint64)(unsafe.Pointer(p + i)) = atomic.Load64((*uint64)(unsafe.Pointer(vkDev.netStats.p + i)))
		}
		return n
	}
	return vkErr(vkEINVAL)
}

// vkPortRW reads (returning the value) or writes one I/O port of width
// 1, 2 or 4 bytes.
func vkPortRW(port uint16, width uintptr, val uint32, write bool) uintptr {
	if write {
		switch width {
		case 1:
			vkOutb(port, uint8(val))
		case 2:
			vkOutw(port, uint16(val))
		default:
			vkOutl(port, val)
		}
		return 0
	}
	switch width {
	case 1:
		return uintptr(vkInb(port))
	case 2:
		return uintptr(vkInw(port))
	}
	return uintptr(vkInl(port))
}

// vkSysIOPort gives drivers the ports of their devices. The legacy ports
// the kernel itself drives (the PIC, PIT, CMOS, serial lines, PCI
// configuration, QEMU's exit device) are refused.
func vkSysIOPort(port, width uintptr, val uint32, write bool) uintptr {
	if port > 0xFFFF || (width != 1 && width != 2 && width != 4) || port < 0x1000 {
		return vkErr(vkEPERM)
	}
	return vkPortRW(uint16(port), width, val, write)
}

// vkSysDMAAlloc hands out physically contiguous zeroed frames, reachable
// through the direct map. They are never given back: drivers keep their
// rings and buffers for the life of the machine.
func vkSysDMAAlloc(pages, out uintptr) uintptr {
	if pages == 0 || pages > vkDMAMaxPages {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(out, 16, true) {
		return vkErr(vkEFAULT)
	}
	pa := vkFrameRun(pages)
	if pa == 0 {
		return vkErr(vkENOMEM)
	}
	memclrNoHeapPointers(unsafe.Pointer(vkP2V(pa)), pages*vkPageSize)
	*(*[2]uint64)(unsafe.Pointer(out)) = [2]uint64{uint64(vkP2V(pa)), uint64(pa)}
	return 0
}

func vkSysIRQAttach(line, ack uintptr) uintptr {
	if line >= vkDevLines || line <= 4 && line != 1 || (ack != 0 && ack < 0x1000) || ack > 0xFFFF && !vkMMIOByte(ack) {
		return vkErr(vkEINVAL)
	}
	if ack != 0 {
		i := 0
		for i < vkDevAcks && vkDev.ack[line][i] != 0 && vkDev.ack[line][i] != ack {
			i++
		}
		if i == vkDevAcks {
			return vkErr(vkErrNoSpace)
		}
		vkDev.ack[line][i] = ack
	}
	if !vkDev.routed[line] {
		if !vkIRQRouteLevel(int(line), vkDevVectorBase+uint32(line)) {
			return vkErr(vkENODEV)
		}
		vkDev.routed[line] = true
	}
	return 0
}

func vkSysIRQWaitLine(line uintptr, seen uint64, canBlock bool) uintptr {
	if line >= vkDevLines+vkMSISlots || !vkDev.routed[line] {
		return vkErr(vkEINVAL)
	}
	for vkDev.count[line] <= seen {
		if !vkDev.routed[line] {
			return vkErr(vkEINVAL) // given back meanwhile (vkSysMSIRelease)
		}
		if !canBlock {
			return vkErr(vkEAGAIN)
		}
		t := vkCur()
		t.waitAddr = uintptr(unsafe.Pointer(&vkDev.count[line]))
		vkBlockIntr(0)
		if t.pending&^t.sigmask != 0 {
			return vkErr(vkERESTARTSYS) // made again after the handler, as velocity_net_wait
		}
	}
	return uintptr(vkDev.count[line])
}

// vkSysIRQFDBind binds eventfd fd to the interrupt (irqfd), or unbinds
// it (fd -1); the kernel lock is held.
func vkSysIRQFDBind(line uintptr, fd int32) uintptr {
	if line >= vkDevLines+vkMSISlots || !vkDev.routed[line] {
		return vkErr(vkEINVAL)
	}
	i := int32(-1)
	if fd != -1 {
		f := vkFDFile(fd)
		switch {
		case f == nil:
			return vkErr(vkEBADF)
		case f.kind != fdEventfd:
			return vkErr(vkEINVAL)
		}
		i = vkFileHold(f)
	}
	old := vkDev.efd[line]
	vkDev.efd[line] = i + 1
	if old != 0 {
		vkFilePut(old - 1)
	}
	return 0
}

// vkDevIRQ acknowledges a device interrupt in trap context. It reports
// whether vector was a device line's.
//
//go:nosplit
//go:nowritebarrierrec
func vkDevIRQ(vector uint64) bool {
	var line uint32
	switch {
	case vector >= vkMSIVectorBase && vector < vkMSIVectorBase+vkMSISlots:
		// MSI: edge-triggered, nothing to acknowledge at the device.
		line = vkDevLines + uint32(vector-vkMSIVectorBase)
	case vector >= vkDevVectorBase && vector < vkDevVectorBase+vkDevLines:
		line = uint32(vector - vkDevVectorBase)
		for i := 0; i < vkDevAcks; i++ {
			if p := vkDev.ack[line][i]; p > 0xFFFF {
				// virtio 1.x's ISR byte in an uncached mapping:
				// reading it lowers the device's part of the line.
				atomic.Store(&vkDev.isr, uint32(*(*uint8)(unsafe.Pointer(p))))
			} else if p != 0 {
				vkInb(uint16(p)) // the legacy ISR port
			}
		}
	default:
		return false
	}
	if !vkDev.routed[line] {
		return false // the timer, a serial port, or nothing of ours
	}
	atomic.Or(&vkDev.pending, 1<<line)
	atomic.Store(&vkIRQPending, 1)
	vkEOI()
	return true
}

// vkDevIRQWork counts pending interrupts and wakes their waiters; the
// kernel lock is held.
func vkDevIRQWork() {
	p := atomic.Xchg(&vkDev.pending, 0)
	if p != 0 {
		atomic.Storeint64(&vkDevLastIRQNs, vkNanotime()) // idle CPUs halt without polling (vk_idlepoll.go)
	}
	for line := 0; p != 0 && line < len(vkDev.count); line++ {
		if p&(1<<line) != 0 {
			p &^= 1 << line
			vkDev.count[line]++
			vkFutexWake(uintptr(unsafe.Pointer(&vkDev.count[line])), vkMaxThreads)
			if e := vkDev.efd[line]; e != 0 {
				vkEventfdSignal(vkFileAt(e - 1))
			}
		}
	}
}

// vkRingOK reports whether r describes rings the dump may read through the
// direct map: a power-of-two size of at most 32,768 entries and both
// rings inside physical memory.
func vkRingOK(r *vkRingInfo) bool {
	size := atomic.Load64(&r.size)
	ram := uint64(vkFrames.nframes) * 4096
	if size == 0 || size > 32768 || size&(size-1) != 0 || !vkFrames.dmapLive {
		return false
	}
	a, u := atomic.Load64(&r.availPA), atomic.Load64(&r.usedPA)
	return a < ram && ram-a >= 6+2*size && u < ram && ram-u >= 6+8*size
}
