package merkle

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/velocityos/velocity/lang/dagcbor"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/syntax"
	"github.com/velocityos/velocity/lang/types"
)

type memBlocks map[string][]byte

func (m memBlocks) Get(c cid.Cid) ([]byte, error) {
	b, ok := m[c.KeyString()]
	if !ok {
		return nil, fmt.Errorf("block %s not found", c)
	}
	return b, nil
}

func (m memBlocks) put(bs []Block) {
	for _, b := range bs {
		m[b.CID.KeyString()] = b.Data
	}
}

func build(t testing.TB, src string, imp types.Importer) (*ir.Module, *HashedModule) {
	t.Helper()
	f, err := syntax.Parse("t.vel", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m, err := types.Check(f, imp)
	if err != nil {
		t.Fatal(err)
	}
	h, err := HashModule(m)
	if err != nil {
		t.Fatal(err)
	}
	return m, h
}

const base = `module arith

// Square returns x*x.
func Square(x int64) int64 {
	y := x * x
	return y
}

func SumSquares(n int64) int64 {
	total := int64(0)
	for i := int64(0); i < n; i++ {
		total += Square(i)
	}
	return total
}

func Even(n int64) bool {
	if n == 0 {
		return true
	}
	return Odd(n - 1)
}

func Odd(n int64) bool {
	if n == 0 {
		return false
	}
	return Even(n - 1)
}

func Fact(n int64) int64 {
	if n <= 1 {
		return 1
	}
	return n * Fact(n-1)
}
`

// The same module: locals and parameters renamed, comments and layout
// changed, the module renamed, declarations reordered, a constant named.
const renamed = `module other /* different name */
const One = 1
func Fact(k int64) int64 { if k <= One { return 1 }; return k * Fact(k-One) }
func Odd(m int64) bool {
	if m == 0 { return false }
	return Even(m - 1)
}
func Even(q int64) bool {
	if q == 0 { return true }
	return Odd(q - 1)
}
func SumSquares(limit int64) int64 {
	acc := int64(0)
	for j := int64(0); j < limit; j++ { acc += Square(j) }
	return acc
}
func Square(v int64) int64 { w := v * v; return w }
`

func cids(m *ir.Module) map[string]string {
	out := map[string]string{}
	for _, f := range m.Funcs {
		out[f.Name] = f.CID.String()
	}
	return out
}

// Golden CIDs: if the encoding changes, these change, and that is a
// deliberate format change (bump Format).
var golden = map[string]string{
	"module":     "bafyreig2mw4ipujebxo642gvup2lqtvjcpcwpfsu4t4qcieppxdw6alo3i",
	"Square":     "bafyreicbrakb2zzijjyf6scskftlqatlvisujvea6jzeqc3kzsltafwv24",
	"SumSquares": "bafyreih6luynxg4ugvhqtip44wtnxddqmjgrabfrtlyhqgwwfbwsruemkq",
	"Even":       "bafyreidpjj7go6o3poxndnz4yijxh6djszxlowh2rtwil6p4hehumi4iam",
	"Odd":        "bafyreidouah3536vv5qxtmv6xb3r2uvenl3ik3qzyylno23wgj2hgg3koy",
	"Fact":       "bafyreieehtohqlw3rggrehszsp2zlnmzhpdwu43jgoi63hmltbspfvek6q",
}

func TestGoldenCIDs(t *testing.T) {
	m, h := build(t, base, nil)
	got := cids(m)
	got["module"] = h.CID.String()
	for k, want := range golden {
		if got[k] != want {
			t.Errorf("%s: CID %s, want %s", k, got[k], want)
		}
	}
}

// TestBlockHashes checks every block against an independent sha2-256.
func TestBlockHashes(t *testing.T) {
	_, h := build(t, base, nil)
	for _, b := range h.Blocks {
		sum := sha256.Sum256(b.Data)
		dec, err := mh.Decode(b.CID.Hash())
		if err != nil {
			t.Fatal(err)
		}
		if b.CID.Version() != 1 || b.CID.Type() != cid.DagCBOR || dec.Code != mh.SHA2_256 || !bytes.Equal(dec.Digest, sum[:]) {
			t.Fatalf("block %s does not hash to its CID", b.CID)
		}
		// Every block is canonical DAG-CBOR.
		v, err := dagcbor.Decode(b.Data)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := dagcbor.Encode(v)
		if !bytes.Equal(again, b.Data) {
			t.Fatalf("block %s is not canonical", b.CID)
		}
	}
	// 5 functions: Square, SumSquares (func blocks), the Even/Odd group with
	// two members, Fact's group with one member, and the module block.
	if len(h.Blocks) != 2+3+2+1 {
		t.Fatalf("%d blocks", len(h.Blocks))
	}
}

func TestNamesAreMetadata(t *testing.T) {
	m1, h1 := build(t, base, nil)
	m2, h2 := build(t, renamed, nil)
	c1, c2 := cids(m1), cids(m2)
	for name, c := range c1 {
		if c2[name] != c {
			t.Errorf("%s: %s vs %s", name, c, c2[name])
		}
	}
	if !h1.CID.Equals(h2.CID) {
		t.Errorf("module CIDs differ: %s vs %s", h1.CID, h2.CID)
	}
	// Mutually recursive functions are distinct functions in one group.
	if c1["Even"] == c1["Odd"] {
		t.Error("Even and Odd share a CID")
	}
}

func TestSemanticChangesChangeCIDs(t *testing.T) {
	m0, h0 := build(t, base, nil)
	c0 := cids(m0)
	changes := []struct {
		from, to string
		changed  []string // functions whose CID must change
	}{
		{"y := x * x", "y := x + x", []string{"Square", "SumSquares"}},
		{"i < n", "i <= n", []string{"SumSquares"}},
		{"return n * Fact(n-1)", "return n * Fact(n-2)", []string{"Fact"}},
		{"if n <= 1 {", "if n < 1 {", []string{"Fact"}},
		{"return Odd(n - 1)", "return Odd(n - 2)", []string{"Even", "Odd"}},
		{"total := int64(0)", "total := int64(1)", []string{"SumSquares"}},
		{"func Square(x int64) int64 {\n\ty := x * x", "func Square(x int64) int64 {\n\ty := x * x\n\ty = y", []string{"Square", "SumSquares"}},
		{"y := x * x\n\treturn y", "y := x * x\n\treturn x", []string{"Square", "SumSquares"}},
	}
	for _, ch := range changes {
		if !strings.Contains(base, ch.from) {
			t.Fatalf("%q not in base", ch.from)
		}
		m, h := build(t, strings.Replace(base, ch.from, ch.to, 1), nil)
		c := cids(m)
		if h.CID.Equals(h0.CID) {
			t.Errorf("%q -> %q: module CID unchanged", ch.from, ch.to)
		}
		for _, name := range ch.changed {
			if c[name] == c0[name] {
				t.Errorf("%q -> %q: %s CID unchanged", ch.from, ch.to, name)
			}
		}
	}
	// Swapping operand order and types also changes identity.
	for _, v := range []string{
		"module a\nfunc F(a int64, b int64) int64 { return a - b }",
		"module a\nfunc F(a int64, b int64) int64 { return b - a }",
		"module a\nfunc F(a uint64, b uint64) uint64 { return a - b }",
		"module a\nfunc F(a int64, b int64) int64 { var c int64; c = a - b; return c }",
		"module a\nfunc F(a int64, b int64) int64 { return a - b }\nfunc G() {}",
		"module a\nfunc F(a int64, b int64) int64 { return a - b }\nfunc g() {}",
	} {
		_, h := build(t, v, nil)
		for _, w := range seenModules {
			if w == h.CID.String() {
				t.Errorf("collision for %q", v)
			}
		}
		seenModules = append(seenModules, h.CID.String())
	}
}

var seenModules []string

func TestRoundTripAndRun(t *testing.T) {
	m, h := build(t, base, nil)
	blocks := memBlocks{}
	blocks.put(h.Blocks)
	l := NewLoader(blocks)
	dm, err := l.Module(h.CID)
	if err != nil {
		t.Fatal(err)
	}
	if len(dm.Exports) != 5 || len(dm.Funcs) != 5 {
		t.Fatalf("exports %d funcs %d", len(dm.Exports), len(dm.Funcs))
	}
	for _, name := range []string{"SumSquares", "Fact", "Even"} {
		for _, arg := range []int64{0, 1, 7, 10} {
			want, err1 := interp.New(1e6).Call(m.Lookup(name), []interp.Value{interp.Int64(arg)})
			got, err2 := interp.New(1e6).Call(dm.Exports[name], []interp.Value{interp.Int64(arg)})
			if err1 != nil || err2 != nil || want != got {
				t.Errorf("%s(%d): source %v %v, decoded %v %v", name, arg, want, err1, got, err2)
			}
		}
	}
	// Re-hashing the decoded functions gives the same CIDs.
	for name, f := range dm.Exports {
		if !f.CID.Equals(m.Lookup(name).CID) {
			t.Errorf("%s: decoded CID %s, want %s", name, f.CID, m.Lookup(name).CID)
		}
	}
}

func TestImportsAreLinks(t *testing.T) {
	_, hlib := build(t, base, nil)
	blocks := memBlocks{}
	blocks.put(hlib.Blocks)
	imp := importer{l: NewLoader(blocks), cid: hlib.CID}
	m, h := build(t, `module user
import a "lib"
func Main() int64 { return a.SumSquares(4) + a.Fact(5) }`, imp)
	blocks.put(h.Blocks)
	dm, err := NewLoader(blocks).Module(h.CID)
	if err != nil {
		t.Fatal(err)
	}
	if len(dm.Imports) != 1 || !dm.Imports[0].Equals(hlib.CID) {
		t.Fatalf("imports %v", dm.Imports)
	}
	for _, f := range []*ir.Func{m.Lookup("Main"), dm.Exports["Main"]} {
		got, err := interp.New(1000).Call(f, nil)
		if err != nil || got != interp.Int64(14+120) {
			t.Fatalf("Main = %v, %v", got, err)
		}
	}
	// Changing the library changes the importer's function CID (Merkle).
	_, hl2 := build(t, strings.Replace(base, "return n * Fact(n-1)", "return n * Fact(n-1) + 0*n", 1), nil)
	blocks.put(hl2.Blocks)
	m2, _ := build(t, `module user
import a "lib"
func Main() int64 { return a.SumSquares(4) + a.Fact(5) }`, importer{l: NewLoader(blocks), cid: hl2.CID})
	if m2.Lookup("Main").CID.Equals(m.Lookup("Main").CID) {
		t.Fatal("importer's CID did not change with its callee")
	}
}

type importer struct {
	l   *Loader
	cid cid.Cid
}

func (i importer) Import(ref string) (*types.Package, error) {
	m, err := i.l.Module(i.cid)
	if err != nil {
		return nil, err
	}
	return &types.Package{CID: m.CID, Exports: m.Exports}, nil
}

func TestDecodeRejectsIllTyped(t *testing.T) {
	// A hand-made function block that adds a bool to an int64.
	bad := map[string]any{
		"format": Format, "kind": KindFunc,
		"params": []any{int64(ir.Int64)}, "result": int64(ir.Int64), "locals": []any{},
		"body": []any{[]any{int64(tReturn), []any{int64(tBinary), int64(ir.OpAdd),
			[]any{int64(tLocal), int64(0)}, []any{int64(tConst), int64(ir.Bool), uint64(1)}}}},
	}
	b, err := makeBlock(bad)
	if err != nil {
		t.Fatal(err)
	}
	blocks := memBlocks{}
	blocks.put([]Block{b})
	if _, err := NewLoader(blocks).Func(b.CID); err == nil || !strings.Contains(err.Error(), "operator + on int64 and bool") {
		t.Fatalf("got %v", err)
	}
}
