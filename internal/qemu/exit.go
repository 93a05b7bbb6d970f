package qemu

import (
	"fmt"
	"strings"
	"time"
)

// GuestExitCode maps QEMU's exit status to the code the guest wrote to
// isa-debug-exit. QEMU exits with (v<<1)|1 for a write of v, so only odd
// statuses come from the guest; 0 means QEMU shut down on its own (with
// -no-reboot that includes a triple fault) and other even values are QEMU
// errors.
func GuestExitCode(status int) (code int, ok bool) {
	if status <= 0 || status%2 == 0 {
		return 0, false
	}
	return (status - 1) / 2, true
}

// TimeoutError reports a guest that ran longer than Config.Timeout and was
// killed.
type TimeoutError struct {
	After  time.Duration
	Stderr string
	Dumped bool // an NMI asked the kernel for its dump first (Config.DumpOnTimeout)
}

func (e *TimeoutError) Error() string {
	dump := ""
	if e.Dumped {
		dump = " (the kernel's NMI dump of its CPUs and threads is in the serial output)"
	}
	return fmt.Sprintf("qemu: guest timed out after %v and was killed%s%s", e.After, dump, stderrSuffix(e.Stderr))
}

// ExitError reports a QEMU exit that carries no guest exit code: QEMU
// failed, was killed, or the guest shut down or reset without writing to
// isa-debug-exit.
type ExitError struct {
	Status int    // exit status, -1 if killed by a signal
	Signal string // signal name if killed
	Stderr string
}

func (e *ExitError) Error() string {
	var what string
	switch {
	case e.Signal != "":
		what = "qemu was killed by " + e.Signal
	case e.Status == 0:
		what = "qemu exited with status 0: the guest shut down or triple-faulted (or QEMU was quit) without writing its exit code to port 0xf4"
	case e.Status == 1:
		what = "qemu failed with status 1 (it reported an error, so this is not guest exit code 0)"
	default:
		what = fmt.Sprintf("qemu failed with status %d (not a guest exit code)", e.Status)
	}
	return what + stderrSuffix(e.Stderr)
}

func stderrSuffix(stderr string) string {
	stderr = strings.TrimSpace(stderr)
	if stderr == "" {
		return ""
	}
	return "\nqemu stderr:\n" + stderr
}
