package heal

import (
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
)

// Inlining limits: a callee is small if its body has at most
// inlineMaxNodes expression and statement nodes; the function being
// optimized stops growing at inlineMaxTotal nodes.
const (
	inlineMaxNodes = 80
	inlineMaxTotal = 6000
)

// inline replaces calls of small module functions by their bodies.
//
// A call is inlined where its value is a whole statement's: x = g(..),
// x op= g(..) (x a local), g(..) as a statement, and return g(..). A call
// elsewhere in a statement is first moved into a new local (t = g(..)
// just before the statement) when everything the statement evaluates
// before the call is safe (cannot trap or call: then evaluating the call
// first is unobservable) and the call is not on the conditional side of
// && or ||; an element destination a[i] = g(..) is not moved, because
// its bounds check comes before the call.
//
// The callee must be small, non-recursive (it reaches neither itself nor
// the function being optimized through calls), return no array, and use
// no array of interp.ArrayFuelUnit elements or more (the zeroing of a
// frame's arrays is charged fuel at function entry, one unit per
// ArrayFuelUnit elements: for smaller arrays that is nothing, for larger
// ones inlining would move the charge).
// Its locals are renumbered into new locals of the caller; its
// parameters are assigned from the arguments in order (the same
// evaluation order as the call, and the same copies); its other locals
// are zeroed first unless their first use is a plain assignment, as a
// fresh frame would have them. Returns are lowered: at `return g(..)`
// the callee's returns stay returns; elsewhere every return must be the
// last statement of a path (at the end of the body, or of an if branch
// whose other branch then takes the rest of the block), and becomes the
// site's assignment. A call costs one unit of fuel and one level of
// depth, so the inlined code uses less of both; results, traps and slice
// effects are the same.
func (o *optimizer) inline(body []ir.Stmt) ([]ir.Stmt, bool) {
	changed := false
	for round := 0; round < 4; round++ {
		any := false
		var block func(ss []ir.Stmt) []ir.Stmt
		block = func(ss []ir.Stmt) []ir.Stmt {
			var out []ir.Stmt
			for _, s := range ss {
				switch x := s.(type) {
				case *ir.If:
					x.Then, x.Else = block(x.Then), block(x.Else)
				case *ir.Loop:
					x.Body, x.Post = block(x.Body), block(x.Post)
				}
				if stmtsSize(o.body) > inlineMaxTotal {
					out = append(out, s)
					continue
				}
				pre := o.extractCalls(s)
				for _, p := range pre {
					if n, ok := o.expand(p); ok {
						out = append(out, n...)
						any = true
					} else {
						out = append(out, p)
					}
				}
				if len(pre) > 0 {
					any = true
				}
				if n, ok := o.expand(s); ok {
					out = append(out, n...)
					any = true
					continue
				}
				out = append(out, s)
			}
			return out
		}
		o.body = block(o.body)
		body = o.body
		if !any {
			break
		}
		changed = true
	}
	return body, changed
}

// inlinable reports whether g may be inlined into o.f.
func (o *optimizer) inlinable(g *ir.Func) bool {
	if g == nil || g == o.f || stmtsSize(g.Body) > inlineMaxNodes {
		return false
	}
	if g.Result.Kind == ir.Array {
		return false
	}
	for _, t := range g.Locals {
		if t.Kind == ir.Array && arrayElems(t) >= interp.ArrayFuelUnit {
			return false
		}
	}
	// Every return must be at the end of a path (see lowerReturns).
	if _, ok, term := lowerReturns(cloneStmts(g.Body), func(ir.Expr) ir.Stmt { return nil }); !ok || (!term && g.Result.Kind != ir.Void) {
		return false
	}
	// Not recursive: nothing g reaches calls g or o.f.
	seen := map[*ir.Func]bool{}
	var reach func(h *ir.Func) bool
	reach = func(h *ir.Func) bool {
		for _, c := range ir.Callees(h.Body) {
			if c == g || c == o.f || c == nil {
				return true
			}
			if !seen[c] {
				seen[c] = true
				if reach(c) {
					return true
				}
			}
		}
		return false
	}
	return !reach(g)
}

