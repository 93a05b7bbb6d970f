package telemetry

import (
	"bytes"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

func TestClock(t *testing.T) {
	a := Now()
	time.Sleep(time.Millisecond)
	b, cpu := NowCPU()
	if b <= a {
		t.Fatalf("TSC did not advance: %d then %d", a, b)
	}
	if int(cpu) >= 4096 {
		t.Fatalf("cpu %d", cpu)
	}
	t.Logf("RDTSCP=%v cpu=%d 1ms=%d cycles", HasRDTSCP(), cpu, b-a)
}

func TestBucket(t *testing.T) {
	for _, c := range []struct {
		v uint64
		b int
	}{{0, 0}, {1, 0}, {2, 1}, {3, 1}, {4, 2}, {1023, 9}, {1024, 10}, {1 << 63, 63}} {
		if got := Bucket(c.v); got != c.b {
			t.Errorf("Bucket(%d) = %d, want %d", c.v, got, c.b)
		}
	}
}

func TestProbeConcurrent(t *testing.T) {
	p := newProbe("conc")
	const G, N = 8, 20000
	var wg sync.WaitGroup
	for g := 0; g < G; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < N; i++ {
				p.End(p.Start())
			}
		}()
	}
	wg.Wait()
	s := p.Stats()
	if s.Calls != G*N {
		t.Fatalf("calls = %d, want %d", s.Calls, G*N)
	}
	var h uint64
	for _, x := range s.Hist {
		h += x
	}
	if h != s.Calls || s.Min > s.Max || s.Cycles < s.Min*s.Calls || s.Cycles > s.Max*s.Calls {
		t.Fatalf("inconsistent stats %+v", s)
	}
	used := 0
	for _, c := range p.PerCPU() {
		if c.Calls > 0 {
			used++
		}
	}
	t.Logf("calls=%d mean=%.1f min=%d max=%d shards used=%d of %d", s.Calls, s.Mean(), s.Min, s.Max, used, len(p.shards))
}

func TestStatsWindowAndQuantile(t *testing.T) {
	p := newProbe("w")
	for i := 0; i < 99; i++ {
		p.Record(0, 100)
	}
	p.Record(1, 100000)
	s := p.Stats()
	if s.Calls != 100 || s.Min != 100 || s.Max != 100000 || s.Cycles != 99*100+100000 {
		t.Fatalf("%+v", s)
	}
	if q := s.Quantile(0.5); q != 127 {
		t.Errorf("p50 = %d, want 127 (top of bucket [64,128))", q)
	}
	if q := s.Quantile(1); q != 100000 {
		t.Errorf("p100 = %d", q)
	}
	for i := 0; i < 10; i++ {
		p.Record(2, 5000)
	}
	w := p.Stats().Since(s)
	if w.Calls != 10 || w.Cycles != 50000 || w.Mean() != 5000 || w.Min != 4096 || w.Max != 8191 {
		t.Fatalf("window %+v", w)
	}
}

func TestWatcherRule(t *testing.T) {
	reg := &Registry{}
	fast, slow := newProbe("fast"), newProbe("slow")
	reg.AddProbe(fast)
	reg.AddProbe(slow)
	var fired []Alert
	w := &Watcher{Reg: reg, Default: &Rule{MeanAbove: 1000, MinCalls: 10, Windows: 3},
		OnAlert: func(a Alert) { fired = append(fired, a) }}
	w.SetRule("fast", Rule{P99Above: 1 << 20, MinCalls: 1, Windows: 1})
	for win := 1; win <= 7; win++ {
		for i := 0; i < 10; i++ {
			fast.Record(0, 50)
			slow.Record(1, 5000)
		}
		if win == 5 {
			// a window with too few calls is not judged
			w.Tick()
		}
		w.Tick()
	}
	if len(fired) != 2 || fired[0].Name != "slow" || fired[0].Windows != 3 || fired[0].Mean != 5000 || fired[0].Snapshot != 3 {
		t.Fatalf("fired %+v", fired)
	}
	if fired[1].Snapshot != 7 { // windows 4, 5 (6th tick empty: skipped), 6 -> fires at tick 7
		t.Fatalf("second alert at tick %d", fired[1].Snapshot)
	}
}

type fakeSource []Sample

func (f fakeSource) TelemetrySamples() []Sample { return f }

