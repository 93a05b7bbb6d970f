// Package shell_test boots Velocity under QEMU (TCG, two CPUs) to test
// the console shell and the kernel's sampling profiler:
//
//   - TestShell boots images/shell with a module pack built from
//     examples/modules, types commands on the serial console and checks
//     what the shell answers;
//   - TestProfiler boots testdata/profburn, which keeps both CPUs busy in
//     one function while it profiles them, and parses the pprof file it
//     prints with github.com/google/pprof/profile.
//
// Tests skip, naming the apt-get command, when QEMU or binutils are
// missing (scripts/deps.sh installs them).
package shell_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/ipfs/go-cid"
	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
	"github.com/velocityos/velocity/lang/modtable"
)

const (
	bootTimeout = 4 * time.Minute
	stepTimeout = 90 * time.Second // per command, under a loaded TCG host
)

var outDir string

// locksLine is the big kernel lock's line of the locks command: name, one
// instance, a non-zero count of acquisitions.
var locksLine = regexp.MustCompile(`kernel \(BKL\)\s+1\s+[1-9][0-9]*\s`)

func TestMain(m *testing.M) { testenv.Main(m, "velocity-shell-test-", &outDir) }

// syncBuffer collects the serial console while QEMU writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.ReplaceAll(b.buf.String(), "\r\n", "\n")
}

type packInfo struct {
	path  string
	arith cid.Cid
	roots []cid.Cid
}

// packOnce builds the module pack of examples/modules as make modpack
// does (testenv.ExamplePack).
var packOnce = sync.OnceValues(func() (packInfo, error) {
	info := packInfo{path: filepath.Join(outDir, "pack", "modules.pack")}
	roots, err := testenv.ExamplePack(filepath.Join("..", "..", "examples", "modules"), info.path)
	if err != nil {
		return info, err
	}
	info.arith, info.roots = roots[0], roots
	return info, nil
})

var (
	stubOnce  = sync.OnceValues(build.Stub)
	shellOnce = sync.OnceValues(func() (string, error) {
		pack, err := packOnce()
		if err != nil {
			return "", err
		}
		elf := filepath.Join(outDir, "shell.elf")
		if err := build.Build("../../images/shell", elf, nil); err != nil {
			return "", err
		}
		withFS := filepath.Join(outDir, "shell+fs.elf")
		return withFS, build.AttachFS(elf, withFS, []string{pack.path})
	})
	burnOnce = sync.OnceValues(func() (string, error) {
		elf := filepath.Join(outDir, "profburn.elf")
		return elf, build.Build("./testdata/profburn", elf, nil)
	})
)

// console drives a booted guest's serial console.
type console struct {
	t      *testing.T
	serial *syncBuffer
	in     *os.File
	done   chan struct{}
	res    qemu.Result
	err    error
	seen   int // serial output already matched
}

func bootConsole(t *testing.T, kernel string) *console {
	cmdline, err := build.KernelCmdline(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// An *os.File, so that QEMU reads it directly: exec.Cmd.Wait would
	// wait for a goroutine copying from any other io.Reader.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &console{t: t, serial: &syncBuffer{}, in: w, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.res, c.err = qemu.Run(context.Background(), qemu.Config{
			Kernel: kernel, Stub: testenv.Get(t, stubOnce), Append: cmdline, SMP: 2,
			Accel: "tcg", Timeout: bootTimeout, Interactive: true, Stdin: r, Stdout: c.serial,
		})
		r.Close()
	}()
	t.Cleanup(func() {
		w.Close()
		<-c.done
	})
	return c
}

// expect waits until the serial output after what was already matched
// contains want, and returns the output up to and including it.
func (c *console) expect(want string) string {
	c.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		s := c.serial.String()
		if i := strings.Index(s[c.seen:], want); i >= 0 {
			out := s[c.seen : c.seen+i+len(want)]
			c.seen += i + len(want)
			return out
		}
		select {
		case <-c.done:
			c.t.Fatalf("the guest exited (%v, code %d) before printing %q:\n%s", c.err, c.res.ExitCode, want, s)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no %q on the serial console after %v:\n%s", want, stepTimeout, s)
		}
	}
}

