package heal

import (
	"bytes"
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

// A kernel-style function with two implementations: CRC-32 (IEEE,
// reflected polynomial 0xEDB88320) one bit at a time, and slicing-by-8
// (eight 256-entry tables, eight bytes per step). Both must agree with
// hash/crc32, the independent reference of every result below.
//
// The CRC bodies are //go:norace: they only read their argument and an
// immutable table, and with -race every table load would be a call into
// the detector, which makes slicing-by-8 no faster than the bitwise loop;
// the healer, the probe and the patching around them stay instrumented.

//go:noinline
//go:norace
func crcBitwise(b []byte) uint32 {
	c := ^uint32(0)
	for _, x := range b {
		c ^= uint32(x)
		for k := 0; k < 8; k++ {
			c = c>>1 ^ 0xEDB88320&-(c&1)
		}
	}
	return ^c
}

var crcTab = func() (t [8][256]uint32) {
	for i := range 256 {
		c := uint32(i)
		for k := 0; k < 8; k++ {
			c = c>>1 ^ 0xEDB88320&-(c&1)
		}
		t[0][i] = c
	}
	for k := 1; k < 8; k++ {
		for i := range 256 {
			t[k][i] = t[k-1][i]>>8 ^ t[0][byte(t[k-1][i])]
		}
	}
	return t
}()

//go:noinline
//go:norace
func crcSlicing8(b []byte) uint32 {
	t := &crcTab
	c := ^uint32(0)
	for len(b) >= 8 {
		c ^= uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		c = t[7][byte(c)] ^ t[6][byte(c>>8)] ^ t[5][byte(c>>16)] ^ t[4][c>>24] ^
			t[3][b[4]] ^ t[2][b[5]] ^ t[1][b[6]] ^ t[0][b[7]]
		b = b[8:]
	}
	for _, x := range b {
		c = t[0][byte(c)^x] ^ c>>8
	}
	return ^c
}

// crcWrongRare is slicing-by-8 with a bug on lengths ≡ 37 (mod 64), which
// 4 KiB traffic never has and the differential test's inputs do.
//
//go:noinline
//go:norace
func crcWrongRare(b []byte) uint32 {
	c := crcSlicing8(b)
	if len(b)%64 == 37 {
		c ^= 1
	}
	return c
}

// crcPanics faults (index out of range) on an empty buffer.
//
//go:noinline
//go:norace
func crcPanics(b []byte) uint32 {
	if len(b) == 0 {
		return uint32(b[0])
	}
	return crcSlicing8(b)
}

// crcSlow is right and about twice as slow as the original: it runs the
// bitwise loop twice. It must not call crcBitwise: once crcBitwise's
// entry jumps to a variant, a variant that calls it calls itself.
//
//go:noinline
//go:norace
func crcSlow(b []byte) uint32 {
	var c [2]uint32
	for r := range c {
		c[r] = ^uint32(0)
		for _, x := range b {
			c[r] ^= uint32(x)
			for k := 0; k < 8; k++ {
				c[r] = c[r]>>1 ^ 0xEDB88320&-(c[r]&1)
			}
		}
	}
	if c[0] != c[1] {
		return 0
	}
	return ^c[1]
}

// crcOverfit is fast on the short buffers of the differential test and
// twice as slow as the original on the 4 KiB buffers of real traffic.
//
//go:noinline
//go:norace
func crcOverfit(b []byte) uint32 {
	if len(b) <= 256 {
		return crcSlicing8(b)
	}
	return crcSlow(b)
}

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

// traffic is the callers: one goroutine per CPU calls crcBitwise (the
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
				got := crcBitwise(b)
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
	slow, fast := bestCycles(crcBitwise, b), bestCycles(crcSlicing8, b)
	t.Logf("calibration on 4 KiB: bitwise %d cycles, slicing-by-8 %d cycles", slow, fast)
	if fast*2 > slow {
		t.Fatalf("slicing-by-8 (%d cycles) is not clearly faster than bitwise (%d)", fast, slow)
	}
	return &telemetry.Rule{MeanAbove: uint64(math.Sqrt(float64(slow) * float64(fast))), MinCalls: 20, Windows: 1}
}

func TestCRCImplementationsAgree(t *testing.T) {
	for _, b := range crcInputs() {
		want := crc32.ChecksumIEEE(b)
		if crcBitwise(b) != want || crcSlicing8(b) != want || crcSlow(b) != want || crcOverfit(b) != want {
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
	g, err := NewGoFunc("crc32", crcBitwise, check,
		GoVariant[func([]byte) uint32]{"wrong-rare", crcWrongRare},
		GoVariant[func([]byte) uint32]{"panics", crcPanics},
		GoVariant[func([]byte) uint32]{"slow", crcSlow},
		GoVariant[func([]byte) uint32]{"slicing8", crcSlicing8})
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
	if b := []byte("123456789"); crcBitwise(b) != 0xCBF43926 {
		t.Error("the original is wrong after Close")
	}
}

// TestGoFuncRollback: a variant fast on the validation inputs and slower
// on real traffic passes the gate, is patched in, and the trial on the
// probe reverts it; it is not tried again.
func TestGoFuncRollback(t *testing.T) {
	g, err := NewGoFunc("crc32", crcBitwise, crcCheck(),
		GoVariant[func([]byte) uint32]{"overfit", crcOverfit})
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

func (crcHolder) sum(b []byte) uint32 { return crcBitwise(b) }

func TestNewGoFuncRefuses(t *testing.T) {
	type F = func([]byte) uint32
	k := 7
	closure := func(b []byte) uint32 { return crcBitwise(b) + uint32(k) }
	check := crcCheck()
	for _, c := range []struct {
		name  string
		orig  F
		check GoChecker[F]
		vs    []GoVariant[F]
		want  string
	}{
		{"crc32", crcBitwise, check, []GoVariant[F]{{"c", closure}}, "is a closure"},
		{"crc32", crcBitwise, check, []GoVariant[F]{{"m", crcHolder{}.sum}}, "is a method value"},
		{"crc32", crcBitwise, check, []GoVariant[F]{{"n", nil}}, "is nil"},
		{"crc32", crcBitwise, check, []GoVariant[F]{{"self", crcBitwise}}, "same function as the original"},
		{"crc32", crcBitwise, check, []GoVariant[F]{{"a", crcSlicing8}, {"b", crcSlicing8}}, "same function as variant a"},
		{"crc32", crcBitwise, check, []GoVariant[F]{{"a", crcSlicing8}, {"a", crcSlow}}, "is taken"},
		{"crc32", crcBitwise, check, []GoVariant[F]{{"original", crcSlicing8}}, "is taken"},
		{"crc32", crcBitwise, check, nil, "no variants"},
		{"crc32", crcBitwise, nil, []GoVariant[F]{{"a", crcSlicing8}}, "no check"},
		{"crc32", crcBitwise, (*GoCheck[F, []byte, uint32])(nil), []GoVariant[F]{{"a", crcSlicing8}}, "no check"},
		{"crc:32", crcBitwise, check, []GoVariant[F]{{"a", crcSlicing8}}, "free of"},
		{"crc32", closure, check, []GoVariant[F]{{"a", crcSlicing8}}, "the original"},
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
