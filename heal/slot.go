package heal

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/telemetry"
)

// Version is one compiled body of a slot's function.
type Version struct {
	Func   *ir.Func     // the IR (hashed: Func.CID is set)
	Prog   *jit.Program // instrumented code
	Passes []string     // how it was produced ("original", or optimizer passes / advisor name)
	CID    string

	inflight atomic.Int64 // callers that may be executing Prog
	mu       sync.Mutex
	profiles []*jit.Profile // one per Caller that ran this version
	closed   bool
}

// Stats merges the telemetry of every caller that ran the version.
func (v *Version) Stats() telemetry.Stats {
	v.mu.Lock()
	defer v.mu.Unlock()
	var s telemetry.Stats
	for _, p := range v.profiles {
		if st, ok := p.Stats(v.Func); ok {
			s.Merge(st)
		}
	}
	return s
}

// InFlight is the number of callers that may be inside the version.
func (v *Version) InFlight() int64 { return v.inflight.Load() }

// newVersion compiles f with telemetry and loads it (lang/validate checks
// the machine code on load).
func newVersion(f *ir.Func, passes []string) (*Version, error) {
	c, err := jit.CompileInstrumented(f)
	if err != nil {
		return nil, err
	}
	p, err := jit.Load(c)
	if err != nil {
		return nil, err
	}
	v := &Version{Func: f, Prog: p, Passes: passes}
	if f.CID.Defined() {
		v.CID = f.CID.String()
	}
	return v, nil
}

// Slot is a hot-swappable function: the entry every caller goes through.
// The current version is one pointer, read once per call and replaced by
// one atomic 8-byte store, so a swap is safe on any number of CPUs:
// a call runs entirely in the version it loaded.
type Slot struct {
	Name string
	cur  atomic.Pointer[Version]

	recMu  sync.Mutex
	ring   [][]interp.Value // recent argument tuples (slices copied)
	ringAt int
	RingN  int    // ring size (default 64)
	Every  uint64 // record one call in Every (default 8)
	seq    atomic.Uint64

	swaps atomic.Int64
}

// NewSlot compiles f (its CID must be set) as the slot's first version.
func NewSlot(name string, f *ir.Func) (*Slot, error) {
	v, err := newVersion(f, []string{"original"})
	if err != nil {
		return nil, err
	}
	s := &Slot{Name: name, RingN: 64, Every: 8}
	s.cur.Store(v)
	return s, nil
}

// Current returns the current version.
func (s *Slot) Current() *Version { return s.cur.Load() }

// Swaps is the number of swaps so far.
func (s *Slot) Swaps() int64 { return s.swaps.Load() }

// Swap makes v current and returns the previous version after waiting
// (up to timeout) until no caller can still be executing it; it is then
// safe to close. The pause callers can observe is zero: they never wait.
func (s *Slot) Swap(v *Version, timeout time.Duration) (old *Version, err error) {
	old = s.Publish(v)
	if err := old.quiesce(timeout); err != nil {
		return old, err
	}
	return old, nil
}

// Publish makes v current (one atomic 8-byte store) and returns the
// previous version, which callers may still be executing: quiesce it
// (Swap does) before closing it.
func (s *Slot) Publish(v *Version) *Version {
	old := s.cur.Swap(v)
	s.swaps.Add(1)
	return old
}

// Quiesce waits (up to timeout) until no caller can be inside v.
func (v *Version) Quiesce(timeout time.Duration) error { return v.quiesce(timeout) }

// quiesce waits until no caller is inside v. Callers increment inflight
// and then re-check that v is still current (see Caller.Call), so once a
// swap is published and inflight reads zero, no caller can enter v again.
func (v *Version) quiesce(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for v.inflight.Load() != 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("heal: %d callers still inside %s after %v", v.inflight.Load(), v.CID, timeout)
		}
		runtime.Gosched() // a caller inside JIT code cannot be preempted; let it finish
	}
	return nil
}

// close unmaps a retired version's code. The caller must have quiesced it.
func (v *Version) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.closed {
		v.closed = true
		v.Prog.Close()
	}
}

// record keeps a copy of args in the ring (one call in Every).
func (s *Slot) record(args []interp.Value) {
	if s.seq.Add(1)%max(s.Every, 1) != 0 || !s.recMu.TryLock() {
		return
	}
	n := s.RingN
	if n <= 0 {
		n = 64
	}
	c := copyArgs(args)
	if len(s.ring) < n {
		s.ring = append(s.ring, c)
	} else {
		s.ring[s.ringAt%n] = c
	}
	s.ringAt++
	s.recMu.Unlock()
}

func (s *Slot) resetRing() {
	s.recMu.Lock()
	s.ring, s.ringAt = nil, 0
	s.recMu.Unlock()
}

// Recorded returns copies of the recorded argument tuples.
func (s *Slot) Recorded() [][]interp.Value {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	out := make([][]interp.Value, len(s.ring))
	for i, a := range s.ring {
		out[i] = copyArgs(a)
	}
	return out
}

func copyArgs(args []interp.Value) []interp.Value {
	out := make([]interp.Value, len(args))
	for i, a := range args {
		switch x := a.(type) {
		case interp.Slice:
			out[i] = interp.Slice{Elems: append([]uint64(nil), x.Elems...)}
		case []interp.Value:
			out[i] = copyArgs(x)
		default:
			out[i] = a
		}
	}
	return out
}

// Caller is one goroutine's handle for calling slots: it owns a JIT
// machine (not safe for concurrent use) and per-version telemetry.
type Caller struct {
	m     *jit.Machine
	profs map[*Version]*jit.Profile
	Fuel  int64 // fuel per call (default 1<<40)
}

// NewCaller returns a caller with its own JIT machine.
func NewCaller() *Caller {
	return &Caller{m: jit.New(0), profs: map[*Version]*jit.Profile{}, Fuel: 1 << 40}
}

// Close releases the caller's machine.
func (c *Caller) Close() { c.m.Close() }

// errRetired is never returned by Call: it retries when it loses a race
// with the retirement of a version.
var errRetired = errors.New("heal: version retired")

// Call calls the slot's current version with args.
func (c *Caller) Call(s *Slot, args []interp.Value) (interp.Value, error) {
	s.record(args)
	for {
		v := s.cur.Load() // the only read of the slot: one aligned 8-byte load
		v.inflight.Add(1)
		if s.cur.Load() != v {
			// A swap happened between the load and the increment: the
			// swapper may already have seen inflight == 0. Retry.
			v.inflight.Add(-1)
			continue
		}
		r, err := c.run(v, args)
		v.inflight.Add(-1)
		if err == errRetired {
			continue
		}
		return r, err
	}
}

func (c *Caller) run(v *Version, args []interp.Value) (interp.Value, error) {
	p, ok := c.profs[v]
	if !ok {
		var err error
		if p, err = jit.NewProfile(v.Prog); err != nil {
			return nil, err
		}
		v.mu.Lock()
		if v.closed {
			v.mu.Unlock()
			return nil, errRetired
		}
		v.profiles = append(v.profiles, p)
		v.mu.Unlock()
		c.profs[v] = p
	}
	c.m.Prof = p
	c.m.Fuel = c.Fuel
	return c.m.Call(v.Prog, v.Func, args)
}

// TelemetrySamples reports the current version of the slot (name = slot
// name, ID = the version's CID), so a telemetry.Watcher sees it.
func (s *Slot) TelemetrySamples() []telemetry.Sample {
	v := s.Current()
	return []telemetry.Sample{{Name: s.Name, ID: v.CID, Stats: v.Stats()}}
}
