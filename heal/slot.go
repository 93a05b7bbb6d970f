package heal

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/patch"
	"github.com/velocityos/velocity/telemetry"
)

// Version is one compiled body of a slot's function.
type Version struct {
	Func   *ir.Func     // the IR (hashed: Func.CID is set)
	Prog   *jit.Program // instrumented code
	Passes []string     // how it was produced ("original", or optimizer passes / advisor name)
	CID    string

	slot    atomic.Pointer[Slot] // the slot it was published in (a version serves one slot)
	mu      sync.Mutex
	retired telemetry.Stats // counted by callers that have been closed
	closed  bool
}

// Stats merges the telemetry of every caller that ran the version
// through its slot (not the gate's sandbox runs).
func (v *Version) Stats() telemetry.Stats {
	s := v.slot.Load()
	if s == nil {
		return telemetry.Stats{}
	}
	return s.versionStats(v)
}

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
//
// The entry is machine code: a copy of the original function compiled
// without telemetry whose 5-byte patch pad (jit.PatchPad) is a JMP rel32
// to the current version's function, from NewSlot on. Callers always call
// the entry (Caller.Call); a swap rewrites that one instruction with
// package patch, while other threads keep calling it: the kernel's INT3
// protocol with IPIs (text_poke_bp) inside Velocity, mprotect with a
// self-loop and membarrier on a Linux host. A caller that reaches the
// entry runs the whole old body or the whole new one. Calls count their
// telemetry in the version whose code ran (the counter address is part
// of each version's code), and a trap names the function that trapped.
//
// Callers announce their calls in a patch.Tracker, so a replaced version
// is known to be quiescent (no caller that entered before the swap is
// still inside it) before it may be unmapped; the healer keeps it mapped
// until the new version is proven, and a rollback is one more rewrite.
type Slot struct {
	Name string

	entry    *jit.Program // what callers enter; never runs its own body
	entryFn  *ir.Func
	redirect *patch.Patch // the entry's JMP to cur
	mu       sync.Mutex   // serialises swaps
	cur      atomic.Pointer[Version]
	tr       patch.Tracker

	cmu      sync.Mutex
	callers  map[*Caller]bool
	versions []*Version // every version published here (for Caller.Close)

	recMu  sync.Mutex
	ring   [][]interp.Value // recent argument tuples (slices copied)
	ringAt int
	RingN  int    // ring size (default 64)
	Every  uint64 // record one call in Every (default 8)
	seq    atomic.Uint64

	swaps    atomic.Int64
	rewrites atomic.Int64
	cleanup  runtime.Cleanup
}

// NewSlot compiles f (its CID must be set) as the slot's first version and
// its entry, and redirects the entry to the version.
func NewSlot(name string, f *ir.Func) (*Slot, error) {
	v, err := newVersion(f, []string{"original"})
	if err != nil {
		return nil, err
	}
	c, err := jit.Compile(f)
	if err != nil {
		v.Prog.Close()
		return nil, err
	}
	entry, err := jit.Load(c)
	if err != nil {
		v.Prog.Close()
		return nil, err
	}
	s := &Slot{Name: name, entry: entry, entryFn: f, RingN: 64, Every: 8, callers: map[*Caller]bool{}}
	at, _ := entry.FuncAddr(f)
	target, _ := v.Prog.FuncAddr(f)
	lo, hi := entry.Text()
	p, err := patch.Redirect(uintptr(at), uintptr(target), patch.Region{Lo: uintptr(lo), Hi: uintptr(hi)})
	if err != nil {
		entry.Close()
		v.Prog.Close()
		return nil, fmt.Errorf("heal: slot %s: %w", name, err)
	}
	s.redirect = p
	s.rewrites.Add(1)
	v.slot.Store(s)
	s.versions = []*Version{v}
	s.cur.Store(v)
	// The patch must be undone before the entry's code is unmapped:
	// package patch remembers sites by address, and a later program
	// mapped there would find the site still patched. The cleanup keeps
	// the entry alive until it has reverted the patch.
	s.cleanup = runtime.AddCleanup(s, func(e slotEntry) {
		if e.redirect.Revert() == nil {
			e.prog.Close()
		}
	}, slotEntry{p, entry})
	return s, nil
}

