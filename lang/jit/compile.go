package jit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/validate"
)

// ErrUnsupported wraps constructs the JIT does not compile (the
// interpreter still runs them).
var ErrUnsupported = errors.New("not supported by the JIT")

// State block offsets (must match state in run.go and call_amd64.s).
const (
	stFuel       = 0
	stDepth      = 8
	stMaxDepth   = 16
	stStackLimit = 24
	stSavedSP    = 32
	stEntrySP    = 40
	stStackTop   = 48
	stTrapCode   = 56
	stTrapFn     = 64
	stA0         = 72
	stA1         = 80
	stA2         = 88
	stAllocPtr   = 96
	stAllocLeft  = 104
	stSavedG     = 112
	stRet0       = 120
	stRet1       = 128
	stArgs       = 136
	maxArgWords  = 1024
)

// Trap codes written to the state block.
const (
	trapNone = iota
	trapFuel
	trapDepth
	trapStack
	trapIndex
	trapSlice
	trapDivZero
	trapNegShift
	trapConvRange
	trapMakeLen
	trapAlloc
	trapNoReturn
	trapBadOperands
	numTraps
)

// Constant pool words (data offsets).
const (
	poolMinInt64  = 0  // -2^63
	poolTwo63     = 8  // 2^63
	poolMinusOne  = 16 // -1.0
	poolTwo56     = 24 // 256.0
	poolTwo64     = 32 // 2^64
	poolSize      = 40
	stackSlack    = 256 // bytes kept free below the deepest push of a frame
	maxFrameBytes = 1 << 28
)

var poolWords = []uint64{
	math.Float64bits(-9223372036854775808.0), math.Float64bits(9223372036854775808.0),
	math.Float64bits(-1), math.Float64bits(256), math.Float64bits(18446744073709551616.0),
}

// Code is a compiled module: machine code not yet placed at an address.
type Code struct {
	Funcs   []*ir.Func       // compiled functions, index = call-table slot
	Externs []*ir.Func       // called but compiled elsewhere (CompileModule): slots len(Funcs)+j
	index   map[*ir.Func]int // function -> call-table slot
	id      uint32           // trap tag of a blob linked by Link (a loaded program gets its own, live.go)
	instr   bool             // telemetry prologue/epilogue (probe.go)
	code    []byte           // code region (functions then entry thunks)
	ranges  []validate.Range // function boundaries (all functions, then thunks)
	bodies  []int            // start offset of each function
	thunks  []int            // start offset of each function's entry thunk
	rips    []ripRef
	// Fields the loader fills for the program (link.go): counter
	// addresses of instrumented code, and the trap tags' code ids.
	counterRefs []counterRef
	tagRefs     []int
	dataOff     int // start of the data region (16-aligned)
}

// Size returns the size of the blob in bytes.
func (c *Code) Size() int { return c.dataOff + poolSize + 8*(len(c.Funcs)+len(c.Externs)) }

// Link returns the blob as it must be placed at address base, and the
// metadata the validator checks it against. Code with Externs must be
// linked with LinkExtern.
func (c *Code) Link(base uint64) ([]byte, *validate.Meta) { return c.LinkExtern(base, nil) }

// LinkExtern is Link for code whose call table also holds external
// functions: ext[j] is the entry address of Externs[j] (a function of
// another loaded, validated blob). The addresses are passed to the
// validator as the only foreign call-table targets it accepts.
func (c *Code) LinkExtern(base uint64, ext []uint64) ([]byte, *validate.Meta) {
	return c.link(base, ext, 0, c.id)
}

// link is LinkExtern for the program the loader makes of the code:
// counters is the address of its telemetry counters (instrumented code;
// 0 when the blob is only validated) and id the code id its trap records
// carry (unique among loaded programs, see live.go).
func (c *Code) link(base uint64, ext []uint64, counters uint64, id uint32) ([]byte, *validate.Meta) {
	blob := make([]byte, c.Size())
	copy(blob, c.code)
	for i := len(c.code); i < c.dataOff; i++ {
		blob[i] = 0xcc // padding; never reachable (validated branches stay in functions)
	}
	for i, w := range poolWords {
		binary.LittleEndian.PutUint64(blob[c.dataOff+8*i:], w)
	}
	table := c.dataOff + poolSize
	for i, off := range c.bodies {
		binary.LittleEndian.PutUint64(blob[table+8*i:], base+uint64(off))
	}
	for j := range c.Externs {
		var a uint64
		if j < len(ext) {
			a = ext[j]
		}
		binary.LittleEndian.PutUint64(blob[table+8*(len(c.Funcs)+j):], a)
	}
	for _, r := range c.rips {
		binary.LittleEndian.PutUint32(blob[r.field:], uint32(int32(c.dataOff+r.target-r.end)))
	}
	for _, r := range c.counterRefs {
		binary.LittleEndian.PutUint64(blob[r.field:], counterBase(counters, r.fi))
	}
	for _, f := range c.tagRefs {
		fi := binary.LittleEndian.Uint32(blob[f:]) & 0xffff
		binary.LittleEndian.PutUint32(blob[f:], id<<16|fi)
	}
	return blob, &validate.Meta{
		Base:      base,
		Funcs:     c.ranges,
		Pool:      validate.Range{Start: c.dataOff, End: c.dataOff + poolSize},
		CallTable: validate.Range{Start: table, End: table + 8*(len(c.Funcs)+len(c.Externs))},
		Imports:   ext,
		// Instrumented code reads the TSC (probe.go).
		AllowTiming: c.instr,
	}
}

// maxTagFuncs bounds the functions of one blob: a trap record is
// code id << 16 | function index.
const maxTagFuncs = 1 << 16

var codeIDs atomic.Uint32

