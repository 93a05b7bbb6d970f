//go:build velocity

// Velocity kernel: POSIX per-process timers (timer_create, timer_settime,
// timer_gettime, timer_getoverrun, timer_delete).
//
// Why: Go's CPU profiler gives every thread its own timer on
// CLOCK_THREAD_CPUTIME_ID that sends SIGPROF to that thread
// (SIGEV_THREAD_ID, runtime.setThreadCPUProfiler), and takes the
// process-wide setitimer(ITIMER_PROF) only where timer_create fails. The
// per-thread timer measures each thread's own CPU time, so a sample is
// charged to the thread that spent it (Go issue 35057); Go then ignores
// the setitimer signals of a thread that has one (validSIGPROF tells
// them apart by si_code: SI_TIMER against SI_KERNEL). Programs use the
// same calls for wall-clock timers, so those are offered too.
//
// Clocks: REALTIME, MONOTONIC, BOOTTIME and TAI (wall clocks; Velocity
// never steps the real-time clock, so a REALTIME timer is kept in
// monotonic time), PROCESS_CPUTIME_ID and THREAD_CPUTIME_ID (of the
// thread that created the timer). The raw and coarse clocks have no
// timers in Linux either (EOPNOTSUPP); the alarm clocks need an RTC
// alarm Velocity does not drive (EOPNOTSUPP); CPU clocks of other
// processes or threads by their clock id (negative ids) are not offered
// (EINVAL, as for a clock id that does not exist).
//
// Expiry is checked where the clock can have moved past it:
//   - a thread CPU timer on the timer interrupt of the CPU running its
//     thread; vkPTimerSwitch bounds that CPU's next interrupt by the time
//     the thread's earliest timer is due (t.cpuTimerDue);
//   - wall timers on every CPU's timer interrupt, user code or idle;
//     every CPU's interrupt is bounded by the earliest (wallDue);
//   - process CPU timers on the interrupts of busy CPUs, bounded by an
//     estimate (procEta) that assumes every CPU busy, refined at each look.
//
// A timer interrupt taken in kernel code does not look; the CPU's timer
// is then re-armed at most 20 µs ahead and the next one in user code
// does. An expiry becomes a signal as Linux queues one per timer: while
// the timer's signal is pending, further expiries only count overruns
// (timer_getoverrun, si_overrun). The signal carries si_code SI_TIMER,
// si_timerid, si_overrun and si_value. Deleting a timer withdraws its
// pending signal.
//
// Locking: the table and every thread's cpuTimerDue change under the
// kernel lock (the system calls hold it; the tick and the idle loop take
// it only when vkPTimerDue says a timer may have expired). The dues are
// read without it, by single atomic loads. Trap context: nothing here
// allocates.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkMaxPTimers = 256 // per program; Linux bounds them by RLIMIT_SIGPENDING

	vkSigevSignal   = 0
	vkSigevNone     = 1
	vkSigevThread   = 2 // a C library's business; the kernel treats it as SIGEV_SIGNAL
	vkSigevThreadID = 4

	vkSITimer       = -2 // si_code of a timer's signal
	vkTimerAbs      = 1  // TIMER_ABSTIME
	vkSIGALRM       = 14
	vkPTimerClkWall = 0
	vkPTimerClkProc = 2
	vkPTimerClkThr  = 3
)

// vkPTimer is one timer. expiry is in the timer's clock: monotonic
// nanoseconds for the wall clocks, CPU nanoseconds for the CPU clocks.
type vkPTimer struct {
	used     bool
	queued   bool  // its signal is pending at target, not yet delivered
	kind     uint8 // vkPTimerClkWall, vkPTimerClkProc or vkPTimerClkThr
	clock    int32 // as given to timer_create, for the record
	id       int32
	notify   int32
	signo    int32
	owner    int32 // thread whose CPU time a THREAD_CPUTIME_ID timer measures
	target   int32 // SIGEV_THREAD_ID's thread; 0: the program (any thread)
	sentTo   int32 // thread its pending signal was queued on
	overrun  int32 // expiries since its signal was queued
	lastOver int32 // overruns of the last delivered signal (timer_getoverrun)
	value    uint64
	expiry   int64 // 0: disarmed
	period   int64
}

