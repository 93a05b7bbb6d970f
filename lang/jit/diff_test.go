package jit

import (
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/progen"
)

type outcome struct {
	val  string
	err  string
	fuel int64
}

func (o outcome) String() string { return fmt.Sprintf("val=%q err=%q fuel=%d", o.val, o.err, o.fuel) }

func format(v interp.Value, t *ir.Type) string {
	if v == nil {
		return ""
	}
	return interp.Format(v, t)
}

func copyArgs(args []interp.Value) []interp.Value {
	out := make([]interp.Value, len(args))
	for i, a := range args {
		if s, ok := a.(interp.Slice); ok {
			a = interp.Slice{Elems: append([]uint64(nil), s.Elems...)}
		}
		out[i] = a
	}
	return out
}

// both runs f in the interpreter and the JIT with the same fuel and
// limits and returns both outcomes (and slice arguments after the run).
func both(t testing.TB, p *Program, mach *Machine, f *ir.Func, fuel int64, args ...interp.Value) (outcome, outcome) {
	t.Helper()
	im := interp.New(fuel)
	im.MaxAlloc = mach.MaxAlloc
	ia := copyArgs(args)
	iv, ierr := im.Call(f, ia)
	mach.Fuel = fuel
	ja := copyArgs(args)
	jv, jerr := mach.Call(p, f, ja)
	io := outcome{val: format(iv, f.Result), fuel: im.Fuel}
	jo := outcome{val: format(jv, f.Result), fuel: mach.Fuel}
	if ierr != nil {
		io.err = ierr.Error()
	}
	if jerr != nil {
		jo.err = jerr.Error()
	}
	for i, a := range ia { // effects on slice arguments must match too
		if s, ok := a.(interp.Slice); ok {
			io.val += fmt.Sprintf(" arg%d=%v", i, s.Elems)
			jo.val += fmt.Sprintf(" arg%d=%v", i, ja[i].(interp.Slice).Elems)
		}
	}
	return io, jo
}

// progenConfig is the random-program configuration of the JIT's
// differential tests: progen's default with array parameters and
// results.
var progenConfig = func() progen.Config {
	c := progen.Default
	c.Arrays = true
	return c
}()

// progenArgs are the arguments of a random program's function: x and y,
// and for the array parameter (progenConfig) eight words derived from
// them.
func progenArgs(f *ir.Func, x, y int64) []interp.Value {
	args := []interp.Value{uint64(x), uint64(y)}
	if len(f.Params) == 3 {
		a := make([]interp.Value, 8)
		for i := range a {
			a[i] = uint64(x*int64(i) - y)
		}
		args = append(args, a)
	}
	return args
}

// The large differential run of make bench sets these, e.g.
// go test -run TestDifferentialProgen -timeout 0 ./lang/jit -args -diff.programs 100000 -diff.timeout 0
var (
	diffPrograms = flag.Int("diff.programs", 0, "random programs for TestDifferentialProgen (0: 10000, 1000 with -short, or $VELOCITY_DIFF_PROGRAMS)")
	diffTimeout  = flag.Duration("diff.timeout", 2*time.Minute, "time bound of TestDifferentialProgen (0: none)")
)

func programs(t *testing.T) int {
	n := 10000
	if testing.Short() {
		n = 1000
	}
	if s := os.Getenv("VELOCITY_DIFF_PROGRAMS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	if *diffPrograms > 0 {
		n = *diffPrograms
	}
	return n
}

