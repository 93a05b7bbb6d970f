package heal

import "github.com/velocityos/velocity/lang/ir"

// constprop is constant and copy propagation over the statement tree. It
// tracks, at each point, the scalar locals whose value is a known
// constant, and the locals that hold a copy of another local:
//
//   - at entry every non-parameter scalar local is zero (the interpreter
//     and the JIT both zero a frame before the body runs);
//   - x = C makes x known, x = y (scalars or slices) makes x a copy of y
//     until either is assigned again; any other assignment to x forgets
//     what was known about x and about copies of x;
//   - inside `if x == C && ...` (integers and bools, where == is identity
//     of the bits) x is C in the then-branch: this is how a specialized
//     clone learns its parameter's value;
//   - a loop forgets every local it assigns anywhere (body or post) before
//     its condition and body are looked at, so what is left holds on every
//     iteration; after an if, what either branch assigns is forgotten.
//
// Reads of known locals become constants (fold then does the rest) or the
// local they copy (dce then drops the copy, which inlining produces for
// every parameter), and
// x op= e with x known becomes x = C op e, which is the same operation on
// the same values (the location of a local is its slot, so nothing is
// evaluated in a different order).
func (o *optimizer) constprop(body []ir.Stmt) ([]ir.Stmt, bool) {
	facts := map[int]ir.Expr{}
	for i := len(o.f.Params); i < len(o.locals); i++ {
		if t := o.locals[i]; t.IsScalar() {
			facts[i] = &ir.Const{T: t, Bits: 0}
		}
	}
	changed := false
	subst := func(e ir.Expr, facts map[int]ir.Expr) ir.Expr {
		return substLocals(e, func(l *ir.Local) ir.Expr {
			if v, ok := facts[l.Slot]; ok {
				changed = true
				return cloneExpr(v)
			}
			return nil
		})
	}
	var block func(ss []ir.Stmt, facts map[int]ir.Expr)
	block = func(ss []ir.Stmt, facts map[int]ir.Expr) {
		for _, s := range ss {
			switch s := s.(type) {
			case *ir.Assign:
				s.X = subst(s.X, facts)
				l, ok := s.Dst.(*ir.Local)
				if !ok {
					s.Dst = substIndexParts(s.Dst, func(e ir.Expr) ir.Expr { return subst(e, facts) })
					// An element of a copied slice is an element of the original.
					if ix, ok := s.Dst.(*ir.Index); ok {
						if b, ok := ix.X.(*ir.Local); ok && b.T.Kind == ir.Slice {
							if v, ok := facts[b.Slot].(*ir.Local); ok {
								ix.X = &ir.Local{Slot: v.Slot, T: v.T}
								changed = true
							}
						}
					}
					continue
				}
				if c, ok := facts[l.Slot].(*ir.Const); ok && s.Op != 0 {
					s.X = &ir.Binary{Op: s.Op, X: &ir.Const{T: c.T, Bits: c.Bits}, Y: s.X, T: l.T}
					s.Op = 0
					changed = true
				}
				forget(facts, l.Slot)
				switch v := s.X.(type) {
				case *ir.Const:
					if s.Op == 0 && l.T.IsScalar() {
						facts[l.Slot] = &ir.Const{T: l.T, Bits: v.Bits}
					}
				case *ir.Local:
					// A copy x = y of a scalar or a slice (a slice value is
					// its header: both name the same elements).
					if s.Op == 0 && v.Slot != l.Slot && (l.T.IsScalar() || l.T.Kind == ir.Slice) {
						facts[l.Slot] = &ir.Local{Slot: v.Slot, T: v.T}
					}
				}
			case *ir.Eval:
				s.X = subst(s.X, facts)
			case *ir.Return:
				s.X = subst(s.X, facts)
			case *ir.If:
				s.Cond = subst(s.Cond, facts)
				th := copyFacts(facts)
				guardFacts(s.Cond, th)
				block(s.Then, th)
				block(s.Else, copyFacts(facts))
				kill := map[int]bool{}
				assigned(s.Then, kill)
				assigned(s.Else, kill)
				for k := range kill {
					forget(facts, k)
				}
			case *ir.Loop:
				kill := map[int]bool{}
				assigned(s.Body, kill)
				assigned(s.Post, kill)
				for k := range kill {
					forget(facts, k)
				}
				s.Cond = subst(s.Cond, facts)
				block(s.Body, copyFacts(facts))
				block(s.Post, copyFacts(facts))
			default:
				return // break, continue: the rest of the block is dead
			}
		}
	}
	block(body, facts)
	return body, changed
}

// forget drops what is known about slot and every copy of it.
func forget(facts map[int]ir.Expr, slot int) {
	delete(facts, slot)
	for k, v := range facts {
		if l, ok := v.(*ir.Local); ok && l.Slot == slot {
			delete(facts, k)
		}
	}
}

func copyFacts(f map[int]ir.Expr) map[int]ir.Expr {
	c := make(map[int]ir.Expr, len(f))
	for k, v := range f {
		c[k] = v
	}
	return c
}

// guardFacts adds the facts `local == const` that cond (a conjunction)
// guarantees when it is true. Floats are left out: 0.0 == -0.0.
func guardFacts(cond ir.Expr, facts map[int]ir.Expr) {
	b, ok := cond.(*ir.Binary)
	if !ok {
		return
	}
	switch b.Op {
	case ir.OpLAnd:
		guardFacts(b.X, facts)
		guardFacts(b.Y, facts)
	case ir.OpEq:
		l, ok1 := b.X.(*ir.Local)
		c, ok2 := b.Y.(*ir.Const)
		if ok1 && ok2 && l.T.IsScalar() && l.T.Kind != ir.Float64 {
			facts[l.Slot] = &ir.Const{T: l.T, Bits: ir.Normalize(l.T, c.Bits)}
		}
	}
}

// substLocals rewrites the local reads in e (never an assignment's
// destination: callers pass expressions only) for which r returns a
// replacement.
func substLocals(e ir.Expr, r func(*ir.Local) ir.Expr) ir.Expr {
	var ex func(e ir.Expr) ir.Expr
	ex = func(e ir.Expr) ir.Expr {
		switch x := e.(type) {
		case nil:
			return nil
		case *ir.Local:
			if n := r(x); n != nil {
				return n
			}
		default:
			forChildren(e, func(p *ir.Expr) { *p = ex(*p) })
		}
		return e
	}
	return ex(e)
}

// substIndexParts applies r to the index expressions of an element
// destination (a[i][j]: i and j), leaving the array or slice local alone.
func substIndexParts(dst ir.Expr, r func(ir.Expr) ir.Expr) ir.Expr {
	if x, ok := dst.(*ir.Index); ok {
		x.X = substIndexParts(x.X, r)
		x.I = r(x.I)
		return x
	}
	if _, ok := dst.(*ir.Local); ok {
		return dst
	}
	return r(dst)
}
