//go:build velocity

package netstack

import (
	"os"
	"syscall"
	"unsafe"
)

//go:linkname runtimeHoldWakeups runtime.vkNetHoldWakeups
func runtimeHoldWakeups()

//go:linkname runtimeReleaseWakeups runtime.vkNetReleaseWakeups
func runtimeReleaseWakeups()

//go:linkname runtimeReadyWake runtime.vkNetReadyWake
func runtimeReadyWake()

//go:linkname runtimeNetpollDeliver runtime.vkNetpollDeliver
func runtimeNetpollDeliver(data uint64, ev uint32)

// holdWakeups is off with VELOCITY_NETHOLD=0 on the kernel command line,
// to measure what it gives (bench/netbench -against VELOCITY_NETHOLD=0).
var holdWakeupsOn = os.Getenv("VELOCITY_NETHOLD") != "0"

// holdWakeups and releaseWakeups bracket the delivery of a lone received
// frame (virtioNIC.receive): the scheduler wakes no M for an idle P meanwhile, and
// wakes one at the end only if more became runnable than this M runs
// next. runtime/vk_netwake.go says why.
func holdWakeups() {
	if holdWakeupsOn {
		runtimeHoldWakeups()
	}
}

func releaseWakeups() {
	if holdWakeupsOn {
		runtimeReleaseWakeups()
	}
}

// readyWake follows a readiness event reported to the kernel: with
// wake-ups held back on receive, another M must poll for it when this one
// has a queue to run first (runtime/vk_netwake.go, vkNetReadyWake).
func readyWake() {
	if holdWakeupsOn {
		runtimeReadyWake()
	}
}

// deliverOn is off with VELOCITY_NETDELIVER=0 on the kernel command line.
var deliverOn = os.Getenv("VELOCITY_NETDELIVER") != "0"

// readyDeliver reports an event and, if the runtime's netpoller watches
// the socket, hands the event to it in this goroutine instead of the
// kernel waking the netpoller's thread (runtime/vk_netwake.go,
// vkNetpollDeliver). false means the kernel did nothing (it refuses only
// when it cannot write out), and the caller reports the usual way.
func readyDeliver(sid int32, events uint32, seq uint64, id uint64) bool {
	// Two words, 16-aligned: one of out[0] and out[1] is.
	var out [3]uint64
	i := 0
	if uintptr(unsafe.Pointer(&out[0]))&15 != 0 {
		i = 1
	}
	_, _, e := syscall.RawSyscall6(sysReady, uintptr(sid), uintptr(events), readyDeliverBit, uintptr(seq), uintptr(id), uintptr(unsafe.Pointer(&out[i])))
	switch {
	case e != 0:
		return false
	case out[i+1] != 0:
		runtimeNetpollDeliver(out[i], uint32(out[i+1]))
	default:
		readyWake()
	}
	return true
}

// readyDeliverBit is the kernel's vkNetReadyDeliver (runtime/vk_net.go).
const readyDeliverBit = 2
