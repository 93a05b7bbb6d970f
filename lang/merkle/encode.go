// Package merkle gives every function and module a content identifier. A
// function's canonical encoding (DAG-CBOR) covers its signature, its local
// slot types and its body, with locals as slot indices (numbered in order of
// declaration) and callees as their CIDs, so the CIDs form a Merkle DAG.
// Names, comments and layout are metadata and never reach a CID.
//
// Mutually recursive functions (a strongly connected component of the call
// graph, or one self-recursive function) are hashed together as a "group"
// block in which calls inside the group are member indices; each member then
// gets its own small block {group, index}, and that block's CID is the
// function's CID.
package merkle

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/velocityos/velocity/lang/dagcbor"
	"github.com/velocityos/velocity/lang/ir"
)

// Format is the encoding version written into every block.
const Format = "velocity/1"

// Block kinds.
const (
	KindFunc   = "func"
	KindGroup  = "group"
	KindMember = "member"
	KindModule = "module"
)

// Expression and statement tags in the encoding.
const (
	tConst     = 1
	tZero      = 2
	tLocal     = 3
	tUnary     = 4
	tBinary    = 5
	tConvert   = 6
	tCall      = 7
	tRecCall   = 8
	tIndex     = 9
	tSliceOf   = 10
	tLen       = 11
	tMake      = 12
	tComposite = 13

	tAssign   = 20
	tEval     = 21
	tIf       = 22
	tLoop     = 23
	tBreak    = 24
	tContinue = 25
	tReturn   = 26
)

// Prefix is how CIDs are made: CIDv1, dag-cbor, sha2-256.
var Prefix = cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: mh.SHA2_256, MhLength: -1}

// Block is an encoded block and its CID.
type Block struct {
	CID  cid.Cid
	Data []byte
}

// Sum returns the CID of data.
func Sum(data []byte) (cid.Cid, error) { return Prefix.Sum(data) }

func makeBlock(v any) (Block, error) {
	data, err := dagcbor.Encode(v)
	if err != nil {
		return Block{}, err
	}
	c, err := Sum(data)
	if err != nil {
		return Block{}, err
	}
	return Block{CID: c, Data: data}, nil
}

// HashedModule is a module with its identity computed.
type HashedModule struct {
	CID    cid.Cid
	Blocks []Block // every block of the module (functions, groups, members, the module block), deduplicated
}

// HashModule computes the CID of every function in m (setting Func.CID) and
// of the module, and returns all blocks. Calls to functions outside m must
// target functions whose CID is already set (imported functions).
func HashModule(m *ir.Module) (*HashedModule, error) {
	index := map[*ir.Func]int{}
	for i, f := range m.Funcs {
		index[f] = i
	}
	out := &HashedModule{}
	seen := map[string]bool{}
	add := func(b Block) {
		if !seen[b.CID.KeyString()] {
			seen[b.CID.KeyString()] = true
			out.Blocks = append(out.Blocks, b)
		}
	}
	for _, scc := range components(m.Funcs, index) {
		if err := hashComponent(scc, add); err != nil {
			return nil, err
		}
	}
	mod, err := moduleBlock(m)
	if err != nil {
		return nil, err
	}
	add(mod)
	out.CID = mod.CID
	return out, nil
}

func moduleBlock(m *ir.Module) (Block, error) {
	exports := map[string]any{}
	var funcs, imports []cid.Cid
	for _, f := range m.Funcs {
		if f.Exported {
			exports[f.Name] = f.CID
		}
		funcs = append(funcs, f.CID)
	}
	for _, im := range m.Imports {
		imports = append(imports, im.CID)
	}
	return makeBlock(map[string]any{
		"format":  Format,
		"kind":    KindModule,
		"exports": exports,
		"funcs":   sortedLinks(funcs),
		"imports": sortedLinks(imports),
	})
}