var vkPTimers struct {
	armed   int32 // atomic: armed timers that send signals; 0 keeps the tick's check to one load
	used    int32 // timers that exist
	nextID  int32
	wallDue int64           // atomic: earliest monotonic expiry of an armed wall timer; 0 none
	procDue int64           // earliest expiry of an armed process CPU timer, in CPU ns; 0 none
	procEta int64           // atomic: monotonic time by which procDue may have been reached
	cpuDue  [vkMaxCPU]int64 // atomic: when CPU i's thread's earliest CPU timer is due; 0 none
	busy    [vkMaxCPU]bool  // CPU i runs a thread of the program, not its idle thread
	t       [vkMaxPTimers]vkPTimer
}

// vkPTimerKind sorts a clock id: its kind, or an errno.
func vkPTimerKind(clock int32) (uint8, int) {
	switch clock {
	case 0, 1, 7, 11: // REALTIME, MONOTONIC, BOOTTIME, TAI
		return vkPTimerClkWall, 0
	case 2:
		return vkPTimerClkProc, 0
	case 3:
		return vkPTimerClkThr, 0
	case 4, 5, 6, 8, 9: // MONOTONIC_RAW, the coarse clocks, the alarm clocks
		return 0, vkEOPNOTSUPP
	}
	return 0, vkEINVAL
}

// vkPTimerByID finds a live timer, or nil.
func vkPTimerByID(id int32) *vkPTimer {
	if id < 0 {
		return nil
	}
	for i := range vkPTimers.t {
		if tm := &vkPTimers.t[i]; tm.used && tm.id == id {
			return tm
		}
	}
	return nil
}

// vkSysTimerCreate serves timer_create(clock, sevp, timerid), checking
// in Linux's order: the sigevent is read (EFAULT), the clock (EINVAL,
// EOPNOTSUPP), a free slot (EAGAIN), the sigevent's fields (EINVAL), and
// the id written back (EFAULT).
func vkSysTimerCreate(clock int32, sevp, idp uintptr) uintptr {
	var ev [4]uint32 // sigev_value (2 words), sigev_signo, sigev_notify
	var tid int32
	if sevp != 0 {
		if !vkUserOK(sevp, 64, false) {
			return vkErr(vkEFAULT)
		}
		ev = *(*[4]uint32)(unsafe.Pointer(sevp))
		tid = *(*int32)(unsafe.Pointer(sevp + 16))
	}
	kind, e := vkPTimerKind(clock)
	if e != 0 {
		return vkErr(e)
	}
	var tm *vkPTimer
	for i := range vkPTimers.t {
		if !vkPTimers.t[i].used {
			tm = &vkPTimers.t[i]
			break
		}
	}
	if tm == nil {
		return vkErr(vkEAGAIN)
	}
	id := vkPTimers.nextID
	for vkPTimerByID(id) != nil { // after a wrap, skip ids still in use
		id = (id + 1) & 0x7fffffff
	}
	*tm = vkPTimer{kind: kind, clock: clock, id: id, notify: vkSigevSignal, signo: vkSIGALRM,
		owner: vkCur().tid, value: uint64(uint32(id))}
	if sevp != 0 {
		tm.value = uint64(ev[0]) | uint64(ev[1])<<32
		tm.signo, tm.notify = int32(ev[2]), int32(ev[3])
		switch tm.notify {
		case vkSigevThreadID | vkSigevSignal:
			if vkThreadByTID(tid) == nil {
				return vkErr(vkEINVAL) // not a thread of this program
			}
			tm.target = tid
			fallthrough
		case vkSigevSignal, vkSigevThread:
			if tm.signo <= 0 || tm.signo > 64 {
				return vkErr(vkEINVAL)
			}
		case vkSigevNone:
		default:
			return vkErr(vkEINVAL)
		}
	}
	if !vkUserOK(idp, 4, true) {
		return vkErr(vkEFAULT)
	}
	*(*int32)(unsafe.Pointer(idp)) = id
	tm.used = true
	vkPTimers.used++
	vkPTimers.nextID = (id + 1) & 0x7fffffff
	return 0
}

// vkPTimerNow is the timer's clock now (monotonic for wall timers).
func vkPTimerNow(tm *vkPTimer, now int64) int64 {
	switch tm.kind {
	case vkPTimerClkProc:
		return vkProcessCPUNs()
	case vkPTimerClkThr:
		if t := vkThreadByTID(tm.owner); t != nil {
			ns, _ := vkThreadCPUNs(t, now)
			return ns
		}
		return 0
	}
	return now
}

