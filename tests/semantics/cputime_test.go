package semantics

import (
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// cpuClock reads one of the CPU-time clocks with the raw system call (not
// the vDSO), so the kernel's answer is what is tested.
func cpuClock(t *testing.T, id uintptr) time.Duration {
	var ts syscall.Timespec
	if _, _, e := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, id, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		t.Fatalf("clock_gettime(%d): %v", id, e)
	}
	return time.Duration(ts.Nano())
}

const (
	clockProcessCPU = 2
	clockThreadCPU  = 3
)

func rusage(t *testing.T, who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		t.Fatalf("getrusage(%d): %v", who, err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// burn spins until this thread's CPU clock has advanced by d. It locks
// the goroutine to its thread while it spins: a goroutine that moved to
// another thread would compare that thread's clock with the first one's,
// and a thread that had already run longer would end the burn at once
// (seen at -smp 4: "300ms" burned in 38ms of wall time).
func burn(t *testing.T, d time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	end := cpuClock(t, clockThreadCPU) + d
	x := 0
	for cpuClock(t, clockThreadCPU) < end {
		for i := 0; i < 1000; i++ {
			x += i
		}
	}
	_ = x
}

// TestCPUTimeAccounting checks what Go's profiler and programs timing
// themselves rely on: the process's CPU time (getrusage RUSAGE_SELF,
// CLOCK_PROCESS_CPUTIME_ID) covers the work of every thread, including
// threads that have exited, and never runs backwards; a thread's own
// (RUSAGE_THREAD, CLOCK_THREAD_CPUTIME_ID) is part of it.
func TestCPUTimeAccounting(t *testing.T) {
	const work = 150 * time.Millisecond
	self0 := rusage(t, syscall.RUSAGE_SELF)
	proc0 := cpuClock(t, clockProcessCPU)

	// Two threads burn CPU; one of them exits when done (a goroutine that
	// ends locked to its thread takes the thread with it).
	done := make(chan struct{}, 2)
	for i := 0; i < 2; i++ {
		go func(exit bool) {
			runtime.LockOSThread()
			burn(t, work)
			if !exit {
				runtime.UnlockOSThread()
			}
			done <- struct{}{}
		}(i == 0)
	}
	<-done
	<-done
	time.Sleep(20 * time.Millisecond) // let the exiting thread be switched out for good

	self1 := rusage(t, syscall.RUSAGE_SELF)
	proc1 := cpuClock(t, clockProcessCPU)
	if d := self1 - self0; d < 2*work {
		t.Errorf("getrusage(RUSAGE_SELF) grew by %v over two threads' %v each: the work of a thread (perhaps the exited one) is missing", d, work)
	}
	if d := proc1 - proc0; d < 2*work {
		t.Errorf("CLOCK_PROCESS_CPUTIME_ID grew by %v over two threads' %v each", d, work)
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	th := rusage(t, syscall.RUSAGE_THREAD)
	if all := rusage(t, syscall.RUSAGE_SELF); th > all {
		t.Errorf("RUSAGE_THREAD %v > RUSAGE_SELF %v", th, all)
	}
	if tc, pc := cpuClock(t, clockThreadCPU), cpuClock(t, clockProcessCPU); tc > pc {
		t.Errorf("thread CPU clock %v > process CPU clock %v", tc, pc)
	}

	// Monotonic under concurrent switching: other threads come and go.
	stop := make(chan struct{})
	for i := 0; i < 3; i++ {
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
					runtime.Gosched()
				}
			}
		}()
	}
	prev := cpuClock(t, clockProcessCPU)
	for i := 0; i < 20000; i++ {
		now := cpuClock(t, clockProcessCPU)
		if now < prev {
			t.Fatalf("CLOCK_PROCESS_CPUTIME_ID went back from %v to %v", prev, now)
		}
		prev = now
	}
	close(stop)

	var ru syscall.Rusage
	if err := syscall.Getrusage(2, &ru); err != syscall.EINVAL {
		t.Errorf("getrusage(2) = %v, want EINVAL", err)
	}
}
