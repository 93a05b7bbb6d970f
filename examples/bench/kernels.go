// Package bench holds the module-language versions of the JIT benchmark
// kernels (kernels.vel) and their inputs, shared by the host test that
// checks them against bench/gcref and by bench/jitbench, so that the
// interpreter, the JIT and gc all run on exactly the same data.
package bench

import (
	_ "embed"
	"fmt"
	"math/rand"

	"github.com/velocityos/velocity/bench/gcref"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/syntax"
	"github.com/velocityos/velocity/lang/types"
)

// Source is kernels.vel.
//
//go:embed kernels.vel
var Source []byte

// Names are the kernels, in table order.
var Names = []string{"MatMul", "CRC32", "Adler32", "Find", "Sieve", "FIR", "PopCount", "InsertionSort"}

// Module parses and type-checks kernels.vel.
func Module() (*ir.Module, error) {
	f, err := syntax.Parse("kernels.vel", Source)
	if err != nil {
		return nil, err
	}
	return types.Check(f, nil)
}

// Case is one kernel with one input, held twice: as Go values for gcref
// and as interpreter values (a []byte argument is a slice of words there)
// for the interpreter and the JIT.
type Case struct {
	Name string
	// VM are the arguments for interp.Machine.Call and jit.Machine.Call.
	// Call Reset before each call: kernels that write their input (the
	// sort) get it back.
	VM []interp.Value
	gc func() uint64
	// reset restores inputs that a kernel mutates, on both sides.
	reset func()
	// outGC and outVM are the slices the kernel writes (nil if none).
	outGC []int64
	outVM []uint64
}

// Reset restores the inputs a kernel mutates (cheap: a copy of one slice).
func (c *Case) Reset() {
	if c.reset != nil {
		c.reset()
	}
}

// GC resets the input and runs the gcref version, returning its result
// as the module version's bits.
func (c *Case) GC() uint64 {
	c.Reset()
	return c.gc()
}

// Written returns the slice the kernel writes, as gc and as the VM left
// it (both nil for kernels that write nothing).
func (c *Case) Written() ([]int64, []uint64) { return c.outGC, c.outVM }

func words(b []byte) interp.Slice {
	w := make([]uint64, len(b))
	for i, v := range b {
		w[i] = uint64(v)
	}
	return interp.Slice{Elems: w}
}

func ints(xs []int64) interp.Slice {
	w := make([]uint64, len(xs))
	for i, v := range xs {
		w[i] = uint64(v)
	}
	return interp.Slice{Elems: w}
}

func randInts(r *rand.Rand, n int, lo, hi int64) []int64 {
	x := make([]int64, n)
	for i := range x {
		x[i] = lo + r.Int63n(hi-lo+1)
	}
	return x
}

func randBytes(r *rand.Rand, n, alpha int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Intn(alpha))
	}
	return b
}

// NewCase builds the input of kernel name from r; size scales it (the
// bench uses 1, the tests smaller random sizes down to 0).
func NewCase(name string, r *rand.Rand, size float64) (*Case, error) {
	sz := func(n int) int { return int(float64(n) * size) }
	c := &Case{Name: name}
	switch name {
	case "MatMul":
		n := int64(sz(40))
		a, b := randInts(r, int(n*n), -1000, 1000), randInts(r, int(n*n), -1000, 1000)
		cm := make([]int64, n*n)
		cv := ints(cm)
		c.VM = []interp.Value{ints(a), ints(b), cv, uint64(n)}
		c.gc = func() uint64 { return uint64(gcref.MatMul(a, b, cm, n)) }
		c.outGC, c.outVM = cm, cv.Elems
	case "CRC32", "Adler32":
		d := randBytes(r, sz(4096), 256)
		c.VM = []interp.Value{words(d)}
		if name == "CRC32" {
			c.gc = func() uint64 { return gcref.CRC32(d) }
		} else {
			c.gc = func() uint64 { return gcref.Adler32(d) }
		}
	case "Find":
		// A 4-letter alphabet has many partial matches; the needle is
		// planted near the end (or not at all, sometimes, in tests).
		hay := randBytes(r, sz(8192), 4)
		needle := randBytes(r, min(16, 1+sz(12)), 4)
		if len(hay) > len(needle) && r.Intn(4) != 0 {
			at := len(hay) - len(needle) - r.Intn(1+len(hay)/10)
			copy(hay[at:], needle)
		}
		c.VM = []interp.Value{words(hay), words(needle)}
		c.gc = func() uint64 { return uint64(gcref.Find(hay, needle)) }
	case "Sieve":
		n := int64(sz(30000))
		c.VM = []interp.Value{uint64(n)}
		c.gc = func() uint64 { return uint64(gcref.Sieve(n)) }
	case "FIR":
		x := randInts(r, sz(2048), -1<<19, 1<<19)
		h := randInts(r, 1+sz(31), -512, 512)
		y := make([]int64, len(x))
		yv := ints(y)
		c.VM = []interp.Value{ints(x), ints(h), yv}
		c.gc = func() uint64 { return uint64(gcref.FIR(x, h, y)) }
		c.outGC, c.outVM = y, yv.Elems
	case "PopCount":
		d := make([]int64, sz(2048))
		for i := range d {
			d[i] = int64(r.Uint64() >> uint(r.Intn(64)))
		}
		c.VM = []interp.Value{ints(d)}
		c.gc = func() uint64 { return uint64(gcref.PopCount(d)) }
	case "InsertionSort":
		orig := randInts(r, sz(500), -1e6, 1e6)
		a := make([]int64, len(orig))
		av := ints(orig)
		c.VM = []interp.Value{av}
		c.reset = func() {
			copy(a, orig)
			for i, v := range orig {
				av.Elems[i] = uint64(v)
			}
		}
		c.gc = func() uint64 { return uint64(gcref.InsertionSort(a)) }
		c.outGC, c.outVM = a, av.Elems
	default:
		return nil, fmt.Errorf("bench: no kernel %q", name)
	}
	return c, nil
}
