package syntax

import (
	"strings"
	"testing"
)

const sample = `module sample // header comment

import math "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
import util "8f2ca9"

const N = 1 << 4

/* a block
   comment */
func Add(a, b int64) int64 {
	return a + b
}

func loops(xs []int64) (int64) {
	var total int64
	for i := 0; i < len(xs); i++ {
		total += xs[i]
	}
	for total > 100 {
		total -= 1
	}
	for {
		break
	}
	arr := [3]int64{1, 2,
		3,
	}
	if total == 0 {
		return 0
	} else if total < 0 {
		return -total
	} else {
		return total + arr[0] + math.Abs(xs[1:2][0])
	}
}
`

func TestParseSample(t *testing.T) {
	f, err := Parse("sample.vel", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "sample" || len(f.Imports) != 2 || len(f.Consts) != 1 || len(f.Funcs) != 2 {
		t.Fatalf("unexpected file: %+v", f)
	}
	if f.Imports[1].Ref != "8f2ca9" || f.Imports[0].Name != "math" {
		t.Fatalf("imports: %+v %+v", f.Imports[0], f.Imports[1])
	}
	add := f.Funcs[0]
	if len(add.Params) != 2 || add.Params[0].Name != "a" || add.Params[1].Name != "b" {
		t.Fatalf("params: %+v", add.Params)
	}
	ret := add.Body.Stmts[0].(*ReturnStmt)
	if b, ok := ret.X.(*Binary); !ok || b.Op != Add {
		t.Fatalf("return: %#v", ret.X)
	}
}

func TestPrecedence(t *testing.T) {
	f, err := Parse("p", []byte("module p\nconst x = 1 + 2 * 3 << 1 == 13 || false && true"))
	if err != nil {
		t.Fatal(err)
	}
	or := f.Consts[0].Value.(*Binary)
	if or.Op != LOr {
		t.Fatalf("top op %v", or.Op)
	}
	eq := or.X.(*Binary)
	if eq.Op != Eql {
		t.Fatalf("eq op %v", eq.Op)
	}
	add := eq.X.(*Binary)
	if add.Op != Add || add.Y.(*Binary).Op != Shl || add.Y.(*Binary).X.(*Binary).Op != Mul {
		t.Fatalf("add tree wrong")
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"", "f.vel:1:1: expected module header 'module NAME', found end of file"},
		{"module", "f.vel:1:7: expected identifier, found end of file"},
		{"module m\nfunc f( {}", "f.vel:2:9: expected identifier, found '{'"},
		{"module m\nfunc f() int64 {\n\treturn 1 +\n}", "f.vel:4:1: expected expression, found '}'"},
		{"module m\nfunc f() {\n\tx := 1 2\n}", "f.vel:3:9: expected ';' or newline after statement, found literal 2"},
		{"module m\nfunc f() {\n\tif x { } else return\n}", "f.vel:3:16: expected 'if' or '{' after else, found 'return'"},
		{"module m\nvar x = 1", "f.vel:2:1: expected 'func' or 'const' declaration, found 'var'"},
		{"module m\nimport x 42", "f.vel:2:10: expected import reference string (a CID or hex digest prefix), found literal 42"},
		{"module m\nfunc f() { a := \"x }", "f.vel:2:17: string literal not terminated"},
		{"module m\n/* open", "f.vel:2:1: comment not terminated"},
		{"module m\nfunc f() { x := 0x }", "f.vel:2:17: malformed hex literal"},
		{"module m\nfunc f() { x := 1 @ 2 }", "f.vel:2:19: unexpected character '@'"},
		{"module m\nfunc f(a, b) {}", "f.vel:2:12: expected type"},
		{"module m\nfunc f() { for i := 0; i < 3; j := 1 {} }", "f.vel:2:31: cannot declare in for post statement"},
		{"module m\nfunc f() { 1 := 2 }", "expected identifier on left side of ':='"},
		{"module m\nfunc f() {\n\ta := [2]int64{1,\n\t2\n\t}\n}", "f.vel:4:3: expected ',' before newline in composite literal"},
		{"module m\nconst x = " + strings.Repeat("(", 1000) + "1", "nesting too deep"},
	}
	for _, c := range cases {
		_, err := Parse("f.vel", []byte(c.src))
		if err == nil {
			t.Errorf("%q: no error, want %q", c.src, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got  %v\n want %s", c.src, err, c.want)
		}
		if _, ok := err.(*Error); !ok {
			t.Errorf("%q: error type %T, want *Error", c.src, err)
		}
	}
}

func TestSemicolonInsertion(t *testing.T) {
	src := "module m\nfunc f() int64 {\n\tx := 1\n\tx++\n\treturn x\n}\n"
	f, err := Parse("f", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.Funcs[0].Body.Stmts); n != 3 {
		t.Fatalf("%d statements, want 3", n)
	}
}
