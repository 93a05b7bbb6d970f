package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/registry"
)

const modLibSrc = `module lib
func Square(x int64) int64 { return x * x }
func Cube(x int64) int64 { return x * Square(x) }
func Spin(n int64) int64 {
	s := int64(0)
	for i := int64(0); i < n; i++ { s += i }
	return s
}
func Sum(xs []int64) int64 {
	s := int64(0)
	for i := 0; i < len(xs); i++ { s += xs[i] }
	return s
}
func At(a [3]int64, i int64) int64 { return a[i] }
func Half(x float64) float64 { return x / 2 }
func Not(b bool) bool { return !b }
`

type modEnv struct {
	t     *testing.T
	store string
	dir   string
}

func newModEnv(t *testing.T) *modEnv {
	d := t.TempDir()
	return &modEnv{t: t, store: filepath.Join(d, "store"), dir: d}
}

// mod runs velocity mod -store DIR args... in-process.
func (e *modEnv) mod(args ...string) (stdout, stderr string, status int) {
	var o, er bytes.Buffer
	status = modMain(append([]string{"-store", e.store}, args...), &o, &er)
	return o.String(), er.String(), status
}

func (e *modEnv) mustMod(args ...string) string {
	e.t.Helper()
	out, errOut, st := e.mod(args...)
	if st != 0 {
		e.t.Fatalf("velocity mod %s: status %d\n%s", strings.Join(args, " "), st, errOut)
	}
	return out
}

func (e *modEnv) write(name, src string) string {
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *modEnv) add(name, src string) string {
	e.t.Helper()
	c := strings.TrimSpace(e.mustMod("add", e.write(name, src)))
	if _, err := cid.Decode(c); err != nil {
		e.t.Fatalf("add printed %q, not a CID", c)
	}
	return c
}

func TestModAddIsDeterministic(t *testing.T) {
	e := newModEnv(t)
	a := e.add("lib.vel", modLibSrc)
	// Renamed parameters and a comment: same CID.
	b := e.add("lib2.vel", strings.Replace(modLibSrc, "Square(x int64) int64 { return x * x }",
		"Square(y int64) int64 { /* sq */ return y * y }", 1))
	if a != b {
		t.Fatalf("CIDs differ: %s %s", a, b)
	}
	ents, _ := os.ReadDir(e.store)
	if len(ents) < 5 {
		t.Fatalf("store has %d files", len(ents))
	}
}

func TestModAddErrors(t *testing.T) {
	e := newModEnv(t)
	_, errOut, st := e.mod("add", e.write("bad.vel", "module bad\nfunc F() int64 { return true }\n"))
	if st != exitModFailure || !strings.Contains(errOut, "bad.vel:2:") || !strings.Contains(errOut, "bool") {
		t.Fatalf("status %d, %q", st, errOut)
	}
	_, errOut, st = e.mod("add", e.write("syn.vel", "module syn\nfunc F( {\n"))
	if st != exitModFailure || !strings.Contains(errOut, "syn.vel:2:") || !strings.Contains(errOut, "expected") {
		t.Fatalf("status %d, %q", st, errOut)
	}
	_, errOut, st = e.mod("add", e.write("imp.vel", "module imp\nimport x \"abcdef12\"\n"))
	if st != exitModFailure || !strings.Contains(errOut, "imp.vel:2:1") || !strings.Contains(errOut, "no module") {
		t.Fatalf("status %d, %q", st, errOut)
	}
	_, errOut, st = e.mod("add", filepath.Join(e.dir, "missing.vel"))
	if st != exitModFailure || !strings.Contains(errOut, "missing.vel") {
		t.Fatalf("status %d, %q", st, errOut)
	}
	if _, _, st = e.mod("add"); st != exitUsage {
		t.Fatalf("add without file: %d", st)
	}
	if _, _, st = e.mod("frob"); st != exitUsage {
		t.Fatalf("unknown subcommand: %d", st)
	}
}

func TestModCat(t *testing.T) {
	e := newModEnv(t)
	c := e.add("lib.vel", modLibSrc)
	out := e.mustMod("cat", c)
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("cat output is not JSON: %v\n%s", err, out)
	}
	if v["kind"] != "module" || v["format"] != "velocity/1" {
		t.Fatalf("cat: %v", v)
	}
	exports := v["exports"].(map[string]any)
	sq := exports["Square"].(map[string]any)["/"].(string)
	fout := e.mustMod("cat", sq)
	if !strings.Contains(fout, `"kind": "func"`) || !strings.Contains(fout, `"body"`) {
		t.Fatalf("cat func: %s", fout)
	}
	// A digest prefix works too.
	pc, _ := cid.Decode(c)
	if out2 := e.mustMod("cat", digestPrefix(t, pc)); out2 != out {
		t.Fatal("cat by prefix differs")
	}
	unknown, _ := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: 0x12, MhLength: -1}.Sum([]byte("nope"))
	_, errOut, st := e.mod("cat", unknown.String())
	if st != exitModFailure || !strings.Contains(errOut, "unknown CID "+unknown.String()) {
		t.Fatalf("unknown: %d %q", st, errOut)
	}
	_, errOut, st = e.mod("cat", "not-a-cid")
	if st != exitModFailure || !strings.Contains(errOut, "neither a CID nor a hex digest prefix") {
		t.Fatalf("garbage: %d %q", st, errOut)
	}
}