func TestPprofRoundTrip(t *testing.T) {
	reg := &Registry{}
	p := newProbe("checksum")
	reg.AddProbe(p)
	for i := 0; i < 5; i++ {
		p.Record(0, 1000)
	}
	cid := "bafyreig2mw4ipujebxo642gvup2lqtvjcpcwpfsu4t4qcieppxdw6alo3i"
	reg.AddSource(fakeSource{{Name: "Sum", ID: cid, Stats: Stats{Calls: 3, Cycles: 9000, Min: 2000, Max: 4000}},
		{Name: "Sum", ID: cid, Stats: Stats{Calls: 1, Cycles: 1000, Min: 1000, Max: 1000}}})
	var buf bytes.Buffer
	if err := WriteProfile(&buf, reg.Snapshot(), time.Second); err != nil {
		t.Fatal(err)
	}
	prof, err := profile.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := prof.CheckValid(); err != nil {
		t.Fatal(err)
	}
	if len(prof.SampleType) != 2 || prof.SampleType[0].Type != "calls" || prof.SampleType[1].Type != "cycles" || prof.SampleType[1].Unit != "count" {
		t.Fatalf("sample types %v", prof.SampleType)
	}
	got := map[string][]int64{}
	for _, s := range prof.Sample {
		got[s.Location[0].Line[0].Function.Name] = s.Value
	}
	if v := got["Sum "+cid]; len(v) != 2 || v[0] != 4 || v[1] != 10000 {
		t.Errorf("Sum: %v", got)
	}
	if v := got["checksum"]; len(v) != 2 || v[0] != 5 || v[1] != 5000 {
		t.Errorf("checksum: %v", got)
	}
	if prof.Sample[0].Location[0].Line[0].Function.Name != "Sum "+cid {
		t.Errorf("not sorted by cycles")
	}
}

// BenchmarkProbe measures one Start/End pair (two RDTSCP and the
// per-CPU atomic update).
func BenchmarkProbe(b *testing.B) {
	p := newProbe("bench")
	for i := 0; i < b.N; i++ {
		p.End(p.Start())
	}
}

func BenchmarkProbeParallel(b *testing.B) {
	p := newProbe("benchpar")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.End(p.Start())
		}
	})
	_ = runtime.NumCPU()
}

func BenchmarkNowCPU(b *testing.B) {
	for i := 0; i < b.N; i++ {
		NowCPU()
	}
}

func BenchmarkNow(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Now()
	}
}

func BenchmarkRecord(b *testing.B) {
	p := newProbe("rec")
	for i := 0; i < b.N; i++ {
		p.Record(shardHint(), 100)
	}
}

func TestWriteTop(t *testing.T) {
	var buf bytes.Buffer
	s := []Sample{{Name: "a", Stats: Stats{Calls: 2, Cycles: 300, Min: 100, Max: 200, Hist: [HistBuckets]uint64{6: 1, 7: 1}}}, {Name: "b", ID: "bafy", Stats: Stats{Calls: 1, Cycles: 10, Min: 10, Max: 10}}}
	if err := WriteTop(&buf, s, 1); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "300") || !strings.Contains(out, " 150 ") || strings.Contains(out, "bafy") {
		t.Fatalf("%s", out)
	}
}

