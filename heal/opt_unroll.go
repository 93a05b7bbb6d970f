package heal

import (
	"math"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
)

// Unrolling limits.
const (
	fullUnrollMax   = 16  // a constant trip count up to this is unrolled completely
	fullUnrollNodes = 600 // ... if the copies stay this small
	partUnrollNodes = 400 // a partially unrolled body stays this small
	tripInputs      = 8   // recorded inputs run to measure trip counts
)

// unroll unrolls innermost counted loops
//
//	i = a (optional, just before)
//	for i < B { body } post i += c     (c > 0 a constant; B safe)
//
// whose body assigns neither i nor anything B reads, and has no break or
// continue of its own (return is fine: it leaves the function from any
// copy).
//
// With a and B constant the trip count T is known: T = 0 drops the loop
// (its condition is safe), T ≤ 16 unrolls it completely (T copies of body
// and post; constprop then sees i's value in each copy). Otherwise the
// factor k is chosen from T, or from the trip counts measured by running
// the function in the interpreter on the recorded inputs (counting each
// loop's entries and iterations), and the loop becomes
//
//	lim = B - (k-1)*c             (lim = MinInt64 if that would wrap)
//	for lim > i { body; post; ... body } post   (k copies of body)
//	for i < B { body } post                     (the original: the remainder)
//
// The main loop only starts an iteration when i+(k-1)c < B, where the
// original would run all k iterations (no i+jc can overflow), so both
// run the same iterations in the same order; the remainder loop finishes
// exactly like the original. Every back-edge costs fuel, so the unrolled
// loop uses less. The main loop is written `lim > i` so that it never
// matches the pattern again.
func (o *optimizer) unroll(body []ir.Stmt) ([]ir.Stmt, bool) {
	trips := o.tripCounts(body)
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
				var prev ir.Stmt
				if len(out) > 0 {
					prev = out[len(out)-1]
				}
				if n, ok := o.unrollLoop(x, prev, trips[x]); ok {
					out = append(out, n...)
					changed = true
					continue
				}
			}
			out = append(out, s)
		}
		return out
	}
	return block(body), changed
}

// countedLoop matches the loop shape unroll needs.
func countedLoop(l *ir.Loop) (i *ir.Local, bound ir.Expr, step int64, ok bool) {
	cond, ok := l.Cond.(*ir.Binary)
	if !ok || cond.Op != ir.OpLt || len(l.Post) != 1 {
		return nil, nil, 0, false
	}
	i, ok = cond.X.(*ir.Local)
	if !ok || i.T.Kind != ir.Int64 || !safe(cond.Y) {
		return nil, nil, 0, false
	}
	post, ok := l.Post[0].(*ir.Assign)
	if !ok || post.Op != ir.OpAdd {
		return nil, nil, 0, false
	}
	pi, ok1 := post.Dst.(*ir.Local)
	c, ok2 := post.X.(*ir.Const)
	if !ok1 || !ok2 || pi.Slot != i.Slot || int64(c.Bits) <= 0 || int64(c.Bits) > 1<<20 {
		return nil, nil, 0, false
	}
	set := map[int]bool{}
	assigned(l.Body, set)
	reads := map[int]bool{}
	localsOf(cond.Y, reads)
	if set[i.Slot] || reads[i.Slot] {
		return nil, nil, 0, false
	}
	for r := range reads {
		if set[r] {
			return nil, nil, 0, false
		}
	}
	if hasLoop(l.Body) || hasBreakContinue(l.Body) {
		return nil, nil, 0, false
	}
	return i, cond.Y, int64(c.Bits), true
}

func hasLoop(ss []ir.Stmt) bool {
	for _, s := range ss {
		switch x := s.(type) {
		case *ir.Loop:
			return true
		case *ir.If:
			if hasLoop(x.Then) || hasLoop(x.Else) {
				return true
			}
		}
	}
	return false
}

