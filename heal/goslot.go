package heal

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/velocityos/velocity/patch"
	"github.com/velocityos/velocity/telemetry"
)

// This file heals the kernel's own Go functions (issue 5): a function
// compiled by gc, with alternative bodies registered next to it, is
// watched by the same telemetry rules as module functions, and the
// healer swaps in the best variant that passes a differential test and
// an A/B timing by patching the function's entry (package patch), trials
// it on real traffic and reverts it if it turns out slower. Callers keep
// calling the original function directly: no kernel code changes to
// become healable, which is the point. See docs/heal.md, "Go functions of
// the kernel".

// GoVariant is an alternative body of a Go function: a top-level function
// of the same type. Closures and method values are refused: after the JMP
// at the original's entry, DX (the closure context) still holds what the
// caller set up for the original, nothing, so a closure would read its
// captured variables through garbage.
type GoVariant[F any] struct {
	Name string
	Fn   F
}

// GoChecker validates a variant against the body that currently runs.
// Both are called directly (never through the patched entry). A checker
// returns a *Rejection (From is filled in by the healer) for a variant
// that differs, or panics, on some input; the healer applies its gate's
// speedup rule to the Report.
type GoChecker[F any] interface {
	Validate(cur, cand F) (Report, error)
}

// GoCheck is the differential test and A/B timing of a Go function with
// argument A and comparable result R: Call applies a body to an input.
// The inputs are the recorded ones (Record) followed by Inputs(); the
// A/B timing runs on the recorded inputs, or on all of them when none
// were recorded, as the gate does for module candidates.
type GoCheck[F any, A any, R comparable] struct {
	// Inputs returns the edge and random inputs of the differential test
	// (rare inputs that real traffic may not send belong here).
	Inputs func() []A
	// Call runs f on a. It must call f through the function value, so a
	// body runs whether or not it is patched.
	Call func(f F, a A) R
	// Show names an input in a rejection (default: %v, cut to 60 bytes).
	Show func(A) string
	// RingN is the number of recorded inputs kept (default 32); Every
	// records one call of Every (default 16).
	RingN int
	Every uint64

	mu   sync.Mutex
	ring []A
	at   int
	seq  atomic.Uint64
}

// Differential returns a GoCheck (its type arguments are inferred from
// the two functions).
func Differential[F any, A any, R comparable](inputs func() []A, call func(F, A) R) *GoCheck[F, A, R] {
	return &GoCheck[F, A, R]{Inputs: inputs, Call: call}
}

// Record keeps a in the ring of real inputs (one call in Every; a call
// that finds the ring busy is skipped rather than waiting). The ring
// keeps a itself: a must not be modified afterwards (record a copy of a
// reused buffer).
func (c *GoCheck[F, A, R]) Record(a A) {
	every := c.Every
	if every == 0 {
		every = 16
	}
	if c.seq.Add(1)%every != 0 || !c.mu.TryLock() {
		return
	}
	n := c.RingN
	if n <= 0 {
		n = 32
	}
	if len(c.ring) < n {
		c.ring = append(c.ring, a)
	} else {
		c.ring[c.at%n] = a
	}
	c.at++
	c.mu.Unlock()
}

// Recorded returns the recorded inputs.
func (c *GoCheck[F, A, R]) Recorded() []A {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]A(nil), c.ring...)
}

