package heal

import (
	"fmt"
	"math/bits"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
)

// Optimize returns a rewritten copy of f (never mutating f) and the passes
// that changed something, in order. It returns nil if nothing changed.
// It is OptimizeWith without a profile: no specialization, and loops are
// unrolled only when their trip count is a constant.
func Optimize(f *ir.Func) (*ir.Func, []string) { return OptimizeWith(f, nil) }

// Profile is what the healer observed of a function: the argument tuples
// of recent calls (a slot's ring). Specialization and the unroll factor
// are chosen from it; correctness never depends on it (a specialized
// body sits behind a guard, and an unrolled loop keeps a remainder loop).
type Profile struct {
	Args [][]interp.Value
	// Unroll, if > 1, forces the partial unroll factor of every loop that
	// can be unrolled, even where it would be unrolled completely (tests
	// use it to exercise the main and remainder loops).
	Unroll int
	// TripFuel bounds the interpreter runs that measure trip counts, per
	// recorded input (default 300,000).
	TripFuel int64
}

// OptimizeWith returns a rewritten copy of f (never mutating f) and the
// passes that changed something, in order (nil if nothing changed).
// The pipeline:
//
//  1. inline: calls of small non-recursive module functions whose value
//     is used as a whole statement (x = g(..), x op= g(..), g(..),
//     return g(..), if g(..) ...) are replaced by the callee's body;
//  2. specialize (with a profile): parameters that had the same value in
//     every recorded call get a guarded clone of the body;
//  3. to a fixed point: constprop, fold, algebra, strength, dce, cse, licm;
//  4. unroll: counted loops, fully when the trip count is a small
//     constant, else by a factor chosen from the trip counts measured on
//     the recorded inputs, with a remainder loop;
//  5. the fixed point of step 3 again.
//
// The passes:
//
//   - fold: constant folding of unary, binary and conversion operators
//     whose operands are constants (operations that would trap are left
//     alone, so the trap still happens at run time);
//   - algebra: x+0, x-0, x*1, x/1, x|0, x^0, x<<0, x>>0, x&^0 → x on
//     integers;
//   - strength: x*2^k → x<<k (int64, uint64), x/2^k → x>>k and
//     x%2^k → x&(2^k-1) (uint64);
//   - dce: statements after return/break/continue, if with a constant
//     condition, loops whose condition is constant false, assignments to
//     locals that are never read (other than by their own assignments)
//     whose value cannot trap or call, and counted loops with an empty
//     body whose counter is read nowhere else;
//   - licm: loop-invariant code motion: an operator subtree inside a loop
//     that reads only locals the loop never assigns, and can neither trap
//     nor call, is computed once into a new local before the loop;
//   - constprop, cse, inline, specialize, unroll: see their files.
//
// The result is a new function with the same signature; the caller must
// hash it (merkle) to give it a CID, and validate it before use.
func OptimizeWith(f *ir.Func, prof *Profile) (*ir.Func, []string) {
	o := &optimizer{
		f:      f,
		body:   cloneStmts(f.Body),
		locals: append([]*ir.Type(nil), f.Locals...),
		names:  append([]string(nil), f.LocalNames...),
		seen:   map[string]bool{},
		prof:   prof,
	}
	o.run("inline", func(b []ir.Stmt) ([]ir.Stmt, bool) { return o.inline(b) })
	if prof != nil {
		o.run("specialize", func(b []ir.Stmt) ([]ir.Stmt, bool) { return o.specialize(b) })
	}
	o.fixpoint()
	o.run("unroll", func(b []ir.Stmt) ([]ir.Stmt, bool) { return o.unroll(b) })
	o.fixpoint()
	if len(o.passes) == 0 {
		return nil, nil
	}
	nf := *f
	nf.Body = o.body
	nf.Locals, nf.LocalNames = o.locals, o.names
	nf.CID = ir.Func{}.CID
	return &nf, o.passes
}

// optimizer is the state of one OptimizeWith: the body being rewritten
// (a clone), the locals (passes may add some) and the passes that changed
// something.
type optimizer struct {
	f      *ir.Func // the original (read only)
	body   []ir.Stmt
	locals []*ir.Type
	names  []string
	passes []string
	seen   map[string]bool
	prof   *Profile
}

