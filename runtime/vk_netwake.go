//go:build velocity

// Velocity: the card's receive goroutine holds back the scheduler's
// wake-ups while it hands a lone frame to the network stack.
//
// A frame reaches TCP through gVisor's processor goroutine: delivering it
// makes that goroutine runnable (runnext on this P), and goready then
// wakes an idle P's M to look for work (wakep: a futex wake, and on a
// guest a reschedule IPI and the other vCPU's exit from HLT). But the
// receive goroutine parks as soon as the ring is empty, and this M then
// runs the processor itself, and after it, through a non-blocking
// netpoll, the goroutine the segment made readable. The woken M found
// nothing to do, or stole the processor goroutine after its 3 us wait
// (runqgrab), and moved the request to the other CPU. With one
// connection, GOMAXPROCS=1 served 1.52x the requests of GOMAXPROCS=2
// (bench/netbench -against GOMAXPROCS=1, 2026-12-05): the second P cost
// more than it gave on a chain of hand-offs.
//
// So while the receive goroutine delivers one frame (several may be
// several connections' work, which the other CPU is welcome to), it
// counts itself as a spinning M (sched.nmspinning), which is what makes
// wakep return at once, as gVisor's own Goready(..., wakep=false) does
// for a goroutine about to sleep. Work for a second P is not lost: at the
// end, if this P's queue holds more than the one goroutine in runnext, or
// any other queue holds one (made runnable by another M while the hold
// made its wakep return), it wakes an M then; and a readiness event the
// stack reports while this P has a queue wakes one too (vkNetReadyWake).
// Measured: docs/net.md, "No wake-up for a frame this thread will
// process itself".
//
// These are ordinary Go functions called from a goroutine with a P, not
// kernel code (HACKING.md).

package runtime

import (
	"internal/runtime/atomic"
	"internal/runtime/syscall/linux"
	"unsafe"
)

// vkNetHoldWakeups starts a delivery: wakep does nothing until
// vkNetReleaseWakeups.
//
//go:linkname vkNetHoldWakeups
func vkNetHoldWakeups() {
	sched.nmspinning.Add(1)
}

// vkNetReleaseWakeups ends it, and wakes an M for an idle P if more
// became runnable than this M will run next.
//
//go:linkname vkNetReleaseWakeups
func vkNetReleaseWakeups() {
	if sched.nmspinning.Add(-1) < 0 {
		throw("vkNetReleaseWakeups: negative nmspinning")
	}
	pp := getg().m.p.ptr()
	if pp == nil || sched.npidle.Load() == 0 {
		return
	}
	// Work for an idle P: more than runnext here, or anything queued
	// elsewhere. The hold also made other Ms' wakep calls return (a
	// goroutine they made runnable, a spinning M that found work and
	// wanted another to look on), and their work waits in their queues.
	need := atomic.Load(&pp.runqhead) != atomic.Load(&pp.runqtail) || !sched.runq.empty()
	for _, p2 := range allp {
		if need {
			break
		}
		need = p2 != pp && !runqempty(p2)
	}
	if need {
		wakep()
	}
}

// vkNetReadyWake follows a readiness event the network stack reported to
// the kernel's epoll: if this P has other goroutines queued, an idle P's
// M is woken, since it polls the network first (findRunnable) and runs
// the goroutine the event readied there, instead of leaving it until
// this M has run its queue. With a queue empty this M polls next itself.
// A listener's readiness is such an event: without this, a new
// connection's accept could wait behind the queue. (A first version
// without it, which held back every batch of frames, measured 0.81x
// the requests/s of no hold with 16 clients opening a connection per
// request; that run may also have met the host's port shortage that
// docs/net.md describes, so the share of each is not known.)
//
//go:linkname vkNetReadyWake
func vkNetReadyWake() {
	if pp := getg().m.p.ptr(); pp != nil && !runqempty(pp) {
		wakep()
	}
}

// vkNetpollDeliver hands the runtime's netpoller one event for the
// pollDesc in data (the epoll record's data, a taggedPointer) in the
// calling goroutine, as netpoll does for an event epoll_pwait returned:
// the kernel gave it to the reporter instead of waking the thread that
// waits in the netpoller (vkNetReadyDeliver, vk_net.go). The goroutine
// it unblocks goes on this P's queue, to run after the reporter, gVisor's
// TCP processor in the common case, which parks next; it no longer
// wakes the netpoller's thread on the other CPU, where it contended
// for the endpoint lock the processor still held (gVisor's LockUser spun
// and yielded five times, a runtime trace of images/httpd showed). An
// idle P's M is woken only when this P had work queued already.
//
//go:linkname vkNetpollDeliver
func vkNetpollDeliver(data uint64, ev uint32) {
	var mode int32
	if ev&(linux.EPOLLIN|linux.EPOLLRDHUP|linux.EPOLLHUP|linux.EPOLLERR) != 0 {
		mode += 'r'
	}
	if ev&(linux.EPOLLOUT|linux.EPOLLHUP|linux.EPOLLERR) != 0 {
		mode += 'w'
	}
	if mode == 0 {
		return
	}
	tp := *(*taggedPointer)(unsafe.Pointer(&data))
	pd := (*pollDesc)(tp.pointer())
	tag := tp.tag()
	if pd.fdseq.Load() != tag {
		return // the fd was closed and its pollDesc reused since
	}
	pd.setEventErr(ev == linux.EPOLLERR, tag)
	var toRun gList
	netpollAdjustWaiters(netpollready(&toRun, pd, mode))
	if toRun.empty() {
		return
	}
	mp := acquirem()
	pp := mp.p.ptr()
	busy := !runqempty(pp)
	trace := traceAcquire()
	for !toRun.empty() {
		gp := toRun.pop()
		casgstatus(gp, _Gwaiting, _Grunnable)
		if trace.ok() {
			trace.GoUnpark(gp, 0)
		}
		runqput(pp, gp, false)
	}
	if trace.ok() {
		traceRelease(trace)
	}
	releasem(mp)
	if busy {
		wakep()
	}
}
