// Package heal is the self-healing loop: telemetry notices a slow
// function, candidates are produced (the IR optimizer, or untrusted
// Advisors such as a future on-board LLM), each candidate passes the
// sandbox gate (type check, machine-code validation, differential
// testing under fuel, A/B timing) or is rejected with a reason, the
// winner is swapped into the function's Slot while other goroutines keep
// calling it, and telemetry watches it: if it turns out slower than the
// version it replaced, the slot is rolled back. See docs/heal.md.
package heal

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/telemetry"
)

// Advisor proposes candidates for a slow function. Its candidates are
// untrusted and go through the same gate as the optimizer's.
type Advisor interface {
	Name() string
	Propose(f *ir.Func, alert telemetry.Alert) []Candidate
}

// ProfiledAdvisor is an Advisor that also wants the slot's recorded
// argument tuples (the healer passes them instead of calling Propose).
type ProfiledAdvisor interface {
	Advisor
	ProposeProfiled(f *ir.Func, alert telemetry.Alert, recorded [][]interp.Value) []Candidate
}

// OptimizerAdvisor wraps OptimizeWith, with the recorded arguments as the
// profile (specialization, unroll factors).
type OptimizerAdvisor struct{}

func (OptimizerAdvisor) Name() string { return "optimizer" }

func (a OptimizerAdvisor) Propose(f *ir.Func, alert telemetry.Alert) []Candidate {
	return a.ProposeProfiled(f, alert, nil)
}

func (OptimizerAdvisor) ProposeProfiled(f *ir.Func, _ telemetry.Alert, recorded [][]interp.Value) []Candidate {
	var prof *Profile
	if len(recorded) > 0 {
		prof = &Profile{Args: recorded}
	}
	nf, passes := OptimizeWith(f, prof)
	if nf == nil {
		return nil
	}
	return []Candidate{{From: "optimizer", Passes: passes, Func: nf}}
}

// Healer runs the loop over registered slots. Call Tick periodically
// (each Tick closes a telemetry window).
type Healer struct {
	Gate     Gate
	Advisors []Advisor // default: the optimizer
	// Rule triggers healing (default: the default rule of
	// $TELEMETRY_RULE, which the kernel command line can set, else
	// telemetry.DefaultRule). Per-function rules of $TELEMETRY_RULE
	// ("NAME:RULE") apply either way.
	Rule *telemetry.Rule
	// Regress is the tolerated slowdown after a swap before rolling back
	// (default 0.10); ProveCalls the calls the new version must serve
	// before it is judged (default 20).
	Regress    float64
	ProveCalls uint64
	// Log receives the [Self-Evolution] lines (serial on the kernel).
	Log io.Writer
	// OnHealed, if set, is told of every swapped-in version once its
	// trial on live traffic has proven it (publish.go). It runs inside
	// Tick with the healer's lock held: it must not call the healer.
	OnHealed func(Healed)

	mu       sync.Mutex
	reg      *telemetry.Registry
	watch    *telemetry.Watcher
	slots    map[*Slot]bool
	trials   map[*Slot]*trial
	banned   map[string]bool // CIDs rejected or rolled back
	gofuncs  []GoHealable    // Go functions of the kernel (AddGo, goslot.go)
	Rejected []Rejection
	Events   []Event

	// quarantined holds slots the healer gave up on after a panic in an
	// advisor, the optimizer or the gate's timing, with the reason. They
	// keep running their current version; they are no longer healed.
	quarantined map[*Slot]string
}

// Event records a swap or rollback, with measured numbers.
type Event struct {
	Kind       string // "swap", "rollback", "proven"
	Slot       string
	From, To   string // CIDs
	Passes     []string
	Inputs     int
	Speedup    float64       // A/B (swap) or observed (proven, rollback)
	BeforeMean float64       // cycles per call of the replaced version
	AfterMean  float64       // of the new version (proven / rollback)
	Pause      time.Duration // the machine-code patch of the slot's entry, as the healer timed it
	Held       time.Duration // of which callers arriving at the entry could be held (the patch protocol's pause; 0 if unknown)
	Quiesce    time.Duration // until no caller could be inside the old version
}

type trial struct {
	old, new *Version
	baseline float64 // mean cycles of old in the window that fired
	advisor  string  // who proposed new
	rep      Report  // the gate's report on new
}

