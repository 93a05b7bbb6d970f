package registry

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/velocityos/velocity/lang/dagcbor"
	"github.com/velocityos/velocity/lang/merkle"
	"github.com/velocityos/velocity/lang/types"
)

// ChainError is an import-graph failure with the chain of imports that led
// to it, root first.
type ChainError struct {
	Chain []cid.Cid
	Err   error
}

func (e *ChainError) Error() string {
	parts := make([]string, len(e.Chain))
	for i, c := range e.Chain {
		parts[i] = c.String()
	}
	return fmt.Sprintf("import chain %s: %v", strings.Join(parts, " -> "), e.Err)
}

func (e *ChainError) Unwrap() error { return e.Err }

// ErrCycle is wrapped by a ChainError for an import cycle.
var ErrCycle = errors.New("import cycle")

// ImportsFunc returns the imports of a module.
type ImportsFunc func(cid.Cid) ([]cid.Cid, error)

// ResolveGraph walks the import graph from root and returns every module
// in a deterministic order: each module after all of its imports (a
// depth-first post-order that visits imports in the order given, which for
// module blocks is sorted by CID). A cycle or a module that cannot be
// loaded is reported as a *ChainError carrying the import chain.
func ResolveGraph(root cid.Cid, imports ImportsFunc) ([]cid.Cid, error) {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var order []cid.Cid
	var chain []cid.Cid
	var visit func(c cid.Cid) error
	visit = func(c cid.Cid) error {
		chain = append(chain, c)
		defer func() { chain = chain[:len(chain)-1] }()
		switch state[c.KeyString()] {
		case active:
			return &ChainError{Chain: append([]cid.Cid(nil), chain...), Err: ErrCycle}
		case done:
			return nil
		}
		state[c.KeyString()] = active
		deps, err := imports(c)
		if err != nil {
			return &ChainError{Chain: append([]cid.Cid(nil), chain...), Err: err}
		}
		for _, d := range deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[c.KeyString()] = done
		order = append(order, c)
		return nil
	}
	if err := visit(root); err != nil {
		return nil, err
	}
	return order, nil
}

// Graph resolves the import graph of module root in store s.
func Graph(s Store, root cid.Cid) ([]cid.Cid, error) {
	l := merkle.NewLoader(s)
	return ResolveGraph(root, l.ModuleImports)
}

// Closure returns every block reachable from roots by links (modules,
// imported modules, functions, groups), sorted. A missing block is an
// error naming the chain of links that needed it.
func Closure(s Store, roots ...cid.Cid) ([]cid.Cid, error) {
	seen := map[string]bool{}
	var out []cid.Cid
	var walk func(c cid.Cid, chain []cid.Cid) error
	walk = func(c cid.Cid, chain []cid.Cid) error {
		if seen[c.KeyString()] {
			return nil
		}
		seen[c.KeyString()] = true
		chain = append(chain, c)
		data, err := s.Get(c)
		if err != nil {
			return &ChainError{Chain: append([]cid.Cid(nil), chain...), Err: err}
		}
		out = append(out, c)
		if c.Type() != cid.DagCBOR {
			return nil
		}
		v, err := dagcbor.Decode(data)
		if err != nil {
			return &ChainError{Chain: append([]cid.Cid(nil), chain...), Err: err}
		}
		for _, l := range dagcbor.Links(v) {
			if err := walk(l, chain); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range roots {
		if err := walk(r, nil); err != nil {
			return nil, err
		}
	}
	sortCIDs(out)
	return out, nil
}

// AmbiguousError lists the modules a hex prefix matched.
type AmbiguousError struct {
	Prefix     string
	Candidates []cid.Cid
}

func (e *AmbiguousError) Error() string {
	parts := make([]string, len(e.Candidates))
	for i, c := range e.Candidates {
		parts[i] = "  " + c.String() + " (digest " + digestHex(c) + ")"
	}
	return fmt.Sprintf("import %q is ambiguous: %d modules match:\n%s", e.Prefix, len(e.Candidates), strings.Join(parts, "\n"))
}

func digestHex(c cid.Cid) string {
	d, err := mh.Decode(c.Hash())
	if err != nil {
		return ""
	}
	return hex.EncodeToString(d.Digest)
}

// MinPrefix is the shortest hex prefix accepted in an import.
const MinPrefix = 4

// ResolveRef resolves an import reference: a CID string, or a hex prefix of
// the sha2-256 digest of exactly one module block in the store.
func ResolveRef(s Store, ref string) (cid.Cid, error) {
	if c, err := cid.Decode(ref); err == nil {
		ok, err := s.Has(c)
		if err != nil {
			return cid.Undef, err
		}
		if !ok {
			return cid.Undef, fmt.Errorf("module %s is not in the store", c)
		}
		return c, nil
	}
	ref = strings.ToLower(strings.TrimSuffix(ref, "..."))
	if len(ref) < MinPrefix || strings.Trim(ref, "0123456789abcdef") != "" {
		return cid.Undef, fmt.Errorf("import %q is neither a CID nor a hex digest prefix of at least %d digits", ref, MinPrefix)
	}
	all, err := s.List()
	if err != nil {
		return cid.Undef, err
	}
	l := merkle.NewLoader(s)
	var matches []cid.Cid
	for _, c := range all {
		if c.Type() != cid.DagCBOR || !strings.HasPrefix(digestHex(c), ref) {
			continue
		}
		if k, err := l.Kind(c); err == nil && k == merkle.KindModule {
			matches = append(matches, c)
		}
	}
	switch len(matches) {
	case 0:
		return cid.Undef, fmt.Errorf("no module in the store has a digest starting with %q", ref)
	case 1:
		return matches[0], nil
	}
	return cid.Undef, &AmbiguousError{Prefix: ref, Candidates: matches}
}

// Importer resolves source imports against a store (for types.Check).
type Importer struct {
	Store  Store
	Loader *merkle.Loader
}

// NewImporter returns an importer over s.
func NewImporter(s Store) *Importer { return &Importer{Store: s, Loader: merkle.NewLoader(s)} }

// Import implements types.Importer.
func (im *Importer) Import(ref string) (*types.Package, error) {
	c, err := ResolveRef(im.Store, ref)
	if err != nil {
		return nil, err
	}
	if _, err := Graph(im.Store, c); err != nil {
		return nil, err
	}
	m, err := im.Loader.Module(c)
	if err != nil {
		return nil, err
	}
	return &types.Package{CID: m.CID, Exports: m.Exports}, nil
}