// Close reverts the entry's patch and unmaps the entry and every version
// published in the slot. No caller may use the slot any more.
func (s *Slot) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.redirect == nil {
		return nil
	}
	if err := s.redirect.Revert(); err != nil {
		return fmt.Errorf("heal: slot %s: %w", s.Name, err)
	}
	s.cleanup.Stop()
	s.redirect = nil
	s.entry.Close()
	s.cmu.Lock()
	vs := s.versions
	s.cmu.Unlock()
	for _, v := range vs {
		v.close()
	}
	return nil
}

// slotEntry is what a dropped slot's cleanup needs (it must not reference
// the Slot).
type slotEntry struct {
	redirect *patch.Patch
	prog     *jit.Program
}

// Current returns the current version.
func (s *Slot) Current() *Version { return s.cur.Load() }

// Swaps is the number of swaps so far.
func (s *Slot) Swaps() int64 { return s.swaps.Load() }

// Rewrites is the number of times the slot's entry was rewritten (the
// redirect made by NewSlot, then one per swap).
func (s *Slot) Rewrites() int64 { return s.rewrites.Load() }

// Swap makes v current and returns the previous version after waiting
// (up to timeout) until no caller can still be executing it; it is then
// safe to close. Callers never wait: the only pause they can see is a
// caller held at the entry while its instruction is rewritten.
func (s *Slot) Swap(v *Version, timeout time.Duration) (old *Version, err error) {
	old, err = s.Publish(v)
	if err != nil {
		return old, err
	}
	if err := old.quiesce(timeout); err != nil {
		return old, err
	}
	return old, nil
}

// Publish makes v current by rewriting the entry's JMP to v's function
// (one patch.Retarget) and returns the previous version, which callers
// that entered before may still be executing: quiesce it (Swap does)
// before closing it. v must have the slot function's signature and may
// serve no other slot.
func (s *Slot) Publish(v *Version) (*Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	if s.redirect == nil {
		return old, fmt.Errorf("heal: slot %s is closed", s.Name)
	}
	if v == old {
		return old, nil
	}
	if !sameSignature(v.Func, s.entryFn) {
		return old, fmt.Errorf("heal: slot %s: version %s has another signature", s.Name, v.CID)
	}
	if o := v.slot.Load(); o != nil && o != s {
		return old, fmt.Errorf("heal: version %s already serves slot %s", v.CID, o.Name)
	}
	target, ok := v.Prog.FuncAddr(v.Func)
	if !ok {
		return old, fmt.Errorf("heal: slot %s: version %s is closed", s.Name, v.CID)
	}
	if v.slot.Load() == nil {
		s.cmu.Lock()
		s.versions = append(s.versions, v)
		v.slot.Store(s)
		s.cmu.Unlock()
	}
	if err := s.redirect.Retarget(uintptr(target)); err != nil {
		return old, fmt.Errorf("heal: slot %s: %w", s.Name, err)
	}
	s.rewrites.Add(1)
	s.cur.Store(v)
	s.swaps.Add(1)
	return old, nil
}

func sameSignature(a, b *ir.Func) bool {
	if len(a.Params) != len(b.Params) || !ir.Identical(a.Result, b.Result) {
		return false
	}
	for i := range a.Params {
		if !ir.Identical(a.Params[i], b.Params[i]) {
			return false
		}
	}
	return true
}

// Quiesce waits (up to timeout) until no caller can be inside v.
func (v *Version) Quiesce(timeout time.Duration) error { return v.quiesce(timeout) }

