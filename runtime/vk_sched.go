//go:build velocity

// Velocity kernel: threads and the scheduler.
//
// Each clone() makes a kernel thread with its own kernel stack; the Go
// runtime puts one M on each. Every CPU has a FIFO run queue and an idle
// thread. A thread runs until it blocks (futex, nanosleep, epoll), yields,
// or uses up a 10 ms slice, when its CPU's LAPIC timer preempts it. An idle
// CPU steals from the others' queues. Affinity masks are honoured
// everywhere a thread is placed.
//
// Locking (the full order is in HACKING.md): each CPU's run queue has its
// own lock (vkRunqLk), which the CPU holds across a thread switch; the
// thread that runs next releases it. A thread's stack stays in use until
// the switch away from it is complete, which the CPU marks by setting the
// thread's onCPU back to -1 (vkSchedFinish); another CPU that dequeued it
// waits for that before switching to it, holding no lock while it waits.
// A blocked thread is made runnable by one waker only (a compare-and-swap
// on its state). The kernel lock vkBKL is never held across a switch: a
// thread that sleeps in a system call under it (vkBlock) lets go of it
// while asleep and takes it again when it runs. Futex words and every other kernel wait queue hash
// into vkFutexTab, whose buckets have their own locks; the futex system
// call, sched_yield and the timer tick take no kernel lock at all
// (vk_lockpath.go).

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkMaxThreads = 4096
)

const (
	thFree = iota
	thRunnable
	thRunning
	thBlocked
	thDead
	thIdle // a CPU's idle thread: never queued, never in user mode
)

type vkThread struct {
	fpu         [vkFPUMax]byte // FPU save area (vk_fpu.go); first so it is 64-byte aligned
	fpuStale    uintptr        // 1: fpu holds only the x87 control word and MXCSR since a system call (vk_fpu.go)
	tid         int32
	state       int32
	ksp         uintptr // saved kernel stack pointer while switched out
	kstackTop   uintptr
	fsBase      uintptr
	next        uintptr // run queue link
	waitAddr    uintptr // what the thread sleeps on (futex word, pipe, ...), 0 if none
	deadline    int64   // monotonic wake-up time while blocked, 0 = none
	timedOut    bool
	sigmask     uint64
	pending     uint64
	savedMask   uint64 // the mask before epoll_pwait's own, while restoreMask (vk_signal.go)
	restoreMask bool   // sigmask is a call's temporary mask: the next signal frame saves savedMask, and it comes back after
	sigKernel   uint64 // pending signals the kernel raised itself: si_code SI_KERNEL, not SI_TKILL
	sigTimer    uint64 // pending signals a POSIX timer queued: si_code SI_TIMER (vk_ptimer.go)
	cpuTimerDue int64  // CPU time at which its earliest THREAD_CPUTIME_ID timer expires, 0 none (vk_ptimer.go)
	altSP       uintptr
	altSize     uintptr
	altFlags    int32
	sliceEnd    int64
	affinity    uint64 // CPUs the thread may run on
	lastCPU     int32
	onCPU       int32  // CPU running it, -1 if none
	cpuNs       int64  // time spent running, up to lastRun (vk_rusage.go)
	lastRun     int64  // when it was last switched in; 0 while not running
	sysOn       int64  // in a system call: when its current stretch on a CPU began, or -1 while switched out; 0 outside one (vk_syscount.go)
	sysAcc      int64  // CPU time of the current system call up to sysOn
	cpuSeq      uint32 // odd while cpuNs and lastRun change (vk_rusage.go)
	cpuGone     bool   // exited, its cpuNs moved to vkSched.deadCPUNs
	clearTID    uintptr
	fnext       uintptr // next thread in its futex bucket's queue
	queued      bool    // on a futex bucket's queue (guarded by the bucket's lock)
	timerAt     int64   // deadline while in a timer heap (vk_time.go)
	timerCPU    int32   // whose heap it is in, -1 if none (guarded by that heap's lock)
	timerIdx    int32   // its index there
	requeue     bool    // vkSchedule puts it back on a run queue (a yield or preemption)
}

var vkSched struct {
	threads  [vkMaxThreads]uintptr // tid-1 → *vkThread (kernel memory)
	nthreads int
	maxTID   int32
	switches uint64
	steals   uint64
	reserved uint64  // CPUs that run only threads pinned to them
	zombies  uintptr // exited threads whose stacks are no longer in use, linked by next
	// deadCPUNs is the CPU time of threads that have exited, for getrusage
	// and CLOCK_PROCESS_CPUTIME_ID. deathBusy counts CPUs moving a thread's
	// time there or freeing exited threads, deathGen how often one has
	// finished: lock-free readers of the thread table retry across both
	// (vk_rusage.go).
	deadCPUNs int64
	deathBusy int32
	deathGen  uint32
}

// vkRunqLk[i] guards CPU i's run queue (runqHead, runqTail, runqLen) and
// the switch on that CPU; vkPrevThread[i] is the thread CPU i switched
// away from last, whose onCPU the next thread clears.
var (
	vkRunqLk     [vkMaxCPU]vkSpin
	vkPrevThread [vkMaxCPU]uintptr
)

// vkRqLock and vkRqUnlock take and release this CPU's run-queue lock.
// After vkSchedule the thread may be on another CPU: vkRqUnlock releases
// the lock of the CPU it is on then, which that CPU took for the switch.
func vkRqLock()   { vkSpinLock(&vkRunqLk[vkThisCPU().id]) }
func vkRqUnlock() { vkSpinUnlock(&vkRunqLk[vkThisCPU().id]) }

