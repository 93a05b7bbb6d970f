package jit

import (
	"sort"

	"github.com/velocityos/velocity/lang/ir"
)

// Register allocation.
//
// Scalar locals and parameters, and a slice's pointer and length, live in
// registers instead of frame slots when they are used often: each use
// counts 8^loop depth, and the heaviest locals get the allocatable
// registers (a slice needs two). A function that has a loop keeps the
// fuel counter in R14 (fuelReg) so that the back-edge charge is
// `dec r14; js trap` on a register instead of a read-modify-write of the
// state block on every iteration; the counter is written back to the
// state block before every call (the callee reads it there and writes
// it back when it returns), in every trap stub and on return, so the
// fuel the Go side sees stays exactly the interpreter's.
//
// Convention between JIT functions: RBX, R12, R13 and R8-R11 are
// callee-saved (a function saves the ones it allocates in its frame and
// restores them on return; a trap unwinds to the trampoline, which keeps
// nothing in them); RAX, RCX, RDX, RSI, RDI and R14 are scratch; R15 is
// the state block; RBP the frame.

const noReg reg = 0xff

// fuelReg holds the fuel counter inside functions that have a loop.
const fuelReg = r14

// allocatable registers, in preference order. The telemetry epilogue
// (probe.go) clobbers none of them.
var allocRegs = []reg{rbx, r12, r13, r8, r9, r10, r11}

// locReg is where a local lives: r (and r2, a slice's length) or noReg
// for a frame slot.
type locReg struct{ r, r2 reg }

// allocate decides the registers of f's locals and whether the fuel
// counter is kept in a register.
func (g *gen) allocate(f *ir.Func) {
	n := len(f.Locals)
	g.regs = make([]locReg, n)
	for i := range g.regs {
		g.regs[i] = locReg{noReg, noReg}
	}
	g.saved = g.saved[:0]
	g.fuelInReg = false
	w := make([]int64, n)
	var u uses
	u.w = w
	u.stmts(f.Body, 0)
	g.fuelInReg = u.loops
	order := make([]int, 0, n)
	for i, t := range f.Locals {
		if w[i] > 0 && (t.IsScalar() || t.Kind == ir.Slice) {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return w[order[a]] > w[order[b]] })
	free := allocRegs
	for _, i := range order {
		need := 1
		if f.Locals[i].Kind == ir.Slice {
			need = 2
		}
		if len(free) < need {
			continue
		}
		lr := locReg{free[0], noReg}
		if need == 2 {
			lr.r2 = free[1]
		}
		free = free[need:]
		g.regs[i] = lr
		g.saved = append(g.saved, lr.r)
		if need == 2 {
			g.saved = append(g.saved, lr.r2)
		}
	}
}

// regOf returns the register of a scalar local, if it has one.
func (g *gen) regOf(e ir.Expr) (reg, bool) {
	if l, ok := e.(*ir.Local); ok && l.T.IsScalar() && g.regs[l.Slot].r != noReg {
		return g.regs[l.Slot].r, true
	}
	return noReg, false
}

// sliceRegs returns the registers of a slice local, if it has them.
func (g *gen) sliceRegs(e ir.Expr) (p, n reg, ok bool) {
	if l, ok := e.(*ir.Local); ok && l.T.Kind == ir.Slice && g.regs[l.Slot].r != noReg {
		return g.regs[l.Slot].r, g.regs[l.Slot].r2, true
	}
	return noReg, noReg, false
}

// uses counts local uses weighted by loop depth.
type uses struct {
	w     []int64
	loops bool
}

func weight(depth int) int64 { return 1 << (3 * min(depth, 6)) }

func (u *uses) stmts(ss []ir.Stmt, d int) {
	for _, s := range ss {
		switch s := s.(type) {
		case *ir.Assign:
			u.expr(s.Dst, d)
			u.expr(s.X, d)
		case *ir.Eval:
			u.expr(s.X, d)
		case *ir.If:
			u.expr(s.Cond, d)
			u.stmts(s.Then, d)
			u.stmts(s.Else, d)
		case *ir.Loop:
			u.loops = true
			if s.Cond != nil {
				u.expr(s.Cond, d+1)
			}
			u.stmts(s.Body, d+1)
			u.stmts(s.Post, d+1)
		case *ir.Return:
			if s.X != nil {
				u.expr(s.X, d)
			}
		}
	}
}

