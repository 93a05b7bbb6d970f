package qemu

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/velocityos/velocity/arch/amd64/boot"
)

// These tests boot real guests under QEMU (TCG) and are skipped where QEMU
// is missing; scripts/deps.sh installs it.

func needQEMU(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(DefaultBinary); err != nil {
		t.Skipf("%s not installed (run scripts/deps.sh)", DefaultBinary)
	}
}

func TestBootProbeExitCode(t *testing.T) {
	needQEMU(t)
	img, _ := ProbeImage("hello\n", 42)
	var out bytes.Buffer
	logFile := filepath.Join(t.TempDir(), "serial.log")
	res, err := Run(context.Background(), Config{Kernel: writeFile(t, "probe.bin", img),
		Accel: "tcg", Timeout: time.Minute, Stdout: &out, SerialLog: logFile})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 42 || out.String() != "hello\n" || res.FirstByte == 0 {
		t.Errorf("exit %d, serial %q, first byte %v; want 42, \"hello\\n\"", res.ExitCode, out.String(), res.FirstByte)
	}
	if log, _ := os.ReadFile(logFile); string(log) != "hello\n" {
		t.Errorf("serial log %q", log)
	}
}

func TestBootTimeout(t *testing.T) {
	needQEMU(t)
	img, _ := ProbeImage("never", 0)
	start := time.Now()
	// -S keeps the CPU stopped: a guest that never exits.
	_, err := Run(context.Background(), Config{Kernel: writeFile(t, "probe.bin", img),
		Accel: "tcg", Timeout: 500 * time.Millisecond, Stdout: &bytes.Buffer{}, Extra: []string{"-S"}})
	var te *TimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v; want a timeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("timeout took %v to fire", d)
	}
}

func TestBootQEMUError(t *testing.T) {
	needQEMU(t)
	_, err := Run(context.Background(), Config{Kernel: writeFile(t, "junk.bin", make([]byte, 64)),
		Accel: "tcg", Timeout: time.Minute, Stdout: &bytes.Buffer{}})
	var ee *ExitError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "qemu") {
		t.Fatalf("err = %v; want *ExitError with QEMU's stderr", err)
	}
}

func TestProbeUnderTCG(t *testing.T) {
	needQEMU(t)
	d, err := bootProber(DefaultBinary)(context.Background(), "tcg", 30*time.Second)
	if err != nil || d <= 0 {
		t.Fatalf("probe: %v, %v", d, err)
	}
}

// TestBootStubFastPath boots EchoKernel through the real BOOT_ND.BIN with
// -kernel/-initrd and checks the command line arrives intact.
func TestBootStubFastPath(t *testing.T) {
	needQEMU(t)
	if _, err := exec.LookPath("as"); err != nil {
		t.Skip("binutils missing: cannot build the boot stub (run scripts/deps.sh)")
	}
	stub, err := boot.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kernel := writeFile(t, "kernel.elf", EchoKernel(9))
	var out bytes.Buffer
	cmdline := `A=1 -v -- "hello world" x`
	res, err := Run(context.Background(), Config{Kernel: kernel, Stub: stub, Append: cmdline,
		Accel: "tcg", Timeout: time.Minute, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 9 || !strings.Contains(out.String(), cmdline+"\n") {
		t.Errorf("exit %d, serial %q; want 9 and the command line %q", res.ExitCode, out.String(), cmdline)
	}
}