// vkBKL is the kernel lock (vk_lock.go: vkLock, vkUnlock).
var vkBKL vkSpin

func vkSpinPause()

func vkThreadOf(p uintptr) *vkThread { return (*vkThread)(unsafe.Pointer(p)) }

func vkCur() *vkThread { return vkThreadOf(vkThisCPU().cur) }

func vkFrameOf(t *vkThread) *vkFrame {
	return (*vkFrame)(unsafe.Pointer(t.kstackTop - vkFrameSize))
}

// vkAllCPUs is the mask of CPUs that are online.
func vkAllCPUs() uint64 {
	m := uint64(0)
	for i := 0; i < vkCPUCount; i++ {
		if vkCPUs[i].online != 0 {
			m |= 1 << i
		}
	}
	return m
}

// vkNewThread allocates a thread whose first run returns to user mode with
// the register state in f and the FPU state copied from the save area at
// fpu (0: left zero for the caller to fill).
func vkNewThread(f *vkFrame, fsBase uintptr, fpu uintptr) *vkThread {
	slot := -1
	for i := 0; i < vkMaxThreads; i++ {
		if vkSched.threads[i] == 0 {
			slot = i
			break
		}
	}
	if slot < 0 {
		return nil
	}
	pa := vkFrameAlloc()
	if pa == 0 {
		return nil
	}
	t := vkThreadOf(vkP2V(pa))
	vkSched.threads[slot] = uintptr(unsafe.Pointer(t))
	vkSched.nthreads++
	t.tid = int32(slot + 1)
	if t.tid > vkSched.maxTID {
		vkSched.maxTID = t.tid
	}
	t.kstackTop = vkKernelStack(vkKStackSize)
	t.fsBase = fsBase
	if fpu != 0 {
		vkFPUCopy(uintptr(unsafe.Pointer(&t.fpu[0])), fpu)
	}
	t.fpuStale = 0
	t.affinity = ^uint64(0)
	t.onCPU = -1
	t.timerCPU, t.timerIdx = -1, -1
	*vkFrameOf(t) = *f
	// The first vkSwtch into t pops BP and returns to vkThreadStart.
	sp := t.kstackTop - vkFrameSize - 16
	*(*uintptr)(unsafe.Pointer(sp)) = 0
	*(*uintptr)(unsafe.Pointer(sp + 8)) = vkThreadStartPC()
	t.ksp = sp
	return t
}

// vkNewIdleThread makes CPU c's idle thread around the stack it boots on.
func vkNewIdleThread(c *vkCPU, kstackTop uintptr) *vkThread {
	pa := vkMustFrame()
	t := vkThreadOf(vkP2V(pa))
	t.state = thIdle
	t.kstackTop = kstackTop
	t.affinity = 1 << c.id
	t.onCPU = int32(c.id)
	t.lastCPU = int32(c.id)
	c.idleT = uintptr(unsafe.Pointer(t))
	return t
}

func vkThreadByTID(tid int32) *vkThread {
	if tid < 1 || tid > vkMaxThreads {
		return nil
	}
	p := vkSched.threads[tid-1]
	if p == 0 {
		return nil
	}
	t := vkThreadOf(p)
	if t.state == thDead || t.state == thFree {
		return nil
	}
	return t
}

// vkAllowed reports whether t may run on CPU i: its affinity allows it,
// and a reserved CPU runs only threads pinned to reserved CPUs.
func vkAllowed(t *vkThread, i int) bool {
	bit := uint64(1) << i
	if t.affinity&bit == 0 || vkCPUs[i].online == 0 {
		return false
	}
	return vkSched.reserved&bit == 0 || t.affinity&^vkSched.reserved == 0
}

// vkRunqPush appends t to c's queue; the caller holds c's run-queue lock.
func vkRunqPush(c *vkCPU, t *vkThread) {
	vkAssertHeld(&vkRunqLk[c.id])
	p := uintptr(unsafe.Pointer(t))
	t.next = 0
	if c.runqTail == 0 {
		c.runqHead = p
	} else {
		vkThreadOf(c.runqTail).next = p
	}
	c.runqTail = p
	c.runqLen++
}

// vkRunqTake unlinks the first thread in c's queue that may run on cpu;
// the caller holds c's run-queue lock.
func vkRunqTake(c *vkCPU, cpu int) *vkThread {
	vkAssertHeld(&vkRunqLk[c.id])
	prev := uintptr(0)
	for p := c.runqHead; p != 0; p = vkThreadOf(p).next {
		t := vkThreadOf(p)
		if vkAllowed(t, cpu) {
			if prev == 0 {
				c.runqHead = t.next
			} else {
				vkThreadOf(prev).next = t.next
			}
			if c.runqTail == p {
				c.runqTail = prev
			}
			t.next = 0
			c.runqLen--
			return t
		}
		prev = p
	}
	return nil
}

// vkRunqRunnable reports whether c's queue holds a thread that may run on
// c; the caller holds c's run-queue lock.
func vkRunqRunnable(c *vkCPU) bool {
	vkAssertHeld(&vkRunqLk[c.id])
	for p := c.runqHead; p != 0; p = vkThreadOf(p).next {
		if vkAllowed(vkThreadOf(p), int(c.id)) {
			return true
		}
	}
	return false
}