// TestDifferentialProgen runs lang/progen's random programs through the
// interpreter and the JIT and requires identical results, errors and
// remaining fuel (fuel accounting is exact, not just "both ran out").
func TestDifferentialProgen(t *testing.T) {
	if !Supported() {
		t.Skip("no JIT on this platform")
	}
	n := programs(t)
	deadline := time.Now().Add(*diffTimeout)
	if *diffTimeout <= 0 {
		deadline = time.Now().Add(1 << 62)
	}
	mach := New(0)
	mach.MaxAlloc = 1 << 16
	defer mach.Close()
	var calls, fuelOuts, errs int
	for seed := uint64(1); seed <= uint64(n); seed++ {
		if time.Now().After(deadline) {
			t.Logf("time bound reached after %d programs", seed-1)
			break
		}
		src := progen.Module(seed, progenConfig)
		mod := compileSrc(t, src)
		p, err := CompileAndLoad(mod.Funcs...)
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, src)
		}
		for k, f := range mod.Funcs {
			x, y := int64(seed%17)-8, int64(k*3)-int64(seed%5)
			fuel := int64(5000)
			if seed%4 == 0 {
				fuel = int64(seed % 60) // often runs out
			}
			io, jo := both(t, p, mach, f, fuel, progenArgs(f, x, y)...)
			calls++
			if io != jo {
				p.Close()
				t.Fatalf("seed %d %s(%d, %d) fuel %d:\ninterp %v\njit    %v\n%s", seed, f.Name, x, y, fuel, io, jo, src)
			}
			if io.err != "" {
				errs++
			}
			if io.fuel == 0 && io.err != "" {
				fuelOuts++
			}
		}
		p.Close()
	}
	t.Logf("%d calls agree; %d errors, %d fuel exhaustions", calls, errs, fuelOuts)
}

const featureSrc = `module feat

func Fib(n int64) int64 {
	if n < 2 { return n }
	return Fib(n-1) + Fib(n-2)
}

func Loop(n int64) int64 {
	s := int64(0)
	for i := int64(0); i < n; i++ {
		if i % 3 == 0 { continue }
		if i > 50 { break }
		s += i
	}
	return s
}

func Sum(xs []int64) int64 {
	s := int64(0)
	for i := 0; i < len(xs); i++ { s += xs[i] }
	return s
}

func Fill(xs []int64, v int64) { for i := 0; i < len(xs); i++ { xs[i] = v + int64(i) } }

func Sub(xs []int64, lo int64, hi int64) []int64 { return xs[lo:hi] }
func Tail(xs []int64, lo int64) []int64 { return xs[lo:] }

func MakeSq(n int64) []int64 {
	s := make([]int64, n)
	for i := int64(0); i < n; i++ { s[i] = i * i }
	return s
}

func Lit(i int64) int64 { s := []int64{10, 20, 30}; return s[i] }

func Arr(i int64) int64 {
	var a [4]int64
	a[i&3] = 7
	b := a
	b[0] += 1
	c := [3]int64{1, 2, 3}
	var g [2][3]int64
	g[1] = c
	g[1][2] *= 10
	return a[i&3] + b[0] + g[1][2] + int64(len(g)) + int64(len(g[0]))
}

func Swap(i int64) int64 {
	a := [2]int64{1, 2}
	a = [2]int64{a[1], a[0]}
	return a[0]*10 + a[1] + i
}

func Big(i int64) int64 {
	var a [1000]int64
	b := a
	b[i] = 1
	return b[i]
}

func Div(a int64, b int64) int64 { return a / b + a % b }
func UDiv(a uint64, b uint64) uint64 { return a / b + a % b }
func Shl(a int64, n int64) int64 { return a << n }
func Shr(a int64, n uint64) int64 { return a >> n }
func UShr(a uint64, n uint64) uint64 { return a >> n }

func Bytes(a byte, b byte) byte {
	c := a + b
	c = c * 3
	c ^= 0xff
	c = c << 2
	c = c / (b | 1)
	return ^c - -a
}

func Cmp(a int64, b int64) bool { return a < b && !(a == b) || a >= b+10 }
func UCmp(a uint64, b uint64) bool { return a < b }

func F(a float64, b float64) float64 { return (a + b) * (a - b) / 3 }
func FCmp(a float64, b float64) int64 {
	r := int64(0)
	if a == b { r |= 1 }
	if a != b { r |= 2 }
	if a < b { r |= 4 }
	if a <= b { r |= 8 }
	if a > b { r |= 16 }
	if a >= b { r |= 32 }
	return r
}
func FNeg(a float64) float64 { return -a }
func ToI(a float64) int64 { return int64(a) }
func ToU(a float64) uint64 { return uint64(a) }
func ToB(a float64) byte { return byte(a) }
func IToF(a int64) float64 { return float64(a) }
func UToF(a uint64) float64 { return float64(a) }
func Narrow(a int64) byte { return byte(a) }

func Deep(n int64) int64 { if n == 0 { return 0 }; return 1 + Deep(n-1) }
func Spin() int64 { for { } }
func Alloc(n int64) int64 { s := make([]int64, n); return int64(len(s)) }
func Bytes2(n int64) []byte { b := make([]byte, n); for i := 0; i < len(b); i++ { b[i] = byte(i * 100) }; return b }
func Void(xs []int64) { xs[0] = 99 }

func ASum(a [4]int64) int64 { a[0] += 100; return a[0] + a[1] + a[2] + a[3] }
func APass(i int64) int64 {
	var a [4]int64
	a[1] = i
	g := [2][4]int64{a, a}
	return ASum(a) + ASum([4]int64{1, 2, 3, i}) + a[0] + AGrid(g, i)
}
func AGrid(g [2][4]int64, i int64) int64 { return g[1][i&3] + int64(len(g)) }
func ABig(i int64) int64 { var a [600]int64; a[5] = i; return ABigSum(a) }
func ABigSum(a [600]int64) int64 { return a[5] * 2 }
`