// extractCalls moves calls out of s (see inline) into new statements
// t = g(..) to run before s, replacing each by its local. Only calls of
// inlinable functions are moved.
func (o *optimizer) extractCalls(s ir.Stmt) []ir.Stmt {
	var pre []ir.Stmt
	var root *ir.Expr
	switch x := s.(type) {
	case *ir.Assign:
		if _, ok := x.Dst.(*ir.Local); !ok {
			return nil
		}
		root = &x.X
	case *ir.Eval:
		root = &x.X
	case *ir.Return:
		root = &x.X
	case *ir.If:
		root = &x.Cond
	default:
		return nil
	}
	if *root == nil {
		return nil
	}
	// A call that is the whole statement is expanded in place.
	if c, ok := (*root).(*ir.Call); ok && o.inlinable(c.Target) {
		if _, isIf := s.(*ir.If); !isIf {
			// Its arguments may hold calls to extract first.
			for i := range c.Args {
				o.extractFrom(&c.Args[i], &pre, new(bool))
			}
			return pre
		}
	}
	o.extractFrom(root, &pre, new(bool))
	return pre
}

// extractFrom walks e in evaluation order; unsafe is set once something
// that may trap or call has been evaluated, after which nothing moves.
func (o *optimizer) extractFrom(p *ir.Expr, pre *[]ir.Stmt, unsafe *bool) {
	if *unsafe {
		return
	}
	switch x := (*p).(type) {
	case nil, *ir.Const, *ir.Local, *ir.Zero:
		return
	case *ir.Call:
		// The call moves together with what is left of its arguments, so
		// only what came before the call matters for moving it.
		was := *unsafe
		for i := range x.Args {
			o.extractFrom(&x.Args[i], pre, unsafe)
		}
		if !was && o.inlinable(x.Target) && x.T.Kind != ir.Void {
			t := o.newLocal(x.T, "inl")
			*pre = append(*pre, &ir.Assign{Dst: &ir.Local{Slot: t.Slot, T: t.T}, X: x})
			*p = &ir.Local{Slot: t.Slot, T: t.T}
			*unsafe = false // everything evaluated so far is now before the statement
			return
		}
		*unsafe = true
		return
	case *ir.Binary:
		o.extractFrom(&x.X, pre, unsafe)
		if x.Op == ir.OpLAnd || x.Op == ir.OpLOr {
			if !safe(x.Y) {
				*unsafe = true
			}
			return
		}
		o.extractFrom(&x.Y, pre, unsafe)
	case *ir.Unary:
		o.extractFrom(&x.X, pre, unsafe)
	case *ir.Convert:
		o.extractFrom(&x.X, pre, unsafe)
	case *ir.Len:
		o.extractFrom(&x.X, pre, unsafe)
	case *ir.Index:
		o.extractFrom(&x.X, pre, unsafe)
		o.extractFrom(&x.I, pre, unsafe)
	case *ir.SliceOf:
		o.extractFrom(&x.X, pre, unsafe)
		if x.Lo != nil {
			o.extractFrom(&x.Lo, pre, unsafe)
		}
		if x.Hi != nil {
			o.extractFrom(&x.Hi, pre, unsafe)
		}
	case *ir.Make:
		o.extractFrom(&x.N, pre, unsafe)
	case *ir.Composite:
		for i := range x.Elems {
			o.extractFrom(&x.Elems[i], pre, unsafe)
		}
	}
	// The node itself: after its operands, it may trap.
	if !safe(*p) {
		*unsafe = true
	}
}

