package semantics

import (
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// POSIX timers (timer_create and friends), the per-thread CPU timers Go's
// profiler prefers to setitimer. Go has no wrapper for them, so these
// tests make the system calls themselves; they pass on Linux, and inside
// Velocity.

const (
	clockRealtime   = 0
	clockMonotonic  = 1
	sigevSignal     = 0
	sigevNone       = 1
	sigevThreadID   = 4
	timerAbstime    = 1
	sysTimerCreate  = 222
	sysTimerSettime = 223
	sysTimerGettime = 224
	sysTimerOverrun = 225
	sysTimerDelete  = 226
)

type sigevent struct {
	value  uint64
	signo  int32
	notify int32
	tid    int32
	_      [44]byte
}

type itimerspec struct{ interval, value syscall.Timespec }

func timerCreate(t *testing.T, clock int, ev *sigevent) int32 {
	t.Helper()
	var id int32
	if _, _, e := syscall.Syscall(sysTimerCreate, uintptr(clock), uintptr(unsafe.Pointer(ev)), uintptr(unsafe.Pointer(&id))); e != 0 {
		t.Fatalf("timer_create(%d): %v", clock, e)
	}
	t.Cleanup(func() { syscall.Syscall(sysTimerDelete, uintptr(id), 0, 0) })
	return id
}

func timerSet(t *testing.T, id int32, flags int, interval, value time.Duration) {
	t.Helper()
	spec := itimerspec{syscall.NsecToTimespec(int64(interval)), syscall.NsecToTimespec(int64(value))}
	if _, _, e := syscall.Syscall6(sysTimerSettime, uintptr(id), uintptr(flags), uintptr(unsafe.Pointer(&spec)), 0, 0, 0); e != 0 {
		t.Fatalf("timer_settime: %v", e)
	}
}

func timerGet(t *testing.T, id int32) (interval, left time.Duration) {
	t.Helper()
	var spec itimerspec
	if _, _, e := syscall.Syscall(sysTimerGettime, uintptr(id), uintptr(unsafe.Pointer(&spec)), 0); e != 0 {
		t.Fatalf("timer_gettime: %v", e)
	}
	return time.Duration(spec.interval.Nano()), time.Duration(spec.value.Nano())
}

// count drains ch for d and says how many signals came.
func count(ch chan os.Signal, d time.Duration) int {
	n := 0
	for end := time.After(d); ; {
		select {
		case <-ch:
			n++
		case <-end:
			return n
		}
	}
}

// TestThreadCPUTimer: a timer on the thread's own CPU clock sends its
// signal to that thread while it computes, and its clock stands still
// while the thread sleeps.
func TestThreadCPUTimer(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ch := make(chan os.Signal, 64)
	signal.Notify(ch, syscall.SIGUSR1)
	defer signal.Stop(ch)
	id := timerCreate(t, clockThreadCPU, &sigevent{value: 7, signo: int32(syscall.SIGUSR1), notify: sigevThreadID, tid: int32(syscall.Gettid())})
	timerSet(t, id, 0, 10*time.Millisecond, 10*time.Millisecond)

	burn(t, 200*time.Millisecond)
	got := count(ch, 100*time.Millisecond)
	var over uintptr
	if r, _, e := syscall.Syscall(sysTimerOverrun, uintptr(id), 0, 0); e != 0 {
		t.Fatalf("timer_getoverrun: %v", e)
	} else {
		over = r
	}
	t.Logf("200 ms of thread CPU time at a 10 ms interval: %d signals (last overrun %d)", got, over)
	if got < 5 || got > 22 {
		t.Errorf("%d signals for 20 intervals of CPU time", got)
	}

	// Asleep, the thread's clock stops, and so does its timer.
	interval, before := timerGet(t, id)
	if interval != 10*time.Millisecond || before <= 0 || before > 10*time.Millisecond {
		t.Fatalf("timer_gettime: interval %v, left %v; want 10ms, (0, 10ms]", interval, before)
	}
	timerSet(t, id, 0, 0, time.Second) // one second of CPU time: well past the sleep
	count(ch, 20*time.Millisecond)     // a signal of the busy phase still on its way (seen under load)
	time.Sleep(150 * time.Millisecond)
	_, after := timerGet(t, id)
	if used := time.Second - after; used > 50*time.Millisecond {
		t.Errorf("the timer advanced %v while its thread slept 150 ms", used)
	}
	if n := count(ch, 0); n != 0 {
		t.Errorf("%d signals while the thread slept", n)
	}
}

// TestWallTimer: a periodic CLOCK_MONOTONIC timer signals the program at
// its rate; a deleted one is silent, its pending signal withdrawn; an
// absolute CLOCK_REALTIME one-shot fires once and then reads as disarmed.
func TestWallTimer(t *testing.T) {
	ch := make(chan os.Signal, 64)
	signal.Notify(ch, syscall.SIGUSR2)
	defer signal.Stop(ch)
	id := timerCreate(t, clockMonotonic, &sigevent{signo: int32(syscall.SIGUSR2), notify: sigevSignal})
	timerSet(t, id, 0, 20*time.Millisecond, 20*time.Millisecond)
	got := count(ch, 300*time.Millisecond)
	t.Logf("300 ms at a 20 ms interval: %d signals", got)
	if got < 3 || got > 16 {
		t.Errorf("%d signals in 15 intervals", got)
	}
	if _, _, e := syscall.Syscall(sysTimerDelete, uintptr(id), 0, 0); e != 0 {
		t.Fatalf("timer_delete: %v", e)
	}
	count(ch, 30*time.Millisecond) // what the signal goroutine already had
	if n := count(ch, 100*time.Millisecond); n != 0 {
		t.Errorf("%d signals after timer_delete", n)
	}
	if _, _, e := syscall.Syscall(sysTimerDelete, uintptr(id), 0, 0); e != syscall.EINVAL {
		t.Errorf("timer_delete of a deleted timer: %v, want EINVAL", e)
	}

	once := timerCreate(t, clockRealtime, &sigevent{signo: int32(syscall.SIGUSR2), notify: sigevSignal})
	timerSet(t, once, timerAbstime, 0, cpuClock(t, clockRealtime)+50*time.Millisecond)
	start := time.Now()
	select {
	case <-ch:
		if d := time.Since(start); d < 40*time.Millisecond {
			t.Errorf("an absolute timer 50 ms ahead fired after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an absolute CLOCK_REALTIME timer 50 ms ahead did not fire in 5 s")
	}
	if interval, left := timerGet(t, once); interval != 0 || left != 0 {
		t.Errorf("a fired one-shot reads interval %v, left %v; want 0, 0", interval, left)
	}
	if n := count(ch, 60*time.Millisecond); n != 0 {
		t.Errorf("a one-shot timer fired %d more times", n)
	}
}

// TestTimerNoSignal: a SIGEV_NONE timer sends nothing, and counts down.
func TestTimerNoSignal(t *testing.T) {
	id := timerCreate(t, clockMonotonic, &sigevent{notify: sigevNone})
	timerSet(t, id, 0, 0, time.Second)
	_, a := timerGet(t, id)
	time.Sleep(50 * time.Millisecond)
	_, b := timerGet(t, id)
	if a <= b || a-b < 40*time.Millisecond || a > time.Second {
		t.Errorf("a SIGEV_NONE timer read %v, then %v 50 ms later", a, b)
	}
}
