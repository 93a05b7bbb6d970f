package modtable_test

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/lang/merkle"
	"github.com/velocityos/velocity/lang/modtable"
	"github.com/velocityos/velocity/registry"
)

const libSrc = `module lib

func square(x int64) int64 { return x * x }

// SumSquares is 1*1 + ... + n*n.
func SumSquares(n int64) int64 {
	var s int64
	for i := int64(1); i <= n; i++ {
		s += square(i)
	}
	return s
}

// Get indexes xs (bounds-checked).
func Get(xs []int64, i int64) int64 { return xs[i] }
`

// importer k: imports lib and adds k, so every importer is a distinct module.
func importerSrc(lib cid.Cid, k int) string {
	return fmt.Sprintf(`module user%d

import l %q

func F(n int64) int64 { return l.SumSquares(n) + %d }

func Bad(n int64) int64 {
	var xs []int64 = make([]int64, 2)
	return l.Get(xs, n)
}
`, k, lib.String(), k)
}

type fixture struct {
	store     *registry.MemStore
	lib       cid.Cid
	importers []cid.Cid
}

func newFixture(t testing.TB, k int) *fixture {
	t.Helper()
	if !jit.Supported() {
		t.Skip("the JIT runs on linux/amd64 only")
	}
	s := registry.NewMemStore()
	lib, _, err := registry.AddSource(s, "lib.vel", []byte(libSrc))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: s, lib: lib}
	for i := 0; i < k; i++ {
		c, _, err := registry.AddSource(s, fmt.Sprintf("user%d.vel", i), []byte(importerSrc(lib, i)))
		if err != nil {
			t.Fatal(err)
		}
		f.importers = append(f.importers, c)
	}
	return f
}

func (f *fixture) table() *modtable.Table { return modtable.New(merkle.NewLoader(f.store)) }

// execMappings counts the executable mappings of this process that
// contain addr (Linux /proc/self/maps).
func execMappings(t *testing.T, addr uint64) (n int, found bool) {
	t.Helper()
	fh, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		a, _ := strconv.ParseUint(lo, 16, 64)
		b, _ := strconv.ParseUint(hi, 16, 64)
		if addr >= a && addr < b {
			found = true
			if strings.Contains(fields[1], "x") {
				n++
			}
			if strings.Contains(fields[1], "w") {
				t.Errorf("module code at %#x is mapped writable: %s", addr, sc.Text())
			}
		}
	}
	return n, found
}

func TestSharedByKImporters(t *testing.T) {
	const K = 100
	f := newFixture(t, K)
	tab := f.table()
	mach := jit.New(1 << 20)
	defer mach.Close()
	var hs []*modtable.Module
	for i, c := range f.importers {
		h, err := tab.Load(c)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
		v, err := h.Call(mach, "F", uint64(10))
		if err != nil {
			t.Fatal(err)
		}
		if want := uint64(385 + i); v != want {
			t.Fatalf("importer %d: F(10) = %v, want %d", i, v, want)
		}
	}
	lib, ok := tab.Lookup(f.lib)
	if !ok {
		t.Fatal("lib not in the table")
	}
	if lib.Refs != K || len(lib.Importers) != K || lib.Handles != 0 {
		t.Fatalf("lib: refs %d, importers %d, handles %d; want %d, %d, 0", lib.Refs, len(lib.Importers), lib.Handles, K, K)
	}
	st := tab.Stats()
	if st.Compiles != K+1 || st.Modules != K+1 {
		t.Fatalf("compiled %d modules, %d loaded; want %d (lib once)", st.Compiles, st.Modules, K+1)
	}
	if st.SavedPages != (K-1)*lib.Pages {
		t.Fatalf("saved %d pages, want %d", st.SavedPages, (K-1)*lib.Pages)
	}
	// Every importer's call table points into the one mapping of lib.
	if n, found := execMappings(t, lib.Addr); !found || n != 1 {
		t.Fatalf("lib at %#x: %d executable mappings (found %v)", lib.Addr, n, found)
	}
	// A handle on lib itself shares the same mapping.
	h, err := tab.Load(f.lib)
	if err != nil {
		t.Fatal(err)
	}
	if h.Addr() != lib.Addr {
		t.Fatalf("lib loaded again at %#x, first at %#x", h.Addr(), lib.Addr)
	}
	if e, _ := tab.Lookup(f.lib); e.Refs != K+1 {
		t.Fatalf("lib refs %d after a direct load, want %d", e.Refs, K+1)
	}
	if st := tab.Stats(); st.Compiles != K+1 {
		t.Fatalf("direct load of lib compiled it again (%d compiles)", st.Compiles)
	}
	h.Release()
	var b strings.Builder
	tab.Print(&b)
	if !strings.Contains(b.String(), fmt.Sprintf("%d pages saved by sharing", (K-1)*lib.Pages)) {
		t.Fatalf("table print:\n%s", b.String())
	}
	t.Logf("K=%d: lib %d bytes, %d page(s) at %#x, %d pages saved; table state ~%d bytes", K, lib.CodeBytes, lib.Pages, lib.Addr, st.SavedPages, st.StateBytes)
	for _, h := range hs {
		h.Release()
	}
	if st := tab.Stats(); st.Modules != 0 || st.Unloads != K+1 {
		t.Fatalf("after releasing everything: %+v", st)
	}
}

