// Package jit compiles lang/ir functions to x86-64 machine code and runs
// them from Go through a small assembly trampoline (call_amd64.s).
//
// Code generation is a single pass over the IR tree: expressions are
// evaluated into RAX (slices: RAX pointer, RDX length), intermediate
// values live in stack slots (pushed temporaries), the most used scalar
// locals and slices live in registers and the rest in the frame
// (regalloc.go), comparisons feeding branches compile to cmp/jcc, and
// R15 points at a state block holding the fuel counter, the call
// depth, the allocation arena and the trap record. Every loop back-edge
// and every call decrements the fuel exactly as the interpreter does, so
// the remaining fuel after a run and the point of exhaustion are
// identical. Every index and slice operation is bounds-checked. Calls
// between functions go through a call table (CALL [RIP+slot]). A trap
// (fuel, bounds, division by zero, ...) records its cause and unwinds
// straight back to the trampoline; the Go side turns it into the same
// *interp.RuntimeError the interpreter returns.
//
// Memory: a blob is mapped read-write, linked for its address, checked
// by lang/validate, then flipped to read-execute; it is never writable
// and executable at once. JIT code runs on its own mmap'd stack with a
// guard page, and each frame checks its stack need on entry.
package jit

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/validate"
)

// ErrStackOverflow is returned when JIT frames exhaust the JIT stack
// (the interpreter has no equivalent; its limit is MaxDepth).
var ErrStackOverflow = errors.New("jit stack exhausted")

// Supported reports whether this platform can run JIT code.
func Supported() bool { return platformSupported() }

// state is the block R15 points at; offsets are the st* constants.
type state struct {
	fuel       int64
	depth      int64
	maxDepth   int64
	stackLimit uint64
	savedSP    uint64
	entrySP    uint64
	stackTop   uint64
	trapCode   int64
	trapFn     int64
	a0, a1, a2 uint64
	allocPtr   uint64
	allocLeft  int64
	savedG     uint64
	ret0, ret1 uint64
	args       [maxArgWords]uint64
	prof       uint64 // the machine's counter shard offset (probe.go), 0 for none
}

var _ = [1]struct{}{}[unsafe.Offsetof(state{}.args)-stArgs]

// Program is a loaded, validated, executable blob.
type Program struct {
	code     *Code
	mem      []byte
	base     uint64
	imports  []*Program // programs the call table points into (kept alive)
	id       uint32     // code id in trap records, unique among loaded programs (live.go)
	counters []byte     // telemetry counter shards (instrumented code, probe.go)
}

// Load places code in executable memory after validating it.
func Load(code *Code) (*Program, error) {
	if len(code.Externs) > 0 {
		return nil, fmt.Errorf("jit: code calls %d functions compiled elsewhere; use LoadLinked", len(code.Externs))
	}
	return LoadLinked(code, nil)
}

// LoadLinked loads code from CompileModule: each of code.Externs is
// looked up in imports (the first program that compiled it) and its call-
// table slot is set to that program's entry for it. The programs must stay
// loaded while p is; p keeps them reachable, but the caller (the module
// table) decides when they are closed.
func LoadLinked(code *Code, imports []*Program) (*Program, error) {
	ext := make([]uint64, len(code.Externs))
	for j, f := range code.Externs {
		for _, q := range imports {
			if a, ok := q.FuncAddr(f); ok {
				ext[j] = a
				break
			}
		}
		if ext[j] == 0 {
			return nil, fmt.Errorf("jit: %s is called but no imported program compiled it", f.Name)
		}
	}
	for _, q := range imports {
		if q.mem == nil {
			return nil, errors.New("jit: an imported program is closed")
		}
	}
	p := &Program{code: code, imports: imports}
	if err := register(p); err != nil {
		return nil, err
	}
	var counters uint64
	if p.counters != nil {
		counters = uint64(uintptr(unsafe.Pointer(&p.counters[0])))
	}
	mem, err := mapCode(code.Size(), func(base uint64) ([]byte, error) {
		blob, meta := code.link(base, ext, counters, p.id)
		if err := validate.Validate(blob, meta); err != nil {
			return nil, fmt.Errorf("jit: generated code rejected: %w", err)
		}
		p.base = base
		return blob, nil
	})
	if err != nil {
		unregister(p)
		return nil, err
	}
	p.mem = mem
	setBase(p)
	runtime.SetFinalizer(p, (*Program).Close)
	return p, nil
}

