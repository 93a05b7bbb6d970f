// Package locks_test boots ./stress, a Go program that drives futexes,
// timers, the scheduler, files, pipes and allocation from every CPU at
// once and checks every result, as a Velocity kernel under TCG. The short
// run (-smp 4, make test) catches a lost wake-up or a deadlock in the
// kernel's fine-grained locking quickly; -locks.long runs it longer at
// -smp 4 and -smp 8. Each run logs the lock contention counters.
package locks_test

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
)

var (
	long   = flag.Bool("locks.long", false, "run the stress program for -locks.dur at -smp 4 and -smp 8")
	longD  = flag.Duration("locks.dur", 20*time.Second, "duration of each workload in the long runs")
	outDir string
)

func TestMain(m *testing.M) { testenv.Main(m, "velocity-locks-test-", &outDir) }

var (
	stubOnce   = sync.OnceValues(build.Stub)
	kernelOnce = sync.OnceValues(func() (string, error) {
		out := outDir + "/stress.elf"
		return out, build.Build("./stress", out, nil)
	})
	faultsOnce = sync.OnceValues(func() (string, error) {
		out := outDir + "/faults.elf"
		return out, build.Build("./faults", out, nil)
	})
)

// run boots the stress kernel on smp CPUs with the program's args and
// returns its serial output; it fails t unless the program says ok.
func run(t *testing.T, smp int, timeout time.Duration, args ...string) string {
	t.Helper()
	testenv.Need(t, "qemu")
	cmdline, err := build.KernelCmdline(nil, []string{"quiet"}, args)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := qemu.Run(context.Background(), qemu.Config{Kernel: testenv.Get(t, kernelOnce), Stub: testenv.Get(t, stubOnce),
		Append: cmdline, Accel: "tcg", Stdout: &out, Timeout: timeout, SMP: smp, Mem: "1G"})
	serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if err != nil {
		t.Fatalf("-smp %d: boot: %v (a kernel deadlock ends this way)\nserial output:\n%s", smp, err, serial)
	}
	if res.ExitCode != 0 || !strings.Contains(serial, "STRESS ok") {
		t.Fatalf("-smp %d: exit code %d\nserial output:\n%s", smp, res.ExitCode, serial)
	}
	t.Logf("-smp %d: finished in %v", smp, res.Elapsed.Round(time.Millisecond))
	logStress(t, serial)
	return serial
}

// logStress logs the workload counts and lock counters the program printed.
func logStress(t *testing.T, serial string) {
	sc := bufio.NewScanner(strings.NewReader(serial))
	for sc.Scan() {
		l := sc.Text()
		if i := strings.Index(l, "STRESS "); i >= 0 {
			t.Log(l[i:])
		}
	}
}

// workloadOps returns each workload's operation count.
func workloadOps(serial string) map[string]int {
	ops := map[string]int{}
	for _, l := range strings.Split(serial, "\n") {
		var name string
		var n int
		if i := strings.Index(l, "STRESS workload "); i >= 0 {
			if _, err := fmt.Sscanf(strings.ReplaceAll(l[i:], "=", " "), "STRESS workload name %s ops %d", &name, &n); err == nil {
				ops[name] = n
			}
		}
	}
	return ops
}

// TestStressShort is make test's run: four CPUs, two seconds of work.
func TestStressShort(t *testing.T) {
	serial := run(t, 4, 4*time.Minute, "-d", "2s")
	ops := workloadOps(serial)
	for _, w := range []string{"pingpong", "mutex", "sleep", "files", "pipes", "fds", "alloc", "fdrace"} {
		if ops[w] == 0 {
			t.Errorf("workload %s made no progress (ops %v)", w, ops)
		}
	}
	// The fd table's and the pipes' locks are classes of their own in
	// kernel.Locks, and the file and pipe workloads take them.
	for _, class := range []string{"fd table", "pipes"} {
		if !regexp.MustCompile(`STRESS lock name="` + class + `" instances=\d+ acquires=[1-9]`).MatchString(serial) {
			t.Errorf("no lock class %q with acquisitions in the counters", class)
		}
	}
}

// TestOffKernelLock checks what docs/locking.md claims: the common case
// of each call it lists as off the kernel lock (pipes', eventfds' reads
// and writes, epoll_ctl and epoll_wait, the futex wake with nobody
// waiting, closing an eventfd's last fd, dup, dup3 and fcntl's commands
// on the fd itself, the network server's readiness reports) takes the kernel
// lock less than once per 20 calls; a path that went back under it takes
// it on every call.
func TestOffKernelLock(t *testing.T) {
	serial := run(t, 2, 3*time.Minute, "-offbkl", "2000")
	if n := strings.Count(serial, "STRESS offbkl ok"); n != 8 {
		t.Errorf("%d calls passed, want 8", n)
	}
}

// TestTrapNesting lets a timer tick into a trap taken in kernel code, on
// one CPU and on two: the trap must come back with its registers whole
// (the stress program's -nest, Velocity's crash call kind 5). Every
// vector enters on IST1; before vkKernelTrap moved such traps onto the
// interrupted kernel stack, the tick started over the handler's frame
// and the machine went astray on the first call.
func TestTrapNesting(t *testing.T) {
	for _, smp := range []int{1, 2} {
		serial := run(t, smp, 90*time.Second, "-nest", "200")
		if !strings.Contains(serial, fmt.Sprintf("STRESS nest calls=%d nested=%d ", 200*smp, 200*smp)) {
			t.Errorf("-smp %d: not every call nested a tick", smp)
		}
	}
}

