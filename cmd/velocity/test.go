package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
)

// cmdTest runs go test with the kernel flags and velocity exec as the test
// binary runner. The stub and the accelerator are settled once here and
// handed to every velocity exec through the environment, instead of each
// package's run building and probing on its own.
func cmdTest(args []string) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(os.Stderr, commandUsage("test"),
			"\nAll arguments go to go test. Test binaries run inside the unikernel through\n'velocity exec'; boot settings come from the environment ($"+qemu.AccelEnv+", $"+build.StubEnv+").\n\n", build.CmdlineGrammar, "\n")
		return 0
	}
	self, err := os.Executable()
	if err != nil {
		return fail("test", err)
	}
	execCmd, err := build.ExecCommand(self)
	if err != nil {
		return fail("test", err)
	}
	env := build.Env()
	stub, err := build.Stub()
	if err != nil {
		return fail("test", err)
	}
	env = append(env, build.StubEnv+"="+stub)
	accel, err := qemu.ResolveAccel(context.Background(), os.Getenv(qemu.AccelEnv), qemu.DefaultBinary)
	if err != nil {
		return fail("test", err)
	}
	env = append(env, qemu.AccelEnv+"="+accel)

	goArgs, err := build.GoTestArgs(execCmd, args)
	if err != nil {
		return fail("test", err)
	}
	cmd := exec.Command(build.GoCmd, goArgs...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		return fail("test", err)
	}
	return 0
}