func (c *GoCheck[F, A, R]) show(a A) string {
	if c.Show != nil {
		return c.Show(a)
	}
	s := fmt.Sprintf("%v", a)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// call runs f on a, turning a panic into an error.
func (c *GoCheck[F, A, R]) call(f F, a A) (r R, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return c.Call(f, a), nil
}

// Validate compares cand with cur on every input and times both. An
// input on which cur panics is inconclusive (skipped); cand panicking
// where cur returned, or returning another result, rejects it.
func (c *GoCheck[F, A, R]) Validate(cur, cand F) (Report, error) {
	var rep Report
	if c.Call == nil {
		return rep, &Rejection{Stage: "equivalence", Reason: "the check has no Call"}
	}
	recorded := c.Recorded()
	inputs := recorded
	if c.Inputs != nil {
		inputs = append(inputs, c.Inputs()...)
	}
	var conclusive []A
	for _, a := range inputs {
		want, err := c.call(cur, a)
		if err != nil {
			continue
		}
		got, err := c.call(cand, a)
		if err != nil {
			return rep, &Rejection{Stage: "sandbox", Reason: fmt.Sprintf("on input %s: %v", c.show(a), err)}
		}
		if got != want {
			return rep, &Rejection{Stage: "equivalence", Reason: fmt.Sprintf("on input %s: current returns %v, candidate %v", c.show(a), want, got)}
		}
		rep.Inputs++
		conclusive = append(conclusive, a)
	}
	if rep.Inputs == 0 {
		return rep, &Rejection{Stage: "equivalence", Reason: "no conclusive input"}
	}
	ab := recorded
	if len(ab) == 0 {
		ab = conclusive
	}
	// Best of 3 per input, the two bodies alternating, so that a burst of
	// interference (another CPU's work, an interrupt) is unlikely to hit
	// every run of one body and none of the other.
	for _, a := range ab {
		best := [2]uint64{math.MaxUint64, math.MaxUint64}
		for r := 0; r < 3; r++ {
			for i, f := range [2]F{cur, cand} {
				t0 := telemetry.Now()
				c.Call(f, a)
				if d := telemetry.Now() - t0; d < best[i] {
					best[i] = d
				}
			}
		}
		rep.Cycles[0] += best[0]
		rep.Cycles[1] += best[1]
	}
	rep.Speedup = float64(rep.Cycles[0]) / math.Max(float64(rep.Cycles[1]), 1)
	return rep, nil
}

// GoFunc is a Go function of the kernel whose body the healer may swap
// for one of its registered variants, by rewriting the function's entry
// as a JMP to the variant (patch.Func, then patch.Retarget between
// variants, Revert back to the original).
//
// Callers keep calling the original function directly; it must be
// marked //go:noinline, or call sites that inlined it keep running the
// old body (package patch cannot detect inlining). The telemetry is the
// probe the callers wrap around their calls:
//
//	t := g.Probe().Start()
//	sum := crc32Bitwise(buf) // the original, or whichever variant is patched in
//	g.Probe().End(t)
//
// The probe is named after the function, so it counts whichever body ran
// (a JMP at the entry does not change what the caller measures), and the
// healer watches it with its rules; "NAME:RULE" in $TELEMETRY_RULE is
// the rule of the function called NAME.
type GoFunc[F any] struct {
	name     string
	orig     F
	origName string
	variants []GoVariant[F]
	entries  []uintptr
	check    GoChecker[F]
	probe    *telemetry.Probe

	mu       sync.Mutex // serialises swaps and the healer's state below
	cur      int        // index of the running variant, -1 for the original
	p        *patch.Patch
	banned   map[int]bool // variants that failed a deterministic check or a trial
	trial    *goTrial
	swapAt   uint64 // the probe's calls at the last swap or rollback
	swaps    atomic.Int64
	rewrites atomic.Int64
}

// goTrial is a variant swapped in and not yet judged on real traffic.
type goTrial struct {
	from, to int
	baseline float64         // mean cycles of the old body in the window that fired
	started  bool            // at is set (on the first Tick after the swap)
	at       telemetry.Stats // the probe when the trial started
}

// NewGoFunc registers orig's variants and a check. orig and every variant
// must be distinct top-level functions; the probe is created and added
// to telemetry.Default (Healer.AddGo adds it to the healer's registry).
func NewGoFunc[F any](name string, orig F, check GoChecker[F], variants ...GoVariant[F]) (*GoFunc[F], error) {
	if name == "" || strings.ContainsAny(name, ":;=, \t\n") {
		return nil, fmt.Errorf("heal: Go function name %q: it must be non-empty and free of ':;=,' and spaces (it names the function in rules)", name)
	}
	if check == nil || reflect.ValueOf(check).IsNil() {
		return nil, fmt.Errorf("heal: go:%s: no check: a variant cannot be validated without one", name)
	}
	if len(variants) == 0 {
		return nil, fmt.Errorf("heal: go:%s: no variants", name)
	}
	oentry, oname, err := goEntry(orig, "original")
	if err != nil {
		return nil, fmt.Errorf("heal: go:%s: %w", name, err)
	}
	if strings.HasPrefix(oname, "runtime.") || strings.HasPrefix(oname, "internal/runtime/") {
		return nil, fmt.Errorf("heal: go:%s: %s belongs to the runtime, which package patch refuses to patch", name, oname)
	}
	g := &GoFunc[F]{name: name, orig: orig, origName: oname, check: check, cur: -1, banned: map[int]bool{}}
	seen := map[uintptr]string{oentry: "the original"}
	names := map[string]bool{"original": true}
	for _, v := range variants {
		if v.Name == "" || strings.ContainsAny(v.Name, " \t\n/") || names[v.Name] {
			return nil, fmt.Errorf("heal: go:%s: variant name %q is empty, has a space or '/', is \"original\" or is taken", name, v.Name)
		}
		names[v.Name] = true
		e, _, err := goEntry(v.Fn, "variant "+v.Name)
		if err != nil {
			return nil, fmt.Errorf("heal: go:%s: %w", name, err)
		}
		if o, ok := seen[e]; ok {
			return nil, fmt.Errorf("heal: go:%s: variant %s is the same function as %s", name, v.Name, o)
		}
		seen[e] = "variant " + v.Name
		g.variants = append(g.variants, v)
		g.entries = append(g.entries, e)
	}
	g.probe = telemetry.NewProbe(name)
	return g, nil
}

// goEntry returns the entry and name of the top-level function fn, or
// why package patch would refuse it (checked at registration so that a
// bad variant is a clear error then, not a failed swap under load).
func goEntry(fn any, what string) (uintptr, string, error) {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func {
		return 0, "", fmt.Errorf("the %s is a %T, not a function", what, fn)
	}
	if v.IsNil() {
		return 0, "", fmt.Errorf("the %s is nil", what)
	}
	pc := v.Pointer()
	f := runtime.FuncForPC(pc)
	if f == nil || f.Entry() != pc {
		return 0, "", fmt.Errorf("the %s at %#x is not the entry of a Go function", what, pc)
	}
	name := f.Name()
	if strings.HasSuffix(name, "-fm") {
		return 0, "", fmt.Errorf("the %s %s is a method value: it needs its receiver in DX, which a JMP at the original's entry does not provide", what, name)
	}
	for _, part := range strings.Split(name, ".") {
		if strings.HasPrefix(part, "func") && len(part) > 4 && strings.Trim(part[4:], "0123456789") == "" {
			return 0, "", fmt.Errorf("the %s %s is a closure: it reads its captured variables through DX, which a JMP at the original's entry does not set", what, name)
		}
	}
	return pc, name, nil
}

// Name is the function's name (its probe's and its rules').
func (g *GoFunc[F]) Name() string { return g.name }

// Probe is the telemetry probe callers wrap around calls of the original.
func (g *GoFunc[F]) Probe() *telemetry.Probe { return g.probe }

// Current names the body that runs: "original" or a variant's name.
func (g *GoFunc[F]) Current() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.nameOf(g.cur)
}

