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
// Interrupts are opened between polls (vkSpinPause), so TLB shootdowns
// and IPIs are answered as in a halt. A timer or device interrupt taken
// meanwhile only sets state (vkKernelTrapWork: the tick count, the
// deadline cleared, vkIRQPending), which ends the poll, so the idle loop
// handles it instead of halting past it.
//
// Idle-loop context (runtime/HACKING.md): no lock held, interrupts off
// except inside vkSpinPause; no allocation.

package runtime

import "internal/runtime/atomic"

const (
	vkPollMaxNs = 200_000
	vkPollMinNs = 10_000
)

// vkIdlePoll polls for up to c.pollNs and reports whether something
// arrived (then the caller does not halt).
func vkIdlePoll(c *vkCPU) bool {
	if c.pollNs == 0 {
		c.pollNs = vkPollMinNs
	}
	ticks, deadline := atomic.Load64(&c.ticks), c.deadline
	start := vkNanotime()
	for vkNanotime()-start < c.pollNs {
		if c.runqLen != 0 || atomic.Load(&vkIRQPending) != 0 ||
			atomic.Load64(&c.ticks) != ticks || deadline != 0 && c.deadline == 0 {
			vkPollGrow(c)
			return true
		}
		vkSpinPause()
	}
	return false
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
