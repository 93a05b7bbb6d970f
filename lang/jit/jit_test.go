package jit

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/progen"
	"github.com/velocityos/velocity/lang/syntax"
	"github.com/velocityos/velocity/lang/types"
	"github.com/velocityos/velocity/lang/validate"
)

func compileSrc(t testing.TB, src string) *ir.Module {
	t.Helper()
	f, err := syntax.Parse("test.vel", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	m, err := types.Check(f, nil)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return m
}

func TestStateOffsets(t *testing.T) {
	var s state
	for name, c := range map[string][2]uintptr{
		"fuel": {unsafe.Offsetof(s.fuel), stFuel}, "depth": {unsafe.Offsetof(s.depth), stDepth},
		"maxDepth": {unsafe.Offsetof(s.maxDepth), stMaxDepth}, "stackLimit": {unsafe.Offsetof(s.stackLimit), stStackLimit},
		"savedSP": {unsafe.Offsetof(s.savedSP), stSavedSP}, "entrySP": {unsafe.Offsetof(s.entrySP), stEntrySP},
		"stackTop": {unsafe.Offsetof(s.stackTop), stStackTop}, "trapCode": {unsafe.Offsetof(s.trapCode), stTrapCode},
		"trapFn": {unsafe.Offsetof(s.trapFn), stTrapFn}, "a0": {unsafe.Offsetof(s.a0), stA0}, "a1": {unsafe.Offsetof(s.a1), stA1},
		"a2": {unsafe.Offsetof(s.a2), stA2}, "allocPtr": {unsafe.Offsetof(s.allocPtr), stAllocPtr},
		"allocLeft": {unsafe.Offsetof(s.allocLeft), stAllocLeft}, "savedG": {unsafe.Offsetof(s.savedG), stSavedG},
		"ret0": {unsafe.Offsetof(s.ret0), stRet0}, "ret1": {unsafe.Offsetof(s.ret1), stRet1}, "args": {unsafe.Offsetof(s.args), stArgs},
	} {
		if c[0] != c[1] {
			t.Errorf("%s at %d, code uses %d", name, c[0], c[1])
		}
	}
}

func TestSmoke(t *testing.T) {
	m := compileSrc(t, "module t\nfunc Add(a int64, b int64) int64 { return a + b }\n")
	f := m.Lookup("Add")
	p, err := CompileAndLoad(f)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	mach := New(100)
	defer mach.Close()
	v, err := mach.Call(p, f, []interp.Value{uint64(2), uint64(40)})
	if err != nil || v != uint64(42) {
		t.Fatalf("%v %v", v, err)
	}
}

// TestCodePagesNotWritable: code pages are never writable and executable
// at once. While a blob is being copied in, its pages do not run; once
// loaded, a write to them faults and the code runs. This is checked by
// doing it (the page tables decide), so it holds inside Velocity as on
// Linux; where /proc/self/maps exists it must say r-x as well.
func TestCodePagesNotWritable(t *testing.T) {
	if !Supported() {
		t.Skip("no JIT on this platform")
	}
	var fillErr error
	mem, err := mapCode(16, func(base uint64) ([]byte, error) {
		p := ptrAt(uintptr(base))
		*(*byte)(p) = 0xc3 // RET, written while the page is writable
		if _, ok := faultAt(func() { callAt(uintptr(base)) }); !ok {
			fillErr = fmt.Errorf("code at %#x ran while its page was writable", base)
		}
		return []byte{0xc3}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	unmapCode(mem)
	if fillErr != nil {
		t.Fatal(fillErr)
	}

	m := compileSrc(t, "module t\nfunc F(a int64) int64 { return a * 3 }\n")
	p, err := CompileAndLoad(m.Funcs...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	code := (*byte)(ptrAt(uintptr(p.base)))
	b := *code
	if addr, ok := faultAt(func() { *code = b }); !ok || addr != uintptr(p.base) {
		t.Fatalf("writing loaded code at %#x: fault %v at %#x", p.base, ok, addr)
	}
	mach := New(100)
	defer mach.Close()
	if v, err := mach.Call(p, m.Lookup("F"), []interp.Value{uint64(5)}); err != nil || v != uint64(15) {
		t.Fatalf("F(5) = %v, %v after the write attempt", v, err)
	}

	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Logf("no /proc/self/maps (%v): the page tables were checked above", err)
		return
	}
	found := false
	for _, line := range strings.Split(string(maps), "\n") {
		var lo, hi uint64
		var perms string
		if _, err := fmt.Sscanf(line, "%x-%x %s", &lo, &hi, &perms); err != nil {
			continue
		}
		if p.base >= lo && p.base < hi {
			found = true
			if perms[:3] != "r-x" {
				t.Fatalf("code mapping %s has permissions %s", line, perms)
			}
		}
	}
	if !found {
		t.Fatal("code mapping not found")
	}
}

// faultAt runs f and returns the address of the memory fault it caused,
// recovered as a panic; ok is false when f ran without one.
func faultAt(f func()) (addr uintptr, ok bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			a, isFault := r.(interface{ Addr() uintptr })
			if !isFault {
				panic(r)
			}
			addr, ok = a.Addr(), true
		}
	}()
	f()
	return 0, false
}

// callAt calls the machine code at pc as a Go func().
func callAt(pc uintptr) {
	fv := &pc
	(*(*func())(unsafe.Pointer(&fv)))()
}

// TestLoadRejectsInvalidCode: a blob the validator rejects never becomes
// executable.
func TestLoadRejectsInvalidCode(t *testing.T) {
	if !Supported() {
		t.Skip("no JIT on this platform")
	}
	m := compileSrc(t, "module t\nfunc F(a int64) int64 { return a * 3 }\n")
	for name, patch := range map[string][]byte{"hlt": {0xf4}, "syscall": {0x0f, 0x05}, "int3": {0xcc}, "jmp rax": {0xff, 0xe0}} {
		c, err := Compile(m.Funcs...)
		if err != nil {
			t.Fatal(err)
		}
		copy(c.code[c.bodies[0]:], patch)
		if _, err := Load(c); err == nil || !strings.Contains(err.Error(), "generated code rejected") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestGeneratedCodeValidates: the validator accepts every blob for a few
// hundred random programs (Load validates; this checks the metadata too).
func TestGeneratedCodeValidates(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		mod := compileSrc(t, progen.Module(seed, progenConfig))
		c, err := Compile(mod.Funcs...)
		if err != nil {
			t.Fatal(err)
		}
		blob, meta := c.Link(0x7f0012340000)
		if err := validate.Validate(blob, meta); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

// TestUnsupported: a frame beyond maxFrameBytes (33 locals of 2^20
// words) is refused with ErrUnsupported, naming the function; the
// interpreter would still run it.
func TestUnsupported(t *testing.T) {
	var b strings.Builder
	b.WriteString("module t\nfunc Huge() int64 {\n")
	for i := 0; i < 33; i++ {
		fmt.Fprintf(&b, "\tvar a%d [1048576]int64\n\ta%d[0] = 1\n", i, i)
	}
	b.WriteString("\treturn a0[0]\n}\n")
	m := compileSrc(t, b.String())
	_, err := Compile(m.Lookup("Huge"))
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "Huge") || !strings.Contains(err.Error(), "frame") {
		t.Fatalf("got %v", err)
	}
}