// Swaps is the number of swaps and rollbacks; Rewrites the machine-code
// rewrites of the entry they made.
func (g *GoFunc[F]) Swaps() int64    { return g.swaps.Load() }
func (g *GoFunc[F]) Rewrites() int64 { return g.rewrites.Load() }

// Close puts the original body back (a no-op if it runs).
func (g *GoFunc[F]) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.trial = nil
	return g.swapTo(-1)
}

func (g *GoFunc[F]) nameOf(i int) string {
	if i < 0 {
		return "original"
	}
	return g.variants[i].Name
}

// fn returns the body i as a function value that can be called directly:
// the original only while it is not patched (through its patched entry
// it would run the current variant).
func (g *GoFunc[F]) fn(i int) F {
	if i < 0 {
		return g.orig
	}
	return g.variants[i].Fn
}

// swapTo makes body i run (g.mu held): the first patch of the entry
// goes through patch.Func, which checks both functions and the site; a
// change between variants is one Retarget, so no caller meets the
// original's code in between; back to the original is a Revert.
func (g *GoFunc[F]) swapTo(i int) error {
	if i == g.cur {
		return nil
	}
	switch {
	case i < 0:
		if err := g.p.Revert(); err != nil {
			return err
		}
		g.p = nil
	case g.p == nil:
		p, err := patch.Func(g.orig, g.variants[i].Fn)
		if err != nil {
			return err
		}
		g.p = p
	default:
		if err := g.p.Retarget(g.entries[i]); err != nil {
			return err
		}
	}
	g.cur = i
	g.swaps.Add(1)
	g.rewrites.Add(1)
	return nil
}