func (h *Healer) init() {
	if h.reg == nil {
		h.reg = &telemetry.Registry{}
		// $TELEMETRY_RULE: a default rule and per-function rules
		// ("RULE;Work:RULE"), matched by name so they keep applying to
		// healed versions. h.Rule overrides only the default.
		rules, err := telemetry.RuleSetFromEnv()
		if err != nil {
			h.logf("%v; using %v", err, telemetry.DefaultRule)
			rules = telemetry.RuleSet{Default: telemetry.DefaultRule}
		}
		if h.Rule != nil {
			rules.Default = *h.Rule
		}
		h.watch = &telemetry.Watcher{Reg: h.reg}
		rules.Apply(h.watch)
		h.slots, h.trials, h.banned = map[*Slot]bool{}, map[*Slot]*trial{}, map[string]bool{}
		h.quarantined = map[*Slot]string{}
	}
}

// Add registers a slot for healing.
func (h *Healer) Add(s *Slot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	h.slots[s] = true
	h.reg.AddSource(s)
}

func (h *Healer) logf(format string, args ...any) {
	if h.Log != nil {
		fmt.Fprintf(h.Log, "[Self-Evolution] "+format+"\n", args...)
	}
}

// Tick closes a telemetry window: it judges running trials (rollback or
// proven) and heals slots whose current version fired the rule.
func (h *Healer) Tick() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	for s, t := range h.trials {
		h.guard(s, func() { h.judge(s, t) })
	}
	h.judgeGoTrials()
	for _, a := range h.watch.Tick() {
		h.alertGo(a)
		for s := range h.slots {
			if s.Name == a.Name && s.Current().CID == a.ID && h.trials[s] == nil && h.quarantined[s] == "" {
				h.guard(s, func() { h.heal(s, a) })
			}
		}
	}
}

// Quarantined returns the reason slot s is no longer healed, or "".
func (h *Healer) Quarantined(s *Slot) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.quarantined[s]
}

// guard runs one slot's healing step. Advisors are untrusted code and the
// optimizer and the timing are large: a panic in any of them must cost
// that one function its healing, never the kernel (the healer runs inside
// it). The slot keeps serving callers with whatever version it has.
func (h *Healer) guard(s *Slot, step func()) {
	defer func() {
		if p := recover(); p != nil {
			h.quarantine(s, fmt.Sprintf("panic while healing: %v", p))
		}
	}()
	step()
}

func (h *Healer) quarantine(s *Slot, why string) {
	if h.quarantined[s] != "" {
		return
	}
	h.quarantined[s] = why
	delete(h.trials, s)
	h.logf("quarantined %s (%s): %s; it is no longer healed", s.Name, s.Current().CID, why)
}

// propose asks one advisor for candidates, turning its panic into an error.
func propose(adv Advisor, f *ir.Func, a telemetry.Alert, recorded [][]interp.Value) (cands []Candidate, err error) {
	defer func() {
		if p := recover(); p != nil {
			cands, err = nil, fmt.Errorf("advisor %s panicked: %v", adv.Name(), p)
		}
	}()
	if pa, ok := adv.(ProfiledAdvisor); ok {
		return pa.ProposeProfiled(f, a, recorded), nil
	}
	return adv.Propose(f, a), nil
}

// timeBoth is the judge's A/B timing under recover.
func (h *Healer) timeBoth(t *trial, in [][]interp.Value, fuel int64) (before, after uint64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("timing panicked: %v", p)
		}
	}()
	return h.Gate.time(t.old, in, fuel), h.Gate.time(t.new, in, fuel), nil
}

