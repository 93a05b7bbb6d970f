package types

import (
	"strings"
	"testing"

	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/syntax"
)

func check(src string) (*ir.Module, error) {
	f, err := syntax.Parse("t.vel", []byte(src))
	if err != nil {
		return nil, err
	}
	return Check(f, nil)
}

func TestCheckOK(t *testing.T) {
	m, err := check(`module ok
const K = 3
const F float64 = K * 1.5
const U = uint64(1) << 63
func A(x int64, y uint64, z float64, b bool, bs []byte, is []int64) int64 {
	var arr [K][2]int64
	arr[1][1] = x
	var q = bs[0] + 1
	bs[1] = q
	is[0] += int64(y >> 3)
	if b && z > F {
		return arr[1][1] + int64(len(bs)) + is[0]
	}
	const local = K + 1
	return local
}
func B() { for i := 0; i < 3; i++ { } }
`)
	if err != nil {
		t.Fatal(err)
	}
	a := m.Lookup("A")
	if !a.Exported || m.Lookup("B") == nil {
		t.Fatal("lookup")
	}
	// Params then locals: x y z b bs is arr q.
	if len(a.Locals) != 8 || a.Locals[6].String() != "[3][2]int64" || a.Locals[7].Kind != ir.Byte {
		t.Fatalf("locals %v", a.Locals)
	}
	// The local const is folded into the return.
	ret := a.Body[len(a.Body)-1].(*ir.Return)
	if c, ok := ret.X.(*ir.Const); !ok || c.Bits != 4 || c.T.Kind != ir.Int64 {
		t.Fatalf("return %#v", ret.X)
	}
}

func TestCheckErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"func f() int64 { return true }", "t.vel:2:25: cannot use value of type bool as int64 in return statement"},
		{"func f() int64 { }", "t.vel:2:18: missing return at end of function f"},
		{"func f() { x := y }", "t.vel:2:17: undefined: y"},
		{"func f() { var a int64; var b uint64; a = a + b }", "mismatched types int64 and uint64"},
		{"func f() { var b byte = 256 }", "cannot use 256 as byte: value out of range"},
		{"func f() { var a [2]int64; a[2] = 1 }", "index 2 out of bounds for [2]int64"},
		{"func f() { x := 1; x := 2 }", "x redeclared in this block (previous declaration at t.vel:2:12)"},
		{"func f() { break }", "'break' is not in a loop"},
		{"func f() { 1 + 2 }", "expression is not used"},
		{"func f() { if 1 { } }", "non-boolean condition: expected bool, found untyped int constant"},
		{"const c = c + 1", "constant c refers to itself"},
		{"func f() { g(1) }\nfunc g(a int64, b int64) {}", "wrong number of arguments in call to g: expected 2, found 1"},
		{"func f() { var s []int64; s[1:2] = s }", "cannot assign to expression"},
		{"func f() int64 { return 1 / 0 }", "constant division by zero"},
		{"func f() { var x float64; x = x % 2.0 }", "operator % not defined on float64"},
		{"func f() { var s []bool; s = make([]int64, 1) }", "cannot use value of type []int64 as []bool"},
		{"func f() { var a [3]int64; var b [3]int64; if a == b {} }", "cannot compare values of type [3]int64"},
		{"func f() { int64 := 3 }", "cannot redeclare predeclared identifier int64"},
		{"func f() { x := m.F() }", "m is not an imported module"},
		{"func f() { var a [1 << 30]int64 }", "array too large"},
		{"func f() { x := g() }\nfunc g() {}", "function call has no value"},
		{"func f() { var s [][]int64 }", "expected scalar slice element type"},
		{"func f() int64 { return int64(1.5) }", "cannot convert untyped float constant to int64"},
		{"func f() { x := 1 << 2000 }", "shift count 2000 too large"},
		{"const big = 1 << 64\nfunc f() int64 { return big }", "cannot use 18446744073709551616 as int64"},
	}
	for _, c := range cases {
		_, err := check("module m\n" + c.src)
		if err == nil {
			t.Errorf("%q: no error, want %q", c.src, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got  %v\n want %s", c.src, err, c.want)
		}
	}
}

type fakeImporter map[string]*Package

func (f fakeImporter) Import(ref string) (*Package, error) {
	if p, ok := f[ref]; ok {
		return p, nil
	}
	return nil, &syntax.Error{Msg: "unknown module " + ref}
}

func TestImports(t *testing.T) {
	lib, err := check("module lib\nfunc Sq(x int64) int64 { return x * x }\nfunc hidden() {}")
	if err != nil {
		t.Fatal(err)
	}
	pkg := &Package{Exports: map[string]*ir.Func{"Sq": lib.Lookup("Sq")}}
	f, _ := syntax.Parse("u.vel", []byte("module u\nimport lib \"abcd\"\nfunc F() int64 { return lib.Sq(3) }"))
	m, err := Check(f, fakeImporter{"abcd": pkg})
	if err != nil {
		t.Fatal(err)
	}
	call := m.Lookup("F").Body[0].(*ir.Return).X.(*ir.Call)
	if call.Target != lib.Lookup("Sq") {
		t.Fatal("call not bound to imported function")
	}
	f, _ = syntax.Parse("u.vel", []byte("module u\nimport lib \"abcd\"\nfunc F() { lib.hidden() }"))
	if _, err := Check(f, fakeImporter{"abcd": pkg}); err == nil || !strings.Contains(err.Error(), "has no exported function hidden") {
		t.Fatalf("got %v", err)
	}
	f, _ = syntax.Parse("u.vel", []byte("module u\nimport lib \"ffff\"\n"))
	if _, err := Check(f, fakeImporter{"abcd": pkg}); err == nil || !strings.Contains(err.Error(), "u.vel:2:1: import lib \"ffff\": ") {
		t.Fatalf("got %v", err)
	}
}

// TestBlankConst is the fuzzer's find: a constant named _ is never
// declared, and resolving it dereferenced a nil object. Its value must
// still be checked.
func TestBlankConst(t *testing.T) {
	if _, err := check("module A\nconst _=0"); err != nil {
		t.Fatalf("const _ = 0: %v", err)
	}
	if _, err := check("module A\nconst _ = 1 / 0"); err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Fatalf("const _ = 1/0: got %v, want a division-by-zero error", err)
	}
	if _, err := check("module A\nconst _ = nope"); err == nil || !strings.Contains(err.Error(), "undefined: nope") {
		t.Fatalf("const _ = nope: got %v", err)
	}
}
