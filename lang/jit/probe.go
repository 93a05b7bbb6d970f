package jit

import (
	"errors"
	"unsafe"

	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/telemetry"
)

// Telemetry instrumentation.
//
// CompileInstrumented emits a timestamp into every function's prologue
// (after the frame is set up, saved in a frame slot) and a shared
// instrumented epilogue that every return jumps to: it reads the
// timestamp again and adds the call to the function's telemetry.Counter
// in the block the state block's prof word points at (function i's
// counter at prof + i*telemetry.CounterBytes): calls, cycles, min, max
// and the log2 histogram. The timestamp is RDTSCP when the CPU has it,
// else LFENCE;RDTSC; the validator accepts them because the code is
// linked with Meta.AllowTiming. With no Profile attached (prof = 0) the
// epilogue skips the update. Calls that trap are not counted (they unwind
// straight to the trampoline). Each Machine has its own Profile, so the
// counters are per thread and need no atomics; telemetry merges them.

// stProf is the offset of state.prof.
const stProf = stArgs + 8*maxArgWords

var _ = [1]struct{}{}[unsafe.Offsetof(state{}.prof)-stProf]

// CompileInstrumented is Compile with telemetry prologues and epilogues.
func CompileInstrumented(roots ...*ir.Func) (*Code, error) {
	c, err := Compile(roots...)
	if err != nil {
		return nil, err
	}
	return instrumented(c)
}

// CompileModuleInstrumented is CompileModule with telemetry.
func CompileModuleInstrumented(funcs []*ir.Func) (*Code, error) {
	c, err := CompileModule(funcs)
	if err != nil {
		return nil, err
	}
	return instrumented(c)
}

func instrumented(c *Code) (*Code, error) {
	i := &Code{Funcs: c.Funcs, Externs: c.Externs, index: c.index, id: c.id, instr: true}
	return i.generate()
}

// Instrumented reports whether the code carries telemetry.
func (c *Code) Instrumented() bool { return c.instr }

// timestamp emits RDTSCP (or LFENCE;RDTSC) and RAX = EDX:EAX. It
// clobbers RAX, RCX and RDX.
func (g *gen) timestamp() {
	a := &g.a
	if telemetry.HasRDTSCP() {
		a.byte1(0x0f, 0x01, 0xf9) // rdtscp
	} else {
		// No LFENCE: on this platform's VMs a fenced read costs 2-3x an
		// unfenced one (BenchmarkTimestampFloor), and an unfenced read
		// can only move by the reorder window, tens of cycles, small
		// against the calls being timed.
		a.byte1(0x0f, 0x31) // rdtsc
	}
	a.opRR(0, true, []byte{0xc1}, 4, rdx) // shl rdx, 32
	a.byte1(32)
	a.aluRR(aluOr, rax, rdx)
}

func (g *gen) probeEnter() {
	g.timestamp()
	g.a.store(m(rbp, g.tscSlot), rax)
}

// probeExit is the shared epilogue; the result is in RAX (and RDX).
// It uses only scratch registers (RSI and RDI keep the result, R14 the
// counter block once the fuel counter is written back), so allocated
// registers (regalloc.go) survive it. The log2 bucket is BSR of the
// cycle count (or 1, so 0 and 1 share bucket 0): one instruction instead
// of a six-step binary search.
func (g *gen) probeExit() {
	a := &g.a
	a.movRR(rsi, rax)
	a.movRR(rdi, rdx)
	if g.fuelInReg {
		a.store(st(stFuel), fuelReg)
	}
	g.timestamp()
	a.aluRM(aluSub, rax, m(rbp, g.tscSlot))
	p := r14
	a.load(p, st(stProf))
	a.testRR(p, p)
	done := g.newLabel()
	a.jcc(ccE, done)
	d := int32(g.fi * telemetry.CounterBytes)
	a.incM(m(p, d+telemetry.OffCalls))
	a.opRM(0, true, []byte{0x01}, rax, m(p, d+telemetry.OffCycles)) // add [cycles], rax
	l1 := g.newLabel()
	a.aluRM(aluCmp, rax, m(p, d+telemetry.OffMin))
	a.jcc(ccAE, l1)
	a.store(m(p, d+telemetry.OffMin), rax)
	a.bind(l1)
	l2 := g.newLabel()
	a.aluRM(aluCmp, rax, m(p, d+telemetry.OffMax))
	a.jcc(ccBE, l2)
	a.store(m(p, d+telemetry.OffMax), rax)
	a.bind(l2)
	a.aluRI(aluOr, rax, 1)
	a.opRR(0, true, []byte{0x0f, 0xbd}, rcx, rax) // bsr rcx, rax
	a.incM(mi(p, rcx, 8, d+telemetry.OffHist))
	a.bind(done)
	a.movRR(rax, rsi)
	a.movRR(rdx, rdi)
	g.epilogueRegs(false)
}

// Profile holds one counter per function of an instrumented program.
// Attach it to one Machine (Machine.Prof); use one Profile per Machine
// and let telemetry merge them (Profile is a telemetry.Source).
type Profile struct {
	prog     *Program
	Counters []telemetry.Counter // index = function index in the program
}

// NewProfile returns zeroed counters for p's functions.
func NewProfile(p *Program) (*Profile, error) {
	if !p.code.instr {
		return nil, errors.New("jit: program is not instrumented (use CompileInstrumented)")
	}
	pr := &Profile{prog: p, Counters: make([]telemetry.Counter, len(p.code.Funcs))}
	pr.Reset()
	return pr, nil
}

// Reset zeroes the counters. Do not call it while the machine runs.
func (pr *Profile) Reset() {
	for i := range pr.Counters {
		pr.Counters[i].Reset()
	}
}

// Stats returns fn's counters.
func (pr *Profile) Stats(fn *ir.Func) (telemetry.Stats, bool) {
	k, ok := pr.prog.code.index[fn]
	if !ok || k >= len(pr.Counters) {
		return telemetry.Stats{}, false
	}
	return telemetry.StatsOf(&pr.Counters[k]), true
}

// TelemetrySamples reports one sample per function with calls, keyed by
// the function's CID when it has one.
func (pr *Profile) TelemetrySamples() []telemetry.Sample {
	var out []telemetry.Sample
	for i, f := range pr.prog.code.Funcs {
		s := telemetry.StatsOf(&pr.Counters[i])
		if s.Calls == 0 {
			continue
		}
		smp := telemetry.Sample{Name: f.Name, Stats: s}
		if f.CID.Defined() {
			smp.ID = f.CID.String()
		}
		out = append(out, smp)
	}
	return out
}

func (m *Machine) profAddr(p *Program) uint64 {
	pr := m.Prof
	if pr == nil || pr.prog != p || !p.code.instr || len(pr.Counters) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&pr.Counters[0])))
}
