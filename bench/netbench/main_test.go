package main

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

const wrkOut = `Running 5s test @ http://127.0.0.1:42421/
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.50ms    6.01ms  47.93ms   97.51%
    Req/Sec   280.64     40.12   340.00     78.00%
  Latency Distribution
     50%    3.04ms
     75%    3.31ms
     90%  850.00us
     99%    1.20s
  1402 requests in 5.01s, 252.20KB read
Requests/sec:    279.84
Transfer/sec:     50.34KB
`

func TestParseWrk(t *testing.T) {
	w, err := parseWrk(wrkOut)
	if err != nil || w.rps != 279.84 || w.p50 != 3.04 || w.p99 != 1200 || w.requests != 1402 {
		t.Errorf("got %+v %v", w, err)
	}
	if _, err := parseWrk(wrkOut + "  Socket errors: connect 0, read 0, write 0, timeout 16\n"); err == nil {
		t.Error("timeouts were not an error")
	}
	if _, err := parseWrk("Requests/sec: 12\n"); err == nil {
		t.Error("no latency distribution accepted")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestProcessCPU(t *testing.T) {
	if processCPU(-1) != -1 {
		t.Error("a process that does not exist has a CPU time")
	}
	start := processCPU(os.Getpid())
	if start < 0 {
		t.Skip("no /proc")
	}
	for end := time.Now().Add(150 * time.Millisecond); time.Now().Before(end); {
	}
	if d := processCPU(os.Getpid()) - start; d < 50*time.Millisecond {
		t.Errorf("150 ms of spinning added %v of CPU time", d)
	}
}

// TestReportAgainst: with -against, the ratios are Velocity's over the
// variant's figures, round by round, and the column says which variant.
func TestReportAgainst(t *testing.T) {
	rounds := []map[string]figures{
		{"velocity": {"100 B c=1 req/s": 1200, "100 B c=1 p50 ms": 1}, "variant": {"100 B c=1 req/s": 1000, "100 B c=1 p50 ms": 2}, "linux": {"100 B c=1 req/s": 1}},
		{"velocity": {"100 B c=1 req/s": 900}, "variant": {"100 B c=1 req/s": 1000}},
		{"velocity": {"100 B c=1 req/s": 1100}, "variant": {"100 B c=1 req/s": 1000}},
	}
	var b strings.Builder
	report(&b, rounds, "variant", "+spinsleep=0")
	out := b.String()
	for _, want := range []string{
		"+spinsleep=0",
		"100 B c=1 req/s                         1100.00      1000.00    1.10x   1.20x 0.90x 1.10x",
		"100 B c=1 p50 ms                           1.00         2.00    2.00x   2.00x",
		"host CPU +spinsleep=0/Velocity",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestQemuThreads: this process has no vCPU threads, so its spinning is
// counted with the rest.
func TestQemuThreads(t *testing.T) {
	if _, _, ok := qemuThreads(-1); ok {
		t.Error("a process that does not exist has threads")
	}
	_, rest0, ok := qemuThreads(os.Getpid())
	if !ok {
		t.Skip("no /proc")
	}
	for end := time.Now().Add(150 * time.Millisecond); time.Now().Before(end); {
	}
	vcpu, rest1, _ := qemuThreads(os.Getpid())
	if vcpu != (threadUse{}) {
		t.Errorf("vCPU threads counted in a process without any: %+v", vcpu)
	}
	if d := rest1.user + rest1.sys - rest0.user - rest0.sys; d < 50*time.Millisecond {
		t.Errorf("150 ms of spinning added %v of CPU time", d)
	}
}

func TestStatParsing(t *testing.T) {
	// A command name with spaces and a parenthesis, as a thread's may be.
	line := []byte("42 (CPU 0/TCG) x) S 1 1 1 0 -1 4194560 0 0 0 0 250 31 0 0 20 0 1 0 0")
	u, s, ok := statTimes(line)
	if !ok || u != 2500*time.Millisecond || s != 310*time.Millisecond {
		t.Errorf("statTimes = %v, %v, %v; want 2.5s, 310ms, true", u, s, ok)
	}
	if _, _, ok := statTimes([]byte("42 (truncated")); ok {
		t.Error("statTimes accepted a line without its fields")
	}
	status := []byte("Name:\tqemu\nvoluntary_ctxt_switches:\t1234\nnonvoluntary_ctxt_switches:\t5\n")
	if n := statusField(status, "voluntary_ctxt_switches:"); n != 1234 {
		t.Errorf("voluntary_ctxt_switches = %d, want 1234", n)
	}
	if n := statusField(status, "missing:"); n != 0 {
		t.Errorf("a missing field = %d, want 0", n)
	}
}

// A kernel profile longer than one window is taken window after window
// and merged: every window's samples are in the file, and each request
// asked for what was left, at most kernelProfileWindow seconds.
func TestFetchKernelProfile(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl (scripts/deps.sh installs it)")
	}
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Query().Get("seconds"))
		fn := &profile.Function{ID: 1, Name: "runtime.vkIdle"}
		loc := &profile.Location{ID: 1, Address: 0x1000, Line: []profile.Line{{Function: fn}}}
		p := &profile.Profile{
			SampleType: []*profile.ValueType{{Type: "cpu", Unit: "nanoseconds"}},
			PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
			Period:     1_000_000,
			Sample:     []*profile.Sample{{Location: []*profile.Location{loc}, Value: []int64{1_000_000}}},
			Location:   []*profile.Location{loc},
			Function:   []*profile.Function{fn},
		}
		p.Write(w)
	}))
	defer srv.Close()
	o := options{profile: filepath.Join(t.TempDir(), "k.pprof")}
	if err := o.fetchKernelProfile(srv.URL, 130); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(asked, " "); got != "60 60 10" {
		t.Errorf("windows asked for %q seconds, want \"60 60 10\"", got)
	}
	data, err := os.ReadFile(o.profile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.ParseData(data)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, s := range p.Sample {
		total += s.Value[0]
	}
	if total != 3_000_000 {
		t.Errorf("merged profile holds %d ns, want 3 windows' 3000000", total)
	}
}

