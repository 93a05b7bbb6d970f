//go:build !velocity

package netstack

// Off Velocity (the package's tests on a Linux host) the scheduler's
// wake-ups are left alone.

func holdWakeups()    {}
func releaseWakeups() {}
func readyWake()      {}

// deliverOn is false: there is no kernel to deliver through.
const deliverOn = false

func readyDeliver(sid int32, events uint32, seq uint64, id uint64) bool { return false }
