package jit

import "testing"

// FuncAt names every byte of a loaded function's body, and its thunk,
// and nothing once the program is closed.
func TestFuncAt(t *testing.T) {
	if !Supported() {
		t.Skip("no JIT on this platform")
	}
	mod := compileSrc(t, "module m\n\nfunc Add(a int64, b int64) int64 { return a + b }\n\nfunc Twice(a int64) int64 { return Add(a, a) }\n")
	p, err := CompileAndLoad(mod.Lookup("Twice"))
	if err != nil {
		t.Fatal(err)
	}
	c := p.Code()
	for i, f := range c.Funcs {
		body := c.ranges[i]
		for off := body.Start; off < body.End; off++ {
			if got, ok := FuncAt(uintptr(p.Base()) + uintptr(off)); !ok || got != "jit:"+f.Name {
				t.Fatalf("FuncAt(base+%#x) = %q, %v; want jit:%s", off, got, ok, f.Name)
			}
		}
		thunk := c.ranges[len(c.Funcs)+i]
		if got, ok := FuncAt(uintptr(p.Base()) + uintptr(thunk.Start)); !ok || got != "jit:"+f.Name+" (entry thunk)" {
			t.Errorf("thunk of %s: %q, %v", f.Name, got, ok)
		}
	}
	lo, hi := p.Text()
	if _, ok := FuncAt(uintptr(hi)); ok {
		t.Error("the constant pool after the code is named")
	}
	if _, ok := FuncAt(uintptr(lo) - 1); ok {
		t.Error("the byte before the program is named")
	}
	p.Close()
	if got, ok := FuncAt(uintptr(lo)); ok {
		t.Errorf("closed program still named: %q", got)
	}
}
