package semantics

import (
	"bytes"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// TestCPUProfileSkipsIdle checks that Go's CPU profiler (setitimer
// ITIMER_PROF and SIGPROF) counts CPU time, not time spent waiting: the
// samples of a program that sleeps in short steps must add up to about
// the CPU time getrusage reports, far below the wall time, and a program
// that burns CPU must get its samples. A kernel that measured the profiling interval in wall
// time delivered a SIGPROF at the first instruction after every wait that
// outlasted it, which showed a mostly idle server at 150% CPU.
func TestCPUProfileSkipsIdle(t *testing.T) {
	sampled := func(work func()) (cpu, used, wall time.Duration) {
		var buf bytes.Buffer
		used = -rusage(t, syscall.RUSAGE_SELF)
		if err := pprof.StartCPUProfile(&buf); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		work()
		wall = time.Since(start)
		pprof.StopCPUProfile()
		used += rusage(t, syscall.RUSAGE_SELF)
		p, err := profile.Parse(&buf)
		if err != nil {
			t.Fatalf("parsing the profile: %v", err)
		}
		for _, s := range p.Sample {
			cpu += time.Duration(s.Value[1]) // samples/count, cpu/nanoseconds
		}
		return cpu, used, wall
	}

	// Waiting: 2 ms sleeps, and a goroutine woken through a channel each
	// time, for about 600 ms.
	cpu, used, wall := sampled(func() {
		ch := make(chan int)
		done := make(chan struct{})
		go func() {
			for range ch {
			}
			close(done)
		}()
		for end := time.Now().Add(600 * time.Millisecond); time.Now().Before(end); {
			time.Sleep(2 * time.Millisecond)
			ch <- 1
		}
		close(ch)
		<-done
	})
	t.Logf("sleeping: %v of CPU samples, getrusage %v, over %v", cpu, used, wall)
	// Against the CPU time the process used, not the wall time: at -smp 4
	// on a 2-CPU host, Go's spinning threads really used 378 ms of CPU in
	// 603 ms of a "sleeping" program, and 330 ms of samples were right.
	if cpu > used*3/2+50*time.Millisecond {
		t.Errorf("a program that sleeps got %v of CPU samples in %v, with %v of CPU time: waiting was counted as CPU time", cpu, wall, used)
	}

	// Burning: the samples must be there.
	cpu, used, wall = sampled(func() { burn(t, 300*time.Millisecond) })
	t.Logf("burning: %v of CPU samples, getrusage %v, over %v", cpu, used, wall)
	if cpu < 100*time.Millisecond {
		t.Errorf("a thread that burned 300ms of CPU got only %v of CPU samples", cpu)
	}
}
