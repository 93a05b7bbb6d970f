// Package gdb_test debugs real Velocity kernels with real gdb: it boots
// images/gdbtarget under QEMU (TCG) with the kernel's gdb stub on COM2,
// reached over a TCP port, and drives Debian's gdb in batch mode against
// it; a second test speaks the protocol directly to check Ctrl-C.
//
// The tests skip, naming the apt-get command, when gdb, QEMU or binutils
// are missing (scripts/deps.sh installs them).
package gdb_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
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

func need(t *testing.T) { t.Helper(); testenv.Need(t, "qemu", "gdb") }

var (
	outDir     string
	stubOnce   = sync.OnceValues(build.Stub)
	targetOnce = sync.OnceValues(func() (string, error) {
		out := filepath.Join(outDir, "gdbtarget.elf")
		return out, build.Build("../../images/gdbtarget", out, nil)
	})
	crashOnce = sync.OnceValues(func() (string, error) {
		out := filepath.Join(outDir, "crash.elf")
		return out, build.Build("../../images/crash", out, nil)
	})
)

func TestMain(m *testing.M) { testenv.Main(m, "velocity-gdb-test-", &outDir) }

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

// guest is a booting kernel with its stub on a TCP port.
type guest struct {
	port   string
	serial *syncBuffer
	done   chan struct{}
	res    qemu.Result
	err    error
}

// freePort finds a TCP port on localhost that nobody listens on.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// start boots the test program with the kernel options and argv given
// and waits until the serial console shows want.
func start(t *testing.T, smp int, opts string, argv []string, want string) *guest {
	t.Helper()
	return startKernel(t, targetOnce, smp, opts, argv, want)
}

func startKernel(t *testing.T, kernel func() (string, error), smp int, opts string, argv []string, want string) *guest {
	t.Helper()
	return boot(t, kernel, smp, opts, argv, want, func(c *qemu.Config, port string) { c.GDBPort = port })
}

// boot is startKernel with the guest's port given to QEMU by onPort: the
// kernel's stub on COM2 (GDBPort) or QEMU's own gdbstub (QEMUGDB).
func boot(t *testing.T, kernel func() (string, error), smp int, opts string, argv []string, want string, onPort func(c *qemu.Config, port string)) *guest {
	t.Helper()
	stub, err := stubOnce()
	if err != nil {
		t.Fatal(err)
	}
	elf, err := kernel()
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := build.KernelCmdline(nil, strings.Fields(opts), argv)
	if err != nil {
		t.Fatal(err)
	}
	g := &guest{port: freePort(t), serial: &syncBuffer{}, done: make(chan struct{})}
	c := qemu.Config{Kernel: elf, Stub: stub, SMP: smp, Append: cmdline, Accel: "tcg",
		Stdout: g.serial, Timeout: 2 * time.Minute}
	onPort(&c, g.port)
	go func() {
		g.res, g.err = qemu.Run(context.Background(), c)
		close(g.done)
	}()
	waitSerial(t, g, want, time.Minute)
	return g
}

// wait waits for the guest to exit and returns its exit code.
func (g *guest) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-g.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("guest did not exit:\n%s", g.serial)
	}
	if g.err != nil {
		t.Fatalf("guest: %v\n%s", g.err, g.serial)
	}
	return g.res.ExitCode
}

// The gdb session: everything issue 6 asks gdb to do against the stub.
const gdbScript = `set pagination off
set confirm off
set width 0
target remote localhost:%s
echo ==threads-at-boot\n
info threads
break main.Checkpoint
continue
echo ==bt\n
bt
echo ==regs\n
info registers
echo ==memory\n
print/x 'main.Magic'
x/8xb &'main.Magic'
set var 'main.Magic' = 0xdeadbeef
print/x 'main.Magic'
echo ==stepi\n
info registers rip
stepi
info registers rip
echo ==watch\n
delete
watch 'main.Watched'
continue
print 'main.Watched'
echo ==frozen\n
print 'main.Ticks'.v
shell sleep 0.3
print 'main.Ticks'.v
echo ==threads\n
info threads
echo ==kernel-source\n
list runtime.vkBoot
delete
detach
echo ==end\n
`

