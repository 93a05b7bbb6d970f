//go:build velocity

package netstack

import (
	"os"
	_ "unsafe" // go:linkname
)

//go:linkname runtimeHoldWakeups runtime.vkNetHoldWakeups
func runtimeHoldWakeups()

//go:linkname runtimeReleaseWakeups runtime.vkNetReleaseWakeups
func runtimeReleaseWakeups()

//go:linkname runtimeReadyWake runtime.vkNetReadyWake
func runtimeReadyWake()

// holdWakeups is off with VELOCITY_NETHOLD=0 on the kernel command line,
// to measure what it gives (bench/netbench -against VELOCITY_NETHOLD=0).
var holdWakeupsOn = os.Getenv("VELOCITY_NETHOLD") != "0"

// holdWakeups and releaseWakeups bracket the delivery of received frames
// (virtioNIC.run): the scheduler wakes no M for an idle P meanwhile, and
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