func newCodeID() uint32 {
	for {
		if id := codeIDs.Add(1) & 0x7fff; id != 0 {
			return id
		}
	}
}

// Compile compiles roots and every function they call (transitively,
// across modules) into one blob with one call table.
func Compile(roots ...*ir.Func) (*Code, error) {
	c := &Code{index: map[*ir.Func]int{}, id: newCodeID()}
	var visit func(f *ir.Func) error
	visit = func(f *ir.Func) error {
		if f == nil {
			return fmt.Errorf("%w: call of an unlinked function", ErrUnsupported)
		}
		if _, ok := c.index[f]; ok {
			return nil
		}
		c.index[f] = len(c.Funcs)
		c.Funcs = append(c.Funcs, f)
		for _, g := range ir.Callees(f.Body) {
			if err := visit(g); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range roots {
		if err := visit(r); err != nil {
			return nil, err
		}
	}
	return c.generate()
}

// CompileModule compiles exactly funcs (one module's functions) into a
// blob. Calls to functions outside funcs go through call-table slots
// listed in Externs, filled at load time (LoadLinked) with the entry
// addresses of the programs that compiled them; so a module imported by
// many others is compiled and mapped once.
func CompileModule(funcs []*ir.Func) (*Code, error) {
	c := &Code{index: map[*ir.Func]int{}, id: newCodeID()}
	for _, f := range funcs {
		if f == nil {
			return nil, fmt.Errorf("%w: nil function", ErrUnsupported)
		}
		if _, ok := c.index[f]; !ok {
			c.index[f] = len(c.Funcs)
			c.Funcs = append(c.Funcs, f)
		}
	}
	var ext []*ir.Func
	seen := map[*ir.Func]bool{}
	for _, f := range c.Funcs {
		for _, g := range ir.Callees(f.Body) {
			if g == nil {
				return nil, fmt.Errorf("jit: %s: %w: call of an unlinked function", f.Name, ErrUnsupported)
			}
			if _, ok := c.index[g]; !ok && !seen[g] {
				seen[g] = true
				ext = append(ext, g)
			}
		}
	}
	for j, g := range ext {
		c.index[g] = len(c.Funcs) + j
	}
	c.Externs = ext
	return c.generate()
}

func (c *Code) generate() (*Code, error) {
	if len(c.Funcs) >= maxTagFuncs {
		return nil, fmt.Errorf("%w: %d functions in one blob", ErrUnsupported, len(c.Funcs))
	}
	g := &gen{code: c}
	for i, f := range c.Funcs {
		plan := &gen{code: c}
		if err := plan.function(i, f); err != nil {
			return nil, fmt.Errorf("jit: %s: %w", f.Name, err)
		}
		g.planned, g.planFrame, g.planPush = true, plan.frame, plan.maxPush
		start := g.a.pos()
		c.bodies = append(c.bodies, start)
		if err := g.function(i, f); err != nil {
			return nil, fmt.Errorf("jit: %s: %w", f.Name, err)
		}
		c.ranges = append(c.ranges, validate.Range{Start: start, End: g.a.pos()})
	}
	for i, f := range c.Funcs {
		start := g.a.pos()
		c.thunks = append(c.thunks, start)
		if err := g.thunk(i, f); err != nil {
			return nil, fmt.Errorf("jit: %s: %w", f.Name, err)
		}
		c.ranges = append(c.ranges, validate.Range{Start: start, End: g.a.pos()})
	}
	c.code = g.a.b
	c.rips = g.a.rips
	c.counterRefs, c.tagRefs = g.a.counterRefs, g.a.tagRefs
	c.dataOff = (len(c.code) + 15) &^ 15
	return c, nil
}

func size(t *ir.Type) int64 {
	switch t.Kind {
	case ir.Slice:
		return 16
	case ir.Array:
		return t.Len * size(t.Elem)
	}
	return 8
}

func elemCount(t *ir.Type) int64 {
	if t.Kind == ir.Array {
		return t.Len * elemCount(t.Elem)
	}
	return 1
}

type loopLabels struct{ brk, cont *label }

// gen generates code for one function at a time.
type gen struct {
	code *Code
	a    asm
	// per function
	fi       int
	fn       *ir.Func
	slot     []int32 // rbp-relative offset of each local
	frame    int64   // bytes below rbp
	push     int     // current pushed words
	maxPush  int
	loops    []loopLabels
	traps    [numTraps]*label
	labels   []*label
	unsupErr error
	// from the planning pass
	planned   bool
	planFrame int64
	planPush  int
	// telemetry (probe.go)
	tscSlot int32  // frame slot of the entry timestamp
	exit    *label // shared instrumented epilogue
	// register allocation (regalloc.go)
	regs      []locReg // per local: its registers, or noReg
	saved     []reg    // callee-saved registers this function uses
	saveSlot  int32    // rbp offset of the lowest save slot
	fuelInReg bool     // fuel counter kept in fuelReg
	cold      []func() // out-of-line stubs, emitted after the body
}

func (g *gen) newLabel() *label {
	l := &label{pos: -1}
	g.labels = append(g.labels, l)
	return l
}

func (g *gen) trap(code int) *label {
	if g.traps[code] == nil {
		g.traps[code] = g.newLabel()
	}
	return g.traps[code]
}

func (g *gen) unsupported(format string, args ...any) {
	if g.unsupErr == nil {
		g.unsupErr = fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
	}
}

func (g *gen) pushR(r reg) {
	g.a.push(r)
	g.push++
	if g.push > g.maxPush {
		g.maxPush = g.push
	}
}

func (g *gen) popR(r reg) {
	g.a.pop(r)
	g.push--
}

func st(off int32) mem { return m(r15, off) }

// thunk i: push the arguments from the state block, call function i
// through the table, store the result, return to the trampoline.
// A function whose arguments do not fit the state block gets a thunk that
// only returns, and Machine.Call refuses to enter it.
func (g *gen) thunk(i int, f *ir.Func) error {
	words := 0
	for _, p := range f.Params {
		words += int(size(p) / 8)
	}
	if words > maxArgWords {
		g.a.ret()
		return nil
	}
	words = 0
	for _, p := range f.Params {
		// Push each argument's words last to first, so word 0 ends up at
		// the lowest address (a slice is ptr, len; an array is its elements).
		n := int(size(p) / 8)
		for w := n - 1; w >= 0; w-- {
			g.a.opRM(0, false, []byte{0xff}, 6, st(int32(stArgs+8*(words+w))))
		}
		words += n
	}
	if f.Result.Kind == ir.Array {
		// The hidden result pointer (resultSlot in the callee): Call
		// puts the address of the Go result buffer in ret0.
		g.a.opRM(0, false, []byte{0xff}, 6, st(stRet0))
		words++
	}
	g.a.callData(poolSize + 8*i)
	g.a.store(st(stRet0), rax)
	g.a.store(st(stRet1), rdx)
	if words > 0 {
		g.a.aluRI(aluAdd, rsp, int32(8*words))
	}
	g.a.ret()
	return nil
}

func (g *gen) function(fi int, f *ir.Func) error {
	g.fi, g.fn = fi, f
	g.push, g.maxPush = 0, 0
	g.loops = nil
	g.traps = [numTraps]*label{}
	g.labels = nil
	g.unsupErr = nil
	g.exit = nil
	g.cold = nil
	g.allocate(f)
	// Parameters: above the return address, last parameter lowest; a
	// function with an array result has the hidden result pointer below
	// them, right above the return address (see resultSlot).
	g.slot = make([]int32, len(f.Locals))
	off := int64(16)
	if f.Result.Kind == ir.Array {
		off += 8
	}
	for i := len(f.Params) - 1; i >= 0; i-- {
		g.slot[i] = int32(off)
		off += size(f.Params[i])
	}
	// Save area of the callee-saved registers, then the locals that
	// stay in the frame.
	g.frame = int64(8 * len(g.saved))
	g.saveSlot = int32(-g.frame)
	var charge int64
	for i := len(f.Params); i < len(f.Locals); i++ {
		t := f.Locals[i]
		if t.Kind == ir.Array {
			charge += elemCount(t) / interp.ArrayFuelUnit
		}
		if g.regs[i].r != noReg {
			continue
		}
		g.frame += size(t)
		g.slot[i] = int32(-g.frame)
	}
	if g.code.instr {
		g.frame += 8
		g.tscSlot = int32(-g.frame)
	}
	a := &g.a
	a.patchPad()
	a.push(rbp)
	a.movRR(rbp, rsp)
	if g.fuelInReg {
		// Before anything can trap: the trap stubs write it back.
		a.load(fuelReg, st(stFuel))
	}
	a.incM(st(stDepth))
	a.load(rax, st(stDepth))
	a.aluRM(aluCmp, rax, st(stMaxDepth))
	a.jcc(ccG, g.trap(trapDepth))
	// The frame size and push depth come from a first code generation
	// pass over the same function (plan); the first pass emits 0.
	planFrame, planNeed := g.planFrame, g.planFrame+int64(8*g.planPush)+stackSlack
	a.lea(rax, m(rsp, int32(-planNeed)))
	a.aluRM(aluCmp, rax, st(stStackLimit))
	a.jcc(ccB, g.trap(trapStack))
	if planFrame > 0 {
		a.aluRI(aluSub, rsp, int32(planFrame))
		words := planFrame / 8
		a.movImm(rax, 0)
		if words <= 16 {
			for k := int64(0); k < words; k++ {
				a.store(m(rsp, int32(8*k)), rax)
			}
		} else {
			a.movRR(rdi, rsp)
			a.movImm(rcx, uint64(words))
			a.repStosq()
		}
	}
	if charge > 0 {
		if charge > math.MaxInt32 {
			return fmt.Errorf("%w: frame too large", ErrUnsupported)
		}
		g.subFuel(int32(charge))
	}
	// Save the registers this function allocates (the frame zeroing
	// above uses only scratch registers), then load the parameters that
	// live in registers and zero the other register locals.
	for k, r := range g.saved {
		a.store(m(rbp, int32(-8*(k+1))), r)
	}
	for i, lr := range g.regs {
		if lr.r == noReg {
			continue
		}
		if i < len(f.Params) {
			a.load(lr.r, m(rbp, g.slot[i]))
			if lr.r2 != noReg {
				a.load(lr.r2, m(rbp, g.slot[i]+8))
			}
			continue
		}
		a.movImm(lr.r, 0)
		if lr.r2 != noReg {
			a.movImm(lr.r2, 0)
		}
	}
	if g.code.instr {
		g.probeEnter()
	}
	g.block(f.Body)
	if f.Result.Kind == ir.Void {
		g.epilogue()
	} else {
		a.jmp(g.trap(trapNoReturn))
	}
	if g.unsupErr != nil {
		return g.unsupErr
	}
	g.frame = (g.frame + 15) &^ 15
	if g.frame > maxFrameBytes {
		return fmt.Errorf("%w: frame of %d bytes", ErrUnsupported, g.frame)
	}
	if g.planned && (g.frame != g.planFrame || g.maxPush != g.planPush) {
		return fmt.Errorf("internal error: frame plan %d/%d, generated %d/%d", g.planFrame, g.planPush, g.frame, g.maxPush)
	}
	if g.exit != nil {
		a.bind(g.exit)
		g.probeExit()
	}
	for _, c := range g.cold {
		c()
	}
	// Trap stubs: record the code, the function and the operand registers,
	// then unwind to the trampoline. Every function has at least the
	// depth and stack stubs, so the last stub's RET ends the function.
	last := 0
	for code, l := range g.traps {
		if l != nil {
			last = code
		}
	}
	for code, l := range g.traps {
		if l == nil {
			continue
		}
		a.bind(l)
		if g.fuelInReg {
			a.store(st(stFuel), fuelReg)
		}
		a.store(st(stA0), rax)
		a.store(st(stA1), rdx)
		a.store(st(stA2), rsi)
		a.opRM(0, true, []byte{0xc7}, 0, st(stTrapCode), le32(uint32(code))...)
		a.opRM(0, true, []byte{0xc7}, 0, st(stTrapFn), le32(g.code.id<<16|uint32(fi))...)
		a.tagRefs = append(a.tagRefs, a.pos()-4)
		a.load(rsp, st(stEntrySP))
		if code == last && (a.pos()+1)%64 == 63 {
			// The next function's entry would be the last byte of a
			// cache line, which a live patcher refuses (its two-byte
			// stores there would not be atomic): shift it by a NOP.
			a.byte1(0x90)
		}
		a.ret()
	}
	for _, l := range g.labels {
		if l.pos < 0 && len(l.refs) > 0 {
			return fmt.Errorf("internal error: unbound label")
		}
		a.resolve(l)
	}
	return nil
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func (g *gen) epilogue() {
	if g.code.instr {
		if g.exit == nil {
			g.exit = g.newLabel()
		}
		g.a.jmp(g.exit)
		return
	}
	g.epilogueTail()
}

func (g *gen) epilogueTail() { g.epilogueRegs(g.fuelInReg) }

// epilogueRegs writes the fuel register back (if flush), restores the
// callee-saved registers and returns.
func (g *gen) epilogueRegs(flush bool) {
	if flush {
		g.a.store(st(stFuel), fuelReg)
	}
	for k, r := range g.saved {
		g.a.load(r, m(rbp, int32(-8*(k+1))))
	}
	g.a.decM(st(stDepth))
	g.a.movRR(rsp, rbp)
	g.a.pop(rbp)
	g.a.ret()
}

func (g *gen) block(ss []ir.Stmt) {
	for _, s := range ss {
		g.stmt(s)
	}
}

func (g *gen) stmt(s ir.Stmt) {
	a := &g.a
	switch s := s.(type) {
	case *ir.Assign:
		g.assign(s)
	case *ir.Eval:
		g.expr(s.X)
	case *ir.If:
		els, end := g.newLabel(), g.newLabel()
		g.branch(s.Cond, false, els)
		g.block(s.Then)
		if len(s.Else) > 0 {
			a.jmp(end)
		}
		a.bind(els)
		g.block(s.Else)
		a.bind(end)
	case *ir.Loop:
		// Rotated: the condition is tested at the bottom, so an
		// iteration takes one taken branch. The order of condition,
		// body, post and back-edge charge is the interpreter's.
		top, post, check, end := g.newLabel(), g.newLabel(), g.newLabel(), g.newLabel()
		if s.Cond != nil {
			a.jmp(check)
		}
		a.bind(top)
		g.loops = append(g.loops, loopLabels{brk: end, cont: post})
		g.block(s.Body)
		g.loops = g.loops[:len(g.loops)-1]
		a.bind(post)
		g.block(s.Post)
		g.subFuel(1) // back-edge
		a.bind(check)
		if s.Cond != nil {
			g.branch(s.Cond, true, top)
		} else {
			a.jmp(top)
		}
		a.bind(end)
	case *ir.Break:
		if len(g.loops) == 0 {
			g.unsupported("break outside a loop")
			return
		}
		a.jmp(g.loops[len(g.loops)-1].brk)
	case *ir.Continue:
		if len(g.loops) == 0 {
			g.unsupported("continue outside a loop")
			return
		}
		a.jmp(g.loops[len(g.loops)-1].cont)
	case *ir.Return:
		if s.X != nil {
			if s.X.Type().Kind == ir.Array {
				// Store the value into the caller's result area (with
				// the interpreter's charges: a copy of a variable or
				// element, the zero value or literal built, nothing
				// for a call's fresh result) and return its address.
				a.load(rax, m(rbp, resultSlot))
				g.pushR(rax)
				g.arrayValue(s.X)
				a.load(rax, m(rbp, resultSlot))
				g.epilogue()
				return
			}
			g.expr(s.X)
		} else if g.fn.Result.Kind != ir.Void {
			a.jmp(g.trap(trapNoReturn))
			return
		}
		g.epilogue()
	default:
		g.unsupported("statement %T", s)
	}
}

// simple reports whether e can be loaded into any register directly.
func simple(e ir.Expr) bool {
	switch e := e.(type) {
	case *ir.Const:
		return true
	case *ir.Local:
		return e.T.IsScalar()
	}
	return false
}

func (g *gen) loadSimple(r reg, e ir.Expr) {
	switch e := e.(type) {
	case *ir.Const:
		g.a.movImm(r, e.Bits)
	case *ir.Local:
		if lr, ok := g.regOf(e); ok {
			if lr != r {
				g.a.movRR(r, lr)
			}
			return
		}
		g.a.load(r, m(rbp, g.slot[e.Slot]))
	}
}

// subFuel charges n units of fuel (trapping when it runs out), in the
// register or in the state block.
func (g *gen) subFuel(n int32) {
	a := &g.a
	switch {
	case g.fuelInReg && n == 1:
		a.opRR(0, true, []byte{0xff}, 1, fuelReg) // dec r14
		a.jcc(ccS, g.trap(trapFuel))
	case g.fuelInReg:
		a.aluRI(aluSub, fuelReg, n)
		a.jcc(ccL, g.trap(trapFuel))
	case n == 1:
		a.decM(st(stFuel))
		a.jcc(ccS, g.trap(trapFuel))
	default:
		a.aluMI(aluSub, st(stFuel), n)
		a.jcc(ccL, g.trap(trapFuel))
	}
}

func (g *gen) assign(s *ir.Assign) {
	a := &g.a
	t := s.Dst.Type()
	if t.Kind == ir.Array {
		if s.Op != 0 {
			g.unsupported("compound assignment to an array")
			return
		}
		g.addr(s.Dst)
		g.pushR(rax)
		g.arrayValue(s.X) // rsi = source (or rdi filled, for Zero)
		return
	}
	// Scalars and slices.
	switch d := s.Dst.(type) {
	case *ir.Local:
		if g.assignReg(s, d) {
			return
		}
		dst := m(rbp, g.slot[d.Slot])
		if s.Op == 0 {
			g.expr(s.X)
			a.store(dst, rax)
			if t.Kind == ir.Slice {
				a.store(m(rbp, g.slot[d.Slot]+8), rdx)
			}
			return
		}
		g.expr(s.X)
		a.movRR(rcx, rax)
		a.load(rax, dst)
		g.binop(s.Op, t, s.X.Type())
		a.store(dst, rax)
	case *ir.Index:
		if g.assignSliceReg(s, d) {
			return
		}
		g.elemAddr(d) // rax = element address
		g.pushR(rax)
		g.expr(s.X)
		if s.Op == 0 {
			g.popR(rdi)
			a.store(m(rdi, 0), rax)
			return
		}
		a.movRR(rcx, rax)
		g.popR(rdi)
		a.load(rax, m(rdi, 0))
		g.binop(s.Op, t, s.X.Type())
		a.store(m(rdi, 0), rax)
	default:
		g.unsupported("assignment to %T", s.Dst)
	}
}

// chargeFuel charges n units of fuel at once (n elements/ArrayFuelUnit).
func (g *gen) chargeElems(elems int64) {
	n := elems / interp.ArrayFuelUnit
	if n == 0 {
		return
	}
	if n > math.MaxInt32 {
		g.unsupported("array too large")
		return
	}
	g.subFuel(int32(n))
}

// arrayValue stores array expression e into the address on top of the
// push stack (popping it), with the interpreter's fuel charges.
func (g *gen) arrayValue(e ir.Expr) {
	a := &g.a
	t := e.Type()
	words := size(t) / 8
	switch e := e.(type) {
	case *ir.Zero:
		g.chargeElems(elemCount(t))
		g.popR(rdi)
		a.movImm(rcx, uint64(words))
		a.movImm(rax, 0)
		a.repStosq()
		return
	case *ir.Local, *ir.Index:
		g.addr(e)
		g.chargeElems(elemCount(t)) // copy
		a.movRR(rsi, rax)
	case *ir.Composite:
		g.composite(e) // rax = temp
		a.movRR(rsi, rax)
	case *ir.Call:
		// A call's result is fresh (the interpreter neither copies nor
		// charges it): the callee stores it straight into the
		// destination, which stays on the push stack during the call.
		g.callTo(e, true)
		g.popR(rdi)
		return
	default:
		g.unsupported("array value %T", e)
		return
	}
	g.popR(rdi)
	a.movImm(rcx, uint64(words))
	a.repMovsq()
}

// temp reserves a frame area of n bytes and returns its rbp offset.
func (g *gen) temp(n int64) int32 {
	g.frame += n
	return int32(-g.frame)
}

// composite builds an array literal in a fresh frame temporary; rax = its address.
func (g *gen) composite(e *ir.Composite) {
	a := &g.a
	t := e.T
	g.chargeElems(elemCount(t)) // the zero value
	off := g.temp(size(t))
	a.lea(rdi, m(rbp, off))
	a.movImm(rcx, uint64(size(t)/8))
	a.movImm(rax, 0)
	a.repStosq()
	es := size(t.Elem)
	for i, el := range e.Elems {
		at := off + int32(int64(i)*es)
		if t.Elem.Kind == ir.Array {
			a.lea(rax, m(rbp, at))
			g.pushR(rax)
			g.arrayValue(el)
			continue
		}
		g.expr(el)
		a.store(m(rbp, at), rax)
	}
	a.lea(rax, m(rbp, off))
}

// addr computes the address of an array-typed expression into rax.
func (g *gen) addr(e ir.Expr) {
	switch e := e.(type) {
	case *ir.Local:
		g.a.lea(rax, m(rbp, g.slot[e.Slot]))
	case *ir.Index:
		g.elemAddr(e)
	case *ir.Composite:
		g.composite(e)
	case *ir.Call:
		g.callTo(e, false)
	case *ir.Zero:
		g.chargeElems(elemCount(e.T))
		off := g.temp(size(e.T))
		g.a.lea(rdi, m(rbp, off))
		g.a.movImm(rcx, uint64(size(e.T)/8))
		g.a.movImm(rax, 0)
		g.a.repStosq()
		g.a.lea(rax, m(rbp, off))
	default:
		g.unsupported("array-valued %T", e)
	}
}

// elemAddr computes the address of element e.X[e.I] into rax, with the
// bounds check.
func (g *gen) elemAddr(e *ir.Index) {
	a := &g.a
	xt := e.X.Type()
	es := int64(8)
	if p, ok := g.sliceIndex(e); ok {
		a.lea(rax, mi(p, rax, 8, 0))
		return
	}
	if xt.Kind == ir.Slice {
		g.expr(e.X) // rax ptr, rdx len
		if simple(e.I) {
			a.movRR(rcx, rax)
			g.loadSimple(rax, e.I)
		} else {
			g.pushR(rdx)
			g.pushR(rax)
			g.expr(e.I)
			g.popR(rcx)
			g.popR(rdx)
		}
	} else {
		es = size(xt.Elem)
		g.addr(e.X)
		if simple(e.I) {
			a.movRR(rcx, rax)
			g.loadSimple(rax, e.I)
		} else {
			g.pushR(rax)
			g.expr(e.I)
			g.popR(rcx)
		}
		a.movImm(rdx, uint64(xt.Len))
	}
	a.aluRR(aluCmp, rax, rdx)
	a.jcc(ccAE, g.trap(trapIndex))
	switch es {
	case 8:
		a.lea(rax, mi(rcx, rax, 8, 0))
	default:
		if es > math.MaxInt32 {
			g.unsupported("element too large")
			return
		}
		a.opRR(0, true, []byte{0x69}, rax, rax) // imul rax, rax, imm32
		a.u32(uint32(es))
		a.aluRR(aluAdd, rax, rcx)
	}
}

// expr evaluates a scalar (rax) or slice (rax ptr, rdx len) expression.
func (g *gen) expr(e ir.Expr) {
	a := &g.a
	switch e := e.(type) {
	case *ir.Const:
		a.movImm(rax, e.Bits)
	case *ir.Zero:
		if e.T.Kind != ir.Slice {
			g.unsupported("array value in scalar context")
			return
		}
		a.movImm(rax, 0)
		a.movImm(rdx, 0)
	case *ir.Local:
		switch e.T.Kind {
		case ir.Array:
			g.unsupported("array value in scalar context")
		case ir.Slice:
			if p, n, ok := g.sliceRegs(e); ok {
				a.movRR(rax, p)
				a.movRR(rdx, n)
				return
			}
			a.load(rax, m(rbp, g.slot[e.Slot]))
			a.load(rdx, m(rbp, g.slot[e.Slot]+8))
		default:
			g.loadSimple(rax, e)
		}
	case *ir.Unary:
		g.expr(e.X)
		g.unary(e.Op, e.T)
	case *ir.Binary:
		switch e.Op {
		case ir.OpLAnd, ir.OpLOr:
			end := g.newLabel()
			g.expr(e.X)
			a.testRR(rax, rax)
			if e.Op == ir.OpLAnd {
				a.jcc(ccE, end) // rax is already 0
			} else {
				a.byte1(0xb8, 1, 0, 0, 0) // mov eax, 1 (leaves the flags alone)
				a.jcc(ccNE, end)
			}
			g.expr(e.Y)
			a.bind(end)
			return
		}
		if g.binopFast(e.Op, e.X, e.Y, e.X.Type()) {
			return
		}
		g.operands(e.X, e.Y)
		g.binop(e.Op, e.X.Type(), e.Y.Type())
	case *ir.Convert:
		g.expr(e.X)
		g.convert(e.X.Type(), e.T)
	case *ir.Call:
		g.call(e)
	case *ir.Index:
		if e.T.Kind == ir.Array {
			g.unsupported("array value in scalar context")
			return
		}
		if p, ok := g.sliceIndex(e); ok {
			a.load(rax, mi(p, rax, 8, 0))
			return
		}
		g.elemAddr(e)
		a.load(rax, m(rax, 0))
	case *ir.SliceOf:
		g.sliceOf(e)
	case *ir.Len:
		if _, n, ok := g.sliceRegs(e.X); ok {
			a.movRR(rax, n)
			return
		}
		if e.X.Type().Kind == ir.Slice {
			g.expr(e.X)
			a.movRR(rax, rdx)
			return
		}
		if _, ok := e.X.(*ir.Local); !ok {
			g.addr(e.X) // evaluated for its bounds checks and fuel
		}
		a.movImm(rax, uint64(e.X.Type().Len))
	case *ir.Make:
		g.expr(e.N)
		a.testRR(rax, rax)
		a.jcc(ccS, g.trap(trapMakeLen))
		a.movRR(rcx, rax)
		g.alloc()
	case *ir.Composite:
		if e.T.Kind != ir.Slice {
			g.unsupported("array value in scalar context")
			return
		}
		for _, el := range e.Elems {
			g.expr(el)
			g.pushR(rax)
		}
		a.movImm(rcx, uint64(len(e.Elems)))
		g.alloc()
		for i := len(e.Elems) - 1; i >= 0; i-- {
			g.popR(rcx)
			a.store(m(rax, int32(8*i)), rcx)
		}
	default:
		g.unsupported("expression %T", e)
	}
}

// alloc allocates rcx zeroed elements from the arena: rax = ptr, rdx = len.
func (g *gen) alloc() {
	a := &g.a
	a.opRM(0, true, []byte{0x29}, rcx, st(stAllocLeft)) // sub [allocLeft], rcx
	a.jcc(ccL, g.trap(trapAlloc))
	a.load(rax, st(stAllocPtr))
	a.lea(rdx, mi(rax, rcx, 8, 0))
	a.store(st(stAllocPtr), rdx)
	a.movRR(rdx, rcx)
}

func (g *gen) sliceOf(e *ir.SliceOf) {
	a := &g.a
	g.expr(e.X)
	g.pushR(rdx)
	g.pushR(rax)
	if e.Lo != nil {
		g.expr(e.Lo)
	} else {
		a.movImm(rax, 0)
	}
	g.pushR(rax)
	if e.Hi != nil {
		g.expr(e.Hi)
	}
	g.popR(rsi)
	g.popR(rcx)
	g.popR(rdx)
	if e.Hi == nil {
		a.movRR(rax, rdx)
	}
	a.aluRR(aluCmp, rax, rdx)
	a.jcc(ccA, g.trap(trapSlice))
	a.aluRR(aluCmp, rsi, rax)
	a.jcc(ccA, g.trap(trapSlice))
	a.movRR(rdx, rax)
	a.aluRR(aluSub, rdx, rsi)
	a.lea(rax, mi(rcx, rsi, 8, 0))
}

// call compiles a call; an array result goes to a fresh frame
// temporary whose address is left in RAX.
func (g *gen) call(e *ir.Call) { g.callTo(e, false) }

// resultSlot is the rbp offset of the hidden result pointer of a
// function with an array result.
//
// Array-result ABI: the caller reserves the result area (a frame
// temporary, or directly the destination: a local or element being
// assigned, an argument area, a literal's element, its own result area)
// and pushes its address after the arguments, so it sits right above
// the callee's return address. The callee writes the whole value there
// when it returns (never before: a trap leaves nothing half-visible,
// and the caller's destination cannot be read by the callee) and
// returns the address in RAX.
const resultSlot = 16

// callTo compiles call e. For an array result, dstPushed says the
// result area's address is on top of the push stack, below the
// arguments (it stays there); otherwise the result goes to a fresh frame
// temporary and RAX holds its address afterwards.
func (g *gen) callTo(e *ir.Call, dstPushed bool) {
	a := &g.a
	if e.Target == nil {
		g.unsupported("call of an unlinked function")
		return
	}
	words := 0
	for _, arg := range e.Args {
		switch arg.Type().Kind {
		case ir.Array:
			// Reserve the argument's words, then copy the value in.
			n := int(size(arg.Type()) / 8)
			a.aluRI(aluSub, rsp, int32(8*n))
			g.push += n
			if g.push > g.maxPush {
				g.maxPush = g.push
			}
			a.movRR(rax, rsp)
			g.pushR(rax)
			g.arrayValue(arg)
			words += n
		case ir.Slice:
			g.expr(arg)
			g.pushR(rdx)
			g.pushR(rax)
			words += 2
		default:
			g.expr(arg)
			g.pushR(rax)
			words++
		}
	}
	var tmp int32
	if e.T.Kind == ir.Array {
		if dstPushed {
			a.load(rax, m(rsp, int32(8*words)))
		} else {
			tmp = g.temp(size(e.T))
			a.lea(rax, m(rbp, tmp))
		}
		g.pushR(rax)
		words++
	}
	g.subFuel(1)
	if g.fuelInReg {
		a.store(st(stFuel), fuelReg)
	}
	a.callData(poolSize + 8*g.code.index[e.Target])
	if g.fuelInReg {
		a.load(fuelReg, st(stFuel))
	}
	if words > 0 {
		a.aluRI(aluAdd, rsp, int32(8*words))
		g.push -= words
	}
	if e.T.Kind == ir.Array && !dstPushed {
		a.lea(rax, m(rbp, tmp))
	}
}

func (g *gen) normByte(t *ir.Type) {
	if t.Kind == ir.Byte {
		g.a.movzxB(rax, rax)
	}
}

func (g *gen) unary(op ir.Op, t *ir.Type) {
	a := &g.a
	switch {
	case op == ir.OpNeg && t.Kind == ir.Float64:
		a.btcRI(rax, 63)
	case op == ir.OpNeg && t.IsInteger():
		a.grp3(3, rax)
		g.normByte(t)
	case op == ir.OpNot && t.Kind == ir.Bool:
		a.aluRI(aluXor, rax, 1)
	case op == ir.OpCpl && t.IsInteger():
		a.grp3(2, rax)
		g.normByte(t)
	default:
		a.jmp(g.trap(trapBadOperands))
	}
}

// binop computes rax = rax op rcx for operands of type t (rcx of type yt
// for shifts), exactly as ir.EvalBinary.
func (g *gen) binop(op ir.Op, t, yt *ir.Type) {
	a := &g.a
	switch op {
	case ir.OpShl, ir.OpShr:
		if yt.Kind == ir.Int64 {
			a.testRR(rcx, rcx)
			a.jcc(ccS, g.trap(trapNegShift))
		}
		width := int32(64)
		if t.Kind == ir.Byte {
			width = 8
			a.movzxB(rax, rax)
		}
		if op == ir.OpShr && t.Kind == ir.Int64 {
			a.movImm(rdx, 63)
			a.aluRI(aluCmp, rcx, 64)
			a.cmovRR(ccAE, rcx, rdx)
			a.shiftCL(7, rax)
			return
		}
		ok, end := g.newLabel(), g.newLabel()
		a.aluRI(aluCmp, rcx, width)
		a.jcc(ccB, ok)
		a.movImm(rax, 0)
		a.jmp(end)
		a.bind(ok)
		if op == ir.OpShl {
			a.shiftCL(4, rax)
			g.normByte(t)
		} else {
			a.shiftCL(5, rax)
		}
		a.bind(end)
		return
	}
	if t.Kind == ir.Float64 {
		a.movqXR(0, rax)
		a.movqXR(1, rcx)
		switch op {
		case ir.OpAdd, ir.OpSub, ir.OpMul, ir.OpDiv:
			a.sseRR(0xf2, map[ir.Op]byte{ir.OpAdd: sseAdd, ir.OpSub: sseSub, ir.OpMul: sseMul, ir.OpDiv: sseDiv}[op], 0, 1)
			a.movqRX(rax, 0)
		case ir.OpEq, ir.OpNe:
			a.sseRR(0x66, sseUcom, 0, 1)
			if op == ir.OpEq {
				a.setcc(ccE, rax)
				a.setcc(ccNP, rcx)
				a.opRR(0, false, []byte{0x20}, rcx, rax) // and al, cl
			} else {
				a.setcc(ccNE, rax)
				a.setcc(ccP, rcx)
				a.opRR(0, false, []byte{0x08}, rcx, rax) // or al, cl
			}
			a.movzxB(rax, rax)
		case ir.OpLt, ir.OpLe:
			a.sseRR(0x66, sseUcom, 1, 0) // compare y with x
			a.setcc(map[ir.Op]byte{ir.OpLt: ccA, ir.OpLe: ccAE}[op], rax)
			a.movzxB(rax, rax)
		case ir.OpGt, ir.OpGe:
			a.sseRR(0x66, sseUcom, 0, 1)
			a.setcc(map[ir.Op]byte{ir.OpGt: ccA, ir.OpGe: ccAE}[op], rax)
			a.movzxB(rax, rax)
		default:
			a.jmp(g.trap(trapBadOperands))
		}
		return
	}
	cmp := func(signed, unsigned byte) {
		a.aluRR(aluCmp, rax, rcx)
		cc := unsigned
		if t.Kind == ir.Int64 {
			cc = signed
		}
		a.setcc(cc, rax)
		a.movzxB(rax, rax)
	}
	switch op {
	case ir.OpEq:
		cmp(ccE, ccE)
		return
	case ir.OpNe:
		cmp(ccNE, ccNE)
		return
	}
	if t.Kind == ir.Bool {
		a.jmp(g.trap(trapBadOperands))
		return
	}
	switch op {
	case ir.OpLt:
		cmp(ccL, ccB)
	case ir.OpLe:
		cmp(ccLE, ccBE)
	case ir.OpGt:
		cmp(ccG, ccA)
	case ir.OpGe:
		cmp(ccGE, ccAE)
	case ir.OpAdd:
		a.aluRR(aluAdd, rax, rcx)
		g.normByte(t)
	case ir.OpSub:
		a.aluRR(aluSub, rax, rcx)
		g.normByte(t)
	case ir.OpMul:
		a.imulRR(rax, rcx)
		g.normByte(t)
	case ir.OpAnd:
		a.aluRR(aluAnd, rax, rcx)
		g.normByte(t)
	case ir.OpOr:
		a.aluRR(aluOr, rax, rcx)
		g.normByte(t)
	case ir.OpXor:
		a.aluRR(aluXor, rax, rcx)
		g.normByte(t)
	case ir.OpAndNot:
		a.grp3(2, rcx)
		a.aluRR(aluAnd, rax, rcx)
		g.normByte(t)
	case ir.OpDiv, ir.OpRem:
		if t.Kind == ir.Byte {
			a.movzxB(rax, rax)
			a.movzxB(rcx, rcx)
		}
		a.testRR(rcx, rcx)
		a.jcc(ccE, g.trap(trapDivZero))
		if t.Kind == ir.Int64 {
			do, end := g.newLabel(), g.newLabel()
			a.aluRI(aluCmp, rcx, -1)
			a.jcc(ccNE, do)
			if op == ir.OpDiv {
				a.grp3(3, rax)
			} else {
				a.movImm(rax, 0)
			}
			a.jmp(end)
			a.bind(do)
			a.cqo()
			a.grp3(7, rcx)
			if op == ir.OpRem {
				a.movRR(rax, rdx)
			}
			a.bind(end)
			return
		}
		a.movImm(rdx, 0)
		a.grp3(6, rcx)
		if op == ir.OpRem {
			a.movRR(rax, rdx)
		}
	default:
		a.jmp(g.trap(trapBadOperands))
	}
}

func (g *gen) convert(from, to *ir.Type) {
	a := &g.a
	if from.Kind == to.Kind {
		return
	}
	if from.Kind == ir.Bool || to.Kind == ir.Bool {
		a.jmp(g.trap(trapBadOperands))
		return
	}
	pool := func(off int) mem { return mem{rip: off} }
	switch {
	case from.Kind == ir.Float64:
		a.movqXR(0, rax)
		conv := g.trap(trapConvRange)
		switch to.Kind {
		case ir.Int64:
			a.ucomisdRM(0, pool(poolMinInt64))
			a.jcc(ccB, conv) // below or unordered
			a.ucomisdRM(0, pool(poolTwo63))
			a.jcc(ccAE, conv)
			a.cvttsd2si(rax, 0)
		case ir.Uint64:
			a.ucomisdRM(0, pool(poolMinusOne))
			a.jcc(ccBE, conv)
			a.ucomisdRM(0, pool(poolTwo64))
			a.jcc(ccAE, conv)
			big, end := g.newLabel(), g.newLabel()
			a.ucomisdRM(0, pool(poolTwo63))
			a.jcc(ccAE, big)
			a.cvttsd2si(rax, 0)
			a.jmp(end)
			a.bind(big)
			a.subsdRM(0, pool(poolTwo63))
			a.cvttsd2si(rax, 0)
			a.btcRI(rax, 63)
			a.bind(end)
		case ir.Byte:
			a.ucomisdRM(0, pool(poolMinusOne))
			a.jcc(ccBE, conv)
			a.ucomisdRM(0, pool(poolTwo56))
			a.jcc(ccAE, conv)
			a.cvttsd2si(rax, 0)
		}
	case to.Kind == ir.Float64:
		if from.Kind == ir.Int64 {
			a.cvtsi2sd(0, rax)
		} else {
			big, end := g.newLabel(), g.newLabel()
			a.testRR(rax, rax)
			a.jcc(ccS, big)
			a.cvtsi2sd(0, rax)
			a.jmp(end)
			a.bind(big)
			a.movRR(rcx, rax)
			a.opRR(0, true, []byte{0xd1}, 5, rcx) // shr rcx, 1
			a.aluRI(aluAnd, rax, 1)
			a.aluRR(aluOr, rcx, rax)
			a.cvtsi2sd(0, rcx)
			a.sseRR(0xf2, sseAdd, 0, 0)
			a.bind(end)
		}
		a.movqRX(rax, 0)
	default:
		g.normByte(to)
	}
}
