package heal

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/progen"
)

// TestOptimizeProgen: on lang/progen's random programs, every optimized
// function gives the interpreter's results and errors for the original
// (when the original finishes within the fuel; the optimized version may
// only use less). Each function is optimized three ways: without a
// profile (inline, constprop, cse, full unrolling of constant loops and
// the older passes), with a profile in which the first argument is
// always the same (specialize), and with that profile and a forced
// unroll factor of 2–4 (partial unrolling with a remainder loop, never
// complete unrolling). Inputs include the specialized value.
func TestOptimizeProgen(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 300
	}
	var changed, calls int
	used := map[string]int{}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		// Odd seeds get small functions, which are small enough to inline.
		cfg := progen.Default
		if seed%2 == 1 {
			cfg = progen.Config{Funcs: 5, Stmts: 2, Depth: 2, Names: "v"}
		}
		m, _ := load(t, progen.Module(seed, cfg))
		spec := uint64(int64(seed%5) - 2)
		var rec [][]interp.Value
		for k := 0; k < 6; k++ {
			rec = append(rec, []interp.Value{spec, uint64(int64(k*k) - 4)})
		}
		profiles := []*Profile{nil, {Args: rec}, {Args: rec, Unroll: 2 + int(seed%3)}}
		for _, f := range m.Funcs {
			for pi, prof := range profiles {
				nf, passes := OptimizeWith(f, prof)
				if nf == nil {
					continue
				}
				changed++
				for _, p := range passes {
					used[p]++
				}
				for k := int64(-3); k <= 3; k++ {
					for _, args := range [][]interp.Value{
						{uint64(k * int64(seed%7)), uint64(k - int64(seed%3))},
						{spec, uint64(k*13 + int64(seed%11))},
					} {
						om := interp.New(20000)
						ov, oerr := om.Call(f, args)
						if errors.Is(oerr, interp.ErrOutOfFuel) {
							continue
						}
						nm := interp.New(20000)
						nv, nerr := nm.Call(nf, args)
						calls++
						if msg(oerr) != msg(nerr) || (oerr == nil && interp.Format(ov, f.Result) != interp.Format(nv, f.Result)) {
							t.Fatalf("seed %d %s%v, profile %d (%v): original %s, optimized %s\n%s", seed, f.Name, args, pi, passes,
								outcome(ov, oerr, f.Result), outcome(nv, nerr, f.Result), progen.Module(seed, cfg))
						}
						if nm.Fuel < om.Fuel {
							t.Fatalf("seed %d %s: optimized used more fuel (profile %d, %v)", seed, f.Name, pi, passes)
						}
					}
				}
			}
		}
	}
	if changed == 0 {
		t.Fatal("the optimizer changed nothing")
	}
	for _, p := range []string{"fold", "algebra", "strength", "dce", "licm", "constprop", "cse", "inline", "specialize", "unroll"} {
		if used[p] == 0 {
			t.Errorf("pass %s never ran on the random programs", p)
		}
	}
	t.Logf("%d optimized functions, %d calls identical; passes %v", changed, calls, used)
}

func TestOptimizeLICM(t *testing.T) {
	m, _ := load(t, `module l
func F(x int64, y int64, n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ {
		for j := int64(0); j < 3; j++ {
			s += (x*y ^ (x + 7)) + i
		}
	}
	return s
}`)
	f := m.Lookup("F")
	nf, passes := Optimize(f)
	if nf == nil || !strings.Contains(strings.Join(passes, ","), "licm") || len(nf.Locals) <= len(f.Locals) {
		t.Fatalf("passes %v", passes)
	}
	for _, a := range [][3]int64{{3, 4, 10}, {-5, 9, 0}, {1 << 40, 1 << 30, 3}} {
		args := []interp.Value{uint64(a[0]), uint64(a[1]), uint64(a[2])}
		im, om := interp.New(1<<20), interp.New(1<<20)
		v1, e1 := im.Call(f, args)
		v2, e2 := om.Call(nf, args)
		if e1 != nil || e2 != nil || v1 != v2 {
			t.Fatalf("%v: %v %v / %v %v", a, v1, e1, v2, e2)
		}
	}
	t.Logf("passes %v, locals %d -> %d", passes, len(f.Locals), len(nf.Locals))
}

func countLoops(ss []ir.Stmt) int {
	var l []*ir.Loop
	preorderLoops(ss, &l)
	return len(l)
}

// same runs f and nf in the interpreter on every input and fails unless
// results and errors agree; it returns the fuel each used in total.
func same(t *testing.T, f, nf *ir.Func, inputs [][]interp.Value) (fuel, nfuel int64) {
	t.Helper()
	for _, in := range inputs {
		om, nm := interp.New(1<<24), interp.New(1<<24)
		a, b := copyArgs(in), copyArgs(in)
		ov, oerr := om.Call(f, a)
		nv, nerr := nm.Call(nf, b)
		if msg(oerr) != msg(nerr) || (oerr == nil && interp.Format(ov, f.Result) != interp.Format(nv, f.Result)) {
			t.Fatalf("%s%s: original %s, optimized %s", f.Name, show(in, f), outcome(ov, oerr, f.Result), outcome(nv, nerr, f.Result))
		}
		for i, p := range f.Params {
			if p.Kind == ir.Slice && interp.Format(a[i], p) != interp.Format(b[i], p) {
				t.Fatalf("%s%s: argument %d differs", f.Name, show(in, f), i)
			}
		}
		fuel += (1 << 24) - om.Fuel
		nfuel += (1 << 24) - nm.Fuel
	}
	return fuel, nfuel
}

