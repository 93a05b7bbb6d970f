package types

import (
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/syntax"
)

var binOps = map[syntax.Kind]ir.Op{
	syntax.Add: ir.OpAdd, syntax.Sub: ir.OpSub, syntax.Mul: ir.OpMul, syntax.Quo: ir.OpDiv,
	syntax.Rem: ir.OpRem, syntax.And: ir.OpAnd, syntax.Or: ir.OpOr, syntax.Xor: ir.OpXor,
	syntax.Shl: ir.OpShl, syntax.Shr: ir.OpShr, syntax.AndNot: ir.OpAndNot,
	syntax.Eql: ir.OpEq, syntax.Neq: ir.OpNe, syntax.Lss: ir.OpLt, syntax.Leq: ir.OpLe,
	syntax.Gtr: ir.OpGt, syntax.Geq: ir.OpGe, syntax.LAnd: ir.OpLAnd, syntax.LOr: ir.OpLOr,
}

func isComparison(op ir.Op) bool { return op >= ir.OpEq && op <= ir.OpGe }

func (c *checker) expr(s *scope, e syntax.Expr) operand {
	switch e := e.(type) {
	case *syntax.BasicLit:
		return c.literal(e)
	case *syntax.Paren:
		return c.expr(s, e.X)
	case *syntax.Name:
		o := s.lookup(e.Name)
		if o == nil {
			c.errorf(e.Pos, "undefined: %s", e.Name)
		}
		switch o.kind {
		case objConst:
			c.resolveConst(o)
			return o.val
		case objLocal:
			return operand{x: &ir.Local{Slot: o.slot, T: o.typ}, t: o.typ}
		}
		c.errorf(e.Pos, "expected value, found %s %s", kindWord(o.kind), e.Name)
	case *syntax.Unary:
		return c.unary(s, e)
	case *syntax.Binary:
		return c.binary(s, e)
	case *syntax.Call:
		return c.call(s, e)
	case *syntax.Index:
		x := c.value(c.expr(s, e.X), e.Pos)
		if x.t.Kind != ir.Array && x.t.Kind != ir.Slice {
			c.errorf(e.Pos, "cannot index value of type %s: expected array or slice", x.t)
		}
		i := c.index(s, e.Index)
		if k, ok := i.x.(*ir.Const); ok && x.t.Kind == ir.Array && k.Bits >= uint64(x.t.Len) {
			c.errorf(syntax.ExprPos(e.Index), "index %d out of bounds for %s", int64(k.Bits), x.t)
		}
		return operand{x: &ir.Index{X: x.x, I: i.x, T: x.t.Elem}, t: x.t.Elem}
	case *syntax.SliceExpr:
		x := c.value(c.expr(s, e.X), e.Pos)
		if x.t.Kind != ir.Slice {
			c.errorf(e.Pos, "cannot slice value of type %s: expected a slice", x.t)
		}
		se := &ir.SliceOf{X: x.x, T: x.t}
		if e.Lo != nil {
			se.Lo = c.index(s, e.Lo).x
		}
		if e.Hi != nil {
			se.Hi = c.index(s, e.Hi).x
		}
		return operand{x: se, t: x.t}
	case *syntax.CompositeLit:
		t := c.typeOf(s, e.Type)
		if t.Kind == ir.Array && int64(len(e.Elems)) > t.Len {
			c.errorf(e.Pos, "too many elements in %s literal: expected at most %d", t, t.Len)
		}
		if len(e.Elems) > MaxArrayElems {
			c.errorf(e.Pos, "composite literal too large")
		}
		lit := &ir.Composite{T: t}
		for _, el := range e.Elems {
			lit.Elems = append(lit.Elems, c.assignable(c.expr(s, el), t.Elem, syntax.ExprPos(el), "composite literal").x)
		}
		return operand{x: lit, t: t}
	case *syntax.Selector:
		c.errorf(e.Pos, "expected call of imported function %s.%s", e.X.Name, e.Name)
	case *syntax.ArrayType, *syntax.SliceType:
		c.errorf(syntax.ExprPos(e), "expected expression, found type")
	}
	c.errorf(syntax.ExprPos(e), "expected expression")
	return operand{}
}

