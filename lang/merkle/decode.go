package merkle

import (
	"fmt"
	"sort"

	"github.com/ipfs/go-cid"
	"github.com/velocityos/velocity/lang/dagcbor"
	"github.com/velocityos/velocity/lang/ir"
)

// Getter returns the verified bytes of a block.
type Getter interface {
	Get(c cid.Cid) ([]byte, error)
}

// Module is a module loaded from blocks.
type Module struct {
	CID     cid.Cid
	Exports map[string]*ir.Func
	Funcs   []*ir.Func // every function of the module, in CID order
	Imports []cid.Cid
}

// Loader decodes modules and functions from blocks. Every decoded function
// is verified to be well-typed, so the interpreter can run it. Decoded
// functions are cached by CID, so a function shared by many modules is
// decoded once and shared.
type Loader struct {
	Blocks Getter
	funcs  map[string]*ir.Func
	groups map[string][]*ir.Func
	mods   map[string]*Module
	busy   map[string]bool
}

// NewLoader returns a loader reading from g.
func NewLoader(g Getter) *Loader {
	return &Loader{Blocks: g, funcs: map[string]*ir.Func{}, groups: map[string][]*ir.Func{}, mods: map[string]*Module{}, busy: map[string]bool{}}
}

// DecodeError reports a malformed block.
type DecodeError struct {
	CID cid.Cid
	Msg string
}

func (e *DecodeError) Error() string { return fmt.Sprintf("block %s: %s", e.CID, e.Msg) }

func (l *Loader) node(c cid.Cid, kind string) (map[string]any, error) {
	data, err := l.Blocks.Get(c)
	if err != nil {
		return nil, err
	}
	if c.Type() != cid.DagCBOR {
		return nil, &DecodeError{c, "not a dag-cbor block"}
	}
	v, err := dagcbor.Decode(data)
	if err != nil {
		return nil, &DecodeError{c, err.Error()}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &DecodeError{c, "block is not a map"}
	}
	if m["format"] != Format {
		return nil, &DecodeError{c, fmt.Sprintf("format %v, expected %q", m["format"], Format)}
	}
	if kind != "" && m["kind"] != kind {
		return nil, &DecodeError{c, fmt.Sprintf("kind %v, expected %q", m["kind"], kind)}
	}
	return m, nil
}

// Kind returns the kind of block c (func, group, member or module).
func (l *Loader) Kind(c cid.Cid) (string, error) {
	m, err := l.node(c, "")
	if err != nil {
		return "", err
	}
	k, _ := m["kind"].(string)
	return k, nil
}

// ModuleImports returns the CIDs a module block imports, without decoding
// its functions.
func (l *Loader) ModuleImports(c cid.Cid) ([]cid.Cid, error) {
	m, err := l.node(c, KindModule)
	if err != nil {
		return nil, err
	}
	return links(c, m["imports"])
}

func links(c cid.Cid, v any) ([]cid.Cid, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, &DecodeError{c, "expected a list of links"}
	}
	var out []cid.Cid
	for _, e := range list {
		l, ok := e.(cid.Cid)
		if !ok {
			return nil, &DecodeError{c, "expected a link"}
		}
		out = append(out, l)
	}
	return out, nil
}

// Module loads and verifies the module c and every function it reaches.
func (l *Loader) Module(c cid.Cid) (*Module, error) {
	if m, ok := l.mods[c.KeyString()]; ok {
		return m, nil
	}
	n, err := l.node(c, KindModule)
	if err != nil {
		return nil, err
	}
	mod := &Module{CID: c, Exports: map[string]*ir.Func{}}
	if mod.Imports, err = links(c, n["imports"]); err != nil {
		return nil, err
	}
	fl, err := links(c, n["funcs"])
	if err != nil {
		return nil, err
	}
	for _, fc := range fl {
		f, err := l.Func(fc)
		if err != nil {
			return nil, err
		}
		mod.Funcs = append(mod.Funcs, f)
	}
	ex, ok := n["exports"].(map[string]any)
	if !ok {
		return nil, &DecodeError{c, "exports is not a map"}
	}
	names := make([]string, 0, len(ex))
	for name := range ex {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fc, ok := ex[name].(cid.Cid)
		if !ok {
			return nil, &DecodeError{c, "export " + name + " is not a link"}
		}
		f, err := l.Func(fc)
		if err != nil {
			return nil, err
		}
		mod.Exports[name] = f
	}
	l.mods[c.KeyString()] = mod
	return mod, nil
}

