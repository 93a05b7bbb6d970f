package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/velocityos/velocity/lang/dagcbor"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/lang/merkle"
	"github.com/velocityos/velocity/lang/modtable"
	"github.com/velocityos/velocity/registry"
)

// StoreEnv names the environment variable that sets the default block store.
const StoreEnv = "VELOCITY_STORE"

// Exit status of velocity mod when a subcommand fails (a bad module, a
// missing or corrupt block, a run-time error of the called function).
const exitModFailure = 1

// modUsageFull is modUsage with the Biosphere's subcommands.
var modUsageFull string

const modUsage = `Usage: velocity mod [-store DIR] SUBCOMMAND ...

Subcommands:
  add FILE...                 check FILE, store its blocks, print the module CID
  cat REF                     print a block (dag-cbor shown as dag-json)
  graph REF                   print the import graph, imports before importers
  pack -o FILE [REF...]       write a module pack (default: every module in the store)
  verify                      re-hash every block in the store; exit 1 if any is corrupt
  run [-fuel N] [-jit] REF FUNC ARGS...
                              load a module and call its exported function FUNC
  modules [-pack FILE] [REF...]
                              load modules (default: every module in the store, or
                              the pack's roots) into a module table with the JIT and
                              print it: CID, address, code size, pages, references,
                              importers, and the pages sharing saved (alias: table)

REF is a CID (bafy...) or a hex prefix (4+ digits) of a module's digest.
ARGS are Go-style literals: 42, -7, 0xff, 1.5, true, and [1,2,3] for arrays
and slices. The store is DIR, else $VELOCITY_STORE, else
$XDG_CACHE_HOME/velocity/store (os.UserCacheDir).
Exit status: 0 ok, 1 failure, 2 usage error.
`

func cmdMod(args []string) int { return modMain(args, os.Stdout, os.Stderr) }

func init() { modUsageFull = modUsage + modBiosphereUsage }

// modMain runs velocity mod with args, writing to stdout and stderr.
func modMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mod", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, modUsageFull) }
	storeDir := fs.String("store", "", "block store directory")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return exitUsage
	}
	sub, rest := rest[0], rest[1:]
	if sub == "help" {
		fs.Usage()
		return 0
	}
	cmds := map[string]func(*registry.DirStore, []string, io.Writer) error{
		"add": modAdd, "cat": modCat, "graph": modGraph, "pack": modPack, "verify": modVerify, "run": modRun,
		"modules": modModules, "table": modModules,
		"fetch": modFetch, "serve": modServe, "import": modImport, "export": modExport, // mod_biosphere.go
	}
	run, ok := cmds[sub]
	if !ok {
		fmt.Fprintf(stderr, "velocity mod: unknown subcommand %q\n\n", sub)
		fs.Usage()
		return exitUsage
	}
	dir, err := defaultStoreDir(*storeDir)
	if err != nil {
		fmt.Fprintf(stderr, "velocity mod: %v\n", err)
		return exitModFailure
	}
	s, err := registry.OpenDir(dir)
	if err != nil {
		fmt.Fprintf(stderr, "velocity mod: store: %v\n", err)
		return exitModFailure
	}
	if err := run(s, rest, stdout); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "velocity mod %s: %v\n\n%s", sub, err, modUsageFull)
			return exitUsage
		}
		fmt.Fprintf(stderr, "velocity mod %s: %v\n", sub, err)
		return exitModFailure
	}
	return 0
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func defaultStoreDir(flagDir string) (string, error) {
	if flagDir != "" {
		return flagDir, nil
	}
	if d := os.Getenv(StoreEnv); d != "" {
		return d, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no store directory: use -store DIR or set $%s (%v)", StoreEnv, err)
	}
	return filepath.Join(cache, "velocity", "store"), nil
}

func modAdd(s *registry.DirStore, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("add needs a FILE")
	}
	for _, file := range args {
		src, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		c, _, err := registry.AddSource(s, file, src)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, c)
	}
	return nil
}

// resolve turns a CID or a digest prefix into a CID. A CID need not name
// a module (cat shows any block); a prefix must name exactly one module.
func resolve(s registry.Store, ref string) (cid.Cid, error) {
	if c, err := cid.Decode(ref); err == nil {
		if ok, err := s.Has(c); err != nil {
			return cid.Undef, err
		} else if !ok {
			return cid.Undef, fmt.Errorf("unknown CID %s: %w", c, registry.ErrNotFound)
		}
		return c, nil
	}
	return registry.ResolveRef(s, ref)
}

func modCat(s *registry.DirStore, args []string, out io.Writer) error {
	if len(args) != 1 {
		return usagef("cat needs exactly one REF")
	}
	c, err := resolve(s, args[0])
	if err != nil {
		return err
	}
	data, err := s.Get(c)
	if err != nil {
		return err
	}
	if c.Type() != cid.DagCBOR {
		_, err := out.Write(data)
		return err
	}
	v, err := dagcbor.Decode(data)
	if err != nil {
		return fmt.Errorf("block %s: malformed dag-cbor: %v", c, err)
	}
	j, err := json.MarshalIndent(toDagJSON(v), "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s\n", j)
	return nil
}

