package telemetry

import "sync"

// Rule is a latency threshold. A window is the set of calls between two
// Watcher.Tick calls; a window with fewer than MinCalls calls is not
// judged yet: it extends to the next Tick (and does not break a run of
// slow windows). The rule fires when
// Windows consecutive judged windows have a mean above MeanAbove or a
// 99th percentile above P99Above (a zero threshold is unused).
type Rule struct {
	MeanAbove uint64
	P99Above  uint64
	MinCalls  uint64
	Windows   int
}

// DefaultRule is the seed's trigger: a mean above 1,500,000 cycles over
// (at least) 10 calls.
var DefaultRule = Rule{MeanAbove: 1_500_000, MinCalls: 10, Windows: 1}

// Alert is a fired rule.
type Alert struct {
	Sample          // the function; Stats is the last window
	Rule     Rule   // the rule that fired
	Mean     uint64 // the last window's mean cycles per call
	P99      uint64 // the last window's p99 estimate
	Windows  int    // consecutive slow windows
	Total    Stats  // all calls so far
	Snapshot int    // tick number
}

// Watcher evaluates rules over successive snapshots of a registry.
type Watcher struct {
	Reg     *Registry
	Default *Rule           // rule for functions without their own (nil: none)
	Rules   map[string]Rule // by sample key (CID or probe name)
	// ByName holds rules by function name or by ID, for functions
	// without an entry in Rules: a module function's name stays the same
	// when healing gives it a new CID, so "Work:mean=..." keeps applying.
	ByName  map[string]Rule
	OnAlert func(Alert) // called from Tick for each fired rule
	mu      sync.Mutex
	prev    map[string]Stats // last snapshot per key
	slow    map[string]int   // consecutive slow windows per key
	ticks   int
}

// SetRule sets the rule for key.
func (w *Watcher) SetRule(key string, r Rule) {
	w.mu.Lock()
	if w.Rules == nil {
		w.Rules = map[string]Rule{}
	}
	w.Rules[key] = r
	w.mu.Unlock()
}

// Reset forgets the window history of key (after its code changed).
func (w *Watcher) Reset(key string) {
	w.mu.Lock()
	delete(w.slow, key)
	w.mu.Unlock()
}

// Tick takes a snapshot, judges the window since the previous Tick for
// every function with a rule, and returns (and passes to OnAlert) the
// rules that fired. A fired rule starts counting windows afresh.
func (w *Watcher) Tick() []Alert {
	reg := w.Reg
	if reg == nil {
		reg = Default
	}
	snap := reg.Snapshot()
	w.mu.Lock()
	if w.prev == nil {
		w.prev, w.slow = map[string]Stats{}, map[string]int{}
	}
	w.ticks++
	var alerts []Alert
	for _, s := range snap {
		k := s.Key()
		r, ok := w.Rules[k]
		if !ok {
			r, ok = w.ByName[s.Name]
		}
		if !ok && s.ID != "" {
			r, ok = w.ByName[s.ID]
		}
		if !ok {
			if w.Default == nil {
				w.prev[k] = s.Stats
				continue
			}
			r = *w.Default
		}
		win := s.Stats.Since(w.prev[k])
		if win.Calls == 0 || win.Calls < r.MinCalls {
			// Too few calls to judge: they carry over into the next
			// window, so MinCalls is reached however often Tick runs
			// (slow functions make few calls per tick).
			continue
		}
		w.prev[k] = s.Stats
		mean := uint64(win.Mean())
		p99 := win.Quantile(0.99)
		if (r.MeanAbove == 0 || mean <= r.MeanAbove) && (r.P99Above == 0 || p99 <= r.P99Above) {
			w.slow[k] = 0
			continue
		}
		w.slow[k]++
		need := r.Windows
		if need < 1 {
			need = 1
		}
		if w.slow[k] >= need {
			alerts = append(alerts, Alert{Sample: Sample{Name: s.Name, ID: s.ID, Stats: win}, Rule: r,
				Mean: mean, P99: p99, Windows: w.slow[k], Total: s.Stats, Snapshot: w.ticks})
			w.slow[k] = 0
		}
	}
	cb := w.OnAlert
	w.mu.Unlock()
	if cb != nil {
		for _, a := range alerts {
			cb(a)
		}
	}
	return alerts
}
