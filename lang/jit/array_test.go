package jit

import (
	"math"
	"testing"

	"github.com/velocityos/velocity/lang/interp"
)

// arraySrc exercises functions with array results: sizes from 0 to
// beyond ArrayFuelUnit (so copies and zero values charge fuel), nested
// arrays, results indexed, measured, assigned to locals and elements,
// passed on as arguments, put in literals, returned again and discarded,
// recursion, and traps (index, division, fuel) inside the callee, in
// its arguments and in the caller after the call.
const arraySrc = `module arr

func Four(x int64) [4]int64 { return [4]int64{x, x + 1, x * 2, -x} }
func None(x int64) [0]int64 { var a [0]int64; return a }
func One(x int64) [1]int64 { return [1]int64{x} }
func Zero4() [4]int64 { return [4]int64{} }
func Copy4(x int64) [4]int64 {
	a := Four(x)
	a[x&3] += 100
	return a
}
func Forward(x int64) [4]int64 { return Copy4(x + 1) }
func Elem(x int64) int64 { return Four(x)[x&3] + Four(x + 1)[0] + int64(len(Four(x))) }
func Trap(x int64) [4]int64 {
	var a [4]int64
	a[x] = 7
	return a
}
func UseTrap(x int64) int64 { return Trap(x)[0] + 1 }

func Grid(x int64) [2][3]int64 {
	var g [2][3]int64
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ { g[i][j] = x*10 + int64(i*3+j) }
	}
	return g
}
func Row(x int64, i int64) [3]int64 { return Grid(x)[i] }
func GridSum(g [2][3]int64) int64 {
	s := int64(0)
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ { s += g[i][j] }
	}
	return s
}
func PassOn(x int64) int64 { return GridSum(Grid(x)) + GridSum(Grid(x+1)) }
func Cube(x int64) [3][2][2]int64 {
	var c [3][2][2]int64
	c[x%3][1] = [2]int64{x, x}
	c[0][0] = One2(x)
	return c
}
func One2(x int64) [2]int64 { return [2]int64{x + 5, x + 6} }
func Lit(x int64) [2][4]int64 { return [2][4]int64{Four(x), Copy4(x)} }
func Assign(x int64) int64 {
	var g [3][4]int64
	g[x&1] = Four(x)
	g[2] = Forward(g[0][1])
	var h [4]int64
	h = Copy4(h[1] + x)
	Four(x)
	return g[0][0] + g[1][2] + g[2][3] + h[0] + h[x&3]
}
func Self(x [4]int64) [4]int64 { x[0]++; return x }
func Reuse(x int64) int64 {
	a := Four(x)
	a = Self(a)
	a = Self(Self(a))
	return a[0]
}
func Idx(i int64) int64 { return Four(i)[i] }

func Big(x int64) [300]int64 {
	var a [300]int64
	a[x] = x
	return a
}
func BigFwd(x int64) [300]int64 { return Big(x) }
func BigLit(x int64) [300]int64 { return [300]int64{x, 2} }
func BigCopy(x int64) [300]int64 { a := Big(x); b := a; return b }
func BigUse(x int64) int64 {
	s := int64(0)
	for i := int64(0); i < 5; i++ { s += Big(i)[i] + BigFwd(i+1)[i+1] + BigLit(i)[0] }
	return s
}
func Wide(x int64) [2][600]int64 {
	var w [2][600]int64
	w[1] = Wide1(x)
	return w
}
func Wide1(x int64) [600]int64 { var a [600]int64; a[599] = x; return a }
func WideRow(x int64) [600]int64 { return Wide(x)[x] }
func WideRowSum(x int64) int64 { r := Wide(x)[1]; r = Wide(x + 1)[x&1]; return r[599] + Wide1(x)[599] }

func Rec(n int64) [4]int64 {
	if n == 0 { return [4]int64{1, 1, 1, 1} }
	r := Rec(n - 1)
	return [4]int64{r[0] + r[1], r[0], r[2] * 2, n}
}
func Div(x int64, y int64) [2]int64 { return [2]int64{x / y, x % y} }
func DivUse(x int64, y int64) int64 { d := Div(x, y); return d[0] + d[1] }
func Spin(x int64) [4]int64 {
	a := [4]int64{x}
	for i := int64(0); i < x; i++ { a[i&3] += i }
	return a
}
func Spins(x int64) int64 { return Spin(x)[0] + Spin(x + 1)[1] + Spin(x + 2)[2] }
func ArgTrap(x int64) int64 { return GridSum(Grid(x / (x - 3))) }

func Bytes(x byte) [3]byte { return [3]byte{x, x + 200, x * 3} }
func Floats(x float64) [2]float64 { return [2]float64{x / 3, -x} }
func Bools(x int64) [2]bool { return [2]bool{x > 0, x == 0} }
func Mixed(x int64) int64 {
	b := Bytes(byte(x))
	f := Floats(float64(x))
	t := Bools(x)
	r := int64(b[1]) + int64(f[0])
	if t[0] { r += 1000 }
	return r
}
func WithSlice(xs []int64) [2]int64 { xs[0] = 9; return [2]int64{xs[1], int64(len(xs))} }
`