func kindWord(k objKind) string {
	switch k {
	case objFunc:
		return "function"
	case objImport:
		return "import"
	case objType:
		return "type"
	case objBuiltin:
		return "builtin"
	}
	return "name"
}

// index checks an index expression: any integer type, constants must be >= 0.
func (c *checker) index(s *scope, e syntax.Expr) operand {
	i := c.expr(s, e)
	if i.untyped() {
		return c.represent(i, ir.TInt64, syntax.ExprPos(e))
	}
	if !i.t.IsInteger() {
		c.errorf(syntax.ExprPos(e), "expected integer index, found %s", i.t)
	}
	if k, ok := i.x.(*ir.Const); ok && i.t.Kind == ir.Int64 && int64(k.Bits) < 0 {
		c.errorf(syntax.ExprPos(e), "index must be non-negative, found %d", int64(k.Bits))
	}
	if i.t.Kind != ir.Int64 {
		i = c.convert(i, ir.TInt64, syntax.ExprPos(e))
	}
	return i
}

func (c *checker) literal(e *syntax.BasicLit) operand {
	text := strings.ReplaceAll(e.Value, "_", "")
	if e.Kind == syntax.Int {
		v, ok := new(big.Int).SetString(text, 0)
		if !ok {
			c.errorf(e.Pos, "malformed integer literal %s", e.Value)
		}
		if v.BitLen() > 512 {
			c.errorf(e.Pos, "integer literal too large")
		}
		return operand{ui: v, isConst: true}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) {
		c.errorf(e.Pos, "malformed or out-of-range float literal %s", e.Value)
	}
	return operand{uf: f, isUF: true, isConst: true}
}

func (c *checker) unary(s *scope, e *syntax.Unary) operand {
	x := c.expr(s, e.X)
	if e.Op == syntax.Add {
		if !x.untyped() && !x.t.IsNumeric() {
			c.errorf(e.Pos, "operator + not defined on %s", x.describe())
		}
		return x
	}
	if x.untyped() {
		switch e.Op {
		case syntax.Sub:
			if x.isUF {
				return operand{uf: -x.uf, isUF: true, isConst: true}
			}
			return operand{ui: new(big.Int).Neg(x.ui), isConst: true}
		case syntax.Xor:
			if x.isUF {
				c.errorf(e.Pos, "operator ^ not defined on untyped float")
			}
			return operand{ui: new(big.Int).Not(x.ui), isConst: true}
		}
		c.errorf(e.Pos, "operator ! not defined on %s: expected bool", x.describe())
	}
	var op ir.Op
	switch e.Op {
	case syntax.Sub:
		op = ir.OpNeg
		if !x.t.IsNumeric() {
			c.errorf(e.Pos, "operator - not defined on %s: expected a number", x.t)
		}
	case syntax.Xor:
		op = ir.OpCpl
		if !x.t.IsInteger() {
			c.errorf(e.Pos, "operator ^ not defined on %s: expected an integer", x.t)
		}
	case syntax.Not:
		op = ir.OpNot
		if x.t.Kind != ir.Bool {
			c.errorf(e.Pos, "operator ! not defined on %s: expected bool", x.t)
		}
	}
	if x.isConst {
		bits, err := ir.EvalUnary(op, x.t, x.x.(*ir.Const).Bits)
		if err != nil {
			c.errorf(e.Pos, "constant %v", err)
		}
		return operand{x: &ir.Const{T: x.t, Bits: bits}, t: x.t, isConst: true}
	}
	return operand{x: &ir.Unary{Op: op, X: x.x, T: x.t}, t: x.t}
}

