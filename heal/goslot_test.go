package heal

import (
	"bytes"
	"github.com/velocityos/velocity/examples/crc"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/velocityos/velocity/telemetry"
)

// The function and its variants come from examples/crc: CRC-32 one bit at
// a time (the original), slicing-by-8, and deliberately bad variants; all
// must agree with hash/crc32, the independent reference of every result.

// crcInputs are the edge and random inputs: every length up to 130, then
// random lengths up to 256.
func crcInputs() [][]byte {
	r := rand.New(rand.NewPCG(5, 6))
	var in [][]byte
	for n := 0; n <= 130; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		in = append(in, b)
	}
	for k := 0; k < 20; k++ {
		b := make([]byte, r.IntN(257))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		in = append(in, b)
	}
	return in
}

func crcCheck() *GoCheck[func([]byte) uint32, []byte, uint32] {
	c := Differential(crcInputs, func(f func([]byte) uint32, b []byte) uint32 { return f(b) })
	c.Show = func(b []byte) string { return "len " + strconv.Itoa(len(b)) }
	return c
}

// bestCycles is the best of 5 timings of f on b.
func bestCycles(f func([]byte) uint32, b []byte) uint64 {
	best := uint64(math.MaxUint64)
	for range 5 {
		t0 := telemetry.Now()
		f(b)
		best = min(best, telemetry.Now()-t0)
	}
	return best
}

// traffic is the callers: one goroutine per CPU calls crc.Bitwise (the
// original, directly, as kernel code would) on 4 KiB buffers under the
// probe, and checks every result against hash/crc32.
type traffic struct {
	calls, wrong atomic.Int64
	stop         atomic.Bool
	wg           sync.WaitGroup
}

func startTraffic(g *GoFunc[func([]byte) uint32], record func([]byte)) *traffic {
	r := rand.New(rand.NewPCG(1, 2))
	bufs := make([][]byte, 8)
	refs := make([]uint32, len(bufs))
	for i := range bufs {
		bufs[i] = make([]byte, 4096)
		for j := range bufs[i] {
			bufs[i][j] = byte(r.Uint32())
		}
		refs[i] = crc32.ChecksumIEEE(bufs[i])
	}
	tr := &traffic{}
	for w := 0; w < runtime.NumCPU(); w++ {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for k := w; !tr.stop.Load(); k++ {
				b := bufs[k%len(bufs)]
				if record != nil {
					record(b) // the buffers are never modified
				}
				t := g.Probe().Start()
				got := crc.Bitwise(b)
				g.Probe().End(t)
				tr.calls.Add(1)
				if got != refs[k%len(bufs)] {
					tr.wrong.Add(1)
				}
			}
		}()
	}
	return tr
}

func (tr *traffic) end() {
	tr.stop.Store(true)
	tr.wg.Wait()
}

// calibratedRule fires on the original's mean on 4 KiB buffers and not on
// slicing-by-8's: the geometric mean of the two.
func calibratedRule(t *testing.T) *telemetry.Rule {
	b := make([]byte, 4096)
	slow, fast := bestCycles(crc.Bitwise, b), bestCycles(crc.Slicing8, b)
	t.Logf("calibration on 4 KiB: bitwise %d cycles, slicing-by-8 %d cycles", slow, fast)
	if fast*2 > slow {
		t.Fatalf("slicing-by-8 (%d cycles) is not clearly faster than bitwise (%d)", fast, slow)
	}
	return &telemetry.Rule{MeanAbove: uint64(math.Sqrt(float64(slow) * float64(fast))), MinCalls: 20, Windows: 1}
}

func TestCRCImplementationsAgree(t *testing.T) {
	for _, b := range crcInputs() {
		want := crc32.ChecksumIEEE(b)
		if crc.Bitwise(b) != want || crc.Slicing8(b) != want || crc.Slow(b) != want || crc.Overfit(b) != want {
			t.Fatalf("CRC-32 of %d bytes disagrees with hash/crc32", len(b))
		}
	}
}

