package jit

import (
	"bytes"
	"testing"

	"github.com/velocityos/velocity/lang/validate"
	"golang.org/x/arch/x86/x86asm"
)

const padSrc = `module pad

func A(n int64) int64 {
	s := int64(0)
	for i := int64(0); i < n; i++ { s += B(i) }
	return s
}

func B(x int64) int64 {
	if x < 0 { return 0 - x }
	return x * 2
}

func C(xs []int64) int64 { return xs[0] + A(int64(len(xs))) }
`

// TestPatchPad checks that every compiled function (plain and
// instrumented) starts with the 5-byte NOP a live patcher overwrites,
// that FuncAddr is the pad's address, and that no branch in the blob
// targets bytes 1..4 of any pad.
func TestPatchPad(t *testing.T) {
	mod := compileSrc(t, padSrc)
	for _, instr := range []bool{false, true} {
		var c *Code
		var err error
		if instr {
			c, err = CompileInstrumented(mod.Funcs...)
		} else {
			c, err = Compile(mod.Funcs...)
		}
		if err != nil {
			t.Fatal(err)
		}
		blob, meta := c.Link(0x10000)
		if err := validate.Validate(blob, meta); err != nil {
			t.Fatalf("instr=%v: %v", instr, err)
		}
		inPad := map[int]bool{}
		for _, off := range c.bodies {
			if !bytes.Equal(blob[off:off+5], PatchPad[:]) {
				t.Errorf("instr=%v: function at %#x starts with % x, want the patch pad", instr, off, blob[off:off+5])
			}
			inst, err := x86asm.Decode(blob[off:], 64)
			if err != nil || inst.Op != x86asm.NOP || inst.Len != 5 {
				t.Errorf("instr=%v: pad at %#x decodes as %v (len %d, err %v)", instr, off, inst, inst.Len, err)
			}
			for k := 1; k < 5; k++ {
				inPad[off+k] = true
			}
		}
		// Every direct branch target, decoded linearly function by function.
		for _, r := range meta.Funcs {
			for off := r.Start; off < r.End; {
				inst, err := x86asm.Decode(blob[off:r.End], 64)
				if err != nil {
					t.Fatalf("decode at %#x: %v", off, err)
				}
				if rel, ok := inst.Args[0].(x86asm.Rel); ok {
					if tgt := off + inst.Len + int(rel); inPad[tgt] {
						t.Errorf("instr=%v: branch at %#x into a patch pad (%#x)", instr, off, tgt)
					}
				}
				off += inst.Len
			}
		}
		if !Supported() {
			continue
		}
		p, err := Load(c)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range mod.Funcs {
			a, ok := p.FuncAddr(f)
			if !ok || a != p.Base()+uint64(c.bodies[i]) {
				t.Errorf("FuncAddr(%s) = %#x, %v", f.Name, a, ok)
				continue
			}
			got := p.mem[a-p.Base() : a-p.Base()+5] // the executable mapping itself
			if !bytes.Equal(got, PatchPad[:]) {
				t.Errorf("loaded %s starts with % x", f.Name, got)
			}
		}
		p.Close()
	}
}
