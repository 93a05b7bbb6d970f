// Command jitbench measures the module JIT (lang/jit) on the eight
// kernels of examples/bench against the interpreter and against the same
// functions compiled by gc (bench/gcref), on fixed-seed inputs: compile
// latency per function, time per call for the interpreter, the JIT, the
// JIT of the heal.Optimize'd function and gc, with ratios. Issue 4's
// target is JIT within 1.5× of gc; the median JIT/gc ratio over the
// kernels is printed with PASS or MISS. Run by make bench.
//
// Times are the minimum over -samples samples of the mean time per call
// over a batch lasting about -sample, the engines sampled in turn: the
// minimum is the least disturbed by other work on a shared machine. Every engine's result is checked
// against gc's before timing.
package main

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/velocityos/velocity/examples/bench"
	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/jit"
)

var (
	sample  = flag.Duration("sample", 60*time.Millisecond, "target duration of one timing sample")
	samples = flag.Int("samples", 5, "samples per measurement (the minimum is reported)")
	size    = flag.Float64("size", 1, "input size scale")
	only    = flag.String("kernels", "", "comma-separated kernels to run (default all)")
	target  = flag.Float64("target", 1.5, "JIT/gc ratio target for the median")
)

// measure returns, for each of runs, the minimum over samples of its
// mean duration per call. The engines are sampled in turn, round after
// round, so that a burst of other work on the machine hits them all
// alike instead of one of them.
func measure(runs ...func()) []time.Duration {
	ns := make([]int, len(runs))
	for k, run := range runs {
		n := 1
		for {
			t0 := time.Now()
			for i := 0; i < n; i++ {
				run()
			}
			if d := time.Since(t0); d >= *sample/4 || n >= 1<<30 {
				n = max(1, int(float64(n)*float64(*sample)/float64(max(d, 1))))
				break
			}
			n *= 2
		}
		ns[k] = n
	}
	best := make([]time.Duration, len(runs))
	for k := range best {
		best[k] = time.Duration(1<<63 - 1)
	}
	for s := 0; s < *samples; s++ {
		for k, run := range runs {
			t0 := time.Now()
			for i := 0; i < ns[k]; i++ {
				run()
			}
			best[k] = min(best[k], time.Since(t0)/time.Duration(ns[k]))
		}
	}
	return best
}

// compileLatency is the minimum time to compile f alone (code
// generation, both passes) and to load it (link, validate, map).
func compileLatency(f *ir.Func) (gen, load time.Duration, err error) {
	gen, load = time.Duration(1<<63-1), time.Duration(1<<63-1)
	for i := 0; i < 200; i++ {
		t0 := time.Now()
		c, err := jit.Compile(f)
		if err != nil {
			return 0, 0, err
		}
		t1 := time.Now()
		p, err := jit.Load(c)
		if err != nil {
			return 0, 0, err
		}
		t2 := time.Now()
		p.Close()
		gen, load = min(gen, t1.Sub(t0)), min(load, t2.Sub(t1))
	}
	return gen, load, nil
}

type row struct {
	name                    string
	gen, load               time.Duration
	interp, jit, jitOpt, gc time.Duration
	passes                  []string
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/1e3) }

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "jitbench: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	flag.Parse()
	if !jit.Supported() {
		fmt.Println("jitbench: no JIT on this platform; skipped")
		return
	}
	mod, err := bench.Module()
	if err != nil {
		fail("%v", err)
	}
	names := bench.Names
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	const fuel = 1 << 60
	mach := jit.New(0)
	defer mach.Close()
	var rows []row
	for _, name := range names {
		f := mod.Lookup(name)
		if f == nil {
			fail("no kernel %q", name)
		}
		c, err := bench.NewCase(name, rand.New(rand.NewSource(1)), *size)
		if err != nil {
			fail("%v", err)
		}
		r := row{name: name}
		if r.gen, r.load, err = compileLatency(f); err != nil {
			fail("%s: %v", name, err)
		}
		opt, passes := heal.Optimize(f)
		if opt == nil {
			opt = f
		}
		r.passes = passes
		p, err := jit.CompileAndLoad(f)
		if err != nil {
			fail("%s: %v", name, err)
		}
		po, err := jit.CompileAndLoad(opt)
		if err != nil {
			fail("%s optimized: %v", name, err)
		}
		want := c.GC()
		check := func(engine string, v interp.Value, err error) {
			if err != nil {
				fail("%s %s: %v", name, engine, err)
			}
			if v.(uint64) != want {
				fail("%s %s: result %d, gc %d", name, engine, int64(v.(uint64)), int64(want))
			}
		}
		runInterp := func() (interp.Value, error) { c.Reset(); return interp.New(fuel).Call(f, c.VM) }
		runJIT := func(p *jit.Program, f *ir.Func) func() (interp.Value, error) {
			return func() (interp.Value, error) { c.Reset(); mach.Fuel = fuel; return mach.Call(p, f, c.VM) }
		}
		jitPlain, jitOpt := runJIT(p, f), runJIT(po, opt)
		v, err := runInterp()
		check("interp", v, err)
		v, err = jitPlain()
		check("jit", v, err)
		v, err = jitOpt()
		check("jit-opt", v, err)
		t := measure(func() { runInterp() }, func() { jitPlain() }, func() { jitOpt() }, func() { c.GC() })
		r.interp, r.jit, r.jitOpt, r.gc = t[0], t[1], t[2], t[3]
		p.Close()
		po.Close()
		rows = append(rows, r)
	}
	fmt.Printf("JIT kernels (examples/bench/kernels.vel vs bench/gcref), time per call in µs, min of %d samples\n", *samples)
	fmt.Printf("%-14s %8s %8s %11s %10s %10s %10s %8s %8s %8s  %s\n",
		"kernel", "gen µs", "load µs", "interp", "jit", "jit-opt", "gc", "jit/gc", "opt/gc", "int/jit", "heal passes")
	var ratios, optRatios []float64
	for _, r := range rows {
		jr, or := float64(r.jit)/float64(r.gc), float64(r.jitOpt)/float64(r.gc)
		ratios, optRatios = append(ratios, jr), append(optRatios, or)
		fmt.Printf("%-14s %8s %8s %11s %10s %10s %10s %7.2fx %7.2fx %7.1fx  %s\n",
			r.name, us(r.gen), us(r.load), us(r.interp), us(r.jit), us(r.jitOpt), us(r.gc),
			jr, or, float64(r.interp)/float64(r.jit), strings.Join(r.passes, ","))
	}
	med := func(xs []float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		if len(s) == 0 {
			return 0
		}
		if len(s)%2 == 1 {
			return s[len(s)/2]
		}
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	verdict := func(x float64) string {
		if x <= *target {
			return "PASS"
		}
		return "MISS"
	}
	mj, mo := med(ratios), med(optRatios)
	fmt.Printf("median JIT/gc %.2fx: %s (target %.2fx); median optimized JIT/gc %.2fx: %s\n", mj, verdict(mj), *target, mo, verdict(mo))
}
