//go:build velocity

// Velocity kernel: setitimer(ITIMER_PROF), which Go's CPU profiler
// (runtime/pprof.StartCPUProfile, net/http/pprof's /debug/pprof/profile)
// uses when timer_create is not offered. The timer counts CPU time: every
// CPU running a thread of the program sends that thread SIGPROF once per
// interval of its own busy time, from its timer interrupt, so a program
// busy on two CPUs gets two samples per interval, as the process CPU
// clock would give. While the timer is set, a busy CPU's one-shot timer
// fires at least once per interval (vkITimerDeadline).
//
// Idle time is not CPU time: a CPU's interval is paused while it runs its
// idle thread and resumes with what was left when a thread of the program
// runs again (vkITimerSwitch). Counting wall time instead sent a SIGPROF
// at the first user instruction after every wait longer than the
// interval, so a server idle four fifths of the time showed 150% CPU,
// most of it on the return from futex, epoll_pwait and irqwait.
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
	valueNs  int64           // the first expiry, as set (reported by getitimer)
	next     [vkMaxCPU]int64 // expiry while the CPU runs the program; 0 while it idles
	left     [vkMaxCPU]int64 // of the interval, when the CPU went idle
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
		// An idle CPU starts its interval when it next runs the program.
		vkITimer.next[i], vkITimer.left[i] = now+value, value
		if c := &vkCPUs[i]; c.cur == c.idleT {
			vkITimer.next[i] = 0
		}
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
	if next != 0 && (deadline == 0 || next < deadline) {
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
	if *next == 0 || now < *next {
		return
	}
	if c.cur == c.idleT {
		// Set while this CPU idled: its interval starts when a thread
		// of the program runs here.
		*next, vkITimer.left[c.id] = 0, vkITimer.periodNs
		return
	}
	*next += vkITimer.periodNs
	if *next <= now {
		*next = now + vkITimer.periodNs // fell behind: one signal, not a burst
	}
	{
		t := vkCur()
		t.pending |= 1 << (vkSIGPROF - 1)
		// From the kernel, as Linux's ITIMER_PROF: Go's validSIGPROF
		// tells the process timer's signals from a thread timer's by it.
		t.sigKernel |= 1 << (vkSIGPROF - 1)
	}
}

// vkITimerSwitch pauses this CPU's profiling interval when it switches
// from a thread of the program to its idle thread, and resumes it the
// other way. vkSchedule calls it, with this CPU's run-queue lock held,
// before it arms the timer for next.
//
//go:nosplit
func vkITimerSwitch(c *vkCPU, curIdle, nextIdle bool, now int64) {
	if curIdle == nextIdle || atomic.Load(&vkITimer.on) == 0 {
		return
	}
	next := &vkITimer.next[c.id]
	if nextIdle {
		if *next != 0 {
			vkITimer.left[c.id] = max(*next-now, 1)
			*next = 0
		}
		return
	}
	if *next == 0 {
		*next = now + vkITimer.left[c.id]
	}
}