// run applies one pass and records its name if it changed something.
func (o *optimizer) run(name string, p func([]ir.Stmt) ([]ir.Stmt, bool)) bool {
	nb, ok := p(o.body)
	if !ok {
		return false
	}
	o.body = nb
	if !o.seen[name] {
		o.seen[name] = true
		o.passes = append(o.passes, name)
	}
	return true
}

// newLocal adds a local slot of type t.
func (o *optimizer) newLocal(t *ir.Type, prefix string) *ir.Local {
	slot := len(o.locals)
	o.locals = append(o.locals, t)
	o.names = append(o.names, fmt.Sprintf("%s%d", prefix, slot))
	return &ir.Local{Slot: slot, T: t}
}

// fixpoint repeats the scalar passes until none changes anything (at
// most 12 rounds).
func (o *optimizer) fixpoint() {
	for round := 0; round < 12; round++ {
		changed := false
		for _, p := range []struct {
			name string
			run  func([]ir.Stmt) ([]ir.Stmt, bool)
		}{
			{"constprop", func(b []ir.Stmt) ([]ir.Stmt, bool) { return o.constprop(b) }},
			{"fold", func(b []ir.Stmt) ([]ir.Stmt, bool) { return rewriteExprs(b, fold) }},
			{"algebra", func(b []ir.Stmt) ([]ir.Stmt, bool) { return rewriteExprs(b, algebra) }},
			{"strength", func(b []ir.Stmt) ([]ir.Stmt, bool) { return rewriteExprs(b, strength) }},
			{"dce", func(b []ir.Stmt) ([]ir.Stmt, bool) { return dce(b, len(o.locals)) }},
			{"cse", func(b []ir.Stmt) ([]ir.Stmt, bool) { return o.cse(b) }},
			{"licm", func(b []ir.Stmt) ([]ir.Stmt, bool) { return licm(b, &o.locals, &o.names) }},
		} {
			if o.run(p.name, p.run) {
				changed = true
			}
		}
		if !changed {
			break
		}
	}
}

// ---- cloning ----

func cloneStmts(ss []ir.Stmt) []ir.Stmt {
	if ss == nil {
		return nil
	}
	out := make([]ir.Stmt, len(ss))
	for i, s := range ss {
		out[i] = cloneStmt(s)
	}
	return out
}

func cloneStmt(s ir.Stmt) ir.Stmt {
	switch s := s.(type) {
	case *ir.Assign:
		return &ir.Assign{Dst: cloneExpr(s.Dst), Op: s.Op, X: cloneExpr(s.X)}
	case *ir.Eval:
		return &ir.Eval{X: cloneExpr(s.X)}
	case *ir.If:
		return &ir.If{Cond: cloneExpr(s.Cond), Then: cloneStmts(s.Then), Else: cloneStmts(s.Else)}
	case *ir.Loop:
		return &ir.Loop{Cond: cloneExpr(s.Cond), Body: cloneStmts(s.Body), Post: cloneStmts(s.Post)}
	case *ir.Return:
		return &ir.Return{X: cloneExpr(s.X)}
	}
	return s // Break, Continue
}

func cloneExprs(es []ir.Expr) []ir.Expr {
	if es == nil {
		return nil
	}
	out := make([]ir.Expr, len(es))
	for i, e := range es {
		out[i] = cloneExpr(e)
	}
	return out
}

func cloneExpr(e ir.Expr) ir.Expr {
	switch e := e.(type) {
	case nil:
		return nil
	case *ir.Const:
		c := *e
		return &c
	case *ir.Zero:
		c := *e
		return &c
	case *ir.Local:
		c := *e
		return &c
	case *ir.Unary:
		return &ir.Unary{Op: e.Op, X: cloneExpr(e.X), T: e.T}
	case *ir.Binary:
		return &ir.Binary{Op: e.Op, X: cloneExpr(e.X), Y: cloneExpr(e.Y), T: e.T}
	case *ir.Convert:
		return &ir.Convert{X: cloneExpr(e.X), T: e.T}
	case *ir.Call:
		return &ir.Call{Target: e.Target, Args: cloneExprs(e.Args), T: e.T}
	case *ir.Index:
		return &ir.Index{X: cloneExpr(e.X), I: cloneExpr(e.I), T: e.T}
	case *ir.SliceOf:
		return &ir.SliceOf{X: cloneExpr(e.X), Lo: cloneExpr(e.Lo), Hi: cloneExpr(e.Hi), T: e.T}
	case *ir.Len:
		return &ir.Len{X: cloneExpr(e.X)}
	case *ir.Make:
		return &ir.Make{T: e.T, N: cloneExpr(e.N)}
	case *ir.Composite:
		return &ir.Composite{T: e.T, Elems: cloneExprs(e.Elems)}
	}
	panic("heal: unknown expression")
}