func (c *checker) binary(s *scope, e *syntax.Binary) operand {
	op := binOps[e.Op]
	x := c.expr(s, e.X)
	y := c.expr(s, e.Y)
	if op == ir.OpShl || op == ir.OpShr {
		return c.shift(e, op, x, y)
	}
	if x.untyped() && y.untyped() {
		return c.foldUntyped(e, op, x, y)
	}
	if x.untyped() {
		x = c.assignable(x, y.t, syntax.ExprPos(e.X), "operation")
	}
	if y.untyped() {
		y = c.assignable(y, x.t, syntax.ExprPos(e.Y), "operation")
	}
	x, y = c.value(x, e.Pos), c.value(y, e.Pos)
	if !ir.Identical(x.t, y.t) {
		c.errorf(e.Pos, "mismatched types %s and %s for %s: expected identical types", x.t, y.t, op)
	}
	t := x.t
	switch {
	case op == ir.OpLAnd || op == ir.OpLOr:
		if t.Kind != ir.Bool {
			c.errorf(e.Pos, "operator %s not defined on %s: expected bool", op, t)
		}
	case op == ir.OpEq || op == ir.OpNe:
		if !t.IsScalar() {
			c.errorf(e.Pos, "cannot compare values of type %s: expected scalars", t)
		}
	case isComparison(op):
		if !t.IsNumeric() {
			c.errorf(e.Pos, "operator %s not defined on %s: expected numbers", op, t)
		}
	case op == ir.OpAdd || op == ir.OpSub || op == ir.OpMul || op == ir.OpDiv:
		if !t.IsNumeric() {
			c.errorf(e.Pos, "operator %s not defined on %s: expected numbers", op, t)
		}
	default:
		if !t.IsInteger() {
			c.errorf(e.Pos, "operator %s not defined on %s: expected integers", op, t)
		}
	}
	rt := t
	if isComparison(op) {
		rt = ir.TBool
	}
	if x.isConst && y.isConst {
		xb, yb := x.x.(*ir.Const).Bits, y.x.(*ir.Const).Bits
		var bits uint64
		switch op {
		case ir.OpLAnd:
			bits = xb & yb
		case ir.OpLOr:
			bits = xb | yb
		default:
			var err error
			bits, err = ir.EvalBinary(op, t, t, xb, yb)
			if err != nil {
				c.errorf(e.Pos, "constant %v", err)
			}
		}
		return operand{x: &ir.Const{T: rt, Bits: bits}, t: rt, isConst: true}
	}
	return operand{x: &ir.Binary{Op: op, X: x.x, Y: y.x, T: rt}, t: rt}
}

func (c *checker) shift(e *syntax.Binary, op ir.Op, x, y operand) operand {
	if y.untyped() {
		y = c.represent(y, ir.TUint64, syntax.ExprPos(e.Y))
		y.isConst = true
	} else if !y.t.IsInteger() {
		c.errorf(syntax.ExprPos(e.Y), "shift count type %s: expected an integer", y.t)
	}
	yc, yConst := y.x.(*ir.Const)
	if x.untyped() && yConst {
		if x.isUF {
			c.errorf(syntax.ExprPos(e.X), "shifted operand must be an integer, found untyped float")
		}
		n := yc.Bits
		if y.t.Kind == ir.Int64 && int64(n) < 0 {
			c.errorf(syntax.ExprPos(e.Y), "negative shift count")
		}
		if n > maxShift {
			c.errorf(syntax.ExprPos(e.Y), "shift count %d too large", n)
		}
		if op == ir.OpShl {
			return operand{ui: new(big.Int).Lsh(x.ui, uint(n)), isConst: true}
		}
		return operand{ui: new(big.Int).Rsh(x.ui, uint(n)), isConst: true}
	}
	x = c.value(x, syntax.ExprPos(e.X))
	if !x.t.IsInteger() {
		c.errorf(syntax.ExprPos(e.X), "shifted operand type %s: expected an integer", x.t)
	}
	if x.isConst && yConst {
		bits, err := ir.EvalBinary(op, x.t, y.t, x.x.(*ir.Const).Bits, yc.Bits)
		if err != nil {
			c.errorf(e.Pos, "constant %v", err)
		}
		return operand{x: &ir.Const{T: x.t, Bits: bits}, t: x.t, isConst: true}
	}
	return operand{x: &ir.Binary{Op: op, X: x.x, Y: y.x, T: x.t}, t: x.t}
}

