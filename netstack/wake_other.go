//go:build !velocity

package netstack

// Off Velocity (the package's tests on a Linux host) the scheduler's
// wake-ups are left alone.

func holdWakeups()    {}
func releaseWakeups() {}
func readyWake()      {}