// CompileAndLoad compiles roots (and everything they call) and loads them.
func CompileAndLoad(roots ...*ir.Func) (*Program, error) {
	c, err := Compile(roots...)
	if err != nil {
		return nil, err
	}
	return Load(c)
}

// Close unmaps the program's code. No thread may be executing it, also
// not through another program's redirected entry (see patch.Tracker).
// Its telemetry counters stay readable until the Program is unreachable.
func (p *Program) Close() error {
	if p.mem == nil {
		return nil
	}
	err := unmapCode(p.mem)
	p.mem = nil
	unregister(p)
	runtime.SetFinalizer(p, nil)
	return err
}

// CodeSize is the size of the program's blob in bytes.
func (p *Program) CodeSize() int { return p.code.Size() }

// Base is the address the blob is mapped at (0 once closed).
func (p *Program) Base() uint64 {
	if p.mem == nil {
		return 0
	}
	return p.base
}

// MappedBytes is the size of the blob's mapping (whole pages).
func (p *Program) MappedBytes() int {
	if p.mem == nil {
		return 0
	}
	return (len(p.mem) + pageSize - 1) &^ (pageSize - 1)
}

const pageSize = 4096

// FuncAddr is the entry address of f if p compiled it (not merely calls it).
func (p *Program) FuncAddr(f *ir.Func) (uint64, bool) {
	k, ok := p.code.index[f]
	if !ok || k >= len(p.code.Funcs) || p.mem == nil {
		return 0, false
	}
	return p.base + uint64(p.code.bodies[k]), true
}

// Text is the program's machine code, [lo, hi): its functions and entry
// thunks, without the constant pool and call table that follow them (the
// region a live patcher decodes, see package patch). 0, 0 once closed.
func (p *Program) Text() (lo, hi uint64) {
	if p.mem == nil {
		return 0, 0
	}
	return p.base, p.base + uint64(len(p.code.code))
}

// Code is the compiled code the program was loaded from.
func (p *Program) Code() *Code { return p.code }

// Machine runs JIT code with a fuel budget and limits matching
// interp.Machine. It is not safe for concurrent use.
type Machine struct {
	Fuel      int64    // remaining fuel
	MaxDepth  int      // maximum call depth
	MaxAlloc  int64    // maximum slice elements allocated per call
	StackSize int      // bytes of JIT stack (default 64 MiB)
	Prof      *Profile // counts telemetry, read through this Profile (probe.go)
	// Telemetry makes the machine count telemetry without a Prof: every
	// call it makes into instrumented code counts in the program whose
	// code ran (read it with ProfileOf).
	Telemetry bool
	st        state
	shard     int  // counter shard number while counting (live.go), 0 for none
	finalizer bool // Close is set as the finalizer
	stack     []byte
	arena     []byte
	arenaCap  int64
}

const guardSize = 1 << 16

// New returns a machine with the interpreter's default limits.
func New(fuel int64) *Machine {
	return &Machine{Fuel: fuel, MaxDepth: 2048, MaxAlloc: 1 << 26, StackSize: 64 << 20}
}

// Close releases the machine's stack, arena and counter shard.
func (m *Machine) Close() {
	m.releaseShard()
	if m.stack != nil {
		unmap(m.stack)
		m.stack = nil
	}
	if m.arena != nil {
		unmap(m.arena)
		m.arena = nil
	}
}

func (m *Machine) setup() error {
	if m.stack == nil {
		s, err := mapRW(m.StackSize+guardSize, guardSize)
		if err != nil {
			return err
		}
		m.stack = s
		if !m.finalizer {
			m.finalizer = true
			runtime.SetFinalizer(m, (*Machine).Close)
		}
	}
	if m.arena == nil || m.arenaCap != m.MaxAlloc {
		if m.arena != nil {
			unmap(m.arena)
			m.arena = nil
		}
		if m.MaxAlloc > 0 {
			a, err := mapRW(int(m.MaxAlloc)*8, 0)
			if err != nil {
				return err
			}
			m.arena = a
		}
		m.arenaCap = m.MaxAlloc
	}
	return nil
}

