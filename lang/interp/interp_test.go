package interp

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/syntax"
	"github.com/velocityos/velocity/lang/types"
)

func compile(t testing.TB, src string) *ir.Module {
	t.Helper()
	f, err := syntax.Parse("test.vel", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	m, err := types.Check(f, nil)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return m
}

func run(t testing.TB, src, fn string, args ...Value) (Value, error) {
	t.Helper()
	m := compile(t, src)
	f := m.Lookup(fn)
	if f == nil {
		t.Fatalf("no function %s", fn)
	}
	return New(1_000_000).Call(f, args)
}

const progs = `module progs

const N = 10
const Big uint64 = 1 << 63

func Fib(n int64) int64 {
	if n < 2 {
		return n
	}
	return Fib(n-1) + Fib(n-2)
}

func SumTo(n int64) int64 {
	s := int64(0)
	for i := int64(1); i <= n; i++ {
		s += i
	}
	return s
}

func Sieve() int64 {
	var comp [100]bool
	count := 0
	for i := 2; i < 100; i++ {
		if comp[i] {
			continue
		}
		count++
		for j := i * i; j < 100; j += i {
			comp[j] = true
		}
	}
	return int64(count)
}

func Checksum(b []byte) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(b); i++ {
		h ^= uint64(b[i])
		h *= 1099511628211
	}
	return h
}

func MakeAndFill(n int64) []int64 {
	s := make([]int64, n)
	for i := 0; i < len(s); i++ {
		s[i] = int64(i) * int64(i)
	}
	return s
}

func SliceSum(n int64) int64 {
	s := MakeAndFill(n)
	t := s[2:5]
	t[0] = 100
	return s[2] + t[1] + t[2] + int64(len(t))
}

func ArrayCopy() int64 {
	var a [3]int64
	a[0] = 1
	b := a
	b[0] = 2
	modify(a)
	var m [2][2]int64
	m[1][0] = 7
	n := m
	n[1][0] = 9
	return a[0]*100 + b[0]*10 + m[1][0] + n[1][0]*1000
}

func modify(a [3]int64) {
	a[0] = 42
}

func Div(a int64, b int64) int64 { return a / b }

func Idx(i int64) int64 {
	a := [3]int64{10, 20, 30}
	return a[i]
}

func Forever() int64 {
	x := 0
	for {
		x++
	}
}

func Floats(x float64) float64 {
	return x*2.5 + float64(N)
}

func Shifts(x int64, n uint64) int64 { return x >> n }

func Bits(x uint64) uint64 {
	return (x &^ 0xff) | (x & 3) ^ ^uint64(0) << 60
}

func Bytes() byte {
	var b byte = 250
	b += 10
	return b
}

func Cond(a int64, b int64) bool {
	return a < b && b != 0 || a == 42
}

func Nested(n int64) int64 {
	total := 0
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			continue
		}
		for j := 0; j < 10; j++ {
			if j == 3 {
				break
			}
			total += j
		}
	}
	return int64(total)
}

func Conv(f float64) int64 { return int64(f) }

func MinDiv() int64 {
	x := -9223372036854775807 - 1
	return x / -1
}
`

func TestPrograms(t *testing.T) {
	cases := []struct {
		fn   string
		args []Value
		want Value
	}{
		{"Fib", []Value{Int64(15)}, Int64(610)},
		{"SumTo", []Value{Int64(100)}, Int64(5050)},
		{"Sieve", nil, Int64(25)},
		{"Checksum", []Value{Slice{Elems: []uint64{'a'}}}, Uint64(0xaf63dc4c8601ec8c)},
		{"SliceSum", []Value{Int64(10)}, Int64(100 + 9 + 16 + 3)},
		{"ArrayCopy", nil, Int64(1*100 + 2*10 + 7 + 9000)},
		{"Floats", []Value{Float64(2)}, Float64(15)},
		{"Shifts", []Value{Int64(-16), Uint64(2)}, Int64(-4)},
		{"Shifts", []Value{Int64(-16), Uint64(200)}, Int64(-1)},
		{"Bits", []Value{Uint64(0x1234)}, Uint64(bitsWant(0x1234))},
		{"Bytes", nil, Uint64(4)},
		{"Cond", []Value{Int64(1), Int64(2)}, Bool(true)},
		{"Cond", []Value{Int64(42), Int64(0)}, Bool(true)},
		{"Cond", []Value{Int64(3), Int64(2)}, Bool(false)},
		{"Nested", []Value{Int64(6)}, Int64(9)},
		{"Conv", []Value{Float64(-3.9)}, Int64(-3)},
		{"MinDiv", nil, Int64(math.MinInt64)},
	}
	m := compile(t, progs)
	for _, c := range cases {
		got, err := New(10_000_000).Call(m.Lookup(c.fn), c.args)
		if err != nil {
			t.Errorf("%s: %v", c.fn, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s%v = %v (%s), want %v", c.fn, c.args, got, Format(got, m.Lookup(c.fn).Result), c.want)
		}
	}
}

func TestRuntimeErrors(t *testing.T) {
	m := compile(t, progs)
	cases := []struct {
		fn   string
		args []Value
		want string
	}{
		{"Div", []Value{Int64(1), Int64(0)}, "integer divide by zero"},
		{"Idx", []Value{Int64(3)}, "index out of range [3] with length 3"},
		{"Idx", []Value{Int64(-1)}, "index out of range [-1] with length 3"},
		{"MakeAndFill", []Value{Int64(-1)}, "makeslice"},
		{"Shifts", []Value{Int64(1), Uint64(1)}, ""},
		{"Conv", []Value{Float64(math.NaN())}, "out of range"},
		{"Conv", []Value{Float64(1e300)}, "out of range"},
	}
	for _, c := range cases {
		_, err := New(1000).Call(m.Lookup(c.fn), c.args)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: unexpected error %v", c.fn, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s%v: error %v, want %q", c.fn, c.args, err, c.want)
		}
	}
}