// vkEnqueue puts the runnable thread t on the best CPU's queue: an idle
// one it may use, else the one it last ran on, else any it may use (the
// choice reads other CPUs' state without their locks: it is a hint). A
// remote CPU is sent a reschedule IPI so it notices. The caller holds no
// run-queue lock.
func vkEnqueue(t *vkThread) { vkEnqueueIPI(t, nil) }

// vkEnqueueIPI is vkEnqueue that, with ipis not nil, adds the remote CPU
// to that mask instead of interrupting it: a caller holding a lock others
// wait for sends the IPIs after letting it go (vkSendIPIs). An IPI
// only makes a CPU look at its queue, so sending it late loses nothing.
func vkEnqueueIPI(t *vkThread, ipis *uint64) {
	target := -1
	for i := 0; i < vkCPUCount; i++ {
		if vkAllowed(t, i) && atomic.Loaduintptr(&vkCPUs[i].idle) != 0 && vkCPUs[i].runqLen == 0 {
			target = i
			break
		}
	}
	if target < 0 && vkAllowed(t, int(t.lastCPU)) {
		target = int(t.lastCPU)
	}
	for i := 0; target < 0 && i < vkCPUCount; i++ {
		if vkAllowed(t, i) {
			target = i
		}
	}
	if target < 0 {
		target = 0 // affinity names no online CPU: run anyway rather than lose it
	}
	c := &vkCPUs[target]
	vkSpinLock(&vkRunqLk[target])
	vkRunqPush(c, t)
	vkSpinUnlock(&vkRunqLk[target])
	me := vkThisCPU()
	if c != me {
		if ipis != nil {
			*ipis |= 1 << target
		} else {
			vkSendIPI(c.apicID, vkReschedVector)
		}
		return
	}
	// The running thread may never block again (a spinning goroutine):
	// make sure the timer ends its slice so the queued thread gets to run.
	if me.cur != 0 && me.cur != me.idleT {
		if end := vkCur().sliceEnd; me.deadline == 0 || me.deadline > end {
			vkTimerArm(end)
		}
	}
}

// vkSteal takes a thread that may run on c from another CPU's queue. The
// caller holds c's run-queue lock; it is let go while another queue's is
// held, so no CPU ever waits for a second run-queue lock while holding
// one.
func vkSteal(c *vkCPU) *vkThread {
	vkAssertHeld(&vkRunqLk[c.id])
	own := &vkRunqLk[c.id]
	for i := 0; i < vkCPUCount; i++ {
		o := &vkCPUs[i]
		if o == c || o.runqLen == 0 {
			continue
		}
		vkSpinUnlock(own)
		vkSpinLock(&vkRunqLk[i])
		t := vkRunqTake(o, int(c.id))
		vkSpinUnlock(&vkRunqLk[i])
		vkSpinLock(own)
		if t != nil {
			atomic.Xadd64(&vkSched.steals, 1)
			return t
		}
	}
	return nil
}

// vkWake makes a blocked thread runnable and queues it. Of several CPUs
// that try at once (a futex wake, a timer, a signal) one wins the
// compare-and-swap of the state; the others do nothing. The thread leaves
// its futex queue and timer heap itself when it runs (vkSleep). The
// caller holds no run-queue lock.
func vkWake(t *vkThread, timedOut bool) { vkWakeIPI(t, timedOut, nil) }

// vkWakeIPI is vkWake with the reschedule IPIs deferred (vkEnqueueIPI).
func vkWakeIPI(t *vkThread, timedOut bool, ipis *uint64) {
	if !atomic.Cas((*uint32)(unsafe.Pointer(&t.state)), thBlocked, thRunnable) {
		return
	}
	t.deadline = 0
	t.timedOut = timedOut
	vkEnqueueIPI(t, ipis)
}

// vkSendIPIs sends a reschedule IPI to every CPU in mask.
func vkSendIPIs(mask uint64) {
	for i := 0; mask != 0 && i < vkCPUCount; i++ {
		if mask&(1<<i) != 0 {
			mask &^= 1 << i
			vkSendIPI(vkCPUs[i].apicID, vkReschedVector)
		}
	}
}

// vkTimerTick runs on every timer interrupt and reschedule IPI taken in
// user code: it wakes sleepers whose time has come and preempts the running
// thread when its slice is over or a sleeper just woke on this CPU (so
// timers are not late by a whole slice). Otherwise it re-arms the timer.
// It takes this CPU's run-queue lock itself; the caller holds no lock.
func vkTimerTick() {
	vkAssertNotHeld(&vkBKL)
	c := vkThisCPU()
	// This is also the tick a kernel trap deferred, if any.
	atomic.Store(&vkTickPending[c.id], 0)
	c.deadline = 0 // the one-shot has fired (or an IPI asks us to re-arm)
	now := vkNanotime()
	vkTLBRefresh(c, now)
	queued := c.runqLen // read without the lock: a hint of who woke here
	next := vkTimerExpire(c, now)
	vkRqLock()
	if c.runqLen != 0 {
		cur := vkCur()
		if c.runqLen > queued || now >= cur.sliceEnd {
			cur.requeue = true
			vkSchedule() // arms the timer for what comes next
			vkRqUnlock()
			return
		}
		if end := cur.sliceEnd; next == 0 || end < next {
			next = end
		}
	}
	vkTimerArm(next)
	vkRqUnlock()
}