// toDagJSON maps a decoded dag-cbor value to its dag-json form: links as
// {"/": cid}, bytes as {"/": {"bytes": base64}}.
func toDagJSON(v any) any {
	switch v := v.(type) {
	case cid.Cid:
		return map[string]any{"/": v.String()}
	case []byte:
		return map[string]any{"/": map[string]any{"bytes": base64.RawStdEncoding.EncodeToString(v)}}
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = toDagJSON(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = toDagJSON(e)
		}
		return out
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprint(v)
		}
	}
	return v
}

func modGraph(s *registry.DirStore, args []string, out io.Writer) error {
	if len(args) != 1 {
		return usagef("graph needs exactly one REF")
	}
	c, err := registry.ResolveRef(s, args[0])
	if err != nil {
		return err
	}
	order, err := registry.Graph(s, c)
	if err != nil {
		return err
	}
	l := merkle.NewLoader(s)
	for _, m := range order {
		imps, err := l.ModuleImports(m)
		if err != nil {
			return err
		}
		fmt.Fprint(out, m)
		if len(imps) > 0 {
			fmt.Fprint(out, " ->")
			for _, i := range imps {
				fmt.Fprint(out, " ", i)
			}
		}
		fmt.Fprintln(out)
	}
	return nil
}

func modModules(s *registry.DirStore, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("modules", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	packFile := fs.String("pack", "", "read modules from this module pack instead of the store")
	if err := fs.Parse(args); err != nil {
		return usagef("modules: %v", err)
	}
	if !jit.Supported() {
		return errors.New("the JIT runs on linux/amd64 only")
	}
	var src registry.Store = s
	var roots []cid.Cid
	if *packFile != "" {
		data, err := os.ReadFile(*packFile)
		if err != nil {
			return err
		}
		p, err := registry.OpenPack(data)
		if err != nil {
			return err
		}
		src, roots = p, p.Roots
	}
	if fs.NArg() > 0 {
		roots = nil
		for _, ref := range fs.Args() {
			c, err := registry.ResolveRef(src, ref)
			if err != nil {
				return err
			}
			roots = append(roots, c)
		}
	} else if *packFile == "" {
		all, err := s.List()
		if err != nil {
			return err
		}
		l := merkle.NewLoader(s)
		for _, c := range all {
			if k, err := l.Kind(c); err == nil && k == merkle.KindModule {
				roots = append(roots, c)
			}
		}
	}
	if len(roots) == 0 {
		return errors.New("no modules to load")
	}
	tab := modtable.New(merkle.NewLoader(src))
	var hs []*modtable.Module
	defer func() {
		for _, h := range hs {
			h.Release()
		}
	}()
	for _, c := range roots {
		if _, err := registry.Graph(src, c); err != nil {
			return err
		}
		h, err := tab.Load(c)
		if err != nil {
			return err
		}
		hs = append(hs, h)
	}
	tab.Print(out)
	return nil
}

func modPack(s *registry.DirStore, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("pack", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := fs.String("o", "", "output file")
	if err := fs.Parse(args); err != nil {
		return usagef("pack: %v", err)
	}
	if *o == "" {
		return usagef("pack needs -o FILE")
	}
	var roots []cid.Cid
	if fs.NArg() == 0 {
		all, err := s.List()
		if err != nil {
			return err
		}
		l := merkle.NewLoader(s)
		for _, c := range all {
			if k, err := l.Kind(c); err == nil && k == merkle.KindModule {
				roots = append(roots, c)
			}
		}
		if len(roots) == 0 {
			return fmt.Errorf("the store %s holds no modules", s.Dir)
		}
	}
	for _, ref := range fs.Args() {
		c, err := registry.ResolveRef(s, ref)
		if err != nil {
			return err
		}
		roots = append(roots, c)
	}
	for _, r := range roots {
		if _, err := registry.Graph(s, r); err != nil {
			return err
		}
	}
	blocks, err := registry.Closure(s, roots...)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := registry.WritePack(&buf, s, blocks, roots); err != nil {
		return err
	}
	if _, err := registry.OpenPack(buf.Bytes()); err != nil { // never ship a pack the kernel would reject
		return err
	}
	if err := os.WriteFile(*o, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %d modules, %d blocks, %d bytes\n", *o, len(roots), len(blocks), buf.Len())
	return nil
}

func modVerify(s *registry.DirStore, args []string, out io.Writer) error {
	if len(args) != 0 {
		return usagef("verify takes no arguments")
	}
	all, err := s.List()
	if err != nil {
		return err
	}
	bad := 0
	for _, c := range all {
		data, err := s.Get(c)
		if err == nil && c.Type() == cid.DagCBOR {
			if _, derr := dagcbor.Decode(data); derr != nil {
				err = fmt.Errorf("malformed dag-cbor: %v", derr)
			}
		}
		if err != nil {
			bad++
			fmt.Fprintf(out, "CORRUPT %s: %v\n", c, err)
		}
	}
	// Files that are not named by a canonical CID are not blocks; say so.
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		return err
	}
	var stray []string
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if c, err := cid.Decode(e.Name()); err != nil || c.String() != e.Name() {
			stray = append(stray, e.Name())
		}
	}
	sort.Strings(stray)
	for _, n := range stray {
		fmt.Fprintf(out, "STRAY %s: not a block file name\n", n)
	}
	fmt.Fprintf(out, "%d blocks, %d corrupt, %d stray files\n", len(all), bad, len(stray))
	if bad > 0 {
		return fmt.Errorf("%d corrupt blocks in %s", bad, s.Dir)
	}
	return nil
}

func modRun(s *registry.DirStore, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fuel := fs.Int64("fuel", 10_000_000, "fuel budget (calls + loop back-edges)")
	useJIT := fs.Bool("jit", false, "compile with the x86-64 JIT instead of interpreting")
	if err := fs.Parse(args); err != nil {
		return usagef("run: %v", err)
	}
	if fs.NArg() < 2 {
		return usagef("run needs REF FUNC [ARGS...]")
	}
	if *useJIT && !jit.Supported() {
		return errors.New("-jit: the JIT runs only on linux/amd64")
	}
	c, err := registry.ResolveRef(s, fs.Arg(0))
	if err != nil {
		return err
	}
	if _, err := registry.Graph(s, c); err != nil {
		return err
	}
	m, err := merkle.NewLoader(s).Module(c)
	if err != nil {
		return err
	}
	name := fs.Arg(1)
	f := m.Exports[name]
	if f == nil {
		var names []string
		for n := range m.Exports {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("module %s has no exported function %q (exports: %s)", c, name, strings.Join(names, ", "))
	}
	raw := fs.Args()[2:]
	if len(raw) != len(f.Params) {
		return fmt.Errorf("%s takes %d arguments (%s), got %d", name, len(f.Params), sig(f), len(raw))
	}
	vals := make([]interp.Value, len(raw))
	for i, a := range raw {
		if vals[i], err = parseValue(a, f.Params[i]); err != nil {
			return fmt.Errorf("argument %d (%s): %v", i+1, f.Params[i], err)
		}
	}
	var v interp.Value
	if *useJIT {
		p, cerr := jit.CompileAndLoad(f)
		if cerr != nil {
			return cerr
		}
		defer p.Close()
		mach := jit.New(*fuel)
		defer mach.Close()
		v, err = mach.Call(p, f, vals)
	} else {
		v, err = interp.New(*fuel).Call(f, vals)
	}
	if err != nil {
		return err
	}
	if f.Result.Kind != ir.Void {
		fmt.Fprintln(out, interp.Format(v, f.Result))
	}
	return nil
}

func sig(f *ir.Func) string {
	var ps []string
	for _, p := range f.Params {
		ps = append(ps, p.String())
	}
	s := "func(" + strings.Join(ps, ", ") + ")"
	if f.Result.Kind != ir.Void {
		s += " " + f.Result.String()
	}
	return s
}

// parseValue parses a command-line argument as a value of type t.
func parseValue(s string, t *ir.Type) (interp.Value, error) {
	s = strings.TrimSpace(s)
	switch t.Kind {
	case ir.Int64:
		n, err := strconv.ParseInt(s, 0, 64)
		return uint64(n), numErr(err)
	case ir.Uint64:
		n, err := strconv.ParseUint(s, 0, 64)
		return n, numErr(err)
	case ir.Byte:
		n, err := strconv.ParseUint(s, 0, 8)
		return n, numErr(err)
	case ir.Float64:
		f, err := strconv.ParseFloat(s, 64)
		return math.Float64bits(f), numErr(err)
	case ir.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", s)
		}
		return interp.Bool(b), nil
	case ir.Array, ir.Slice:
		elems, err := splitList(s)
		if err != nil {
			return nil, err
		}
		if t.Kind == ir.Array && int64(len(elems)) != t.Len {
			return nil, fmt.Errorf("%d elements for %s", len(elems), t)
		}
		vals := make([]interp.Value, len(elems))
		for i, e := range elems {
			if vals[i], err = parseValue(e, t.Elem); err != nil {
				return nil, fmt.Errorf("element %d: %v", i, err)
			}
		}
		if t.Kind == ir.Array {
			return vals, nil
		}
		sl := interp.Slice{Elems: make([]uint64, len(vals))}
		for i, v := range vals {
			sl.Elems[i] = v.(uint64)
		}
		return sl, nil
	}
	return nil, fmt.Errorf("cannot pass a %s", t)
}

func numErr(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return fmt.Errorf("%q: %v", ne.Num, ne.Err)
	}
	return err
}

// splitList splits "[a, b, [c d]]" into its top-level elements.
func splitList(s string) ([]string, error) {
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return nil, fmt.Errorf("%q: expected a list like [1,2,3]", s)
	}
	s = s[1 : len(s)-1]
	var out []string
	depth, start := 0, -1
	flush := func(i int) {
		if start >= 0 {
			out = append(out, s[start:i])
			start = -1
		}
	}
	for i, r := range s {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced ']'")
			}
		case depth == 0 && (r == ',' || r == ' ' || r == '\t'):
			flush(i)
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced '['")
	}
	flush(len(s))
	return out, nil
}
