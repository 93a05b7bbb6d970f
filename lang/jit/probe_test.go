package jit

import (
	"errors"
	"testing"
	"time"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/merkle"
	"github.com/velocityos/velocity/lang/progen"
	"github.com/velocityos/velocity/lang/validate"
	"github.com/velocityos/velocity/telemetry"
)

const probeSrc = `module probe

func Fib(n int64) int64 {
	if n < 2 { return n }
	return Fib(n-1) + Fib(n-2)
}

func sq(x int64) int64 { return x * x }

func SumSq(n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ { s += sq(i) }
	return s
}

func Tail(xs []int64) []int64 { return xs[1:] }

func Bump(xs []int64) {
	for i := 0; i < len(xs); i++ { xs[i]++ }
}
`

// fibCalls is the number of calls Fib(n) makes (itself included).
func fibCalls(n int) uint64 {
	if n < 2 {
		return 1
	}
	return 1 + fibCalls(n-1) + fibCalls(n-2)
}

// TestInstrumentedCounts checks exact call counts and consistent cycle
// statistics written by the JIT prologue/epilogue.
func TestInstrumentedCounts(t *testing.T) {
	if !Supported() {
		t.Skip("no JIT on this platform")
	}
	mod := compileSrc(t, probeSrc)
	if _, err := merkle.HashModule(mod); err != nil {
		t.Fatal(err)
	}
	c, err := CompileInstrumented(mod.Funcs...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	prof, err := NewProfile(p)
	if err != nil {
		t.Fatal(err)
	}
	mach := New(1 << 40)
	defer mach.Close()
	mach.Prof = prof
	fib, sumsq, sq := mod.Lookup("Fib"), mod.Lookup("SumSq"), mod.Lookup("sq")
	for n := 0; n <= 15; n++ {
		if _, err := mach.Call(p, fib, []interp.Value{uint64(n)}); err != nil {
			t.Fatal(err)
		}
	}
	var want uint64
	for n := 0; n <= 15; n++ {
		want += fibCalls(n)
	}
	check := func(name string, s telemetry.Stats, calls uint64) {
		t.Helper()
		var h uint64
		for _, x := range s.Hist {
			h += x
		}
		if s.Calls != calls || h != calls || s.Min > s.Max || s.Cycles < s.Min*calls || s.Cycles > s.Max*calls {
			t.Fatalf("%s: calls %d (want %d) hist %d min %d max %d cycles %d", name, s.Calls, calls, h, s.Min, s.Max, s.Cycles)
		}
		t.Logf("%s: calls=%d mean=%.0f min=%d max=%d p99<=%d", name, s.Calls, s.Mean(), s.Min, s.Max, s.Quantile(0.99))
	}
	s, _ := prof.Stats(fib)
	check("Fib", s, want)
	if r, err := mach.Call(p, sumsq, []interp.Value{uint64(1000)}); err != nil || r.(uint64) != 332833500 {
		t.Fatalf("SumSq = %v, %v", r, err)
	}
	s, _ = prof.Stats(sumsq)
	check("SumSq", s, 1)
	s, _ = prof.Stats(sq)
	check("sq", s, 1000)
	// Slice results (RAX, RDX) and void functions survive the epilogue.
	xs := interp.Slice{Elems: []uint64{1, 2, 3}}
	r, err := mach.Call(p, mod.Lookup("Tail"), []interp.Value{xs})
	if err != nil || len(r.(interp.Slice).Elems) != 2 || r.(interp.Slice).Elems[0] != 2 {
		t.Fatalf("Tail = %v, %v", r, err)
	}
	if _, err := mach.Call(p, mod.Lookup("Bump"), []interp.Value{xs}); err != nil || xs.Elems[2] != 4 {
		t.Fatalf("Bump: %v %v", xs, err)
	}
	// A trap does not count the call and leaves the machine usable.
	if _, err := mach.Call(p, mod.Lookup("Tail"), []interp.Value{interp.Slice{}}); err == nil {
		t.Fatal("Tail of empty slice did not trap")
	}
	s, _ = prof.Stats(mod.Lookup("Tail"))
	check("Tail", s, 1)
	// Telemetry sees the functions by CID.
	reg := &telemetry.Registry{}
	reg.AddSource(prof)
	found := false
	for _, smp := range reg.Snapshot() {
		if smp.Name == "Fib" {
			found = smp.ID == fib.CID.String() && smp.Stats.Calls == want
		}
	}
	if !found {
		t.Fatalf("Fib missing from telemetry snapshot: %+v", reg.Snapshot())
	}
	// Without a profile the epilogue skips the update.
	mach.Prof = nil
	if _, err := mach.Call(p, fib, []interp.Value{uint64(5)}); err != nil {
		t.Fatal(err)
	}
	if s, _ = prof.Stats(fib); s.Calls != want {
		t.Fatalf("counted without a profile: %d", s.Calls)
	}
}

// TestInstrumentedNeedsAllowTiming: the timing instructions are only
// accepted because the instrumented code is linked with AllowTiming.
func TestInstrumentedNeedsAllowTiming(t *testing.T) {
	mod := compileSrc(t, probeSrc)
	c, err := CompileInstrumented(mod.Funcs...)
	if err != nil {
		t.Fatal(err)
	}
	blob, meta := c.Link(0x10000)
	if !meta.AllowTiming {
		t.Fatal("instrumented code linked without AllowTiming")
	}
	if err := validate.Validate(blob, meta); err != nil {
		t.Fatal(err)
	}
	meta.AllowTiming = false
	var verr *validate.Error
	if err := validate.Validate(blob, meta); !errors.As(err, &verr) || verr.Rule != validate.RuleForbidden {
		t.Fatalf("without AllowTiming: %v", err)
	}
	plain, err := Compile(mod.Funcs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, meta := plain.Link(0x10000); meta.AllowTiming {
		t.Fatal("plain code linked with AllowTiming")
	}
}

// TestInstrumentedDifferential: instrumentation changes no result, error
// or remaining fuel on lang/progen programs (and the probe counts every
// call that returned).
func TestInstrumentedDifferential(t *testing.T) {
	if !Supported() {
		t.Skip("no JIT on this platform")
	}
	// A tenth of TestDifferentialProgen's programs: instrumentation
	// only adds the prologue and the shared epilogue, which every call
	// of every program passes through.
	n := programs(t) / 10
	deadline := time.Now().Add(time.Minute)
	plainM, instrM := New(0), New(0)
	plainM.MaxAlloc, instrM.MaxAlloc = 1<<16, 1<<16
	defer plainM.Close()
	defer instrM.Close()
	var calls int
	for seed := uint64(1); seed <= uint64(n) && time.Now().Before(deadline); seed++ {
		src := progen.Module(seed, progenConfig)
		mod := compileSrc(t, src)
		pp, err := CompileAndLoad(mod.Funcs...)
		if err != nil {
			t.Fatal(err)
		}
		ic, err := CompileInstrumented(mod.Funcs...)
		if err != nil {
			t.Fatal(err)
		}
		ip, err := Load(ic)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		instrM.Prof, _ = NewProfile(ip)
		for k, f := range mod.Funcs {
			x, y := int64(seed%17)-8, int64(k*3)-int64(seed%5)
			fuel := int64(5000)
			if seed%4 == 0 {
				fuel = int64(seed % 60)
			}
			args := progenArgs(f, x, y)
			plainM.Fuel, instrM.Fuel = fuel, fuel
			pv, perr := plainM.Call(pp, f, args)
			iv, ierr := instrM.Call(ip, f, args)
			po := outcome{val: format(pv, f.Result), fuel: plainM.Fuel}
			io := outcome{val: format(iv, f.Result), fuel: instrM.Fuel}
			if perr != nil {
				po.err = perr.Error()
			}
			if ierr != nil {
				io.err = ierr.Error()
			}
			if po != io {
				t.Fatalf("seed %d %s: plain %v instrumented %v\n%s", seed, f.Name, po, io, src)
			}
			calls++
		}
		pp.Close()
		ip.Close()
	}
	t.Logf("%d calls identical with and without instrumentation", calls)
}

// BenchmarkInstrumented compares Fib(20) (21891 calls) with and without
// telemetry; the difference per call is the JIT probe overhead.
func BenchmarkInstrumented(b *testing.B) {
	if !Supported() {
		b.Skip("no JIT")
	}
	mod := compileSrc(b, probeSrc)
	fib := mod.Lookup("Fib")
	args := []interp.Value{uint64(20)}
	calls := float64(fibCalls(20))
	run := func(b *testing.B, c *Code, prof bool) {
		p, err := Load(c)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		m := New(1 << 50)
		defer m.Close()
		if prof {
			m.Prof, _ = NewProfile(p)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := m.Call(p, fib, args); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/calls, "ns/call")
	}
	plain, _ := Compile(fib)
	instr, _ := CompileInstrumented(fib)
	b.Run("plain", func(b *testing.B) { run(b, plain, false) })
	b.Run("instrumented", func(b *testing.B) { run(b, instr, true) })
}

// BenchmarkTimestampFloor measures one RDTSCP and one LFENCE;RDTSC on
// this machine (in a VM they may trap to the hypervisor): an
// instrumented call reads the clock twice, so twice this is the floor of
// BenchmarkInstrumented's overhead per call.
func BenchmarkTimestampFloor(b *testing.B) {
	if !Supported() {
		b.Skip("no JIT")
	}
	b.Run("rdtscp", func(b *testing.B) {
		if !telemetry.HasRDTSCP() {
			b.Skip("no RDTSCP")
		}
		rdtscpLoop(b.N)
	})
	b.Run("lfence-rdtsc", func(b *testing.B) { lfenceRdtscLoop(b.N) })
	b.Run("rdtsc", func(b *testing.B) { rdtscLoop(b.N) })
}
