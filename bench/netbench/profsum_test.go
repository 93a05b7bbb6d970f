package main

import (
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// A stack's samples go to its goroutine (the outermost function below
// runtime.goexit, with the function the scheduler's trampoline ran) and
// to the package of its innermost function, inlined frames included.
func TestSummarizeProfile(t *testing.T) {
	var fns []*profile.Function
	fn := func(name string) *profile.Function {
		f := &profile.Function{ID: uint64(len(fns) + 1), Name: name}
		fns = append(fns, f)
		return f
	}
	loc := func(id uint64, names ...string) *profile.Location { // names innermost first, one location
		l := &profile.Location{ID: id}
		for _, n := range names {
			l.Line = append(l.Line, profile.Line{Function: fn(n)})
		}
		return l
	}
	sample := func(ms int64, locs ...*profile.Location) *profile.Sample {
		return &profile.Sample{Location: locs, Value: []int64{ms, ms * 1e6}} // as the kernel's: count, then time
	}
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}}, Sample: []*profile.Sample{
		// gVisor's send inlined into its caller, in a TCP processor.
		sample(3,
			loc(1, "vendor/gvisor.dev/gvisor/pkg/tcpip/stack.PacketHeader.Slice", "vendor/gvisor.dev/gvisor/pkg/tcpip/transport/tcp.sendTCP"),
			loc(2, "vendor/gvisor.dev/gvisor/pkg/tcpip/transport/tcp.(*processor).start"),
			loc(3, "runtime.goexit")),
		sample(2, loc(4, "net/http.(*conn).serve"), loc(5, "runtime.goexit")),
		sample(1, loc(6, "runtime.futex"), loc(7, "runtime.findRunnable"), loc(8, "runtime.park_m"), loc(9, "runtime.mcall")),
		sample(4, loc(10, "runtime.futex"), loc(11, "runtime.findRunnable"), loc(12, "runtime.park_m"), loc(13, "runtime.mcall")),
	}}
	s := summarizeProfile(p)
	if s.total != 10e6 {
		t.Fatalf("total %d ns, want 10 ms", s.total)
	}
	want := func(got []share, wantS string) {
		t.Helper()
		var b strings.Builder
		for _, sh := range got {
			b.WriteString(sh.name + "=" + (map[int64]string{1e6: "1", 2e6: "2", 3e6: "3", 5e6: "5"})[sh.ns] + ";")
		}
		if b.String() != wantS {
			t.Errorf("got %s, want %s", b.String(), wantS)
		}
	}
	want(s.roots, "runtime.mcall / runtime.park_m=5;gvisor.dev/gvisor/pkg/tcpip/transport/tcp.(*processor).start=3;net/http.(*conn).serve=2;")
	want(s.leaves, "runtime=5;gvisor.dev/gvisor/pkg/tcpip/stack=3;net/http=2;")
	var out strings.Builder
	s.write(&out, 1000, 2)
	for _, line := range []string{"samples: 10 ms over 1000 wrk requests, 10 us each", "5.0 us/request  runtime.mcall / runtime.park_m", "3.0 us/request  gvisor.dev/gvisor/pkg/tcpip/stack"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("summary lacks %q:\n%s", line, out.String())
		}
	}
	if strings.Contains(out.String(), "net/http.(*conn).serve") {
		t.Errorf("summary shows more than the 2 lines asked for:\n%s", out.String())
	}
}