// validate runs the check of variant i against the current body under
// recover (a checker of its own may panic too) and applies the gate's
// speedup rule.
func (g *GoFunc[F]) validate(gate *Gate, i int) (rep Report, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &Rejection{Stage: "sandbox", Reason: fmt.Sprintf("panic: %v", p)}
		}
	}()
	rep, err = g.check.Validate(g.fn(g.cur), g.variants[i].Fn)
	if err != nil {
		return rep, err
	}
	need := gate.MinSpeedup
	if need == 0 {
		need = 1.10
	}
	if need > 0 && rep.Speedup < need {
		return rep, &Rejection{Stage: "A/B timing", Reason: fmt.Sprintf("speedup %.2f on %d inputs is below %.2f", rep.Speedup, rep.Inputs, need)}
	}
	return rep, nil
}

// GoHealable is a GoFunc of any function type, as the healer holds it.
type GoHealable interface {
	Name() string
	Probe() *telemetry.Probe
	healGo(h *Healer, a telemetry.Alert)
	judgeGo(h *Healer)
}

// AddGo registers a Go function for healing: its probe joins the
// healer's registry, and Tick treats an alert on it as on a slot. Names
// must be unique within a healer.
func (h *Healer) AddGo(g GoHealable) error {
	if g == nil || reflect.ValueOf(g).IsNil() {
		return errors.New("heal: AddGo of a nil function")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	for _, o := range h.gofuncs {
		if o.Name() == g.Name() {
			return fmt.Errorf("heal: a Go function named %s is already registered", g.Name())
		}
	}
	h.gofuncs = append(h.gofuncs, g)
	h.reg.AddProbe(g.Probe())
	return nil
}

// judgeGoTrials and alertGo are Tick's part for Go functions (h.mu
// held): the trials are judged first, as the slots' are, then alerts on
// probes (no ID) go to the function of that name.
func (h *Healer) judgeGoTrials() {
	for _, g := range h.gofuncs {
		g.judgeGo(h)
	}
}

func (h *Healer) alertGo(a telemetry.Alert) {
	if a.ID != "" {
		return // a module function's version
	}
	for _, g := range h.gofuncs {
		if g.Name() == a.Name {
			g.healGo(h, a)
		}
	}
}

func (h *Healer) reject(r *Rejection) {
	h.Rejected = append(h.Rejected, *r)
	h.logf("rejected candidate from %s at %s: %s", r.From, r.Stage, r.Reason)
}

// healGo handles an alert (h.mu held): every variant that is not running
// or banned is validated against the body that runs, and the fastest
// one that passes is patched in and put on trial.
func (g *GoFunc[F]) healGo(h *Healer, a telemetry.Alert) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.trial != nil {
		return
	}
	if a.Total.Calls-a.Stats.Calls < g.swapAt {
		// The window began before the last swap: it mixes two bodies
		// (the probe's name does not change with the body, as a module
		// function's CID does). The trial judged the new body alone.
		return
	}
	h.logf("Latency warning on go:%s avg=%d calls=%d", g.name, a.Mean, a.Total.Calls)
	best := -1
	var bestRep Report
	for i := range g.variants {
		if i == g.cur || g.banned[i] {
			continue
		}
		rep, err := g.validate(&h.Gate, i)
		if err != nil {
			r, ok := err.(*Rejection)
			if !ok {
				r = &Rejection{Stage: "gate", Reason: err.Error()}
			}
			r.From = "go:" + g.name + "/" + g.variants[i].Name
			// A wrong result or a panic does not depend on the traffic:
			// such a variant is never tried again. A/B timing may pass
			// on another workload.
			if r.Stage != "A/B timing" {
				g.banned[i] = true
			}
			h.reject(r)
			continue
		}
		if best < 0 || rep.Speedup > bestRep.Speedup {
			best, bestRep = i, rep
		}
	}
	if best < 0 {
		return
	}
	from := g.cur
	n0, held0 := PatchCounters()
	start := time.Now()
	err := g.swapTo(best)
	pause := time.Since(start)
	if err != nil {
		g.banned[best] = true
		h.reject(&Rejection{From: "go:" + g.name + "/" + g.variants[best].Name, Stage: "patch", Reason: err.Error()})
		return
	}
	// The trial starts at the next Tick, not now: a caller that reached
	// the entry during the rewrite was held there (on a host, spinning in
	// the self-loop, up to milliseconds when the sync waits for a busy
	// core) and counts that wait in the probe when its call ends, just
	// after the swap. Such calls would make any variant look slow.
	g.trial = &goTrial{from: from, to: best, baseline: float64(a.Mean)}
	g.swapAt = math.MaxUint64
	h.Events = append(h.Events, Event{Kind: "swap", Slot: "go:" + g.name, From: g.nameOf(from), To: g.nameOf(best),
		Passes: []string{"variant"}, Inputs: bestRep.Inputs, Speedup: bestRep.Speedup, BeforeMean: float64(a.Mean),
		Pause: pause, Held: heldSince(n0, held0)})
	h.logf("candidate go:%s/%s (variant): validated %d inputs, speedup %.2f, swapped in %.2f µs",
		g.name, g.variants[best].Name, bestRep.Inputs, bestRep.Speedup, float64(pause.Nanoseconds())/1e3)
}