func TestGDBSession(t *testing.T) {
	need(t)
	begin := time.Now()
	g := start(t, 2, "debug=wait", nil, "waiting for gdb")
	booted := time.Since(begin)

	script := filepath.Join(t.TempDir(), "session.gdb")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(gdbScript, g.port)), 0o644); err != nil {
		t.Fatal(err)
	}
	elf, _ := targetOnce()
	args := []string{"-batch", "-nx"}
	goroot, _ := build.GOROOT("")
	py := filepath.Join(goroot, "src", "runtime", "runtime-gdb.py")
	if _, err := os.Stat(py); err == nil {
		args = append(args, "-iex", "set auto-load python-scripts off", "-ex", "source "+py)
	}
	// As velocity debug does: the kernel's sources, for list and stepping.
	src, err := build.SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	// gdb's packet trace, with times, goes to stderr and is shown only
	// when the session fails: a stub that answers late is told apart from
	// one that answers wrong only by it.
	args = append(args, "-iex", "set debug timestamp on", "-iex", "set debug remote 1")
	args = append(args, "-ex", "directory "+src, "-x", script, elf)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	gdbStart := time.Now()
	var out, trace bytes.Buffer
	cmd := exec.CommandContext(ctx, "gdb", args...)
	cmd.Stdout, cmd.Stderr = &out, &trace
	err = cmd.Run()
	session := out.String()
	t.Logf("boot to stub %v, gdb session %v", booted.Round(time.Millisecond), time.Since(gdbStart).Round(time.Millisecond))
	defer func() {
		if t.Failed() {
			t.Logf("gdb packet trace (last 300 lines):\n%s", qemu.LastLines(trace.String(), 300))
		}
	}()
	if err != nil {
		t.Fatalf("gdb: %v\n%s\nserial:\n%s", err, session, g.serial)
	}
	section := func(name string) string {
		_, rest, ok := strings.Cut(session, "=="+name+"\n")
		if !ok {
			t.Fatalf("gdb output has no section %s:\n%s", name, session)
		}
		if i := strings.Index(rest, "\n=="); i >= 0 {
			rest = rest[:i]
		}
		return rest
	}
	check := func(what, text, re string) []string {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("%s: no match for %q in:\n%s", what, re, text)
		}
		return m
	}

	// Threads are CPUs, each described; at boot CPU 0 is about to start Go.
	boot := section("threads-at-boot")
	check("threads at boot", boot, `(?m)^\* 1 +Thread 1 \(CPU 0: Go thread 1\) .*_rt0_amd64_linux`)
	check("threads at boot", boot, `(?m)^  2 +Thread 2 \(CPU 1: idle\)`)
	// The breakpoint on a Go function by name is hit.
	check("breakpoint", session, `hit Breakpoint 1, main\.Checkpoint \(n=20`)
	check("kernel source", section("kernel-source"), `func vkBoot\(info uintptr\) uintptr`)
	check("backtrace", section("bt"), `(?m)^#0 +main\.Checkpoint \(n=20.*\n#1 +0x[0-9a-f]+ in main\.main \(\) at .*images/gdbtarget/main\.go:\d+`)
	regs := section("regs")
	for _, r := range []string{"rax", "rbx", "rsp", "r15", "eflags", "cs", "ss", "fs_base", "gs_base"} {
		check("info registers", regs, `(?m)^`+r+` +0x[0-9a-f]+`)
	}
	rip := check("info registers", regs, `(?m)^rip +(0x[0-9a-f]+) +0x[0-9a-f]+ <main\.Checkpoint>`)
	check("info registers", regs, `(?m)^cs +0x8 `)
	mem := section("memory")
	check("print", mem, `\$1 = 0x1122334455667788`)
	check("x/8xb", mem, `<main\.Magic>:\s+0x88\s+0x77\s+0x66\s+0x55\s+0x44\s+0x33\s+0x22\s+0x11`)
	check("set var", mem, `\$2 = 0xdeadbeef`)
	// stepi moves rip off the breakpoint to the next instruction.
	step := check("stepi", section("stepi"), `(?s)rip +(0x[0-9a-f]+) .*\nrip +(0x[0-9a-f]+) +0x[0-9a-f]+ <main\.Checkpoint\+(\d+)>`)
	if rip != nil && step != nil && (step[1] != rip[1] || step[2] == step[1] || step[3] == "0") {
		t.Errorf("stepi: rip %s -> %s (+%s), started at %s", step[1], step[2], step[3], rip[1])
	}
	watch := section("watch")
	check("watchpoint", watch, `Hardware watchpoint 2: 'main\.Watched'`)
	check("watchpoint", watch, `(?s)hit Hardware watchpoint 2: 'main\.Watched'.*Old value = 0\s+New value = 141`)
	check("watchpoint", watch, `\$3 = 141`)
	// All-stop: the other CPU, which counts its loops in Ticks, stays
	// parked while gdb looks.
	if m := check("frozen", section("frozen"), `(?s)\$4 = (\d+)\s+\$5 = (\d+)`); m != nil {
		if m[1] != m[2] {
			t.Errorf("Ticks moved from %s to %s while the machine was stopped", m[1], m[2])
		} else if m[1] == "0" {
			t.Errorf("Ticks is 0 at the watchpoint: the other CPU's loop never ran, so its stop proves nothing")
		}
	}
	threads := section("threads")
	check("info threads", threads, `Thread 1 \(CPU 0: `)
	check("info threads", threads, `Thread 2 \(CPU 1: `)
	check("detach", session, `\[Inferior 1 \(Remote target\) detached\]`)
	if t.Failed() {
		t.Logf("gdb session:\n%s", session)
	}

	// After the detach the kernel runs on, prints what gdb wrote, and
	// exits cleanly.
	if code := g.wait(t); code != 0 {
		t.Errorf("guest exit code %d, want 0", code)
	}
	if s := g.serial.String(); !strings.Contains(s, "gdbtarget: checkpoint=41 magic=0xdeadbeef watched=141\n") {
		t.Errorf("the kernel did not print the values gdb changed:\n%s", s)
	}
	t.Logf("whole test %v", time.Since(begin).Round(time.Millisecond))
}

