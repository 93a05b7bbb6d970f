package patch

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestTrackerWaitsForEarlierCalls: code retired while a call is inside it
// is freed only after that call exits; calls that enter later do not hold
// it up.
func TestTrackerWaitsForEarlierCalls(t *testing.T) {
	var tr Tracker
	tok := tr.Enter()
	var freed atomic.Bool
	done := make(chan struct{})
	tr.Retire(func() { freed.Store(true); close(done) })
	for i := 0; i < 1000; i++ {
		runtime.Gosched()
		if freed.Load() {
			t.Fatal("freed while a call that entered before Retire was still inside")
		}
	}
	// A call that enters once the retirement's grace period has begun
	// must not hold it up. Wait for that beginning (the phase flip):
	// without it, a Retire goroutine not yet run (its CPU's thread
	// preempted by the host) let this call enter the old phase, and
	// <-done below waited for ever (CI, 2026-12-06, in the kernel).
	for tr.phase.Load()&1 == 0 {
		runtime.Gosched()
	}
	later := tr.Enter() // enters after the retirement began: must not block it
	tr.Exit(tok)
	<-done
	tr.Exit(later)
	tr.Synchronize() // nothing inside: returns
}

// TestTrackerUnderLoad: many goroutines enter and exit while another
// retires objects; no retired object is ever used after it was freed.
func TestTrackerUnderLoad(t *testing.T) {
	var tr Tracker
	type obj struct{ freed atomic.Bool }
	var cur atomic.Pointer[obj]
	cur.Store(&obj{})
	var bad atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				tok := tr.Enter()
				o := cur.Load()
				for i := 0; i < 10; i++ {
					if o.freed.Load() {
						bad.Add(1)
					}
				}
				tr.Exit(tok)
			}
		}()
	}
	for i := 0; i < 300; i++ {
		old := cur.Swap(&obj{})
		tr.Synchronize()
		old.freed.Store(true)
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d uses of freed objects", bad.Load())
	}
}