// ---- expression rewriting (bottom-up, in place on the clone) ----

type rewriter func(ir.Expr) (ir.Expr, bool)

func rewriteExprs(ss []ir.Stmt, r rewriter) ([]ir.Stmt, bool) {
	changed := false
	var ex func(e ir.Expr) ir.Expr
	ex = func(e ir.Expr) ir.Expr {
		if e == nil {
			return nil
		}
		forChildren(e, func(p *ir.Expr) { *p = ex(*p) })
		if n, ok := r(e); ok {
			changed = true
			return n
		}
		return e
	}
	var st func(ss []ir.Stmt)
	st = func(ss []ir.Stmt) {
		for _, s := range ss {
			switch s := s.(type) {
			case *ir.Assign:
				s.Dst, s.X = ex(s.Dst), ex(s.X)
			case *ir.Eval:
				s.X = ex(s.X)
			case *ir.If:
				s.Cond = ex(s.Cond)
				st(s.Then)
				st(s.Else)
			case *ir.Loop:
				s.Cond = ex(s.Cond)
				st(s.Body)
				st(s.Post)
			case *ir.Return:
				s.X = ex(s.X)
			}
		}
	}
	st(ss)
	return ss, changed
}

func constOf(e ir.Expr) (*ir.Const, bool) {
	c, ok := e.(*ir.Const)
	return c, ok
}

func fold(e ir.Expr) (ir.Expr, bool) {
	switch x := e.(type) {
	case *ir.Unary:
		if c, ok := constOf(x.X); ok {
			if v, err := ir.EvalUnary(x.Op, c.T, c.Bits); err == nil {
				return &ir.Const{T: x.T, Bits: ir.Normalize(x.T, v)}, true
			}
		}
	case *ir.Binary:
		a, ok1 := constOf(x.X)
		b, ok2 := constOf(x.Y)
		if !ok1 || !ok2 {
			return nil, false
		}
		switch x.Op {
		case ir.OpLAnd:
			return &ir.Const{T: x.T, Bits: a.Bits & b.Bits & 1}, true
		case ir.OpLOr:
			return &ir.Const{T: x.T, Bits: (a.Bits | b.Bits) & 1}, true
		}
		if v, err := ir.EvalBinary(x.Op, a.T, b.T, a.Bits, b.Bits); err == nil {
			return &ir.Const{T: x.T, Bits: ir.Normalize(x.T, v)}, true
		}
	case *ir.Convert:
		if c, ok := constOf(x.X); ok {
			if v, err := ir.EvalConvert(c.T, x.T, c.Bits); err == nil {
				return &ir.Const{T: x.T, Bits: v}, true
			}
		}
	}
	return nil, false
}

func isInt(t *ir.Type) bool { return t.Kind == ir.Int64 || t.Kind == ir.Uint64 }

func algebra(e ir.Expr) (ir.Expr, bool) {
	x, ok := e.(*ir.Binary)
	if !ok || !isInt(x.T) {
		return nil, false
	}
	c, ok := constOf(x.Y)
	if !ok {
		return nil, false
	}
	switch {
	case c.Bits == 0 && (x.Op == ir.OpAdd || x.Op == ir.OpSub || x.Op == ir.OpOr || x.Op == ir.OpXor ||
		x.Op == ir.OpShl || x.Op == ir.OpShr || x.Op == ir.OpAndNot):
		return x.X, true
	case c.Bits == 1 && (x.Op == ir.OpMul || x.Op == ir.OpDiv):
		return x.X, true
	}
	return nil, false
}