func (u *uses) expr(e ir.Expr, d int) {
	switch e := e.(type) {
	case *ir.Local:
		u.w[e.Slot] += weight(d)
	case *ir.Unary:
		u.expr(e.X, d)
	case *ir.Binary:
		u.expr(e.X, d)
		u.expr(e.Y, d)
	case *ir.Convert:
		u.expr(e.X, d)
	case *ir.Call:
		for _, a := range e.Args {
			u.expr(a, d)
		}
	case *ir.Index:
		u.expr(e.X, d)
		u.expr(e.I, d)
	case *ir.SliceOf:
		u.expr(e.X, d)
		if e.Lo != nil {
			u.expr(e.Lo, d)
		}
		if e.Hi != nil {
			u.expr(e.Hi, d)
		}
	case *ir.Len:
		u.expr(e.X, d)
	case *ir.Make:
		u.expr(e.N, d)
	case *ir.Composite:
		for _, x := range e.Elems {
			u.expr(x, d)
		}
	}
}

// immOf returns a constant operand that fits a sign-extended imm32.
func immOf(e ir.Expr) (int32, bool) {
	c, ok := e.(*ir.Const)
	if !ok || int64(c.Bits) != int64(int32(c.Bits)) {
		return 0, false
	}
	return int32(c.Bits), true
}

// wide reports whether t is a 64-bit integer type (no normalisation).
func wide(t *ir.Type) bool { return t.Kind == ir.Int64 || t.Kind == ir.Uint64 }

// safe reports whether evaluating e can neither trap, call, allocate nor
// consume fuel, and touches no register but RAX, RCX and RDX (and the
// push stack): such an expression may be evaluated out of the
// interpreter's order without any observable difference.
func safe(e ir.Expr) bool {
	switch e := e.(type) {
	case *ir.Const:
		return true
	case *ir.Local:
		return e.T.IsScalar()
	case *ir.Unary:
		return e.T.IsInteger() && (e.Op == ir.OpNeg || e.Op == ir.OpCpl) && safe(e.X)
	case *ir.Convert:
		return e.T.IsInteger() && e.X.Type().IsInteger() && safe(e.X)
	case *ir.Binary:
		if !e.X.Type().IsInteger() {
			return false
		}
		switch e.Op {
		case ir.OpAdd, ir.OpSub, ir.OpMul, ir.OpAnd, ir.OpOr, ir.OpXor, ir.OpAndNot,
			ir.OpEq, ir.OpNe, ir.OpLt, ir.OpLe, ir.OpGt, ir.OpGe:
			return safe(e.X) && safe(e.Y)
		}
	}
	return false
}

// operands evaluates x into RAX and y into RCX. A simple x (a constant
// or a local) is loaded after y: y cannot change a local of this
// function, and loading x can neither trap nor cost fuel.
func (g *gen) operands(x, y ir.Expr) {
	a := &g.a
	switch {
	case simple(y):
		g.expr(x)
		g.loadSimple(rcx, y)
	case simple(x):
		g.expr(y)
		a.movRR(rcx, rax)
		g.loadSimple(rax, x)
	default:
		g.expr(x)
		g.pushR(rax)
		g.expr(y)
		a.movRR(rcx, rax)
		g.popR(rax)
	}
}

var aluOf = map[ir.Op]aluOp{ir.OpAdd: aluAdd, ir.OpSub: aluSub, ir.OpAnd: aluAnd, ir.OpOr: aluOr, ir.OpXor: aluXor}

// opRI applies op (add, sub, and, or, xor, mul) to register d with a
// register, immediate or RAX operand y (already evaluated when neither).
func (g *gen) opWith(op ir.Op, d reg, y ir.Expr, yr reg) {
	a := &g.a
	if imm, ok := immOf(y); ok {
		if op == ir.OpMul {
			a.opRR(0, true, []byte{0x69}, d, d) // imul d, d, imm32
			a.u32(uint32(imm))
			return
		}
		a.aluRI(aluOf[op], d, imm)
		return
	}
	if op == ir.OpMul {
		a.imulRR(d, yr)
		return
	}
	a.aluRR(aluOf[op], d, yr)
}

// shiftImm shifts d by a constant count below 64 (t's Go semantics).
func (g *gen) shiftImm(op ir.Op, t *ir.Type, d reg, c byte) {
	if c == 0 {
		return
	}
	ext := byte(4) // shl
	if op == ir.OpShr {
		ext = 5
		if t.Kind == ir.Int64 {
			ext = 7
		}
	}
	g.a.opRR(0, true, []byte{0xc1}, reg(ext), d)
	g.a.byte1(c)
}