// vkPTimerGet writes the timer's interval and what is left of it as a
// struct itimerspec.
func vkPTimerGet(tm *vkPTimer, p uintptr) {
	var left int64
	if tm.expiry != 0 {
		clk := vkPTimerNow(tm, vkNanotime())
		if tm.notify == vkSigevNone && tm.period > 0 && clk >= tm.expiry {
			tm.expiry += ((clk-tm.expiry)/tm.period + 1) * tm.period // nothing fires it: move it on here
		}
		left = max(tm.expiry-clk, 1) // expired, its signal on its way: as Linux, not 0
	}
	w := (*[4]int64)(unsafe.Pointer(p))
	w[0], w[1] = tm.period/1e9, tm.period%1e9
	w[2], w[3] = left/1e9, left%1e9
}

// vkSysTimerSettime serves timer_settime(id, flags, new, old).
func vkSysTimerSettime(id int32, flags int32, newp, oldp uintptr) uintptr {
	if newp == 0 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(newp, 32, false) {
		return vkErr(vkEFAULT)
	}
	v := *(*[4]int64)(unsafe.Pointer(newp))
	if v[0] < 0 || uint64(v[1]) >= 1e9 || v[2] < 0 || uint64(v[3]) >= 1e9 {
		return vkErr(vkEINVAL)
	}
	tm := vkPTimerByID(id)
	if tm == nil {
		return vkErr(vkEINVAL)
	}
	if tm.kind == vkPTimerClkThr && vkThreadByTID(tm.owner) == nil {
		return vkErr(vkESRCH) // its thread has exited: its clock is gone
	}
	oldOK := oldp == 0 || vkUserOK(oldp, 32, true)
	if oldp != 0 && oldOK {
		vkPTimerGet(tm, oldp)
	}
	sat := func(s, ns int64) int64 { return min(s, 9_000_000_000)*1e9 + ns } // about 285 years
	period, value := sat(v[0], v[1]), sat(v[2], v[3])
	vkPTimerDisarm(tm)
	if value != 0 {
		now := vkNanotime()
		clk := vkPTimerNow(tm, now)
		switch {
		case flags&vkTimerAbs == 0:
			value += clk
		case tm.kind == vkPTimerClkWall && (tm.clock == 0 || tm.clock == 11):
			value -= vkClock.rtcUnixNs - vkClock.rtcMonoNs // real time to monotonic
		}
		tm.expiry, tm.period = max(value, 1), period
		if tm.notify != vkSigevNone {
			atomic.Xaddint32(&vkPTimers.armed, 1)
		}
	}
	vkPTimerRecompute()
	vkTimerArm(vkThisCPU().deadline)
	if tm.kind != vkPTimerClkThr {
		vkPTimerKick()
	}
	if !oldOK {
		return vkErr(vkEFAULT) // as Linux: set, then the old value could not be written
	}
	return 0
}

// vkPTimerDisarm stops a timer (its pending signal, if any, stays).
func vkPTimerDisarm(tm *vkPTimer) {
	if tm.expiry != 0 && tm.notify != vkSigevNone {
		atomic.Xaddint32(&vkPTimers.armed, -1)
	}
	if t := vkThreadByTID(tm.owner); t != nil && tm.kind == vkPTimerClkThr {
		t.cpuTimerDue = 0 // vkPTimerRecompute sets it again from its other timers
	}
	tm.expiry, tm.period = 0, 0
}

