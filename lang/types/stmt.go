package types

import (
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/syntax"
)

func (c *checker) body(fd *syntax.FuncDecl, fn *ir.Func) {
	c.fn, c.fdecl, c.loops = fn, fd, 0
	s := &scope{parent: c.top, names: map[string]*object{}}
	for i, p := range fd.Params {
		c.newLocal(s, p.Name, p.Pos, fn.Params[i])
	}
	fn.Body = c.block(s, fd.Body.Stmts)
	if fn.Result.Kind != ir.Void && !terminates(fd.Body) {
		c.errorf(fd.Body.End, "missing return at end of function %s: expected a return statement", fd.Name)
	}
}

func (c *checker) newLocal(s *scope, name string, pos syntax.Pos, t *ir.Type) int {
	slot := len(c.fn.Locals)
	c.fn.Locals = append(c.fn.Locals, t)
	c.fn.LocalNames = append(c.fn.LocalNames, name)
	c.declare(s, name, pos, &object{kind: objLocal, slot: slot, typ: t})
	return slot
}

func (c *checker) block(s *scope, stmts []syntax.Stmt) []ir.Stmt {
	var out []ir.Stmt
	for _, st := range stmts {
		out = append(out, c.stmt(s, st)...)
	}
	return out
}

func zeroOf(t *ir.Type) ir.Expr {
	if t.IsScalar() {
		return &ir.Const{T: t}
	}
	return &ir.Zero{T: t}
}

func (c *checker) stmt(s *scope, st syntax.Stmt) []ir.Stmt {
	switch st := st.(type) {
	case *syntax.Block:
		return c.block(&scope{parent: s, names: map[string]*object{}}, st.Stmts)
	case *syntax.VarStmt:
		var t *ir.Type
		var init ir.Expr
		if st.Type != nil {
			t = c.typeOf(s, st.Type)
		}
		if st.Value != nil {
			v := c.expr(s, st.Value)
			if t != nil {
				v = c.assignable(v, t, syntax.ExprPos(st.Value), "variable declaration")
			} else {
				v = c.value(v, syntax.ExprPos(st.Value))
				t = v.t
			}
			init = v.x
		} else {
			init = zeroOf(t)
		}
		slot := c.newLocal(s, st.Name, st.Pos, t)
		return []ir.Stmt{&ir.Assign{Dst: &ir.Local{Slot: slot, T: t}, X: init}}
	case *syntax.DefineStmt:
		v := c.value(c.expr(s, st.Value), syntax.ExprPos(st.Value))
		slot := c.newLocal(s, st.Name, st.Pos, v.t)
		return []ir.Stmt{&ir.Assign{Dst: &ir.Local{Slot: slot, T: v.t}, X: v.x}}
	case *syntax.ConstStmt:
		v := c.constValue(s, st.Decl)
		c.declare(s, st.Decl.Name, st.Decl.Pos, &object{kind: objConst, val: v, state: 2})
		return nil
	case *syntax.AssignStmt:
		dst := c.lvalue(s, st.LHS)
		if st.Op == syntax.Assign {
			v := c.assignable(c.expr(s, st.RHS), dst.Type(), syntax.ExprPos(st.RHS), "assignment")
			return []ir.Stmt{&ir.Assign{Dst: dst, X: v.x}}
		}
		return []ir.Stmt{c.compound(s, st.Pos, dst, binOps[st.Op], st.RHS)}
	case *syntax.IncDecStmt:
		dst := c.lvalue(s, st.X)
		op := ir.OpAdd
		if !st.Inc {
			op = ir.OpSub
		}
		if !dst.Type().IsNumeric() {
			c.errorf(st.Pos, "cannot increment %s: expected a number", dst.Type())
		}
		one := c.represent(operand{ui: bigOne, isConst: true}, dst.Type(), st.Pos)
		return []ir.Stmt{&ir.Assign{Dst: dst, Op: op, X: one.x}}
	case *syntax.ExprStmt:
		call, ok := st.X.(*syntax.Call)
		if !ok {
			c.errorf(syntax.ExprPos(st.X), "expression is not used: expected a call, assignment or declaration")
		}
		v := c.call(s, call)
		if _, ok := v.x.(*ir.Call); !ok {
			c.errorf(call.Pos, "result of conversion or builtin is not used: expected a function call")
		}
		return []ir.Stmt{&ir.Eval{X: v.x}}
	case *syntax.IfStmt:
		cond := c.cond(s, st.Cond)
		n := &ir.If{Cond: cond, Then: c.block(&scope{parent: s, names: map[string]*object{}}, st.Then.Stmts)}
		if st.Else != nil {
			n.Else = c.stmt(s, st.Else)
		}
		return []ir.Stmt{n}
	case *syntax.ForStmt:
		inner := &scope{parent: s, names: map[string]*object{}}
		var out []ir.Stmt
		if st.Init != nil {
			out = c.stmt(inner, st.Init)
		}
		loop := &ir.Loop{}
		if st.Cond != nil {
			loop.Cond = c.cond(inner, st.Cond)
		}
		if st.Post != nil {
			loop.Post = c.stmt(inner, st.Post)
		}
		c.loops++
		loop.Body = c.block(&scope{parent: inner, names: map[string]*object{}}, st.Body.Stmts)
		c.loops--
		return append(out, loop)
	case *syntax.ReturnStmt:
		res := c.fn.Result
		if st.X == nil {
			if res.Kind != ir.Void {
				c.errorf(st.Pos, "not enough return values: expected a value of type %s", res)
			}
			return []ir.Stmt{&ir.Return{}}
		}
		if res.Kind == ir.Void {
			c.errorf(st.Pos, "too many return values: function %s returns nothing", c.fdecl.Name)
		}
		v := c.assignable(c.expr(s, st.X), res, syntax.ExprPos(st.X), "return statement")
		return []ir.Stmt{&ir.Return{X: v.x}}
	case *syntax.BranchStmt:
		if c.loops == 0 {
			c.errorf(st.Pos, "%s is not in a loop: expected it inside a for statement", st.Tok)
		}
		if st.Tok == syntax.Break {
			return []ir.Stmt{&ir.Break{}}
		}
		return []ir.Stmt{&ir.Continue{}}
	}
	c.errorf(syntax.StmtPos(st), "unexpected statement")
	return nil
}

