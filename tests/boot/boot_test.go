// Package boot_test boots real Velocity kernels under QEMU (TCG) from the
// host and checks what they print on serial and the exit code they hand
// back: the demo through the fast path and both ISO firmwares, exit codes,
// Go panics, kernel exception reports, bad input to the stub and the
// kernel, and the Go semantics tests running inside the kernel.
//
// Tests skip, naming the apt-get command, when QEMU, binutils or GRUB are
// missing (scripts/deps.sh installs them).
package boot_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
)

// bootTimeout bounds every boot: a guest that hangs fails its test instead
// of the whole package.
const bootTimeout = 2 * time.Minute

var outDir string // kernels and images built for this run

func TestMain(m *testing.M) { testenv.Main(m, "velocity-boot-test-", &outDir) }

// need skips t unless the tools for what it boots are installed.
func need(t *testing.T, what ...string) { t.Helper(); testenv.Need(t, what...) }

// Build products, made once per run and shared by the tests.
var (
	stubOnce  = sync.OnceValues(build.Stub)
	demoOnce  = sync.OnceValues(func() (string, error) { return buildKernel("../../images/demo", "demo.elf", false) })
	crashOnce = sync.OnceValues(func() (string, error) { return buildKernel("../../images/crash", "crash.elf", false) })
	semOnce   = sync.OnceValues(func() (string, error) {
		// The semantics tests read their testdata, as go test runs them:
		// carry the package directory in the image and start there.
		elf, err := buildKernel("../semantics", "semantics.test.elf", true)
		if err != nil {
			return "", err
		}
		withFS := filepath.Join(outDir, "semantics.test+fs.elf")
		return withFS, build.AttachFS(elf, withFS, []string{semDir()})
	})
	pinOnce  = sync.OnceValues(func() (string, error) { return buildKernel("../../images/pinning", "pinning.elf", false) })
	kernOnce = sync.OnceValues(func() (string, error) { return buildKernel("../../kernel", "kernel.test.elf", true) })
	isoOnce  = sync.OnceValues(func() (string, error) {
		demo, err := demoOnce()
		if err != nil {
			return "", err
		}
		stub, err := stubOnce()
		if err != nil {
			return "", err
		}
		iso := filepath.Join(outDir, "demo.iso")
		return iso, build.MakeISO(build.ISOConfig{Kernel: demo, Stub: stub, Append: "-- -seconds 1 -tour=false", Out: iso})
	})
)

// semDir is the absolute path of tests/semantics.
func semDir() string {
	d, err := filepath.Abs("../semantics")
	if err != nil {
		panic(err)
	}
	return d
}

// semCmdline is the command line for the semantics test binary: its
// package directory as the working directory, and args.
func semCmdline(t *testing.T, args ...string) string {
	t.Helper()
	return semCmdlineOpts(t, nil, args...)
}

// semCmdlineOpts is semCmdline with kernel options before cwd=.
func semCmdlineOpts(t *testing.T, opts []string, args ...string) string {
	t.Helper()
	cmdline, err := build.KernelCmdline(nil, append(opts, "cwd="+semDir()), args)
	if err != nil {
		t.Fatal(err)
	}
	return cmdline
}

func buildKernel(pkg, name string, test bool) (string, error) {
	out := filepath.Join(outDir, name)
	start := time.Now()
	var err error
	if test {
		err = build.BuildTest(pkg, out, nil)
	} else {
		err = build.Build(pkg, out, nil)
	}
	if err == nil && testing.Verbose() {
		fmt.Fprintf(os.Stderr, "built %s in %v\n", name, time.Since(start).Round(time.Millisecond))
	}
	return out, err
}