func TestUnloadOrder(t *testing.T) {
	f := newFixture(t, 3)
	tab := f.table()
	a, err := tab.Load(f.importers[0])
	if err != nil {
		t.Fatal(err)
	}
	b, err := tab.Load(f.importers[1])
	if err != nil {
		t.Fatal(err)
	}
	lib, _ := tab.Lookup(f.lib)
	addr := lib.Addr
	aAddr := a.Addr()
	if lib.Refs != 2 {
		t.Fatalf("lib refs %d, want 2", lib.Refs)
	}
	// Releasing an importer unmaps it but not lib.
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(); err != modtable.ErrReleased {
		t.Fatalf("second release: %v", err)
	}
	if _, ok := tab.Lookup(f.importers[0]); ok {
		t.Fatal("released importer still loaded")
	}
	// Unmapped, or (in the JIT's code arena) reserved again inaccessible:
	// either way no longer executable.
	if n, _ := execMappings(t, aAddr); n != 0 {
		t.Fatalf("released importer still executable at %#x", aAddr)
	}
	if e, ok := tab.Lookup(f.lib); !ok || e.Refs != 1 || e.Addr != addr {
		t.Fatalf("lib after one importer left: %+v %v", e, ok)
	}
	if n, _ := execMappings(t, addr); n != 1 {
		t.Fatal("lib unmapped while still imported")
	}
	mach := jit.New(1 << 20)
	defer mach.Close()
	if v, err := b.Call(mach, "F", uint64(3)); err != nil || v != uint64(15) {
		t.Fatalf("F(3) after the other importer left = %v, %v", v, err)
	}
	// A trap inside lib names lib's function even though the call came
	// from another blob.
	if _, err := b.Call(mach, "Bad", uint64(5)); err == nil || !strings.Contains(err.Error(), "index out of range [5] with length 2") {
		t.Fatalf("Bad(5): %v", err)
	} else if re, ok := err.(*interp.RuntimeError); !ok || re.Func == "" {
		t.Fatalf("trap without a function name: %#v", err)
	}
	// The last importer going unmaps lib (refcount zero).
	b.Release()
	if _, ok := tab.Lookup(f.lib); ok {
		t.Fatal("lib still loaded with no references")
	}
	if n, _ := execMappings(t, addr); n != 0 {
		t.Fatalf("lib still executable at %#x after its last importer left", addr)
	}
	if st := tab.Stats(); st.Modules != 0 || st.Pages != 0 || st.Unloads != 3 {
		t.Fatalf("stats after unloading: %+v", st)
	}
	// Loading again maps a fresh copy.
	c, err := tab.Load(f.importers[2])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if v, err := c.Call(mach, "F", uint64(2)); err != nil || v != uint64(7) {
		t.Fatalf("F(2) after reload = %v, %v", v, err)
	}
}

