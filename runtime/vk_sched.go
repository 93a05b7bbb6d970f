//go:build velocity

// Velocity kernel: threads and the scheduler.
//
// Each clone() makes a kernel thread with its own kernel stack; the Go
// runtime puts one M on each. Threads run until they block (futex,
// nanosleep), yield, or use up a 10 ms slice, when the LAPIC timer preempts
// them. The run queue is FIFO. Interrupts are off throughout.

package runtime

import "unsafe"

const (
	vkMaxThreads = 4096
)

const (
	thFree = iota
	thRunnable
	thRunning
	thBlocked
	thDead
)

type vkThread struct {
	fpu       [512]byte // FXSAVE area; first so it is 16-byte aligned
	tid       int32
	state     int32
	ksp       uintptr // saved kernel stack pointer while switched out
	kstackTop uintptr
	fsBase    uintptr
	next      uintptr // run queue link
	waitAddr  uintptr // futex word the thread sleeps on, 0 if none
	deadline  int64   // monotonic wake-up time while blocked, 0 = none
	timedOut  bool
	sigmask   uint64
	pending   uint64
	altSP     uintptr
	altSize   uintptr
	altFlags  int32
	sliceEnd  int64
	affinity  uint64
	cpuNs     int64 // time spent running
	lastRun   int64
	clearTID  uintptr
}

var vkSched struct {
	threads  [vkMaxThreads]uintptr // tid-1 → *vkThread (kernel memory)
	nthreads int
	maxTID   int32
	head     uintptr
	tail     uintptr
	zombie   uintptr // exited thread whose stack is freed after the switch
	switches uint64
	fpuInit  [512]byte
}

func vkThreadOf(p uintptr) *vkThread { return (*vkThread)(unsafe.Pointer(p)) }

func vkCur() *vkThread { return vkThreadOf(vkThisCPU().cur) }

func vkFrameOf(t *vkThread) *vkFrame {
	return (*vkFrame)(unsafe.Pointer(t.kstackTop - vkFrameSize))
}