func get(t *testing.T, once func() (string, error)) string {
	t.Helper()
	p, err := once()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// bootResult is what a finished guest left behind.
type bootResult struct {
	serial string // serial output with CRLF turned into LF
	code   int    // guest exit code
}

// boot runs c under TCG and fails t if QEMU fails or the guest times out.
func boot(t *testing.T, c qemu.Config) bootResult {
	t.Helper()
	var out bytes.Buffer
	c.Accel, c.Stdout, c.DumpOnTimeout = "tcg", &out, true
	if c.Timeout == 0 {
		c.Timeout = bootTimeout
	}
	res, err := qemu.Run(context.Background(), c)
	serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if err != nil {
		t.Fatalf("boot: %v\nserial output:\n%s", err, serial)
	}
	t.Logf("guest exited with %d after %v", res.ExitCode, res.Elapsed.Round(time.Millisecond))
	return bootResult{serial, res.ExitCode}
}

// bootKernel boots a kernel ELF on the fast path with argv as os.Args[1:].
func bootKernel(t *testing.T, kernel string, argv ...string) bootResult {
	t.Helper()
	cmdline, err := build.KernelCmdline(nil, nil, argv)
	if err != nil {
		t.Fatal(err)
	}
	return boot(t, qemu.Config{Kernel: kernel, Stub: get(t, stubOnce), Append: cmdline})
}

// expect fails t unless r exited with code and printed every string in want.
func (r bootResult) expect(t *testing.T, code int, want ...string) {
	t.Helper()
	ok := r.code == code
	if !ok {
		t.Errorf("guest exit code %d, want %d", r.code, code)
	}
	for _, w := range want {
		if !strings.Contains(r.serial, w) {
			t.Errorf("serial output lacks %q", w)
			ok = false
		}
	}
	if !ok {
		t.Logf("serial output:\n%s", r.serial)
	}
}

// match returns the submatches of re in r's serial output, failing t if
// there is none.
func (r bootResult) match(t *testing.T, re string) []string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(r.serial)
	if m == nil {
		t.Fatalf("serial output does not match %q:\n%s", re, r.serial)
	}
	return m
}

var (
	kernelBanner = `velocity: .+, 1 CPU, \d+ MiB RAM free, TSC \d+ MHz .*, booted by (multiboot[12])\n` +
		`velocity: kernel ready [\d.]+ ms after power-on`
	demoBanner = `demo: 1 CPU, (\d+) MiB RAM \(\d+ MiB free\), image [\d.]+ MiB, main reached ([\d.]+) ms after power-on`
)

// checkDemo checks a full run of images/demo and returns its banner's
// submatches (RAM MiB, ms to main).
func checkDemo(t *testing.T, r bootResult, loader string) []string {
	t.Helper()
	r.expect(t, 0, "demo: t=1s goroutines", "page faults", "context switches", "; done\n")
	if got := r.match(t, kernelBanner)[1]; got != loader {
		t.Errorf("booted by %s, want %s", got, loader)
	}
	m := r.match(t, demoBanner)
	t.Logf("main reached %s ms after power-on", m[2])
	return m[1:]
}

func TestDemoFastPath(t *testing.T) {
	need(t, "qemu")
	r := bootKernel(t, get(t, demoOnce), "-seconds", "2")
	checkDemo(t, r, "multiboot1")
	if !strings.Contains(r.serial, "demo: t=2s") {
		t.Errorf("no second summary line (-seconds 2 was passed):\n%s", r.serial)
	}
}

func TestDemoISO(t *testing.T) {
	need(t, "qemu", "grub")
	for _, uefi := range []bool{false, true} {
		name := map[bool]string{false: "BIOS", true: "UEFI"}[uefi]
		t.Run(name, func(t *testing.T) {
			if uefi {
				need(t, "ovmf")
			}
			t.Parallel()
			r := boot(t, qemu.Config{Kernel: get(t, isoOnce), UEFI: uefi})
			checkDemo(t, r, "multiboot2")
		})
	}
}

