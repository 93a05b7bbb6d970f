package interp

import (
	"testing"

	"github.com/velocityos/velocity/lang/syntax"
	"github.com/velocityos/velocity/lang/types"
)

// FuzzRun checks that checked programs never panic the interpreter: every
// failure is an error, and fuel bounds every run.
func FuzzRun(f *testing.F) {
	f.Add([]byte(progs))
	f.Add([]byte("module m\nfunc F() int64 { var a [4]int64; i := 5; return a[i] }"))
	f.Add([]byte("module m\nfunc F() int64 { s := make([]int64, 3); return s[1:2][0] / s[0] }"))
	f.Add([]byte("module m\nfunc F() int64 { for { } }"))
	f.Add([]byte("module m\nfunc F() float64 { x := 1e308; return x * 10 }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := syntax.Parse("fuzz", src)
		if err != nil {
			return
		}
		m, err := types.Check(file, nil)
		if err != nil {
			return
		}
		for _, fn := range m.Funcs {
			args := make([]Value, len(fn.Params))
			for i, p := range fn.Params {
				args[i] = Zero(p)
			}
			mach := New(2000)
			mach.MaxAlloc = 1 << 16
			mach.MaxDepth = 200
			v, err := mach.Call(fn, args)
			if err == nil && fn.Result.Kind != 0 {
				_ = Format(v, fn.Result)
			}
		}
	})
}