func has(passes []string, p string) bool { return slices.Contains(passes, p) }

func ints(v ...int64) []interp.Value {
	out := make([]interp.Value, len(v))
	for i, x := range v {
		out[i] = uint64(x)
	}
	return out
}

// TestOptimizeConstProp: k is assigned once from a constant; every read
// becomes 5 (and i*5 stays a multiply, x*4 a shift), and k's slot is no
// longer read anywhere. A copy y := x is propagated too.
func TestOptimizeConstProp(t *testing.T) {
	m, _ := load(t, `module c
func F(x int64) int64 {
	k := int64(5)
	y := x
	var s int64
	for i := int64(0); i < y; i++ {
		s += i * k
	}
	return s + k + y*4
}`)
	f := m.Lookup("F")
	nf, passes := Optimize(f)
	if nf == nil || !has(passes, "constprop") {
		t.Fatalf("passes %v", passes)
	}
	walkExprs(nf.Body, func(e ir.Expr) {
		if l, ok := e.(*ir.Local); ok && (l.Slot == 1 || l.Slot == 2) {
			t.Fatalf("local %d (k or y) still used", l.Slot)
		}
	})
	same(t, f, nf, [][]interp.Value{ints(0), ints(1), ints(10), ints(-3), ints(1000)})
	t.Logf("passes %v", passes)
}

// TestOptimizeCSE: a*b+3 is computed three times in straight-line code
// and once after the optimizer; a*b after a is reassigned is not merged.
func TestOptimizeCSE(t *testing.T) {
	m, _ := load(t, `module c
func F(a int64, b int64, xs []int64) int64 {
	var s int64
	s = (a*b + 3) ^ xs[0]
	s += (a*b + 3) * 7
	xs[1] = s + (a*b + 3)
	a = a + 1
	return s + a*b
}`)
	f := m.Lookup("F")
	nf, passes := Optimize(f)
	if nf == nil || !has(passes, "cse") {
		t.Fatalf("passes %v", passes)
	}
	muls := 0
	walkExprs(nf.Body, func(e ir.Expr) {
		if b, ok := e.(*ir.Binary); ok && b.Op == ir.OpMul {
			muls++
		}
	})
	if muls != 3 { // a*b once, *7, and a*b after a changed
		t.Fatalf("%d multiplications left, want 3", muls)
	}
	sl := func(v ...uint64) interp.Slice { return interp.Slice{Elems: v} }
	same(t, f, nf, [][]interp.Value{
		{uint64(3), uint64(4), sl(1, 2)}, {uint64(1 << 40), uint64(77), sl(9, 9, 9)},
		{uint64(3), uint64(4), sl()}, {uint64(3), uint64(4), sl(5)},
	})
}

// TestOptimizeInline: small helpers (an expression, early returns, a
// void store, a division kept for its trap, a helper calling a helper)
// disappear; a recursive function is not inlined. Results, traps and
// slice effects are the same and fuel drops by the calls saved.
func TestOptimizeInline(t *testing.T) {
	m, _ := load(t, `module i
func sq(x int64) int64 { return x * x }
func clamp(v int64, lo int64, hi int64) int64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
func put(s []int64, i int64, v int64) { s[i] = v }
func div(a int64, b int64) int64 { return a / b }
func norm(v int64) int64 { return clamp(sq(v), 0, 50) }
func fact(n int64) int64 {
	if n <= 1 {
		return 1
	}
	return n * fact(n-1)
}
func F(xs []int64, n int64, d int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ {
		s += norm(i - 3) + sq(i)
		put(xs, i%int64(len(xs)), s)
		div(s, d)
	}
	return s + fact(3)
}`)
	f := m.Lookup("F")
	nf, passes := Optimize(f)
	if nf == nil || !has(passes, "inline") {
		t.Fatalf("passes %v", passes)
	}
	callees := ir.Callees(nf.Body)
	if len(callees) != 1 || callees[0].Name != "fact" {
		var names []string
		for _, c := range callees {
			names = append(names, c.Name)
		}
		t.Fatalf("calls left: %v, want only fact", names)
	}
	sl := func(n int) interp.Slice { return interp.Slice{Elems: make([]uint64, n)} }
	fuel, nfuel := same(t, f, nf, [][]interp.Value{
		{sl(4), uint64(10), uint64(3)}, {sl(1), uint64(100), uint64(1)},
		{sl(4), uint64(10), uint64(0)}, // divide by zero inside div
		{sl(0), uint64(3), uint64(1)},  // % by zero length
		{sl(3), ^uint64(0), uint64(1)},
	})
	if nfuel >= fuel {
		t.Fatalf("fuel %d -> %d: calls not saved", fuel, nfuel)
	}
	t.Logf("passes %v; fuel %d -> %d", passes, fuel, nfuel)
}

