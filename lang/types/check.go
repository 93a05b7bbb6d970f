// Package types type-checks a parsed module and lowers it to the resolved
// IR (package ir): locals become slots, constants are folded, calls are
// bound to functions, and imports are bound to modules by CID.
package types

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode"

	"github.com/ipfs/go-cid"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/syntax"
)

// Package is an imported module as the checker sees it.
type Package struct {
	CID     cid.Cid
	Exports map[string]*ir.Func // exported functions, with Params, Result and CID set
}

// Importer resolves an import reference (a CID or hex digest prefix).
type Importer interface {
	Import(ref string) (*Package, error)
}

// Limits on aggregate sizes accepted by the checker.
const (
	MaxArrayElems = 1 << 20
	maxShift      = 1024
)

type objKind int

const (
	objConst objKind = iota
	objLocal
	objFunc
	objImport
	objType
	objBuiltin
)

type object struct {
	kind  objKind
	pos   syntax.Pos
	val   operand // objConst
	slot  int     // objLocal
	typ   *ir.Type
	fn    *ir.Func
	pkg   *Package
	decl  *syntax.ConstDecl // unresolved top-level const
	state int               // 0 unresolved, 1 resolving, 2 done (top-level consts)
}

type scope struct {
	parent *scope
	names  map[string]*object
}

func (s *scope) lookup(name string) *object {
	for ; s != nil; s = s.parent {
		if o, ok := s.names[name]; ok {
			return o
		}
	}
	return nil
}

var universe = &scope{names: map[string]*object{
	"int64":   {kind: objType, typ: ir.TInt64},
	"uint64":  {kind: objType, typ: ir.TUint64},
	"float64": {kind: objType, typ: ir.TFloat64},
	"bool":    {kind: objType, typ: ir.TBool},
	"byte":    {kind: objType, typ: ir.TByte},
	"true":    {kind: objConst, val: operand{x: &ir.Const{T: ir.TBool, Bits: 1}, t: ir.TBool, isConst: true}},
	"false":   {kind: objConst, val: operand{x: &ir.Const{T: ir.TBool, Bits: 0}, t: ir.TBool, isConst: true}},
	"len":     {kind: objBuiltin},
	"make":    {kind: objBuiltin},
}}

type bailout struct{ err *syntax.Error }

type checker struct {
	file  *syntax.File
	mod   *ir.Module
	top   *scope
	fn    *ir.Func
	fdecl *syntax.FuncDecl
	loops int
}

// Check type-checks f, resolving imports with imp (which may be nil if the
// file has no imports), and returns the lowered module. The error is a
// *syntax.Error with the position and what was expected.
func Check(f *syntax.File, imp Importer) (m *ir.Module, err error) {
	c := &checker{file: f, mod: &ir.Module{Name: f.Name}, top: &scope{parent: universe, names: map[string]*object{}}}
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bailout)
			if !ok {
				panic(r)
			}
			m, err = nil, b.err
		}
	}()
	c.collect(imp)
	for i, fd := range f.Funcs {
		c.body(fd, c.mod.Funcs[i])
	}
	return c.mod, nil
}

func (c *checker) errorf(p syntax.Pos, format string, args ...any) {
	panic(bailout{&syntax.Error{Pos: p, Msg: fmt.Sprintf(format, args...)}})
}

func (c *checker) declare(s *scope, name string, pos syntax.Pos, o *object) {
	if name == "_" {
		return
	}
	if universe.names[name] != nil {
		c.errorf(pos, "cannot redeclare predeclared identifier %s: expected a different name", name)
	}
	if prev, ok := s.names[name]; ok {
		c.errorf(pos, "%s redeclared in this block (previous declaration at %s)", name, prev.pos)
	}
	o.pos = pos
	s.names[name] = o
}

