// Command heal runs the self-healing loop of issue 5 inside the
// unikernel (it runs on a Linux host too): goroutines on every CPU call a
// deliberately slow module function (heal.DemoSource's Work) through a
// heal.Slot and check every result against the interpreter's; telemetry
// flags the function, advisors and the optimizer propose candidates, the
// gate validates them, the winner is swapped in under load, and a trial
// on real traffic proves it or rolls it back. `make run APP=./images/heal`
// boots it; tests/heal asserts on its serial output.
//
// Usage: heal [-mode all|demo|swap|go|llm] [flags]
//
// The demo scenario, in order:
//
//  1. Callers send Work(n) with n near -n. The trigger rule
//     ($TELEMETRY_RULE, which a TELEMETRY_RULE=... word on the kernel
//     command line sets, else the seed's mean > 1.5M cycles over 10
//     calls) fires and the healer logs a latency warning.
//  2. Advisor "scripted-fault" proposes a rewrite that divides by zero on the
//     rare input n = 1000: the gate's differential test rejects it.
//  3. Advisor "scripted-overfit" proposes a rewrite specialised for the inputs
//     it was shown (n ≤ -n+32: fast) that does three times the original's
//     work for larger n. It passes the gate (the A/B timing runs on the
//     recorded inputs, all small) and is swapped in.
//  4. The callers' traffic has meanwhile shifted to n near -n+64 (a
//     workload change the candidate was not validated for: the shift
//     happens while the healer works on the alert, after it copied the
//     recorded inputs). The trial times old and new on the inputs seen
//     since the swap, finds the new version slower and rolls it back.
//  5. The rule fires again on the original; "scripted-fault" is rejected again,
//     "scripted-overfit" now fails the A/B timing on the recorded large inputs,
//     and the optimizer's candidate is swapped in and proven on the real
//     traffic.
//
// With -expect warn only the first alert is awaited (no candidates); with
// -expect none the rule must not fire within -none-calls calls. The swap
// mode: one goroutine per CPU makes -calls calls while the slot is
// swapped -swaps times between two versions. The go mode (not part of
// all) heals a Go function of this program instead of a module function:
// see gofunc.go. The llm mode (not part of all) makes the on-board model
// the only advisor: see llm.go.
//
// Besides the [Self-Evolution] lines of the healer and the live
// [telemetry] lines it prints lines for tests:
//
//	HEAL rule <rule> (<source>)
//	HEAL alert mean=<cycles> p99<=<cycles> windows=<n> calls=<n> (what each alert saw)
//	HEAL reference <k> inputs by the interpreter in <ms> ms
//	HEAL proven <cid> before=<cycles> after=<cycles> speedup=<x>
//	HEAL summary calls=<n> wrong=<n> swaps=<n> rollbacks=<n> rejected=<n> speedup=<x> elapsed=<s>
//	HEAL none calls=<n> avg=<cycles> (with -expect none: the rule never fired)
//	HEAL cpus <cpu>=<calls> ... / SWAP cpus <cpu>=<calls> ... (calls per CPU)
//	SWAP calls=<n> goroutines=<n> swaps=<n> wrong=<n> versions=<a>/<b> publish_median=<ns> publish_max=<ns> quiesce_median=<ns> quiesce_max=<ns> elapsed=<s>
//	SWAP patch rewrites=<n> entry_rewrites=<n> held_avg=<ns> (the patcher's counters: machine-code rewrites of the run, of the slot's entry since it was made, mean time callers could be held)
//	GO calibrate bytes=<n> bitwise=<cycles> slicing8=<cycles> rule <rule>
//	GO cpus <cpu>=<calls> ...
//	GO summary calls=<n> wrong=<n> swaps=<n> rejected=<n> current=<variant> ab_speedup=<x> traffic_speedup=<x> swap_us=<µs> held_us=<µs> elapsed=<s>
//	GO patch pokes=<n> traps=<n> busy=<n> stale=<n> entry_rewrites=<n> (the kernel's patch counters over the run)
//	HEAL FAIL <reason>
//
// It exits 0 when every mode succeeded, 1 on any failure (a wrong
// result, no healing before -timeout, no rollback, ...), 2 on bad flags or
// a bad $TELEMETRY_RULE.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/registry"
	"github.com/velocityos/velocity/telemetry"
)