func strength(e ir.Expr) (ir.Expr, bool) {
	x, ok := e.(*ir.Binary)
	if !ok || !isInt(x.T) {
		return nil, false
	}
	c, ok := constOf(x.Y)
	if !ok || c.Bits < 2 || c.Bits&(c.Bits-1) != 0 {
		return nil, false
	}
	k := uint64(bits.TrailingZeros64(c.Bits))
	sh := &ir.Const{T: ir.TUint64, Bits: k}
	switch {
	case x.Op == ir.OpMul:
		return &ir.Binary{Op: ir.OpShl, X: x.X, Y: sh, T: x.T}, true
	case x.Op == ir.OpDiv && x.T.Kind == ir.Uint64:
		return &ir.Binary{Op: ir.OpShr, X: x.X, Y: sh, T: x.T}, true
	case x.Op == ir.OpRem && x.T.Kind == ir.Uint64:
		return &ir.Binary{Op: ir.OpAnd, X: x.X, Y: &ir.Const{T: x.T, Bits: c.Bits - 1}, T: x.T}, true
	}
	return nil, false
}

// ---- dead code ----

// safe reports whether evaluating e can neither trap nor call: it may
// then be dropped when its value is unused.
func safe(e ir.Expr) bool {
	switch x := e.(type) {
	case *ir.Const, *ir.Local, *ir.Zero:
		return true
	case *ir.Unary:
		return safe(x.X)
	case *ir.Binary:
		switch x.Op {
		case ir.OpDiv, ir.OpRem:
			return false
		case ir.OpShl, ir.OpShr:
			if x.Y.Type().Kind == ir.Int64 {
				return false
			}
		}
		return safe(x.X) && safe(x.Y)
	case *ir.Convert:
		return x.X.Type().Kind != ir.Float64 && safe(x.X)
	case *ir.Len:
		return safe(x.X)
	}
	return false
}

// reads counts, per slot, the reads of each local outside assignments to
// that same local.
func reads(ss []ir.Stmt, n int) []int {
	cnt := make([]int, n)
	var ex func(e ir.Expr, self int)
	ex = func(e ir.Expr, self int) {
		switch x := e.(type) {
		case *ir.Local:
			if x.Slot != self && x.Slot < n {
				cnt[x.Slot]++
			}
		case *ir.Unary:
			ex(x.X, self)
		case *ir.Binary:
			ex(x.X, self)
			ex(x.Y, self)
		case *ir.Convert:
			ex(x.X, self)
		case *ir.Call:
			for _, a := range x.Args {
				ex(a, self)
			}
		case *ir.Index:
			ex(x.X, self)
			ex(x.I, self)
		case *ir.SliceOf:
			ex(x.X, self)
			if x.Lo != nil {
				ex(x.Lo, self)
			}
			if x.Hi != nil {
				ex(x.Hi, self)
			}
		case *ir.Len:
			ex(x.X, self)
		case *ir.Make:
			ex(x.N, self)
		case *ir.Composite:
			for _, a := range x.Elems {
				ex(a, self)
			}
		}
	}
	var st func(ss []ir.Stmt)
	st = func(ss []ir.Stmt) {
		for _, s := range ss {
			switch s := s.(type) {
			case *ir.Assign:
				if l, ok := s.Dst.(*ir.Local); ok {
					ex(s.X, l.Slot)
				} else {
					ex(s.Dst, -1) // an element store reads the array/slice and index
					ex(s.X, -1)
				}
			case *ir.Eval:
				ex(s.X, -1)
			case *ir.If:
				ex(s.Cond, -1)
				st(s.Then)
				st(s.Else)
			case *ir.Loop:
				if s.Cond != nil {
					ex(s.Cond, -1)
				}
				st(s.Body)
				st(s.Post)
			case *ir.Return:
				if s.X != nil {
					ex(s.X, -1)
				}
			}
		}
	}
	st(ss)
	return cnt
}

// removable reports whether an assignment to a local could be dropped
// if the local were dead: its value can neither trap nor call.
func removable(x *ir.Assign) bool {
	l, ok := x.Dst.(*ir.Local)
	return ok && l.T.Kind != ir.Array && safe(x.X) &&
		(x.Op == 0 || x.Op == ir.OpAdd || x.Op == ir.OpSub || x.Op == ir.OpMul || x.Op == ir.OpAnd ||
			x.Op == ir.OpOr || x.Op == ir.OpXor || x.Op == ir.OpAndNot)
}