// vkSchedule gives this CPU to the next runnable thread. The caller holds
// this CPU's run-queue lock, not the kernel lock, and has either set
// cur.requeue (a yield or preemption: cur goes back on a queue, or keeps
// the CPU if nothing else may run here) or set the current thread's state
// to thBlocked, thDead or thIdle. It returns, holding the run-queue lock
// of the CPU it then runs on, when the current thread runs again (never if
// it is dead).
func vkSchedule() {
	c := vkThisCPU()
	own := &vkRunqLk[c.id]
	vkAssertHeld(own)
	vkAssertNotHeld(&vkBKL)
	cur := vkThreadOf(c.cur)
	requeue := cur.requeue
	cur.requeue = false
	stay := requeue && vkAllowed(cur, int(c.id))
	next := vkRunqTake(c, int(c.id))
	if next == nil && !stay {
		atomic.Store(&c.stealWanted, 0) // a kick after this sets it again
		next = vkSteal(c)               // lets go of own meanwhile
		if next == nil {
			// Queued here while own was let go: its IPI may have been
			// taken while spinning, so look rather than rely on it.
			next = vkRunqTake(c, int(c.id))
		}
	}
	if requeue {
		if next == nil && stay {
			next = cur // nothing else may run here: keep going
		} else if next != nil || !stay {
			cur.state = thRunnable
			vkRunqPush(c, cur)
			if !stay {
				vkKick(cur) // its affinity changed: an allowed CPU steals it
			}
		}
	}
	if next == nil {
		next = vkThreadOf(c.idleT)
	}
	if next != cur && next.state != thIdle && atomic.Loadint32(&next.onCPU) >= 0 && cur.state != thIdle {
		// Dequeued while its last CPU may still be switching away from
		// it. Waiting here, while this CPU is itself switching away
		// from a thread another CPU may have taken, can close a cycle:
		// CPU 1 waits for a thread CPU 3 is leaving, CPU 3 for one CPU 6
		// is leaving, CPU 6 for the one CPU 1 is leaving, and none ever
		// leaves (seen at -smp 8 under tests/locks/faults: three CPUs
		// spinning here, five idle). So the thread goes back on this
		// queue and this CPU switches to its idle thread, which no
		// other CPU can take and which schedules again at once; only
		// the idle thread waits below, so no CPU in the wait is ever
		// waited for.
		vkRunqPush(c, next)
		next = vkThreadOf(c.idleT)
	}
	if next != cur && next.state != thIdle {
		// Dequeued while its last CPU may still be switching away from
		// it: wait, holding no lock, until its stack is free (only the
		// idle thread gets here, see above).
		if atomic.Loadint32(&next.onCPU) >= 0 {
			vkSpinUnlock(own)
			for atomic.Loadint32(&next.onCPU) >= 0 {
				vkTLBFlushLocal()
				vkSpinPause()
			}
			vkSpinLock(own)
		}
	}
	now := vkNanotime()
	deadline := vkTimerNext(c) // expired entries make it past: the tick comes at once
	if c.runqLen != 0 && (deadline == 0 || now+vkQuantumNs < deadline) {
		deadline = now + vkQuantumNs // others wait: preempt at slice end
	}
	vkITimerSwitch(c, cur.state == thIdle, next.state == thIdle, now) // before arming: idle time is not profiled
	vkPTimerSwitch(c, next, now)                                      // next's CPU timers (vk_ptimer.go)
	vkTimerArm(deadline)
	vkChargeCPU(cur, next)
	if next.state != thIdle {
		next.state = thRunning
	}
	next.sliceEnd = now + vkQuantumNs
	next.lastCPU = int32(c.id)
	if next == cur {
		return
	}
	atomic.Xadd64(&vkSched.switches, 1)
	if next.state != thIdle {
		atomic.Storeint32(&next.onCPU, int32(c.id))
	}
	vkPrevThread[c.id] = uintptr(unsafe.Pointer(cur))
	c.cur = uintptr(unsafe.Pointer(next))
	c.kstackTop = next.kstackTop
	c.fpu = uintptr(unsafe.Pointer(&next.fpu[0]))
	c.fpuLive = 0 // the registers' control state is no longer a stale thread's (vk_fpu.go)
	c.userFS = next.fsBase
	vkSwtch(&cur.ksp, next.ksp)
	// Running again, maybe on another CPU.
	vkSchedFinish()
}

// vkKick sends a reschedule IPI to a CPU t may run on, so that it steals
// t from the queue t was left on.
func vkKick(t *vkThread) {
	for i := 0; i < vkCPUCount; i++ {
		if vkAllowed(t, i) {
			atomic.Store(&vkCPUs[i].stealWanted, 1)
			vkSendIPI(vkCPUs[i].apicID, vkReschedVector)
			return
		}
	}
}

// vkSchedFinish completes a switch on the thread switched to: the thread
// switched away from is off its stack now (onCPU -1 lets another CPU run
// it), and one that exited joins the zombies that vkReapZombies frees. The
// caller holds this CPU's run-queue lock.
func vkSchedFinish() {
	vkAssertHeld(&vkRunqLk[vkThisCPU().id])
	c := vkThisCPU()
	if p := vkPrevThread[c.id]; p != 0 {
		vkPrevThread[c.id] = 0
		if p != c.idleT {
			atomic.Storeint32(&vkThreadOf(p).onCPU, -1)
		}
	}
	if z := c.zombie; z != 0 && z != c.cur {
		c.zombie = 0
		t := vkThreadOf(z)
		for {
			old := atomic.Loaduintptr(&vkSched.zombies)
			t.next = old
			if atomic.Casuintptr(&vkSched.zombies, old, z) {
				break
			}
		}
	}
}

