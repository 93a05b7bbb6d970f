package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

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
			"\nAll arguments go to go test, except -smp N and -m SIZE (before -args), which\nare handed to 'velocity exec' (guest CPUs and memory). Test binaries run inside\nthe unikernel through 'velocity exec'; other boot settings come from the\nenvironment ($"+qemu.AccelEnv+", $"+build.StubEnv+").\n\n", build.CmdlineGrammar, "\n")
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
	bootArgs, args, err := splitBootArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "velocity test: %v\n", err)
		return exitUsage
	}
	for _, a := range bootArgs {
		execCmd += " " + a
	}
	stub, err := build.Stub()
	if err != nil {
		return fail("test", err)
	}
	accel, err := qemu.ResolveAccel(context.Background(), os.Getenv(qemu.AccelEnv), qemu.DefaultBinary)
	if err != nil {
		return fail("test", err)
	}
	goArgs, env, err := build.GoTestArgs(execCmd, args)
	if err != nil {
		return fail("test", err)
	}
	env = append(env, build.StubEnv+"="+stub, qemu.AccelEnv+"="+accel)
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

// splitBootArgs takes the boot flags velocity test forwards to velocity exec
// (-smp N, -m SIZE, in -f v or -f=v form, one or two dashes) out of go test's
// arguments. go test has neither flag; everything after -args belongs to
// the test binary and is left alone. The values must be single words, as
// go test splits -exec on spaces.
func splitBootArgs(args []string) (boot, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-args" || a == "--args" {
			rest = append(rest, args[i:]...)
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "smp" && name != "m") {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("flag -%s needs a value", name)
			}
			i++
			val = args[i]
		}
		if name == "smp" {
			if n, err := strconv.Atoi(val); err != nil || n < 1 {
				return nil, nil, fmt.Errorf("-smp %q: want a positive number of CPUs", val)
			}
		}
		if val == "" || strings.ContainsAny(val, " \t\n'\"") {
			return nil, nil, fmt.Errorf("-%s %q: want a single word", name, val)
		}
		boot = append(boot, "-"+name+"="+val)
	}
	return boot, rest, nil
}