func (c *checker) cond(s *scope, e syntax.Expr) ir.Expr {
	v := c.expr(s, e)
	if v.untyped() || v.t.Kind != ir.Bool {
		c.errorf(syntax.ExprPos(e), "non-boolean condition: expected bool, found %s", v.describe())
	}
	return v.x
}

func (c *checker) compound(s *scope, pos syntax.Pos, dst ir.Expr, op ir.Op, rhs syntax.Expr) ir.Stmt {
	t := dst.Type()
	y := c.expr(s, rhs)
	if op == ir.OpShl || op == ir.OpShr {
		if y.untyped() {
			y = c.represent(y, ir.TUint64, syntax.ExprPos(rhs))
		}
		if !y.t.IsInteger() || !t.IsInteger() {
			c.errorf(pos, "invalid shift: expected integer operands")
		}
		return &ir.Assign{Dst: dst, Op: op, X: y.x}
	}
	y = c.assignable(y, t, syntax.ExprPos(rhs), "assignment operation")
	ok := t.IsNumeric()
	if op != ir.OpAdd && op != ir.OpSub && op != ir.OpMul && op != ir.OpDiv {
		ok = t.IsInteger()
	}
	if !ok {
		c.errorf(pos, "operator %s not defined on %s", op, t)
	}
	return &ir.Assign{Dst: dst, Op: op, X: y.x}
}

// lvalue checks an assignable expression: a local, an element of an
// assignable array, or an element of any slice.
func (c *checker) lvalue(s *scope, e syntax.Expr) ir.Expr {
	switch e := e.(type) {
	case *syntax.Paren:
		return c.lvalue(s, e.X)
	case *syntax.Name:
		o := s.lookup(e.Name)
		if o == nil {
			c.errorf(e.Pos, "undefined: %s", e.Name)
		}
		if o.kind != objLocal {
			c.errorf(e.Pos, "cannot assign to %s %s: expected a variable", kindWord(o.kind), e.Name)
		}
		return &ir.Local{Slot: o.slot, T: o.typ}
	case *syntax.Index:
		var x ir.Expr
		probe := c.expr(s, e.X)
		if !probe.untyped() && probe.t.Kind == ir.Slice {
			x = probe.x
		} else {
			x = c.lvalue(s, e.X)
		}
		t := x.Type()
		if t.Kind != ir.Array && t.Kind != ir.Slice {
			c.errorf(e.Pos, "cannot index value of type %s: expected array or slice", t)
		}
		i := c.index(s, e.Index)
		if k, ok := i.x.(*ir.Const); ok && t.Kind == ir.Array && k.Bits >= uint64(t.Len) {
			c.errorf(syntax.ExprPos(e.Index), "index %d out of bounds for %s", int64(k.Bits), t)
		}
		return &ir.Index{X: x, I: i.x, T: t.Elem}
	}
	c.errorf(syntax.ExprPos(e), "cannot assign to expression: expected a variable or an element")
	return nil
}

// terminates reports whether a block ends in a terminating statement.
func terminates(b *syntax.Block) bool {
	if len(b.Stmts) == 0 {
		return false
	}
	return terminatingStmt(b.Stmts[len(b.Stmts)-1])
}

func terminatingStmt(s syntax.Stmt) bool {
	switch s := s.(type) {
	case *syntax.ReturnStmt:
		return true
	case *syntax.Block:
		return terminates(s)
	case *syntax.IfStmt:
		return s.Else != nil && terminates(s.Then) && terminatingStmt(s.Else)
	case *syntax.ForStmt:
		return s.Cond == nil && !hasBreak(s.Body.Stmts)
	}
	return false
}

// hasBreak reports whether stmts contain a break for the enclosing loop.
func hasBreak(stmts []syntax.Stmt) bool {
	for _, s := range stmts {
		switch s := s.(type) {
		case *syntax.BranchStmt:
			if s.Tok == syntax.Break {
				return true
			}
		case *syntax.Block:
			if hasBreak(s.Stmts) {
				return true
			}
		case *syntax.IfStmt:
			if hasBreak(s.Then.Stmts) || (s.Else != nil && hasBreak([]syntax.Stmt{s.Else})) {
				return true
			}
		}
	}
	return false
}
