package heal

import (
	"testing"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/jit"
)

// BenchmarkCall compares a call through a Slot (pointer load, in-flight
// counter, argument ring, instrumented code) with a plain Machine.Call of
// uninstrumented code, for a function that returns its argument.
func BenchmarkCall(b *testing.B) {
	skipNoJIT(b)
	m, _ := load(b, "module id\nfunc Id(x int64) int64 { return x }\n")
	f := m.Lookup("Id")
	args := []interp.Value{uint64(3)}
	b.Run("machine", func(b *testing.B) {
		p, err := jit.CompileAndLoad(f)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		mc := jit.New(1 << 50)
		defer mc.Close()
		for i := 0; i < b.N; i++ {
			mc.Fuel = 1 << 40
			if _, err := mc.Call(p, f, args); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("slot", func(b *testing.B) {
		s, err := NewSlot("Id", f)
		if err != nil {
			b.Fatal(err)
		}
		c := NewCaller()
		defer c.Close()
		for i := 0; i < b.N; i++ {
			if _, err := c.Call(s, args); err != nil {
				b.Fatal(err)
			}
		}
	})
}