// Func loads and verifies the function c (a func or member block).
func (l *Loader) Func(c cid.Cid) (*ir.Func, error) {
	key := c.KeyString()
	if f, ok := l.funcs[key]; ok {
		return f, nil
	}
	if l.busy[key] {
		return nil, &DecodeError{c, "function refers to itself through CIDs"}
	}
	l.busy[key] = true
	defer delete(l.busy, key)
	n, err := l.node(c, "")
	if err != nil {
		return nil, err
	}
	switch n["kind"] {
	case KindFunc:
		f, err := l.decodeFuncs(c, []any{n})
		if err != nil {
			return nil, err
		}
		f[0].CID = c
		f[0].Name = shortName(c)
		l.funcs[key] = f[0]
		return f[0], nil
	case KindMember:
		g, ok := n["group"].(cid.Cid)
		if !ok {
			return nil, &DecodeError{c, "member without group link"}
		}
		i, ok := asInt(n["index"])
		if !ok {
			return nil, &DecodeError{c, "member without index"}
		}
		members, err := l.group(g)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(members)) {
			return nil, &DecodeError{c, fmt.Sprintf("member index %d out of range", i)}
		}
		// The member block must be exactly the canonical one.
		want, err := makeBlock(map[string]any{"format": Format, "kind": KindMember, "group": g, "index": i})
		if err != nil || !want.CID.Equals(c) {
			return nil, &DecodeError{c, "non-canonical member block"}
		}
		f := members[i]
		f.CID = c
		f.Name = shortName(c)
		l.funcs[key] = f
		return f, nil
	}
	return nil, &DecodeError{c, fmt.Sprintf("kind %v is not a function", n["kind"])}
}

func shortName(c cid.Cid) string {
	s := c.String()
	if len(s) > 16 {
		s = "…" + s[len(s)-12:]
	}
	return s
}

func (l *Loader) group(c cid.Cid) ([]*ir.Func, error) {
	if g, ok := l.groups[c.KeyString()]; ok {
		return g, nil
	}
	n, err := l.node(c, KindGroup)
	if err != nil {
		return nil, err
	}
	list, ok := n["funcs"].([]any)
	if !ok || len(list) == 0 {
		return nil, &DecodeError{c, "group without functions"}
	}
	fs, err := l.decodeFuncs(c, list)
	if err != nil {
		return nil, err
	}
	l.groups[c.KeyString()] = fs
	return fs, nil
}

// decodeFuncs decodes a function or a group: signatures first (so in-group
// calls can be typed), then bodies.
func (l *Loader) decodeFuncs(c cid.Cid, list []any) ([]*ir.Func, error) {
	d := &decoder{l: l, c: c}
	var maps []map[string]any
	var fs []*ir.Func
	for _, v := range list {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, &DecodeError{c, "function is not a map"}
		}
		f := &ir.Func{Params: d.types(m["params"]), Result: d.typ(m["result"])}
		f.Locals = append(append([]*ir.Type{}, f.Params...), d.types(m["locals"])...)
		if d.err != nil {
			return nil, d.err
		}
		for _, t := range f.Params {
			if t.Kind == ir.Void {
				return nil, &DecodeError{c, "void parameter"}
			}
		}
		for _, t := range f.Locals {
			if t.Kind == ir.Void {
				return nil, &DecodeError{c, "void local"}
			}
		}
		maps = append(maps, m)
		fs = append(fs, f)
	}
	d.group = fs
	for i, f := range fs {
		d.fn = f
		f.Body = d.block(maps[i]["body"], 0)
		if d.err != nil {
			return nil, d.err
		}
	}
	return fs, nil
}

func asInt(v any) (int64, bool) {
	switch v := v.(type) {
	case uint64:
		if v > 1<<62 {
			return 0, false
		}
		return int64(v), true
	case int64:
		return v, true
	}
	return 0, false
}

type decoder struct {
	l     *Loader
	c     cid.Cid
	fn    *ir.Func
	group []*ir.Func
	err   error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = &DecodeError{d.c, fmt.Sprintf(format, args...)}
	}
}

func (d *decoder) typ(v any) *ir.Type {
	return d.typDepth(v, 0)
}