// TestMemorySizes checks that the frame allocator takes all RAM the memory
// map reports (no 1 GiB cap) and that a small machine still runs Go.
func TestMemorySizes(t *testing.T) {
	need(t, "qemu")
	for _, tc := range []struct {
		mem      string
		min, max int // MiB the demo must report
	}{
		{"2G", 1900, 2048},
		{"64M", 16, 64},
	} {
		t.Run(tc.mem, func(t *testing.T) {
			cmdline, _ := build.KernelCmdline(nil, nil, []string{"-seconds", "0"})
			r := boot(t, qemu.Config{Kernel: get(t, demoOnce), Stub: get(t, stubOnce), Append: cmdline, Mem: tc.mem})
			r.expect(t, 0, "; done\n")
			mib, _ := strconv.Atoi(r.match(t, demoBanner)[1])
			if mib < tc.min || mib > tc.max {
				t.Errorf("-m %s: kernel manages %d MiB, want %d..%d", tc.mem, mib, tc.min, tc.max)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	need(t, "qemu")
	for _, code := range []int{0, 3, 42} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			r := bootKernel(t, get(t, crashOnce), "exit", strconv.Itoa(code))
			r.expect(t, code, "crash: [exit "+strconv.Itoa(code)+"]")
		})
	}
}

func TestNilDereferencePanics(t *testing.T) {
	need(t, "qemu")
	r := bootKernel(t, get(t, crashOnce), "nilderef")
	r.expect(t, 2,
		"panic: runtime error: invalid memory address or nil pointer dereference",
		"[signal SIGSEGV: segmentation violation",
		"\ngoroutine ", "main.main.func1()", "images/crash/main.go:")
}

func TestIllegalInstruction(t *testing.T) {
	need(t, "qemu")
	r := bootKernel(t, get(t, crashOnce), "ud2")
	r.expect(t, 2, "SIGILL: illegal instruction", "instruction bytes: 0xf 0xb", "main.illegalInstruction")
}

// TestJumpIntoData calls code placed in the Go heap. The heap is
// no-execute, so the instruction fetch faults: the kernel prints its
// exception report for it (a fetch fault is never routine), then Go's own
// SIGSEGV report names the address and the caller, as on Linux.
func TestJumpIntoData(t *testing.T) {
	need(t, "qemu")
	r := bootKernel(t, get(t, crashOnce), "jumpdata")
	m := r.match(t, `=== velocity: CPU exception 14 \(#PF page fault\) in Go code on CPU 0, thread \d+ ===\n`+
		`  error code 0x0000000000000011 \(protection, read, instruction fetch\) -- jump into a no-execute page \(data, heap or stack\)  cr2 (0x[0-9a-f]+)\n +rip (0x[0-9a-f]+) `)
	if m[1] != m[2] {
		t.Errorf("cr2 %s and rip %s differ: the fault was not the jump itself", m[1], m[2])
	}
	r.expect(t, 2, "unexpected fault address ", "fatal error: fault",
		"[signal SIGSEGV: segmentation violation code=0x2 ", "main.jumpIntoData()")
	if strings.Contains(r.serial, "crash: returned from a call into the heap") {
		t.Errorf("code in the heap ran")
	}
}

// TestCPUWithoutNX: on a CPU without the NX bit (where setting it in a
// page-table entry would fault as a reserved bit) the kernel still boots
// on two CPUs, says loudly that data stays executable, and runs Go.
func TestCPUWithoutNX(t *testing.T) {
	need(t, "qemu")
	cmdline, err := build.KernelCmdline(nil, nil, []string{"exit", "0"})
	if err != nil {
		t.Fatal(err)
	}
	r := boot(t, qemu.Config{Kernel: get(t, crashOnce), Stub: get(t, stubOnce), Append: cmdline, SMP: 2,
		Extra: []string{"-cpu", "max,-nx"}})
	r.expect(t, 0, "velocity: WARNING: this CPU has no NX bit: data, heap and stacks stay executable", ", 2 CPU, ", "crash: [exit 0]")
}

// TestKernelJumpIntoData: kernel code that calls into the image's data
// segment (no-execute) gets the kernel's exception report, naming the
// system call being served, and the machine ends.
func TestKernelJumpIntoData(t *testing.T) {
	need(t, "qemu")
	r := bootKernel(t, get(t, crashOnce), "kerneljumpdata")
	r.expect(t, r.code, "=== velocity: CPU exception 14 (#PF page fault) in kernel code",
		"(protection, read, instruction fetch) -- jump into a no-execute page",
		"during system call velocity_crash(0x0000000000000003, ")
	if r.code == 0 || strings.Contains(r.serial, "the crash call returned") {
		t.Errorf("exit code %d; the kernel went on after executing its data:\n%s", r.code, r.serial)
	}
}

// TestKernelFault makes the kernel fault in its own code: it must print an
// exception report and end the machine with a non-zero code, not hang.
func TestKernelFault(t *testing.T) {
	need(t, "qemu")
	r := bootKernel(t, get(t, crashOnce), "kernelfault")
	want := []string{"=== velocity: CPU exception 14 (#PF page fault) in kernel code",
		"error code ", "cr2 0x0000000000000010", "rip 0x", "rsp 0x", "rflags 0x", "r15 0x", "cr3 0x",
		// The report names the system call being served, with its arguments.
		"during system call velocity_crash(0x0000000000000001, 0x0000000000000000, 0x0000000000000000, "}
	r.expect(t, r.code, want...)
	if r.code == 0 {
		t.Errorf("kernel fault exited with code 0")
	}
	if strings.Contains(r.serial, "CrashKernel returned") {
		t.Errorf("CrashKernel returned to the program")
	}
}

// TestRandomSource: a CPU without RDSEED and RDRAND gets the loud
// warning that getrandom falls back to TSC jitter (the program still
// runs); one with them (QEMU's -cpu max) does not.
func TestRandomSource(t *testing.T) {
	need(t, "qemu")
	cmdline, err := build.KernelCmdline(nil, []string{"quiet"}, []string{"exit", "0"})
	if err != nil {
		t.Fatal(err)
	}
	const warning = "velocity: WARNING: this CPU has neither RDSEED nor RDRAND"
	r := boot(t, qemu.Config{Kernel: get(t, crashOnce), Stub: get(t, stubOnce), Append: cmdline,
		Extra: []string{"-cpu", "max,-rdrand,-rdseed"}})
	r.expect(t, 0, warning, "TSC jitter, which is WEAK", "crash: [exit 0]")
	for _, cpu := range []string{"max", "max,-rdseed"} {
		r = boot(t, qemu.Config{Kernel: get(t, crashOnce), Stub: get(t, stubOnce), Append: cmdline, Extra: []string{"-cpu", cpu}})
		r.expect(t, 0, "crash: [exit 0]")
		if strings.Contains(r.serial, warning) {
			t.Errorf("-cpu %s: weak-source warning although the CPU has a hardware source:\n%s", cpu, r.serial)
		}
	}
}

// TestNMIDump: a guest that outlives its timeout is sent an NMI through
// QEMU's monitor before it is killed, and the kernel prints every CPU and
// thread: the spinning thread where it spins, the blocked ones with the
// system call they are in, on every CPU (each has LINT1 set up as NMI),
// and the Go scheduler's Ps and Ms.
func TestNMIDump(t *testing.T) {
	need(t, "qemu")
	cmdline, err := build.KernelCmdline(nil, nil, []string{"hang"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, err = qemu.Run(context.Background(), qemu.Config{Kernel: get(t, crashOnce), Stub: get(t, stubOnce),
		Append: cmdline, SMP: 2, Accel: "tcg", Stdout: &out, Timeout: 20 * time.Second, DumpOnTimeout: true})
	serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
	var te *qemu.TimeoutError
	if !errors.As(err, &te) || !te.Dumped || !strings.Contains(err.Error(), "NMI dump") {
		t.Fatalf("err = %v; want a timeout with a dump\n%s", err, serial)
	}
	if !strings.Contains(serial, "crash: hanging") {
		t.Fatalf("the guest did not reach its hang in 20 s:\n%s", serial)
	}
	r := bootResult{serial: serial}
	for _, re := range []string{
		`=== velocity: NMI dump at [0-9.]+ s: \d+ threads, 2 CPUs ===`,
		`cpu 0: .* at 0x[0-9a-f]+ `, `cpu 1: .* at 0x[0-9a-f]+ `, // both answered
		`thread \d+ blocked, last cpu \d, waits on 0x[0-9a-f]+[^\n]*\n  in read\(0x[0-9a-f]+, `,
		`thread \d+ blocked, last cpu \d, deadline \+35\d{5}\.\d{3} ms \(timer heap \d #\d+\)[^\n]*\n  in nanosleep\(`,
		`locks held: `,
		// The Go scheduler's side: the Ps, and the Ms with their goroutines.
		`go: gomaxprocs 2, idle Ps \d, spinning Ms \d, global run queue \d`,
		`  P0 \w+`, `  P1 \w+`,
		`  M on thread \d+, goroutine \d+ \(syscall\), locked to \d+ \(syscall\)`,
		`=== end of NMI dump ===`,
	} {
		r.match(t, re)
	}
	// The spinning thread, where it spins. A thread's line may end with
	// its pending signals: sysmon sends the spinner SIGURG every 10 ms,
	// and the NMI can land between the post and the IPI that delivers
	// it. For the same reason the NMI may find the kernel serving an
	// interrupt the spinner took (the tick that delivers that signal):
	// the dump then names the interrupt, and the spinner's place is
	// where it entered. Or it may find the spinner's thread in the Go
	// scheduler, moving the preempted spinner, which is locked to it,
	// off its P and back: the thread then runs runtime code, and the
	// dump's Go side shows its M locked to the spinner (seen once in a
	// clean-clone CI run: runtime.handoffp). Handing the P on wakes
	// another M, so that thread may also be in the futex call that does
	// it (twice in 24 boots on 2026-12-04, once in CI). Or the NMI lands
	// after the spinner's thread gave its P up: the thread is then
	// blocked in FUTEX_WAIT_PRIVATE on its M's park note until another M
	// hands it a P with the spinner (runtime.startlockedm; once in a
	// clean-clone CI run, 2026-12-05). Or it is in another system call
	// of the runtime's (rt_sigreturn after the SIGURG handler). In all of
	// these the Go side names the spinner's thread: the one M locked to a
	// goroutine that is not in a system call (the other two locked
	// threads block in read and nanosleep).
	running := regexp.MustCompile(`thread (\d+) running on cpu \d[^\n]*\n  (?:entered by (?:NMI|interrupt 0x[0-9a-f]+) at 0x[0-9a-f]+ (\S+)|in ([a-z_0-9]+)\(0x)`)
	parked := regexp.MustCompile(`thread (\d+) blocked[^\n]*\n  in futex\(0x[0-9a-f]+, 0x0000000000000080,`)
	spinnerThread := func(thread string) bool {
		return regexp.MustCompile(`(?m)^  M on thread ` + thread + `, [^\n]*locked to \d+ \((?:running|runnable)\)$`).MatchString(serial)
	}
	found := false
	for _, m := range running.FindAllStringSubmatch(serial, -1) {
		inRuntime := strings.HasPrefix(m[2], "runtime.") || m[3] != ""
		if strings.HasPrefix(m[2], "main.hang.func3+") || inRuntime && spinnerThread(m[1]) {
			found = true
		}
	}
	for _, m := range parked.FindAllStringSubmatch(serial, -1) {
		if spinnerThread(m[1]) {
			found = true
		}
	}
	if !found {
		t.Errorf("the dump does not show the spinning thread in main.hang.func3, nor its thread moving it in the scheduler:\n%s", serial)
	}
}

// TestKernelPanic: a Go run-time panic in kernel code (an index out of
// range inside a system call handler) cannot unwind there: the runtime
// aborts with INT3, and the kernel's report names the system call being
// served with its arguments, then ends the machine with a non-zero status.
func TestKernelPanic(t *testing.T) {
	need(t, "qemu")
	r := bootKernel(t, get(t, crashOnce), "kernelpanic")
	r.expect(t, r.code, "in kernel code on CPU 0",
		"during system call velocity_crash(0x0000000000000002, 0x0000000000000000, ")
	if r.code == 0 || strings.Contains(r.serial, "the crash call returned") {
		t.Errorf("exit code %d; the kernel went on after a panic in kernel code:\n%s", r.code, r.serial)
	}
}

// TestBadCommandLine: the kernel refuses what it does not understand.
func TestBadCommandLine(t *testing.T) {
	need(t, "qemu")
	for _, tc := range []struct {
		name, cmdline string
		want          []string
	}{
		{"unknown option", "bogus-option", []string{`bad kernel command line: unknown kernel option "bogus-option"`, "usage: [KEY=VALUE ...]"}},
		{"lower-case env", "lower=case", []string{`unknown kernel option "lower=case"`}},
		{"unterminated quote", `-- "abc`, []string{"bad kernel command line: unterminated double quote"}},
		// 10,002 bytes: the stub keeps 4095 and warns, and the 1,365 words
		// left are more arguments than the kernel takes.
		{"overlong", "-- " + strings.Repeat("ab ", 3333), []string{"bad kernel command line: longer than 4095 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := boot(t, qemu.Config{Kernel: get(t, demoOnce), Stub: get(t, stubOnce), Append: tc.cmdline})
			r.expect(t, 2, tc.want...)
			if strings.Contains(r.serial, "demo:") {
				t.Errorf("the program ran despite a bad command line")
			}
		})
	}
}

// TestOverlongCommandLineIsRefused: a command line the stub had to cut must
// not boot the program with the cut-off arguments.
func TestOverlongCommandLineIsRefused(t *testing.T) {
	need(t, "qemu")
	r := boot(t, qemu.Config{Kernel: get(t, demoOnce), Stub: get(t, stubOnce),
		Append: "X=" + strings.Repeat("a", 10000) + " -- -seconds 0"})
	if r.code != 2 || strings.Contains(r.serial, "demo:") || !strings.Contains(r.serial, "longer than 4095 bytes") {
		t.Errorf("exit %d: a truncated command line booted the program:\n%.2000s", r.code, r.serial)
	}
}

// TestBadKernelModule: the stub reports a module it cannot load with a
// BOOT_ND: line and exit code 3, without a triple-fault loop.
func TestBadKernelModule(t *testing.T) {
	need(t, "qemu")
	elf, err := os.ReadFile(get(t, crashOnce))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stub := get(t, stubOnce)
	for _, tc := range []struct {
		name string
		c    qemu.Config
		want string
	}{
		{"truncated ELF (4 KiB)", qemu.Config{Kernel: write("head.elf", elf[:4096]), Stub: stub}, "BOOT_ND: kernel ELF is truncated"},
		{"truncated ELF (half)", qemu.Config{Kernel: write("half.elf", elf[:len(elf)/2]), Stub: stub}, "BOOT_ND: kernel ELF is truncated"},
		// The stub itself is a 32-bit multiboot image: QEMU loads it, and
		// -initrd supplies the module.
		{"not an ELF", qemu.Config{Kernel: stub, Extra: []string{"-initrd", write("junk.bin", bytes.Repeat([]byte("not an ELF file\n"), 256))}}, "BOOT_ND: kernel module is not an ELF file"},
		{"no module", qemu.Config{Kernel: stub}, "BOOT_ND: no kernel module"},
		// The loaded image is larger than 32 MiB minus the 16 MiB it starts at.
		{"too little RAM", qemu.Config{Kernel: get(t, demoOnce), Stub: stub, Mem: "32M"}, "BOOT_ND: kernel ELF segment lies outside usable RAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Timeout = time.Minute
			r := boot(t, tc.c)
			r.expect(t, 3, tc.want)
			if strings.Contains(r.serial, "velocity:") {
				t.Errorf("the kernel started despite the bad module")
			}
		})
	}
}

// TestSemantics runs the tests/semantics test binary inside the kernel.
func TestSemantics(t *testing.T) {
	need(t, "qemu")
	r := boot(t, qemu.Config{Kernel: get(t, semOnce), Stub: get(t, stubOnce), Append: semCmdline(t, "-test.v", "-test.timeout=3m")})
	r.expect(t, 0, "--- PASS: TestFiles", "--- PASS: TestTenThousandGoroutines", "--- PASS: TestGCUnderPressure",
		"--- PASS: TestNilDereferenceIsAPanic", "--- PASS: TestPreemptionBetweenThreads",
		// Memory protection (memprot_test.go).
		"--- PASS: TestReadOnlyDataIsReadOnly", "--- PASS: TestTextIsReadOnly", "--- PASS: TestTextHasNoWritableAlias",
		"--- PASS: TestHeapIsNoExecute", "--- PASS: TestMprotectHonoursProt",
		// File locks (flock_test.go).
		"--- PASS: TestFlock", "--- PASS: TestFlockWait", "--- PASS: TestFcntlLocks",
		"--- PASS: TestFcntlLockWaitRestart",
		// Short sleeps last their time (shortsleep_test.go).
		"--- PASS: TestShortNanosleep", "\nPASS\n")
	if strings.Contains(r.serial, "--- FAIL") {
		t.Errorf("a semantics test failed:\n%s", r.serial)
	}
	if n := strings.Count(r.serial, "--- PASS: "); n < 10 {
		t.Errorf("only %d tests passed, want at least 10", n)
	}
}

// TestSMPBoot: every CPU QEMU gives the machine comes up and is counted,
// and the runtime sees them all (the demo prints runtime.NumCPU).
func TestSMPBoot(t *testing.T) {
	need(t, "qemu")
	for _, n := range []int{1, 2, 4, 8} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			r := boot(t, qemu.Config{Kernel: get(t, demoOnce), Stub: get(t, stubOnce), SMP: n, Append: "-- -seconds 1 -tour=false"})
			r.expect(t, 0, fmt.Sprintf(", %d CPU, ", n))
			if strings.Contains(r.serial, "did not start") {
				t.Errorf("a CPU failed to start:\n%s", r.serial)
			}
		})
	}
}