// quiesce waits for a grace period of v's slot: every caller that entered
// before it has left. Once v is no longer current, callers that enter
// later reach the rewritten entry and never run v, so none can be inside
// it afterwards.
func (v *Version) quiesce(timeout time.Duration) error {
	s := v.slot.Load()
	if s == nil {
		return nil // never published: no caller ever ran it
	}
	done := make(chan struct{})
	go func() {
		s.tr.Synchronize()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("heal: callers still inside slot %s (version %s) after %v", s.Name, v.CID, timeout)
	}
}

// close unmaps a retired version's code. The caller must have quiesced it,
// and it must not be current.
func (v *Version) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.closed {
		v.closed = true
		v.Prog.Close()
	}
}

// versionStats merges v's counters of every caller of s, and of the
// callers closed since.
func (s *Slot) versionStats(v *Version) telemetry.Stats {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	v.mu.Lock()
	st := v.retired
	v.mu.Unlock()
	for c := range s.callers {
		st.Merge(c.stats(v))
	}
	return st
}

// PatchCounters returns the machine-code rewrites made so far in this
// process and the total time callers could be held at a site being
// rewritten: inside Velocity the kernel's counters (first INT3 to last
// IPI round), on a host package patch's (self-loop to last sync).
func PatchCounters() (rewrites int64, held time.Duration) {
	if kernel.OnVelocity() {
		st, err := kernel.ReadPatchStats()
		if err != nil {
			return 0, 0
		}
		return int64(st.Pokes), time.Duration(st.TotalNs)
	}
	return patch.HostPause()
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
// machine (not safe for concurrent use), which counts telemetry in the
// version whose code runs.
type Caller struct {
	m     *jit.Machine
	slots map[*Slot]bool
	Fuel  int64 // fuel per call (default 1<<40)
}

// NewCaller returns a caller with its own JIT machine.
func NewCaller() *Caller {
	m := jit.New(0)
	m.Telemetry = true
	return &Caller{m: m, slots: map[*Slot]bool{}, Fuel: 1 << 40}
}

// Close releases the caller's machine. Its telemetry stays with the
// versions it ran.
func (c *Caller) Close() {
	for s := range c.slots {
		s.leave(c)
	}
	c.slots = nil
	c.m.Close()
}

// join registers c with s, so the slot's versions see c's counters.
func (s *Slot) join(c *Caller) error {
	// Give the machine its counter shard now, in this goroutine: the
	// telemetry readers only read it afterwards (under cmu).
	if _, err := c.m.ProfileOf(s.Current().Prog); err != nil {
		return err
	}
	s.cmu.Lock()
	s.callers[c] = true
	s.cmu.Unlock()
	c.slots[s] = true
	return nil
}

// leave folds c's counters into the versions of s and unregisters it.
func (s *Slot) leave(c *Caller) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	for _, v := range s.versions {
		st := c.stats(v)
		v.mu.Lock()
		v.retired.Merge(st)
		v.mu.Unlock()
	}
	delete(s.callers, c)
}

// stats reads c's counters for v.
func (c *Caller) stats(v *Version) telemetry.Stats {
	pr, err := c.m.ProfileOf(v.Prog)
	if err != nil {
		return telemetry.Stats{}
	}
	st, _ := pr.Stats(v.Func)
	return st
}

// Call calls the slot's function with args: the entry, which jumps to
// whichever version is current when the call reaches it.
func (c *Caller) Call(s *Slot, args []interp.Value) (interp.Value, error) {
	if c.slots == nil {
		return nil, errors.New("heal: the caller is closed")
	}
	if !c.slots[s] {
		if err := s.join(c); err != nil {
			return nil, err
		}
	}
	s.record(args)
	c.m.Fuel = c.Fuel
	tok := s.tr.Enter()
	r, err := c.m.Call(s.entry, s.entryFn, args)
	s.tr.Exit(tok)
	return r, err
}

// TelemetrySamples reports the current version of the slot (name = slot
// name, ID = the version's CID), so a telemetry.Watcher sees it.
func (s *Slot) TelemetrySamples() []telemetry.Sample {
	v := s.Current()
	return []telemetry.Sample{{Name: s.Name, ID: v.CID, Stats: v.Stats()}}
}
