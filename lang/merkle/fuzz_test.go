package merkle

import (
	"testing"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
)

// FuzzLoad feeds arbitrary bytes to the block decoder as a function or
// module block (stored under its true CID, as a store would) together with
// the blocks of a real module. Decoding must never panic, and whatever
// decodes must be well-typed enough that running it never panics either.
func FuzzLoad(f *testing.F) {
	_, h := build(f, base, nil)
	for _, b := range h.Blocks {
		f.Add(b.Data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Sum(data)
		if err != nil {
			t.Fatal(err)
		}
		blocks := memBlocks{}
		blocks.put(h.Blocks)
		blocks[c.KeyString()] = data
		l := NewLoader(blocks)
		if m, err := l.Module(c); err == nil {
			for _, fn := range m.Funcs {
				runZero(fn)
			}
		}
		if fn, err := l.Func(c); err == nil {
			runZero(fn)
		}
	})
}

func runZero(f *ir.Func) {
	args := make([]interp.Value, len(f.Params))
	for i, p := range f.Params {
		args[i] = interp.Zero(p)
	}
	m := interp.New(500)
	m.MaxAlloc = 1 << 14
	m.MaxDepth = 100
	_, _ = m.Call(f, args)
}
