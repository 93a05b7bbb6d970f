//go:build velocity

// Velocity kernel: Velocity's own system calls, used by package kernel
// (github.com/velocityos/velocity/kernel). Numbers start at 0x5600, far
// above Linux's, so on Linux they fail with ENOSYS and package kernel can
// tell where it runs.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkSysVelocityInfo  = 0x5600
	vkSysVelocityCrash = 0x5601
	vkSysVelocityPatch = 0x5602 // live code patching (vk_patch.go)

	// The sampling profiler (vk_prof.go).
	vkSysVelocityProfStart = 0x5603
	vkSysVelocityProfStop  = 0x5604
	vkSysVelocityProfRead  = 0x5605
	vkSysVelocityProfStats = 0x5606
)

// vkInfo is the layout package kernel reads; append only.
type vkInfo struct {
	version       uint64
	cpus          uint64
	tscHz         uint64
	stubNs        uint64 // monotonic time (since power-on) when BOOT_ND.BIN started
	kernelNs      uint64 // ... when the kernel handed over to the Go runtime
	framesTotal   uint64
	framesFree    uint64
	residentPages uint64
	pageFaults    uint64
	syscalls      uint64
	switches      uint64
	timerTicks    uint64
	threads       uint64
	lapicHz       uint64
	imageBytes    uint64
	reserved      uint64           // mask of CPUs reserved for pinned work
	steals        uint64           // threads an idle CPU took from another's queue
	cpuBusyNs     [vkMaxCPU]uint64 // per CPU: time running threads (not idle)
	cpuSyscalls   [vkMaxCPU]uint64
	faultRaces    uint64           // page faults that found their page installed by another CPU meanwhile
	dyingFiles    uint64           // descriptions whose last reference went without the kernel lock while it was held (vkFilePut)
	tlbRefreshes  uint64           // whole-TLB flushes of vkTLBRefresh, all CPUs
	cpuIPIs       [vkMaxCPU]uint64 // per CPU: fixed IPIs sent
	cpuHalts      [vkMaxCPU]uint64 // per CPU: halts of the idle loop
	cpuHaltNs     [vkMaxCPU]uint64 // per CPU: time halted
	shootdowns    uint64           // TLB shootdowns (vkTLBShootdown): each made every other CPU flush its TLB whole
}

