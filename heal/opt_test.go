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
// only use less).
func TestOptimizeProgen(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 300
	}
	var changed, calls int
	for seed := uint64(1); seed <= uint64(n); seed++ {
		m, _ := load(t, progen.Module(seed, progen.Default))
		for _, f := range m.Funcs {
			nf, _ := Optimize(f)
			if nf == nil {
				continue
			}
			changed++
			for k := int64(-3); k <= 3; k++ {
				args := []interp.Value{uint64(k * int64(seed%7)), uint64(k - int64(seed%3))}
				om := interp.New(20000)
				ov, oerr := om.Call(f, args)
				if errors.Is(oerr, interp.ErrOutOfFuel) {
					continue
				}
				nm := interp.New(20000)
				nv, nerr := nm.Call(nf, args)
				calls++
				if msg(oerr) != msg(nerr) || (oerr == nil && interp.Format(ov, f.Result) != interp.Format(nv, f.Result)) {
					t.Fatalf("seed %d %s%v: original %s, optimized %s\n%s", seed, f.Name, args,
						outcome(ov, oerr, f.Result), outcome(nv, nerr, f.Result), progen.Module(seed, progen.Default))
				}
				if nm.Fuel < om.Fuel {
					t.Fatalf("seed %d %s: optimized used more fuel", seed, f.Name)
				}
			}
		}
	}
	if changed == 0 {
		t.Fatal("the optimizer changed nothing")
	}
	t.Logf("%d optimized functions, %d calls identical", changed, calls)
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
