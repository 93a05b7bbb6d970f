package heal

import (
	"fmt"
	"strings"

	"github.com/velocityos/velocity/lang/ir"
)

// cse is common-subexpression elimination in straight-line code. A region
// is a run of statements of one block up to the next if or loop (an if's
// condition is the region's last occurrence; a loop's condition, being
// evaluated again on every iteration, is in no region). Within a region,
// an operator subtree that can neither trap nor call (safe) and appears
// at least twice, with no assignment to any local it reads in between, is
// computed once into a new local just before the statement of its first
// occurrence, and every occurrence reads that local.
//
// Why this is exact: a safe expression reads only locals and constants
// (never an element, which a call could change), a statement cannot
// change a local before its right-hand side is evaluated (a call cannot
// assign its caller's locals), and the expression cannot fail, so
// computing it at the start of the statement instead of where it was,
// even when it was on the unevaluated side of && or ||, gives the same
// value and has no other effect.
func (o *optimizer) cse(body []ir.Stmt) ([]ir.Stmt, bool) {
	changed := false
	var block func(ss []ir.Stmt) []ir.Stmt
	block = func(ss []ir.Stmt) []ir.Stmt {
		for _, s := range ss {
			switch x := s.(type) {
			case *ir.If:
				x.Then, x.Else = block(x.Then), block(x.Else)
			case *ir.Loop:
				x.Body, x.Post = block(x.Body), block(x.Post)
			}
		}
		for iter := 0; iter < 64; iter++ {
			ns, ok := o.cseOnce(ss)
			if !ok {
				break
			}
			ss, changed = ns, true
		}
		return ss
	}
	return block(body), changed
}

type cseOcc struct {
	stmt int
	slot *ir.Expr
}

type cseGroup struct {
	occs  []cseOcc
	size  int
	reads map[int]bool
	first int // order of discovery, for a deterministic choice
}

// cseOnce replaces the largest repeated safe subtree of one region of ss.
func (o *optimizer) cseOnce(ss []ir.Stmt) ([]ir.Stmt, bool) {
	live := map[string]*cseGroup{}
	var best *cseGroup
	order := 0
	finish := func(g *cseGroup) {
		if len(g.occs) >= 2 && (best == nil || g.size > best.size || g.size == best.size && g.first < best.first) {
			best = g
		}
	}
	flush := func() {
		for k, g := range live {
			finish(g)
			delete(live, k)
		}
	}
	var visit func(i int, p *ir.Expr)
	visit = func(i int, p *ir.Expr) {
		e := *p
		if e == nil {
			return
		}
		if cseCandidate(e) {
			k := exprKey(e)
			g := live[k]
			if g == nil {
				g = &cseGroup{size: exprSize(e), reads: map[int]bool{}, first: order}
				order++
				localsOf(e, g.reads)
				live[k] = g
			}
			g.occs = append(g.occs, cseOcc{i, p})
		}
		forChildren(e, func(c *ir.Expr) { visit(i, c) })
	}
	for i, s := range ss {
		switch x := s.(type) {
		case *ir.Assign:
			if _, ok := x.Dst.(*ir.Local); !ok {
				forIndexParts(x.Dst, func(c *ir.Expr) { visit(i, c) })
			}
			visit(i, &x.X)
			if l, ok := x.Dst.(*ir.Local); ok {
				for k, g := range live {
					if g.reads[l.Slot] {
						finish(g)
						delete(live, k)
					}
				}
			}
		case *ir.Eval:
			visit(i, &x.X)
		case *ir.Return:
			visit(i, &x.X)
			flush()
		case *ir.If:
			visit(i, &x.Cond)
			flush()
		default:
			flush()
		}
	}
	flush()
	if best == nil {
		return ss, false
	}
	e := *best.occs[0].slot
	t := o.newLocal(e.Type(), "cse")
	def := &ir.Assign{Dst: &ir.Local{Slot: t.Slot, T: t.T}, X: cloneExpr(e)}
	for _, oc := range best.occs {
		*oc.slot = &ir.Local{Slot: t.Slot, T: t.T}
	}
	at := best.occs[0].stmt
	out := make([]ir.Stmt, 0, len(ss)+1)
	out = append(out, ss[:at]...)
	out = append(out, def)
	out = append(out, ss[at:]...)
	return out, true
}