// vkNewThread allocates a thread whose first run returns to user mode with
// the register state in f.
func vkNewThread(f *vkFrame, fsBase uintptr, fpu *[512]byte) *vkThread {
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
	t.fpu = *fpu
	t.affinity = ^uint64(0)
	*vkFrameOf(t) = *f
	// The first vkSwtch into t pops BP and returns to vkThreadStart.
	sp := t.kstackTop - vkFrameSize - 16
	*(*uintptr)(unsafe.Pointer(sp)) = 0
	*(*uintptr)(unsafe.Pointer(sp + 8)) = vkThreadStartPC()
	t.ksp = sp
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

func vkEnqueue(t *vkThread) {
	t.state = thRunnable
	t.next = 0
	p := uintptr(unsafe.Pointer(t))
	if vkSched.tail == 0 {
		vkSched.head = p
	} else {
		vkThreadOf(vkSched.tail).next = p
	}
	vkSched.tail = p
}

func vkDequeue() *vkThread {
	p := vkSched.head
	if p == 0 {
		return nil
	}
	t := vkThreadOf(p)
	vkSched.head = t.next
	if vkSched.head == 0 {
		vkSched.tail = 0
	}
	t.next = 0
	return t
}

// vkWake makes a blocked thread runnable.
func vkWake(t *vkThread, timedOut bool) {
	if t.state != thBlocked {
		return
	}
	t.waitAddr = 0
	t.deadline = 0
	t.timedOut = timedOut
	vkEnqueue(t)
	// The running thread may never block again (a spinning goroutine):
	// make sure the timer ends its slice so the woken thread gets to run.
	if c := vkThisCPU(); c.idle == 0 && c.cur != 0 {
		if end := vkCur().sliceEnd; vkClock.deadline == 0 || vkClock.deadline > end {
			vkTimerArm(end)
		}
	}
}

// vkCheckTimers wakes every blocked thread whose deadline has passed and
// returns the earliest deadline still pending (0 if none).
func vkCheckTimers(now int64) int64 {
	next := int64(0)
	for i := int32(0); i < vkSched.maxTID; i++ {
		p := vkSched.threads[i]
		if p == 0 {
			continue
		}
		t := vkThreadOf(p)
		if t.state != thBlocked || t.deadline == 0 {
			continue
		}
		if t.deadline <= now {
			vkWake(t, true)
		} else if next == 0 || t.deadline < next {
			next = t.deadline
		}
	}
	return next
}

// vkTimerTick runs on every timer interrupt: it wakes sleepers whose time
// has come and preempts the running thread when its slice is over or a
// sleeper just woke (so timers are not late by a whole slice). Otherwise
// it re-arms the timer for the next event.
func vkTimerTick(fromUser bool) {
	vkClock.deadline = 0 // the one-shot has fired
	now := vkNanotime()
	queued := vkSched.head != 0
	next := vkCheckTimers(now)
	woke := !queued && vkSched.head != 0
	if fromUser && vkSched.head != 0 {
		cur := vkCur()
		if woke || now >= cur.sliceEnd {
			cur.state = thRunnable
			vkSchedule() // arms the timer for what comes next
			return
		}
	}
	if fromUser && vkSched.head != 0 {
		if end := vkCur().sliceEnd; next == 0 || end < next {
			next = end
		}
	}
	vkTimerArm(next)
}

// vkSchedule gives the CPU to the next runnable thread. The caller has set
// the current thread's state: thRunnable (it is queued again), thBlocked or
// thDead. It returns when the current thread runs again (never if dead).
func vkSchedule() {
	c := vkThisCPU()
	cur := vkThreadOf(c.cur)
	if cur.state == thRunnable {
		vkEnqueue(cur)
	}
	var next *vkThread
	for {
		now := vkNanotime()
		deadline := vkCheckTimers(now)
		next = vkDequeue()
		if next != nil {
			if vkSched.head != 0 && (deadline == 0 || now+vkQuantumNs < deadline) {
				deadline = now + vkQuantumNs // others wait: preempt at slice end
			}
			vkTimerArm(deadline)
			break
		}
		if vkSched.nthreads == 0 {
			vkFatal("no threads left")
		}
		vkTimerArm(deadline)
		c.idle = 1
		vkIdle() // interrupts on until the next one arrives
		c.idle = 0
	}
	now := vkNanotime()
	cur.cpuNs += now - cur.lastRun
	next.state = thRunning
	next.sliceEnd = now + vkQuantumNs
	next.lastRun = now
	if next == cur {
		return
	}
	vkSched.switches++
	c.cur = uintptr(unsafe.Pointer(next))
	c.kstackTop = next.kstackTop
	c.fpu = uintptr(unsafe.Pointer(&next.fpu[0]))
	c.userFS = next.fsBase
	vkSwtch(&cur.ksp, next.ksp)
	// Running again. Free a thread that exited while we were away.
	if z := vkSched.zombie; z != 0 && z != uintptr(unsafe.Pointer(vkCur())) {
		vkSched.zombie = 0
		vkReap(vkThreadOf(z))
	}
}

func vkReap(t *vkThread) {
	vkKernelStackFree(t.kstackTop)
	vkSched.threads[t.tid-1] = 0
	vkFrameFree(uintptr(unsafe.Pointer(t)) - vkDMAP)
}

// vkBlock puts the current thread to sleep until woken or until deadline
// (0 = no deadline). It reports whether the deadline expired.
func vkBlock(deadline int64) bool {
	t := vkCur()
	t.state = thBlocked
	t.deadline = deadline
	t.timedOut = false
	vkSchedule()
	return t.timedOut
}

func vkThreadExit() {
	t := vkCur()
	if t.clearTID != 0 && vkUserOK(t.clearTID, 4, true) {
		*(*uint32)(unsafe.Pointer(t.clearTID)) = 0
		vkFutexWake(t.clearTID, 1)
	}
	t.state = thDead
	vkSched.nthreads--
	if z := vkSched.zombie; z != 0 {
		vkSched.zombie = 0
		vkReap(vkThreadOf(z))
	}
	vkSched.zombie = uintptr(unsafe.Pointer(t))
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

func vkFutexWake(addr uintptr, n int) int {
	woken := 0
	for i := int32(0); i < vkSched.maxTID && woken < n; i++ {
		p := vkSched.threads[i]
		if p == 0 {
			continue
		}
		t := vkThreadOf(p)
		if t.state == thBlocked && t.waitAddr == addr {
			vkWake(t, false)
			woken++
		}
	}
	return woken
}

func vkSysFutex(addr uintptr, op int32, val uint32, ts uintptr) uintptr {
	if addr&3 != 0 || !vkUserOK(addr, 4, false) {
		return vkErr(vkEFAULT)
	}
	cmd := op &^ (futexPrivateFlag | futexClockRT)
	switch cmd {
	case futexWait, futexWaitBitset:
		if *(*uint32)(unsafe.Pointer(addr)) != val {
			return vkErr(vkEAGAIN)
		}
		deadline := int64(0)
		if ts != 0 {
			if !vkUserOK(ts, 16, false) {
				return vkErr(vkEFAULT)
			}
			sec, nsec := *(*int64)(unsafe.Pointer(ts)), *(*int64)(unsafe.Pointer(ts + 8))
			if sec < 0 || nsec < 0 || nsec >= 1e9 {
				return vkErr(vkEINVAL)
			}
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
		}
		vkCur().waitAddr = addr
		if vkBlock(deadline) {
			return vkErr(vkETIMEDOUT)
		}
		return 0
	case futexWake, futexWakeBitset:
		return uintptr(vkFutexWake(addr, int(val)))
	}
	return vkErr(vkENOSYS)
}

// vkSysNanosleep sleeps for the relative time at ts.
func vkSleepUntil(deadline int64) {
	for vkNanotime() < deadline {
		vkBlock(deadline)
	}
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
	if flags&(cloneVM|cloneThread) != cloneVM|cloneThread {
		return vkErr(vkENOSYS) // processes are not supported
	}
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
	t := vkNewThread(&child, fs, &parent.fpu)
	if t == nil {
		return vkErr(vkEAGAIN)
	}
	t.sigmask = parent.sigmask
	if flags&cloneChildCl != 0 {
		t.clearTID = ctid
	}
	if flags&cloneParent != 0 && vkUserOK(ptid, 4, true) {
		*(*int32)(unsafe.Pointer(ptid)) = t.tid
	}
	vkEnqueue(t)
	return uintptr(t.tid)
}