// Call runs fn (compiled into p) with args, as interp.Machine.Call does.
func (m *Machine) Call(p *Program, fn *ir.Func, args []interp.Value) (interp.Value, error) {
	if p.mem == nil {
		return nil, errClosed
	}
	k, ok := p.code.index[fn]
	if !ok || k >= len(p.code.Funcs) {
		return nil, fmt.Errorf("jit: %s is not part of this program", fn.Name)
	}
	if len(args) != len(fn.Params) {
		return nil, fmt.Errorf("%s: expected %d arguments, got %d", fn.Name, len(fn.Params), len(args))
	}
	total := 0
	for _, t := range fn.Params {
		total += int(size(t) / 8)
	}
	if total > maxArgWords {
		return nil, fmt.Errorf("jit: %s: arguments exceed %d words; call it from JIT code or use the interpreter", fn.Name, maxArgWords)
	}
	if err := m.setup(); err != nil {
		return nil, err
	}
	st := &m.st
	*st = state{}
	w := 0
	var slices [][]uint64
	for i, a := range args {
		t := fn.Params[i]
		switch t.Kind {
		case ir.Slice:
			s, ok := a.(interp.Slice)
			if !ok {
				return nil, fmt.Errorf("%s: argument %d is not a %s", fn.Name, i, t)
			}
			if len(s.Elems) > 0 {
				st.args[w] = uint64(uintptr(unsafe.Pointer(&s.Elems[0])))
			}
			st.args[w+1] = uint64(len(s.Elems))
			slices = append(slices, s.Elems)
			w += 2
		case ir.Array:
			words := flatten(nil, a, t)
			if words == nil {
				return nil, fmt.Errorf("%s: argument %d is not a %s", fn.Name, i, t)
			}
			w += copy(st.args[w:], words)
		default:
			v, ok := a.(uint64)
			if !ok || ir.Normalize(t, v) != v {
				return nil, fmt.Errorf("%s: argument %d is not a %s", fn.Name, i, t)
			}
			st.args[w] = v
			w++
		}
	}
	// The entry call costs fuel like any other.
	if m.Fuel--; m.Fuel < 0 {
		m.Fuel = 0
		return nil, &interp.RuntimeError{Func: fn.Name, Err: interp.ErrOutOfFuel}
	}
	stackBase := uint64(uintptr(unsafe.Pointer(&m.stack[0])))
	st.fuel = m.Fuel
	st.maxDepth = int64(m.MaxDepth)
	st.stackLimit = stackBase + guardSize
	st.stackTop = (stackBase + uint64(len(m.stack))) &^ 15
	var arenaBase uint64
	if len(m.arena) > 0 {
		arenaBase = uint64(uintptr(unsafe.Pointer(&m.arena[0])))
	}
	st.allocPtr = arenaBase
	st.allocLeft = m.MaxAlloc
	prof, err := m.profWord(p)
	if err != nil {
		return nil, err
	}
	st.prof = prof
	// An array result is written by the JIT code straight into a Go
	// buffer (the hidden result pointer, passed in ret0): it can be as
	// large as 2^20 elements, more than the state block holds. The buffer
	// is plain words, so the JIT's stores need no write barriers.
	var res []uint64
	if fn.Result.Kind == ir.Array {
		res = make([]uint64, elemCount(fn.Result))
		if len(res) > 0 {
			st.ret0 = uint64(uintptr(unsafe.Pointer(&res[0])))
		}
	}

	callJIT(uintptr(p.base)+uintptr(p.code.thunks[k]), st)
	runtime.KeepAlive(res)
	runtime.KeepAlive(args)
	runtime.KeepAlive(p)
	runtime.KeepAlive(m.Prof)

	m.Fuel = st.fuel
	used := int(st.allocPtr - arenaBase)
	defer clear(m.arena[:used]) // the arena is zero for the next call
	if st.trapCode != trapNone {
		return nil, m.trapError(p, st)
	}
	switch fn.Result.Kind {
	case ir.Void:
		return nil, nil
	case ir.Slice:
		return sliceResult(st.ret0, st.ret1, slices, m.arena)
	case ir.Array:
		v, _ := unflatten(res, fn.Result)
		return v, nil
	}
	return st.ret0, nil
}

// unflatten is the inverse of flatten: the value of type t made of the
// leading words of w (an array as nested []interp.Value, as the
// interpreter represents it), and the words left over.
func unflatten(w []uint64, t *ir.Type) (interp.Value, []uint64) {
	if t.Kind != ir.Array {
		return w[0], w[1:]
	}
	a := make([]interp.Value, t.Len)
	for i := range a {
		a[i], w = unflatten(w, t.Elem)
	}
	return a, w
}