// TestParseCounters: the guest's counters page parses only when whole.
func TestParseCounters(t *testing.T) {
	m, ok := parseCounters("syscalls 10\nswitches 3\nipis 2\nhalts 1\nhalted_ns 5000\nbusy_ns 7\n")
	if !ok || m["syscalls"] != 10 || m["switches"] != 3 || m["ipis"] != 2 || m["halts"] != 1 || m["halted_ns"] != 5000 || m["busy_ns"] != 7 {
		t.Fatalf("parsed %v, %v", m, ok)
	}
	for _, bad := range []string{"", "not on Velocity\n", "syscalls 10\nswitches 3\n", "syscalls x\nswitches 3\nipis 2\nhalts 1\nhalted_ns 5\nbusy_ns 7\n", "syscalls 10\nswitches 3\nipis 2\nhalts 1\nhalted_ns 5000\n"} {
		if m, ok := parseCounters(bad); ok {
			t.Errorf("%q parsed as %v", bad, m)
		}
	}
}

// FuzzParseCounters: any answer parses or is refused without a panic, and
// one that parses has every counter netbench reads and prints back to
// itself.
func FuzzParseCounters(f *testing.F) {
	f.Add("syscalls 10\nswitches 3\nipis 2\nhalts 1\nhalted_ns 5000\nbusy_ns 7\ncalls.read 4\ncall_ns.read 900\n")
	f.Add("not on Velocity\n")
	f.Fuzz(func(t *testing.T, body string) {
		m, ok := parseCounters(body)
		if !ok {
			return
		}
		var b strings.Builder
		for _, k := range []string{"syscalls", "switches", "ipis", "halts", "halted_ns", "busy_ns"} {
			if _, has := m[k]; !has {
				t.Fatalf("%q parsed without %s", body, k)
			}
		}
		for k, v := range m {
			fmt.Fprintf(&b, "%s %d\n", k, v)
		}
		again, ok := parseCounters(b.String())
		if !ok || len(again) != len(m) {
			t.Fatalf("%v printed as %q parses as %v, %v", m, b.String(), again, ok)
		}
		for k, v := range m {
			if again[k] != v {
				t.Fatalf("%s: %d, then %d", k, v, again[k])
			}
		}
	})
}

