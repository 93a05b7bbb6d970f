// Command healbench is the self-healing section of make bench (issue 5):
// for each of eight deliberately slow modules in examples/heal (matrix
// multiply, CRC-32, Adler-32, substring search, prime sieve, FIR filter,
// popcount, insertion sort), it drives the real healing loop (heal.Slot,
// heal.Healer with its telemetry Watcher, the optimizer and the Gate)
// while a goroutine calls the function and checks every result, until the
// healed version is swapped in and proven. Then it measures, single
// threaded, the wall time per call of the original and the healed
// function (both JIT-compiled without instrumentation, median of many
// calls) and of the same work done by bench/gcref compiled by gc, and
// prints the table with the median healed speedup (target ≥ 3×) and the
// median healed/gc time ratio (target ≤ 1.5×).
//
// Run: go run ./bench/healbench [-only crc32,fir] [-scale 1] [-v]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/telemetry"
)

func main() {
	dir := flag.String("dir", "", "directory of the slow modules (default: examples/heal of this repository)")
	only := flag.String("only", "", "comma-separated kernel names to run (default: all)")
	scale := flag.Float64("scale", 1, "work per call relative to the default sizes")
	budget := flag.Duration("budget", 400*time.Millisecond, "time spent measuring each function")
	timeout := flag.Duration("timeout", 60*time.Second, "give up healing a kernel after")
	mean := flag.Uint64("mean", 100_000, "telemetry rule: heal when the mean exceeds this many cycles per call (over >= 10 calls)")
	verbose := flag.Bool("v", false, "print the healer's [Self-Evolution] log lines")
	flag.Parse()
	if !jit.Supported() {
		fmt.Println("healbench: no JIT on this platform")
		return
	}
	if *dir == "" {
		d, err := findDir()
		if err != nil {
			fmt.Fprintln(os.Stderr, "healbench:", err)
			os.Exit(1)
		}
		*dir = d
	}
	var log io.Writer = io.Discard
	if *verbose {
		log = os.Stdout
	}
	rule := telemetry.Rule{MeanAbove: *mean, MinCalls: 10, Windows: 1}
	fmt.Printf("healbench: %s, GOMAXPROCS %d, rule mean > %d cycles over >= 10 calls, tick 20ms\n",
		runtime.GOARCH, runtime.GOMAXPROCS(0), *mean)
	fmt.Printf("%-9s %10s %10s %8s %10s %9s %9s %8s  %s\n",
		"kernel", "orig µs", "healed µs", "speedup", "gc µs", "healed/gc", "heal s", "cyc x", "passes")
	var speedups, ratios []float64
	failed := 0
	for _, k := range kernels(*scale) {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), k.Name) {
			continue
		}
		h, err := runHeal(*dir, k, healOptions{Tick: 20 * time.Millisecond, Timeout: *timeout, Rule: rule, Log: log})
		if err != nil {
			fmt.Printf("%-9s FAILED: %v\n", k.Name, err)
			failed++
			continue
		}
		orig, err1 := wallJIT(h.Orig, k, *budget)
		heal, err2 := wallJIT(h.New, k, *budget)
		gc, err3 := wallGC(k, *budget)
		if err := firstErr(err1, err2, err3); err != nil {
			fmt.Printf("%-9s FAILED: %v\n", k.Name, err)
			failed++
			continue
		}
		sp := float64(orig) / float64(heal)
		ratio := float64(heal) / float64(gc)
		speedups, ratios = append(speedups, sp), append(ratios, ratio)
		fmt.Printf("%-9s %10.1f %10.1f %7.2fx %10.1f %8.2fx %9.2f %7.2fx  %s\n",
			k.Name, us(orig), us(heal), sp, us(gc), ratio, h.Elapsed.Seconds(),
			h.Proven.BeforeMean/max(h.Proven.AfterMean, 1), strings.Replace(strings.Join(h.Passes, ","), ",+,", " + ", -1))
	}
	if len(speedups) == 0 {
		os.Exit(1)
	}
	ms, mr := med(speedups), med(ratios)
	fmt.Printf("median healed speedup %.2fx (target >= 3x): %s\n", ms, verdict(ms >= 3))
	fmt.Printf("median healed/gc time %.2fx (target <= 1.5x): %s\n", mr, verdict(mr <= 1.5))
	fmt.Println("(µs: median wall time per call, single-threaded, JIT code without telemetry; heal s: time from the first call",
		"to the healed version being proven; cyc x: the healer's own before/after cycles on the calls since the swap)")
	if failed > 0 {
		os.Exit(1)
	}
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

func med(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}