func TestConcurrentLoadsLoadOnce(t *testing.T) {
	const G = 16
	f := newFixture(t, 4)
	tab := f.table()
	var wg sync.WaitGroup
	hs := make([]*modtable.Module, G)
	errs := make([]error, G)
	start := make(chan struct{})
	for g := 0; g < G; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			<-start
			hs[g], errs[g] = tab.Load(f.importers[g%len(f.importers)])
			if errs[g] != nil {
				return
			}
			mach := jit.New(1 << 20)
			defer mach.Close()
			v, err := hs[g].Call(mach, "F", uint64(4))
			if err == nil && v != uint64(30+g%len(f.importers)) {
				err = fmt.Errorf("F(4) = %v", v)
			}
			errs[g] = err
		}(g)
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := tab.Stats()
	if st.Compiles != 5 || st.Modules != 5 {
		t.Fatalf("%d goroutines loading 4 importers of one lib: %d compiles, %d modules; want 5, 5", G, st.Compiles, st.Modules)
	}
	lib, _ := tab.Lookup(f.lib)
	if lib.Refs != 4 {
		t.Fatalf("lib refs %d, want 4", lib.Refs)
	}
	for _, c := range f.importers {
		if e, _ := tab.Lookup(c); e.Handles != G/4 {
			t.Fatalf("importer %s: %d handles, want %d", c, e.Handles, G/4)
		}
	}
	var wg2 sync.WaitGroup
	for _, h := range hs {
		wg2.Add(1)
		go func(h *modtable.Module) { defer wg2.Done(); h.Release() }(h)
	}
	wg2.Wait()
	if st := tab.Stats(); st.Modules != 0 || st.Unloads != 5 {
		t.Fatalf("after concurrent releases: %+v", st)
	}
}

func TestLoadErrorLeavesNothing(t *testing.T) {
	f := newFixture(t, 1)
	tab := f.table()
	missing, _ := cid.Decode("bafyreig2mw4ipujebxo642gvup2lqtvjcpcwpfsu4t4qcieppxdw6alo3i")
	if _, err := tab.Load(missing); err == nil {
		t.Fatal("loaded a missing module")
	}
	if st := tab.Stats(); st.Modules != 0 {
		t.Fatalf("failed load left %d modules", st.Modules)
	}
}

// BenchmarkExtraImporter measures what one more importer of an
// already-loaded module costs: compile+map of the importer's own code
// only (lib is not compiled again) and the table's heap growth.
func BenchmarkExtraImporter(b *testing.B) {
	f := newFixture(b, b.N+1)
	tab := f.table()
	first, err := tab.Load(f.importers[0])
	if err != nil {
		b.Fatal(err)
	}
	defer first.Release()
	lib, _ := tab.Lookup(f.lib)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	hs := make([]*modtable.Module, 0, b.N)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		h, err := tab.Load(f.importers[i])
		if err != nil {
			b.Fatal(err)
		}
		hs = append(hs, h)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := tab.Stats()
	if st.Compiles != uint64(b.N)+2 {
		b.Errorf("lib compiled again: %d compiles for %d importers", st.Compiles, b.N+1)
	}
	if e, _ := tab.Lookup(f.lib); e.Pages != lib.Pages || e.Addr != lib.Addr {
		b.Fatal("lib remapped")
	}
	if modtable.ImporterStateBytes >= 1024 {
		b.Fatalf("%d bytes of table state per importer, goal < 1 KiB", modtable.ImporterStateBytes)
	}
	// New copies of lib's code the extra importers caused (compiles
	// beyond one per importer; lib's mapping is checked unchanged above).
	b.ReportMetric(float64(st.Compiles-2-uint64(b.N))/float64(b.N), "new-lib-copies/importer")
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-B/importer")
	b.ReportMetric(float64(modtable.ImporterStateBytes), "lib-state-B/importer")
	for _, h := range hs {
		h.Release()
	}
}
