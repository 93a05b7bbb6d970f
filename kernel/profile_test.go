package kernel

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

func TestDecodeSamples(t *testing.T) {
	// Two samples: CPU 1, thread 7, one kernel PC of two; CPU 0, thread
	// 3, one user PC.
	w := []uint64{
		2 | 1<<8 | 1<<16 | 0x55<<24 | 7<<32, 0x1000, 0x2000,
		1 | 0<<16 | 3<<32, 0x3000,
	}
	got, err := decodeSamples(nil, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("decoded %d samples, want 2", len(got))
	}
	a, b := got[0], got[1]
	if a.CPU != 1 || a.TID != 7 || a.Kernel != 1 || len(a.PCs) != 2 || a.PCs[0] != 0x1000 || a.PCs[1] != 0x2000 {
		t.Errorf("first sample %+v", a)
	}
	if b.CPU != 0 || b.TID != 3 || b.Kernel != 0 || len(b.PCs) != 1 || b.PCs[0] != 0x3000 {
		t.Errorf("second sample %+v", b)
	}
	for _, bad := range [][]uint64{
		{0},                 // no PCs
		{2, 0x1000},         // truncated
		{1 | 2<<8, 0x1000},  // more kernel PCs than PCs
		{1, 0x1000, 3, 0x1}, // second one truncated
	} {
		if _, err := decodeSamples(nil, bad); err == nil {
			t.Errorf("decodeSamples(%#x) accepted a malformed stream", bad)
		}
	}
}

//go:noinline
func profTestLeaf() []uintptr {
	pcs := make([]uintptr, 8)
	return pcs[:runtime.Callers(1, pcs)]
}

//go:noinline
func profTestCaller() []uintptr { return profTestLeaf() }

// TestProfileConversion builds a profile from real return addresses of
// this binary and checks the pprof file and the top table.
func TestProfileConversion(t *testing.T) {
	pcs := profTestCaller()
	p := &CPUProfile{Hz: 100, Start: time.Now(), Duration: time.Second}
	for i := 0; i < 3; i++ {
		p.Samples = append(p.Samples, ProfileSample{CPU: i % 2, TID: 5, PCs: pcs})
	}
	p.Samples = append(p.Samples, ProfileSample{CPU: 1, TID: 6, Kernel: 1, PCs: pcs[1:]})
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	pp, err := profile.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := pp.CheckValid(); err != nil {
		t.Fatal(err)
	}
	if len(pp.Sample) != 4 || pp.Period != int64(10*time.Millisecond) || pp.SampleType[1].Unit != "nanoseconds" {
		t.Fatalf("profile: %d samples, period %d, types %v", len(pp.Sample), pp.Period, pp.SampleType)
	}
	leaf := pp.Sample[0].Location[0].Line[0].Function.Name
	if !strings.HasSuffix(leaf, "profTestLeaf") {
		t.Errorf("innermost function %q, want profTestLeaf", leaf)
	}
	if c := pp.Sample[3].Label["context"]; len(c) != 1 || c[0] != "kernel" {
		t.Errorf("fourth sample context %v, want kernel", c)
	}
	if c := pp.Sample[1].Label["cpu"]; len(c) != 1 || c[0] != "1" {
		t.Errorf("second sample cpu label %v, want 1", c)
	}
	top := p.Top(2)
	if len(top) != 2 || !strings.HasSuffix(top[0].Name, "profTestLeaf") || top[0].Flat != 3 || top[0].Cum != 3 ||
		!strings.HasSuffix(top[1].Name, "profTestCaller") || top[1].Flat != 1 || top[1].Cum != 4 {
		t.Errorf("Top(2) = %+v", top)
	}
	var tb strings.Builder
	if err := p.WriteTop(&tb, 2); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tb.String(), "75.0%") || !strings.Contains(tb.String(), "profTestLeaf") {
		t.Errorf("WriteTop:\n%s", tb.String())
	}
	if cpus := p.CPUs(); len(cpus) != 2 || cpus[0] != 2 || cpus[1] != 2 {
		t.Errorf("CPUs() = %v", cpus)
	}
}

func TestStartCPUProfileRange(t *testing.T) {
	for _, hz := range []int{0, -1, MaxProfileHz + 1} {
		if err := StartCPUProfile(hz); err == nil || errors.Is(err, ErrNotVelocity) {
			t.Errorf("StartCPUProfile(%d) = %v, want a range error", hz, err)
		}
	}
	if _, err := ProfileCPU(0, 100); err == nil {
		t.Error("ProfileCPU(0, 100) succeeded")
	}
}

