package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/velocityos/velocity/bench/gcref"
	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/registry"
	"github.com/velocityos/velocity/telemetry"
)

// kernel is one benchmark: a deliberately slow module function in
// examples/heal and the same work done by its gc-compiled twin in
// bench/gcref.
type kernel struct {
	Name, File, Func string
	// args returns the argument tuple of one call: slices the function
	// writes to are fresh each time (so every call does the same work).
	args func() []interp.Value
	// gc does the same work with bench/gcref; prep builds its inputs
	// (not timed), run times only the call.
	gc func() (prep func(), run func() uint64)
	// want is the result of every call.
	want uint64
}

func bytesArg(b []byte) interp.Slice {
	s := interp.Slice{Elems: make([]uint64, len(b))}
	for i, x := range b {
		s.Elems[i] = uint64(x)
	}
	return s
}

func intsArg(v []int64) interp.Slice {
	s := interp.Slice{Elems: make([]uint64, len(v))}
	for i, x := range v {
		s.Elems[i] = uint64(x)
	}
	return s
}

// kernels builds the eight benchmarks; scale multiplies the work per call
// (1 for make bench; the test uses less).
func kernels(scale float64) []*kernel {
	r := rand.New(rand.NewPCG(1, 2))
	sz := func(n int) int { return max(int(float64(n)*scale), 8) }
	randBytes := func(n, alpha int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.IntN(alpha))
		}
		return b
	}
	randInts := func(n int, lim int64) []int64 {
		v := make([]int64, n)
		for i := range v {
			v[i] = r.Int64N(2*lim) - lim
		}
		return v
	}
	var ks []*kernel

	// Matrix multiply, n×n.
	{
		n := int64(max(int(32*math.Cbrt(scale)), 4))
		a, b := randInts(int(n*n), 1000), randInts(int(n*n), 1000)
		aa, ba := intsArg(a), intsArg(b)
		ks = append(ks, &kernel{Name: "matmul", File: "matmul.vel", Func: "MatMul",
			args: func() []interp.Value {
				return []interp.Value{aa, ba, interp.Slice{Elems: make([]uint64, n*n)}, uint64(n)}
			},
			gc: func() (func(), func() uint64) {
				c := make([]int64, n*n)
				return func() {}, func() uint64 { return uint64(gcref.MatMul(a, b, c, n)) }
			},
			want: uint64(gcref.MatMul(a, b, make([]int64, n*n), n)),
		})
	}
	// CRC-32 (IEEE) of random bytes.
	{
		data := randBytes(sz(4096), 256)
		da := bytesArg(data)
		ks = append(ks, &kernel{Name: "crc32", File: "crc32.vel", Func: "CRC32",
			args: func() []interp.Value { return []interp.Value{da, uint64(0xedb88320)} },
			gc: func() (func(), func() uint64) {
				return func() {}, func() uint64 { return gcref.CRC32(data) }
			},
			want: gcref.CRC32(data),
		})
	}
	// Adler-32 of random bytes.
	{
		data := randBytes(sz(16384), 256)
		da := bytesArg(data)
		ks = append(ks, &kernel{Name: "adler32", File: "adler32.vel", Func: "Adler32",
			args: func() []interp.Value { return []interp.Value{da, uint64(65521)} },
			gc: func() (func(), func() uint64) {
				return func() {}, func() uint64 { return gcref.Adler32(data) }
			},
			want: gcref.Adler32(data),
		})
	}
	// Substring search: a two-letter haystack (many partial matches) with
	// the needle at the end.
	{
		hay := randBytes(sz(8192), 2)
		for i := range hay {
			hay[i] += 'a'
		}
		needle := []byte("abbabaabbbabaaba")
		copy(hay[len(hay)-len(needle):], needle)
		ha, na := bytesArg(hay), bytesArg(needle)
		ks = append(ks, &kernel{Name: "find", File: "find.vel", Func: "Find",
			args: func() []interp.Value { return []interp.Value{ha, na} },
			gc: func() (func(), func() uint64) {
				return func() {}, func() uint64 { return uint64(gcref.Find(hay, needle)) }
			},
			want: uint64(gcref.Find(hay, needle)),
		})
	}
	// Prime sieve below n.
	{
		n := int64(sz(50000))
		ks = append(ks, &kernel{Name: "sieve", File: "sieve.vel", Func: "Sieve",
			args: func() []interp.Value { return []interp.Value{uint64(n)} },
			gc: func() (func(), func() uint64) {
				return func() {}, func() uint64 { return uint64(gcref.Sieve(n)) }
			},
			want: uint64(gcref.Sieve(n)),
		})
	}
	// FIR filter, 16 taps.
	{
		x, h := randInts(sz(2048), 1<<20), randInts(16, 1<<10)
		xa, ha := intsArg(x), intsArg(h)
		ny := len(x)
		ks = append(ks, &kernel{Name: "fir", File: "fir.vel", Func: "FIR",
			args: func() []interp.Value {
				return []interp.Value{xa, ha, interp.Slice{Elems: make([]uint64, ny)}, uint64(len(h))}
			},
			gc: func() (func(), func() uint64) {
				y := make([]int64, ny)
				return func() {}, func() uint64 { return uint64(gcref.FIR(x, h, y)) }
			},
			want: uint64(gcref.FIR(x, h, make([]int64, ny))),
		})
	}
	// Population count of random words.
	{
		data := make([]int64, sz(2048))
		for i := range data {
			data[i] = int64(r.Uint64())
		}
		da := intsArg(data)
		ks = append(ks, &kernel{Name: "popcount", File: "popcount.vel", Func: "PopCount",
			args: func() []interp.Value { return []interp.Value{da} },
			gc: func() (func(), func() uint64) {
				return func() {}, func() uint64 { return uint64(gcref.PopCount(data)) }
			},
			want: uint64(gcref.PopCount(data)),
		})
	}
	// Insertion sort of random numbers (a fresh copy every call).
	{
		data := randInts(sz(400), 1<<30)
		ks = append(ks, &kernel{Name: "sort", File: "sort.vel", Func: "InsertionSort",
			args: func() []interp.Value { return []interp.Value{intsArg(data)} },
			gc: func() (func(), func() uint64) {
				a := make([]int64, len(data))
				return func() { copy(a, data) }, func() uint64 { return uint64(gcref.InsertionSort(a)) }
			},
			want: uint64(gcref.InsertionSort(slices.Clone(data))),
		})
	}
	return ks
}

