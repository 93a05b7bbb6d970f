package patch

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Tracker tells when code that a patch took out of use can be freed: a JIT
// blob that a redirected entry no longer reaches may still be executing on
// threads that entered it before the patch (or be preempted inside it). The
// patcher cannot see those threads, so callers of such code announce their
// calls: Enter before jumping into patchable code, Exit after it returned.
// Synchronize returns once every call that had entered before it began has
// exited, in the manner of Linux's SRCU: two counters, and a phase bit that
// says which one new calls increment.
//
// Go functions need none of this: a replaced Go body stays in the binary.
type Tracker struct {
	mu    sync.Mutex // one Synchronize at a time
	phase atomic.Uint32
	count [2]atomic.Int64
}

// Enter marks the start of a call into tracked code; pass its result to Exit.
func (t *Tracker) Enter() uint32 {
	for {
		p := t.phase.Load() & 1
		t.count[p].Add(1)
		// If Synchronize flipped the phase in between, it may already be
		// waiting for count[p^1] only: undo and use the new phase, so no
		// call slips past a grace period that should cover it.
		if t.phase.Load()&1 == p {
			return p
		}
		t.count[p].Add(-1)
	}
}

// Exit marks the end of the call that Enter returned token for.
func (t *Tracker) Exit(token uint32) { t.count[token&1].Add(-1) }

// Synchronize waits until every call that entered before it was called has
// exited. Calls that enter meanwhile do not delay it beyond one flip.
func (t *Tracker) Synchronize() {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.phase.Load() & 1
	t.phase.Add(1)
	for t.count[old].Load() != 0 {
		runtime.Gosched()
	}
}

// Retire runs free (for example, unmapping a JIT blob) once no call that
// entered before Retire can still be executing the retired code.
func (t *Tracker) Retire(free func()) {
	go func() {
		t.Synchronize()
		free()
	}()
}