func (c *checker) foldUntyped(e *syntax.Binary, op ir.Op, x, y operand) operand {
	boolConst := func(b bool) operand {
		var bits uint64
		if b {
			bits = 1
		}
		return operand{x: &ir.Const{T: ir.TBool, Bits: bits}, t: ir.TBool, isConst: true}
	}
	if x.isUF || y.isUF {
		a, b := x.uf, y.uf
		if !x.isUF {
			a, _ = new(big.Float).SetInt(x.ui).Float64()
		}
		if !y.isUF {
			b, _ = new(big.Float).SetInt(y.ui).Float64()
		}
		var r float64
		switch op {
		case ir.OpAdd:
			r = a + b
		case ir.OpSub:
			r = a - b
		case ir.OpMul:
			r = a * b
		case ir.OpDiv:
			if b == 0 {
				c.errorf(e.Pos, "constant division by zero")
			}
			r = a / b
		case ir.OpEq:
			return boolConst(a == b)
		case ir.OpNe:
			return boolConst(a != b)
		case ir.OpLt:
			return boolConst(a < b)
		case ir.OpLe:
			return boolConst(a <= b)
		case ir.OpGt:
			return boolConst(a > b)
		case ir.OpGe:
			return boolConst(a >= b)
		default:
			c.errorf(e.Pos, "operator %s not defined on untyped float", op)
		}
		if math.IsInf(r, 0) || math.IsNaN(r) {
			c.errorf(e.Pos, "constant overflow")
		}
		return operand{uf: r, isUF: true, isConst: true}
	}
	a, b := x.ui, y.ui
	r := new(big.Int)
	switch op {
	case ir.OpAdd:
		r.Add(a, b)
	case ir.OpSub:
		r.Sub(a, b)
	case ir.OpMul:
		r.Mul(a, b)
	case ir.OpDiv, ir.OpRem:
		if b.Sign() == 0 {
			c.errorf(e.Pos, "constant division by zero")
		}
		if op == ir.OpDiv {
			r.Quo(a, b)
		} else {
			r.Rem(a, b)
		}
	case ir.OpAnd:
		r.And(a, b)
	case ir.OpOr:
		r.Or(a, b)
	case ir.OpXor:
		r.Xor(a, b)
	case ir.OpAndNot:
		r.AndNot(a, b)
	case ir.OpEq:
		return boolConst(a.Cmp(b) == 0)
	case ir.OpNe:
		return boolConst(a.Cmp(b) != 0)
	case ir.OpLt:
		return boolConst(a.Cmp(b) < 0)
	case ir.OpLe:
		return boolConst(a.Cmp(b) <= 0)
	case ir.OpGt:
		return boolConst(a.Cmp(b) > 0)
	case ir.OpGe:
		return boolConst(a.Cmp(b) >= 0)
	default:
		c.errorf(e.Pos, "operator %s not defined on untyped int", op)
	}
	if r.BitLen() > 512 {
		c.errorf(e.Pos, "constant overflow")
	}
	return operand{ui: r, isConst: true}
}