// run types one command and returns its output, up to the next prompt.
func (c *console) run(cmd string) string {
	c.t.Helper()
	if _, err := io.WriteString(c.in, cmd+"\r"); err != nil {
		c.t.Fatalf("typing %q: %v", cmd, err)
	}
	// The kernel echoes the line (Enter becomes a newline).
	c.expect(cmd + "\n")
	return strings.TrimSuffix(c.expect("\nvelocity> "), "velocity> ")
}

// TestShell types modules, load, prof, help, a bad command and exit.
func TestShell(t *testing.T) {
	testenv.Need(t, "qemu")
	pack := testenv.Get(t, packOnce)
	c := bootConsole(t, testenv.Get(t, shellOnce))
	start := time.Now()
	banner := c.expect("velocity> ")
	if !strings.Contains(banner, "shell: 4 modules loaded from "+pack.path) {
		t.Errorf("the shell did not load the image's pack:\n%s", banner)
	}

	out := c.run("modules")
	if !strings.Contains(out, "total: 4 modules, 4 code pages mapped, 7 references, 3 pages saved by sharing") {
		t.Errorf("modules: no total line:\n%s", out)
	}
	// arith: its CID, 1 page, 4 references (3 importers and a handle),
	// and its importers; the others: 1 page, 1 reference.
	short := func(c cid.Cid) string { return regexp.QuoteMeta(modtable.Short(c)) }
	row := regexp.MustCompile(`(?m)^` + short(pack.arith) + `\s+0x[0-9a-f]+\s+(\d+)\s+1\s+4\s+(.*)$`)
	if m := row.FindStringSubmatch(out); m == nil {
		t.Errorf("modules: no row for arith with 1 page and 4 references:\n%s", out)
	} else {
		if n, _ := strconv.Atoi(m[1]); n <= 0 {
			t.Errorf("arith's code size %s", m[1])
		}
		for _, imp := range pack.roots[1:] {
			if !strings.Contains(m[2], modtable.Short(imp)) {
				t.Errorf("arith's importers %q lack %s", m[2], modtable.Short(imp))
			}
		}
	}
	for _, r := range pack.roots[1:] {
		if !regexp.MustCompile(`(?m)^` + short(r) + `\s+0x[0-9a-f]+\s+\d+\s+1\s+1\s`).MatchString(out) {
			t.Errorf("modules: no row for %s with 1 page and 1 reference:\n%s", r, out)
		}
	}

	if out := c.run("load 5"); !strings.Contains(out, "load: 2 goroutines hashing") {
		t.Errorf("load:\n%s", out)
	}
	out = c.run("prof 1 cpu.pprof")
	m := regexp.MustCompile(`prof: (\d+) samples in [0-9.]+s at 1000 Hz per CPU \(cpu0 (\d+), cpu1 (\d+); `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("prof: no summary line:\n%s", out)
	}
	if !strings.Contains(out, "flat  flat%      cum   cum%  function") || !strings.Contains(out, "sha256") ||
		!strings.Contains(out, "prof: wrote /tmp/cpu.pprof") {
		t.Errorf("prof: no top-functions table with the hashing workload, or no file:\n%s", out)
	}
	t.Logf("prof 1: %s samples (cpu0 %s, cpu1 %s)", m[1], m[2], m[3])

	if out := c.run("top 3"); !strings.Contains(out, "shell load: SHA-256 of 64 KiB") || !strings.Contains(out, "profile: last prof") {
		t.Errorf("top: no telemetry probe of the workload or no profile:\n%s", out)
	}
	out = c.run("help")
	for _, cmd := range []string{"modules", "top [N]", "prof [-hz N] SECONDS [FILE]", "mem", "cpus", "exit [STATUS]"} {
		if !strings.Contains(out, "  "+cmd) {
			t.Errorf("help does not list %q:\n%s", cmd, out)
		}
	}
	if out := c.run("bogus"); !strings.Contains(out, "bogus: unknown command") {
		t.Errorf("bogus:\n%s", out)
	}
	if out := c.run("exit 200"); !strings.Contains(out, "exit: bad status \"200\"") {
		t.Errorf("exit 200:\n%s", out)
	}
	if out := c.run("cpus"); !strings.Contains(out, "cpus: 2 CPUs") || !strings.Contains(out, "cpu1") {
		t.Errorf("cpus:\n%s", out)
	}
	// QEMU's i440FX: the host bridge at 00:00.0 and the PIIX3 ISA bridge.
	if out := c.run("pci"); !strings.Contains(out, "00:00.0 8086:1237 class 060000 (bridge)") || !strings.Contains(out, "8086:7000") {
		t.Errorf("pci:\n%s", out)
	}
	// No card on this machine, and no stack in a program without package
	// net: the network counters say both.
	if out := c.run("netstat"); !strings.Contains(out, "netstat: no network card") || !strings.Contains(out, "netstat: no network stack") {
		t.Errorf("netstat:\n%s", out)
	}
	// The kernel lock has been taken thousands of times by now; the
	// counters come from the kernel (kernel.Locks), so zero would mean
	// they are not counted.
	if out := c.run("locks"); !locksLine.MatchString(out) {
		t.Errorf("locks: no kernel (BKL) line with a non-zero count:\n%s", out)
	}
	// System calls by number: since boot, the shell's own console reads
	// and this very call (counted as it is made); over a second, the
	// calls of that second only. Reads have taken CPU time (the console
	// reads block, and only their own work is charged, so the figure is
	// small but never zero).
	if out := c.run("syscalls"); !regexp.MustCompile(`(?m)^read\s+0x0\s+[1-9][0-9]*\s+[0-9.]+%\s+[0-9.]+(µs|ms|s)\s+[0-9]+\.[0-9]{2}$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^velocity_syscalls\s+0x5609\s+1\s`).MatchString(out) ||
		!regexp.MustCompile(`^[1-9][0-9]* system calls since boot, [0-9.]+(µs|ms|s) of kernel CPU time\n`).MatchString(strings.TrimLeft(out, "\r\n")) {
		t.Errorf("syscalls:\n%s", out)
	}
	// -t: the most kernel CPU time first.
	if out := c.run("syscalls -t"); !strings.Contains(out, " system calls since boot, ") {
		t.Errorf("syscalls -t:\n%s", out)
	} else {
		row := regexp.MustCompile(`(?m)^\S+\s+0x[0-9a-f]+\s+\d+\s+[0-9.]+%\s+(\S+)\s+[0-9.]+\r?$`)
		var prev time.Duration = -1
		rows := row.FindAllStringSubmatch(out, -1)
		for _, m := range rows {
			d, err := time.ParseDuration(m[1])
			if err != nil {
				t.Fatalf("syscalls -t: time %q: %v", m[1], err)
			}
			if prev >= 0 && d > prev {
				t.Errorf("syscalls -t: %v after %v, want the most time first:\n%s", d, prev, out)
				break
			}
			prev = d
		}
		if len(rows) < 3 {
			t.Errorf("syscalls -t: %d rows:\n%s", len(rows), out)
		}
	}
	if out := c.run("syscalls 1"); !strings.Contains(out, " system calls in 1s") ||
		!regexp.MustCompile(`(?m)^velocity_syscalls\s+0x5609\s+1\s`).MatchString(out) {
		t.Errorf("syscalls 1:\n%s", out)
	}
	// The kernel's dump on request: the same text as on an NMI, the
	// shell's own thread in a system call, the other CPU not stopped.
	if out := c.run("threads"); !strings.Contains(out, "=== velocity: dump on request at ") ||
		!strings.Contains(out, "=== end of dump on request ===") ||
		!regexp.MustCompile(`cpu \d: thread \d+, printing this dump`).MatchString(out) ||
		!regexp.MustCompile(`in velocity_dump\(`).MatchString(out) ||
		!strings.Contains(out, "go: gomaxprocs 2, ") {
		t.Errorf("threads:\n%s", out)
	}
	io.WriteString(c.in, "exit 0\r")
	select {
	case <-c.done:
	case <-time.After(stepTimeout):
		t.Fatalf("the guest did not exit after exit 0:\n%s", c.serial.String())
	}
	if c.err != nil || c.res.ExitCode != 0 {
		t.Errorf("guest ended with %v, code %d; want code 0", c.err, c.res.ExitCode)
	}
	t.Logf("shell session: %v after boot started", time.Since(start).Round(time.Millisecond))
}