var (
	mode       = flag.String("mode", "all", "what to run: demo (healing scenario), swap (swap under load), all (both), go (heal a Go function of the kernel) or llm (the on-board model as the advisor, -model)")
	baseN      = flag.Int64("n", 3000, "demo: Work's argument before the traffic shift (n+64 after it)")
	goroutines = flag.Int("goroutines", 0, "demo: callers (default 2×CPUs)")
	timeout    = flag.Duration("timeout", 5*time.Minute, "demo: give up after")
	tick       = flag.Duration("tick", 20*time.Millisecond, "demo: telemetry window (one healer Tick)")
	statsEvery = flag.Duration("stats", 500*time.Millisecond, "demo: interval of the live [telemetry] lines (0: none)")
	expect     = flag.String("expect", "heal", "demo: heal (rollback, then a proven version), warn (the rule fires; no candidates) or none (the rule must not fire)")
	quietCalls = flag.Int64("none-calls", 100, "demo with -expect none: calls to watch before concluding")
	ring       = flag.Int("ring", 16, "demo: recorded argument tuples kept by the slot, the inputs of the gate's A/B timing and of the trial (heal.Slot's default is 64; fewer keep validation quick under TCG)")
	random     = flag.Int("random", 20, "demo: random inputs of the gate's differential test, on top of the recorded and edge inputs")
	swapCalls  = flag.Int64("calls", 1_000_000, "swap: total calls over all goroutines")
	swapCount  = flag.Int("swaps", 1000, "swap: swaps between the two versions")
	goBytes    = flag.Int("bytes", 2048, "go: bytes per checksummed buffer")
)

func main() {
	flag.Parse()
	if flag.NArg() != 0 || !slices.Contains([]string{"all", "demo", "swap", "go", "llm"}, *mode) ||
		!slices.Contains([]string{"heal", "warn", "none"}, *expect) || *baseN < 1 || *baseN > 1<<20 || *swapCalls < 1 || *swapCount < 0 || *tick <= 0 || *ring < 1 || *random < 1 || *goBytes < 1 || *goBytes > 1<<20 {
		fmt.Fprintln(os.Stderr, "usage: heal [-mode all|demo|swap|go|llm] [-model M.gguf] [-llm-asks N] [-llm-tokens N] [-bytes 1..1048576] [-n 1..1048576] [-goroutines N] [-timeout D] [-tick D] [-stats D] [-expect heal|warn|none] [-none-calls N] [-ring N] [-random N] [-calls N] [-swaps N]")
		os.Exit(2)
	}
	if !jit.Supported() {
		fmt.Println("HEAL FAIL the JIT needs linux/amd64 or Velocity")
		os.Exit(1)
	}
	rule, err := telemetry.RuleFromEnv()
	if err != nil {
		// The healer would fall back to the default; a typo on the
		// command line should not go unnoticed.
		fmt.Printf("HEAL FAIL $%s: %v\n", telemetry.RuleEnv, err)
		os.Exit(2)
	}
	ok := true
	if *mode == "all" || *mode == "demo" {
		ok = demo(rule) && ok
	}
	if *mode == "all" || *mode == "swap" {
		ok = swapUnderLoad() && ok
	}
	if *mode == "go" {
		ok = goFunc() && ok
	}
	if *mode == "llm" {
		ok = llmMode() && ok
	}
	if !ok {
		os.Exit(1)
	}
}

func fail(format string, args ...any) bool {
	fmt.Printf("HEAL FAIL "+format+"\n", args...)
	return false
}