// hasBreakContinue reports a break or continue that would leave or
// restart the loop whose body is ss (loops nested in ss own theirs).
func hasBreakContinue(ss []ir.Stmt) bool {
	for _, s := range ss {
		switch x := s.(type) {
		case *ir.Break, *ir.Continue:
			return true
		case *ir.If:
			if hasBreakContinue(x.Then) || hasBreakContinue(x.Else) {
				return true
			}
		}
	}
	return false
}

func unrollFactor(trip float64) int {
	switch {
	case trip >= 64:
		return 8
	case trip >= 12:
		return 4
	case trip >= 4:
		return 2
	}
	return 0
}

func (o *optimizer) unrollLoop(l *ir.Loop, prev ir.Stmt, measured float64) ([]ir.Stmt, bool) {
	i, bound, c, ok := countedLoop(l)
	if !ok {
		return nil, false
	}
	size := stmtsSize(l.Body) + stmtsSize(l.Post)
	// A constant trip count: i = a just before, B constant, and no
	// overflow of i += c while i < B.
	trip := int64(-1)
	if a, ok := prev.(*ir.Assign); ok && a.Op == 0 {
		if d, ok := a.Dst.(*ir.Local); ok && d.Slot == i.Slot {
			ac, ok1 := a.X.(*ir.Const)
			bc, ok2 := bound.(*ir.Const)
			if ok1 && ok2 && int64(bc.Bits) <= math.MaxInt64-c {
				lo, hi := int64(ac.Bits), int64(bc.Bits)
				trip = 0
				if lo < hi {
					d := uint64(hi) - uint64(lo)
					trip = int64(d / uint64(c))
					if d%uint64(c) != 0 {
						trip++
					}
				}
			}
		}
	}
	if trip == 0 {
		return []ir.Stmt{}, true
	}
	forced := o.prof != nil && o.prof.Unroll > 1
	if !forced && trip > 0 && trip <= fullUnrollMax && int(trip)*size <= fullUnrollNodes {
		var out []ir.Stmt
		for k := int64(0); k < trip; k++ {
			out = append(out, cloneStmts(l.Body)...)
			out = append(out, cloneStmts(l.Post)...)
		}
		return out, true
	}
	k := 0
	switch {
	case forced:
		k = o.prof.Unroll
	case trip > 0:
		k = unrollFactor(float64(trip))
	default:
		k = unrollFactor(measured)
	}
	for k > 1 && k*size > partUnrollNodes && !forced {
		k /= 2
	}
	if k < 2 {
		return nil, false
	}
	span := int64(k-1) * c
	var pre []ir.Stmt
	var lim ir.Expr
	if bc, ok := bound.(*ir.Const); ok {
		b := int64(bc.Bits)
		if b < math.MinInt64+span {
			return nil, false
		}
		lim = &ir.Const{T: ir.TInt64, Bits: uint64(b - span)}
	} else {
		v := o.newLocal(ir.TInt64, "lim")
		pre = append(pre,
			&ir.Assign{Dst: &ir.Local{Slot: v.Slot, T: v.T}, X: &ir.Binary{Op: ir.OpSub, X: cloneExpr(bound), Y: &ir.Const{T: ir.TInt64, Bits: uint64(span)}, T: ir.TInt64}},
			&ir.If{
				Cond: &ir.Binary{Op: ir.OpLt, X: cloneExpr(bound), Y: &ir.Const{T: ir.TInt64, Bits: uint64(math.MinInt64 + span)}, T: ir.TBool},
				Then: []ir.Stmt{&ir.Assign{Dst: &ir.Local{Slot: v.Slot, T: v.T}, X: &ir.Const{T: ir.TInt64, Bits: 1 << 63}}},
			})
		lim = v
	}
	var mb []ir.Stmt
	for j := 0; j < k; j++ {
		if j > 0 {
			mb = append(mb, cloneStmts(l.Post)...)
		}
		mb = append(mb, cloneStmts(l.Body)...)
	}
	main := &ir.Loop{
		Cond: &ir.Binary{Op: ir.OpGt, X: lim, Y: &ir.Local{Slot: i.Slot, T: i.T}, T: ir.TBool},
		Body: mb,
		Post: cloneStmts(l.Post),
	}
	return append(pre, main, l), true
}