// TestGoFuncHealed: the original CRC-32 is slow under traffic on every
// CPU; the healer rejects a variant wrong on a rare input, one that
// panics and one slower than the original, patches in slicing-by-8 and
// proves it on the traffic, and no result is ever wrong.
func TestGoFuncHealed(t *testing.T) {
	check := crcCheck()
	g, err := NewGoFunc("crc32", crc.Bitwise, check,
		GoVariant[func([]byte) uint32]{"wrong-rare", crc.WrongRare},
		GoVariant[func([]byte) uint32]{"panics", crc.Panics},
		GoVariant[func([]byte) uint32]{"slow", crc.Slow},
		GoVariant[func([]byte) uint32]{"slicing8", crc.Slicing8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Error(err)
		}
	})
	var log bytes.Buffer
	h := &Healer{Rule: calibratedRule(t), Log: &log}
	if err := h.AddGo(g); err != nil {
		t.Fatal(err)
	}
	if err := h.AddGo(g); err == nil {
		t.Error("AddGo accepted the same name twice")
	}
	tr := startTraffic(g, check.Record)
	var proven *Event
	deadline := time.Now().Add(60 * time.Second)
	for proven == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		h.Tick()
		for i := range h.Events {
			if h.Events[i].Kind == "proven" {
				proven = &h.Events[i]
			}
		}
	}
	// The healed function keeps serving for a while.
	for c := tr.calls.Load(); tr.calls.Load() < c+200; {
		time.Sleep(time.Millisecond)
	}
	tr.end()
	out := log.String()
	t.Logf("log:\n%s", out)
	if tr.wrong.Load() != 0 {
		t.Fatalf("%d wrong results of %d calls", tr.wrong.Load(), tr.calls.Load())
	}
	if proven == nil {
		t.Fatalf("no variant proven within 60 s (events %+v)", h.Events)
	}
	if proven.To != "slicing8" || g.Current() != "slicing8" {
		t.Errorf("proven %s, current %s; want slicing8", proven.To, g.Current())
	}
	for _, re := range []string{
		`(?m)^\[Self-Evolution\] Latency warning on go:crc32 avg=\d+ calls=\d+$`,
		`(?m)^\[Self-Evolution\] rejected candidate from go:crc32/wrong-rare at equivalence: on input len \d*37: current returns \d+, candidate \d+$`,
		`(?m)^\[Self-Evolution\] rejected candidate from go:crc32/panics at sandbox: on input len 0: panic: runtime error: index out of range`,
		`(?m)^\[Self-Evolution\] rejected candidate from go:crc32/slow at A/B timing: speedup 0\.\d\d on \d+ inputs is below 1\.10$`,
		`(?m)^\[Self-Evolution\] candidate go:crc32/slicing8 \(variant\): validated \d+ inputs, speedup \d+\.\d\d, swapped in \d+\.\d\d µs$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no line %s", re)
		}
	}
	if strings.Contains(out, "rolled back") {
		t.Error("slicing-by-8 was rolled back")
	}
	var swap Event
	for _, e := range h.Events {
		if e.Kind == "swap" {
			swap = e
		}
	}
	// The traffic figure is logged, not asserted: it is wall cycles of
	// goroutines on a shared host. The A/B timing is best of 3, alone.
	if swap.Speedup < 1.10 {
		t.Errorf("A/B speedup %.2f; want ≥ 1.10", swap.Speedup)
	}
	if g.Swaps() != 1 || g.Rewrites() != 1 {
		t.Errorf("%d swaps, %d rewrites; want 1 and 1", g.Swaps(), g.Rewrites())
	}
	t.Logf("%d calls, 0 wrong; A/B speedup %.2f on %d inputs, swap %v (held %v); on the traffic %.0f -> %.0f cycles per call (%.2fx)",
		tr.calls.Load(), swap.Speedup, swap.Inputs, swap.Pause, swap.Held, proven.BeforeMean, proven.AfterMean, proven.Speedup)
	// Close puts the original body back, and it still computes CRC-32.
	if err := g.Close(); err != nil || g.Current() != "original" {
		t.Fatalf("Close: %v, current %s", err, g.Current())
	}
	if b := []byte("123456789"); crc.Bitwise(b) != 0xCBF43926 {
		t.Error("the original is wrong after Close")
	}
}

// TestGoFuncRollback: a variant fast on the validation inputs and slower
// on real traffic passes the gate, is patched in, and the trial on the
// probe reverts it; it is not tried again.
func TestGoFuncRollback(t *testing.T) {
	g, err := NewGoFunc("crc32", crc.Bitwise, crcCheck(),
		GoVariant[func([]byte) uint32]{"overfit", crc.Overfit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	var log bytes.Buffer
	h := &Healer{Rule: calibratedRule(t), Log: &log}
	if err := h.AddGo(g); err != nil {
		t.Fatal(err)
	}
	tr := startTraffic(g, nil) // nothing recorded: the A/B timing runs on the short inputs
	warnings := func() int { return strings.Count(log.String(), "Latency warning") }
	var rolled bool
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		h.Tick()
		if !rolled {
			for _, e := range h.Events {
				rolled = rolled || e.Kind == "rollback"
			}
			if rolled {
				// Wait for the rule to fire once more on the original.
				deadline = time.Now().Add(60 * time.Second)
				n := warnings()
				for warnings() == n && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
					h.Tick()
				}
				break
			}
		}
	}
	tr.end()
	out := log.String()
	t.Logf("log:\n%s", out)
	if tr.wrong.Load() != 0 {
		t.Fatalf("%d wrong results", tr.wrong.Load())
	}
	if !rolled {
		t.Fatalf("no rollback within 60 s (events %+v)", h.Events)
	}
	for _, re := range []string{
		`(?m)^\[Self-Evolution\] candidate go:crc32/overfit \(variant\): validated \d+ inputs, speedup \d+\.\d\d, swapped in \d+\.\d\d µs$`,
		`(?m)^\[Self-Evolution\] rolled back go:crc32/overfit: \d+ cycles per call on \d+ calls since the swap, \d+% slower than go:crc32/original \(\d+\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no line %s", re)
		}
	}
	if warnings() < 2 {
		t.Error("the rule did not fire again after the rollback")
	}
	if n := strings.Count(out, "candidate go:crc32/overfit"); n != 1 {
		t.Errorf("the overfit variant was swapped in %d times; rolled back, it must not be tried again", n)
	}
	if g.Current() != "original" || g.Swaps() != 2 {
		t.Errorf("current %s after %d swaps; want the original after 2 (swap, rollback)", g.Current(), g.Swaps())
	}
}