func (d *decoder) typDepth(v any, depth int) *ir.Type {
	if depth > 32 {
		d.fail("type nested too deeply")
		return ir.TVoid
	}
	if k, ok := asInt(v); ok {
		if k < int64(ir.Void) || k > int64(ir.Byte) {
			d.fail("bad scalar type %d", k)
			return ir.TVoid
		}
		return ir.Scalar(ir.Kind(k))
	}
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		d.fail("bad type")
		return ir.TVoid
	}
	k, _ := asInt(l[0])
	switch {
	case k == int64(ir.Array) && len(l) == 3:
		n, ok := asInt(l[1])
		el := d.typDepth(l[2], depth+1)
		if !ok || n < 0 || n > 1<<20 || el.Kind == ir.Void || el.Kind == ir.Slice {
			d.fail("bad array type")
			return ir.TVoid
		}
		total := n
		for e := el; e.Kind == ir.Array; e = e.Elem {
			total *= max(e.Len, 1)
			if total > 1<<20 {
				d.fail("array type too large")
				return ir.TVoid
			}
		}
		return &ir.Type{Kind: ir.Array, Len: n, Elem: el}
	case k == int64(ir.Slice) && len(l) == 2:
		el := d.typDepth(l[1], depth+1)
		if !el.IsScalar() {
			d.fail("bad slice element type")
			return ir.TVoid
		}
		return &ir.Type{Kind: ir.Slice, Elem: el}
	}
	d.fail("bad type")
	return ir.TVoid
}

func (d *decoder) types(v any) []*ir.Type {
	l, ok := v.([]any)
	if !ok {
		d.fail("expected a list of types")
		return nil
	}
	var out []*ir.Type
	for _, e := range l {
		out = append(out, d.typ(e))
	}
	return out
}

func (d *decoder) list(v any) []any {
	l, ok := v.([]any)
	if !ok {
		d.fail("expected a list")
	}
	return l
}

func (d *decoder) block(v any, loops int) []ir.Stmt {
	var out []ir.Stmt
	for _, s := range d.list(v) {
		if d.err != nil {
			return nil
		}
		out = append(out, d.stmt(s, loops))
	}
	return out
}

func (d *decoder) want(t *ir.Type, ok func(*ir.Type) bool, what string) {
	if !ok(t) {
		d.fail("expected %s, found %s", what, t)
	}
}

func isBool(t *ir.Type) bool { return t.Kind == ir.Bool }

func (d *decoder) stmt(v any, loops int) ir.Stmt {
	l := d.list(v)
	if len(l) == 0 {
		d.fail("empty statement")
		return nil
	}
	tag, _ := asInt(l[0])
	arity := func(n int) bool {
		if len(l) != n {
			d.fail("statement %d: expected %d fields, found %d", tag, n, len(l))
			return false
		}
		return true
	}
	switch tag {
	case tAssign:
		if !arity(4) {
			return nil
		}
		op, _ := asInt(l[1])
		dst := d.lvalue(l[2])
		x := d.expr(l[3])
		if d.err != nil {
			return nil
		}
		dt := dst.Type()
		if op == 0 {
			if !ir.Identical(dt, x.Type()) {
				d.fail("assignment of %s to %s", x.Type(), dt)
			}
		} else {
			d.checkBinary(ir.Op(op), dt, x.Type())
		}
		return &ir.Assign{Dst: dst, Op: ir.Op(op), X: x}
	case tEval:
		if !arity(2) {
			return nil
		}
		x := d.expr(l[1])
		if _, ok := x.(*ir.Call); !ok && d.err == nil {
			d.fail("eval of a non-call")
		}
		return &ir.Eval{X: x}
	case tIf:
		if !arity(4) {
			return nil
		}
		c := d.expr(l[1])
		if d.err == nil {
			d.want(c.Type(), isBool, "bool condition")
		}
		return &ir.If{Cond: c, Then: d.block(l[2], loops), Else: d.block(l[3], loops)}
	case tLoop:
		if !arity(4) {
			return nil
		}
		s := &ir.Loop{}
		if l[1] != nil {
			s.Cond = d.expr(l[1])
			if d.err == nil {
				d.want(s.Cond.Type(), isBool, "bool condition")
			}
		}
		s.Body = d.block(l[2], loops+1)
		s.Post = d.block(l[3], loops+1)
		return s
	case tBreak, tContinue:
		if !arity(1) {
			return nil
		}
		if loops == 0 {
			d.fail("break or continue outside a loop")
		}
		if tag == tBreak {
			return &ir.Break{}
		}
		return &ir.Continue{}
	case tReturn:
		if len(l) == 1 {
			if d.fn.Result.Kind != ir.Void {
				d.fail("return without value")
			}
			return &ir.Return{}
		}
		if !arity(2) {
			return nil
		}
		x := d.expr(l[1])
		if d.err == nil && !ir.Identical(x.Type(), d.fn.Result) {
			d.fail("return of %s from function returning %s", x.Type(), d.fn.Result)
		}
		return &ir.Return{X: x}
	}
	d.fail("unknown statement tag %v", l[0])
	return nil
}