func vkSysTimerGettime(id int32, p uintptr) uintptr {
	tm := vkPTimerByID(id)
	if tm == nil {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(p, 32, true) {
		return vkErr(vkEFAULT)
	}
	vkPTimerGet(tm, p)
	return 0
}

func vkSysTimerGetoverrun(id int32) uintptr {
	tm := vkPTimerByID(id)
	if tm == nil {
		return vkErr(vkEINVAL)
	}
	return uintptr(tm.lastOver)
}

// vkSysTimerDelete frees a timer and withdraws its pending signal.
func vkSysTimerDelete(id int32) uintptr {
	tm := vkPTimerByID(id)
	if tm == nil {
		return vkErr(vkEINVAL)
	}
	vkPTimerDisarm(tm)
	if tm.queued {
		if t := vkThreadByTID(tm.sentTo); t != nil {
			bit := uint64(1) << (tm.signo - 1)
			if t.sigTimer&bit != 0 && t.sigKernel&bit == 0 {
				atomic.And64(&t.pending, ^bit)
			}
			t.sigTimer &^= bit
		}
	}
	tm.used = false
	vkPTimers.used--
	vkPTimerRecompute()
	return 0
}

// vkPTimerThreadExit stops the CPU timers of a thread that exits (their
// clock stops for good, as in Linux) and forgets it as a target.
func vkPTimerThreadExit(t *vkThread) {
	if vkPTimers.used == 0 {
		return
	}
	for i := range vkPTimers.t {
		tm := &vkPTimers.t[i]
		if !tm.used {
			continue
		}
		if tm.kind == vkPTimerClkThr && tm.owner == t.tid || tm.target == t.tid {
			vkPTimerDisarm(tm)
			tm.target = -1 // nobody: such a timer can only be read or deleted
		}
		if tm.owner == t.tid {
			tm.owner = 0 // its tid may be reused
		}
		if tm.queued && tm.sentTo == t.tid {
			tm.queued = false
		}
	}
	t.cpuTimerDue = 0
	vkPTimerRecompute()
}

// vkPTimerRecompute sets the dues from the table: the owners' cpuTimerDue,
// the wall and process dues, and this CPU's bound. Other CPUs take theirs
// at their next switch (vkPTimerSwitch), or at once when the wall or
// process due moved and vkPTimerKick interrupts them.
func vkPTimerRecompute() {
	var wall, proc int64
	for i := range vkPTimers.t {
		if tm := &vkPTimers.t[i]; tm.used && tm.kind == vkPTimerClkThr {
			if t := vkThreadByTID(tm.owner); t != nil {
				t.cpuTimerDue = 0
			}
		}
	}
	for i := range vkPTimers.t {
		tm := &vkPTimers.t[i]
		if !tm.used || tm.expiry == 0 || tm.notify == vkSigevNone {
			continue
		}
		switch tm.kind {
		case vkPTimerClkWall:
			if wall == 0 || tm.expiry < wall {
				wall = tm.expiry
			}
		case vkPTimerClkProc:
			if proc == 0 || tm.expiry < proc {
				proc = tm.expiry
			}
		case vkPTimerClkThr:
			if t := vkThreadByTID(tm.owner); t != nil && (t.cpuTimerDue == 0 || tm.expiry < t.cpuTimerDue) {
				t.cpuTimerDue = tm.expiry
			}
		}
	}
	atomic.Storeint64(&vkPTimers.wallDue, wall)
	vkPTimers.procDue = proc
	now := vkNanotime()
	eta := int64(0)
	if proc != 0 {
		eta = now + max((proc-vkProcessCPUNs())/int64(vkCPUCount), 50_000)
	}
	atomic.Storeint64(&vkPTimers.procEta, eta)
	c := vkThisCPU()
	due := int64(0)
	if t := vkCur(); t.state != thIdle && t.cpuTimerDue != 0 {
		ns, _ := vkThreadCPUNs(t, now)
		due = now + max(t.cpuTimerDue-ns, 0)
	}
	atomic.Storeint64(&vkPTimers.cpuDue[c.id], due)
}

// vkPTimerKick interrupts the other CPUs that run threads of the
// program, so that they arm their timers for a wall or process due that
// moved (vkTimerTick re-arms through vkPTimerDeadline).
func vkPTimerKick() {
	me := vkThisCPU().id
	for i := 0; i < vkCPUCount; i++ {
		if uint32(i) != me && vkPTimers.busy[i] {
			vkSendIPI(vkCPUs[i].apicID, vkReschedVector)
		}
	}
}

// vkPTimerSwitch sets this CPU's bound for the thread it switches to;
// vkSchedule calls it, with the run-queue lock held, before it arms the
// timer.
//
//go:nosplit
func vkPTimerSwitch(c *vkCPU, next *vkThread, now int64) {
	vkPTimers.busy[c.id] = next.state != thIdle
	if atomic.Loadint32(&vkPTimers.armed) == 0 {
		return
	}
	due := int64(0)
	if d := next.cpuTimerDue; d != 0 && next.state != thIdle {
		ns, _ := vkThreadCPUNs(next, now)
		due = now + max(d-ns, 0)
	}
	atomic.Storeint64(&vkPTimers.cpuDue[c.id], due)
}

// vkPTimerDeadline bounds this CPU's next timer interrupt by the timers
// it has to look at.
//
//go:nosplit
func vkPTimerDeadline(deadline int64) int64 {
	if atomic.Loadint32(&vkPTimers.armed) == 0 {
		return deadline
	}
	id := vkThisCPU().id
	due := [3]int64{atomic.Loadint64(&vkPTimers.cpuDue[id]), atomic.Loadint64(&vkPTimers.wallDue), 0}
	if vkPTimers.busy[id] {
		due[2] = atomic.Loadint64(&vkPTimers.procEta)
	}
	for _, d := range due {
		if d != 0 && (deadline == 0 || d < deadline) {
			deadline = d
		}
	}
	return deadline
}

// vkPTimerDue says, without a lock, whether a timer this CPU looks at
// may have expired at now.
//
//go:nosplit
func vkPTimerDue(now int64) bool {
	if atomic.Loadint32(&vkPTimers.armed) == 0 {
		return false
	}
	id := vkThisCPU().id
	if d := atomic.Loadint64(&vkPTimers.cpuDue[id]); d != 0 && now >= d {
		return true
	}
	if d := atomic.Loadint64(&vkPTimers.wallDue); d != 0 && now >= d {
		return true
	}
	d := atomic.Loadint64(&vkPTimers.procEta)
	return vkPTimers.busy[id] && d != 0 && now >= d
}

// vkPTimerTick fires the timers that have expired; the kernel lock is
// held (the tick after vkPTimerDue, or the idle loop).
func vkPTimerTick() {
	vkAssertHeld(&vkBKL)
	if atomic.Loadint32(&vkPTimers.armed) == 0 {
		return
	}
	now := vkNanotime()
	cur := vkCur()
	var proc int64 = -1
	for i := range vkPTimers.t {
		tm := &vkPTimers.t[i]
		if !tm.used || tm.expiry == 0 || tm.notify == vkSigevNone {
			continue
		}
		var clk int64
		switch tm.kind {
		case vkPTimerClkWall:
			clk = now
		case vkPTimerClkProc:
			if proc < 0 {
				proc = vkProcessCPUNs()
			}
			clk = proc
		case vkPTimerClkThr:
			if tm.owner != cur.tid || cur.state == thIdle {
				continue // its thread's own CPU looks
			}
			clk, _ = vkThreadCPUNs(cur, now)
		}
		if clk < tm.expiry {
			continue
		}
		over := int32(0)
		if tm.period > 0 {
			n := (clk - tm.expiry) / tm.period
			tm.expiry += (n + 1) * tm.period
			over = int32(min(n, 1<<30))
		} else {
			vkPTimerDisarm(tm)
		}
		vkPTimerSend(tm, over)
	}
	vkPTimerRecompute()
}

// vkPTimerSend queues the timer's signal, or counts an overrun while it
// is still pending.
func vkPTimerSend(tm *vkPTimer, over int32) {
	add := func(n int32) { tm.overrun = int32(min(int64(tm.overrun)+int64(n), 0x7fffffff)) }
	if tm.queued {
		add(over + 1)
		return
	}
	bit := uint64(1) << (tm.signo - 1)
	var t *vkThread
	if tm.target != 0 {
		t = vkThreadByTID(tm.target) // nil once it has exited: dropped
	} else {
		// For the program: as Linux, a thread that does not block it,
		// the one that made the timer first.
		t = vkThreadByTID(tm.owner)
		if t == nil || t.sigmask&bit != 0 {
			for i := 0; i < vkMaxThreads && i < int(vkSched.maxTID); i++ {
				if u := vkThreadByTID(int32(i + 1)); u != nil && u.state != thIdle && u.sigmask&bit == 0 {
					t = u
					break
				}
			}
		}
		if t == nil {
			t = vkThreadByTID(1)
		}
	}
	if t == nil {
		return
	}
	tm.queued, tm.sentTo, tm.overrun = true, t.tid, 0
	add(over)
	t.sigTimer |= bit
	vkSigPost(t, uint32(tm.signo))
}

// vkPTimerDelivered is called as a timer's signal sig becomes a frame
// for t: the timer's id, overrun count and value for the siginfo, and ok
// false when no timer has it queued (deleted meanwhile).
func vkPTimerDelivered(t *vkThread, sig uint32) (id, over int32, value uint64, ok bool) {
	for i := range vkPTimers.t {
		tm := &vkPTimers.t[i]
		if tm.used && tm.queued && tm.sentTo == t.tid && tm.signo == int32(sig) {
			tm.queued = false
			tm.lastOver, tm.overrun = tm.overrun, 0
			return tm.id, tm.lastOver, tm.value, true
		}
	}
	return 0, 0, 0, false
}
