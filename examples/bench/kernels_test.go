package bench

import (
	"math/rand"
	"slices"
	"testing"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/jit"
)

// TestKernels runs every kernel of kernels.vel in the interpreter and the
// JIT on random inputs of random sizes (0 included) and requires the
// result, the slice the kernel writes and the fuel left to agree, and the
// result to equal the gcref version's.
func TestKernels(t *testing.T) {
	mod, err := Module()
	if err != nil {
		t.Fatal(err)
	}
	var prog *jit.Program
	if jit.Supported() {
		if prog, err = jit.CompileAndLoad(mod.Funcs...); err != nil {
			t.Fatal(err)
		}
		defer prog.Close()
	}
	mach := jit.New(0)
	defer mach.Close()
	r := rand.New(rand.NewSource(42))
	const fuel = 1 << 40
	for _, name := range Names {
		f := mod.Lookup(name)
		if f == nil {
			t.Fatalf("kernels.vel has no %s", name)
		}
		for it := 0; it < 12; it++ {
			size := r.Float64() * 0.3
			if it == 0 {
				size = 0
			}
			c, err := NewCase(name, r, size)
			if err != nil {
				t.Fatal(err)
			}
			want := c.GC()
			wantOut, _ := c.Written()
			wantOut = slices.Clone(wantOut)

			c.Reset()
			im := interp.New(fuel)
			iv, err := im.Call(f, c.VM)
			if err != nil {
				t.Fatalf("%s #%d interp: %v", name, it, err)
			}
			checkOut := func(engine string) {
				_, got := c.Written()
				for i := range got {
					if int64(got[i]) != wantOut[i] {
						t.Fatalf("%s #%d %s: written[%d] = %d, gc %d", name, it, engine, i, int64(got[i]), wantOut[i])
					}
				}
			}
			if iv.(uint64) != want {
				t.Fatalf("%s #%d: interp %d, gc %d", name, it, int64(iv.(uint64)), int64(want))
			}
			checkOut("interp")
			if prog == nil {
				continue
			}
			_, out := c.Written()
			clear(out) // the JIT must write it again
			c.Reset()
			mach.Fuel = fuel
			jv, err := mach.Call(prog, f, c.VM)
			if err != nil {
				t.Fatalf("%s #%d jit: %v", name, it, err)
			}
			if jv.(uint64) != want {
				t.Fatalf("%s #%d: jit %d, gc %d", name, it, int64(jv.(uint64)), int64(want))
			}
			checkOut("jit")
			if mach.Fuel != im.Fuel {
				t.Fatalf("%s #%d: fuel left: jit %d, interp %d", name, it, mach.Fuel, im.Fuel)
			}
		}
	}
}
