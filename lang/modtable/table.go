// Package modtable is the module table: compiled module code keyed by
// module CID and shared by every module that imports it.
//
// Loading a module compiles its own functions once (jit.CompileModule)
// into one blob, mapped read-only and executable (jit.LoadLinked checks
// it with lang/validate first). Calls into imported modules go through
// the blob's call table, which holds the entry addresses of the imported
// modules' blobs, so a module that K other modules import is mapped once,
// at one address, whatever K is. Each entry is reference-counted: one
// reference per loaded importer and one per Module handle returned by
// Load. When the count reaches zero the blob is unmapped (munmap; in the
// Velocity kernel that returns its frames to the frame allocator) and
// the entry drops its references on its own imports.
//
// A Table is safe for concurrent use. Loads are serialised by the table's
// lock, so concurrent loads of one CID compile and map it exactly once.
package modtable

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/ipfs/go-cid"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/lang/merkle"
)

// PageSize is the page size code sizes are rounded to.
const PageSize = 4096

// Source decodes modules by CID; *merkle.Loader is one. The table calls it
// with its lock held, so it need not be safe for concurrent use.
type Source interface {
	Module(c cid.Cid) (*merkle.Module, error)
}

// Table maps module CIDs to loaded, shared code.
type Table struct {
	mu       sync.Mutex
	src      Source
	entries  map[string]*entry
	seq      uint64
	compiles uint64
	unloads  uint64
}

type entry struct {
	cid       cid.Cid
	mod       *merkle.Module
	prog      *jit.Program
	imports   []*entry           // direct imports, each holding one reference from this entry
	importers map[string]cid.Cid // loaded modules that import this one
	handles   int                // Module handles from Load
	seq       uint64             // load order
}

func (e *entry) refs() int { return e.handles + len(e.importers) }

// New returns an empty table that loads modules from src.
func New(src Source) *Table {
	return &Table{src: src, entries: map[string]*entry{}}
}

// ErrReleased is returned by a Module handle used after Release.
var ErrReleased = errors.New("modtable: module handle already released")

// Module is a reference to a loaded module. Release it when done.
type Module struct {
	t        *Table
	e        *entry
	released bool
}

// Load loads module c and, first, everything it imports, sharing code
// already in the table, and returns a handle holding one reference.
func (t *Table) Load(c cid.Cid) (*Module, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.acquire(c, nil)
	if err != nil {
		return nil, err
	}
	e.handles++
	return &Module{t: t, e: e}, nil
}

// acquire returns the entry for c, loading it if needed. A new entry is
// returned with no references; the caller adds one.
func (t *Table) acquire(c cid.Cid, chain []cid.Cid) (*entry, error) {
	if e, ok := t.entries[c.KeyString()]; ok {
		return e, nil
	}
	for _, x := range chain {
		if x.Equals(c) {
			return nil, fmt.Errorf("modtable: import cycle through %s", c)
		}
	}
	chain = append(chain, c)
	mod, err := t.src.Module(c)
	if err != nil {
		return nil, fmt.Errorf("modtable: load %s: %w", c, err)
	}
	e := &entry{cid: c, mod: mod, importers: map[string]cid.Cid{}}
	// Imports first: each gets one reference from e.
	fail := func(err error) (*entry, error) {
		for _, ie := range e.imports {
			delete(ie.importers, c.KeyString())
			t.maybeUnload(ie)
		}
		return nil, err
	}
	for _, ic := range mod.Imports {
		ie, err := t.acquire(ic, chain)
		if err != nil {
			return fail(err)
		}
		if _, dup := ie.importers[c.KeyString()]; dup {
			continue
		}
		ie.importers[c.KeyString()] = c
		e.imports = append(e.imports, ie)
	}
	code, err := jit.CompileModule(mod.Funcs)
	if err != nil {
		return fail(fmt.Errorf("modtable: compile %s: %w", c, err))
	}
	t.compiles++
	// Direct imports first, then theirs: externs resolve to the module
	// that compiled the function.
	var progs []*jit.Program
	seen := map[*entry]bool{}
	var walk func(x *entry)
	walk = func(x *entry) {
		for _, ie := range x.imports {
			if !seen[ie] {
				seen[ie] = true
				progs = append(progs, ie.prog)
			}
		}
		for _, ie := range x.imports {
			walk(ie)
		}
	}
	walk(e)
	if e.prog, err = jit.LoadLinked(code, progs); err != nil {
		return fail(fmt.Errorf("modtable: load %s: %w", c, err))
	}
	t.seq++
	e.seq = t.seq
	t.entries[c.KeyString()] = e
	return e, nil
}

// maybeUnload unmaps e if nothing references it, then drops its
// references on its imports.
func (t *Table) maybeUnload(e *entry) {
	if e.refs() > 0 {
		return
	}
	if e.prog != nil {
		e.prog.Close()
		t.unloads++
	}
	delete(t.entries, e.cid.KeyString())
	for _, ie := range e.imports {
		delete(ie.importers, e.cid.KeyString())
		t.maybeUnload(ie)
	}
	e.imports = nil
}

// Release drops the handle's reference. The module (and imports nobody
// else holds) is unmapped when its count reaches zero.
func (m *Module) Release() error {
	m.t.mu.Lock()
	defer m.t.mu.Unlock()
	if m.released {
		return ErrReleased
	}
	m.released = true
	m.e.handles--
	m.t.maybeUnload(m.e)
	return nil
}

// CID is the module's CID.
func (m *Module) CID() cid.Cid { return m.e.cid }

