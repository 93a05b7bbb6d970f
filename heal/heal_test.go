package heal

import (
	"bytes"
	"fmt"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/lang/syntax"
	"github.com/velocityos/velocity/lang/types"
	"github.com/velocityos/velocity/lang/validate"
	"github.com/velocityos/velocity/registry"
	"github.com/velocityos/velocity/telemetry"
)

func want(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return 8 * n * (n - 1) / 2
}

func load(t testing.TB, src string) (*ir.Module, *registry.MemStore) {
	t.Helper()
	st := registry.NewMemStore()
	_, m, err := registry.AddSource(st, "test.vel", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return m, st
}

func skipNoJIT(t testing.TB) {
	if !jit.Supported() {
		t.Skip("no JIT on this platform")
	}
}

func TestOptimizePasses(t *testing.T) {
	m, _ := load(t, DemoSource)
	f := m.Lookup("Work")
	nf, passes := Optimize(f)
	if nf == nil {
		t.Fatal("nothing optimized")
	}
	got := strings.Join(passes, ",")
	if !strings.Contains(got, "strength") || !strings.Contains(got, "dce") {
		t.Fatalf("passes %s", got)
	}
	// The original is untouched and both agree with the interpreter.
	for _, n := range []int64{0, 1, 5, 77} {
		a, err1 := interp.New(1<<30).Call(f, []interp.Value{uint64(n)})
		b, err2 := interp.New(1<<30).Call(nf, []interp.Value{uint64(n)})
		if err1 != nil || err2 != nil || a != b || int64(a.(uint64)) != want(n) {
			t.Fatalf("n=%d: %v %v / %v %v", n, a, err1, b, err2)
		}
	}
	if Optimize2, _ := Optimize(nf); Optimize2 != nil {
		t.Fatalf("not a fixed point")
	}
}

// TestOptimizeKeepsTraps: folding and dead-code elimination never remove
// an operation that can trap.
func TestOptimizeKeepsTraps(t *testing.T) {
	m, _ := load(t, `module t
func F(x int64, xs []int64) int64 {
	var dead int64
	dead = x / 0
	var dead2 int64
	dead2 = xs[5]
	var y uint64
	y = uint64(x) * 4 % 8
	return int64(y)
}
`)
	f := m.Lookup("F")
	nf, _ := Optimize(f)
	if nf == nil {
		t.Fatal("expected strength reduction")
	}
	_, err := interp.New(1000).Call(nf, []interp.Value{uint64(3), interp.Slice{Elems: []uint64{1}}})
	if err == nil || !strings.Contains(err.Error(), "divide by zero") {
		t.Fatalf("trap lost: %v", err)
	}
}

// TestHealEndToEnd: a slow function is detected by the seed's rule (mean
// above 1,500,000 cycles over 10 calls), optimized, validated and swapped
// while 2×NumCPU goroutines keep calling it and checking every result;
// the healed version is at least 2× faster and is proven.
func TestHealEndToEnd(t *testing.T) {
	skipNoJIT(t)
	m, st := load(t, DemoSource)
	slot, err := NewSlot("Work", m.Lookup("Work"))
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	// The slow version costs about a million cycles a call and the healed
	// one a few thousand: a threshold between them that does not depend on
	// how fast (or busy) this machine is. The default rule's 1.5M cycles
	// would make the test depend on the host's clock speed.
	rule := telemetry.Rule{MeanAbove: 100_000, MinCalls: 10, Windows: 1}
	h := &Healer{Gate: Gate{Blocks: st, Random: 100, Fuel: 1e7}, Log: &log, Rule: &rule}
	h.Add(slot)
	var wrong, calls atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 2*runtime.NumCPU(); g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			c := NewCaller()
			defer c.Close()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				n := int64(2000 + (k*7+g)%64)
				r, err := c.Call(slot, []interp.Value{uint64(n)})
				calls.Add(1)
				if err != nil || int64(r.(uint64)) != want(n) {
					wrong.Add(1)
				}
			}
		}(g)
	}
	deadline := time.Now().Add(30 * time.Second)
	var proven *Event
	for proven == nil && time.Now().Before(deadline) {
		time.Sleep(30 * time.Millisecond)
		h.Tick()
		for i := range h.Events {
			if h.Events[i].Kind == "proven" {
				proven = &h.Events[i]
			}
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("log:\n%s", log.String())
	if wrong.Load() != 0 {
		t.Fatalf("%d wrong results of %d", wrong.Load(), calls.Load())
	}
	if proven == nil {
		t.Fatalf("not healed; events %+v rejected %+v", h.Events, h.Rejected)
	}
	if proven.Speedup < 2 {
		t.Fatalf("speedup %.2f < 2: %+v", proven.Speedup, proven)
	}
	for _, re := range []string{
		`\[Self-Evolution\] Latency warning on bafy\w+ avg=\d+ calls=\d+`,
		`\[Self-Evolution\] candidate bafy\w+ \([a-z,]+\): validated \d+ inputs, speedup \d+\.\d\d, swapped in [\d.]+ µs \(old version quiescent after \d+ µs\)`,
	} {
		if !regexp.MustCompile(re).MatchString(log.String()) {
			t.Errorf("log lacks %s", re)
		}
	}
	if slot.Current().CID != proven.To {
		t.Fatalf("current %s, proven %s", slot.Current().CID, proven.To)
	}
	t.Logf("%d calls, 0 wrong; cycles per call before %.0f, after %.0f (%.1fx)", calls.Load(), proven.BeforeMean, proven.AfterMean, proven.Speedup)
}

// TestSwapUnderLoad: goroutines on every core call a slot (10^6 calls in
// total, 10^5 with -short) while it is swapped between two versions
// 1,000 times; every result is checked.
func TestSwapUnderLoad(t *testing.T) {
	skipNoJIT(t)
	m, st := load(t, DemoSource)
	f := m.Lookup("Work")
	slot, err := NewSlot("Work", f)
	if err != nil {
		t.Fatal(err)
	}
	a := slot.Current()
	nf, passes := Optimize(f)
	g := &Gate{Blocks: st, Random: 20, Fuel: 1e6}
	b, _, err := g.Check(a, Candidate{From: "optimizer", Passes: passes, Func: nf}, nil)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(1_000_000)
	if testing.Short() {
		total = 100_000
	}
	var next, wrong atomic.Int64
	var wg sync.WaitGroup
	workers := runtime.NumCPU()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := NewCaller()
			defer c.Close()
			for {
				k := next.Add(1)
				if k > total {
					return
				}
				n := k % 4
				r, err := c.Call(slot, []interp.Value{uint64(n)})
				if err != nil || int64(r.(uint64)) != want(n) {
					wrong.Add(1)
				}
			}
		}()
	}
	var pauses []time.Duration
	swaps := 0
	rewrites0, held0 := PatchCounters()
	for swaps < 1000 {
		// Spread the swaps over the run.
		for next.Load() < int64(swaps)*total/1000 {
			runtime.Gosched()
		}
		to := b
		if slot.Current() == b {
			to = a
		}
		start := time.Now()
		if _, err := slot.Swap(to, time.Second); err != nil {
			t.Fatal(err)
		}
		pauses = append(pauses, time.Since(start))
		swaps++
	}
	wg.Wait()
	rewrites1, held1 := PatchCounters()
	if wrong.Load() != 0 {
		t.Fatalf("%d wrong results", wrong.Load())
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.Calls+sb.Calls != uint64(total) {
		t.Fatalf("telemetry counted %d+%d calls, want %d", sa.Calls, sb.Calls, total)
	}
	if sa.Calls == 0 || sb.Calls == 0 {
		t.Fatalf("a version never ran: %d/%d calls", sa.Calls, sb.Calls)
	}
	// Every swap rewrote the entry's machine code: the slot's count (the
	// redirect NewSlot made, then one per swap) and the patcher's own.
	patched := rewrites1 - rewrites0
	if slot.Rewrites() != 1+int64(swaps) || patched < int64(swaps) {
		t.Fatalf("%d swaps, but the slot counted %d entry rewrites and the patcher %d", swaps, slot.Rewrites(), patched)
	}
	sort.Slice(pauses, func(i, j int) bool { return pauses[i] < pauses[j] })
	t.Logf("%d calls on %d goroutines, %d swaps (%d machine-code rewrites, callers held %v per rewrite on average), 0 wrong; calls per version %d/%d; swap+quiescence median %v, max %v",
		total, workers, slot.Swaps(), patched, (held1-held0)/time.Duration(max(patched, 1)), sa.Calls, sb.Calls, pauses[len(pauses)/2], pauses[len(pauses)-1])
}