// compile parses, checks and hashes a module and stores its blocks (the
// gate re-decodes candidates against them).
func compile(name, src string, st *registry.MemStore) (*ir.Module, error) {
	_, m, err := registry.AddSource(st, name, []byte(src))
	return m, err
}

// advisor is a scripted advisor: it proposes one fixed, hand-written
// source candidate (its name says which), so that the demo shows the gate
// rejecting a fault, and a rollback, every time. It is not a model; the
// on-board model advises in -mode llm.
// onPropose, if set, runs when the healer asks it for candidates.
type advisor struct {
	name, src string
	onPropose func()
}

func (a advisor) Name() string { return a.name }
func (a advisor) Propose(*ir.Func, telemetry.Alert) []heal.Candidate {
	if a.onPropose != nil {
		a.onPropose()
	}
	return []heal.Candidate{{Source: a.src, FuncName: "Work", Passes: []string{a.name}}}
}

// alertLog is the first advisor: it proposes nothing and prints what the
// alert that woke the healer saw (the [Self-Evolution] line has no p99).
type alertLog struct{ count atomic.Int64 }

func (*alertLog) Name() string { return "alert-log" }
func (a *alertLog) Propose(_ *ir.Func, al telemetry.Alert) []heal.Candidate {
	a.count.Add(1)
	fmt.Printf("HEAL alert mean=%d p99<=%d windows=%d calls=%d\n", al.Mean, al.P99, al.Windows, al.Total.Calls)
	return nil
}

// rareFault is correct and fast except on n = 1000, where it divides by
// zero. The demo's traffic never sends 1000; the gate's edge inputs do.
const rareFault = `module scripted

func Work(n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ {
		s += i * 8
	}
	var z int64
	if n == 1000 {
		return s / z
	}
	return s
}
`

// overfit is correct for every n, fast for n ≤ limit (the inputs it was
// shown) and three times slower than the original above it.
func overfit(limit int64) string {
	return fmt.Sprintf(`module scripted

func Work(n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ {
		if n > %d {
			var junk int64
			for j := int64(0); j < 600; j++ {
				junk = junk*31 + j
			}
			s += junk & 0
		}
		s += i * 8
	}
	return s
}
`, limit)
}

// The callers send spread distinct arguments from -n on, then from
// -n+shift on; the overfit candidate is fast up to -n+limit.
const (
	spread = 2
	limit  = 32
	shift  = 64
)