// sliceResult rebuilds a returned slice: a view of an argument's backing
// array when it points into one (sharing, as in the interpreter), else a
// copy out of the arena.
func sliceResult(ptr, n uint64, args [][]uint64, arena []byte) (interp.Slice, error) {
	if n == 0 {
		return interp.Slice{Elems: []uint64{}}, nil
	}
	for _, s := range args {
		if len(s) == 0 {
			continue
		}
		lo := uint64(uintptr(unsafe.Pointer(&s[0])))
		if ptr >= lo && ptr+8*n <= lo+8*uint64(len(s)) {
			i := (ptr - lo) / 8
			return interp.Slice{Elems: s[i : i+n : i+n]}, nil
		}
	}
	if len(arena) > 0 {
		words := unsafe.Slice((*uint64)(unsafe.Pointer(&arena[0])), len(arena)/8)
		lo := uint64(uintptr(unsafe.Pointer(&arena[0])))
		if ptr >= lo && ptr+8*n <= lo+uint64(len(arena)) {
			i := (ptr - lo) / 8
			return interp.Slice{Elems: append([]uint64(nil), words[i:i+n]...)}, nil
		}
	}
	return interp.Slice{}, fmt.Errorf("jit: returned slice %#x (len %d) points outside the arguments and the arena", ptr, n)
}

func (m *Machine) trapError(p *Program, st *state) error {
	id, fi := uint32(st.trapFn)>>16, int(st.trapFn&0xffff)
	name := trapFuncName(p, id, fi, map[*Program]bool{})
	if name == "" {
		// The code that trapped belongs to neither p nor its imports: a
		// live patcher redirected an entry into another program.
		name = liveFuncName(id, fi)
	}
	var err error
	switch st.trapCode {
	case trapFuel:
		m.Fuel = 0
		err = interp.ErrOutOfFuel
	case trapDepth:
		err = interp.ErrTooDeep
	case trapStack:
		err = ErrStackOverflow
	case trapIndex:
		err = ir.Trap(fmt.Sprintf("index out of range [%d] with length %d", int64(st.a0), int64(st.a1)))
	case trapSlice:
		err = ir.Trap(fmt.Sprintf("slice bounds out of range [%d:%d] with length %d", int64(st.a2), int64(st.a0), int64(st.a1)))
	case trapDivZero:
		err = ir.TrapDivZero
	case trapNegShift:
		err = ir.TrapNegShift
	case trapConvRange:
		err = ir.TrapConvRange
	case trapMakeLen:
		err = ir.Trap(fmt.Sprintf("makeslice: len out of range (%d)", int64(st.a0)))
	case trapAlloc:
		err = interp.ErrAllocLimit
	case trapNoReturn:
		err = errors.New("function ended without returning a value")
	case trapBadOperands:
		err = ir.TrapBadOperands
	default:
		err = fmt.Errorf("jit: unknown trap %d", st.trapCode)
	}
	return &interp.RuntimeError{Func: name, Err: err}
}

// trapFuncName finds the function a trap record names: function fi of
// the program with code id, p or one of the programs it calls into.
func trapFuncName(p *Program, id uint32, fi int, seen map[*Program]bool) string {
	if seen[p] {
		return ""
	}
	seen[p] = true
	if p.id == id && fi < len(p.code.Funcs) {
		return p.code.Funcs[fi].Name
	}
	for _, q := range p.imports {
		if n := trapFuncName(q, id, fi, seen); n != "" {
			return n
		}
	}
	return ""
}

// flatten appends the words of array value v of type t, or returns nil if
// v does not have type t.
func flatten(out []uint64, v interp.Value, t *ir.Type) []uint64 {
	if t.Kind != ir.Array {
		x, ok := v.(uint64)
		if !ok || !t.IsScalar() || ir.Normalize(t, x) != x {
			return nil
		}
		return append(out, x)
	}
	a, ok := v.([]interp.Value)
	if !ok || int64(len(a)) != t.Len {
		return nil
	}
	if out == nil {
		out = make([]uint64, 0, elemCount(t))
	}
	for _, e := range a {
		if out = flatten(out, e, t.Elem); out == nil {
			return nil
		}
	}
	return out
}
