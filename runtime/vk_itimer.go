//go:build velocity

// Velocity kernel: setitimer(ITIMER_PROF), which Go's CPU profiler
// (runtime/pprof.StartCPUProfile, net/http/pprof's /debug/pprof/profile)
// uses when timer_create is not offered. The timer counts CPU time: every
// CPU running a thread of the program sends that thread SIGPROF once per
// interval, from its timer interrupt, so a program busy on two CPUs gets
// two samples per interval, as the process CPU clock would give. While
// the timer is set, a busy CPU's one-shot timer fires at least once per
// interval (vkITimerDeadline).
//
// Trap context: vkITimerTick runs with the kernel lock held in the timer
// path of vkTrap; nothing here allocates.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkITimerProf = 2
	vkSIGPROF    = 27
)

var vkITimer struct {
	on       uint32 // atomic: 1 while ITIMER_PROF is set
	periodNs int64
	valueNs  int64 // the first expiry, as set (reported by getitimer)
	next     [vkMaxCPU]int64
	logged   [3]bool
}

func vkTimevalNs(p uintptr) (int64, bool) {
	sec := *(*int64)(unsafe.Pointer(p))
	usec := *(*int64)(unsafe.Pointer(p + 8))
	if sec < 0 || usec < 0 || usec >= 1_000_000 || sec > 1<<31 {
		return 0, false
	}
	return sec*1_000_000_000 + usec*1000, true
}

func vkPutTimeval(p uintptr, ns int64) {
	*(*int64)(unsafe.Pointer(p)) = ns / 1_000_000_000
	*(*int64)(unsafe.Pointer(p + 8)) = ns % 1_000_000_000 / 1000
}

func vkSysGetitimer(which int32, cur uintptr) uintptr {
	if which < 0 || which > 2 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(cur, 32, true) {
		return vkErr(vkEFAULT)
	}
	if which != vkITimerProf {
		return vkITimerUnsupported(which)
	}
	var period, value int64
	if atomic.Load(&vkITimer.on) != 0 {
		period, value = vkITimer.periodNs, vkITimer.periodNs
	}
	vkPutTimeval(cur, period)
	vkPutTimeval(cur+16, value)
	return 0
}

func vkSysSetitimer(which int32, newp, oldp uintptr) uintptr {
	if which < 0 || which > 2 {
		return vkErr(vkEINVAL)
	}
	if newp != 0 && !vkUserOK(newp, 32, false) || oldp != 0 && !vkUserOK(oldp, 32, true) {
		return vkErr(vkEFAULT)
	}
	if which != vkITimerProf {
		return vkITimerUnsupported(which)
	}
	if oldp != 0 {
		vkSysGetitimer(which, oldp)
	}
	if newp == 0 {
		return 0
	}
	period, ok1 := vkTimevalNs(newp)
	value, ok2 := vkTimevalNs(newp + 16)
	if !ok1 || !ok2 {
		return vkErr(vkEINVAL)
	}
	if value == 0 {
		atomic.Store(&vkITimer.on, 0)
		return 0
	}
	if period == 0 {
		period = value // one expiry per CPU, then every value: close enough for a profiler
	}
	if period < 100_000 {
		period = 100_000 // 10 kHz at most: a tick costs more than it measures below that
	}
	vkITimer.periodNs, vkITimer.valueNs = period, value
	now := vkNanotime()
	for i := range vkITimer.next {
		vkITimer.next[i] = now + value
	}
	atomic.Store(&vkITimer.on, 1)
	vkTimerArm(vkThisCPU().deadline)
	return 0
}

// vkITimerUnsupported: ITIMER_REAL and ITIMER_VIRTUAL are not offered;
// say so once rather than pretend.
func vkITimerUnsupported(which int32) uintptr {
	if !vkITimer.logged[which] {
		vkITimer.logged[which] = true
		vkPrint("velocity: setitimer/getitimer: only ITIMER_PROF is offered -> ENOSYS\n")
	}
	return vkErr(vkENOSYS)
}

// vkITimerDeadline bounds a CPU's next timer interrupt by its next
// profiling expiry.
//
//go:nosplit
func vkITimerDeadline(deadline int64) int64 {
	if atomic.Load(&vkITimer.on) == 0 {
		return deadline
	}
	next := vkITimer.next[vkThisCPU().id]
	if deadline == 0 || next < deadline {
		return next
	}
	return deadline
}

// vkITimerTick sends SIGPROF to the thread this CPU was running when its
// interval has passed. The kernel lock is held.
func vkITimerTick() {
	if atomic.Load(&vkITimer.on) == 0 {
		return
	}
	c := vkThisCPU()
	now := vkNanotime()
	next := &vkITimer.next[c.id]
	if now < *next {
		return
	}
	*next += vkITimer.periodNs
	if *next <= now {
		*next = now + vkITimer.periodNs // fell behind: one signal, not a burst
	}
	if c.cur != c.idleT {
		t := vkCur()
		t.pending |= 1 << (vkSIGPROF - 1)
		// From the kernel, as Linux's ITIMER_PROF: Go's validSIGPROF
		// tells the process timer's signals from a thread timer's by it.
		t.sigKernel |= 1 << (vkSIGPROF - 1)
	}
}