// loadModule parses, checks and hashes a module file and stores its blocks.
func loadModule(path string) (*ir.Module, *registry.MemStore, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	st := registry.NewMemStore()
	_, m, err := registry.AddSource(st, filepath.Base(path), src)
	return m, st, err
}

// healed is what healing one kernel produced.
type healed struct {
	Orig, New *ir.Func
	Passes    []string
	Calls     int64      // calls made through the slot, every result checked
	Swap      heal.Event // the swap (A/B speedup on the recorded inputs)
	Proven    heal.Event // the trial's verdict (cycles per call before/after)
	Elapsed   time.Duration
	Log       string
}

// healOptions configures runHeal.
type healOptions struct {
	Tick    time.Duration // telemetry window
	Timeout time.Duration
	Rule    telemetry.Rule
	Log     io.Writer
}

// runHeal drives the real loop on k: a goroutine calls the function
// through a Slot and checks every result while a Healer (telemetry
// Watcher, optimizer, Gate) ticks; it returns once a healed version is
// proven.
func runHeal(dir string, k *kernel, o healOptions) (*healed, error) {
	m, st, err := loadModule(filepath.Join(dir, k.File))
	if err != nil {
		return nil, err
	}
	f := m.Lookup(k.Func)
	if f == nil {
		return nil, fmt.Errorf("%s: no function %s", k.File, k.Func)
	}
	slot, err := heal.NewSlot(k.Func, f)
	if err != nil {
		return nil, err
	}
	slot.Every = 2 // the profile: every other call's arguments (the ring keeps 64)
	rule := o.Rule
	h := &heal.Healer{Gate: heal.Gate{Blocks: st, Random: 60, Fuel: 1e7, Seed: 7}, Log: o.Log, Rule: &rule}
	h.Add(slot)
	var calls, wrong atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := heal.NewCaller()
		defer c.Close()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := c.Call(slot, k.args())
			calls.Add(1)
			if err != nil || r != k.want {
				if wrong.Add(1) == 1 {
					firstErr.Store(fmt.Sprintf("result %v, error %v, want %d", r, err, k.want))
				}
			}
		}
	}()
	start := time.Now()
	res := &healed{Orig: f}
	done := false
	for !done && time.Since(start) < o.Timeout {
		time.Sleep(o.Tick)
		h.Tick()
		for _, e := range h.Events {
			switch e.Kind {
			case "swap":
				res.Swap = e
			case "proven":
				res.Proven, done = e, true
			}
		}
	}
	close(stop)
	wg.Wait()
	res.Calls, res.Elapsed = calls.Load(), time.Since(start)
	if n := wrong.Load(); n != 0 {
		return res, fmt.Errorf("%s: %d wrong results of %d (first: %v)", k.Name, n, res.Calls, firstErr.Load())
	}
	if !done {
		why := "no alert"
		if len(h.Rejected) > 0 {
			r := h.Rejected[len(h.Rejected)-1]
			why = r.Stage + ": " + r.Reason
		} else if res.Swap.Kind != "" {
			why = "swapped but not proven"
		}
		return res, fmt.Errorf("%s: not healed within %v (%s)", k.Name, o.Timeout, why)
	}
	for _, e := range h.Events {
		if e.Kind == "rollback" {
			return res, fmt.Errorf("%s: rolled back", k.Name)
		}
	}
	// The current version may be a second round (the healer heals the
	// healed version too if it still fires the rule): list every round.
	res.New = slot.Current().Func
	for _, e := range h.Events {
		if e.Kind == "swap" {
			if len(res.Passes) > 0 {
				res.Passes = append(res.Passes, "+")
			}
			res.Passes = append(res.Passes, e.Passes...)
		}
	}
	return res, nil
}

