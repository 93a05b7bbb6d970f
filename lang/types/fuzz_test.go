package types

import (
	"testing"

	"github.com/velocityos/velocity/lang/syntax"
)

// FuzzCheck checks that parsing and checking never panic.
func FuzzCheck(f *testing.F) {
	f.Add([]byte("module m\nconst K = 3\nfunc A(x int64) int64 { var a [K]int64; a[1] = x; return a[1] << 2 }"))
	f.Add([]byte("module m\nfunc f(s []byte) byte { for i := 0; i < len(s); i++ { s[i] ^= 0xff }; return s[0] }"))
	f.Add([]byte("module m\nconst c = 1.5 * 2\nfunc g() float64 { return c / 3 }"))
	f.Add([]byte("module m\nfunc f() uint64 { x := uint64(1) << 63 >> 2; return ^x &^ 7 }"))
	f.Add([]byte("module m\nfunc f() bool { return !(1 < 2) || false }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := syntax.Parse("fuzz", src)
		if err != nil {
			return
		}
		m, err := Check(file, nil)
		if err == nil && m == nil {
			t.Fatal("nil module without error")
		}
		if err != nil {
			if _, ok := err.(*syntax.Error); !ok {
				t.Fatalf("error type %T: %v", err, err)
			}
		}
	})
}
