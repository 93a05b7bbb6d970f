package irprint_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/velocityos/velocity/heal"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/irprint"
	"github.com/velocityos/velocity/lang/merkle"
	"github.com/velocityos/velocity/lang/progen"
	"github.com/velocityos/velocity/lang/syntax"
	"github.com/velocityos/velocity/lang/types"
)

func compile(t *testing.T, src string) *ir.Module {
	t.Helper()
	file, err := syntax.Parse("in.vel", []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	m, err := types.Check(file, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	if _, err := merkle.HashModule(m); err != nil {
		t.Fatal(err)
	}
	return m
}

// reprint prints f and checks it back, returning the re-checked function
// (hashed, so its CID is set) and the source.
func reprint(t *testing.T, f *ir.Func) (*ir.Func, string) {
	t.Helper()
	src, err := irprint.Module("printed", f)
	if err != nil {
		t.Fatal(err)
	}
	m := compile(t, src)
	g := m.Lookup(f.Name)
	if g == nil {
		t.Fatalf("no %s in\n%s", f.Name, src)
	}
	return g, src
}

const sample = `module sample

const K = 3

func Work(n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ {
		var junk int64
		for j := int64(0); j < 200; j++ {
			junk = junk*31 + j
		}
		if junk == 5 {
			continue
		} else if junk > 7 {
			s -= 1
		} else {
			s += i * 8
		}
	}
	return s
}

func Mix(xs []byte, f float64, u uint64, ok bool) float64 {
	var a [4]int64
	a[1] = int64(len(xs))
	b := [2][4]int64{a, [4]int64{}}
	t := xs[1:len(xs)]
	w := make([]uint64, 3)
	w[0] = u &^ uint64(255) << 2
	for {
		if !ok || ^u == 0 || -f < 1.5e-7 {
			break
		}
		ok = false
	}
	for len(t) > 0 {
		t = t[1:]
	}
	return f*2.0 + float64(b[0][1]+int64(w[0]>>1)) + float64(K) + float64(Work(-5))
}
`

// Functions the checker produced print back to the same CID.
func TestRoundTripSameCID(t *testing.T) {
	srcs := []string{sample, heal.DemoSource}
	files, _ := filepath.Glob("../../examples/modules/*.vel")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "import ") { // imports need a store
			srcs = append(srcs, string(b))
		}
	}
	for seed := uint64(0); seed < 40; seed++ {
		cfg := progen.Default
		cfg.Arrays = seed%2 == 1
		srcs = append(srcs, progen.Module(seed, cfg))
	}
	for _, src := range srcs {
		m := compile(t, src)
		for _, f := range m.Funcs {
			g, out := reprint(t, f)
			if !g.CID.Equals(f.CID) {
				t.Errorf("%s: CID %s after printing, want %s\nsource:\n%s\nprinted:\n%s", f.Name, g.CID, f.CID, src, out)
			}
		}
	}
}

// The optimizer's output (no source of its own) prints to source with
// the same results.
func TestOptimizedSameResults(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	checked := 0
	for seed := uint64(100); seed < 160; seed++ {
		m := compile(t, progen.Module(seed, progen.Default))
		for _, f := range m.Funcs {
			opt, _ := heal.Optimize(f)
			if opt == nil {
				continue
			}
			g, out := reprint(t, opt)
			for k := 0; k < 8; k++ {
				args := []interp.Value{uint64(r.Int64N(200) - 100), uint64(r.Int64N(200) - 100)}
				want, werr := interp.New(1<<22).Call(opt, args)
				got, gerr := interp.New(1<<22).Call(g, args)
				if (werr == nil) != (gerr == nil) || werr == nil && want != got {
					t.Fatalf("%s%v: optimized %v, %v; printed %v, %v\n%s", f.Name, args, want, werr, got, gerr, out)
				}
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("the optimizer changed nothing")
	}
}

// Hoisting: a local assigned in one branch and read after it.
func TestHoistedLocal(t *testing.T) {
	f := &ir.Func{Name: "F", ParamNames: []string{"n"}, LocalNames: []string{"n", "x"},
		Params: []*ir.Type{ir.TInt64}, Locals: []*ir.Type{ir.TInt64, ir.TInt64}, Result: ir.TInt64,
		Body: []ir.Stmt{
			&ir.If{Cond: &ir.Binary{Op: ir.OpGt, X: &ir.Local{Slot: 0, T: ir.TInt64}, Y: &ir.Const{T: ir.TInt64}, T: ir.TBool},
				Then: []ir.Stmt{&ir.Assign{Dst: &ir.Local{Slot: 1, T: ir.TInt64}, X: &ir.Const{T: ir.TInt64, Bits: 7}}}},
			&ir.Return{X: &ir.Local{Slot: 1, T: ir.TInt64}},
		}}
	g, src := reprint(t, f)
	if !strings.Contains(src, "var x int64\n") {
		t.Errorf("x not hoisted:\n%s", src)
	}
	for _, n := range []int64{-1, 1} {
		r, err := interp.New(100).Call(g, []interp.Value{uint64(n)})
		if want := map[int64]uint64{-1: 0, 1: 7}[n]; err != nil || r != want {
			t.Errorf("F(%d) = %v, %v; want %d", n, r, err, want)
		}
	}
}

func TestUnprintable(t *testing.T) {
	f := &ir.Func{Name: "F", Params: nil, Result: ir.TFloat64,
		Body: []ir.Stmt{&ir.Return{X: &ir.Const{T: ir.TFloat64, Bits: math.Float64bits(math.NaN())}}}}
	if _, err := irprint.Module("m", f); err == nil {
		t.Fatal("a NaN constant printed")
	}
}

// FuzzRoundTrip: any module that checks prints back, function by
// function, to source that checks to the same CID.
func FuzzRoundTrip(f *testing.F) {
	f.Add(sample)
	f.Add(heal.DemoSource)
	f.Add(progen.Module(7, progen.Default))
	f.Fuzz(func(t *testing.T, src string) {
		file, err := syntax.Parse("in.vel", []byte(src))
		if err != nil {
			return
		}
		m, err := types.Check(file, nil)
		if err != nil {
			return
		}
		if _, err := merkle.HashModule(m); err != nil {
			return
		}
		for _, fn := range m.Funcs {
			out, err := irprint.Module("printed", fn)
			if err != nil {
				if errors.Is(err, irprint.ErrUnprintable) {
					continue
				}
				t.Fatal(err)
			}
			g := compile(t, out)
			if h := g.Lookup(fn.Name); h == nil || !h.CID.Equals(fn.CID) {
				t.Fatalf("%s changed CID when printed:\n%s\nprinted:\n%s", fn.Name, src, out)
			}
		}
	})
}