// TestOptimizeSpecialize: k was 4 in every recorded call, so the body is
// cloned behind `if k == 4`; in the clone the tap loop has a constant
// trip count and is unrolled completely. Other values of k take the
// general body.
func TestOptimizeSpecialize(t *testing.T) {
	m, _ := load(t, `module s
func F(xs []int64, k int64) int64 {
	var s int64
	for i := int64(0); i < int64(len(xs)); i++ {
		for j := int64(0); j < k; j++ {
			s += xs[i] * (j + 1)
		}
	}
	return s
}`)
	f := m.Lookup("F")
	xs := interp.Slice{Elems: []uint64{3, 1, 4, 1, 5, 9, 2, 6}}
	var rec [][]interp.Value
	for i := 0; i < 8; i++ {
		rec = append(rec, []interp.Value{xs, uint64(4)})
	}
	nf, passes := OptimizeWith(f, &Profile{Args: rec})
	if nf == nil || !has(passes, "specialize") || !has(passes, "unroll") {
		t.Fatalf("passes %v", passes)
	}
	g, ok := nf.Body[0].(*ir.If)
	if !ok || len(nf.Body) != 1 {
		t.Fatalf("body is not one guard")
	}
	c, ok := g.Cond.(*ir.Binary)
	if !ok || c.Op != ir.OpEq {
		t.Fatalf("guard %T", g.Cond)
	}
	if l, ok := c.X.(*ir.Local); !ok || l.Slot != 1 {
		t.Fatalf("guard does not test k")
	}
	if k, ok := c.Y.(*ir.Const); !ok || k.Bits != 4 {
		t.Fatalf("guard does not compare with 4")
	}
	if n := countLoops(g.Then); n != 2 { // the i loop: main and remainder; the j loop is gone
		t.Fatalf("%d loops in the specialized body, want 2", n)
	}
	if n := countLoops(g.Else); n != 2 {
		t.Fatalf("%d loops in the general body, want 2", n)
	}
	empty := interp.Slice{}
	fuel, nfuel := same(t, f, nf, [][]interp.Value{
		{xs, uint64(4)}, {xs, uint64(3)}, {xs, uint64(0)}, {empty, uint64(4)}, {xs, ^uint64(0)},
	})
	t.Logf("passes %v; fuel %d -> %d", passes, fuel, nfuel)
}

// TestOptimizeUnroll: a constant loop is unrolled completely; a loop
// with a variable bound and step 3 is unrolled by the factor its
// measured trip count (about 33) gives, with a remainder loop, and agrees
// with the original for bounds at the edges of int64 (where lim would
// wrap) as well as ordinary ones, using less fuel.
func TestOptimizeUnroll(t *testing.T) {
	m, _ := load(t, `module u
func C(x int64) int64 {
	var s int64
	for i := int64(0); i < 8; i++ {
		s = s*31 + i ^ x
	}
	return s
}
func V(lo int64, hi int64) int64 {
	var s int64
	for i := lo; i < hi; i += 3 {
		s = s*7 + i
	}
	return s
}`)
	c := m.Lookup("C")
	nc, passes := Optimize(c)
	if nc == nil || !has(passes, "unroll") || countLoops(nc.Body) != 0 {
		t.Fatalf("C: passes %v, %d loops", passes, countLoops(nc.Body))
	}
	same(t, c, nc, [][]interp.Value{ints(0), ints(5), ints(-1)})

	v := m.Lookup("V")
	var rec [][]interp.Value
	for i := int64(0); i < 6; i++ {
		rec = append(rec, ints(i, 100+i))
	}
	nv, passes := OptimizeWith(v, &Profile{Args: rec})
	if nv == nil || !has(passes, "unroll") || countLoops(nv.Body) != 2 {
		t.Fatalf("V: passes %v, %d loops", passes, countLoops(nv.Body))
	}
	var main *ir.Loop
	for _, s := range nv.Body {
		if l, ok := s.(*ir.Loop); ok {
			main = l
			break
		}
	}
	if got := len(main.Body); got != 4+3 { // 4 copies of the body, 3 of the post
		t.Fatalf("main loop body has %d statements, want 7 (factor 4)", got)
	}
	edges := []int64{math.MinInt64, math.MinInt64 + 1, math.MinInt64 + 5, -7, 0, 1, 2, 3, 4, 10, 11, 12, 100, math.MaxInt64 - 3, math.MaxInt64}
	var inputs [][]interp.Value
	for _, lo := range edges {
		for _, hi := range edges {
			if lo < hi && uint64(hi-lo)/3 > 1000 {
				continue // would run out of fuel in both
			}
			inputs = append(inputs, ints(lo, hi))
		}
	}
	fuel, nfuel := same(t, v, nv, inputs)
	if nfuel >= fuel {
		t.Fatalf("fuel %d -> %d", fuel, nfuel)
	}
	t.Logf("V: passes %v, %d inputs, fuel %d -> %d", passes, len(inputs), fuel, nfuel)
}
