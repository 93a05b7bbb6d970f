package kernel

import (
	"errors"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// On a Linux host the Velocity syscalls must fail cleanly; inside the
// unikernel (velocity test ./kernel) they must describe a real machine.
func TestReadInfo(t *testing.T) {
	in, err := ReadInfo()
	if errors.Is(err, ErrNotVelocity) {
		if OnVelocity() {
			t.Fatal("OnVelocity is true although ReadInfo says otherwise")
		}
		t.Skip("not on Velocity")
	}
	if err != nil {
		t.Fatal(err)
	}
	if in.CPUs < 1 || in.TSCHz < 1e6 || in.MemTotal < 16<<20 || in.MemFree > in.MemTotal {
		t.Fatalf("implausible info: %+v", in)
	}
	if in.KernelReady <= in.StubEntry || in.KernelReady > SincePowerOn() {
		t.Fatalf("boot times out of order: stub %v kernel %v now %v", in.StubEntry, in.KernelReady, SincePowerOn())
	}
	if in.Syscalls == 0 || in.Threads < 1 || in.PageFaults == 0 {
		t.Fatalf("counters not moving: %+v", in)
	}
	t.Logf("%+v", in)
}

// The runtime reads the clock through the kernel's vDSO: time.Now costs no
// system call on Velocity.
func TestClockNeedsNoSyscall(t *testing.T) {
	before, err := ReadInfo()
	if errors.Is(err, ErrNotVelocity) {
		t.Skip("not on Velocity")
	}
	start := time.Now()
	prev := start
	for i := 0; i < 10000; i++ {
		now := time.Now()
		if now.Before(prev) {
			t.Fatalf("time went backwards: %v then %v", prev, now)
		}
		prev = now
	}
	after, _ := ReadInfo()
	// The count is the machine's: the second ReadInfo is itself a
	// syscall, and the runtime's other threads (sysmon, the GC) make
	// more meanwhile, the more the slower the loop runs: 58 once with
	// the host's two CPUs busy. A time.Now that trapped would make at
	// least 10,000.
	if n := after.Syscalls - before.Syscalls; n > 1000 {
		t.Fatalf("10000 time.Now calls made %d system calls", n)
	}
	if d := time.Since(start); d <= 0 {
		t.Fatalf("no time passed: %v", d)
	}
}

func TestFramebufferOnHost(t *testing.T) {
	if OnVelocity() {
		t.Skip("on Velocity: tests/canvas checks the framebuffer")
	}
	if _, err := BootFramebuffer(); err != ErrNotVelocity {
		t.Errorf("BootFramebuffer on a host: %v, want ErrNotVelocity", err)
	}
	if _, err := MapDevice(0xfd000000, 4096); err != ErrNotVelocity {
		t.Errorf("MapDevice on a host: %v, want ErrNotVelocity", err)
	}
}

// TestMapDevice runs inside the unikernel (tests/boot runs package
// kernel's tests there): device memory maps once, uncached and owned by
// the kernel; RAM and bad ranges are refused.
func TestMapDevice(t *testing.T) {
	if !OnVelocity() {
		t.Skip("needs the Velocity kernel (TestFramebufferOnHost covers the host)")
	}
	for _, c := range []struct {
		phys uint64
		size int
		want error
	}{
		{16 << 20, 4096, syscall.EPERM},       // the kernel image: RAM
		{1 << 20, 1 << 20, syscall.EPERM},     // low RAM
		{0xfd000000, 0, syscall.EINVAL},       // nothing
		{1 << 50, 4096, syscall.EINVAL},       // beyond physical addresses
		{0xfd000000, 1 << 30, syscall.EINVAL}, // larger than any display
	} {
		if _, err := MapDevice(c.phys, c.size); err != c.want {
			t.Errorf("MapDevice(%#x, %d) = %v, want %v", c.phys, c.size, err, c.want)
		}
	}
	// Above the RAM of a small machine: QEMU's std VGA memory.
	a, err := MapDevice(0xfd000000, 8192)
	if err != nil {
		t.Fatal(err)
	}
	b, err := MapDevice(0xfd000000, 8192)
	if err != nil || &a[0] != &b[0] {
		t.Errorf("the same range mapped twice at %p and %p (%v)", &a[0], &b[0], err)
	}
	if err := syscall.Munmap(a); err != syscall.EINVAL {
		t.Errorf("munmap of a device mapping: %v, want EINVAL (kernel-owned)", err)
	}
	fb, err := BootFramebuffer()
	if err != nil && err != ErrNoFramebuffer {
		t.Errorf("BootFramebuffer: %v", err)
	}
	if err == nil && (fb.Width <= 0 || fb.Height <= 0 || fb.Pitch < fb.Width*fb.BPP/8) {
		t.Errorf("boot framebuffer %+v", fb)
	}
}

// Each CPU flushes its whole TLB every tlbrefresh= milliseconds from its
// timer tick, so that QEMU's TCG grows its software TLB
// (runtime/vk_tlbrefresh.go): 500 ms with both CPUs busy and a sleeper
// waking every millisecond, more than twice the default period of 200,
// must count some, and none when the command line says tlbrefresh=0
// (tests/boot boots it both ways).
func TestTLBRefresh(t *testing.T) {
	before, err := ReadInfo()
	if errors.Is(err, ErrNotVelocity) {
		t.Skip("not on Velocity")
	}
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	off := slices.Contains(strings.Fields(string(cmdline)), "tlbrefresh=0")
	stop := time.Now().Add(500 * time.Millisecond)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for time.Now().Before(stop) {
			}
		})
	}
	for time.Now().Before(stop) {
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	after, err := ReadInfo()
	if err != nil {
		t.Fatal(err)
	}
	n := after.TLBRefreshes - before.TLBRefreshes
	t.Logf("%d whole-TLB flushes in 500 ms on %d CPUs (tlbrefresh=0: %v)", n, after.CPUs, off)
	if off && n != 0 {
		t.Fatalf("tlbrefresh=0, yet the CPUs flushed their TLBs %d times", n)
	}
	if !off && n == 0 {
		t.Fatal("no whole-TLB flush in 500 ms of busy CPUs")
	}
}