func TestDifferentialFeatures(t *testing.T) {
	if !Supported() {
		t.Skip("no JIT on this platform")
	}
	mod := compileSrc(t, featureSrc)
	p, err := CompileAndLoad(mod.Funcs...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	mach := New(0)
	mach.MaxAlloc = 1 << 12
	defer mach.Close()
	i := func(v int64) interp.Value { return uint64(v) }
	u := func(v uint64) interp.Value { return v }
	fl := func(v float64) interp.Value { return math.Float64bits(v) }
	sl := func(v ...uint64) interp.Value { return interp.Slice{Elems: v} }
	nan := math.NaN()
	cases := []struct {
		fn   string
		fuel int64
		args []interp.Value
	}{
		{"Fib", 1e6, []interp.Value{i(20)}}, {"Fib", 100, []interp.Value{i(20)}}, {"Fib", 0, []interp.Value{i(1)}},
		{"Loop", 1000, []interp.Value{i(100)}}, {"Loop", 10, []interp.Value{i(100)}},
		{"Sum", 100, []interp.Value{sl(1, 2, 3, 4)}}, {"Sum", 100, []interp.Value{sl()}},
		{"Fill", 100, []interp.Value{sl(0, 0, 0), i(5)}},
		{"Sub", 10, []interp.Value{sl(1, 2, 3, 4), i(1), i(3)}}, {"Sub", 10, []interp.Value{sl(1, 2, 3, 4), i(3), i(1)}},
		{"Sub", 10, []interp.Value{sl(1, 2, 3, 4), i(-1), i(2)}}, {"Sub", 10, []interp.Value{sl(1, 2, 3, 4), i(0), i(5)}},
		{"Tail", 10, []interp.Value{sl(1, 2, 3, 4), i(4)}}, {"Tail", 10, []interp.Value{sl(1, 2, 3, 4), i(5)}},
		{"MakeSq", 100, []interp.Value{i(6)}}, {"MakeSq", 100, []interp.Value{i(-1)}}, {"MakeSq", 10000, []interp.Value{i(5000)}},
		{"Lit", 10, []interp.Value{i(2)}}, {"Lit", 10, []interp.Value{i(3)}}, {"Lit", 10, []interp.Value{i(-1)}},
		{"Arr", 10, []interp.Value{i(2)}}, {"Arr", 10, []interp.Value{i(0)}},
		{"Swap", 10, []interp.Value{i(0)}},
		{"Big", 100, []interp.Value{i(999)}}, {"Big", 100, []interp.Value{i(1000)}}, {"Big", 10, []interp.Value{i(999)}}, {"Big", 10, []interp.Value{i(1000)}}, {"Big", 5, []interp.Value{i(1)}}, {"Big", 8, []interp.Value{i(1)}},
		{"Div", 10, []interp.Value{i(17), i(5)}}, {"Div", 10, []interp.Value{i(-17), i(5)}}, {"Div", 10, []interp.Value{i(1), i(0)}},
		{"Div", 10, []interp.Value{i(math.MinInt64), i(-1)}},
		{"UDiv", 10, []interp.Value{u(1<<63 + 5), u(3)}}, {"UDiv", 10, []interp.Value{u(1), u(0)}},
		{"Shl", 10, []interp.Value{i(3), i(4)}}, {"Shl", 10, []interp.Value{i(3), i(64)}}, {"Shl", 10, []interp.Value{i(3), i(-1)}},
		{"Shr", 10, []interp.Value{i(-64), u(3)}}, {"Shr", 10, []interp.Value{i(-64), u(200)}}, {"UShr", 10, []interp.Value{u(1 << 63), u(63)}},
		{"UShr", 10, []interp.Value{u(1 << 63), u(64)}},
		{"Bytes", 10, []interp.Value{u(200), u(100)}}, {"Bytes", 10, []interp.Value{u(0), u(0)}}, {"Bytes", 10, []interp.Value{u(255), u(254)}},
		{"Cmp", 10, []interp.Value{i(-5), i(3)}}, {"Cmp", 10, []interp.Value{i(13), i(3)}}, {"Cmp", 10, []interp.Value{i(5), i(3)}},
		{"UCmp", 10, []interp.Value{u(1 << 63), u(1)}},
		{"F", 10, []interp.Value{fl(1.5), fl(-2.25)}},
		{"FCmp", 10, []interp.Value{fl(1), fl(2)}}, {"FCmp", 10, []interp.Value{fl(2), fl(2)}}, {"FCmp", 10, []interp.Value{fl(nan), fl(2)}},
		{"FCmp", 10, []interp.Value{fl(0), fl(math.Copysign(0, -1))}},
		{"FNeg", 10, []interp.Value{fl(0)}}, {"FNeg", 10, []interp.Value{fl(-3.5)}},
		{"ToI", 10, []interp.Value{fl(-3.9)}}, {"ToI", 10, []interp.Value{fl(9.3e18)}}, {"ToI", 10, []interp.Value{fl(nan)}},
		{"ToI", 10, []interp.Value{fl(-9223372036854775808.0)}},
		{"ToU", 10, []interp.Value{fl(1.8e19)}}, {"ToU", 10, []interp.Value{fl(9.3e18)}}, {"ToU", 10, []interp.Value{fl(-0.5)}},
		{"ToU", 10, []interp.Value{fl(-1)}}, {"ToU", 10, []interp.Value{fl(1.9e19)}},
		{"ToB", 10, []interp.Value{fl(255.9)}}, {"ToB", 10, []interp.Value{fl(256)}}, {"ToB", 10, []interp.Value{fl(-0.99)}},
		{"IToF", 10, []interp.Value{i(-7)}}, {"UToF", 10, []interp.Value{u(1<<64 - 1)}}, {"UToF", 10, []interp.Value{u(1<<63 + 1025)}},
		{"UToF", 10, []interp.Value{u(12345)}},
		{"Narrow", 10, []interp.Value{i(-1)}},
		{"Deep", 1e6, []interp.Value{i(2000)}}, {"Deep", 1e6, []interp.Value{i(2047)}}, {"Deep", 1e6, []interp.Value{i(5000)}},
		{"Spin", 1000, nil},
		{"Alloc", 10, []interp.Value{i(4096)}}, {"Alloc", 10, []interp.Value{i(4097)}},
		{"Bytes2", 10, []interp.Value{i(5)}},
		{"ASum", 10, []interp.Value{[]interp.Value{i(1), i(2), i(3), i(4)}}},
		{"APass", 100, []interp.Value{i(5)}}, {"ABig", 100, []interp.Value{i(7)}}, {"ABig", 4, []interp.Value{i(7)}}, {"ABig", 6, []interp.Value{i(7)}},
		{"AGrid", 10, []interp.Value{[]interp.Value{[]interp.Value{i(1), i(2), i(3), i(4)}, []interp.Value{i(5), i(6), i(7), i(8)}}, i(2)}},
		{"Void", 10, []interp.Value{sl(1, 2)}}, {"Void", 10, []interp.Value{sl()}},
	}
	for _, c := range cases {
		f := mod.Lookup(c.fn)
		io, jo := both(t, p, mach, f, c.fuel, c.args...)
		if io != jo {
			t.Errorf("%s%v fuel %d:\ninterp %v\njit    %v", c.fn, c.args, c.fuel, io, jo)
		} else if testing.Verbose() {
			t.Logf("%s%v: %v", c.fn, c.args, io)
		}
	}
}