func (c *checker) collect(imp Importer) {
	for _, d := range c.file.Imports {
		if imp == nil {
			c.errorf(d.Pos, "cannot resolve import %q: no module store available", d.Ref)
		}
		pkg, err := imp.Import(d.Ref)
		if err != nil {
			c.errorf(d.Pos, "import %s %q: %v", d.Name, d.Ref, err)
		}
		c.declare(c.top, d.Name, d.Pos, &object{kind: objImport, pkg: pkg})
		c.mod.Imports = append(c.mod.Imports, &ir.Import{Name: d.Name, CID: pkg.CID})
	}
	for _, d := range c.file.Consts {
		c.declare(c.top, d.Name, d.Pos, &object{kind: objConst, decl: d})
	}
	for _, fd := range c.file.Funcs {
		fn := &ir.Func{Name: fd.Name, Exported: fd.Name != "" && unicode.IsUpper(rune(fd.Name[0]))}
		c.declare(c.top, fd.Name, fd.Pos, &object{kind: objFunc, fn: fn})
		c.mod.Funcs = append(c.mod.Funcs, fn)
	}
	for _, d := range c.file.Consts {
		if d.Name == "_" {
			// A blank constant is never declared, so it has no object;
			// its value is still checked, as Go does.
			c.constValue(c.top, d)
			continue
		}
		c.resolveConst(c.top.names[d.Name])
	}
	for i, fd := range c.file.Funcs {
		fn := c.mod.Funcs[i]
		for _, p := range fd.Params {
			t := c.typeOf(c.top, p.Type)
			fn.Params = append(fn.Params, t)
			fn.ParamNames = append(fn.ParamNames, p.Name)
		}
		fn.Result = ir.TVoid
		if fd.Result != nil {
			fn.Result = c.typeOf(c.top, fd.Result)
		}
	}
}

func (c *checker) resolveConst(o *object) {
	if o.decl == nil || o.state == 2 {
		return
	}
	if o.state == 1 {
		c.errorf(o.decl.Pos, "constant %s refers to itself: expected an acyclic definition", o.decl.Name)
	}
	o.state = 1
	o.val = c.constValue(c.top, o.decl)
	o.state = 2
}

func (c *checker) constValue(s *scope, d *syntax.ConstDecl) operand {
	v := c.expr(s, d.Value)
	if !v.isConst {
		c.errorf(syntax.ExprPos(d.Value), "expected constant expression for %s", d.Name)
	}
	if d.Type != nil {
		t := c.typeOf(s, d.Type)
		if !t.IsScalar() {
			c.errorf(syntax.ExprPos(d.Type), "constant type must be a scalar, found %s", t)
		}
		v = c.assignable(v, t, syntax.ExprPos(d.Value), "constant declaration")
	}
	return v
}

// typeOf resolves a type expression.
func (c *checker) typeOf(s *scope, e syntax.Expr) *ir.Type {
	switch e := e.(type) {
	case *syntax.Name:
		o := s.lookup(e.Name)
		if o == nil || o.kind != objType {
			c.errorf(e.Pos, "expected type, found %s", e.Name)
		}
		return o.typ
	case *syntax.Paren:
		return c.typeOf(s, e.X)
	case *syntax.SliceType:
		el := c.typeOf(s, e.Elem)
		if !el.IsScalar() {
			c.errorf(e.Pos, "expected scalar slice element type, found %s", el)
		}
		return &ir.Type{Kind: ir.Slice, Elem: el}
	case *syntax.ArrayType:
		n := c.expr(s, e.Len)
		if !n.isConst {
			c.errorf(syntax.ExprPos(e.Len), "expected constant array length")
		}
		n = c.assignable(n, ir.TInt64, syntax.ExprPos(e.Len), "array length")
		length := int64(n.x.(*ir.Const).Bits)
		if length < 0 {
			c.errorf(syntax.ExprPos(e.Len), "expected non-negative array length, found %d", length)
		}
		el := c.typeOf(s, e.Elem)
		if el.Kind == ir.Slice {
			c.errorf(e.Pos, "expected scalar or array element type, found %s", el)
		}
		total := length * elemCount(el)
		if length > MaxArrayElems || total > MaxArrayElems {
			c.errorf(e.Pos, "array too large: at most %d elements", MaxArrayElems)
		}
		return &ir.Type{Kind: ir.Array, Len: length, Elem: el}
	}
	c.errorf(syntax.ExprPos(e), "expected type")
	return nil
}

