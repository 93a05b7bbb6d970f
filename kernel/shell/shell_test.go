package shell

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/ipfs/go-cid"
	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/lang/modtable"
	"github.com/velocityos/velocity/registry"
)

// session runs the shell on input and returns its output and status.
func session(t *testing.T, sh *Shell, input string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	sh.In, sh.Out = strings.NewReader(input), &out
	code := sh.Run()
	return out.String(), code
}

func TestEdit(t *testing.T) {
	for in, want := range map[string]string{
		"help\n":         "help",
		"hel\x7flp\r\n":  "help",
		"x\b\bhelp\n":    "help",
		"exit 3\n":       "exit 3",
		"\x7f\x7f":       "",
		"prof 1 a\bb\n":  "prof 1 b",
		"  top   5  \n":  "  top   5  ",
		"mod\x08\x08ods": "mods",
	} {
		if got := edit(in); got != want {
			t.Errorf("edit(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExitAndErrors(t *testing.T) {
	out, code := session(t, &Shell{}, "bogus\n\nexit x\nexit 1 2\nexit 200\nhel\x7flp exit\nexit 7\nhelp\n")
	if code != 7 {
		t.Errorf("status %d, want 7", code)
	}
	for _, want := range []string{
		"bogus: unknown command (type help for the list)",
		"exit: bad status \"x\" (want 0-127)\nusage: exit [STATUS]",
		"exit: too many arguments",
		"exit: bad status \"200\"",
		"exit [STATUS]\n    leave the shell",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "commands:") {
		t.Errorf("the shell went on after exit 7:\n%s", out)
	}
	// Eight lines, seven of them commands up to exit: seven prompts.
	if n := strings.Count(out, Prompt); n != 7 {
		t.Errorf("%d prompts, want 7:\n%s", n, out)
	}
	if _, code := session(t, &Shell{}, "help"); code != 0 { // no newline, then EOF
		t.Errorf("end of input: status %d, want 0", code)
	}
	if _, code := session(t, &Shell{}, "exit\n"); code != 0 {
		t.Errorf("exit: status %d, want 0", code)
	}
}

func TestHelp(t *testing.T) {
	out, _ := session(t, &Shell{}, "help\nhelp prof\nhelp nothing\nhelp a b\n")
	for _, c := range Commands() {
		if !strings.Contains(out, "\n  "+c) {
			t.Errorf("help does not list %s:\n%s", c, out)
		}
	}
	for _, want := range []string{"prof [-hz N] SECONDS [FILE]\n    sample every CPU", "help: no command \"nothing\"", "help: too many arguments"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// testPack writes the pack of examples/modules and returns its path.
func testPack(t *testing.T) string {
	s := registry.NewMemStore()
	var all []cid.Cid
	for _, name := range []string{"arith.vel", "stats.vel", "checksum.vel", "combo.vel"} {
		src, err := os.ReadFile(filepath.Join("..", "..", "examples", "modules", name))
		if errors.Is(err, os.ErrNotExist) && kernel.OnVelocity() {
			// velocity test carries the package directory, not examples/.
			t.Skipf("examples/modules is not in this image: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := registry.AddSource(s, name, src)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, c)
	}
	blocks, err := registry.Closure(s, all...)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := registry.WritePack(&buf, s, blocks, all); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "modules.pack")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestModules(t *testing.T) {
	out, _ := session(t, &Shell{}, "modules\n")
	if !strings.Contains(out, "modules: no module table") {
		t.Errorf("modules without a table:\n%s", out)
	}
	if !jit.Supported() {
		t.Skip("no JIT on this platform")
	}
	path := testPack(t)
	if _, err := FindPack(""); err == nil && os.Getenv("VELOCITY_MODPACK") == "" && !kernel.OnVelocity() {
		t.Error("FindPack found a pack with nothing to go by")
	}
	if p, err := FindPack(path); err != nil || p != path {
		t.Errorf("FindPack(%q) = %q, %v", path, p, err)
	}
	tab, hs, err := LoadPack(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, h := range hs {
			h.Release()
		}
	}()
	out, _ = session(t, &Shell{Modules: tab, ModulesFrom: path}, "modules\nmodules x\n")
	arith := tab.Entries()[0]
	for _, want := range []string{
		"modules from " + path,
		"MODULE        ADDR                 CODE PAGES REFS  IMPORTERS",
		modtable.Short(arith.CID),
		"total: 4 modules, 4 code pages mapped, 7 references, 3 pages saved by sharing",
		"modules: unexpected argument \"x\"",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := LoadPack(filepath.Join(t.TempDir(), "none.pack")); err == nil {
		t.Error("LoadPack of a missing file succeeded")
	}
	bad := filepath.Join(t.TempDir(), "bad.pack")
	os.WriteFile(bad, []byte("not a pack"), 0o644)
	if _, _, err := LoadPack(bad); err == nil {
		t.Error("LoadPack of garbage succeeded")
	}
}

func TestProfArguments(t *testing.T) {
	out, _ := session(t, &Shell{}, "prof\nprof x\nprof 0\nprof -1\nprof 1 a b\nprof -hz 0 1\nprof -hz 20000 1\nprof 100000\n")
	for _, want := range []string{
		"prof: want SECONDS and at most a FILE\nusage: prof [-hz N] SECONDS [FILE]",
		"prof: bad duration \"x\"",
		"prof: bad duration \"0\"",
		"prof: bad duration \"-1\"",
		"prof: bad rate \"0\"",
		"prof: bad rate \"20000\"",
		"prof: bad duration \"100000\"",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "usage: prof") != 8 {
		t.Errorf("want a usage line after each of the 8 bad commands:\n%s", out)
	}
}

// TestProfHost: on a host the kernel's profiler is not there, and prof
// says so.
func TestProfHost(t *testing.T) {
	if kernel.OnVelocity() {
		t.Skip("on Velocity: TestProfVelocity")
	}
	out, _ := session(t, &Shell{}, "prof 0.1\n")
	if !strings.Contains(out, "prof: "+kernel.ErrNotVelocity.Error()) {
		t.Errorf("prof on a host:\n%s", out)
	}
}

//go:noinline
func shellTestStack() []uintptr {
	pcs := make([]uintptr, 8)
	return pcs[:runtime.Callers(1, pcs)]
}

// TestProfOutput checks what prof prints and writes for a given profile
// (real return addresses of this binary; the sampling itself is
// kernel.ProfileCPU's, tested there and in tests/shell).
func TestProfOutput(t *testing.T) {
	pcs := shellTestStack()
	var gotD time.Duration
	var gotHz int
	sh := &Shell{TmpDir: t.TempDir(), profileCPU: func(d time.Duration, hz int) (*kernel.CPUProfile, error) {
		gotD, gotHz = d, hz
		p := &kernel.CPUProfile{Hz: hz, Start: time.Now(), Duration: d}
		for i := 0; i < 4; i++ {
			p.Samples = append(p.Samples, kernel.ProfileSample{CPU: i % 2, TID: 1, PCs: pcs})
		}
		return p, nil
	}}
	out, _ := session(t, sh, "top\nprof -hz 250 0.5 out.pprof\ntop 1\n")
	if gotD != 500*time.Millisecond || gotHz != 250 {
		t.Errorf("profiled %v at %d Hz, want 500ms at 250", gotD, gotHz)
	}
	file := filepath.Join(sh.TmpDir, "out.pprof")
	for _, want := range []string{
		"profile: none yet",
		"prof: 4 samples in 0.50s at 250 Hz per CPU (cpu0 2, cpu1 2; 0 lost;",
		"       4 100.0%        4 100.0%  github.com/velocityos/velocity/kernel/shell.shellTestStack",
		"prof: wrote " + file,
		"profile: last prof, 4 samples at 250 Hz",
		"shell prof", // the command's own telemetry probe
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sample) != 4 || p.Period != int64(4*time.Millisecond) {
		t.Errorf("written profile: %d samples, period %d", len(p.Sample), p.Period)
	}
	sh.profileCPU = func(time.Duration, int) (*kernel.CPUProfile, error) { return nil, errors.New("no luck") }
	out, _ = session(t, sh, "prof 1 /nonexistent-dir/x.pprof\n")
	if !strings.Contains(out, "prof: no luck") {
		t.Errorf("a failing profiler:\n%s", out)
	}
}

func TestLoadTopMemCPUs(t *testing.T) {
	sh := &Shell{}
	out, _ := session(t, sh, "load 0.3\nload\nload x\nload 1 2\ntop\ntop 0\ntop 1 2\nmem\nmem x\ncpus\ncpus x\n")
	for _, want := range []string{
		"load: " + strconv.Itoa(runtime.GOMAXPROCS(0)) + " goroutines hashing for 0.3s in the background",
		"load: already running for",
		"load: bad duration \"x\"",
		"load: too many arguments",
		"telemetry: ",
		"shell load",
		"top: bad count \"0\"",
		"top: too many arguments",
		"go: heap ",
		"mem: unexpected argument",
		"cpus: " + strconv.Itoa(runtime.NumCPU()) + " CPUs, GOMAXPROCS",
		"cpus: unexpected argument",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The workload ends by itself; then load may start again.
	deadline := time.Now().Add(time.Minute)
	for sh.load.running.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the load goroutines did not stop")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if out, _ := session(t, sh, "load 0.01\n"); !strings.Contains(out, "goroutines hashing") {
		t.Errorf("load after the first ended:\n%s", out)
	}
	if kernel.OnVelocity() {
		if !strings.Contains(out, "kernel: RAM ") || !strings.Contains(out, "cpu0") {
			t.Errorf("mem and cpus on Velocity lack the kernel's statistics:\n%s", out)
		}
	} else if !strings.Contains(out, "kernel: not running on Velocity") || !strings.Contains(out, "not on Velocity") {
		t.Errorf("mem and cpus on a host do not say the kernel's statistics are missing:\n%s", out)
	}
}
