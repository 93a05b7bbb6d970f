//go:build velocity

// Velocity kernel: polling before halting an idle CPU.
//
// A thread woken on a halted CPU waits for that CPU to leave HLT: under
// TCG or KVM the vCPU's host thread sleeps there and must be scheduled by
// the host again, which costs tens to hundreds of microseconds, so a
// futex ping-pong between two CPUs paid that on every hop (sysbench:
// 0.14x Linux's round trip). So an idle CPU first polls its run queue for
// a while, as Linux's cpuidle-haltpoll does in guests, and halts only if
// nothing came. The window adapts per CPU: it doubles (up to
// vkPollMaxNs) when work arrives during the poll or soon after a halt
// began, which polling a little longer would have caught, and halves
// (down to vkPollMinNs) after a long halt, so a CPU that idles for long
// stretches wastes little.
//
// Interrupts are on while it polls, so TLB shootdowns and IPIs are
// answered as in a halt. Not with vkSpinPause's window, as lock spinning
// does: under TCG every PAUSE leaves the translated code, and QEMU's
// thread for the CPU then takes the global lock that device emulation,
// the other CPUs' APIC writes and QEMU's main loop need, so a CPU polling
// with PAUSE made every TLB shootdown of the other CPU's munmap wait
// (bench/sysbench mmap+touch+munmap of 4 KiB: 205 us with such a poll,
// 74 us without polling). A timer or device interrupt taken
// meanwhile only sets state (vkKernelTrapWork: the tick count, the
// deadline cleared, vkIRQPending), which ends the poll, so the idle loop
// handles it instead of halting past it.
//
// No CPU polls while a device is busy: for vkPollDeviceQuietNs after a
// device interrupt, an idle CPU halts at once. Under TCG and KVM alike a
// virtual CPU that polls occupies a host CPU, and the device model's
// thread (QEMU's main loop, which moves a virtio-net card's frames) and
// the program's peer on the host need that CPU to produce the very event
// the poll waits for. On this 2-CPU host, images/tracesrv under wrk with
// 16 connections served 2,100-2,400 requests/s at 710-850 us of host CPU
// each with polling, and 3,200-3,500 at 520-560 us without; the futex
// ping-pong and pipe round trip of bench/sysbench, where the other CPU
// is the waker, keep the poll (1.98x and 2.67x Linux's with it, 1.02x
// and 1.45x without).
//
// Idle-loop context (runtime/HACKING.md): no lock held, interrupts on
// while polling (the handlers only set state in kernel code); no
// allocation.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkPollMaxNs         = 200_000
	vkPollMinNs         = 10_000
	vkPollDeviceQuietNs = 20_000_000
)

// vkDevLastIRQNs is when a device interrupt was last counted
// (vkDevIRQWork); atomic.
var vkDevLastIRQNs int64

// vkIdlePoll polls for up to c.pollNs and reports whether something
// arrived (then the caller does not halt).
func vkIdlePoll(c *vkCPU) bool {
	if c.pollNs == 0 {
		c.pollNs = vkPollMinNs
	}
	ticks, deadline := atomic.Load64(&c.ticks), c.deadline
	start := vkNanotime()
	if start-atomic.Loadint64(&vkDevLastIRQNs) < vkPollDeviceQuietNs {
		// A device is busy: leave the host CPU to its model, but not
		// before the work already here. A device interrupt taken in
		// kernel code before this CPU went idle (a fast path's lock
		// spin, the switch away from a thread that blocked) left its
		// work to the next lock holder (vkIRQPending); halting now
		// would leave it, and the driver it wakes, until some later
		// interrupt. Under wrk with one connection over tap that was a
		// stall of 60-200 ms in about one request in a thousand: the
		// frame sat unread until the next timer.
		return vkIdleWorkWaiting(c)
	}
	vkIntrOn()
	for vkNanotime()-start < c.pollNs && !vkPollSeen(c, ticks, deadline) {
	}
	vkIntrOff()
	// Looked at again with interrupts off: one taken after the loop's
	// last look consumed its IPI, and halting now would sleep past it.
	if vkPollSeen(c, ticks, deadline) {
		vkPollGrow(c)
		return true
	}
	return false
}

// vkPollSeen reports whether something the idle CPU must handle arrived
// since the poll began: a queued thread, device work, a tick, or the
// expiry of the timer it had armed.
//
//go:nosplit
func vkPollSeen(c *vkCPU, ticks uint64, deadline int64) bool {
	return vkIdleWorkWaiting(c) || atomic.Load64(&c.ticks) != ticks || deadline != 0 && atomic.Loadint64(&c.deadline) == 0
}

// vkIdleWorkWaiting reports whether the idle CPU already has work that no
// interrupt will announce again: a queued thread, device work deferred
// to a lock holder, or a thread in another CPU's queue that vkKick asked
// this CPU to take. Interrupts are off, so one arriving after this look
// ends the halt.
//
//go:nosplit
func vkIdleWorkWaiting(c *vkCPU) bool {
	return atomic.Loadint64((*int64)(unsafe.Pointer(&c.runqLen))) != 0 || atomic.Load(&vkIRQPending) != 0 ||
		atomic.Load(&c.stealWanted) != 0
}

// vkIdleHalted adapts the window after a halt that lasted ns.
func vkIdleHalted(c *vkCPU, ns int64) {
	if ns < vkPollMaxNs {
		vkPollGrow(c) // polling longer would have caught it
		return
	}
	if c.pollNs /= 2; c.pollNs < vkPollMinNs {
		c.pollNs = vkPollMinNs
	}
}

func vkPollGrow(c *vkCPU) {
	if c.pollNs *= 2; c.pollNs > vkPollMaxNs {
		c.pollNs = vkPollMaxNs
	}
}
