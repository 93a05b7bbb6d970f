package heal

import (
	"errors"
	"strings"
	"testing"

	"github.com/velocityos/velocity/lang/interp"
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