// expand inlines s if it is an inline site; it returns the statements
// that replace it.
func (o *optimizer) expand(s ir.Stmt) ([]ir.Stmt, bool) {
	var call *ir.Call
	var site func(e ir.Expr) ir.Stmt // the statement a return becomes
	keepReturns := false
	switch x := s.(type) {
	case *ir.Assign:
		c, ok := x.X.(*ir.Call)
		l, ok2 := x.Dst.(*ir.Local)
		if !ok || !ok2 {
			return nil, false
		}
		call = c
		site = func(e ir.Expr) ir.Stmt { return &ir.Assign{Dst: &ir.Local{Slot: l.Slot, T: l.T}, Op: x.Op, X: e} }
	case *ir.Eval:
		c, ok := x.X.(*ir.Call)
		if !ok {
			return nil, false
		}
		call = c
		// The value is dropped, but evaluating it may trap or call:
		// keep that in a local nothing reads.
		site = func(e ir.Expr) ir.Stmt {
			if e == nil || safe(e) {
				return nil
			}
			return &ir.Assign{Dst: o.newLocal(e.Type(), "drop"), X: e}
		}
	case *ir.Return:
		c, ok := x.X.(*ir.Call)
		if !ok {
			return nil, false
		}
		call, keepReturns = c, true
	default:
		return nil, false
	}
	g := call.Target
	if !o.inlinable(g) {
		return nil, false
	}
	body := cloneStmts(g.Body)
	if keepReturns && !terminates(body) {
		return nil, false // falling off its end must not run the caller's next statement
	}
	if !keepReturns {
		_, ok, term := lowerReturns(cloneStmts(body), func(ir.Expr) ir.Stmt { return nil })
		if !ok || (!term && g.Result.Kind != ir.Void) {
			return nil, false
		}
	}
	// The callee's slots move to new locals first; the site's statements
	// (which name the caller's locals, or new ones) are added after.
	base := len(o.locals)
	for i, t := range g.Locals {
		name := "inl"
		if i < len(g.LocalNames) {
			name = g.LocalNames[i]
		}
		o.locals = append(o.locals, t)
		o.names = append(o.names, name+"·"+g.Name)
	}
	renumber(body, func(slot int) int { return base + slot })
	if !keepReturns {
		body, _, _ = lowerReturns(body, site)
	}
	var out []ir.Stmt
	for i, a := range call.Args {
		out = append(out, &ir.Assign{Dst: &ir.Local{Slot: base + i, T: g.Locals[i]}, X: a})
	}
	for i := len(g.Params); i < len(g.Locals); i++ {
		if !defFirst(body, base+i) {
			out = append(out, &ir.Assign{Dst: &ir.Local{Slot: base + i, T: g.Locals[i]}, X: zeroOf(g.Locals[i])})
		}
	}
	return append(out, body...), true
}

func zeroOf(t *ir.Type) ir.Expr {
	if t.IsScalar() {
		return &ir.Const{T: t}
	}
	return &ir.Zero{T: t}
}

// lowerReturns rewrites the returns of ss into site(x) (nil: dropped).
// ok is false if some return is not at the end of a path; term reports
// that every path through ss ended in a return.
func lowerReturns(ss []ir.Stmt, site func(ir.Expr) ir.Stmt) (out []ir.Stmt, ok, term bool) {
	for i, s := range ss {
		switch x := s.(type) {
		case *ir.Return:
			if a := site(x.X); a != nil {
				out = append(out, a)
			}
			return out, true, true
		case *ir.Loop:
			if hasReturn(x.Body) || hasReturn(x.Post) {
				return nil, false, false
			}
		case *ir.If:
			if !hasReturn(x.Then) && !hasReturn(x.Else) {
				break
			}
			th, ok1, t1 := lowerReturns(x.Then, site)
			el, ok2, t2 := lowerReturns(x.Else, site)
			if !ok1 || !ok2 || (!t1 && hasReturn(x.Then)) || (!t2 && hasReturn(x.Else)) {
				return nil, false, false
			}
			rest, ok3, t3 := lowerReturns(ss[i+1:], site)
			if !ok3 {
				return nil, false, false
			}
			switch {
			case t1 && t2:
				return append(out, &ir.If{Cond: x.Cond, Then: th, Else: el}), true, true
			case t1:
				return append(out, &ir.If{Cond: x.Cond, Then: th, Else: append(el, rest...)}), true, t3
			default: // t2
				return append(out, &ir.If{Cond: x.Cond, Then: append(th, rest...), Else: el}), true, t3
			}
		}
		out = append(out, s)
	}
	return out, true, false
}