// pinned marks locals with an assignment that cannot be dropped: their
// self-reads are real reads (the kept assignment uses the value).
func pinned(ss []ir.Stmt, n int) []bool {
	p := make([]bool, n)
	var st func(ss []ir.Stmt)
	st = func(ss []ir.Stmt) {
		for _, s := range ss {
			switch s := s.(type) {
			case *ir.Assign:
				if l, ok := s.Dst.(*ir.Local); ok && l.Slot < n && !removable(s) {
					p[l.Slot] = true
				}
			case *ir.If:
				st(s.Then)
				st(s.Else)
			case *ir.Loop:
				st(s.Body)
				st(s.Post)
			}
		}
	}
	st(ss)
	return p
}

func dce(body []ir.Stmt, nlocals int) ([]ir.Stmt, bool) {
	changed := false
	cnt := reads(body, nlocals)
	pin := pinned(body, nlocals)
	for i := range cnt {
		if pin[i] && cnt[i] == 0 {
			cnt[i] = 1 // not dead: a kept assignment reads it
		}
	}
	// loopOwned matches a counted loop with an empty body whose counter
	// only its own condition reads: it always terminates and has no effect
	// but fuel.
	loopOwned := func(l *ir.Loop) (slot int, ok bool) {
		if len(l.Body) != 0 || len(l.Post) != 1 || l.Cond == nil {
			return 0, false
		}
		post, ok := l.Post[0].(*ir.Assign)
		if !ok || post.Op != ir.OpAdd {
			return 0, false
		}
		i, ok := post.Dst.(*ir.Local)
		step, ok2 := post.X.(*ir.Const)
		if !ok || !ok2 || i.T.Kind != ir.Int64 || int64(step.Bits) <= 0 {
			return 0, false
		}
		cond, ok := l.Cond.(*ir.Binary)
		if !ok || (cond.Op != ir.OpLt && cond.Op != ir.OpLe) {
			return 0, false
		}
		ci, ok := cond.X.(*ir.Local)
		lim, ok2 := cond.Y.(*ir.Const)
		if !ok || !ok2 || ci.Slot != i.Slot {
			return 0, false
		}
		// No overflow before the condition fails: i+step stays <= MaxInt64
		// while i <= lim.
		if int64(lim.Bits) > (1<<63-1)-int64(step.Bits)-1 {
			return 0, false
		}
		// The counter is read only by this condition.
		if cnt[i.Slot] != 1 {
			return 0, false
		}
		return i.Slot, true
	}
	var block func(ss []ir.Stmt) []ir.Stmt
	block = func(ss []ir.Stmt) []ir.Stmt {
		var out []ir.Stmt
		for idx, s := range ss {
			switch x := s.(type) {
			case *ir.Assign:
				if l, ok := x.Dst.(*ir.Local); ok && l.Slot < nlocals && cnt[l.Slot] == 0 && removable(x) {
					changed = true
					continue
				}
			case *ir.If:
				if c, ok := constOf(x.Cond); ok {
					changed = true
					if c.Bits&1 != 0 {
						out = append(out, block(x.Then)...)
					} else {
						out = append(out, block(x.Else)...)
					}
					continue
				}
				x.Then, x.Else = block(x.Then), block(x.Else)
			case *ir.Loop:
				if c, ok := constOf(x.Cond); ok && c.Bits&1 == 0 {
					changed = true
					continue
				}
				x.Body, x.Post = block(x.Body), block(x.Post)
				if _, ok := loopOwned(x); ok {
					changed = true
					continue
				}
			}
			out = append(out, s)
			switch s.(type) {
			case *ir.Return, *ir.Break, *ir.Continue:
				if idx < len(ss)-1 {
					changed = true
				}
				return out
			}
		}
		return out
	}
	return block(body), changed
}

// ---- loop-invariant code motion ----

// assigned adds to set the locals that ss may change (element stores
// change their array local).
func assigned(ss []ir.Stmt, set map[int]bool) {
	var root func(e ir.Expr)
	root = func(e ir.Expr) {
		switch x := e.(type) {
		case *ir.Local:
			set[x.Slot] = true
		case *ir.Index:
			root(x.X)
		}
	}
	for _, s := range ss {
		switch s := s.(type) {
		case *ir.Assign:
			root(s.Dst)
		case *ir.If:
			assigned(s.Then, set)
			assigned(s.Else, set)
		case *ir.Loop:
			assigned(s.Body, set)
			assigned(s.Post, set)
		}
	}
}