func TestFuelLoop(t *testing.T) {
	m := compile(t, progs)
	mach := New(5000)
	_, err := mach.Call(m.Lookup("Forever"), nil)
	if !errors.Is(err, ErrOutOfFuel) {
		t.Fatalf("Forever: err = %v, want out of fuel", err)
	}
	// The machine stays usable after an abort.
	mach.Fuel = 1000
	got, err := mach.Call(m.Lookup("SumTo"), []Value{Int64(10)})
	if err != nil || got != Int64(55) || mach.Fuel != 1000-11 {
		t.Fatalf("after abort: %v %v", got, err)
	}
}

func TestFuelCalls(t *testing.T) {
	m := compile(t, progs)
	// Fib(10) makes 177 calls; no loops.
	_, err := New(176).Call(m.Lookup("Fib"), []Value{Int64(10)})
	if !errors.Is(err, ErrOutOfFuel) {
		t.Fatalf("Fib with 176 fuel: %v", err)
	}
	mach := New(177)
	if _, err := mach.Call(m.Lookup("Fib"), []Value{Int64(10)}); err != nil {
		t.Fatalf("Fib with 177 fuel: %v", err)
	}
	if mach.Fuel != 0 {
		t.Fatalf("fuel left %d, want 0", mach.Fuel)
	}
}

func TestFuelBackEdges(t *testing.T) {
	m := compile(t, progs)
	// SumTo(n) takes n back-edges (the final failed test is not a back-edge)
	// plus the entry call.
	mach := New(101)
	if _, err := mach.Call(m.Lookup("SumTo"), []Value{Int64(100)}); err != nil {
		t.Fatal(err)
	}
	if mach.Fuel != 0 {
		t.Fatalf("fuel left %d, want 0", mach.Fuel)
	}
	if _, err := New(100).Call(m.Lookup("SumTo"), []Value{Int64(100)}); !errors.Is(err, ErrOutOfFuel) {
		t.Fatalf("want out of fuel, got %v", err)
	}
}

func TestDepthLimit(t *testing.T) {
	m := compile(t, `module d
func R(n int64) int64 { return R(n+1) }`)
	_, err := New(1<<30).Call(m.Lookup("R"), []Value{Int64(0)})
	if !errors.Is(err, ErrTooDeep) {
		t.Fatalf("got %v", err)
	}
}

func TestArgChecks(t *testing.T) {
	m := compile(t, progs)
	if _, err := New(10).Call(m.Lookup("Fib"), nil); err == nil {
		t.Fatal("missing argument accepted")
	}
	if _, err := New(10).Call(m.Lookup("Bytes"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := New(10).Call(m.Lookup("Checksum"), []Value{Int64(3)}); err == nil {
		t.Fatal("wrong argument type accepted")
	}
}

func bitsWant(x uint64) uint64 {
	all := ^uint64(0)
	return (x &^ 0xff) | (x & 3) ^ (all << 60)
}

func TestFuelArrays(t *testing.T) {
	m := compile(t, `module a
func F() int64 {
	var big [4096]int64
	for i := 0; i < 3; i++ {
		c := big
		c[0] = 1
	}
	return big[0]
}`)
	// One entry call, 3 back-edges, and 4096/256 = 16 per array made or
	// copied: the frame zeroes the slots of big and c (2), var big zeroes
	// again (1), and c := big copies three times (3).
	const want = 1 + 3 + 16*(2+1+3)
	mach := New(want)
	if _, err := mach.Call(m.Lookup("F"), nil); err != nil || mach.Fuel != 0 {
		t.Fatalf("err %v, fuel left %d", err, mach.Fuel)
	}
	if _, err := New(want-1).Call(m.Lookup("F"), nil); !errors.Is(err, ErrOutOfFuel) {
		t.Fatalf("got %v", err)
	}
}