func (c *checker) convert(x operand, t *ir.Type, pos syntax.Pos) operand {
	if !t.IsScalar() {
		c.errorf(pos, "cannot convert to %s: expected a scalar type", t)
	}
	if x.untyped() {
		if x.isUF && t.IsInteger() {
			c.errorf(pos, "cannot convert untyped float constant to %s", t)
		}
		return c.represent(x, t, pos)
	}
	if x.t.Kind == ir.Void || !x.t.IsScalar() || (x.t.Kind == ir.Bool) != (t.Kind == ir.Bool) {
		c.errorf(pos, "cannot convert %s to %s", x.t, t)
	}
	if ir.Identical(x.t, t) {
		return x
	}
	if x.isConst {
		bits, err := ir.EvalConvert(x.t, t, x.x.(*ir.Const).Bits)
		if err != nil {
			c.errorf(pos, "constant %v", err)
		}
		return operand{x: &ir.Const{T: t, Bits: bits}, t: t, isConst: true}
	}
	return operand{x: &ir.Convert{X: x.x, T: t}, t: t}
}

func (c *checker) call(s *scope, e *syntax.Call) operand {
	var fn *ir.Func
	switch f := e.Fun.(type) {
	case *syntax.Name:
		o := s.lookup(f.Name)
		if o == nil {
			c.errorf(f.Pos, "undefined: %s", f.Name)
		}
		switch o.kind {
		case objType:
			if len(e.Args) != 1 {
				c.errorf(e.Pos, "conversion to %s: expected exactly one argument", f.Name)
			}
			return c.convert(c.expr(s, e.Args[0]), o.typ, e.Pos)
		case objBuiltin:
			return c.builtin(s, f.Name, e)
		case objFunc:
			fn = o.fn
		default:
			c.errorf(f.Pos, "cannot call %s %s: expected a function", kindWord(o.kind), f.Name)
		}
	case *syntax.Selector:
		o := s.lookup(f.X.Name)
		if o == nil || o.kind != objImport {
			c.errorf(f.Pos, "%s is not an imported module: expected import name before '.'", f.X.Name)
		}
		fn = o.pkg.Exports[f.Name]
		if fn == nil {
			c.errorf(f.Pos, "module %s (%s) has no exported function %s", f.X.Name, o.pkg.CID, f.Name)
		}
	case *syntax.ArrayType, *syntax.SliceType:
		c.errorf(e.Pos, "cannot convert to aggregate type: expected a scalar conversion")
	default:
		c.errorf(e.Pos, "expected function name in call")
	}
	if len(e.Args) != len(fn.Params) {
		c.errorf(e.Pos, "wrong number of arguments in call to %s: expected %d, found %d", fn.Name, len(fn.Params), len(e.Args))
	}
	call := &ir.Call{Target: fn, T: fn.Result}
	for i, a := range e.Args {
		call.Args = append(call.Args, c.assignable(c.expr(s, a), fn.Params[i], syntax.ExprPos(a), "argument").x)
	}
	return operand{x: call, t: fn.Result}
}

func (c *checker) builtin(s *scope, name string, e *syntax.Call) operand {
	switch name {
	case "len":
		if len(e.Args) != 1 {
			c.errorf(e.Pos, "len: expected exactly one argument")
		}
		x := c.value(c.expr(s, e.Args[0]), e.Pos)
		if x.t.Kind != ir.Array && x.t.Kind != ir.Slice {
			c.errorf(e.Pos, "invalid argument to len: expected array or slice, found %s", x.t)
		}
		return operand{x: &ir.Len{X: x.x}, t: ir.TInt64}
	case "make":
		if len(e.Args) != 2 {
			c.errorf(e.Pos, "make: expected a slice type and a length")
		}
		t := c.typeOf(s, e.Args[0])
		if t.Kind != ir.Slice {
			c.errorf(e.Pos, "make: expected a slice type, found %s", t)
		}
		n := c.index(s, e.Args[1])
		return operand{x: &ir.Make{T: t, N: n.x}, t: t}
	}
	c.errorf(e.Pos, "unknown builtin %s", name)
	return operand{}
}