// invariant reports whether e is an operator subtree worth hoisting:
// safe, reading at least one local and none in changed.
func invariant(e ir.Expr, changed map[int]bool) bool {
	switch e.(type) {
	case *ir.Unary, *ir.Binary, *ir.Convert:
	default:
		return false
	}
	if !safe(e) {
		return false
	}
	locals, ok := 0, true
	var walk func(e ir.Expr)
	walk = func(e ir.Expr) {
		switch x := e.(type) {
		case *ir.Local:
			locals++
			if changed[x.Slot] || x.T.Kind == ir.Array {
				ok = false
			}
		case *ir.Unary:
			walk(x.X)
		case *ir.Binary:
			walk(x.X)
			walk(x.Y)
		case *ir.Convert:
			walk(x.X)
		case *ir.Len:
			walk(x.X)
		}
	}
	walk(e)
	return ok && locals > 0
}

func licm(body []ir.Stmt, locals *[]*ir.Type, names *[]string) ([]ir.Stmt, bool) {
	changed := false
	var block func(ss []ir.Stmt) []ir.Stmt
	block = func(ss []ir.Stmt) []ir.Stmt {
		var out []ir.Stmt
		for _, s := range ss {
			switch x := s.(type) {
			case *ir.If:
				x.Then, x.Else = block(x.Then), block(x.Else)
			case *ir.Loop:
				x.Body, x.Post = block(x.Body), block(x.Post)
				set := map[int]bool{}
				assigned(x.Body, set)
				assigned(x.Post, set)
				var pre []ir.Stmt
				hoist := func(e ir.Expr) (ir.Expr, bool) {
					if !invariant(e, set) {
						return nil, false
					}
					slot := len(*locals)
					*locals = append(*locals, e.Type())
					*names = append(*names, fmt.Sprintf("licm%d", slot))
					pre = append(pre, &ir.Assign{Dst: &ir.Local{Slot: slot, T: e.Type()}, X: e})
					return &ir.Local{Slot: slot, T: e.Type()}, true
				}
				if x.Cond != nil {
					if n, ok := hoistTop(x.Cond, hoist); ok {
						x.Cond = n
					}
				}
				hoistStmts(x.Body, hoist)
				hoistStmts(x.Post, hoist)
				if len(pre) > 0 {
					changed = true
					out = append(out, pre...)
				}
			}
			out = append(out, s)
		}
		return out
	}
	return block(body), changed
}

// hoistTop replaces the outermost subtrees of e that h accepts.
func hoistTop(e ir.Expr, h func(ir.Expr) (ir.Expr, bool)) (ir.Expr, bool) {
	if e == nil {
		return nil, false
	}
	if n, ok := h(e); ok {
		return n, true
	}
	any := false
	sub := func(p *ir.Expr) {
		if n, ok := hoistTop(*p, h); ok {
			*p, any = n, true
		}
	}
	// The right operand of && and || is conditional: hoisting from it is
	// still safe (h only accepts what can neither trap nor call) and it is
	// then computed once.
	forChildren(e, sub)
	return e, any
}

// hoistStmts hoists in the expressions of ss, but not in nested loops
// (they were handled first, and their own hoisted values stay inside
// them until a later round moves them further out).
func hoistStmts(ss []ir.Stmt, h func(ir.Expr) (ir.Expr, bool)) {
	for _, s := range ss {
		switch x := s.(type) {
		case *ir.Assign:
			if _, ok := x.Dst.(*ir.Local); !ok {
				if n, ok := hoistTop(x.Dst, h); ok {
					x.Dst = n
				}
			}
			if n, ok := hoistTop(x.X, h); ok {
				x.X = n
			}
		case *ir.Eval:
			if n, ok := hoistTop(x.X, h); ok {
				x.X = n
			}
		case *ir.Return:
			if n, ok := hoistTop(x.X, h); ok {
				x.X = n
			}
		case *ir.If:
			if n, ok := hoistTop(x.Cond, h); ok {
				x.Cond = n
			}
			hoistStmts(x.Then, h)
			hoistStmts(x.Else, h)
		case *ir.Loop:
			// handled by its own licm step
		}
	}
}