func hasReturn(ss []ir.Stmt) bool {
	for _, s := range ss {
		switch x := s.(type) {
		case *ir.Return:
			return true
		case *ir.If:
			if hasReturn(x.Then) || hasReturn(x.Else) {
				return true
			}
		case *ir.Loop:
			if hasReturn(x.Body) || hasReturn(x.Post) {
				return true
			}
		}
	}
	return false
}

// renumber maps every local slot in ss (reads and destinations).
func renumber(ss []ir.Stmt, m func(int) int) {
	walkExprs(ss, func(e ir.Expr) {
		if l, ok := e.(*ir.Local); ok {
			l.Slot = m(l.Slot)
		}
	})
}

// walkExprs calls f on every expression node of ss.
func walkExprs(ss []ir.Stmt, f func(ir.Expr)) {
	var ex func(e ir.Expr)
	ex = func(e ir.Expr) {
		if e == nil {
			return
		}
		f(e)
		forChildren(e, func(c *ir.Expr) { ex(*c) })
	}
	for _, s := range ss {
		switch x := s.(type) {
		case *ir.Assign:
			ex(x.Dst)
			ex(x.X)
		case *ir.Eval:
			ex(x.X)
		case *ir.Return:
			ex(x.X)
		case *ir.If:
			ex(x.Cond)
			walkExprs(x.Then, f)
			walkExprs(x.Else, f)
		case *ir.Loop:
			ex(x.Cond)
			walkExprs(x.Body, f)
			walkExprs(x.Post, f)
		}
	}
}

// defFirst reports whether the first top-level statement of ss that
// mentions slot is a plain assignment to it that does not read it (so
// the slot's previous value is never observed).
func defFirst(ss []ir.Stmt, slot int) bool {
	for _, s := range ss {
		if !mentions(s, slot) {
			continue
		}
		a, ok := s.(*ir.Assign)
		if !ok || a.Op != 0 {
			return false
		}
		l, ok := a.Dst.(*ir.Local)
		if !ok || l.Slot != slot {
			return false
		}
		set := map[int]bool{}
		localsOf(a.X, set)
		return !set[slot]
	}
	return true
}

func mentions(s ir.Stmt, slot int) bool {
	set := map[int]bool{}
	var st func(ss []ir.Stmt)
	st = func(ss []ir.Stmt) {
		for _, s := range ss {
			switch x := s.(type) {
			case *ir.Assign:
				localsOf(x.Dst, set)
				localsOf(x.X, set)
			case *ir.Eval:
				localsOf(x.X, set)
			case *ir.Return:
				localsOf(x.X, set)
			case *ir.If:
				localsOf(x.Cond, set)
				st(x.Then)
				st(x.Else)
			case *ir.Loop:
				localsOf(x.Cond, set)
				st(x.Body)
				st(x.Post)
			}
		}
	}
	st([]ir.Stmt{s})
	return set[slot]
}

// stmtsSize counts statement and expression nodes.
func stmtsSize(ss []ir.Stmt) int {
	n := 0
	for _, s := range ss {
		n++
		switch x := s.(type) {
		case *ir.Assign:
			n += exprSize(x.Dst) + exprSize(x.X)
		case *ir.Eval:
			n += exprSize(x.X)
		case *ir.Return:
			n += exprSize(x.X)
		case *ir.If:
			n += exprSize(x.Cond) + stmtsSize(x.Then) + stmtsSize(x.Else)
		case *ir.Loop:
			n += exprSize(x.Cond) + stmtsSize(x.Body) + stmtsSize(x.Post)
		}
	}
	return n
}

// terminates reports whether every path through ss ends in a return
// (structurally: a final return, or a final if whose branches both
// terminate).
func terminates(ss []ir.Stmt) bool {
	if len(ss) == 0 {
		return false
	}
	switch x := ss[len(ss)-1].(type) {
	case *ir.Return:
		return true
	case *ir.If:
		return terminates(x.Then) && terminates(x.Else)
	}
	return false
}

func arrayElems(t *ir.Type) int64 {
	if t.Kind == ir.Array {
		return t.Len * arrayElems(t.Elem)
	}
	return 1
}
