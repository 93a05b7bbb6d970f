package qemu

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill QEMU when the process that started
// it dies. Without it a `velocity test` binary that go test kills on
// -timeout left its guest running, reparented to init, still using a CPU
// (seen on this project's shared 2-CPU machine: one ran for 40 minutes).
// Linux sends the signal when the thread that forked ends, not the
// process, and Go ends a thread when a goroutine exits locked to it. The
// tests' network-namespace dialers do exactly that (tests/netboot
// nsClient: LockOSThread, setns, dial, exit), and when one had run on
// the thread that had forked QEMU, QEMU was killed a second after boot:
// a guest that never answered, in about one tap test in seven
// (2026-12-06). Run therefore stays locked to the forking thread until
// QEMU exits.
func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