type crcHolder struct{}

func (crcHolder) sum(b []byte) uint32 { return crc.Bitwise(b) }

func TestNewGoFuncRefuses(t *testing.T) {
	type F = func([]byte) uint32
	k := 7
	closure := func(b []byte) uint32 { return crc.Bitwise(b) + uint32(k) }
	check := crcCheck()
	for _, c := range []struct {
		name  string
		orig  F
		check GoChecker[F]
		vs    []GoVariant[F]
		want  string
	}{
		{"crc32", crc.Bitwise, check, []GoVariant[F]{{"c", closure}}, "is a closure"},
		{"crc32", crc.Bitwise, check, []GoVariant[F]{{"m", crcHolder{}.sum}}, "is a method value"},
		{"crc32", crc.Bitwise, check, []GoVariant[F]{{"n", nil}}, "is nil"},
		{"crc32", crc.Bitwise, check, []GoVariant[F]{{"self", crc.Bitwise}}, "same function as the original"},
		{"crc32", crc.Bitwise, check, []GoVariant[F]{{"a", crc.Slicing8}, {"b", crc.Slicing8}}, "same function as variant a"},
		{"crc32", crc.Bitwise, check, []GoVariant[F]{{"a", crc.Slicing8}, {"a", crc.Slow}}, "is taken"},
		{"crc32", crc.Bitwise, check, []GoVariant[F]{{"original", crc.Slicing8}}, "is taken"},
		{"crc32", crc.Bitwise, check, nil, "no variants"},
		{"crc32", crc.Bitwise, nil, []GoVariant[F]{{"a", crc.Slicing8}}, "no check"},
		{"crc32", crc.Bitwise, (*GoCheck[F, []byte, uint32])(nil), []GoVariant[F]{{"a", crc.Slicing8}}, "no check"},
		{"crc:32", crc.Bitwise, check, []GoVariant[F]{{"a", crc.Slicing8}}, "free of"},
		{"crc32", closure, check, []GoVariant[F]{{"a", crc.Slicing8}}, "the original"},
	} {
		_, err := NewGoFunc(c.name, c.orig, c.check, c.vs...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewGoFunc(%q, %d variants): %v; want an error with %q", c.name, len(c.vs), err, c.want)
		}
	}
	if _, err := NewGoFunc("gc", runtime.GC, GoChecker[func()](nil), GoVariant[func()]{"x", runtimeGCVariant}); err == nil {
		t.Error("accepted a function without a check")
	}
	gcCheck := Differential(func() []int { return []int{0} }, func(f func(), _ int) int { f(); return 0 })
	if _, err := NewGoFunc("gc", runtime.GC, gcCheck, GoVariant[func()]{"x", runtimeGCVariant}); err == nil || !strings.Contains(err.Error(), "runtime") {
		t.Errorf("runtime.GC as the original: %v", err)
	}
	h := &Healer{}
	if err := h.AddGo(nil); err == nil {
		t.Error("AddGo(nil) accepted")
	}
	var nilFunc *GoFunc[F]
	if err := h.AddGo(nilFunc); err == nil {
		t.Error("AddGo of a nil *GoFunc accepted")
	}
}

//go:noinline
func runtimeGCVariant() {}