// sortedLinks sorts CIDs by their binary form and removes duplicates.
func sortedLinks(cs []cid.Cid) []any {
	sort.Slice(cs, func(i, j int) bool { return bytes.Compare(cs[i].Bytes(), cs[j].Bytes()) < 0 })
	var out []any
	for i, c := range cs {
		if i > 0 && c.Equals(cs[i-1]) {
			continue
		}
		out = append(out, c)
	}
	if out == nil {
		out = []any{}
	}
	return out
}

// components returns the strongly connected components of the module's
// call graph, callees before callers (Tarjan's algorithm emits them so).
func components(funcs []*ir.Func, index map[*ir.Func]int) [][]*ir.Func {
	n := len(funcs)
	edges := make([][]int, n)
	for i, f := range funcs {
		for _, callee := range ir.Callees(f.Body) {
			if j, ok := index[callee]; ok {
				edges[i] = append(edges[i], j)
			}
		}
	}
	idx := make([]int, n)
	low := make([]int, n)
	on := make([]bool, n)
	for i := range idx {
		idx[i] = -1
	}
	var stack []int
	var out [][]*ir.Func
	counter := 0
	var strong func(v int)
	strong = func(v int) {
		idx[v], low[v] = counter, counter
		counter++
		stack = append(stack, v)
		on[v] = true
		for _, w := range edges[v] {
			if idx[w] < 0 {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if on[w] {
				low[v] = min(low[v], idx[w])
			}
		}
		if low[v] == idx[v] {
			var comp []*ir.Func
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				on[w] = false
				comp = append(comp, funcs[w])
				if w == v {
					break
				}
			}
			// Declaration order inside a component (the tie-break below).
			sort.Slice(comp, func(a, b int) bool { return index[comp[a]] < index[comp[b]] })
			out = append(out, comp)
		}
	}
	for i := range funcs {
		if idx[i] < 0 {
			strong(i)
		}
	}
	return out
}

func selfRecursive(f *ir.Func) bool {
	for _, c := range ir.Callees(f.Body) {
		if c == f {
			return true
		}
	}
	return false
}

func hashComponent(scc []*ir.Func, add func(Block)) error {
	if len(scc) == 1 && !selfRecursive(scc[0]) {
		enc, err := encodeFunc(scc[0], nil)
		if err != nil {
			return err
		}
		enc["format"] = Format
		enc["kind"] = KindFunc
		b, err := makeBlock(enc)
		if err != nil {
			return err
		}
		scc[0].CID = b.CID
		add(b)
		return nil
	}
	// Order members by their encoding with every in-group call index
	// hidden (so the order does not depend on names or declaration order),
	// breaking exact ties by declaration order (scc is in that order).
	hidden := map[*ir.Func]int{}
	for _, f := range scc {
		hidden[f] = -1
	}
	keys := make(map[*ir.Func][]byte, len(scc))
	for _, f := range scc {
		enc, err := encodeFunc(f, hidden)
		if err != nil {
			return err
		}
		keys[f], err = dagcbor.Encode(enc)
		if err != nil {
			return err
		}
	}
	sort.SliceStable(scc, func(a, b int) bool { return bytes.Compare(keys[scc[a]], keys[scc[b]]) < 0 })
	members := map[*ir.Func]int{}
	for i, f := range scc {
		members[f] = i
	}
	var funcs []any
	for _, f := range scc {
		enc, err := encodeFunc(f, members)
		if err != nil {
			return err
		}
		funcs = append(funcs, enc)
	}
	group, err := makeBlock(map[string]any{"format": Format, "kind": KindGroup, "funcs": funcs})
	if err != nil {
		return err
	}
	add(group)
	for i, f := range scc {
		b, err := makeBlock(map[string]any{"format": Format, "kind": KindMember, "group": group.CID, "index": int64(i)})
		if err != nil {
			return err
		}
		f.CID = b.CID
		add(b)
	}
	return nil
}

func encType(t *ir.Type) any {
	switch t.Kind {
	case ir.Array:
		return []any{int64(ir.Array), t.Len, encType(t.Elem)}
	case ir.Slice:
		return []any{int64(ir.Slice), encType(t.Elem)}
	}
	return int64(t.Kind)
}

