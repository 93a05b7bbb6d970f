package semantics

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// What a Go program relies on across a system call is X15 = 0 (the zero
// register of Go's ABIInternal, which the SYSCALL in
// internal/runtime/syscall.Syscall6 returns into) and its x87 control
// word and MXCSR; no Go code keeps other vector registers live across a
// call. Velocity's system call entry saves no vector state on that basis
// (runtime/HACKING.md, "FPU rules"); Linux saves everything. These tests
// hold on both.

const (
	mxcsrRZ, fcwRZ = 0x7F80, 0x0F7F // round toward zero, all exceptions masked
	mxcsrRD, fcwRD = 0x3F80, 0x077F // round down
)

// checkAfter compares what the hold functions returned with what Go
// needs: X15 zero, and the control registers as set before the call
// (MXCSR's status flags, bits 0-5, may change).
func checkAfter(what string, x15, mx, cw, wantMX, wantCW uint64) error {
	if x15 != 0 {
		return fmt.Errorf("%s: X15 = %#x after the system call, want 0", what, x15)
	}
	if mx&^0x3F != wantMX {
		return fmt.Errorf("%s: MXCSR = %#x after the system call, want %#x", what, mx, wantMX)
	}
	if cw&0x1F7F != wantCW&0x1F7F {
		return fmt.Errorf("%s: x87 control word = %#x after the system call, want %#x", what, cw, wantCW)
	}
	return nil
}

// firstCPU returns a CPU the calling thread may run on.
func firstCPU() (int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, err
	}
	for i := 0; i < 1024; i++ {
		if set.IsSet(i) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("empty affinity mask")
}

// Two threads pinned to one CPU hand a futex word back and forth, each
// with its own rounding mode in MXCSR and the x87 control word, so a
// thread that blocked resumes after the other ran on that CPU with other
// control values in the registers; each also makes waits that return at
// once (EAGAIN), with no switch. After every wait X15 is zero and the
// thread's own control values are back.
func TestFPUControlAcrossBlockingSyscalls(t *testing.T) {
	cpu, err := firstCPU()
	if err != nil {
		t.Fatal(err)
	}
	// Each waiting thread keeps its P (futexWaitHold), so both need one.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(3, runtime.GOMAXPROCS(0))))
	const rounds = 400
	ts := syscall.Timespec{Nsec: 20e6}
	var word uint32
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	var waits, blocked atomic.Int64
	// A side that sees a wrong value reports it and goes on handing the
	// word over, so the other side is never left waiting.
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	side := func(mine, next uint32, mx, cw, seed uint64) {
		defer wg.Done()
		// Locked and never unlocked: the thread, whose affinity this
		// changes, ends with the goroutine.
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			report(err) // both sides share a CPU or neither does: go on
		}
		for i := 0; i < rounds; i++ {
			for {
				v := atomic.LoadUint32(&word)
				if v == mine {
					break
				}
				r, x15, gotMX, gotCW := futexWaitHold(&word, uint64(v), mx, cw, seed, &ts)
				waits.Add(1)
				if r == 0 {
					blocked.Add(1)
				}
				if err := checkAfter("futex wait", x15, gotMX, gotCW, mx, cw); err != nil {
					report(err)
				}
			}
			// The word is never 2: EAGAIN at once, no thread switch.
			r, x15, gotMX, gotCW := futexWaitHold(&word, 2, mx, cw, seed, &ts)
			if int64(r) != -int64(syscall.EAGAIN) {
				report(fmt.Errorf("futex wait on a changed word returned %d, want -EAGAIN", int64(r)))
			}
			if err := checkAfter("futex wait (EAGAIN)", x15, gotMX, gotCW, mx, cw); err != nil {
				report(err)
			}
			atomic.StoreUint32(&word, next)
			syscall.RawSyscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&word)), 129 /* FUTEX_WAKE_PRIVATE */, 1, 0, 0, 0)
		}
	}
	wg.Add(2)
	go side(0, 1, mxcsrRZ, fcwRZ, 0x1000)
	go side(1, 0, mxcsrRD, fcwRD, 0x2000)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d round trips on CPU %d, %d futex waits, %d woken after blocking", rounds, cpu, waits.Load(), blocked.Load())
}

// A signal delivered on the way out of a system call gets a frame whose
// FPU state is the thread's as Go sees it, and rt_sigreturn brings that
// back: the thread first takes a page fault with X15 nonzero (so the
// kernel's last full save of its state has that X15), zeroes X15, sets
// its rounding modes and sends itself SIGUSR1; after the handler, X15 is
// zero and the modes are still set.
func TestSignalAfterSyscallKeepsFPU(t *testing.T) {
	ch := make(chan os.Signal, 256)
	signal.Notify(ch, syscall.SIGUSR1)
	defer signal.Stop(ch)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, tid := uint64(os.Getpid()), uint64(syscall.Gettid())
	const n = 64
	for i := 0; i < n; i++ {
		page, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			t.Fatal(err)
		}
		r, x15, mx, cw := faultThenSignal(uint64(uintptr(unsafe.Pointer(&page[0]))), pid, tid,
			uint64(syscall.SIGUSR1), mxcsrRD, fcwRD, 0x5A5A5A5A00000000+uint64(i))
		if page[0] != 1 {
			t.Fatalf("the byte written through the fault is %d", page[0])
		}
		syscall.Munmap(page)
		if r != 0 {
			t.Fatalf("tgkill returned %d", int64(r))
		}
		if err := checkAfter("tgkill with a signal handler", x15, mx, cw, mxcsrRD, fcwRD); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no SIGUSR1 arrived")
	}
}