func TestDifferentialArrayResults(t *testing.T) {
	if !Supported() {
		t.Skip("no JIT on this platform")
	}
	mod := compileSrc(t, arraySrc)
	p, err := CompileAndLoad(mod.Funcs...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	mach := New(0)
	mach.MaxAlloc = 1 << 12
	defer mach.Close()
	i := func(v int64) interp.Value { return uint64(v) }
	arr4 := func(v ...int64) interp.Value {
		a := make([]interp.Value, len(v))
		for k := range v {
			a[k] = uint64(v[k])
		}
		return a
	}
	grid := []interp.Value{arr4(1, 2, 3), arr4(4, 5, 6)}
	type tc struct {
		fn   string
		args []interp.Value
	}
	cases := []tc{
		{"Four", []interp.Value{i(3)}}, {"None", []interp.Value{i(3)}}, {"One", []interp.Value{i(-3)}},
		{"Zero4", nil}, {"Copy4", []interp.Value{i(6)}}, {"Forward", []interp.Value{i(2)}},
		{"Elem", []interp.Value{i(5)}}, {"Trap", []interp.Value{i(2)}}, {"Trap", []interp.Value{i(4)}},
		{"Trap", []interp.Value{i(-1)}}, {"UseTrap", []interp.Value{i(1)}}, {"UseTrap", []interp.Value{i(9)}},
		{"Grid", []interp.Value{i(7)}}, {"Row", []interp.Value{i(7), i(1)}}, {"Row", []interp.Value{i(7), i(2)}},
		{"GridSum", []interp.Value{grid}}, {"PassOn", []interp.Value{i(4)}},
		{"Cube", []interp.Value{i(4)}}, {"Cube", []interp.Value{i(-4)}}, {"Lit", []interp.Value{i(3)}},
		{"Assign", []interp.Value{i(0)}}, {"Assign", []interp.Value{i(5)}},
		{"Self", []interp.Value{arr4(1, 2, 3, 4)}}, {"Reuse", []interp.Value{i(10)}},
		{"Idx", []interp.Value{i(3)}}, {"Idx", []interp.Value{i(4)}},
		{"Big", []interp.Value{i(299)}}, {"Big", []interp.Value{i(300)}}, {"BigFwd", []interp.Value{i(3)}},
		{"BigLit", []interp.Value{i(3)}}, {"BigCopy", []interp.Value{i(3)}}, {"BigUse", []interp.Value{i(0)}},
		{"Wide", []interp.Value{i(8)}}, {"Wide1", []interp.Value{i(8)}},
		{"WideRow", []interp.Value{i(1)}}, {"WideRow", []interp.Value{i(2)}}, {"WideRowSum", []interp.Value{i(1)}},
		{"Rec", []interp.Value{i(10)}}, {"Rec", []interp.Value{i(3000)}},
		{"Div", []interp.Value{i(17), i(5)}}, {"Div", []interp.Value{i(1), i(0)}},
		{"Div", []interp.Value{i(math.MinInt64), i(-1)}}, {"DivUse", []interp.Value{i(17), i(0)}},
		{"Spin", []interp.Value{i(20)}}, {"Spins", []interp.Value{i(20)}},
		{"ArgTrap", []interp.Value{i(3)}}, {"ArgTrap", []interp.Value{i(5)}},
		{"Bytes", []interp.Value{uint64(100)}}, {"Floats", []interp.Value{math.Float64bits(2.5)}},
		{"Bools", []interp.Value{i(0)}}, {"Mixed", []interp.Value{i(77)}}, {"Mixed", []interp.Value{i(-77)}},
		{"WithSlice", []interp.Value{interp.Slice{Elems: []uint64{1, 2, 3}}}},
	}
	// Each case with ample fuel, then with every budget below what it
	// used (up to 200 of them), so fuel runs out at every point: in the
	// callee's loops, its calls, its zero values and its returning copy.
	var runs int
	for _, c := range cases {
		f := mod.Lookup(c.fn)
		if f == nil {
			t.Fatalf("no function %s", c.fn)
		}
		const ample = 1 << 20
		io, jo := both(t, p, mach, f, ample, c.args...)
		runs++
		if io != jo {
			t.Errorf("%s%v fuel %d:\ninterp %v\njit    %v", c.fn, c.args, int64(ample), io, jo)
			continue
		}
		if testing.Verbose() {
			t.Logf("%s%v: %v", c.fn, c.args, io)
		}
		used := ample - io.fuel
		for fuel := max(0, used-200); fuel < used; fuel++ {
			io, jo := both(t, p, mach, f, fuel, c.args...)
			runs++
			if io != jo {
				t.Errorf("%s%v fuel %d:\ninterp %v\njit    %v", c.fn, c.args, fuel, io, jo)
				break
			}
		}
	}
	t.Logf("%d runs agree", runs)
}