// cseCandidate: an operator subtree worth a local (at least three nodes,
// so x+1 qualifies but int64(x) does not) that is safe.
func cseCandidate(e ir.Expr) bool {
	switch e.(type) {
	case *ir.Unary, *ir.Binary, *ir.Convert:
	default:
		return false
	}
	if exprSize(e) < 3 || !safe(e) {
		return false
	}
	arr := false
	localsOfFn(e, func(l *ir.Local) {
		if l.T.Kind == ir.Array {
			arr = true
		}
	})
	return !arr
}

// forChildren calls f with a pointer to each direct operand of e.
func forChildren(e ir.Expr, f func(*ir.Expr)) {
	switch x := e.(type) {
	case *ir.Unary:
		f(&x.X)
	case *ir.Binary:
		f(&x.X)
		f(&x.Y)
	case *ir.Convert:
		f(&x.X)
	case *ir.Call:
		for i := range x.Args {
			f(&x.Args[i])
		}
	case *ir.Index:
		f(&x.X)
		f(&x.I)
	case *ir.SliceOf:
		f(&x.X)
		if x.Lo != nil {
			f(&x.Lo)
		}
		if x.Hi != nil {
			f(&x.Hi)
		}
	case *ir.Len:
		f(&x.X)
	case *ir.Make:
		f(&x.N)
	case *ir.Composite:
		for i := range x.Elems {
			f(&x.Elems[i])
		}
	}
}

// forIndexParts calls f with the index operands of an element destination.
func forIndexParts(dst ir.Expr, f func(*ir.Expr)) {
	if x, ok := dst.(*ir.Index); ok {
		forIndexParts(x.X, f)
		f(&x.I)
	}
}

func localsOfFn(e ir.Expr, f func(*ir.Local)) {
	if l, ok := e.(*ir.Local); ok {
		f(l)
		return
	}
	if e == nil {
		return
	}
	forChildren(e, func(c *ir.Expr) { localsOfFn(*c, f) })
}

func localsOf(e ir.Expr, set map[int]bool) {
	localsOfFn(e, func(l *ir.Local) { set[l.Slot] = true })
}

// exprSize counts the nodes of e.
func exprSize(e ir.Expr) int {
	if e == nil {
		return 0
	}
	n := 1
	forChildren(e, func(c *ir.Expr) { n += exprSize(*c) })
	return n
}

// exprKey is a structural key: equal keys mean the same computation.
func exprKey(e ir.Expr) string {
	var b strings.Builder
	var w func(e ir.Expr)
	w = func(e ir.Expr) {
		switch x := e.(type) {
		case nil:
			b.WriteString("_")
		case *ir.Const:
			fmt.Fprintf(&b, "c%s:%d", x.T, x.Bits)
		case *ir.Zero:
			fmt.Fprintf(&b, "z%s", x.T)
		case *ir.Local:
			fmt.Fprintf(&b, "l%d", x.Slot)
		case *ir.Unary:
			fmt.Fprintf(&b, "u%d%s(", x.Op, x.T)
			w(x.X)
			b.WriteString(")")
		case *ir.Binary:
			fmt.Fprintf(&b, "b%d%s(", x.Op, x.T)
			w(x.X)
			b.WriteString(",")
			w(x.Y)
			b.WriteString(")")
		case *ir.Convert:
			fmt.Fprintf(&b, "v%s(", x.T)
			w(x.X)
			b.WriteString(")")
		case *ir.Len:
			b.WriteString("len(")
			w(x.X)
			b.WriteString(")")
		default:
			fmt.Fprintf(&b, "?%p", e) // never equal: not a candidate anyway
		}
	}
	w(e)
	return b.String()
}