func encTypes(ts []*ir.Type) []any {
	out := []any{}
	for _, t := range ts {
		out = append(out, encType(t))
	}
	return out
}

type encoder struct {
	group map[*ir.Func]int // in-group callees (index -1: hidden)
	err   error
}

// encodeFunc returns the canonical map of f (without format/kind).
func encodeFunc(f *ir.Func, group map[*ir.Func]int) (map[string]any, error) {
	e := &encoder{group: group}
	body := e.stmts(f.Body)
	if e.err != nil {
		return nil, fmt.Errorf("function %s: %w", f.Name, e.err)
	}
	return map[string]any{
		"params": encTypes(f.Params),
		"result": encType(f.Result),
		"locals": encTypes(f.Locals[len(f.Params):]),
		"body":   body,
	}, nil
}

func (e *encoder) stmts(ss []ir.Stmt) []any {
	out := []any{}
	for _, s := range ss {
		out = append(out, e.stmt(s))
	}
	return out
}

func (e *encoder) opt(x ir.Expr) any {
	if x == nil {
		return nil
	}
	return e.expr(x)
}

func (e *encoder) stmt(s ir.Stmt) any {
	switch s := s.(type) {
	case *ir.Assign:
		return []any{int64(tAssign), int64(s.Op), e.expr(s.Dst), e.expr(s.X)}
	case *ir.Eval:
		return []any{int64(tEval), e.expr(s.X)}
	case *ir.If:
		return []any{int64(tIf), e.expr(s.Cond), e.stmts(s.Then), e.stmts(s.Else)}
	case *ir.Loop:
		return []any{int64(tLoop), e.opt(s.Cond), e.stmts(s.Body), e.stmts(s.Post)}
	case *ir.Break:
		return []any{int64(tBreak)}
	case *ir.Continue:
		return []any{int64(tContinue)}
	case *ir.Return:
		if s.X == nil {
			return []any{int64(tReturn)}
		}
		return []any{int64(tReturn), e.expr(s.X)}
	}
	e.err = fmt.Errorf("cannot encode statement %T", s)
	return nil
}

func (e *encoder) exprs(xs []ir.Expr) []any {
	out := []any{}
	for _, x := range xs {
		out = append(out, e.expr(x))
	}
	return out
}

func (e *encoder) expr(x ir.Expr) any {
	switch x := x.(type) {
	case *ir.Const:
		return []any{int64(tConst), encType(x.T), x.Bits}
	case *ir.Zero:
		return []any{int64(tZero), encType(x.T)}
	case *ir.Local:
		return []any{int64(tLocal), int64(x.Slot)}
	case *ir.Unary:
		return []any{int64(tUnary), int64(x.Op), e.expr(x.X)}
	case *ir.Binary:
		return []any{int64(tBinary), int64(x.Op), e.expr(x.X), e.expr(x.Y)}
	case *ir.Convert:
		return []any{int64(tConvert), encType(x.T), e.expr(x.X)}
	case *ir.Call:
		if k, ok := e.group[x.Target]; ok {
			return []any{int64(tRecCall), int64(k), e.exprs(x.Args)}
		}
		if !x.Target.CID.Defined() {
			e.err = fmt.Errorf("call to %s before its CID is known", x.Target.Name)
			return nil
		}
		return []any{int64(tCall), x.Target.CID, e.exprs(x.Args)}
	case *ir.Index:
		return []any{int64(tIndex), e.expr(x.X), e.expr(x.I)}
	case *ir.SliceOf:
		return []any{int64(tSliceOf), e.expr(x.X), e.opt(x.Lo), e.opt(x.Hi)}
	case *ir.Len:
		return []any{int64(tLen), e.expr(x.X)}
	case *ir.Make:
		return []any{int64(tMake), encType(x.T), e.expr(x.N)}
	case *ir.Composite:
		return []any{int64(tComposite), encType(x.T), e.exprs(x.Elems)}
	}
	e.err = fmt.Errorf("cannot encode expression %T", x)
	return nil
}
