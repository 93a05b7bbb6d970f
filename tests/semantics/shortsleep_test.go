package semantics

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/velocityos/velocity/kernel"
)

// TestShortNanosleep: a sleep of a few microseconds, the Go scheduler's
// usleep(3), lasts at least what it asked for, on Linux and on Velocity
// (which serves it by spinning; runtime/vk_lockpath.go, vkSpinSleepMax).
// A signal (Go preempts goroutines with SIGURG) ends a sleep early with
// EINTR and the time left, which is slept again, as the rule allows.
func TestShortNanosleep(t *testing.T) {
	for _, d := range []time.Duration{time.Microsecond, 3 * time.Microsecond, 10 * time.Microsecond, 11 * time.Microsecond} {
		for i := 0; i < 200; i++ {
			ts := syscall.NsecToTimespec(int64(d))
			start := time.Now()
			for {
				var rem syscall.Timespec
				err := syscall.Nanosleep(&ts, &rem)
				if err == nil {
					break
				}
				if err != syscall.EINTR {
					t.Fatalf("nanosleep(%v): %v", d, err)
				}
				// Linux counts the time left to the end of its timer
				// slack (50 us), so rem may exceed the request.
				if rem.Nano() < 0 {
					t.Fatalf("nanosleep(%v): EINTR with %v left", d, time.Duration(rem.Nano()))
				}
				ts = rem
			}
			if el := time.Since(start); el < d {
				t.Fatalf("nanosleep(%v) returned after %v", d, el)
			}
		}
	}
}

// TestShortSleepKeepsCPU: on Velocity a sleep of up to 5 us with nothing
// else to run keeps its CPU (it spins) instead of switching to the idle
// loop and back: 2,000 sleeps of 3 us must cost far fewer than the 2,000
// or more thread switches that blocking costs. A thread queued on the
// sleeper's CPU takes it by design, so the test needs a CPU of its own:
// it runs on two CPUs or more, pinned to the last, and counts the best of
// three tries (a kernel that never spins switches in every one).
func TestShortSleepKeepsCPU(t *testing.T) {
	if !kernel.OnVelocity() {
		t.Skip("Velocity's short sleeps: Linux gives the CPU up")
	}
	cpus := runtime.NumCPU()
	if cpus < 2 {
		t.Skip("one CPU: the runtime's other threads are queued with the sleeper, which then gives the CPU to them")
	}
	unpin, err := kernel.Pin(cpus - 1)
	if err != nil {
		t.Fatal(err)
	}
	defer unpin()
	const n = 2000
	best := uint64(1 << 62)
	for try := 0; try < 3; try++ {
		before, err := kernel.ReadInfo()
		if err != nil {
			t.Fatal(err)
		}
		ts := syscall.NsecToTimespec(3000)
		for i := 0; i < n; i++ {
			syscall.Nanosleep(&ts, nil)
		}
		after, err := kernel.ReadInfo()
		if err != nil {
			t.Fatal(err)
		}
		sw := after.Switches - before.Switches
		t.Logf("%d sleeps of 3 us on CPU %d: %d thread switches in the whole machine", n, cpus-1, sw)
		best = min(best, sw)
	}
	if best > n/4 {
		t.Fatalf("%d sleeps of 3 us cost at least %d thread switches: the sleeps gave the CPU away", n, best)
	}
}