func (d *decoder) lvalue(v any) ir.Expr {
	l := d.list(v)
	if len(l) == 0 {
		d.fail("empty lvalue")
		return &ir.Local{T: ir.TVoid}
	}
	tag, _ := asInt(l[0])
	switch tag {
	case tLocal:
		return d.expr(v)
	case tIndex:
		if len(l) != 3 {
			d.fail("bad index")
			return &ir.Local{T: ir.TVoid}
		}
		var x ir.Expr
		if inner := d.list(l[1]); len(inner) > 0 {
			if t, _ := asInt(inner[0]); t == tLocal || t == tIndex {
				x = d.lvalue(l[1])
			}
		}
		if x == nil {
			x = d.expr(l[1])
			if d.err == nil && x.Type().Kind != ir.Slice {
				d.fail("assignment to element of a non-addressable array")
			}
		}
		if d.err != nil {
			return &ir.Local{T: ir.TVoid}
		}
		return d.index(x, l[2])
	}
	d.fail("bad assignment target")
	return &ir.Local{T: ir.TVoid}
}

func (d *decoder) index(x ir.Expr, iv any) ir.Expr {
	i := d.expr(iv)
	if d.err != nil {
		return &ir.Local{T: ir.TVoid}
	}
	t := x.Type()
	if t.Kind != ir.Array && t.Kind != ir.Slice {
		d.fail("index of %s", t)
		return &ir.Local{T: ir.TVoid}
	}
	if i.Type().Kind != ir.Int64 {
		d.fail("index of type %s", i.Type())
	}
	return &ir.Index{X: x, I: i, T: t.Elem}
}

func (d *decoder) checkBinary(op ir.Op, x, y *ir.Type) *ir.Type {
	if !op.Valid() || op >= ir.OpNeg {
		d.fail("bad binary operator %d", op)
		return ir.TVoid
	}
	if op == ir.OpShl || op == ir.OpShr {
		if !x.IsInteger() || !y.IsInteger() {
			d.fail("shift of %s by %s", x, y)
		}
		return x
	}
	if !ir.Identical(x, y) || !x.IsScalar() {
		d.fail("operator %s on %s and %s", op, x, y)
		return ir.TVoid
	}
	switch op {
	case ir.OpLAnd, ir.OpLOr:
		if x.Kind != ir.Bool {
			d.fail("operator %s on %s", op, x)
		}
		return ir.TBool
	case ir.OpEq, ir.OpNe:
		return ir.TBool
	case ir.OpLt, ir.OpLe, ir.OpGt, ir.OpGe:
		if !x.IsNumeric() {
			d.fail("operator %s on %s", op, x)
		}
		return ir.TBool
	case ir.OpAdd, ir.OpSub, ir.OpMul, ir.OpDiv:
		if !x.IsNumeric() {
			d.fail("operator %s on %s", op, x)
		}
	default:
		if !x.IsInteger() {
			d.fail("operator %s on %s", op, x)
		}
	}
	return x
}

func (d *decoder) exprs(v any) []ir.Expr {
	var out []ir.Expr
	for _, e := range d.list(v) {
		out = append(out, d.expr(e))
	}
	return out
}

func (d *decoder) args(f *ir.Func, v any) []ir.Expr {
	args := d.exprs(v)
	if d.err != nil {
		return nil
	}
	if len(args) != len(f.Params) {
		d.fail("call with %d arguments, expected %d", len(args), len(f.Params))
		return nil
	}
	for i, a := range args {
		if !ir.Identical(a.Type(), f.Params[i]) {
			d.fail("argument %d of type %s, expected %s", i, a.Type(), f.Params[i])
		}
	}
	return args
}

var bad = &ir.Const{T: ir.TVoid}