// constShift returns a shift count that is a constant below 64.
func constShift(op ir.Op, y ir.Expr) (byte, bool) {
	c, ok := y.(*ir.Const)
	if !ok || (op != ir.OpShl && op != ir.OpShr) || c.Bits >= 64 {
		return 0, false
	}
	return byte(c.Bits), true
}

// regOrImm reports whether y needs no code to be an operand.
func (g *gen) regOrImm(y ir.Expr) (reg, bool) {
	if _, ok := immOf(y); ok {
		return noReg, true
	}
	return g.regOf(y)
}

// binopFast computes rax = x op y without RCX for 64-bit integer
// operations whose y is a register local or an immediate.
func (g *gen) binopFast(op ir.Op, x, y ir.Expr, t *ir.Type) bool {
	if !wide(t) {
		return false
	}
	a := &g.a
	if c, ok := constShift(op, y); ok {
		g.expr(x)
		g.shiftImm(op, t, rax, c)
		return true
	}
	yr, ok := g.regOrImm(y)
	if !ok {
		return false
	}
	switch op {
	case ir.OpAdd, ir.OpSub, ir.OpAnd, ir.OpOr, ir.OpXor, ir.OpMul:
		g.expr(x)
		g.opWith(op, rax, y, yr)
		return true
	}
	if cc, ok := ccOf(op, t); ok {
		g.cmpWith(x, y, yr)
		a.setcc(cc, rax)
		a.movzxB(rax, rax)
		return true
	}
	return false
}

// ccOf is the condition code of comparison op on integers of type t.
func ccOf(op ir.Op, t *ir.Type) (byte, bool) {
	signed := t.Kind == ir.Int64
	pick := func(s, u byte) byte {
		if signed {
			return s
		}
		return u
	}
	switch op {
	case ir.OpEq:
		return ccE, true
	case ir.OpNe:
		return ccNE, true
	case ir.OpLt:
		return pick(ccL, ccB), true
	case ir.OpLe:
		return pick(ccLE, ccBE), true
	case ir.OpGt:
		return pick(ccG, ccA), true
	case ir.OpGe:
		return pick(ccGE, ccAE), true
	}
	return 0, false
}

// cmpWith evaluates x into RAX and compares it with y (register or
// immediate operand yr from regOrImm).
func (g *gen) cmpWith(x, y ir.Expr, yr reg) {
	g.expr(x)
	if imm, ok := immOf(y); ok {
		g.a.aluRI(aluCmp, rax, imm)
		return
	}
	g.a.aluRR(aluCmp, rax, yr)
}

// compare emits the flags of comparison e and returns the condition
// code that holds when e is true, for integer comparisons and bool
// equality.
func (g *gen) compare(e *ir.Binary) (byte, bool) {
	t := e.X.Type()
	if !t.IsInteger() && !(t.Kind == ir.Bool && (e.Op == ir.OpEq || e.Op == ir.OpNe)) {
		return 0, false
	}
	cc, ok := ccOf(e.Op, t)
	if !ok {
		return 0, false
	}
	if yr, ok := g.regOrImm(e.Y); ok {
		g.cmpWith(e.X, e.Y, yr)
		return cc, true
	}
	g.operands(e.X, e.Y)
	g.a.aluRR(aluCmp, rax, rcx)
	return cc, true
}

// branch jumps to l when the truth of bool expression e is when,
// without materialising comparisons and && / || as 0/1 values (the
// operands are evaluated exactly as expr would: same order, same
// short-circuit).
func (g *gen) branch(e ir.Expr, when bool, l *label) {
	a := &g.a
	switch e := e.(type) {
	case *ir.Const:
		if (e.Bits != 0) == when {
			a.jmp(l)
		}
		return
	case *ir.Unary:
		if e.Op == ir.OpNot && e.T.Kind == ir.Bool {
			g.branch(e.X, !when, l)
			return
		}
	case *ir.Binary:
		switch e.Op {
		case ir.OpLAnd, ir.OpLOr:
			// a && b jumps on false if a is false; a || b on true if a is.
			shortOn := e.Op == ir.OpLOr
			if when == shortOn {
				g.branch(e.X, when, l)
				g.branch(e.Y, when, l)
				return
			}
			skip := g.newLabel()
			g.branch(e.X, shortOn, skip)
			g.branch(e.Y, when, l)
			a.bind(skip)
			return
		}
		if cc, ok := g.compare(e); ok {
			if !when {
				cc ^= 1
			}
			a.jcc(cc, l)
			return
		}
	}
	g.expr(e)
	a.testRR(rax, rax)
	if when {
		a.jcc(ccNE, l)
	} else {
		a.jcc(ccE, l)
	}
}

