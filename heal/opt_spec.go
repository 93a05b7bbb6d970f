package heal

import (
	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
)

// specMinCalls is how many recorded calls must agree on a parameter's
// value before the function is specialized for it.
const specMinCalls = 4

// specialize is profile-guided specialization: each integer or bool
// parameter that had the same value C in every recorded call (at least
// specMinCalls of them) is tested on entry, and the body becomes
//
//	if p == C && q == D { <clone of the body> } else { <body> }
//
// constprop then knows p == C inside the clone (see guardFacts), and
// fold, dce and unroll specialize it. The else branch is the general
// version, so every other input gets exactly the old behaviour; the
// guard itself only reads parameters and cannot fail. Floats are never
// specialized (0.0 == -0.0 would let the clone see the wrong zero).
func (o *optimizer) specialize(body []ir.Stmt) ([]ir.Stmt, bool) {
	args := o.prof.Args
	if len(args) < specMinCalls || isGuard(body) {
		return body, false
	}
	var cond ir.Expr
	for i, t := range o.f.Params {
		if !t.IsScalar() || t.Kind == ir.Float64 {
			continue
		}
		v, same := constArg(args, i, t)
		if !same || !readsLocal(body, i) {
			continue
		}
		eq := &ir.Binary{Op: ir.OpEq, X: &ir.Local{Slot: i, T: t}, Y: &ir.Const{T: t, Bits: v}, T: ir.TBool}
		if cond == nil {
			cond = eq
		} else {
			cond = &ir.Binary{Op: ir.OpLAnd, X: cond, Y: eq, T: ir.TBool}
		}
	}
	if cond == nil {
		return body, false
	}
	return []ir.Stmt{&ir.If{Cond: cond, Then: cloneStmts(body), Else: body}}, true
}

// constArg reports whether argument i had one value in every tuple.
func constArg(args [][]interp.Value, i int, t *ir.Type) (uint64, bool) {
	var v uint64
	for k, a := range args {
		if i >= len(a) {
			return 0, false
		}
		x, ok := a[i].(uint64)
		if !ok {
			return 0, false
		}
		x = ir.Normalize(t, x)
		if k == 0 {
			v = x
		} else if x != v {
			return 0, false
		}
	}
	return v, true
}

func readsLocal(ss []ir.Stmt, slot int) bool {
	for _, s := range ss {
		if mentions(s, slot) {
			return true
		}
	}
	return false
}

// isGuard reports whether body already is a specialization (one if on
// parameter == constant tests): specializing it again would only nest
// the same test.
func isGuard(body []ir.Stmt) bool {
	if len(body) != 1 {
		return false
	}
	x, ok := body[0].(*ir.If)
	if !ok {
		return false
	}
	var eqs func(e ir.Expr) bool
	eqs = func(e ir.Expr) bool {
		b, ok := e.(*ir.Binary)
		if !ok {
			return false
		}
		if b.Op == ir.OpLAnd {
			return eqs(b.X) && eqs(b.Y)
		}
		_, ok1 := b.X.(*ir.Local)
		_, ok2 := b.Y.(*ir.Const)
		return b.Op == ir.OpEq && ok1 && ok2
	}
	return eqs(x.Cond)
}
