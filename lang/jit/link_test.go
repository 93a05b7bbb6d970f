package jit

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/progen"
	"github.com/velocityos/velocity/lang/validate"
)

// TestDifferentialLinked compiles every function of a random program as
// a blob of its own (CompileModule) linked to the blobs of the functions
// it calls (LoadLinked), as the module table links modules, and requires
// the interpreter's exact results, errors (including the name of the
// function that trapped, in whichever blob) and remaining fuel.
func TestDifferentialLinked(t *testing.T) {
	if !Supported() {
		t.Skip("no JIT on this platform")
	}
	n := programs(t) / 10
	deadline := time.Now().Add(30 * time.Second)
	mach := New(0)
	mach.MaxAlloc = 1 << 16
	defer mach.Close()
	calls, traps := 0, 0
	for seed := uint64(1); seed <= uint64(n); seed++ {
		if time.Now().After(deadline) {
			t.Logf("time bound reached after %d programs", seed-1)
			break
		}
		src := progen.Module(seed, progenConfig)
		mod := compileSrc(t, src)
		// Fk calls only Fj, j < k: load in order, each linked to all before.
		var progs []*Program
		for _, f := range mod.Funcs {
			code, err := CompileModule(mod.Funcs[len(progs) : len(progs)+1])
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			if f != code.Funcs[0] {
				t.Fatal("CompileModule reordered functions")
			}
			p, err := LoadLinked(code, progs)
			if err != nil {
				t.Fatalf("seed %d %s: %v\n%s", seed, f.Name, err, src)
			}
			progs = append(progs, p)
		}
		for k, f := range mod.Funcs {
			x, y := int64(seed%17)-8, int64(k*3)-int64(seed%5)
			fuel := int64(5000)
			if seed%4 == 0 {
				fuel = int64(seed % 60)
			}
			io, jo := both(t, progs[k], mach, f, fuel, progenArgs(f, x, y)...)
			calls++
			if io != jo {
				t.Fatalf("seed %d %s(%d, %d) fuel %d:\ninterp %v\njit    %v\n%s", seed, f.Name, x, y, fuel, io, jo, src)
			}
			if io.err != "" {
				traps++
			}
		}
		for _, p := range progs {
			p.Close()
		}
	}
	t.Logf("%d calls across linked blobs agree with the interpreter (%d errors)", calls, traps)
}

const linkSrc = `module link
func Sq(x int64) int64 { return x * x }
func Use(x int64) int64 { return Sq(x) + 1 }
`

func TestLoadLinkedRules(t *testing.T) {
	if !Supported() {
		t.Skip("no JIT on this platform")
	}
	mod := compileSrc(t, linkSrc)
	sq, use := mod.Lookup("Sq"), mod.Lookup("Use")
	code, err := CompileModule([]*ir.Func{use})
	if err != nil {
		t.Fatal(err)
	}
	if len(code.Externs) != 1 || code.Externs[0] != sq {
		t.Fatalf("externs %v", code.Externs)
	}
	// Load refuses code with externs; LoadLinked needs a program for them.
	if _, err := Load(code); err == nil {
		t.Fatal("Load accepted code with externs")
	}
	if _, err := LoadLinked(code, nil); err == nil || !strings.Contains(err.Error(), "no imported program") {
		t.Fatalf("LoadLinked without imports: %v", err)
	}
	lib, err := CompileAndLoad(sq)
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadLinked(code, []*Program{lib})
	if err != nil {
		t.Fatal(err)
	}
	m := New(100)
	defer m.Close()
	if v, err := m.Call(p, use, []interp.Value{uint64(7)}); err != nil || v != uint64(50) {
		t.Fatalf("Use(7) = %v, %v", v, err)
	}
	// Sq is only called by p, not compiled into it: no entry thunk.
	if _, err := m.Call(p, sq, []interp.Value{uint64(7)}); err == nil {
		t.Fatal("called an extern through the importer")
	}
	if a, ok := lib.FuncAddr(sq); !ok || a < lib.Base() || a >= lib.Base()+uint64(lib.CodeSize()) {
		t.Fatalf("FuncAddr %#x, %v", a, ok)
	}
	// The validator takes only the listed import addresses: a slot
	// pointing anywhere else (here: one byte into Sq) is refused, and so
	// is an "import" inside the blob itself.
	a, _ := lib.FuncAddr(sq)
	blob, meta := code.LinkExtern(0x10000, []uint64{a + 1})
	meta.Imports = []uint64{a}
	var ve *validate.Error
	if err := validate.Validate(blob, meta); !errors.As(err, &ve) || ve.Rule != validate.RuleCallTable {
		t.Fatalf("slot off the import list: %v", err)
	}
	blob, meta = code.LinkExtern(0x10000, []uint64{0x10000})
	if err := validate.Validate(blob, meta); !errors.As(err, &ve) || ve.Rule != validate.RuleCallTable {
		t.Fatalf("import inside the blob: %v", err)
	}
	p.Close()
	lib.Close()
	if p.Base() != 0 || p.MappedBytes() != 0 {
		t.Fatal("closed program still reports a mapping")
	}
}