// Exports lists the module's exported function names, sorted.
func (m *Module) Exports() []string {
	names := make([]string, 0, len(m.e.mod.Exports))
	for n := range m.e.mod.Exports {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Addr is the address the module's code is mapped at.
func (m *Module) Addr() uint64 {
	m.t.mu.Lock()
	defer m.t.mu.Unlock()
	if m.released {
		return 0
	}
	return m.e.prog.Base()
}

// Call runs the exported function name on mach (JIT code; see jit.Machine).
func (m *Module) Call(mach *jit.Machine, name string, args ...interp.Value) (interp.Value, error) {
	m.t.mu.Lock()
	if m.released {
		m.t.mu.Unlock()
		return nil, ErrReleased
	}
	prog, f := m.e.prog, m.e.mod.Exports[name]
	m.t.mu.Unlock()
	if f == nil {
		return nil, fmt.Errorf("module %s has no exported function %s", m.e.cid, name)
	}
	// The handle's reference keeps prog mapped: Release must not race
	// with a call on the same handle.
	return mach.Call(prog, f, args)
}

// Entry describes one loaded module.
type Entry struct {
	CID       cid.Cid
	Exports   []string  // exported function names
	Funcs     int       // functions compiled into the module's blob
	CodeBytes int       // size of the blob (code, constants, call table)
	Pages     int       // pages mapped for it (once, however many importers)
	Addr      uint64    // where it is mapped
	Refs      int       // references: Handles + len(Importers)
	Handles   int       // Module handles from Load
	Importers []cid.Cid // loaded modules importing it, sorted
}

// SavedPages is what sharing saves for this entry: without it each
// reference would map its own copy.
func (e Entry) SavedPages() int {
	if e.Refs <= 1 {
		return 0
	}
	return (e.Refs - 1) * e.Pages
}

// Entries lists the loaded modules in load order (imports before the
// modules that import them).
func (t *Table) Entries() []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	es := make([]*entry, 0, len(t.entries))
	for _, e := range t.entries {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].seq < es[j].seq })
	out := make([]Entry, len(es))
	for i, e := range es {
		x := Entry{
			CID:       e.cid,
			Funcs:     len(e.prog.Code().Funcs),
			CodeBytes: e.prog.CodeSize(),
			Pages:     e.prog.MappedBytes() / PageSize,
			Addr:      e.prog.Base(),
			Refs:      e.refs(),
			Handles:   e.handles,
		}
		for n := range e.mod.Exports {
			x.Exports = append(x.Exports, n)
		}
		sort.Strings(x.Exports)
		for _, c := range e.importers {
			x.Importers = append(x.Importers, c)
		}
		sort.Slice(x.Importers, func(i, j int) bool { return x.Importers[i].String() < x.Importers[j].String() })
		out[i] = x
	}
	return out
}

// Lookup returns the entry for c, if loaded.
func (t *Table) Lookup(c cid.Cid) (Entry, bool) {
	for _, e := range t.Entries() {
		if e.CID.Equals(c) {
			return e, true
		}
	}
	return Entry{}, false
}

// Stats are the table's totals.
type Stats struct {
	Modules    int    // loaded modules
	Pages      int    // code pages mapped
	Refs       int    // references held
	SavedPages int    // pages sharing saved (see Entry.SavedPages)
	Compiles   uint64 // modules compiled and mapped since New
	Unloads    uint64 // modules unmapped since New
	StateBytes int    // approximate table bookkeeping (not code)
}

// Stats returns the totals.
func (t *Table) Stats() Stats {
	es := t.Entries()
	t.mu.Lock()
	s := Stats{Modules: len(es), Compiles: t.compiles, Unloads: t.unloads}
	t.mu.Unlock()
	for _, e := range es {
		s.Pages += e.Pages
		s.Refs += e.Refs
		s.SavedPages += e.SavedPages()
		s.StateBytes += int(unsafe.Sizeof(entry{})) + len(e.Importers)*ImporterStateBytes
	}
	return s
}

// ImporterStateBytes approximates the table state one more importer of a
// loaded module costs: its key in the importers map (a binary CIDv1 with
// a sha2-256 multihash is 36 bytes), the cid.Cid value and map overhead.
// BenchmarkExtraImporter measures the real heap growth.
const ImporterStateBytes = 36 + int(unsafe.Sizeof(cid.Cid{})) + int(unsafe.Sizeof("")) + 16

// Short abbreviates a CID for tables: the last 12 characters.
func Short(c cid.Cid) string {
	s := c.String()
	if len(s) > 14 {
		return "…" + s[len(s)-12:]
	}
	return s
}

// Print writes the table: one line per module and a total line.
func (t *Table) Print(w io.Writer) {
	es := t.Entries()
	fmt.Fprintf(w, "%-13s %-18s %6s %5s %4s  %s\n", "MODULE", "ADDR", "CODE", "PAGES", "REFS", "IMPORTERS")
	for _, e := range es {
		imps := make([]string, len(e.Importers))
		for i, c := range e.Importers {
			imps[i] = Short(c)
		}
		if e.Handles > 0 {
			imps = append(imps, fmt.Sprintf("+%d handle(s)", e.Handles))
		}
		fmt.Fprintf(w, "%-13s %#-18x %6d %5d %4d  %s\n", Short(e.CID), e.Addr, e.CodeBytes, e.Pages, e.Refs, strings.Join(imps, " "))
	}
	s := t.Stats()
	fmt.Fprintf(w, "total: %d modules, %d code pages mapped, %d references, %d pages saved by sharing\n", s.Modules, s.Pages, s.Refs, s.SavedPages)
}