// TestIdleDeviceWork takes a device interrupt in kernel code just before
// the only CPU goes idle, ten times (the stress program's -idleirq,
// Velocity's crash call kind 6): the idle CPU must do the interrupt's
// deferred work at once and wake the eventfd's reader, not halt past it
// until the next interrupt. When it halted, one request in about a
// thousand under wrk with one connection over tap waited 60-200 ms for
// its frame to be read (docs/net.md).
func TestIdleDeviceWork(t *testing.T) {
	serial := run(t, 1, 90*time.Second, "-idleirq", "10")
	if !strings.Contains(serial, "STRESS idleirq calls=10 slow=0 ") {
		t.Errorf("the idle CPU left device work undone")
	}
}

// TestHaltedWaiterWakes makes a CPU wait for the kernel lock long enough
// to halt (the stress program's -haltwake, Velocity's crash call kind 7)
// and checks that the holder's release wakes it at once: a waiter halts
// after about 20 us of spinning (vkSpinSleep), and a release that forgot
// to send its IPI would leave it asleep until some later interrupt.
func TestHaltedWaiterWakes(t *testing.T) {
	serial := run(t, 2, 90*time.Second, "-haltwake", "20")
	if !strings.Contains(serial, "STRESS haltwake rounds=20 ") || strings.Contains(serial, "STRESS haltwake FAIL") {
		t.Errorf("halted lock waiters were not woken by the release")
	}
}

// TestDyingClose closes a pipe's last write fd, on the path without the
// kernel lock, while another CPU holds that lock (the stress program's
// -dyingclose): the release must wait for the holder, which may still use
// the pipe end it found through the fd, and the reader must then see EOF.
func TestDyingClose(t *testing.T) {
	serial := run(t, 2, 90*time.Second, "-dyingclose", "16")
	if !strings.Contains(serial, "STRESS dyingclose rounds=16 ") || strings.Contains(serial, "STRESS dyingclose FAIL") {
		t.Errorf("a close without the kernel lock did not wait for it, or the reader saw no EOF")
	}
}

// TestLockTakenTwice checks the ownership check itself: a CPU that takes
// the kernel lock it already holds (Velocity's crash call, kind 4) stops
// the machine with the lock's name and the fatal exit code, instead of
// spinning forever.
func TestLockTakenTwice(t *testing.T) {
	testenv.Need(t, "qemu")
	cmdline, err := build.KernelCmdline(nil, []string{"quiet"}, []string{"-relock"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := qemu.Run(context.Background(), qemu.Config{Kernel: testenv.Get(t, kernelOnce), Stub: testenv.Get(t, stubOnce),
		Append: cmdline, Accel: "tcg", Stdout: &out, Timeout: 2 * time.Minute, SMP: 2})
	serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if err != nil {
		t.Fatalf("boot: %v\n%s", err, serial)
	}
	const want = "velocity: lock kernel (BKL) taken again by the CPU that holds it"
	if !strings.Contains(serial, want) || res.ExitCode != 3 {
		t.Fatalf("exit code %d (want 3) and output without %q:\n%s", res.ExitCode, want, serial)
	}
}

// TestFaultRace boots ./faults at -smp 4: page faults on the same pages
// from every CPU at once (each page filled exactly once, no write lost),
// munmap racing faults on other CPUs (a touch after munmap faults, no
// freed frame is reached through a stale translation), and the frame
// accounting back at its baseline afterwards.
func TestFaultRace(t *testing.T) {
	testenv.Need(t, "qemu")
	cmdline, err := build.KernelCmdline(nil, []string{"quiet"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := qemu.Run(context.Background(), qemu.Config{Kernel: testenv.Get(t, faultsOnce), Stub: testenv.Get(t, stubOnce),
		Append: cmdline, Accel: "tcg", Stdout: &out, Timeout: 4 * time.Minute, SMP: 4, Mem: "512M"})
	serial := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if err != nil {
		t.Fatalf("boot: %v\nserial output:\n%s", err, serial)
	}
	if res.ExitCode != 0 || !strings.Contains(serial, "FAULTS ok") {
		t.Fatalf("exit code %d\nserial output:\n%s", res.ExitCode, serial)
	}
	for _, l := range strings.Split(serial, "\n") {
		if i := strings.Index(l, "FAULTS "); i >= 0 {
			t.Log(l[i:])
		}
	}
	t.Logf("finished in %v", res.Elapsed.Round(time.Millisecond))
}

// TestStressLong runs longer on four and eight CPUs (-locks.long).
func TestStressLong(t *testing.T) {
	if !*long {
		t.Skip("-locks.long not set")
	}
	for _, smp := range []int{4, 8} {
		t.Run(fmt.Sprintf("smp%d", smp), func(t *testing.T) {
			run(t, smp, 3**longD*6+5*time.Minute, "-d", longD.String())
		})
	}
}