// packet frames a payload for the wire.
func packet(p string) string {
	var sum byte
	for i := 0; i < len(p); i++ {
		sum += p[i]
	}
	return fmt.Sprintf("$%s#%02x", p, sum)
}

// TestCtrlCAndRawProtocol speaks the protocol itself: garbage and a bad
// checksum are NAKed, Ctrl-C stops the running kernel, memory written
// with M releases the program, and D lets it run to its clean exit.
func TestCtrlCAndRawProtocol(t *testing.T) {
	need(t)
	begin := time.Now()
	g := start(t, 1, "debug", []string{"-loop"}, "gdbtarget: looping")
	t.Logf("booted in %v", time.Since(begin).Round(time.Millisecond))
	conn, err := net.Dial("tcp", "127.0.0.1:"+g.port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var got bytes.Buffer
	expect := func(re string) []string {
		t.Helper()
		rx := regexp.MustCompile(re)
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		buf := make([]byte, 4096)
		for {
			if m := rx.FindStringSubmatch(got.String()); m != nil {
				got.Reset()
				return m
			}
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %q: %v; got %q\nserial:\n%s", re, err, got.String(), g.serial)
			}
			got.Write(buf[:n])
		}
	}
	send := func(s string) {
		t.Helper()
		if _, err := conn.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	begin = time.Now()
	send("\x03")
	expect(`\$T02thread:1;#[0-9a-f]{2}`)
	t.Logf("Ctrl-C stopped the kernel in %v", time.Since(begin).Round(time.Millisecond))
	send("+")
	// Damage first: a bad checksum is NAKed, noise is ignored.
	send("$g#00")
	expect(`^-`)
	send("junk\x00\xff}}**" + packet("qC"))
	expect(`\+\$QC1#[0-9a-f]{2}`)
	send("+" + packet("qSymbol::") + "+")
	expect(`\+\$#00`)
	// Unmapped memory is an error, not a crash.
	send(packet("m0,8") + "+")
	expect(`\+\$E14#[0-9a-f]{2}`)
	elf, _ := targetOnce()
	sym, err := exec.Command("nm", elf).Output()
	if err != nil {
		t.Fatalf("nm: %v", err)
	}
	m := regexp.MustCompile(`(?m)^([0-9a-f]+) [a-zA-Z] main\.Magic$`).FindSubmatch(sym)
	if m == nil {
		t.Fatal("no main.Magic in the symbol table")
	}
	addr := strings.TrimLeft(string(m[1]), "0")
	send(packet("m"+addr+",8") + "+")
	expect(`\+\$8877665544332211#`)
	// Text is read-only in the kernel's page tables; gdb's writes to it
	// go through the stub's temporary alias. Checkpoint does not run
	// while the program loops, and the kernel is stopped anyway.
	m = regexp.MustCompile(`(?m)^([0-9a-f]+) [tT] main\.Checkpoint$`).FindSubmatch(sym)
	if m == nil {
		t.Fatal("no main.Checkpoint in the symbol table")
	}
	text := strings.TrimLeft(string(m[1]), "0")
	send(packet("m"+text+",2") + "+")
	orig := expect(`\+\$([0-9a-f]{4})#`)[1]
	send(packet("M"+text+",2:cccc") + "+")
	expect(`\+\$OK#9a`)
	send(packet("m"+text+",2") + "+")
	expect(`\+\$cccc#`)
	send(packet("M"+text+",2:"+orig) + "+")
	expect(`\+\$OK#9a`)
	send(packet("m"+text+",2") + "+")
	expect(`\+\$` + orig + `#`)
	send(packet("M"+addr+",8:0000000000000000") + "+")
	expect(`\+\$OK#9a`)
	send(packet("D"))
	expect(`\+\$OK#9a`)
	send("+")
	begin = time.Now()
	if code := g.wait(t); code != 0 {
		t.Errorf("guest exit code %d, want 0", code)
	}
	t.Logf("exited %v after the detach", time.Since(begin).Round(time.Millisecond))
	if s := g.serial.String(); !strings.Contains(s, "gdbtarget: released\n") {
		t.Errorf("the program was not released by the write:\n%s", s)
	}
}

// TestFatalExceptionEntersStub: with the kernel option debug, a page
// fault in the kernel drops into the stub instead of exiting; gdb sees
// where, and kill ends the machine.
func TestFatalExceptionEntersStub(t *testing.T) {
	need(t)
	g := startKernel(t, crashOnce, 1, "debug", []string{"kernelfault"}, "entering the gdb stub")
	elf, _ := crashOnce()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "gdb", "-batch", "-nx", "-iex", "set auto-load python-scripts off",
		"-ex", "target remote localhost:"+g.port, "-ex", "echo ==rip\\n", "-ex", "info registers rip", "-ex", "kill", elf).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	// vkSysCrash may be inlined into vkSyscall: the frame names it, rip's
	// symbol may be either.
	if !regexp.MustCompile(`(?s) in runtime\.vkSysCrash \(.*==rip\nrip +0x[0-9a-f]+ +0x[0-9a-f]+ <runtime\.vkSys(Crash|call)\+\d+>`).Match(out) {
		t.Errorf("gdb does not stop at the faulting kernel function:\n%s", out)
	}
	if code := g.wait(t); code != 64+9 {
		t.Errorf("guest exit code %d after kill, want 73 (64+SIGKILL)", code)
	}
	if s := g.serial.String(); !strings.Contains(s, "#PF page fault") || !strings.Contains(s, "velocity: killed by gdb") {
		t.Errorf("serial console:\n%s", s)
	}
}