func TestParseRule(t *testing.T) {
	r, err := ParseRule("mean=3_000_000,calls=20")
	if err != nil || r.MeanAbove != 3000000 || r.MinCalls != 20 || r.Windows != 1 || r.P99Above != 0 {
		t.Fatalf("%+v %v", r, err)
	}
	if r2, err := ParseRule(r.String()); err != nil || r2 != r {
		t.Fatalf("round trip %+v %v", r2, err)
	}
	if r, _ := ParseRule(""); r != DefaultRule {
		t.Fatal("empty is not the default")
	}
	for _, bad := range []string{"mean", "mean=x", "speed=3"} {
		if _, err := ParseRule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	t.Setenv(RuleEnv, "p99=100,windows=3")
	if r, err := RuleFromEnv(); err != nil || r.P99Above != 100 || r.Windows != 3 || r.MeanAbove != DefaultRule.MeanAbove {
		t.Fatalf("env: %+v %v", r, err)
	}
}

// TestWatcherMinCallsCarryOver: a slow function making fewer calls per
// tick than MinCalls is still judged, once its calls add up.
func TestWatcherMinCallsCarryOver(t *testing.T) {
	reg := &Registry{}
	slow := newProbe("slow")
	reg.AddProbe(slow)
	w := &Watcher{Reg: reg, Default: &Rule{MeanAbove: 1000, MinCalls: 10, Windows: 2}}
	var fired []Alert
	for tick := 1; tick <= 10; tick++ {
		for i := 0; i < 3; i++ {
			slow.Record(0, 5000)
		}
		fired = append(fired, w.Tick()...)
	}
	// 3 calls a tick: windows of 12 calls end at ticks 4 and 8; the
	// second slow one fires.
	if len(fired) != 1 || fired[0].Snapshot != 8 || fired[0].Stats.Calls != 12 || fired[0].Total.Calls != 24 {
		t.Fatalf("fired %+v", fired)
	}
}

func TestParseRuleSet(t *testing.T) {
	rs, err := ParseRuleSet("mean=3000000; Work:mean=500000,calls=5 ;bafyabc:p99=7")
	if err != nil {
		t.Fatal(err)
	}
	if rs.Default.MeanAbove != 3_000_000 || rs.Default.MinCalls != DefaultRule.MinCalls {
		t.Errorf("default %v", rs.Default)
	}
	if r := rs.Func["Work"]; r.MeanAbove != 500_000 || r.MinCalls != 5 {
		t.Errorf("Work %v", r)
	}
	if r := rs.Func["bafyabc"]; r.P99Above != 7 || r.MeanAbove != DefaultRule.MeanAbove {
		t.Errorf("bafyabc %v", r)
	}
	if rs, err := ParseRuleSet("Work:calls=3"); err != nil || rs.Default != DefaultRule || rs.Func["Work"].MinCalls != 3 {
		t.Errorf("only a function rule: %v %v", rs, err)
	}
	for _, bad := range []string{"mean=1;mean=2", "Work:", ":mean=1", "Work:mean=1;Work:calls=2", "a=b:mean=1", "Work:bogus=1", "mean=x"} {
		if _, err := ParseRuleSet(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	t.Setenv(RuleEnv, "calls=4;Work:mean=9")
	if r, err := RuleFromEnv(); err != nil || r.MinCalls != 4 {
		t.Errorf("RuleFromEnv with a function rule: %v %v", r, err)
	}
}

// A per-function rule follows the function's name, so it applies to
// every version (CID) healing gives it, and by CID when named that way.
func TestWatcherRuleByName(t *testing.T) {
	reg := &Registry{}
	var src fakeSourceFunc
	reg.AddSource(&src)
	w := &Watcher{Reg: reg}
	rs, err := ParseRuleSet("mean=1000000;Work:mean=1000,calls=2;bafyB:mean=10,calls=1")
	if err != nil {
		t.Fatal(err)
	}
	rs.Apply(w)
	src.samples = []Sample{
		{Name: "Work", ID: "bafyA", Stats: Stats{Calls: 4, Cycles: 4 * 5000}},    // by name: fires
		{Name: "Other", ID: "bafyB", Stats: Stats{Calls: 1, Cycles: 100}},        // by CID: fires
		{Name: "Third", ID: "bafyC", Stats: Stats{Calls: 10, Cycles: 10 * 5000}}, // default: quiet
	}
	got := map[string]bool{}
	for _, a := range w.Tick() {
		got[a.Name] = true
	}
	if !got["Work"] || !got["Other"] || got["Third"] || len(got) != 2 {
		t.Fatalf("alerts %v", got)
	}
}

type fakeSourceFunc struct{ samples []Sample }

func (f *fakeSourceFunc) TelemetrySamples() []Sample { return f.samples }

func TestLive(t *testing.T) {
	reg := &Registry{}
	p := newProbe("work")
	q := newProbe("idle")
	reg.AddProbe(p)
	reg.AddProbe(q)
	var b strings.Builder
	l := &Live{Reg: reg, W: &b}
	for i := 0; i < 4; i++ {
		p.Record(0, 1000)
	}
	if err := l.Print(1500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	first := b.String()
	if !strings.Contains(first, "[telemetry] t=1.50s work calls=4 avg=1000 p99<=1000 total=4\n") ||
		!strings.Contains(first, "[telemetry] t=1.50s idle calls=0 ") {
		t.Fatalf("first print:\n%s", first)
	}
	b.Reset()
	p.Record(0, 3000)
	p.Record(0, 5000)
	if err := l.Print(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Only the window since the previous line; idle functions are left out.
	if got, want := b.String(), "[telemetry] t=2.00s work calls=2 avg=4000 p99<=5000 total=6\n"; got != want {
		t.Fatalf("second print %q, want %q", got, want)
	}
}