// vkReapZombies frees the stacks and slots of exited threads. The caller
// holds the kernel lock: the frame and stack allocators and the thread
// table are under it.
func vkReapZombies() {
	vkAssertHeld(&vkBKL)
	if atomic.Loaduintptr(&vkSched.zombies) == 0 {
		return
	}
	z := atomic.Xchguintptr(&vkSched.zombies, 0)
	// Lock-free readers of the thread table (vkProcessCPUNs) retry across
	// this, so none keeps using a thread freed here.
	vkDeathBegin()
	for z != 0 {
		t := vkThreadOf(z)
		z = t.next
		atomic.Storeuintptr(&vkSched.threads[t.tid-1], 0)
		vkKernelStackFree(t.kstackTop)
		vkFrameFree(uintptr(unsafe.Pointer(t)) - vkDMAP)
	}
	vkDeathEnd()
}

// vkThreadBegin runs when a new thread is switched to for the first time,
// before it enters user mode: it completes the switch.
//
// No write barriers: entered from vkThreadStart's assembly in trap context
// (this CPU's run-queue lock held, no P).
//
//go:nowritebarrierrec
func vkThreadBegin() {
	vkSchedFinish()
	vkRqUnlock()
}

// vkIdleLoop is what a CPU's idle thread runs, forever, holding its run-
// queue lock except while halted. Device work that interrupts deferred to
// a lock holder (vkIRQPending) is done here too, under the kernel lock.
//
// No write barriers: entered from vkIdleStart's assembly on an idle
// thread, which never has a P.
//
//go:nowritebarrierrec
func vkIdleLoop() {
	c := vkThisCPU()
	vkSchedFinish() // the BSP's idle thread starts here from a switch
	for {
		vkSchedule() // runs whatever is runnable; returns when nothing is
		if vkRunqRunnable(c) {
			continue // queued after vkSchedule looked, its IPI taken while it spun
		}
		atomic.Storeuintptr(&c.idle, 1)
		vkRqUnlock()
		if !vkIdlePoll(c) { // a short poll first (vk_idlepoll.go)
			t0 := vkNanotime()
			vkIdle() // interrupts on until the next one arrives
			ns := vkNanotime() - t0
			c.halts++
			c.haltNs += ns
			vkIdleHalted(c, ns)
		}
		if atomic.Load(&vkIRQPending) != 0 {
			vkLock()
			vkIRQWork()
			vkUnlock()
		}
		if vkPTimerDue(vkNanotime()) { // a wall timer (vk_ptimer.go)
			vkLock()
			vkPTimerTick()
			vkUnlock()
		}
		vkTimerExpire(c, vkNanotime()) // the tick in kernel code only woke us
		vkRqLock()
		atomic.Storeuintptr(&c.idle, 0)
	}
}

// vkBlock puts the current thread to sleep until woken or until deadline
// (0 = no deadline); with t.waitAddr set it sleeps on that address's wait
// queue, which vkFutexWake(addr) wakes. The caller holds the kernel lock:
// it is released while the thread sleeps and held again on return, so the
// caller must check its condition again. It reports whether the deadline
// expired.
func vkBlock(deadline int64) bool { return vkBlockSleep(deadline, false) }

// vkBlockIntr is vkBlock for a wait that a signal ends: with a signal
// pending that t does not block, it does not sleep at all, so the caller
// must check for one after every return (and return EINTR or
// ERESTARTSYS). The check is made after t is marked blocked, against
// vkSigPost, which sets the pending bit before it reads the state: a
// signal sent while t was on its way into the system call (its IPI held
// off with interrupts) cannot leave t asleep with the signal pending, as
// it left the network server in velocity_net_wait while AllThreadsSyscall
// waited for it forever (std syscall TestAllThreadsSyscallBlockedSyscall,
// found with the NMI dump).
func vkBlockIntr(deadline int64) bool { return vkBlockSleep(deadline, true) }

// vkBlockSleep is vkBlock (intr false) and vkBlockIntr (intr true).
func vkBlockSleep(deadline int64, intr bool) bool {
	vkAssertHeld(&vkBKL)
	vkTLBShootdown() // before sleeping, not after: the next holder may reuse freed frames
	t := vkCur()
	var b *vkFutexBucket
	if t.waitAddr != 0 {
		b = vkFutexBucketOf(t.waitAddr)
		vkSpinLock(&b.lock)
		vkFutexQueue(b, t)
	}
	vkSleep(t, b, deadline, true, intr)
	t.waitAddr = 0
	return t.timedOut
}

// vkSleepOn sleeps on addr's wait queue, for a caller that holds l (a
// lock taken after the kernel lock and before any bucket: vkFDLock, a
// pipe's): the thread is queued before l is released, so a waker that
// changes the condition under l and then wakes addr cannot be missed. l is
// not held on return (take it again and check again). With bkl the caller
// also holds the kernel lock, released while asleep and held again on
// return. Either way a pending signal that t does not block keeps it from
// sleeping (see vkBlockIntr): every caller checks for one on return.
func vkSleepOn(addr uintptr, l *vkSpin, deadline int64, bkl bool) bool {
	vkAssertHeld(l)
	if bkl {
		vkAssertHeld(&vkBKL)
		vkTLBShootdown() // as vkBlock: before sleeping
	}
	t := vkCur()
	t.waitAddr = addr
	b := vkFutexBucketOf(addr)
	vkSpinLock(&b.lock)
	vkFutexQueue(b, t)
	vkSpinUnlock(l)
	vkSleep(t, b, deadline, bkl, true)
	t.waitAddr = 0
	return t.timedOut
}

