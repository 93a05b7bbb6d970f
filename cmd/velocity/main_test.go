package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/velocityos/velocity/internal/qemu"
)

// TestMain lets tests run this test binary as the velocity command.
func TestMain(m *testing.M) {
	if os.Getenv("VELOCITY_TEST_AS_CLI") == "1" {
		os.Exit(velocity(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// velocityCLI runs the velocity command in a subprocess.
func velocityCLI(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "VELOCITY_TEST_AS_CLI=1")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

func TestDefaultName(t *testing.T) {
	for in, want := range map[string]string{
		"./images/demo": "demo.elf", "github.com/x/y": "y.elf", ".": "kernel.elf", "k.elf": "k.elf",
	} {
		if got := defaultName(in, ".elf"); got != want {
			t.Errorf("defaultName(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestExecTimeout(t *testing.T) {
	if d := execTimeout([]string{"-test.v", "-test.timeout=10m0s"}); d != 10*time.Minute+30*time.Second {
		t.Errorf("got %v; want 10m30s", d)
	}
	// The last one counts, as in the flag package; one that does not
	// parse is skipped.
	if d := execTimeout([]string{"-test.timeout=1m", "-test.timeout=x", "-test.timeout=5m"}); d != 5*time.Minute+30*time.Second {
		t.Errorf("got %v; want 5m30s", d)
	}
	if d := execTimeout([]string{"-test.timeout=0s"}); d != 0 {
		t.Errorf("got %v; want no limit", d)
	}
	if d := execTimeout(nil); d != 10*time.Minute {
		t.Errorf("got %v; want 10m", d)
	}
}

func TestCRLFWriter(t *testing.T) {
	var b bytes.Buffer
	w := &crlfWriter{w: &b}
	for _, chunk := range []string{"PASS\r", "\nok\r\nx\ry\r"} {
		w.Write([]byte(chunk))
	}
	w.Flush()
	if b.String() != "PASS\nok\nx\ry\r" {
		t.Errorf("got %q", b.String())
	}
}

func TestKernelCmdlineFlags(t *testing.T) {
	b := bootFlags{appendLine: `-smp-log "x y"`, env: stringList{"K=V"}}
	got, err := b.kernelCmdline([]string{"-test.run", "A B"})
	if want := `K=V -smp-log "x y" -- -test.run "A B"`; err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	b.appendLine = "-- a"
	if _, err := b.kernelCmdline([]string{}); err == nil {
		t.Error(`exec accepted "--" in -append`)
	}
	if got, err := b.kernelCmdline(nil); err != nil || got != "K=V -- a" {
		t.Errorf("run: %q, %v", got, err)
	}
}

func TestUsageAndDebug(t *testing.T) {
	if _, stderr, st := velocityCLI(t, "debug", "-h"); st != 0 || !strings.Contains(stderr, "-gdb-port") || !strings.Contains(stderr, "waiting for gdb on COM2") {
		t.Errorf("debug -h: status %d, %q", st, stderr)
	}
	if _, stderr, st := velocityCLI(t); st != 2 || !strings.Contains(stderr, "[KEY=VALUE ...] [kernel options ...] [-- argv ...]") {
		t.Errorf("usage: status %d, %q", st, stderr)
	}
	if _, _, st := velocityCLI(t, "frobnicate"); st != 2 {
		t.Errorf("unknown command: status %d", st)
	}
	if _, stderr, st := velocityCLI(t, "run", "-h"); st != 0 || !strings.Contains(stderr, "-gdb-port") {
		t.Errorf("run -h: status %d, %q", st, stderr)
	}
}

func needBootTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{qemu.DefaultBinary, "as", "ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (run scripts/deps.sh)", tool)
		}
	}
}

func echoKernel(t *testing.T, code byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "echo.elf")
	if err := os.WriteFile(p, qemu.EchoKernel(code), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExecPassesArgs runs velocity exec the way go test -exec does and
// checks the arguments reach the kernel and the exit code comes back.
func TestExecPassesArgs(t *testing.T) {
	needBootTools(t)
	t.Setenv("VELOCITY_CACHE", t.TempDir())
	exe := echoKernel(t, 3)
	stdout, stderr, st := velocityCLI(t, "exec", "-accel", "tcg", "-env", "HOME=/", exe, "-test.v=true", "-test.run=A B")
	if st != 3 {
		t.Fatalf("status %d; want the guest's 3\nstderr: %s", st, stderr)
	}
	// exec starts the program in the working directory, which it also
	// gives the guest as a file system (go test runs tests in their
	// package directory).
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if want := `HOME=/ cwd=` + wd + ` exe=` + exe + ` -- -test.v=true "-test.run=A B"` + "\n"; stdout != want {
		t.Errorf("serial %q; want %q", stdout, want)
	}
	stdout, _, st = velocityCLI(t, "exec", "-accel", "tcg", "-fs", "none", echoKernel(t, 0), "x")
	if st != 0 || stdout != "-- x\n" {
		t.Errorf("-fs none: status %d, serial %q; want no cwd= option", st, stdout)
	}
}

func TestRunTimeoutAndErrors(t *testing.T) {
	needBootTools(t)
	t.Setenv("VELOCITY_CACHE", t.TempDir())
	_, stderr, st := velocityCLI(t, "run", "-accel", "tcg", "-timeout", "300ms", echoKernel(t, 0), "--", "-S")
	if st != exitTimeout || !strings.Contains(stderr, "timed out") {
		t.Errorf("timeout: status %d, %q", st, stderr)
	}
	junk := filepath.Join(t.TempDir(), "junk.bin")
	os.WriteFile(junk, make([]byte, 64), 0o644)
	if _, stderr, st := velocityCLI(t, "run", "-accel", "tcg", junk); st != exitFailure || !strings.Contains(stderr, "qemu") {
		t.Errorf("qemu failure: status %d, %q", st, stderr)
	}
}

// TestImageAndRunISO covers velocity image and velocity run -iso.
func TestImageAndRunISO(t *testing.T) {
	needBootTools(t)
	if _, err := exec.LookPath("grub-mkrescue"); err != nil {
		t.Skip("grub-mkrescue not installed (run scripts/deps.sh)")
	}
	t.Setenv("VELOCITY_CACHE", t.TempDir())
	iso := filepath.Join(t.TempDir(), "x.iso")
	if _, stderr, st := velocityCLI(t, "image", "-o", iso, "-append", `-- "a b"`, echoKernel(t, 4)); st != 0 {
		t.Fatalf("image: status %d, %s", st, stderr)
	}
	stdout, stderr, st := velocityCLI(t, "run", "-accel", "tcg", iso)
	if st != 4 || !strings.Contains(stdout, `-- "a b"`) {
		t.Errorf("run iso: status %d, serial %q, stderr %s", st, stdout, stderr)
	}
	if _, stderr, st := velocityCLI(t, "run", "-append", "x", iso); st != exitFailure || !strings.Contains(stderr, "own command line") {
		t.Errorf("-append with ISO: status %d, %s", st, stderr)
	}
}

// TestDemoKernelISO builds the demo image with the real Go kernel into a
// bootable ISO. It needs a test kernel: $VELOCITY_TEST_KERNEL (an ELF) or
// the Go files of images/demo; it is skipped when there is neither.
func TestDemoKernelISO(t *testing.T) {
	needBootTools(t)
	if _, err := exec.LookPath("grub-mkrescue"); err != nil {
		t.Skip("grub-mkrescue not installed (run scripts/deps.sh)")
	}
	dir := t.TempDir()
	kernel := os.Getenv("VELOCITY_TEST_KERNEL")
	if kernel == "" {
		demo, _ := filepath.Glob("../../images/demo/*.go")
		if len(demo) == 0 {
			t.Skip("no test kernel: images/demo has no Go files and $VELOCITY_TEST_KERNEL is unset")
		}
		kernel = filepath.Join(dir, "demo.elf")
		if _, stderr, st := velocityCLI(t, "build", "-o", kernel, "github.com/velocityos/velocity/images/demo"); st != 0 {
			t.Fatalf("velocity build: status %d\n%s", st, stderr)
		}
	}
	if kind, err := qemu.Detect(kernel); err != nil || kind != qemu.KindKernelELF {
		t.Fatalf("%s: kind %v, %v; want a 64-bit kernel ELF", kernel, kind, err)
	}
	iso := filepath.Join(dir, "demo.iso")
	if _, stderr, st := velocityCLI(t, "image", "-o", iso, kernel); st != 0 {
		t.Fatalf("velocity image: status %d\n%s", st, stderr)
	}
	if kind, err := qemu.Detect(iso); err != nil || kind != qemu.KindISO {
		t.Fatalf("%s: kind %v, %v; want an ISO", iso, kind, err)
	}
}

func TestSplitBootArgs(t *testing.T) {
	boot, rest, err := splitBootArgs([]string{"-smp", "2", "-v", "--m=1G", "-run", "X", "./p", "-args", "-smp", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(boot, " "), "-smp=2 -m=1G"; got != want {
		t.Errorf("boot = %q, want %q", got, want)
	}
	if got, want := strings.Join(rest, " "), "-v -run X ./p -args -smp 3"; got != want {
		t.Errorf("rest = %q, want %q", got, want)
	}
	for _, bad := range [][]string{{"-smp"}, {"-smp=0"}, {"-smp", "x"}, {"-m", "1 G"}} {
		if _, _, err := splitBootArgs(bad); err == nil {
			t.Errorf("splitBootArgs(%q) succeeded", bad)
		}
	}
}
