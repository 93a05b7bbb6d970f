package heal

import (
	"bytes"
	"strings"
	"testing"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/telemetry"
)

// TestGateMemoryBudget: a candidate that allocates more than the gate's
// budget is stopped by the sandbox (an allocation error the current
// version does not have), both with an explicit budget and with the
// default one, which is far below the JIT's own 512 MiB arena.
func TestGateMemoryBudget(t *testing.T) {
	skipNoJIT(t)
	m, st := load(t, DemoSource)
	slot, err := NewSlot("Work", m.Lookup("Work"))
	if err != nil {
		t.Fatal(err)
	}
	// Correct results, but 8 bytes x 8 Mi elements = 64 MiB of scratch.
	hog := `module c
func Work(n int64) int64 {
	var tmp = make([]int64, 8388608)
	var s int64
	for i := int64(0); i < n; i++ { s += i * 8 }
	tmp[0] = s
	return tmp[0]
}`
	for _, budget := range []int64{1 << 20, 0} {
		g := &Gate{Blocks: st, Random: 5, Fuel: 1e8, MemBudget: budget, MinSpeedup: -1}
		_, _, err := g.Check(slot.Current(), Candidate{From: "llm", Source: hog, FuncName: "Work"}, nil)
		r, ok := err.(*Rejection)
		if !ok || r.Stage != "equivalence" || !strings.Contains(r.Reason, "candidate error") {
			t.Fatalf("budget %d: got %v, want an equivalence rejection for the allocation", budget, err)
		}
		t.Logf("budget %d: %v", budget, r)
	}
	// Inside a budget that fits it, the same candidate passes: the
	// rejection above is the budget's doing.
	g := &Gate{Blocks: st, Random: 5, Fuel: 1e8, MemBudget: 128 << 20, MinSpeedup: -1}
	v, _, err := g.Check(slot.Current(), Candidate{From: "llm", Source: hog, FuncName: "Work"}, nil)
	if err != nil {
		t.Fatalf("128 MiB budget: %v", err)
	}
	v.close()
}

type panicAdvisor struct{ calls *int }

func (panicAdvisor) Name() string { return "crashy" }
func (a panicAdvisor) Propose(*ir.Func, telemetry.Alert) []Candidate {
	*a.calls++
	var m map[string]int
	m["boom"] = 1 // nil map write: a panic, as a buggy advisor would
	return nil
}

// TestAdvisorPanicQuarantines: an advisor that panics does not take the
// healer (and so the kernel) down; the function is quarantined with the
// reason logged, keeps its current version and is not healed again.
func TestAdvisorPanicQuarantines(t *testing.T) {
	skipNoJIT(t)
	m, st := load(t, DemoSource)
	slot, err := NewSlot("Work", m.Lookup("Work"))
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	var log bytes.Buffer
	h := &Healer{
		Gate:     Gate{Blocks: st, Random: 10, Fuel: 1e7},
		Advisors: []Advisor{panicAdvisor{&calls}},
		Rule:     &telemetry.Rule{MeanAbove: 1, MinCalls: 5, Windows: 1},
		Log:      &log,
	}
	h.Add(slot)
	c := NewCaller()
	defer c.Close()
	orig := slot.Current()
	for round := 0; round < 2; round++ {
		for i := 0; i < 20; i++ {
			if r, err := c.Call(slot, []interp.Value{uint64(40)}); err != nil || int64(r.(uint64)) != want(40) {
				t.Fatalf("Work(40) = %v, %v", r, err)
			}
		}
		h.Tick()
	}
	t.Logf("log:\n%s", log.String())
	if calls != 1 {
		t.Fatalf("advisor called %d times, want once (then quarantined)", calls)
	}
	why := h.Quarantined(slot)
	if !strings.Contains(why, "advisor crashy panicked") || !strings.Contains(why, "nil map") {
		t.Fatalf("quarantine reason %q", why)
	}
	if !strings.Contains(log.String(), "[Self-Evolution] quarantined Work") {
		t.Fatal("no quarantine line in the log")
	}
	if slot.Current() != orig {
		t.Fatal("a quarantined slot changed version")
	}
}

// TestJudgeTimingPanicQuarantines: a panic while timing a swapped-in
// version (injected through the gate's fault hook) rolls the slot back to the version
// it replaced and quarantines it.
func TestJudgeTimingPanicQuarantines(t *testing.T) {
	skipNoJIT(t)
	m, st := load(t, DemoSource)
	slot, err := NewSlot("Work", m.Lookup("Work"))
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	h := &Healer{
		Gate:       Gate{Blocks: st, Random: 10, Fuel: 1e8},
		Rule:       &telemetry.Rule{MeanAbove: 1, MinCalls: 5, Windows: 1},
		ProveCalls: 5,
		Log:        &log,
	}
	h.Add(slot)
	c := NewCaller()
	defer c.Close()
	call := func() {
		for i := 0; i < 20; i++ {
			if r, err := c.Call(slot, []interp.Value{uint64(300)}); err != nil || int64(r.(uint64)) != want(300) {
				t.Fatalf("Work(300) = %v, %v", r, err)
			}
		}
	}
	orig := slot.Current()
	call()
	h.Tick()
	tr := h.trials[slot]
	if tr == nil {
		t.Fatalf("no swap: %s", log.String())
	}
	h.Gate.faultHook = func(v *Version) {
		if v == tr.new {
			panic("injected fault in the timing")
		}
	}
	call()
	h.Tick()
	t.Logf("log:\n%s", log.String())
	if why := h.Quarantined(slot); !strings.Contains(why, "timing panicked") {
		t.Fatalf("quarantine reason %q", why)
	}
	if slot.Current() != orig {
		t.Fatal("not rolled back to the proven version")
	}
	call()
}