func elemCount(t *ir.Type) int64 {
	if t.Kind == ir.Array {
		if t.Len == 0 {
			return 1
		}
		return t.Len * elemCount(t.Elem)
	}
	return 1
}

// ---- operands and constants ----

// operand is a checked expression. Untyped constants have t == nil and a
// value in ui (integer) or uf (float, when isUF).
type operand struct {
	x       ir.Expr
	t       *ir.Type
	isConst bool
	ui      *big.Int
	uf      float64
	isUF    bool
}

func (o operand) untyped() bool { return o.t == nil }

func (o operand) describe() string {
	if o.untyped() {
		if o.isUF {
			return "untyped float constant"
		}
		return "untyped int constant"
	}
	return o.t.String()
}

var (
	minInt64  = big.NewInt(math.MinInt64)
	maxInt64  = big.NewInt(math.MaxInt64)
	maxUint64 = new(big.Int).SetUint64(math.MaxUint64)
)

// represent converts an untyped constant to type t.
func (c *checker) represent(o operand, t *ir.Type, pos syntax.Pos) operand {
	bad := func() operand {
		c.errorf(pos, "cannot use %s as %s: value out of range or not representable", constString(o), t)
		return operand{}
	}
	var bits uint64
	switch {
	case t.Kind == ir.Float64:
		f := o.uf
		if !o.isUF {
			f, _ = new(big.Float).SetInt(o.ui).Float64()
		}
		bits = math.Float64bits(f)
	case t.IsInteger():
		i := o.ui
		if o.isUF {
			if o.uf != math.Trunc(o.uf) || math.IsInf(o.uf, 0) {
				return bad()
			}
			i, _ = big.NewFloat(o.uf).Int(nil)
		}
		switch t.Kind {
		case ir.Int64:
			if i.Cmp(minInt64) < 0 || i.Cmp(maxInt64) > 0 {
				return bad()
			}
			bits = uint64(i.Int64())
		case ir.Uint64:
			if i.Sign() < 0 || i.Cmp(maxUint64) > 0 {
				return bad()
			}
			bits = i.Uint64()
		case ir.Byte:
			if i.Sign() < 0 || i.Cmp(big.NewInt(255)) > 0 {
				return bad()
			}
			bits = i.Uint64()
		}
	default:
		c.errorf(pos, "cannot use %s as %s", o.describe(), t)
	}
	return operand{x: &ir.Const{T: t, Bits: bits}, t: t, isConst: true}
}

func constString(o operand) string {
	if o.isUF {
		return strconv.FormatFloat(o.uf, 'g', -1, 64)
	}
	if o.ui != nil {
		return o.ui.String()
	}
	return "constant"
}

// defaultType gives an untyped constant its default type.
func (c *checker) defaultType(o operand, pos syntax.Pos) operand {
	if !o.untyped() {
		return o
	}
	if o.isUF {
		return c.represent(o, ir.TFloat64, pos)
	}
	return c.represent(o, ir.TInt64, pos)
}

// assignable checks that o can be assigned to t and returns it converted.
func (c *checker) assignable(o operand, t *ir.Type, pos syntax.Pos, context string) operand {
	if o.untyped() {
		if !t.IsNumeric() {
			c.errorf(pos, "cannot use %s as %s in %s", o.describe(), t, context)
		}
		return c.represent(o, t, pos)
	}
	if o.t.Kind == ir.Void {
		c.errorf(pos, "function call has no value: expected a value of type %s in %s", t, context)
	}
	if !ir.Identical(o.t, t) {
		c.errorf(pos, "cannot use value of type %s as %s in %s", o.t, t, context)
	}
	return o
}

func (c *checker) value(o operand, pos syntax.Pos) operand {
	o = c.defaultType(o, pos)
	if o.t.Kind == ir.Void {
		c.errorf(pos, "function call has no value: expected an expression with a value")
	}
	return o
}

var bigOne = big.NewInt(1)
