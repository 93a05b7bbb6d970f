package kernel

import (
	"errors"
	"syscall"
)

const sysDump = 0x5608

// ErrDumpBusy is Dump's answer while another dump is being printed.
var ErrDumpBusy = errors.New("kernel: another dump is being printed")

// Dump makes the kernel print on the console what its NMI dump prints
// when a guest hangs (README, "When a guest hangs"): every CPU with its
// run queue and timer heap, the kernel locks held, every thread with its
// state, what it waits on and the system call it is in, and the Go
// scheduler's Ps and Ms. The other CPUs are not stopped meanwhile, so
// their lines say what they run but not where. Outside Velocity it
// returns ErrNotVelocity.
func Dump() error {
	_, _, errno := syscall.Syscall(sysDump, 0, 0, 0)
	return callErr(errno, ErrDumpBusy)
}