// vkSleep blocks the current thread t until it is woken. If b is not nil,
// the caller holds b's lock and has queued t on it: the lock is released
// only once t is marked blocked, so a wake-up cannot slip in between. With
// bkl the caller holds the kernel lock, released while asleep. On return t
// is off b's queue, and woken reports whether vkFutexWake took it off (as
// opposed to a deadline, a signal or a spurious wake-up). With intr a
// signal that is pending and not blocked keeps it from sleeping: a
// signal sent just before the thread was marked blocked found nothing to
// wake (vkSysTgkill).
func vkSleep(t *vkThread, b *vkFutexBucket, deadline int64, bkl, intr bool) (woken bool) {
	hc := int32(-1)
	if deadline != 0 {
		hc = vkTimerAdd(t, deadline)
	}
	vkRqLock()
	t.deadline = deadline
	t.timedOut = false
	// Xchg, not a plain store: the read of pending below must not pass it.
	atomic.Xchg((*uint32)(unsafe.Pointer(&t.state)), thBlocked)
	if b != nil {
		vkSpinUnlock(&b.lock)
	}
	if bkl {
		vkUnlock()
	}
	if intr && atomic.Load64(&t.pending)&^t.sigmask != 0 &&
		atomic.Cas((*uint32)(unsafe.Pointer(&t.state)), thBlocked, thRunning) {
		// Not asleep after all (if the swap failed, a waker queued it).
	} else {
		vkSchedule()
	}
	vkRqUnlock()
	if hc >= 0 {
		vkTimerCancel(t, hc)
	}
	if b != nil {
		vkSpinLock(&b.lock)
		woken = !t.queued
		if t.queued {
			vkFutexUnqueue(b, t)
		}
		vkSpinUnlock(&b.lock)
	}
	if bkl {
		vkLock()
	}
	return woken
}

// vkYield puts the current thread back on a run queue and runs another.
// The caller holds the kernel lock, which is released meanwhile.
func vkYield() {
	vkAssertHeld(&vkBKL)
	vkTLBShootdown()
	vkRqLock()
	vkCur().requeue = true
	vkUnlock()
	vkSchedule()
	vkRqUnlock()
	vkLock()
}

// vkThreadExit ends the current thread; the caller holds the kernel lock.
func vkThreadExit() {
	vkAssertHeld(&vkBKL)
	t := vkCur()
	if t.clearTID != 0 && vkUserOK(t.clearTID, 4, true) {
		*(*uint32)(unsafe.Pointer(t.clearTID)) = 0
		vkFutexWake(t.clearTID, 1)
	}
	vkSched.nthreads--
	vkPTimerThreadExit(t) // its CPU clock stops (vk_ptimer.go)
	vkReapZombies()
	vkTLBShootdown()
	vkRqLock()
	t.state = thDead
	vkThisCPU().zombie = uintptr(unsafe.Pointer(t))
	vkUnlock()
	vkSchedule()
	vkFatal("dead thread ran again")
}

// --- futex ---

const (
	futexWait        = 0
	futexWake        = 1
	futexWaitBitset  = 9
	futexWakeBitset  = 10
	futexPrivateFlag = 128
	futexClockRT     = 256
)

// The futex hash table: every address a thread sleeps on (a futex word,
// a pipe, an epoll instance, ...) hashes to a bucket with its own lock and
// a FIFO queue of the threads waiting there. Lock order: the kernel lock
// (when held), the fd table lock, a pipe's lock, then a bucket, then a
// timer heap, then one run queue.
const vkFutexBuckets = 256

type vkFutexBucket struct {
	lock       vkSpin
	head, tail uintptr // *vkThread, linked by fnext
	// waiters counts the threads inside vkFutexWait on this bucket, from
	// before they read the futex word until after they stop sleeping, so
	// a private FUTEX_WAKE that finds it zero may return without the lock
	// (vkFutexNoWaiters). Kernel waits queued here by vkBlock are not
	// counted: a system call never wakes them.
	waiters uint32
}

var vkFutexTab [vkFutexBuckets]vkFutexBucket

func vkFutexBucketOf(addr uintptr) *vkFutexBucket {
	h := uint64(addr>>2) * 0x9E3779B97F4A7C15
	return &vkFutexTab[h>>56]
}

// vkFutexQueue appends t, whose waitAddr is set, to b's queue; the caller
// holds b's lock.
func vkFutexQueue(b *vkFutexBucket, t *vkThread) {
	vkAssertHeld(&b.lock)
	p := uintptr(unsafe.Pointer(t))
	t.fnext = 0
	t.queued = true
	if b.tail == 0 {
		b.head = p
	} else {
		vkThreadOf(b.tail).fnext = p
	}
	b.tail = p
}

// vkFutexUnqueue takes t off b's queue; the caller holds b's lock.
func vkFutexUnqueue(b *vkFutexBucket, t *vkThread) {
	vkAssertHeld(&b.lock)
	p := uintptr(unsafe.Pointer(t))
	prev := uintptr(0)
	for q := b.head; q != 0; q = vkThreadOf(q).fnext {
		if q == p {
			if prev == 0 {
				b.head = t.fnext
			} else {
				vkThreadOf(prev).fnext = t.fnext
			}
			if b.tail == p {
				b.tail = prev
			}
			break
		}
		prev = q
	}
	t.fnext = 0
	t.queued = false
}