// judgeGo judges the running trial (h.mu held) on the calls the probe
// counted since the swap: more than Regress (default 10%) slower than
// the old body's mean in the window that fired, and the old body is put
// back. Nothing needs to quiesce: both bodies are part of the binary.
func (g *GoFunc[F]) judgeGo(h *Healer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.trial
	if t == nil {
		return
	}
	if !t.started {
		t.at, t.started = g.probe.Stats(), true
		g.swapAt = t.at.Calls
		return
	}
	st := g.probe.Stats().Since(t.at)
	minCalls := h.ProveCalls
	if minCalls == 0 {
		minCalls = 20
	}
	if st.Calls < minCalls {
		return
	}
	tol := h.Regress
	if tol == 0 {
		tol = 0.10
	}
	after := st.Mean()
	ev := Event{Slot: "go:" + g.name, From: g.nameOf(t.from), To: g.nameOf(t.to), Passes: []string{"variant"},
		BeforeMean: t.baseline, AfterMean: after, Speedup: t.baseline / math.Max(after, 1)}
	if after > t.baseline*(1+tol) {
		n0, held0 := PatchCounters()
		start := time.Now()
		if err := g.swapTo(t.from); err != nil {
			h.logf("rollback of go:%s/%s: %v", g.name, g.nameOf(t.to), err) // judged again next Tick
			return
		}
		ev.Kind, ev.Pause, ev.Held = "rollback", time.Since(start), heldSince(n0, held0)
		g.banned[t.to] = true
		g.swapAt = g.probe.Stats().Calls
		h.watch.Reset(g.name)
		h.logf("rolled back go:%s/%s: %.0f cycles per call on %d calls since the swap, %.0f%% slower than go:%s/%s (%.0f)",
			g.name, g.nameOf(t.to), after, st.Calls, (after/t.baseline-1)*100, g.name, g.nameOf(t.from), t.baseline)
	} else {
		ev.Kind = "proven"
	}
	g.trial = nil
	h.Events = append(h.Events, ev)
}