var profTestSink atomic.Uint64

// profileDuring profiles every CPU at 1000 Hz for 400 ms while work runs
// beside it for 500 ms, so that the work covers the whole profile.
func profileDuring(t *testing.T, work func(time.Duration)) *CPUProfile {
	t.Helper()
	done := make(chan struct{})
	go func() { work(500 * time.Millisecond); close(done) }()
	p, err := ProfileCPU(400*time.Millisecond, 1000)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	return p
}

//go:noinline
func profTestBurn(d time.Duration) {
	x := uint64(1)
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := 0; i < 10000; i++ {
			x = x*6364136223846793005 + 1
		}
	}
	profTestSink.Add(x)
}

// TestProfileCPU profiles for real on Velocity (velocity test ./kernel)
// and checks that a host says it cannot rather than faking a profile.
func TestProfileCPU(t *testing.T) {
	if !OnVelocity() {
		if _, err := ProfileCPU(10*time.Millisecond, 100); !errors.Is(err, ErrNotVelocity) {
			t.Errorf("ProfileCPU on a host: %v, want ErrNotVelocity", err)
		}
		if _, err := ReadProfileStats(); !errors.Is(err, ErrNotVelocity) {
			t.Errorf("ReadProfileStats on a host: %v, want ErrNotVelocity", err)
		}
		if err := StopCPUProfile(); !errors.Is(err, ErrNotVelocity) {
			t.Errorf("StopCPUProfile on a host: %v, want ErrNotVelocity", err)
		}
		return
	}
	p := profileDuring(t, profTestBurn)
	if err := StartCPUProfile(100); err != nil {
		t.Fatalf("a second profile after the first stopped: %v", err)
	}
	if err := StartCPUProfile(100); !errors.Is(err, ErrProfiling) {
		t.Errorf("StartCPUProfile while running: %v, want ErrProfiling", err)
	}
	StopCPUProfile()
	if len(p.Samples) == 0 || uint64(len(p.Samples)) != p.Stats.Samples() {
		t.Fatalf("%d samples read, stats say %d recorded", len(p.Samples), p.Stats.Samples())
	}
	top := p.Top(3)
	found := false
	for _, f := range top {
		found = found || strings.HasSuffix(f.Name, "profTestBurn")
	}
	if !found {
		var b strings.Builder
		p.WriteTop(&b, 10)
		t.Errorf("profTestBurn is not in the top 3:\n%s", b.String())
	}
	t.Logf("%d samples in %v, %v per sample", len(p.Samples), p.Duration, p.Stats.SampleCost())
}

// profTestDeep recurses through frames of about 1 KiB, so that a new
// goroutine's stack grows several times on the way down.
//
//go:noinline
func profTestDeep(n int) uint64 {
	var pad [1000]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return uint64(pad[0])
	}
	return profTestDeep(n-1) + uint64(pad[n%len(pad)])
}

// profTestGrow makes goroutines that grow their stacks until d has passed.
//
//go:noinline
func profTestGrow(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
		done := make(chan uint64)
		go func() { done <- profTestDeep(200) }()
		profTestSink.Add(<-done)
	}
}

// TestProfileFollowsStackSwitch checks that a sample taken on the system
// stack names the goroutine that switched to it: the time a stack's
// growth takes (runtime.newstack, on g0 after morestack) must be charged
// to the function whose call made it grow, as Go's own unwinder does,
// not end at runtime.morestack.
func TestProfileFollowsStackSwitch(t *testing.T) {
	if !OnVelocity() {
		t.Skip("the kernel's profiler")
	}
	p := profileDuring(t, profTestGrow)
	grew, followed := 0, 0
	for _, s := range p.Profile().Sample {
		inGrowth, inDeep := false, false
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				inGrowth = inGrowth || l.Function.Name == "runtime.newstack"
				inDeep = inDeep || strings.HasSuffix(l.Function.Name, "profTestDeep")
			}
		}
		if inGrowth {
			grew++
			if inDeep {
				followed++
			}
		}
	}
	if grew == 0 {
		t.Fatalf("no sample in runtime.newstack among %d", len(p.Samples))
	}
	if followed*2 < grew {
		t.Errorf("%d of %d samples in runtime.newstack reach profTestDeep, want most", followed, grew)
	}
	t.Logf("%d of %d samples in runtime.newstack reach the goroutine that grew", followed, grew)
}
