package syntax

import "testing"

// FuzzParse checks that no input makes the parser panic, and that every
// error carries a position inside the input.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("module m\nfunc f() int64 { return 1 }"))
	f.Add([]byte("module m\nconst x = ((((1))))"))
	f.Add([]byte("module m\nfunc f(a []byte) { a[1:][0] = 2; for { break } }"))
	f.Add([]byte("module m\nimport q \"8f2c\"\n/* c */ func g() {}"))
	f.Add([]byte("module"))
	f.Add([]byte{0xff, 0x00})
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse("fuzz", src)
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("error type %T", err)
			}
			if e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Fatalf("bad position in %v", e)
			}
			return
		}
		if file == nil {
			t.Fatal("nil file without error")
		}
	})
}