// assignReg compiles an assignment to a register local.
func (g *gen) assignReg(s *ir.Assign, d *ir.Local) bool {
	a := &g.a
	lr := g.regs[d.Slot]
	if lr.r == noReg {
		return false
	}
	t := d.T
	r := lr.r
	if t.Kind == ir.Slice {
		if s.Op != 0 {
			return false
		}
		g.expr(s.X)
		a.movRR(lr.r, rax)
		a.movRR(lr.r2, rdx)
		return true
	}
	if s.Op == 0 {
		switch x := s.X.(type) {
		case *ir.Const:
			a.movImm(r, x.Bits)
		default:
			if xr, ok := g.regOf(x); ok {
				if xr != r {
					a.movRR(r, xr)
				}
				return true
			}
			g.expr(x)
			a.movRR(r, rax)
		}
		return true
	}
	if wide(t) {
		if c, ok := constShift(s.Op, s.X); ok {
			g.shiftImm(s.Op, t, r, c)
			return true
		}
		switch s.Op {
		case ir.OpAdd, ir.OpSub, ir.OpAnd, ir.OpOr, ir.OpXor, ir.OpMul:
			yr, ok := g.regOrImm(s.X)
			if !ok {
				g.expr(s.X)
				yr = rax
			}
			g.opWith(s.Op, r, s.X, yr)
			return true
		}
	}
	g.expr(s.X)
	a.movRR(rcx, rax)
	a.movRR(rax, r)
	g.binop(s.Op, t, s.X.Type())
	a.movRR(r, rax)
	return true
}

// sliceIndex evaluates the index of e (whose slice is a register local)
// into RAX with the bounds check, and returns the pointer register: the
// element is [p+rax*8]. The failing check jumps to an out-of-line stub
// that puts the length in RDX for the trap record.
func (g *gen) sliceIndex(e *ir.Index) (reg, bool) {
	p, n, ok := g.sliceRegs(e.X)
	if !ok {
		return noReg, false
	}
	a := &g.a
	g.expr(e.I)
	a.aluRR(aluCmp, rax, n)
	stub := g.newLabel()
	a.jcc(ccAE, stub)
	g.cold = append(g.cold, func() {
		a.bind(stub)
		a.movRR(rdx, n)
		a.jmp(g.trap(trapIndex))
	})
	return p, true
}

// assignSliceReg compiles stores into a register slice whose value (and
// index, if the value is evaluated first) cannot trap.
func (g *gen) assignSliceReg(s *ir.Assign, d *ir.Index) bool {
	if _, _, ok := g.sliceRegs(d.X); !ok || !d.T.IsScalar() {
		return false
	}
	a := &g.a
	if s.Op == 0 {
		switch {
		case simple(s.X):
			p, _ := g.sliceIndex(d)
			if xr, ok := g.regOf(s.X); ok {
				a.store(mi(p, rax, 8, 0), xr)
				return true
			}
			g.loadSimple(rcx, s.X)
			a.store(mi(p, rax, 8, 0), rcx)
			return true
		case safe(s.X) && safe(d.I):
			// The value first, into RSI (which neither evaluation
			// touches); the location's bounds check then traps exactly
			// when the interpreter's would.
			g.expr(s.X)
			a.movRR(rsi, rax)
			p, _ := g.sliceIndex(d)
			a.store(mi(p, rax, 8, 0), rsi)
			return true
		}
		return false
	}
	if !wide(d.T) {
		return false
	}
	switch s.Op {
	case ir.OpAdd, ir.OpSub, ir.OpAnd, ir.OpOr, ir.OpXor:
	default:
		return false
	}
	yr, ok := g.regOrImm(s.X)
	if !ok {
		return false
	}
	p, _ := g.sliceIndex(d)
	mm := mi(p, rax, 8, 0)
	if imm, ok := immOf(s.X); ok {
		a.aluMI(aluOf[s.Op], mm, imm)
	} else {
		a.opRM(0, true, []byte{byte(aluOf[s.Op])<<3 | 1}, yr, mm)
	}
	return true
}
