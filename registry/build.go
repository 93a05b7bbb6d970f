package registry

import (
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/merkle"
	"github.com/velocityos/velocity/lang/syntax"
	"github.com/velocityos/velocity/lang/types"
)

// AddSource parses and checks a module source (resolving its imports in s),
// stores all of its blocks and returns the module's CID.
func AddSource(s Store, filename string, src []byte) (cid.Cid, *ir.Module, error) {
	f, err := syntax.Parse(filename, src)
	if err != nil {
		return cid.Undef, nil, err
	}
	m, err := types.Check(f, NewImporter(s))
	if err != nil {
		return cid.Undef, nil, err
	}
	h, err := merkle.HashModule(m)
	if err != nil {
		return cid.Undef, nil, err
	}
	for _, b := range h.Blocks {
		if err := s.Put(b.CID, b.Data); err != nil {
			return cid.Undef, nil, err
		}
	}
	return h.CID, m, nil
}

// Run loads module c from s (with its whole import graph) and calls its
// exported function name with args under the given fuel.
func Run(s Store, c cid.Cid, name string, fuel int64, args ...interp.Value) (interp.Value, *ir.Func, error) {
	if _, err := Graph(s, c); err != nil {
		return nil, nil, err
	}
	m, err := merkle.NewLoader(s).Module(c)
	if err != nil {
		return nil, nil, err
	}
	f := m.Exports[name]
	if f == nil {
		return nil, nil, fmt.Errorf("module %s has no exported function %s", c, name)
	}
	v, err := interp.New(fuel).Call(f, args)
	return v, f, err
}