func demo(rule telemetry.Rule) bool {
	src := "the seed's default"
	if v := os.Getenv(telemetry.RuleEnv); v != "" {
		src = "$" + telemetry.RuleEnv + "=" + v
	}
	fmt.Printf("HEAL rule %v (%s)\n", rule, src)
	st := registry.NewMemStore()
	m, err := compile("slow.vel", heal.DemoSource, st)
	if err != nil {
		return fail("%v", err)
	}
	work := m.Lookup("Work")
	n1, n2 := *baseN, *baseN+shift

	// The reference: every argument the callers will send, computed by
	// the interpreter on the original IR (not by a closed form), one
	// goroutine per argument (the interpreter is slow under TCG).
	start := time.Now()
	var args []int64
	for k := int64(0); k < spread; k++ {
		args = append(args, n1+k, n2+k)
	}
	ref := map[int64]int64{}
	var refMu sync.Mutex
	var refErr error
	var refWG sync.WaitGroup
	for _, n := range args {
		refWG.Add(1)
		go func() {
			defer refWG.Done()
			r, err := interp.New(1<<40).Call(work, []interp.Value{uint64(n)})
			refMu.Lock()
			defer refMu.Unlock()
			if err != nil {
				refErr = fmt.Errorf("interpreter: Work(%d): %v", n, err)
				return
			}
			ref[n] = int64(r.(uint64))
		}()
	}
	refWG.Wait()
	if refErr != nil {
		return fail("%v", refErr)
	}
	fmt.Printf("HEAL reference %d inputs by the interpreter in %d ms\n", len(ref), time.Since(start).Milliseconds())

	slot, err := heal.NewSlot("Work", work)
	if err != nil {
		return fail("%v", err)
	}
	slot.RingN = *ring
	orig := slot.Current()
	// Fuel covers the slowest version on the largest input with room to
	// spare (the overfit candidate: about 601 back-edges per iteration);
	// random inputs that exhaust it are inconclusive for the gate.
	fuel := 2000 * (n2 + spread)
	h := &heal.Healer{
		Gate: heal.Gate{Blocks: st, Random: *random, Fuel: fuel, MinSpeedup: 1.1},
		Log:  os.Stdout,
		// Rule stays nil: the healer reads $TELEMETRY_RULE itself, the path
		// the kernel command line configures.
	}
	var phase atomic.Int64 // the callers' base argument
	phase.Store(n1)
	alerts := &alertLog{}
	h.Advisors = []heal.Advisor{alerts}
	if *expect == "heal" {
		// The workload shifts to larger arguments while the healer works
		// on the first alert: it has already taken its copy of the
		// recorded (small) inputs, which the gate's A/B timing uses, and
		// the slot records only the new traffic from the swap on, which
		// the trial judges. The overfit candidate thus meets inputs it was
		// not validated on, as it would after a real change of workload.
		shiftTraffic := func() {
			if phase.CompareAndSwap(n1, n2) {
				fmt.Printf("HEAL traffic shifts to Work(%d..%d)\n", n2, n2+spread-1)
			}
		}
		h.Advisors = append(h.Advisors,
			advisor{"scripted-fault", rareFault, shiftTraffic},
			advisor{"scripted-overfit", overfit(n1 + limit), nil},
			heal.OptimizerAdvisor{})
	}
	h.Add(slot)

	workers := *goroutines
	if workers <= 0 {
		workers = 2 * runtime.NumCPU()
	}
	var calls, wrong atomic.Int64
	var cpus cpuCounts
	var stop atomic.Bool
	var wg sync.WaitGroup
	var firstWrong sync.Once
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			c := heal.NewCaller()
			defer c.Close()
			for k := 0; !stop.Load(); k++ {
				n := phase.Load() + int64((k*3+g)%spread)
				r, err := c.Call(slot, []interp.Value{uint64(n)})
				calls.Add(1)
				cpus.count()
				if got, ok := r.(uint64); err != nil || !ok || int64(got) != ref[n] {
					wrong.Add(1)
					firstWrong.Do(func() { fmt.Printf("HEAL wrong Work(%d) = %v, %v; want %d\n", n, r, err, ref[n]) })
				}
			}
		}(g)
	}

	live := &telemetry.Live{Reg: &telemetry.Registry{}, W: os.Stdout}
	live.Reg.AddSource(slot)
	start = time.Now()
	lastStats := start
	seen := 0
	var proven *heal.Event
	var afterProven int64
	for time.Since(start) < *timeout {
		time.Sleep(*tick)
		h.Tick()
		for ; seen < len(h.Events); seen++ {
			e := h.Events[seen]
			switch e.Kind {
			case "proven":
				proven = &h.Events[seen]
				afterProven = calls.Load()
				fmt.Printf("HEAL proven %s before=%.0f after=%.0f speedup=%.2f\n", e.To, e.BeforeMean, e.AfterMean, e.Speedup)
			}
		}
		if *statsEvery > 0 && time.Since(lastStats) >= *statsEvery {
			lastStats = time.Now()
			live.Print(time.Since(start))
		}
		if *expect == "heal" && proven != nil && calls.Load()-afterProven >= int64(4*workers) {
			break // the healed version has served real traffic for a while
		}
		if *expect == "warn" && alerts.count.Load() > 0 {
			break
		}
		if *expect == "none" && orig.Stats().Calls >= uint64(*quietCalls) {
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	if *statsEvery > 0 {
		live.Print(elapsed)
	}

	var rollbacks int
	for _, e := range h.Events {
		if e.Kind == "rollback" {
			rollbacks++
		}
	}
	speedup := 0.0
	if proven != nil {
		speedup = proven.Speedup
	}
	if *expect == "none" {
		o := orig.Stats()
		fmt.Printf("HEAL none calls=%d avg=%.0f\n", o.Calls, o.Mean())
	}
	fmt.Printf("HEAL cpus %s\n", cpus.String())
	fmt.Printf("HEAL summary calls=%d wrong=%d swaps=%d rollbacks=%d rejected=%d speedup=%.2f elapsed=%.2fs\n",
		calls.Load(), wrong.Load(), slot.Swaps(), rollbacks, len(h.Rejected), speedup, elapsed.Seconds())
	fmt.Println()
	telemetry.WriteTop(os.Stdout, telemetry.MergeSamples([]telemetry.Sample{
		{Name: "Work (original)", ID: orig.CID, Stats: orig.Stats()},
		{Name: "Work (current)", ID: slot.Current().CID, Stats: slot.Current().Stats()},
	}), 0)
	fmt.Println()

	switch {
	case wrong.Load() != 0:
		return fail("%d wrong results of %d calls", wrong.Load(), calls.Load())
	case *expect == "none":
		if len(h.Events) != 0 || slot.Current() != orig {
			return fail("the rule fired although -expect none: events %+v", h.Events)
		}
		if orig.Stats().Calls < uint64(*quietCalls) {
			return fail("only %d calls before the timeout", orig.Stats().Calls)
		}
		return true
	case *expect == "warn":
		if alerts.count.Load() == 0 || len(h.Events) != 0 {
			return fail("-expect warn: %d alerts, events %+v", alerts.count.Load(), h.Events)
		}
		return true
	case proven == nil:
		return fail("no healed version proven within %v (events %d, rejected %d)", *timeout, len(h.Events), len(h.Rejected))
	case rollbacks == 0:
		return fail("the overfit candidate was not rolled back")
	case slot.Current().CID != proven.To:
		return fail("current version %s is not the proven %s", slot.Current().CID, proven.To)
	}
	return true
}

// swapUnderLoad: one goroutine per CPU calls the slot until -calls calls
// are made in total, while this goroutine swaps it between the original
// and the optimizer's version -swaps times, spread over the run. Both
// versions return the same results, so every result must be right, and
// their telemetry must add up to exactly the calls made.
func swapUnderLoad() bool {
	st := registry.NewMemStore()
	m, err := compile("slow.vel", heal.DemoSource, st)
	if err != nil {
		return fail("%v", err)
	}
	work := m.Lookup("Work")
	slot, err := heal.NewSlot("Work", work)
	if err != nil {
		return fail("%v", err)
	}
	a := slot.Current()
	nf, passes := heal.Optimize(work)
	if nf == nil {
		return fail("the optimizer found nothing in Work")
	}
	g := &heal.Gate{Blocks: st, Random: 20, Fuel: 1e6}
	b, _, err := g.Check(a, heal.Candidate{From: "optimizer", Passes: passes, Func: nf}, nil)
	if err != nil {
		return fail("%v", err)
	}
	// Small arguments keep calls short, so many of them overlap a swap.
	const args = 4
	var ref [args]int64
	for n := range ref {
		r, err := interp.New(1<<30).Call(work, []interp.Value{uint64(n)})
		if err != nil {
			return fail("interpreter: %v", err)
		}
		ref[n] = int64(r.(uint64))
	}
	total := *swapCalls
	workers := runtime.NumCPU()
	var next, wrong atomic.Int64
	var cpus cpuCounts
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := heal.NewCaller()
			defer c.Close()
			for {
				k := next.Add(1)
				if k > total {
					return
				}
				n := k % args
				r, err := c.Call(slot, []interp.Value{uint64(n)})
				if k%64 == 0 {
					cpus.count()
				}
				if got, ok := r.(uint64); err != nil || !ok || int64(got) != ref[n] {
					wrong.Add(1)
				}
			}
		}()
	}
	publish := make([]time.Duration, 0, *swapCount)
	quiesce := make([]time.Duration, 0, *swapCount)
	rewrites0, held0 := heal.PatchCounters()
	for s := 0; s < *swapCount; s++ {
		for next.Load() < int64(s)*total/int64(*swapCount) {
			runtime.Gosched()
		}
		to := b
		if slot.Current() == b {
			to = a
		}
		t0 := time.Now()
		old, err := slot.Publish(to)
		t1 := time.Now()
		if err != nil {
			stopCalls(&next, total, &wg)
			return fail("swap %d: %v", s, err)
		}
		if err := old.Quiesce(30 * time.Second); err != nil {
			stopCalls(&next, total, &wg)
			return fail("swap %d: %v", s, err)
		}
		publish, quiesce = append(publish, t1.Sub(t0)), append(quiesce, time.Since(t0))
	}
	wg.Wait()
	elapsed := time.Since(start)
	rewrites1, held1 := heal.PatchCounters()
	sa, sb := a.Stats(), b.Stats()
	fmt.Printf("SWAP cpus %s (one call in 64 sampled)\n", cpus.String())
	fmt.Printf("SWAP calls=%d goroutines=%d swaps=%d wrong=%d versions=%d/%d publish_median=%d publish_max=%d quiesce_median=%d quiesce_max=%d elapsed=%.2fs\n",
		total, workers, slot.Swaps(), wrong.Load(), sa.Calls, sb.Calls,
		median(publish), maxOf(publish), median(quiesce), maxOf(quiesce), elapsed.Seconds())
	patched := rewrites1 - rewrites0
	fmt.Printf("SWAP patch rewrites=%d entry_rewrites=%d held_avg=%d\n",
		patched, slot.Rewrites(), int64(held1-held0)/max(patched, 1))
	switch {
	case patched < int64(*swapCount):
		return fail("the patcher counted %d machine-code rewrites for %d swaps", patched, *swapCount)
	case wrong.Load() != 0:
		return fail("%d wrong results under swapping", wrong.Load())
	case sa.Calls+sb.Calls != uint64(total):
		return fail("telemetry counted %d+%d calls, want %d", sa.Calls, sb.Calls, total)
	case *swapCount > 1 && (sa.Calls == 0 || sb.Calls == 0):
		return fail("one version never ran (%d/%d calls)", sa.Calls, sb.Calls)
	}
	return true
}

// cpuCounts counts calls by the CPU the caller ran on right after the
// call, to show that callers run on every CPU.
type cpuCounts struct {
	n [64]atomic.Int64
}

// count notes the current CPU (a getcpu system call: sample it where
// calls are short).
func (c *cpuCounts) count() {
	if cpu, err := kernel.CurrentCPU(); err == nil && cpu >= 0 && cpu < len(c.n) {
		c.n[cpu].Add(1)
	}
}

// String lists "cpu=calls" for every CPU that made calls.
func (c *cpuCounts) String() string {
	var parts []string
	for i := range c.n {
		if v := c.n[i].Load(); v > 0 {
			parts = append(parts, fmt.Sprintf("%d=%d", i, v))
		}
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, " ")
}

func stopCalls(next *atomic.Int64, total int64, wg *sync.WaitGroup) {
	next.Store(total)
	wg.Wait()
}

func median(d []time.Duration) int64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2].Nanoseconds()
}

func maxOf(d []time.Duration) int64 {
	if len(d) == 0 {
		return 0
	}
	return slices.Max(d).Nanoseconds()
}
