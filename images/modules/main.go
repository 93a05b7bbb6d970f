// Command modules loads a module pack into the module table, runs the
// modules' functions with the JIT and prints the table, showing the code
// pages that modules importing the same module share. It is the image
// `make image APP=./images/modules` boots (the Makefile puts the pack built
// from examples/modules into the image's file system); it runs on a Linux
// host too.
//
// Usage: modules [-dedup N] [PACK]
//
// PACK defaults to $VELOCITY_MODPACK, else (on Velocity) the first file
// named modules.pack in the image's file system, else build/modules.pack.
//
// Besides the human-readable table it prints lines for tests:
//
//	MODCALL <cid> <func>(<args>) = <result>
//	MODENTRY cid=<cid> refs=<n> importers=<n> pages=<n> bytes=<n> addr=<hex>
//	MODTABLE modules=<n> pages=<n> refs=<n> saved=<n> compiles=<n>
//	MODDONE modules=<n> unloads=<n>
//	MODDEDUP importers=<n> lib_refs=<n> lib_addrs=<n> code_pages=<n> unshared_pages=<n> freed_pages=<n|n/a>
//
// The dedup check (-dedup N, default 100; 0 skips it) compiles N more
// modules that import the pack's module exporting SumSquares, loads them,
// checks they share its one mapping, then releases them all and reports
// how many pages the kernel's frame allocator got back (its resident-page
// counter): N+1 when the imported module was mapped once, 2N without
// sharing.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/lang/merkle"
	"github.com/velocityos/velocity/lang/modtable"
	"github.com/velocityos/velocity/registry"
)