func digestPrefix(t *testing.T, c cid.Cid) string {
	t.Helper()
	h := c.Hash()
	// sha2-256 multihash: 0x12 0x20 then the digest.
	const hexd = "0123456789abcdef"
	var b strings.Builder
	for _, x := range h[2:6] {
		b.WriteByte(hexd[x>>4])
		b.WriteByte(hexd[x&15])
	}
	return b.String()
}

func TestModGraph(t *testing.T) {
	e := newModEnv(t)
	lib := e.add("lib.vel", modLibSrc)
	mid := e.add("mid.vel", "module mid\nimport l \""+lib+"\"\nfunc F(x int64) int64 { return l.Cube(x) + 1 }\n")
	top := e.add("top.vel", "module top\nimport l \""+lib+"\"\nimport m \""+mid+"\"\nfunc Main(x int64) int64 { return m.F(x) + l.Square(x) }\n")
	lines := strings.Split(strings.TrimSpace(e.mustMod("graph", top)), "\n")
	if len(lines) != 3 || lines[0] != lib || lines[1] != mid+" -> "+lib || !strings.HasPrefix(lines[2], top+" -> ") ||
		!strings.Contains(lines[2], lib) || !strings.Contains(lines[2], mid) {
		t.Fatalf("graph:\n%s", strings.Join(lines, "\n"))
	}
	// A missing import is reported with the chain that needed it.
	libC, _ := cid.Decode(lib)
	p := filepath.Join(e.store, libC.String())
	os.Chmod(p, 0o644)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	_, errOut, st := e.mod("graph", top)
	if st != exitModFailure || !strings.Contains(errOut, " -> "+lib) || !strings.Contains(errOut, "not found") {
		t.Fatalf("missing import: %d %q", st, errOut)
	}
}

func TestModPack(t *testing.T) {
	e := newModEnv(t)
	lib := e.add("lib.vel", modLibSrc)
	user := e.add("user.vel", "module user\nimport l \""+lib+"\"\nfunc Main(x int64) int64 { return l.Cube(x) }\n")
	out := filepath.Join(e.dir, "one.pack")
	e.mustMod("pack", "-o", out, user)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	p, err := registry.OpenPack(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Roots) != 1 || p.Roots[0].String() != user {
		t.Fatalf("roots %v", p.Roots)
	}
	uc, _ := cid.Decode(user)
	v, _, err := registry.Run(p, uc, "Main", 100, uint64(3))
	if err != nil || v != uint64(27) {
		t.Fatalf("run from pack: %v %v", v, err)
	}
	// Without CIDs: every module in the store is a root.
	all := filepath.Join(e.dir, "all.pack")
	e.mustMod("pack", "-o", all)
	data, _ = os.ReadFile(all)
	p, err = registry.OpenPack(data)
	if err != nil || len(p.Roots) != 2 {
		t.Fatalf("all: %v %v", p, err)
	}
	if _, _, st := e.mod("pack", user); st != exitUsage {
		t.Fatalf("pack without -o: %d", st)
	}
	empty := newModEnv(t)
	if _, errOut, st := empty.mod("pack", "-o", filepath.Join(e.dir, "x.pack")); st != exitModFailure || !strings.Contains(errOut, "no modules") {
		t.Fatalf("empty store: %d %q", st, errOut)
	}
}

func TestModVerify(t *testing.T) {
	e := newModEnv(t)
	lib := e.add("lib.vel", modLibSrc)
	out := e.mustMod("verify")
	if !strings.Contains(out, " 0 corrupt") {
		t.Fatalf("clean store: %s", out)
	}
	libC, _ := cid.Decode(lib)
	p := filepath.Join(e.store, libC.String())
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(e.store, "README"), []byte("x"), 0o644)
	out, errOut, st := e.mod("verify")
	if st != exitModFailure || !strings.Contains(out, "CORRUPT "+lib+": hash mismatch") ||
		!strings.Contains(out, "1 corrupt") || !strings.Contains(out, "STRAY README") ||
		!strings.Contains(errOut, "1 corrupt blocks") {
		t.Fatalf("status %d\nstdout %s\nstderr %s", st, out, errOut)
	}
	// Other commands refuse the corrupt block clearly.
	_, errOut, st = e.mod("run", lib, "Square", "2")
	if st != exitModFailure || !strings.Contains(errOut, "hash mismatch") {
		t.Fatalf("run corrupt: %d %q", st, errOut)
	}
	_, errOut, st = e.mod("cat", lib)
	if st != exitModFailure || !strings.Contains(errOut, "corrupt or forged") {
		t.Fatalf("cat corrupt: %d %q", st, errOut)
	}
}

