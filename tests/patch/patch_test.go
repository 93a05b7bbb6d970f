// Package patch_test runs package patch's own tests inside the unikernel on
// two CPUs under QEMU (TCG): there the patcher goes through the kernel's
// text_poke_bp protocol (INT3, IPIs, the EBUSY check) instead of the host's
// mprotect+membarrier one, and the swap-under-load test swaps a Go function
// of the kernel image while both CPUs call it.
//
// Tests skip, naming the apt-get command, when QEMU or binutils are
// missing (scripts/deps.sh installs them).
package patch_test

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
)

var outDir string

func TestMain(m *testing.M) { testenv.Main(m, "velocity-patch-test-", &outDir) }

var (
	stubOnce   = sync.OnceValues(build.Stub)
	kernelOnce = sync.OnceValues(func() (string, error) {
		out := filepath.Join(outDir, "patch.test.elf")
		return out, build.BuildTest("../../patch", out, nil)
	})
)

// TestPatchInKernel boots the patch package's tests with -smp 2 and checks
// that every one passed, the swap under load with zero wrong results.
func TestPatchInKernel(t *testing.T) {
	testenv.Need(t, "qemu")
	stub, err := stubOnce()
	if err != nil {
		t.Fatal(err)
	}
	kernel, err := kernelOnce()
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := build.KernelCmdline(nil, nil, []string{"-test.v", "-test.timeout=5m"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := qemu.Run(context.Background(), qemu.Config{Kernel: kernel, Stub: stub, SMP: 2, Accel: "tcg",
		Stdout: &out, Append: cmdline, Timeout: 6 * time.Minute})
	serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if err != nil {
		t.Fatalf("boot: %v\nserial output:\n%s", err, serial)
	}
	if res.ExitCode != 0 || strings.Contains(serial, "--- FAIL") {
		t.Fatalf("guest exit code %d; serial output:\n%s", res.ExitCode, serial)
	}
	for _, w := range []string{"--- PASS: TestFuncSwapAndRevert", "--- PASS: TestSwapUnderLoad", "--- PASS: TestFuncRefusesBadArguments", "\nPASS\n"} {
		if !strings.Contains(serial, w) {
			t.Errorf("serial output lacks %q:\n%s", w, serial)
		}
	}
	m := regexp.MustCompile(`(\d+) calls \((\d+) by the original, (\d+) by the variant\), (\d+) wrong`).FindStringSubmatch(serial)
	if m == nil {
		t.Fatalf("no swap-under-load summary in:\n%s", serial)
	}
	if m[4] != "0" {
		t.Errorf("%s wrong results in the kernel", m[4])
	}
	for _, l := range strings.Split(serial, "\n") {
		if strings.Contains(l, "goroutines:") || strings.Contains(l, "kernel:") {
			t.Log(strings.TrimSpace(l))
		}
	}
}