// TestSemanticsSMP runs the Go semantics tests on two and four CPUs, where
// threads really run in parallel and wake-ups, signals and TLB shootdowns
// cross CPUs. The four-CPU run poisons free frames (pagepoison), so that a
// write through a stale translation or a freed kernel object stops the
// machine with the frame's address.
func TestSemanticsSMP(t *testing.T) {
	need(t, "qemu")
	for _, n := range []int{2, 4} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			var opts []string
			if n == 4 {
				opts = []string{"pagepoison"}
			}
			r := boot(t, qemu.Config{Kernel: get(t, semOnce), Stub: get(t, stubOnce), SMP: n, Append: semCmdlineOpts(t, opts, "-test.v", "-test.timeout=3m")})
			r.expect(t, 0, "--- PASS: TestAsyncPreemptionOfTightLoop", "--- PASS: TestGCUnderPressure",
				"--- PASS: TestMprotectHonoursProt", "--- PASS: TestShortSleepKeepsCPU", "\nPASS\n")
			if strings.Contains(r.serial, "--- FAIL") {
				t.Errorf("a semantics test failed on %d CPUs:\n%s", n, r.serial)
			}
		})
	}
}

// TestAffinity: package kernel's own tests (Pin, getcpu, sched_setaffinity
// rejecting empty and absent-CPU masks, the TLB refresh with and without
// tlbrefresh=0) inside the unikernel on 4 CPUs, and a CPU reserved with
// reserve= runs pinned work only.
func TestAffinity(t *testing.T) {
	need(t, "qemu")
	cmdline, err := build.KernelCmdline(nil, nil, []string{"-test.v"})
	if err != nil {
		t.Fatal(err)
	}
	r := boot(t, qemu.Config{Kernel: get(t, kernOnce), Stub: get(t, stubOnce), SMP: 4, Append: cmdline})
	r.expect(t, 0, "--- PASS: TestPin", "--- PASS: TestSetAffinityRejectsBadMasks", "--- PASS: TestReadInfo", "--- PASS: TestTLBRefresh", "--- PASS: TestProfileFollowsStackSwitch")

	// tlbrefresh=0: no CPU flushes its TLB on its tick (kernel.TestTLBRefresh
	// reads the option from /proc/cmdline).
	cmdline, err = build.KernelCmdline(nil, []string{"tlbrefresh=0"}, []string{"-test.v", "-test.run", "TestTLBRefresh"})
	if err != nil {
		t.Fatal(err)
	}
	r = boot(t, qemu.Config{Kernel: get(t, kernOnce), Stub: get(t, stubOnce), SMP: 2, Append: cmdline})
	r.expect(t, 0, "--- PASS: TestTLBRefresh", "tlbrefresh=0: true")

	r = boot(t, qemu.Config{Kernel: get(t, pinOnce), Stub: get(t, stubOnce), SMP: 2, Append: "reserve=1"})
	r.expect(t, 0, "pinning: all checks passed")
	if strings.Contains(r.serial, "FAIL") {
		t.Errorf("a placement check failed:\n%s", r.serial)
	}

	// CPU 0 is never reserved: reserve=0 says so and reserves nothing.
	r = boot(t, qemu.Config{Kernel: get(t, pinOnce), Stub: get(t, stubOnce), SMP: 2, Append: "reserve=0 -- -none"})
	r.expect(t, 0, "reserve= names CPU 0, which is never reserved", "pinning: all checks passed")
	if strings.Contains(r.serial, "FAIL") {
		t.Errorf("reserve=0: a placement check failed:\n%s", r.serial)
	}
}