func TestModRun(t *testing.T) {
	e := newModEnv(t)
	lib := e.add("lib.vel", modLibSrc)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"Cube", "3"}, "27"},
		{[]string{"Cube", "-0x10"}, "-4096"},
		{[]string{"Sum", "[1,2, 3 4]"}, "10"},
		{[]string{"Sum", "[]"}, "0"},
		{[]string{"At", "[7 8 9]", "2"}, "9"},
		{[]string{"Half", "3"}, "1.5"},
		{[]string{"Not", "false"}, "true"},
		{[]string{"Spin", "100"}, "4950"},
	} {
		if got := strings.TrimSpace(e.mustMod(append([]string{"run", lib}, tc.args...)...)); got != tc.want {
			t.Errorf("run %v = %q, want %q", tc.args, got, tc.want)
		}
		if !jit.Supported() {
			continue
		}
		if got := strings.TrimSpace(e.mustMod(append([]string{"run", "-jit", lib}, tc.args...)...)); got != tc.want {
			t.Errorf("run -jit %v = %q, want %q", tc.args, got, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		st   int
		want string
	}{
		{[]string{"run", lib, "At", "[1 2 3]", "5"}, exitModFailure, "index out of range [5] with length 3"},
		{[]string{"run", "-fuel", "50", lib, "Spin", "1000"}, exitModFailure, "out of fuel"},
		{[]string{"run", lib, "Nope"}, exitModFailure, `no exported function "Nope"`},
		{[]string{"run", lib, "Cube"}, exitModFailure, "takes 1 arguments (func(int64) int64), got 0"},
		{[]string{"run", lib, "Cube", "x"}, exitModFailure, `argument 1 (int64): "x": invalid syntax`},
		{[]string{"run", lib, "At", "[1 2]", "0"}, exitModFailure, "2 elements for [3]int64"},
		{[]string{"run", lib}, exitUsage, "run needs REF FUNC"},
	} {
		_, errOut, st := e.mod(tc.args...)
		if st != tc.st || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: status %d, stderr %q; want %d, %q", tc.args, st, errOut, tc.st, tc.want)
		}
		if !jit.Supported() || len(tc.args) < 3 {
			continue
		}
		jargs := append([]string{"run", "-jit"}, tc.args[1:]...)
		_, errOut, st = e.mod(jargs...)
		if st != tc.st || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: status %d, stderr %q; want %d, %q", jargs, st, errOut, tc.st, tc.want)
		}
	}
}

func TestModStoreDefault(t *testing.T) {
	t.Setenv(StoreEnv, "/some/where")
	if d, _ := defaultStoreDir(""); d != "/some/where" {
		t.Fatalf("env: %s", d)
	}
	if d, _ := defaultStoreDir("/flag"); d != "/flag" {
		t.Fatalf("flag: %s", d)
	}
	t.Setenv(StoreEnv, "")
	t.Setenv("XDG_CACHE_HOME", "/cache")
	if d, _ := defaultStoreDir(""); d != "/cache/velocity/store" {
		t.Fatalf("cache: %s", d)
	}
}

func TestModThroughCLI(t *testing.T) {
	e := newModEnv(t)
	f := e.write("lib.vel", modLibSrc)
	out, errOut, st := velocityCLI(t, "mod", "-store", e.store, "add", f)
	if st != 0 {
		t.Fatalf("%d %s", st, errOut)
	}
	out, _, st = velocityCLI(t, "mod", "-store", e.store, "run", strings.TrimSpace(out), "Square", "12")
	if st != 0 || strings.TrimSpace(out) != "144" {
		t.Fatalf("%d %q", st, out)
	}
}

func TestModModules(t *testing.T) {
	if !jit.Supported() {
		t.Skip("the JIT runs on linux/amd64 only")
	}
	e := newModEnv(t)
	lib := e.add("lib.vel", modLibSrc)
	var users []string
	for i, f := range []string{"Cube", "Square", "Spin"} {
		users = append(users, e.add("user.vel", "module user\nimport l \""+lib+"\"\nfunc Main(x int64) int64 { return l."+f+"(x) + "+string(rune('0'+i))+" }\n"))
	}
	// Every module in the store: lib is shared by its three importers
	// (plus its own root handle).
	out := e.mustMod("modules")
	if !strings.Contains(out, "total: 4 modules, 4 code pages mapped, 7 references, 3 pages saved by sharing") {
		t.Fatalf("modules:\n%s", out)
	}
	libLine := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "…"+lib[len(lib)-12:]) {
			libLine = l
		}
	}
	if f := strings.Fields(libLine); len(f) < 5 || f[4] != "4" {
		t.Fatalf("lib line %q, want 4 references\n%s", libLine, out)
	}
	// Two importers named on the command line, from a pack (alias table).
	pack := filepath.Join(e.dir, "m.pack")
	e.mustMod("pack", "-o", pack)
	out = e.mustMod("table", "-pack", pack, users[0], users[2])
	if !strings.Contains(out, "total: 3 modules, 3 code pages mapped, 4 references, 1 pages saved by sharing") {
		t.Fatalf("table -pack:\n%s", out)
	}
	if _, errOut, st := e.mod("modules", "ffffffff"); st != exitModFailure {
		t.Fatalf("unknown ref: %d %q", st, errOut)
	}
}