// TestNetStackStats: a host has none of the stack's counters; on Velocity
// a binary with the stack has them and one without says so, never with
// counters made up.
func TestNetStackStats(t *testing.T) {
	s, err := NetStackStats()
	switch {
	case !OnVelocity():
		if err != ErrNotVelocity {
			t.Errorf("NetStackStats on a host: %v, want ErrNotVelocity", err)
		}
	case err == ErrNoStack:
		if s != (StackStats{}) {
			t.Errorf("no stack, yet counters: %+v", s)
		}
	case err != nil:
		t.Errorf("NetStackStats: %v", err)
	case s.IPMalformed > s.IPPacketsReceived:
		t.Errorf("counters that cannot be: %+v", s)
	}
}

// TestCPUCounters: each CPU's IPIs, halts and halted time move as the
// machine idles and wakes threads across CPUs, and stay within what the
// elapsed time allows.
func TestCPUCounters(t *testing.T) {
	before, err := ReadInfo()
	if errors.Is(err, ErrNotVelocity) {
		t.Skip("not on Velocity")
	}
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// Idle spells, and hand-offs between goroutines that the runtime
	// spreads over its threads (and so, with two CPUs, over both).
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	for i := 0; i < 200; i++ {
		ping <- i
		<-pong
		if i%20 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	close(ping)
	after, err := ReadInfo()
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	var ipis, halts uint64
	var halted time.Duration
	for i := range after.PerCPU {
		a, b := after.PerCPU[i], before.PerCPU[i]
		if a.IPIs < b.IPIs || a.Halts < b.Halts || a.Halted < b.Halted {
			t.Fatalf("cpu%d's counters went back: %+v then %+v", i, b, a)
		}
		if d := a.Halted - b.Halted; d > elapsed+10*time.Millisecond {
			t.Errorf("cpu%d halted %v in %v", i, d, elapsed)
		}
		ipis += a.IPIs - b.IPIs
		halts += a.Halts - b.Halts
		halted += a.Halted - b.Halted
	}
	if halts == 0 || halted == 0 {
		t.Errorf("no CPU halted during 50 ms of sleeps: %d halts, %v", halts, halted)
	}
	if after.CPUs >= 2 && ipis == 0 {
		t.Errorf("%d CPUs, and no IPI during 200 hand-offs and 10 sleeps", after.CPUs)
	}
	t.Logf("%v: %d IPIs, %d halts, %v halted", elapsed, ipis, halts, halted)
}