// cycles is the median, over runs calls, of the JIT's own cycle count
// (prologue to epilogue) of f on k's arguments, instrumented as the
// healer measures.
func cycles(f *ir.Func, k *kernel, runs int) (uint64, error) {
	c, err := jit.CompileInstrumented(f)
	if err != nil {
		return 0, err
	}
	p, err := jit.Load(c)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	m := jit.New(0)
	defer m.Close()
	var samples []uint64
	for i := 0; i < runs; i++ {
		prof, err := jit.NewProfile(p)
		if err != nil {
			return 0, err
		}
		m.Prof, m.Fuel = prof, 1<<50
		r, err := m.Call(p, f, k.args())
		if err != nil {
			return 0, err
		}
		if r != k.want {
			return 0, fmt.Errorf("%s: result %v, want %d", f.Name, r, k.want)
		}
		s, _ := prof.Stats(f)
		samples = append(samples, s.Cycles)
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	return samples[len(samples)/2], nil
}

// wallJIT is the median wall time of one call of f compiled without
// instrumentation (argument building not counted).
func wallJIT(f *ir.Func, k *kernel, budget time.Duration) (time.Duration, error) {
	p, err := jit.CompileAndLoad(f)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	m := jit.New(0)
	defer m.Close()
	var errOut error
	d := median(budget, func() time.Duration {
		args := k.args()
		m.Fuel = 1 << 50
		t0 := time.Now()
		r, err := m.Call(p, f, args)
		d := time.Since(t0)
		if err == nil && r != k.want {
			err = fmt.Errorf("result %v, want %d", r, k.want)
		}
		if err != nil && errOut == nil {
			errOut = err
		}
		return d
	})
	return d, errOut
}

// wallGC is the median wall time of one call of the gc-compiled twin.
func wallGC(k *kernel, budget time.Duration) (time.Duration, error) {
	prep, run := k.gc()
	var bad error
	d := median(budget, func() time.Duration {
		prep()
		t0 := time.Now()
		r := run()
		d := time.Since(t0)
		if r != k.want && bad == nil {
			bad = fmt.Errorf("gc %s: %d, want %d", k.Name, r, k.want)
		}
		return d
	})
	return d, bad
}

// median runs one() at least 15 times and until budget is spent (at most
// 5000 times) and returns the median sample.
func median(budget time.Duration, one func() time.Duration) time.Duration {
	one() // warm up
	var s []time.Duration
	var total time.Duration
	for len(s) < 15 || (total < budget && len(s) < 5000) {
		d := one()
		s = append(s, d)
		total += d
	}
	slices.Sort(s)
	return s[len(s)/2]
}

// findDir locates examples/heal from the working directory upwards.
func findDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "examples", "heal"), nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("examples/heal not found (run from inside the repository or pass -dir)")
		}
	}
}