// advisor proposes fixed candidates.
type advisor struct {
	name  string
	cands []Candidate
}

func (a advisor) Name() string                                  { return a.name }
func (a advisor) Propose(*ir.Func, telemetry.Alert) []Candidate { return a.cands }

func candFunc(t *testing.T, src string) *ir.Func {
	t.Helper()
	f, err := syntax.Parse("c.vel", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m, err := types.Check(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m.Lookup("Work")
}

// TestGateRejects: wrong, non-terminating, rarely faulting, ill-typed and
// raw machine-code candidates are all rejected with a reason.
func TestGateRejects(t *testing.T) {
	skipNoJIT(t)
	m, st := load(t, DemoSource)
	slot, err := NewSlot("Work", m.Lookup("Work"))
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{Blocks: st, Random: 50, Fuel: 1e7}
	wrong := candFunc(t, `module c
func Work(n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ { s += i * 8 }
	if n == 100 { s++ }
	return s
}`)
	forever := candFunc(t, `module c
func Work(n int64) int64 {
	var s int64
	for { s++ }
	return s
}`)
	rare := candFunc(t, `module c
func Work(n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ { s += i * 8 }
	var z int64
	if n == 1000 { return s / z }
	return s
}`)
	sig := candFunc(t, `module c
func Work(n uint64) int64 { return 0 }`)
	// Raw machine code: a function that makes a system call.
	blob := []byte{0x0f, 0x05, 0xc3}
	meta := &validate.Meta{Base: 0x1000, Funcs: []validate.Range{{Start: 0, End: 3}}}
	ok := []byte{0x48, 0x31, 0xc0, 0xc3} // xor rax, rax; ret
	okMeta := &validate.Meta{Base: 0x1000, Funcs: []validate.Range{{Start: 0, End: 4}}}
	cases := []struct {
		c     Candidate
		stage string
		has   string
	}{
		{Candidate{From: "llm", Func: wrong}, "equivalence", "on input (100)"},
		{Candidate{From: "llm", Func: forever}, "equivalence", "fuel exhausted"},
		{Candidate{From: "llm", Func: rare}, "equivalence", "integer divide by zero"},
		{Candidate{From: "llm", Func: sig}, "type check", "parameter 0 has type uint64"},
		{Candidate{From: "llm", Source: "module c\nfunc Work(n int64) int64 { return n + true }", FuncName: "Work"}, "type check", "candidate.vel:2"},
		{Candidate{From: "llm", Blob: blob, Meta: meta}, "machine code", "system call"},
		{Candidate{From: "llm", Blob: ok, Meta: okMeta}, "equivalence", "no IR"},
		{Candidate{From: "llm", Func: slot.Current().Func}, "type check", "identical"},
	}
	for i, c := range cases {
		_, _, err := g.Check(slot.Current(), c.c, nil)
		r, isRej := err.(*Rejection)
		if !isRej || r.Stage != c.stage || !strings.Contains(r.Reason, c.has) {
			t.Errorf("case %d: got %v, want stage %q containing %q", i, err, c.stage, c.has)
			continue
		}
		t.Logf("rejected: %v", r)
	}
	// A correct candidate from source is accepted.
	good := `module c
func Work(n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ { s += i << 3 }
	return s
}`
	v, rep, err := g.Check(slot.Current(), Candidate{From: "llm", Source: good, FuncName: "Work"}, [][]interp.Value{{uint64(300)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accepted %s: %d inputs, A/B speedup %.2f (%d -> %d cycles)", v.CID, rep.Inputs, rep.Speedup, rep.Cycles[0], rep.Cycles[1])
	v.close()
}

// TestRollback: an advisor's candidate that is faster on the recorded
// inputs (n <= 100) but slower on what callers send after the swap is
// rolled back, and callers never see a wrong result.
func TestRollback(t *testing.T) {
	skipNoJIT(t)
	m, st := load(t, `module slow
func Work(n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ {
		var junk int64
		for j := int64(0); j < 20; j++ { junk = junk*31 + j }
		s += i * 8
	}
	return s
}`)
	slot, err := NewSlot("Work", m.Lookup("Work"))
	if err != nil {
		t.Fatal(err)
	}
	tricky := `module c
func Work(n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ {
		if n > 100 {
			var junk int64
			for j := int64(0); j < 400; j++ { junk = junk*31 + j }
			s += junk & 0
		}
		s += i * 8
	}
	return s
}`
	var log bytes.Buffer
	h := &Healer{
		Gate:     Gate{Blocks: st, Random: 30, Fuel: 1e7, MinSpeedup: 1.1},
		Advisors: []Advisor{advisor{"llm", []Candidate{{Source: tricky, FuncName: "Work", Passes: []string{"llm-rewrite"}}}}},
		Rule:     &telemetry.Rule{MeanAbove: 1, MinCalls: 10, Windows: 1},
		Log:      &log,
	}
	h.Add(slot)
	c := NewCaller()
	defer c.Close()
	call := func(n int64) {
		r, err := c.Call(slot, []interp.Value{uint64(n)})
		if err != nil || int64(r.(uint64)) != want(n) {
			t.Fatalf("Work(%d) = %v, %v", n, r, err)
		}
	}
	orig := slot.Current()
	for i := 0; i < 64; i++ {
		call(50 + int64(i%8))
	}
	h.Tick()
	if slot.Current() == orig {
		t.Fatalf("not swapped: %s", log.String())
	}
	for i := 0; i < 64; i++ {
		call(1000 + int64(i%8))
	}
	h.Tick()
	t.Logf("log:\n%s", log.String())
	if slot.Current() != orig {
		t.Fatalf("not rolled back: events %+v", h.Events)
	}
	if !regexp.MustCompile(`\[Self-Evolution\] rolled back bafy\w+: .*slower`).MatchString(log.String()) {
		t.Fatal("no rollback line")
	}
	last := h.Events[len(h.Events)-1]
	if last.Kind != "rollback" {
		t.Fatalf("%+v", last)
	}
	// The rolled-back version is not swapped in again.
	for i := 0; i < 64; i++ {
		call(50)
	}
	h.Tick()
	// The ring now holds the large inputs, so the A/B timing rejects it
	// (and the history would, had it passed).
	if slot.Current() != orig || !strings.Contains(fmt.Sprint(h.Rejected), "A/B timing") {
		t.Fatalf("rolled-back candidate reinstalled: %+v", h.Rejected)
	}
}

// TestSlotTrapsAndClose: a trap in the version the entry jumps to is the
// interpreter's error naming the function, the trapping call is not
// counted, and a closed slot refuses calls with an error.
func TestSlotTrapsAndClose(t *testing.T) {
	skipNoJIT(t)
	m, _ := load(t, "module t\nfunc Div(n int64) int64 { return 1000 / n }\n")
	m2, _ := load(t, "module u\nfunc Div(n int64) int64 { return 2000 / n / 2 }\n")
	slot, err := NewSlot("Div", m.Lookup("Div"))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := newVersion(m2.Lookup("Div"), []string{"test"})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCaller()
	defer c.Close()
	for _, v := range []*Version{slot.Current(), v2} {
		if _, err := slot.Swap(v, time.Second); err != nil {
			t.Fatal(err)
		}
		if r, err := c.Call(slot, []interp.Value{uint64(10)}); err != nil || r != uint64(100) {
			t.Fatalf("%s: Div(10) = %v, %v", v.Passes, r, err)
		}
		_, err := c.Call(slot, []interp.Value{uint64(0)})
		if err == nil || err.Error() != "in Div: runtime error: integer divide by zero" {
			t.Fatalf("%s: Div(0): %v", v.Passes, err)
		}
		if s := v.Stats(); s.Calls != 1 {
			t.Fatalf("%s: %d calls counted, want 1 (the trapping call is not counted)", v.Passes, s.Calls)
		}
	}
	if err := slot.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call(slot, []interp.Value{uint64(10)}); err == nil {
		t.Fatal("a closed slot was called")
	}
	if _, err := slot.Publish(v2); err == nil {
		t.Fatal("a closed slot was swapped")
	}
}

// TestRulesFromEnv: $TELEMETRY_RULE's per-function rules reach the
// healer's watcher; Healer.Rule overrides only the default; a bad value
// is logged and the seed's rule used.
func TestRulesFromEnv(t *testing.T) {
	t.Setenv(telemetry.RuleEnv, "mean=7000000;Work:mean=5,calls=3")
	h := &Healer{}
	h.init()
	if h.watch.Default == nil || h.watch.Default.MeanAbove != 7000000 {
		t.Fatalf("default rule %+v", h.watch.Default)
	}
	if r, ok := h.watch.ByName["Work"]; !ok || r.MeanAbove != 5 || r.MinCalls != 3 {
		t.Fatalf("per-function rules %+v", h.watch.ByName)
	}
	h = &Healer{Rule: &telemetry.Rule{MeanAbove: 1, MinCalls: 1, Windows: 1}}
	h.init()
	if h.watch.Default.MeanAbove != 1 || h.watch.ByName["Work"].MeanAbove != 5 {
		t.Fatalf("with Rule: default %+v, by name %+v", h.watch.Default, h.watch.ByName)
	}
	t.Setenv(telemetry.RuleEnv, "mean=lots")
	var log bytes.Buffer
	h = &Healer{Log: &log}
	h.init()
	if *h.watch.Default != telemetry.DefaultRule || !strings.Contains(log.String(), "mean=lots") {
		t.Fatalf("bad rule: default %+v, log %q", h.watch.Default, log.String())
	}
}