func (d *decoder) expr(v any) ir.Expr {
	if d.err != nil {
		return bad
	}
	l := d.list(v)
	if len(l) == 0 {
		d.fail("empty expression")
		return bad
	}
	tag, _ := asInt(l[0])
	n := map[int64]int{tConst: 3, tZero: 2, tLocal: 2, tUnary: 3, tBinary: 4, tConvert: 3, tCall: 3,
		tRecCall: 3, tIndex: 3, tSliceOf: 4, tLen: 2, tMake: 3, tComposite: 3}[tag]
	if n == 0 || len(l) != n {
		d.fail("bad expression %v with %d fields", l[0], len(l))
		return bad
	}
	switch tag {
	case tConst:
		t := d.typ(l[1])
		bits, ok := l[2].(uint64)
		if !ok || !t.IsScalar() || ir.Normalize(t, bits) != bits {
			d.fail("bad constant")
			return bad
		}
		return &ir.Const{T: t, Bits: bits}
	case tZero:
		t := d.typ(l[1])
		if t.Kind != ir.Array && t.Kind != ir.Slice {
			d.fail("zero of %s", t)
		}
		return &ir.Zero{T: t}
	case tLocal:
		s, ok := asInt(l[1])
		if !ok || s < 0 || s >= int64(len(d.fn.Locals)) {
			d.fail("bad local slot")
			return bad
		}
		return &ir.Local{Slot: int(s), T: d.fn.Locals[s]}
	case tUnary:
		op, _ := asInt(l[1])
		x := d.expr(l[2])
		t := x.Type()
		switch ir.Op(op) {
		case ir.OpNeg:
			d.want(t, (*ir.Type).IsNumeric, "number")
		case ir.OpNot:
			d.want(t, isBool, "bool")
		case ir.OpCpl:
			d.want(t, (*ir.Type).IsInteger, "integer")
		default:
			d.fail("bad unary operator")
		}
		return &ir.Unary{Op: ir.Op(op), X: x, T: t}
	case tBinary:
		op, _ := asInt(l[1])
		x, y := d.expr(l[2]), d.expr(l[3])
		if d.err != nil {
			return bad
		}
		t := d.checkBinary(ir.Op(op), x.Type(), y.Type())
		return &ir.Binary{Op: ir.Op(op), X: x, Y: y, T: t}
	case tConvert:
		t := d.typ(l[1])
		x := d.expr(l[2])
		xt := x.Type()
		if !t.IsScalar() || !xt.IsScalar() || (t.Kind == ir.Bool) != (xt.Kind == ir.Bool) {
			d.fail("conversion of %s to %s", xt, t)
		}
		return &ir.Convert{X: x, T: t}
	case tCall:
		c, ok := l[1].(cid.Cid)
		if !ok {
			d.fail("call without link")
			return bad
		}
		f, err := d.l.Func(c)
		if err != nil {
			if d.err == nil {
				d.err = fmt.Errorf("block %s calls %s: %w", d.c, c, err)
			}
			return bad
		}
		return &ir.Call{Target: f, Args: d.args(f, l[2]), T: f.Result}
	case tRecCall:
		k, ok := asInt(l[1])
		if !ok || k < 0 || k >= int64(len(d.group)) || len(d.group) == 0 {
			d.fail("bad group call index")
			return bad
		}
		f := d.group[k]
		return &ir.Call{Target: f, Args: d.args(f, l[2]), T: f.Result}
	case tIndex:
		x := d.expr(l[1])
		if d.err != nil {
			return bad
		}
		return d.index(x, l[2])
	case tSliceOf:
		x := d.expr(l[1])
		if d.err == nil && x.Type().Kind != ir.Slice {
			d.fail("slicing of %s", x.Type())
			return bad
		}
		s := &ir.SliceOf{X: x, T: x.Type()}
		for i, p := range []*ir.Expr{&s.Lo, &s.Hi} {
			if l[2+i] != nil {
				*p = d.expr(l[2+i])
				if d.err == nil && (*p).Type().Kind != ir.Int64 {
					d.fail("slice bound of type %s", (*p).Type())
				}
			}
		}
		return s
	case tLen:
		x := d.expr(l[1])
		if d.err == nil && x.Type().Kind != ir.Array && x.Type().Kind != ir.Slice {
			d.fail("len of %s", x.Type())
		}
		return &ir.Len{X: x}
	case tMake:
		t := d.typ(l[1])
		x := d.expr(l[2])
		if d.err == nil && (t.Kind != ir.Slice || x.Type().Kind != ir.Int64) {
			d.fail("bad make")
		}
		return &ir.Make{T: t, N: x}
	case tComposite:
		t := d.typ(l[1])
		el := d.exprs(l[2])
		if d.err != nil {
			return bad
		}
		if t.Kind != ir.Array && t.Kind != ir.Slice || t.Kind == ir.Array && int64(len(el)) > t.Len {
			d.fail("bad composite of %s", t)
			return bad
		}
		for _, e := range el {
			if !ir.Identical(e.Type(), t.Elem) {
				d.fail("composite element %s in %s", e.Type(), t)
			}
		}
		return &ir.Composite{T: t, Elems: el}
	}
	d.fail("unknown expression")
	return bad
}