func vkSysInfo(buf, n uintptr) uintptr {
	var in vkInfo
	if n < unsafe.Sizeof(in) {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(buf, unsafe.Sizeof(in), true) {
		return vkErr(vkEFAULT)
	}
	in.version = 1
	in.cpus = uint64(vkCPUCount)
	in.tscHz = vkClock.tscHz
	in.stubNs = uint64(vkBootNs.stub)
	in.kernelNs = uint64(vkBootNs.kernel)
	in.framesTotal = uint64(vkFrames.total)
	in.framesFree = uint64(vkFramesFree())
	in.residentPages = uint64(atomic.Loaduintptr(&vkVM.resident))
	in.pageFaults = atomic.Load64(&vkVM.faults)
	in.faultRaces = atomic.Load64(&vkVM.races)
	in.dyingFiles = atomic.Load64(&vkFileDying)
	in.shootdowns = uint64(atomic.Load(&vkSMP.tlbGen))
	for i := 0; i < vkCPUCount; i++ {
		in.syscalls += vkCPUs[i].syscalls
		in.timerTicks += vkCPUs[i].ticks
		in.tlbRefreshes += atomic.Load64(&vkCPUs[i].tlbRefreshes)
	}
	in.switches = vkSched.switches
	in.threads = uint64(vkSched.nthreads)
	in.lapicHz = vkClock.lapicHz
	in.imageBytes = vkBoot0.imageEnd - vkBoot0.imageStart
	in.reserved = vkSched.reserved
	in.steals = vkSched.steals
	for i := 0; i < vkCPUCount; i++ {
		c := &vkCPUs[i]
		busy := c.busyNs
		if c.cur != 0 && c.cur != c.idleT {
			if last := vkThreadOf(c.cur).lastRun; last != 0 { // 0: switching out now
				busy += vkNanotime() - last
			}
		}
		in.cpuBusyNs[i] = uint64(busy)
		in.cpuSyscalls[i] = c.syscalls
		in.cpuIPIs[i] = atomic.Load64(&c.ipis)
		in.cpuHalts[i] = atomic.Load64(&c.halts)
		in.cpuHaltNs[i] = uint64(atomic.Loadint64(&c.haltNs))
	}
	*(*vkInfo)(unsafe.Pointer(buf)) = in
	return unsafe.Sizeof(in)
}

// vkSysCrash deliberately faults inside the kernel, like Linux's sysrq 'c',
// so tests can check that a kernel exception is reported and ends the
// machine with a non-zero status instead of hanging. Kinds 5 and 6 are
// the ones that must not end it: an interrupt nested in a trap taken in
// kernel code, and a device interrupt taken in kernel code just before
// the CPU goes idle (arg, arg2: MSI handles).
func vkSysCrash(kind, arg, arg2 uintptr) uintptr {
	switch kind {
	case 1: // page fault: write through a pointer to unmapped memory
		*(*uint64)(unsafe.Pointer(uintptr(0x10))) = 1
	case 2: // a Go run-time panic in kernel code: an index out of range
		var a [4]uint64
		i := int(kind) + 2
		a[i&7] = 1
	case 3: // a jump into the kernel's own data, which is no-execute
		pc := uintptr(unsafe.Pointer(&vkCrashCode[0]))
		fv := &pc
		(*(*func())(unsafe.Pointer(&fv)))()
	case 4: // a lock-discipline bug: take the kernel lock, which this call holds, again
		vkLock()
	case 5: // not a crash: a trap in kernel code that lets an interrupt in (vkNestProbe)
		const magic = 0x5e1f_c0de_5e1f_c0de
		switch r := vkNestProbe(magic); r {
		case magic:
			return 0 // a timer tick nested in the trap; the trap came back whole
		case 0:
			return vkErr(vkEAGAIN) // no tick came in time
		default:
			return vkErr(vkEIO) // a register the trap saved came back changed
		}
	case 6: // not a crash: device work left for the idle CPU (vkIdleDeviceProbe)
		return vkIdleDeviceProbe(arg, arg2)
	case 7: // not a crash: keep the kernel lock, which this call holds, for arg ns
		// (at most 100 ms), interrupts off, so that another CPU's
		// call waits for it long enough to halt (vkSpinSleep); the
		// release must wake it at once (tests/locks TestHaltedWaiterWakes).
		// A non-zero arg2 is a 4-byte word set to 1 once the lock is
		// held, for the waiter to watch.
		vkAssertHeld(&vkBKL)
		if arg > 100_000_000 || arg2&3 != 0 {
			return vkErr(vkEINVAL)
		}
		if arg2 != 0 {
			if !vkUserOK(arg2, 4, true) {
				return vkErr(vkEFAULT)
			}
			atomic.Store((*uint32)(unsafe.Pointer(arg2)), 1)
		}
		for end := vkNanotime() + int64(arg); vkNanotime() < end; {
		}
		return 0
	}
	return vkErr(vkEINVAL)
}

// vkNestTestVector is the software interrupt of vkNestProbe.
const vkNestTestVector = 0xF4

// vkNestProbe raises vkNestTestVector from kernel code with magic in BX
// and R12 and returns R12 afterwards, or 0 if the handler saw no timer
// tick (vk_entry_amd64.s). The handler (vkNestTrap) waits with interrupts
// on, as a kernel page fault spinning for a lock does, until a timer
// tick lands inside it: every vector enters on IST1, so that tick runs
// over the handler's frame unless vkKernelTrap moved the handler off
// IST1. Velocity's crash call, kind 5; tests/locks TestTrapNesting.
func vkNestProbe(magic uint64) uint64

// vkNestTrap is vkNestProbe's trap: it arms the LAPIC timer 100 us ahead
// and spins with vkSpinPause's interrupt window until the tick has been
// counted, for at most 50 ms. It reports in the frame's rax (1: a tick
// nested) what vkNestProbe reads.
//
// Trap context, kernel code, interrupts off but for the window: no
// locks, no allocation.
func vkNestTrap(f *vkFrame) {
	c := vkThisCPU()
	t0 := c.ticks
	now := vkNanotime()
	vkTimerArm(now + 100_000) // its tick re-arms the real deadline on the way out (vkTickDeferred)
	for c.ticks == t0 && vkNanotime() < now+50_000_000 {
		vkSpinPause()
	}
	f.rax = 0
	if c.ticks != t0 {
		f.rax = 1
	}
}

// vkIdleDeviceProbe recreates the moment a device interrupt is taken in
// kernel code just before the CPU goes idle while the device is busy,
// which held a received frame for up to 200 ms (vkIdlePoll). After a
// 50 ms quiet spell it sends this CPU its own MSI vectors, busy's and
// then line's, each time letting the interrupt in with vkSpinPause's
// window so that it is taken in kernel code. busy's work is done here,
// as a lock holder does it, so a device has just interrupted
// (vkDevLastIRQNs) and the idle loop sees devices busy; line's is left
// to the next lock holder (vkIRQPending). Then the call sleeps 500 ms
// without doing that work, so only the idle loop can count line's
// interrupt and wake its eventfd's reader (busy needs no eventfd: a
// reader it woke would do the work on its way back to user code); the
// test (tests/locks TestIdleDeviceWork, at -smp 1) times how long that
// takes. EINVAL: a handle is not a reserved MSI vector; EAGAIN: an
// interrupt never came. Velocity's crash call, kind 6. The kernel lock is
// held.
func vkIdleDeviceProbe(line, busy uintptr) uintptr {
	vkAssertHeld(&vkBKL)
	for _, l := range [2]uintptr{line, busy} {
		if l < vkDevLines || l >= vkDevLines+vkMSISlots || !vkDev.routed[l] {
			return vkErr(vkEINVAL)
		}
	}
	// First a quiet spell, so that the Go runtime's own threads are asleep
	// (sysmon too): any of them entering or leaving the kernel would do
	// the work on its way back to user code (vkTrapExitFine).
	vkSleepNs(50_000_000)
	if !vkRaiseOwn(busy) {
		return vkErr(vkEAGAIN)
	}
	vkIRQWork()
	if !vkRaiseOwn(line) {
		return vkErr(vkEAGAIN)
	}
	vkSleepNs(500_000_000)
	return 0
}

// vkSleepNs sleeps ns, woken or not; the kernel lock is held.
func vkSleepNs(ns int64) {
	deadline := vkNanotime() + ns
	for vkNanotime() < deadline {
		vkBlock(deadline)
	}
}

// vkRaiseOwn sends this CPU the MSI vector of line and waits, with
// interrupts let in, until it has been taken (at most 50 ms).
func vkRaiseOwn(line uintptr) bool {
	bit := uint32(1) << line
	vkSendIPI(vkThisCPU().apicID, uint32(vkMSIVectorBase+line-vkDevLines))
	for end := vkNanotime() + 50_000_000; atomic.Load(&vkDev.pending)&bit == 0 && vkNanotime() < end; {
		vkSpinPause()
	}
	return atomic.Load(&vkDev.pending)&bit != 0
}

// vkCrashCode is a RET in the image's data segment: crash kind 3 calls it.
var vkCrashCode = [8]byte{0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3}
