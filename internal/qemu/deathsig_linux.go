package qemu

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill QEMU when the process that started
// it dies. Without it a `velocity test` binary that go test kills on
// -timeout left its guest running, reparented to init, still using a CPU
// (seen on this project's shared 2-CPU machine: one ran for 40 minutes).
// Go keeps the thread that forked alive unless a goroutine exits locked
// to it, which nothing here does, so the signal is not sent early.
func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