// vkFutexNoWaiters reports whether no thread can be waiting in
// vkFutexWait on addr's bucket, so that a private FUTEX_WAKE has nothing
// to do and may skip the bucket lock, as Linux's futex_wake does with its
// waiter count. It is sound by the Dekker pattern: the waker's program
// stored the new word value before the call, and this locked
// read-modify-write (a full barrier) reads the count after that store; a
// waiter increments the count (also locked) before it reads the word. So
// either this sees the waiter, or the waiter sees the new value and does
// not sleep (EAGAIN). A waiter that saw the old value stays counted until
// it has stopped sleeping.
func vkFutexNoWaiters(addr uintptr) bool {
	return atomic.Xadd(&vkFutexBucketOf(addr).waiters, 0) == 0
}

// vkFutexWake wakes up to n threads sleeping on addr, oldest first, and
// returns how many it took off the queue. The caller may hold the kernel
// lock, but not a bucket lock or a run-queue lock.
func vkFutexWake(addr uintptr, n int) int {
	b := vkFutexBucketOf(addr)
	vkSpinLock(&b.lock)
	woken := 0
	ipis := uint64(0)
	prev := uintptr(0)
	for p := b.head; p != 0 && woken < n; {
		t := vkThreadOf(p)
		next := t.fnext
		if t.waitAddr != addr {
			prev = p
			p = next
			continue
		}
		if prev == 0 {
			b.head = next
		} else {
			vkThreadOf(prev).fnext = next
		}
		if b.tail == p {
			b.tail = prev
		}
		t.fnext = 0
		t.queued = false
		vkWakeIPI(t, false, &ipis)
		woken++
		p = next
	}
	vkSpinUnlock(&b.lock)
	vkSendIPIs(ipis) // after the bucket lock: the woken thread wants it soon
	return woken
}

// vkFutexWait sleeps on the futex word at addr if it still holds val,
// until woken, a signal or deadline; the check and the queueing happen
// under the bucket lock, so a wake between them cannot be lost. It reads
// the word through the page tables (vkUserLoad32) and reports ok false,
// having done nothing, if the page is not resident: the caller then
// faults it in under the kernel lock and tries again. With bkl the caller
// holds the kernel lock (released while asleep).
func vkFutexWait(addr uintptr, val uint32, deadline int64, bkl bool) (r uintptr, ok bool) {
	b := vkFutexBucketOf(addr)
	vkSpinLock(&b.lock)
	// Counted before the word is read, with a locked instruction (a full
	// barrier): see vkFutexNoWaiters.
	atomic.Xadd(&b.waiters, 1)
	v, ok := vkUserLoad32(addr)
	if !ok {
		atomic.Xadd(&b.waiters, -1)
		vkSpinUnlock(&b.lock)
		return 0, false
	}
	if v != val {
		atomic.Xadd(&b.waiters, -1)
		vkSpinUnlock(&b.lock)
		return vkErr(vkEAGAIN), true
	}
	t := vkCur()
	t.waitAddr = addr
	vkFutexQueue(b, t)
	woken := vkSleep(t, b, deadline, bkl, true)
	atomic.Xadd(&b.waiters, -1)
	t.waitAddr = 0
	if !woken && t.timedOut {
		return vkErr(vkETIMEDOUT), true
	}
	return 0, true
}

// vkFutexDeadline reads a futex timeout at ts (reading user memory with
// read, which reports false for an unreadable or non-resident timespec)
// and turns it into a monotonic deadline.
func vkFutexDeadline(op int32, ts uintptr, read func(uintptr) (uint64, bool)) (deadline int64, errno int, ok bool) {
	if ts == 0 {
		return 0, 0, true
	}
	s, ok1 := read(ts)
	ns, ok2 := read(ts + 8)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	sec, nsec := int64(s), int64(ns)
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return 0, vkEINVAL, true
	}
	cmd := vkFutexCmd(op)
	if cmd == futexWaitBitset { // absolute
		deadline = sec*1e9 + nsec
		if op&futexClockRT != 0 {
			deadline -= vkWalltime() - vkNanotime()
		}
	} else {
		deadline = vkNanotime() + sec*1e9 + nsec
	}
	if deadline <= 0 {
		deadline = 1
	}
	return deadline, 0, true
}