// TestProfiler profiles a program that burns both CPUs in main.burn and
// checks the pprof file on the host.
func TestProfiler(t *testing.T) {
	testenv.Need(t, "qemu")
	cmdline, err := build.KernelCmdline(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := qemu.Run(context.Background(), qemu.Config{
		Kernel: testenv.Get(t, burnOnce), Stub: testenv.Get(t, stubOnce), Append: cmdline, SMP: 2,
		Accel: "tcg", Timeout: bootTimeout, Stdout: &out,
	})
	serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("boot: %v, exit code %d\n%s", err, res.ExitCode, serial)
	}
	t.Logf("guest ran for %v", res.Elapsed.Round(time.Millisecond))
	m := regexp.MustCompile(`(?s)PPROF BEGIN\n(.*)PPROF END`).FindStringSubmatch(serial)
	if m == nil {
		t.Fatalf("no profile on serial:\n%s", serial)
	}
	data, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(m[1], "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.ParseData(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckValid(); err != nil {
		t.Fatal(err)
	}
	if stats := regexp.MustCompile(`PROFSTATS .*`).FindString(serial); stats != "" {
		t.Log(stats)
	}

	total, burn := 0, 0
	perCPU := map[string]int{}
	for _, s := range p.Sample {
		total++
		if cpu := s.Label["cpu"]; len(cpu) == 1 {
			perCPU[cpu[0]]++
		}
		if len(s.Location) > 0 && len(s.Location[0].Line) > 0 && s.Location[0].Line[0].Function.Name == "main.burn" {
			burn++
		}
	}
	t.Logf("%d samples, %d in main.burn, per CPU %v", total, burn, perCPU)
	// 1 s at 1000 Hz on two CPUs; TCG on a busy host delivers fewer
	// timer interrupts, but never this few.
	if total < 50 {
		t.Fatalf("only %d samples", total)
	}
	if burn*2 < total {
		t.Errorf("main.burn is the innermost function of %d of %d samples, want most", burn, total)
	}
	for _, cpu := range []string{"0", "1"} {
		if perCPU[cpu]*10 < total {
			t.Errorf("CPU %s took %d of %d samples", cpu, perCPU[cpu], total)
		}
	}
	if p.PeriodType == nil || p.PeriodType.Type != "cpu" || p.Period != int64(time.Millisecond) {
		t.Errorf("period %v %d, want cpu 1ms", p.PeriodType, p.Period)
	}

	// go tool pprof opens it, when the toolchain is at hand.
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Log("no go command: skipping go tool pprof")
		return
	}
	file := filepath.Join(outDir, "burn.pprof")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	top, err := exec.Command(goBin, "tool", "pprof", "-top", file).CombinedOutput()
	if err != nil || !strings.Contains(string(top), "main.burn") {
		t.Errorf("go tool pprof -top: %v\n%s", err, top)
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "%s", top)
	}
}