func (h *Healer) judge(s *Slot, t *trial) {
	st := t.new.Stats()
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
	mean := st.Mean()
	// Judge on the real inputs seen since the swap: time the old version
	// (still resident) and the new one on them, with the JIT's cycle
	// counters. Without recorded inputs, compare the live mean with the
	// old version's mean in the window that fired.
	before, after := t.baseline, mean
	if in := s.Recorded(); len(in) > 0 {
		fuel := h.Gate.Fuel
		if fuel <= 0 {
			fuel = 1e8
		}
		n := float64(len(in))
		b, a, err := h.timeBoth(t, in, fuel)
		if err != nil {
			// The new version cannot be judged: go back to the one that
			// was proven, and heal this function no more.
			delete(h.trials, s)
			if _, perr := s.Publish(t.old); perr != nil {
				h.logf("rollback of %s: %v", t.new.CID, perr)
			} else {
				h.banned[t.new.CID] = true
				h.watch.Reset(t.old.CID)
				h.logf("rolled back %s: %v; left mapped", t.new.CID, err)
			}
			h.quarantine(s, err.Error())
			return
		}
		before, after = float64(b)/n, float64(a)/n
	}
	ev := Event{Slot: s.Name, From: t.old.CID, To: t.new.CID, Passes: t.new.Passes, BeforeMean: before, AfterMean: after,
		Speedup: before / max(after, 1)}
	delete(h.trials, s)
	if after > before*(1+tol) {
		n0, held0 := PatchCounters()
		start := time.Now()
		if _, err := s.Publish(t.old); err != nil { // the old version is still mapped: one more rewrite
			h.logf("rollback of %s: %v", t.new.CID, err)
			return
		}
		ev.Kind, ev.Pause, ev.Held = "rollback", time.Since(start), heldSince(n0, held0)
		if err := t.new.quiesce(time.Second); err != nil {
			h.logf("rollback of %s: %v; left mapped", t.new.CID, err) // a caller may still be inside
		} else {
			ev.Quiesce = time.Since(start)
			t.new.close()
		}
		h.banned[t.new.CID] = true
		h.watch.Reset(t.old.CID)
		h.logf("rolled back %s: %.0f cycles per call on %d calls since the swap, %.0f%% slower than %s (%.0f)",
			t.new.CID, after, st.Calls, (after/before-1)*100, t.old.CID, before)
	} else {
		ev.Kind = "proven"
		t.old.close() // quiesced at the swap; kept mapped until now for rollback
		h.healed(s, t, ev.Speedup)
	}
	h.Events = append(h.Events, ev)
}

// heldSince is the patch protocol's pause since PatchCounters returned
// n0, held0, if exactly one rewrite happened meanwhile (else 0: another
// patcher ran concurrently, or the counters are unavailable).
func heldSince(n0 int64, held0 time.Duration) time.Duration {
	if n, held := PatchCounters(); n == n0+1 {
		return held - held0
	}
	return 0
}

func (h *Healer) heal(s *Slot, a telemetry.Alert) {
	cur := s.Current()
	h.logf("Latency warning on %s avg=%d calls=%d", cur.CID, a.Mean, a.Total.Calls)
	advisors := h.Advisors
	if len(advisors) == 0 {
		advisors = []Advisor{OptimizerAdvisor{}}
	}
	recorded := s.Recorded()
	for _, adv := range advisors {
		cands, err := propose(adv, cur.Func, a, recorded)
		if err != nil {
			h.quarantine(s, err.Error())
			return
		}
		for _, c := range cands {
			if c.From == "" {
				c.From = adv.Name()
			}
			v, rep, err := h.Gate.Check(cur, c, recorded)
			if err == nil && h.banned[v.CID] {
				v.close()
				err = &Rejection{From: c.From, Stage: "history", Reason: "this version was rolled back before"}
			}
			if err != nil {
				r, ok := err.(*Rejection)
				if !ok {
					r = &Rejection{From: c.From, Stage: "gate", Reason: err.Error()}
				}
				h.Rejected = append(h.Rejected, *r)
				h.logf("rejected candidate from %s at %s: %s", r.From, r.Stage, r.Reason)
				continue
			}
			s.resetRing() // judge the new version on inputs seen after the swap
			n0, held0 := PatchCounters()
			start := time.Now()
			old, err := s.Publish(v) // rewrites the entry's JMP
			pause := time.Since(start)
			if err != nil {
				v.close()
				h.logf("swap of %s: %v", v.CID, err)
				return
			}
			held := heldSince(n0, held0)
			if err := old.quiesce(time.Second); err != nil {
				h.logf("swap of %s: %v", v.CID, err)
			}
			quiet := time.Since(start)
			h.trials[s] = &trial{old: old, new: v, baseline: float64(a.Mean), advisor: c.From, rep: rep}
			h.Events = append(h.Events, Event{Kind: "swap", Slot: s.Name, From: old.CID, To: v.CID, Passes: v.Passes,
				Inputs: rep.Inputs, Speedup: rep.Speedup, BeforeMean: float64(a.Mean), Pause: pause, Held: held, Quiesce: quiet})
			h.logf("candidate %s (%s): validated %d inputs, speedup %.2f, swapped in %.2f µs (old version quiescent after %.0f µs)",
				v.CID, strings.Join(v.Passes, ","), rep.Inputs, rep.Speedup, float64(pause.Nanoseconds())/1e3, float64(quiet.Nanoseconds())/1e3)
			return
		}
	}
}