// vkSysFutex is futex(2) on the locked path; the caller holds the kernel
// lock. The common cases never get here (vkSysFutexFast); this path
// handles what that one cannot: a word or timeout not resident yet (the
// fault is taken here, under the lock) and shared wakes.
func vkSysFutex(addr uintptr, op int32, val uint32, ts uintptr) uintptr {
	// Linux's order: alignment (EINVAL), the operation (ENOSYS), the
	// timeout (EFAULT, EINVAL), then the word itself (EFAULT, EAGAIN). A
	// private wake never reads the word, but the address must still be
	// in the user half (vkFutexOpCheck).
	if addr&3 != 0 {
		return vkErr(vkEINVAL)
	}
	cmd := vkFutexCmd(op)
	if e := vkFutexOpCheck(addr, op); e != 0 {
		return vkErr(e)
	}
	switch cmd {
	case futexWait, futexWaitBitset:
		if ts != 0 && !vkUserOK(ts, 16, false) {
			return vkErr(vkEFAULT)
		}
		deadline, errno, _ := vkFutexDeadline(op, ts, vkUserRead64Locked)
		if errno != 0 {
			return vkErr(errno)
		}
		if !vkUserOK(addr, 4, false) {
			return vkErr(vkEFAULT)
		}
		vkTLBShootdown() // before sleeping with the lock let go
		for try := 0; try < 3; try++ {
			atomic.Load((*uint32)(unsafe.Pointer(addr))) // fault it in, under the lock
			if r, ok := vkFutexWait(addr, val, deadline, true); ok {
				return r
			}
		}
		return vkErr(vkEFAULT) // resident a moment ago, gone again: unmapped meanwhile
	case futexWake, futexWakeBitset:
		if op&futexPrivateFlag == 0 && !vkUserOK(addr, 4, false) {
			return vkErr(vkEFAULT)
		}
		return uintptr(vkFutexWake(addr, int(val)))
	}
	return vkErr(vkENOSYS)
}

// vkFutexCmd is a futex op without its private and clock flags: the
// operation itself.
func vkFutexCmd(op int32) int32 { return op &^ (futexPrivateFlag | futexClockRT) }

// vkFutexOpCheck gives the errors of an operation that do not depend on
// memory, as Linux: ENOSYS for FUTEX_CLOCK_REALTIME with anything but
// FUTEX_WAIT_BITSET (the Linux host gives it for FUTEX_WAIT too: tests/
// syscalls), and for a wake (FUTEX_WAKE, FUTEX_WAKE_BITSET) EFAULT for a
// word outside the user half (access_ok), even for a private wake, which
// never reads it. 0 for anything else.
func vkFutexOpCheck(addr uintptr, op int32) int {
	cmd := vkFutexCmd(op)
	if op&futexClockRT != 0 && cmd != futexWaitBitset {
		return vkENOSYS
	}
	if (cmd == futexWake || cmd == futexWakeBitset) && addr > vkUserMax-4 {
		return vkEFAULT
	}
	return 0
}

// vkUserRead64Locked reads 8 bytes the caller checked with vkUserOK; the
// caller holds the kernel lock, so a fault on them is resolved.
func vkUserRead64Locked(p uintptr) (uint64, bool) { return *(*uint64)(unsafe.Pointer(p)), true }

// vkSleepUntil sleeps until the monotonic time deadline; the caller
// holds the kernel lock (vkSleepUntilFine is the same without it). It
// reports false if a signal that the thread does not block ended the
// sleep first: nanosleep then fails with EINTR, as on Linux, so that the
// signal is taken now rather than when the sleep is over (a thread in an
// hour's syscall.Nanosleep kept AllThreadsSyscall and SIGPROF waiting).
func vkSleepUntil(deadline int64) bool {
	t := vkCur()
	for vkNanotime() < deadline {
		if atomic.Load64(&t.pending)&^t.sigmask != 0 {
			return false
		}
		vkBlockIntr(deadline)
	}
	return true
}

// vkSleepUntilFine sleeps until deadline without the kernel lock.
func vkSleepUntilFine(deadline int64) bool {
	t := vkCur()
	for vkNanotime() < deadline {
		if atomic.Load64(&t.pending)&^t.sigmask != 0 {
			return false
		}
		vkSleep(t, nil, deadline, false, true)
	}
	return true
}

// vkSysClone starts a thread. Only the thread flags the Go runtime uses are
// supported: a new process (fork) is not.
func vkSysClone(f *vkFrame, flags uint64, stack, ptid, ctid, tls uintptr) uintptr {
	const (
		cloneVM      = 0x100
		cloneThread  = 0x10000
		cloneSetTLS  = 0x80000
		cloneParent  = 0x100000 // CLONE_PARENT_SETTID
		cloneChildCl = 0x200000 // CLONE_CHILD_CLEARTID
	)
	const cloneSighand = 0x800
	// Linux's consistency rules first: a thread shares the signal
	// handlers, and shared handlers need a shared address space.
	if flags&cloneThread != 0 && flags&cloneSighand == 0 || flags&cloneSighand != 0 && flags&cloneVM == 0 {
		return vkErr(vkEINVAL)
	}
	if flags&(cloneVM|cloneThread) != cloneVM|cloneThread {
		return vkErr(vkENOSYS) // processes are not supported
	}
	vkReapZombies() // frees the slots and stacks of exited threads first
	parent := vkCur()
	child := *f
	child.rax = 0
	if stack != 0 {
		child.rsp = uint64(stack)
	}
	fs := parent.fsBase
	if flags&cloneSetTLS != 0 {
		fs = tls
	}
	vkFPUMaterialize(parent) // the child starts from the parent's FPU state (vk_fpu.go)
	t := vkNewThread(&child, fs, uintptr(unsafe.Pointer(&parent.fpu[0])))
	if t == nil {
		return vkErr(vkEAGAIN)
	}
	t.sigmask = parent.sigmask
	t.affinity = parent.affinity
	t.lastCPU = int32(vkThisCPU().id)
	if flags&cloneChildCl != 0 {
		t.clearTID = ctid
	}
	if flags&cloneParent != 0 && vkUserOK(ptid, 4, true) {
		*(*int32)(unsafe.Pointer(ptid)) = t.tid
	}
	t.state = thRunnable
	vkEnqueue(t)
	return uintptr(t.tid)
}