// TestPairs: a pair's ratios are Velocity's advantage both ways round,
// and the spread is the middle half of the pairs.
func TestPairs(t *testing.T) {
	r := pairRatio([2]slice{{rps: 1200, cpuPerReq: 1000}, {rps: 1000, cpuPerReq: 1100}})
	if r.rps != 1.2 || r.cpuPerReq < 1.0999 || r.cpuPerReq > 1.1001 {
		t.Fatalf("pairRatio = %+v, want 1.2x requests/s and 1.1x host CPU", r)
	}
	if r := pairRatio([2]slice{{rps: 1200, cpuPerReq: -1}, {rps: 1000, cpuPerReq: 900}}); r.cpuPerReq != 0 {
		t.Fatalf("an unknown host CPU gave a ratio %v", r.cpuPerReq)
	}
	x := []float64{1.3, 0.9, 1.0, 1.1, 0.8, 1.2, 1.05, 0.95}
	if lo, hi := spread(x); lo != 0.9 || hi != 1.1 {
		t.Fatalf("spread = %v, %v, want 0.9 and 1.1", lo, hi)
	}
	if n := countAbove(x, 1); n != 4 {
		t.Fatalf("countAbove = %d, want 4", n)
	}
}

// TestPairSummaryCutShort: a row whose runs stopped early still prints
// what its finished pairs measured, and says it stopped; a row with no
// finished pair prints nothing.
func TestPairSummaryCutShort(t *testing.T) {
	var s pairSummary
	var b strings.Builder
	s.print(&b, "new conns", "linux", "Linux", 8)
	if b.Len() != 0 {
		t.Fatalf("no pairs printed %q", b.String())
	}
	s.add([2]slice{{rps: 1100, cpuPerReq: 1000}, {rps: 1000, cpuPerReq: 1000}})
	s.add([2]slice{{rps: 900, cpuPerReq: 1000}, {rps: 1000, cpuPerReq: 1100}})
	s.add([2]slice{{rps: 1000, cpuPerReq: -1}, {rps: 1000, cpuPerReq: 1000}})
	s.print(&b, "new conns", "linux", "Linux", 8)
	got := b.String()
	for _, want := range []string{"median 1.000x", "1 of 3 pairs ahead", "host CPU per request, Linux/Velocity: median 1.050x", "(stopped after 3 of 8 pairs)"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
	b.Reset()
	s.print(&b, "new conns", "linux", "Linux", 3)
	if strings.Contains(b.String(), "stopped") {
		t.Errorf("a finished row says it stopped: %q", b.String())
	}
}

// TestVirtioTrace: the trace log's lines are counted by queue, an
// interrupt is put on the queue its address was notified as, a line
// QEMU has not finished is left for the next read, and the counts per
// request are the differences between two reads.
func TestVirtioTrace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.log")
	write := func(s string) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(s)
		f.Close()
	}
	write("virtio_queue_notify vdev 0x55 n 0 vq 0xa0\nvirtio_queue_notify vdev 0x55 n 1 vq 0xb0\n")
	tr := newVirtioTrace(path)
	if err := tr.update(); err != nil {
		t.Fatal(err)
	}
	a := tr.snapshot()
	write("virtio_notify vdev 0x55 vq 0xb0\n1234@1.5:virtio_notify vdev 0x55 vq 0xa0\nvirtio_queue_notify vdev 0x55 n 1 vq 0xb0\nvirtio_notify vdev 0x55 vq 0xc0\nother_event x 1\nvirtio_queue_notify vdev 0x55 n 1 v")
	if err := tr.update(); err != nil {
		t.Fatal(err)
	}
	write("q 0xb0\n")
	if err := tr.update(); err != nil {
		t.Fatal(err)
	}
	b := tr.snapshot()
	want := map[string]uint64{"kick 0": 1, "kick 1": 3, "irq 1": 1, "irq 0": 1, "irq ?": 1}
	for k, v := range want {
		if b[k] != v {
			t.Errorf("%s: %d, want %d (all: %v)", k, b[k], v, b)
		}
	}
	desc, kicks, irqs := cardPerRequest(a, b, 2)
	if kicks != 1 || irqs != 1.5 || !strings.Contains(desc, "transmit 1.00") {
		t.Errorf("cardPerRequest = %q, %v, %v; want 1 notification and 1.5 interrupts per request, 1 on transmit", desc, kicks, irqs)
	}
	if err := newVirtioTrace(filepath.Join(t.TempDir(), "none")).update(); err == nil {
		t.Error("a missing log read without an error")
	}
}