// preorderLoops lists the loops of ss in a fixed order (the order
// instrumentLoops numbers them in).
func preorderLoops(ss []ir.Stmt, out *[]*ir.Loop) {
	for _, s := range ss {
		switch x := s.(type) {
		case *ir.If:
			preorderLoops(x.Then, out)
			preorderLoops(x.Else, out)
		case *ir.Loop:
			*out = append(*out, x)
			preorderLoops(x.Body, out)
			preorderLoops(x.Post, out)
		}
	}
}

// instrumentLoops adds cnt[2q] += 1 before loop q and cnt[2q+1] += 1 at
// the start of its body, numbering loops as preorderLoops does.
func instrumentLoops(ss []ir.Stmt, cnt *ir.Local, next *int) []ir.Stmt {
	inc := func(k int) ir.Stmt {
		return &ir.Assign{
			Dst: &ir.Index{X: &ir.Local{Slot: cnt.Slot, T: cnt.T}, I: &ir.Const{T: ir.TInt64, Bits: uint64(k)}, T: ir.TInt64},
			Op:  ir.OpAdd, X: &ir.Const{T: ir.TInt64, Bits: 1},
		}
	}
	var out []ir.Stmt
	for _, s := range ss {
		switch x := s.(type) {
		case *ir.If:
			x.Then = instrumentLoops(x.Then, cnt, next)
			x.Else = instrumentLoops(x.Else, cnt, next)
		case *ir.Loop:
			q := *next
			*next++
			x.Body = append([]ir.Stmt{inc(2*q + 1)}, instrumentLoops(x.Body, cnt, next)...)
			x.Post = instrumentLoops(x.Post, cnt, next)
			out = append(out, inc(2*q))
		}
		out = append(out, s)
	}
	return out
}

// tripCounts measures the mean iterations per entry of every loop of
// body, by running an instrumented copy of the function (with one more
// parameter, the counter slice) in the interpreter on the recorded
// inputs. Runs that fail or run out of fuel still leave their counts.
func (o *optimizer) tripCounts(body []ir.Stmt) map[*ir.Loop]float64 {
	if o.prof == nil || len(o.prof.Args) == 0 {
		return nil
	}
	var loops []*ir.Loop
	preorderLoops(body, &loops)
	if len(loops) == 0 {
		return nil
	}
	np := len(o.f.Params)
	sliceT := &ir.Type{Kind: ir.Slice, Elem: ir.TInt64}
	cb := cloneStmts(body)
	renumber(cb, func(s int) int {
		if s >= np {
			return s + 1
		}
		return s
	})
	cnt := &ir.Local{Slot: np, T: sliceT}
	next := 0
	cb = instrumentLoops(cb, cnt, &next)
	locals := append(append(append([]*ir.Type{}, o.locals[:np]...), sliceT), o.locals[np:]...)
	params := append(append([]*ir.Type{}, o.f.Params...), sliceT)
	inst := &ir.Func{Name: o.f.Name, Params: params, Result: o.f.Result, Locals: locals, Body: cb}
	counts := make([]uint64, 2*len(loops))
	fuel := o.prof.TripFuel
	if fuel <= 0 {
		fuel = 300_000
	}
	for n, a := range o.prof.Args {
		if n == tripInputs {
			break
		}
		if len(a) != np {
			return nil
		}
		in := append(copyArgs(a), interp.Slice{Elems: counts})
		interp.New(fuel).Call(inst, in) // errors and fuel exhaustion keep the counts so far
	}
	out := map[*ir.Loop]float64{}
	for q, l := range loops {
		if e := counts[2*q]; e > 0 {
			out[l] = float64(counts[2*q+1]) / float64(e)
		}
	}
	return out
}
