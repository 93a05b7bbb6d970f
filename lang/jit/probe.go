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
// timestamp again and adds the call to a telemetry.Counter: calls,
// cycles, min, max and the log2 histogram. The timestamp is RDTSCP when
// the CPU has it, else LFENCE;RDTSC; the validator accepts them because the code
// is linked with Meta.AllowTiming. Calls that trap are not counted (they
// unwind straight to the trampoline).
//
// Where the counter is. Each loaded instrumented program owns a counter
// mapping (read-write, never executable, separate from its code) with one
// shard per function and per counting machine (live.go): the address of
// function fi's shards is a MOVABS immediate the loader writes into the
// code, and the state block's prof word holds the running machine's shard
// offset (0: the machine does not count, and the epilogue skips the
// update). So the code that runs decides which program's counters a call
// lands in: when a live patcher redirects one program's entry to another
// program's function (package patch, heal), the calls count for the body
// that actually ran. A machine is used by one goroutine at a time, so its
// shard needs no atomics (the validator forbids LOCK anyway); telemetry
// merges the shards.

// stProf is the offset of state.prof.
const stProf = stArgs + 8*maxArgWords

var _ = [1]struct{}{}[unsafe.Offsetof(state{}.prof)-stProf]

// shardBytes is one machine's counter for one function, padded to whole
// cache lines so machines on different CPUs never share a line.
const shardBytes = (telemetry.CounterBytes + 63) &^ 63

// maxShards bounds the machines that count telemetry at once (a
// machine's shard is freed when it is closed). The counter mapping
// reserves maxShards shards per function; pages are committed only when
// a shard is first written.
const maxShards = 256

// counterBytes is the size of the counter mapping of a program with n
// functions: function fi's shards are contiguous, so the machines that
// count a function share its pages.
func counterBytes(n int) int { return n * maxShards * shardBytes }

// counterBase is the immediate of function fi's MOVABS: the address that,
// plus a machine's prof word (shard*shardBytes, shard >= 1), is that
// machine's counter for the function.
func counterBase(counters uint64, fi int) uint64 {
	return counters + uint64(fi*maxShards*shardBytes) - shardBytes
}

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
		// LFENCE first: RDTSC alone may execute before earlier
		// instructions finish (or later ones start before it), so the
		// reading could leak the caller's work into the call, or part of
		// the call out of it. The fence costs ~5 ns a read on this
		// platform's VMs (BenchmarkTimestampFloor), paid for exact
		// ordering, as the telemetry contract says.
		a.byte1(0x0f, 0xae, 0xe8) // lfence
		a.byte1(0x0f, 0x31)       // rdtsc
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
	field := a.movAbs(rcx, 0)
	a.counterRefs = append(a.counterRefs, counterRef{field: field, fi: g.fi})
	a.aluRR(aluAdd, p, rcx)
	const d = 0
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

// Profile reads one machine's counters for one instrumented program:
// the calls that machine made into the program's functions, whatever
// entry led there (a redirected entry of another program counts here if
// it jumped into this program's code).
//
// NewProfile returns a Profile that is bound when it is first attached to
// a machine (Machine.Prof) and a call runs: the machine's counters for
// the program are zeroed then, so it counts from that call on, as a fresh
// set of counters would. Machine.ProfileOf returns an already bound view
// that is not zeroed. A Profile reads nothing once its machine is closed.
type Profile struct {
	prog *Program
	m    *Machine
}

// NewProfile returns an unbound Profile of p's counters.
func NewProfile(p *Program) (*Profile, error) {
	if !p.code.instr {
		return nil, errors.New("jit: program is not instrumented (use CompileInstrumented)")
	}
	return &Profile{prog: p}, nil
}

// ProfileOf returns a view of m's counters for p: every call m made into
// p's code since m first counted (Telemetry or a Prof). It gives m a
// counter shard if it has none yet.
func (m *Machine) ProfileOf(p *Program) (*Profile, error) {
	if !p.code.instr {
		return nil, errors.New("jit: program is not instrumented (use CompileInstrumented)")
	}
	if err := m.ensureShard(); err != nil {
		return nil, err
	}
	return &Profile{prog: p, m: m}, nil
}

// counter returns function k's counter in the bound machine's shard, or
// nil when the profile is unbound or its machine was closed.
func (pr *Profile) counter(k int) *telemetry.Counter {
	if pr.m == nil || k < 0 || k >= len(pr.prog.code.Funcs) {
		return nil
	}
	return pr.prog.shard(k, pr.m.shard)
}

// Reset zeroes the counters. Do not call it while the machine runs.
func (pr *Profile) Reset() {
	for k := range pr.prog.code.Funcs {
		if c := pr.counter(k); c != nil {
			c.Reset()
		}
	}
}

// Stats returns fn's counters.
func (pr *Profile) Stats(fn *ir.Func) (telemetry.Stats, bool) {
	k, ok := pr.prog.code.index[fn]
	if !ok || k >= len(pr.prog.code.Funcs) {
		return telemetry.Stats{}, false
	}
	if c := pr.counter(k); c != nil {
		return telemetry.StatsOf(c), true
	}
	return telemetry.Stats{}, true
}

// TelemetrySamples reports one sample per function with calls, keyed by
// the function's CID when it has one.
func (pr *Profile) TelemetrySamples() []telemetry.Sample {
	var out []telemetry.Sample
	for i, f := range pr.prog.code.Funcs {
		c := pr.counter(i)
		if c == nil {
			continue
		}
		s := telemetry.StatsOf(c)
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

// profWord returns the state block's prof word for a call of p: the
// machine's shard offset if it counts (Telemetry, or a Prof, which is
// bound and zeroed at its first call), else 0.
func (m *Machine) profWord(p *Program) (uint64, error) {
	pr := m.Prof
	if pr == nil && !m.Telemetry {
		return 0, nil
	}
	if err := m.ensureShard(); err != nil {
		return 0, err
	}
	if pr != nil {
		switch pr.m {
		case nil:
			pr.m = m
			pr.Reset()
		case m:
		default:
			return 0, errors.New("jit: the Profile is attached to another machine")
		}
	}
	return uint64(m.shard) * shardBytes, nil
}