// FuzzVirtioTraceLine: any line counts at most one event and never
// panics.
func FuzzVirtioTraceLine(f *testing.F) {
	f.Add("virtio_queue_notify vdev 0x55 n 1 vq 0xb0\n")
	f.Add("1@2.3:virtio_notify vdev 0x55 vq 0xb0\n")
	f.Add("virtio_queue_notify n\n")
	f.Fuzz(func(t *testing.T, line string) {
		tr := newVirtioTrace("")
		tr.add("virtio_queue_notify vdev 0x1 n 1 vq 0xb0")
		before := tr.snapshot()
		tr.add(line)
		var added uint64
		for k, v := range tr.snapshot() {
			added += v - before[k]
		}
		if added > 1 {
			t.Fatalf("%q counted %d events", line, added)
		}
	})
}

// TestUndoAll: what an interrupted run must undo runs newest first, once,
// and what was withdrawn does not run.
func TestUndoAll(t *testing.T) {
	var got []string
	onInterrupt(func() { got = append(got, "namespace") })
	w := onInterrupt(func() { got = append(got, "withdrawn guest") })
	onInterrupt(func() { got = append(got, "guest") })
	w()
	if n := undoAll(); n != 2 {
		t.Errorf("undoAll ran %d calls, want 2", n)
	}
	if strings.Join(got, ",") != "guest,namespace" {
		t.Errorf("ran %v, want the guest, then the namespace", got)
	}
	if n := undoAll(); n != 0 || len(got) != 2 {
		t.Errorf("a second undoAll ran %d calls", n)
	}
}

// TestEnvWords: -env takes KEY=VALUE words with upper-case keys and
// refuses what a kernel could read as its own option.
func TestEnvWords(t *testing.T) {
	w, err := envWords(" GOGC=400  GODEBUG=gctrace=1 ")
	if err != nil || strings.Join(w, " ") != "GOGC=400 GODEBUG=gctrace=1" {
		t.Fatalf("envWords = %q, %v", w, err)
	}
	for _, bad := range []string{"gogc=400", "GOGC", "=1", "ip.x=1", "quiet"} {
		if _, err := envWords(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestBothOrders(t *testing.T) {
	// An advantage of 1.05 seen through a bias of 1.03 for the slot
	// booted second: 1.05/1.03 with Velocity first, 1.05*1.03 after.
	e, b := bothOrders(1.05/1.03, 1.05*1.03)
	if math.Abs(e-1.05) > 1e-9 || math.Abs(b-1.03) > 1e-9 {
		t.Errorf("bothOrders = %v, %v; want 1.05, 1.03", e, b)
	}
	row := func(r ...float64) []rowPairs { return []rowPairs{{name: "new conns", sum: pairSummary{ratios: r}}} }
	var out strings.Builder
	printBothOrders(&out, row(0.9, 1.0, 1.1), append(row(1.2, 1.2, 1.3), rowPairs{name: "only here"}), "linux")
	got := out.String()
	for _, want := range []string{"booted first 1.000x, second 1.200x", "without the boot-order bias 1.095x", "the bias 1.095x", "pooled median 1.150x, 4 of 6 pairs ahead"} {
		if !strings.Contains(got, want) {
			t.Errorf("printBothOrders lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "only here") {
		t.Errorf("a row measured in one order only was printed:\n%s", got)
	}
}