// calls are run on every loaded module exporting the function.
var calls = []struct {
	name string
	args []interp.Value
}{
	{"SumSquares", []interp.Value{uint64(10)}},
	{"Fact", []interp.Value{uint64(10)}},
	{"Fib", []interp.Value{uint64(50)}},
	{"SquareMean", []interp.Value{uint64(10)}},
	{"Mean", []interp.Value{interp.Slice{Elems: []uint64{3, 5, 7, 9}}}},
	{"Mix", []interp.Value{uint64(1000)}},
	{"Choose", []interp.Value{uint64(10), uint64(3)}},
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Println("modules:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

var dedup = flag.Int("dedup", 100, "importers for the dedup check (0: skip)")

func packPath() (string, error) {
	if flag.NArg() > 0 {
		return flag.Arg(0), nil
	}
	if p := os.Getenv("VELOCITY_MODPACK"); p != "" {
		return p, nil
	}
	if kernel.OnVelocity() {
		// The file system behind the kernel holds files at their host
		// paths; find the pack wherever the build put it.
		found := ""
		filepath.WalkDir("/", func(p string, d fs.DirEntry, err error) error {
			if err == nil && found == "" && !d.IsDir() && d.Name() == "modules.pack" {
				found = p
				return fs.SkipAll
			}
			return nil
		})
		if found == "" {
			return "", errors.New("no modules.pack in the image's file system (build the image with make image, or velocity image -fs PACK)")
		}
		return found, nil
	}
	return filepath.Join("build", "modules.pack"), nil
}

func run() error {
	if !jit.Supported() {
		return errors.New("the JIT needs linux/amd64 or Velocity")
	}
	path, err := packPath()
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	pack, err := registry.OpenPack(data)
	if err != nil {
		return err
	}
	fmt.Printf("modules: pack %s: %d bytes, %d roots\n", path, len(data), len(pack.Roots))

	before, infoErr := kernel.ReadInfo()
	tab := modtable.New(merkle.NewLoader(pack))
	var hs []*modtable.Module
	for _, c := range pack.Roots {
		if _, err := registry.Graph(pack, c); err != nil {
			return err
		}
		h, err := tab.Load(c)
		if err != nil {
			return err
		}
		hs = append(hs, h)
	}
	mach := jit.New(10_000_000)
	defer mach.Close()
	for _, h := range hs {
		exports := map[string]bool{}
		for _, n := range h.Exports() {
			exports[n] = true
		}
		for _, c := range calls {
			if !exports[c.name] {
				continue
			}
			v, err := h.Call(mach, c.name, c.args...)
			if err != nil {
				return fmt.Errorf("%s %s: %w", h.CID(), c.name, err)
			}
			fmt.Printf("MODCALL %s %s(%s) = %s\n", h.CID(), c.name, showArgs(c.args), show(v))
		}
	}

	tab.Print(os.Stdout)
	for _, e := range tab.Entries() {
		fmt.Printf("MODENTRY cid=%s refs=%d importers=%d pages=%d bytes=%d addr=%#x\n", e.CID, e.Refs, len(e.Importers), e.Pages, e.CodeBytes, e.Addr)
	}
	st := tab.Stats()
	fmt.Printf("MODTABLE modules=%d pages=%d refs=%d saved=%d compiles=%d\n", st.Modules, st.Pages, st.Refs, st.SavedPages, st.Compiles)
	if infoErr == nil {
		if after, err := kernel.ReadInfo(); err == nil {
			fmt.Printf("modules: resident user pages %d -> %d (frame allocator; JIT code, stack and arena pages are demand-zero)\n",
				before.Resident/4096, after.Resident/4096)
		}
	}
	for _, h := range hs {
		if err := h.Release(); err != nil {
			return err
		}
	}
	st = tab.Stats()
	fmt.Printf("MODDONE modules=%d unloads=%d\n", st.Modules, st.Unloads)
	if st.Modules != 0 {
		return fmt.Errorf("%d modules still loaded after releasing every handle", st.Modules)
	}
	if *dedup > 0 {
		return dedupCheck(pack, *dedup)
	}
	return nil
}

func dedupCheck(pack *registry.Pack, n int) error {
	s := registry.NewMemStore()
	all, err := pack.List()
	if err != nil {
		return err
	}
	for _, c := range all {
		b, err := pack.Get(c)
		if err != nil {
			return err
		}
		if err := s.Put(c, b); err != nil {
			return err
		}
	}
	l := merkle.NewLoader(s)
	var lib cid.Cid
	for _, c := range pack.Roots {
		if m, err := l.Module(c); err == nil && m.Exports["SumSquares"] != nil {
			lib = c
		}
	}
	if !lib.Defined() {
		return errors.New("dedup: no module in the pack exports SumSquares")
	}
	var users []cid.Cid
	for k := 0; k < n; k++ {
		src := fmt.Sprintf("module user%d\n\nimport a %q\n\nfunc F(n int64) int64 { return a.SumSquares(n) + %d }\n", k, lib.String(), k)
		c, _, err := registry.AddSource(s, fmt.Sprintf("user%d.vel", k), []byte(src))
		if err != nil {
			return err
		}
		users = append(users, c)
	}
	tab := modtable.New(l)
	mach := jit.New(1 << 20)
	defer mach.Close()
	var hs []*modtable.Module
	for k, c := range users {
		h, err := tab.Load(c)
		if err != nil {
			return err
		}
		hs = append(hs, h)
		if v, err := h.Call(mach, "F", uint64(10)); err != nil || v != uint64(385+k) {
			return fmt.Errorf("dedup: user%d F(10) = %v, %v", k, v, err)
		}
	}
	e, ok := tab.Lookup(lib)
	if !ok {
		return errors.New("dedup: the imported module is not in the table")
	}
	addrs := map[uint64]bool{}
	for _, h := range hs {
		addrs[h.Addr()] = true
	}
	libAddrs := 1
	if addrs[e.Addr] {
		libAddrs++ // an importer mapped at the library's address would be a bug
	}
	st := tab.Stats()
	unshared := 0
	for _, x := range tab.Entries() {
		if !x.CID.Equals(lib) {
			unshared += x.Pages + e.Pages // each importer with its own copy of lib
		}
	}
	// A GC cycle starting during the releases would fault in pages of its
	// own (work buffers, newly swept spans) and hide freed ones: finish
	// one now, while the 100 compilations' garbage is what triggers it.
	// And return the free heap to the kernel now (FreeOSMemory: a GC,
	// then a full scavenge), or the background scavenger returns what
	// that GC freed during the releases and counts as freed by them
	// (CI, 2026-12-04: 153 pages freed for 101 released).
	debug.FreeOSMemory()
	before, infoErr := kernel.ReadInfo()
	for _, h := range hs {
		if err := h.Release(); err != nil {
			return err
		}
	}
	freed := "n/a"
	if infoErr == nil {
		if after, err := kernel.ReadInfo(); err == nil {
			freed = fmt.Sprint((int64(before.Resident) - int64(after.Resident)) / 4096)
		}
	}
	fmt.Printf("MODDEDUP importers=%d lib_refs=%d lib_addrs=%d code_pages=%d unshared_pages=%d freed_pages=%s\n",
		n, e.Refs, libAddrs, st.Pages, unshared, freed)
	if e.Refs != n || st.Compiles != uint64(n)+1 || tab.Stats().Modules != 0 {
		return fmt.Errorf("dedup: lib refs %d, %d compiles, %d left loaded", e.Refs, st.Compiles, tab.Stats().Modules)
	}
	return nil
}

func show(v interp.Value) string {
	switch v := v.(type) {
	case uint64:
		return fmt.Sprint(v)
	case interp.Slice:
		return fmt.Sprint(v.Elems)
	}
	return fmt.Sprint(v)
}

func showArgs(args []interp.Value) string {
	s := make([]string, len(args))
	for i, a := range args {
		s[i] = show(a)
	}
	return strings.Join(s, ", ")
}
