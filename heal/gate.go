package heal

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/lang/interp"
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/lang/merkle"
	"github.com/velocityos/velocity/lang/syntax"
	"github.com/velocityos/velocity/lang/types"
	"github.com/velocityos/velocity/lang/validate"
)

// Candidate is a proposed replacement for a function. Exactly one of
// Func, Source or Blob is set. Every candidate, whatever produced it, goes
// through the same gate (Gate.Check).
type Candidate struct {
	From   string   // who proposed it ("optimizer", an advisor's name)
	Passes []string // how it was produced
	// Func is a replacement body as IR (untrusted: it is re-encoded,
	// re-decoded and re-checked before anything runs it).
	Func *ir.Func
	// Source is module source text; FuncName names the replacement in it.
	Source   string
	FuncName string
	// Blob is raw machine code with its layout (as from an LLM that emits
	// x86 directly). It must pass lang/validate; being unverifiable
	// against the IR, it is then still rejected.
	Blob []byte
	Meta *validate.Meta
	// Reply is the advisor's raw output when it is a model's (for the
	// rejection's reason when it held no code).
	Reply string
}

// Rejection is a candidate the gate refused, with the reason.
type Rejection struct {
	From, Stage, Reason string
}

func (r *Rejection) Error() string {
	return fmt.Sprintf("candidate from %s rejected at %s: %s", r.From, r.Stage, r.Reason)
}

// Gate is the sandbox validation.
type Gate struct {
	// Blocks holds the blocks of every function a candidate may call
	// (the module being healed and its imports), for re-decoding.
	Blocks merkle.Getter
	// Random is the number of random inputs on top of the recorded ones
	// and the edge values (default 200).
	Random int
	// Fuel is the budget per run of either version (default 1e8). An
	// input on which the current version runs out is inconclusive; a
	// candidate that runs out where the current version finished is
	// rejected.
	Fuel int64
	// MinSpeedup is the A/B timing requirement (0: the default 1.10;
	// negative: not checked).
	MinSpeedup float64
	// Seed makes random inputs reproducible.
	Seed uint64
	// MemBudget bounds the memory each sandbox machine may touch, in
	// bytes: its allocation arena and its stack (0: DefaultMemBudget).
	// A candidate is untrusted and runs before it is judged; with the
	// JIT's default 512 MiB arena it could exhaust the guest's RAM during
	// the gate. Inside the budget, allocating too much is an ordinary
	// runtime error, which the differential test then compares.
	MemBudget int64

	// faultHook, when set (only by tests), runs at the start of every
	// timing run, so a test can make the timing panic.
	faultHook func(v *Version)
}

// DefaultMemBudget is the gate's default per-machine memory budget.
const DefaultMemBudget = 32 << 20

// sandbox returns a JIT machine whose arena and stack together stay
// within the gate's memory budget: a quarter for the stack (at least
// 256 KiB), the rest for slice elements.
func (g *Gate) sandbox() *jit.Machine {
	budget := g.MemBudget
	if budget <= 0 {
		budget = DefaultMemBudget
	}
	stack := max(budget/4, 256<<10) &^ 4095
	m := jit.New(0)
	m.StackSize = int(stack)
	m.MaxAlloc = max(budget-stack, 0) / 8
	return m
}

// Report describes an accepted candidate.
type Report struct {
	Inputs  int     // inputs with identical results and effects
	Speedup float64 // A/B cycles current / candidate on the recorded inputs
	Cycles  [2]uint64
}

// overlay serves the candidate's own blocks, then the known ones.
type overlay struct {
	own  map[string][]byte
	base merkle.Getter
}

func (o overlay) Get(c cid.Cid) ([]byte, error) {
	if b, ok := o.own[c.KeyString()]; ok {
		return b, nil
	}
	if o.base == nil {
		return nil, fmt.Errorf("unknown CID %s", c)
	}
	return o.base.Get(c)
}

// Check runs every stage and returns the candidate as a loaded version.
func (g *Gate) Check(cur *Version, cand Candidate, recorded [][]interp.Value) (v *Version, rep Report, err error) {
	rej := func(stage, format string, args ...any) (*Version, Report, error) {
		if v != nil {
			v.close()
		}
		return nil, rep, &Rejection{From: cand.From, Stage: stage, Reason: fmt.Sprintf(format, args...)}
	}
	defer func() {
		if r := recover(); r != nil {
			v, rep, err = rej("sandbox", "panic: %v", r)
		}
	}()
	if cand.Blob != nil {
		if cand.Meta == nil {
			return rej("machine code", "raw code without layout metadata")
		}
		if err := validate.Validate(cand.Blob, cand.Meta); err != nil {
			return rej("machine code", "%v", err)
		}
		return rej("equivalence", "raw machine code has no IR to test against the current version")
	}
	f := cand.Func
	if f == nil && cand.Source == "" {
		return rej("no code", "%s", noCode(cand.Reply))
	}
	if cand.Source != "" {
		file, err := syntax.Parse("candidate.vel", []byte(cand.Source))
		if err != nil {
			return rej("parse", "%v", err)
		}
		m, err := types.Check(file, nil)
		if err != nil {
			return rej("type check", "%v", err)
		}
		if f = m.Lookup(cand.FuncName); f == nil {
			return rej("type check", "no function %q in the candidate module", cand.FuncName)
		}
	}
	want := cur.Func
	if len(f.Params) != len(want.Params) || !ir.Identical(f.Result, want.Result) {
		return rej("type check", "signature differs from the current version")
	}
	for i := range f.Params {
		if !ir.Identical(f.Params[i], want.Params[i]) {
			return rej("type check", "parameter %d has type %s, want %s", i, f.Params[i], want.Params[i])
		}
	}
	// Canonicalize: encode, then decode and re-check from the blocks; the
	// decoded, verified function is what runs from here on.
	checked, err := g.canonical(f)
	if err != nil {
		return rej("type check", "%v", err)
	}
	if checked.CID.Equals(want.CID) {
		return rej("type check", "identical to the current version (%s)", checked.CID)
	}
	v, err = newVersion(checked, cand.Passes)
	if err != nil {
		return rej("machine code", "%v", err)
	}
	inputs := append(append([][]interp.Value{}, recorded...), g.inputs(want.Params, len(recorded))...)
	mCur, mNew := g.sandbox(), g.sandbox()
	defer mCur.Close()
	defer mNew.Close()
	fuel := g.Fuel
	if fuel <= 0 {
		fuel = 1e8
	}
	var conclusive [][]interp.Value
	for _, in := range inputs {
		ca, na := copyArgs(in), copyArgs(in)
		mCur.Fuel, mNew.Fuel = fuel, fuel
		cr, cerr := mCur.Call(cur.Prog, cur.Func, ca)
		if errors.Is(cerr, interp.ErrOutOfFuel) || errors.Is(cerr, jit.ErrStackOverflow) {
			continue // inconclusive
		}
		nr, nerr := mNew.Call(v.Prog, v.Func, na)
		if errors.Is(nerr, interp.ErrOutOfFuel) {
			return rej("equivalence", "fuel exhausted (%d) on input %s where the current version finished", fuel, show(in, want))
		}
		if msg(cerr) != msg(nerr) {
			return rej("equivalence", "on input %s: current %s, candidate %s", show(in, want), outcome(cr, cerr, want.Result), outcome(nr, nerr, want.Result))
		}
		if cerr == nil && interp.Format(cr, want.Result) != interp.Format(nr, want.Result) {
			return rej("equivalence", "on input %s: current returns %s, candidate %s", show(in, want), interp.Format(cr, want.Result), interp.Format(nr, want.Result))
		}
		for i, t := range want.Params {
			if t.Kind == ir.Slice && !sameSlice(ca[i], na[i]) && interp.Format(ca[i], t) != interp.Format(na[i], t) {
				return rej("equivalence", "on input %s: argument %d becomes %s, candidate leaves %s", show(in, want), i, interp.Format(ca[i], t), interp.Format(na[i], t))
			}
		}
		rep.Inputs++
		conclusive = append(conclusive, in)
	}
	if rep.Inputs == 0 {
		return rej("equivalence", "no conclusive input")
	}
	// A/B timing on the recorded inputs (or all conclusive ones, if none
	// were recorded), with the JIT's own cycle counters: best of 3 runs.
	ab := recorded
	if len(ab) == 0 {
		ab = conclusive
	}
	rep.Cycles[0], rep.Cycles[1] = g.time(cur, ab, fuel), g.time(v, ab, fuel)
	rep.Speedup = float64(rep.Cycles[0]) / math.Max(float64(rep.Cycles[1]), 1)
	need := g.MinSpeedup
	if need == 0 {
		need = 1.10
	}
	if need > 0 && rep.Speedup < need {
		return rej("A/B timing", "speedup %.2f on %d recorded inputs is below %.2f", rep.Speedup, len(ab), need)
	}
	return v, rep, nil
}

// sameSlice compares slice arguments element by element (interp.Format,
// used for the message, is quadratic in the length).
func sameSlice(a, b interp.Value) bool {
	x, ok1 := a.(interp.Slice)
	y, ok2 := b.(interp.Slice)
	return ok1 && ok2 && slices.Equal(x.Elems, y.Elems)
}

func msg(err error) string {
	if err == nil {
		return ""
	}
	var re *interp.RuntimeError
	if errors.As(err, &re) {
		return re.Err.Error() // the function name differs between versions
	}
	return err.Error()
}

func outcome(v interp.Value, err error, t *ir.Type) string {
	if err != nil {
		return "error " + msg(err)
	}
	if v == nil {
		return "nothing"
	}
	return interp.Format(v, t)
}

func show(in []interp.Value, f *ir.Func) string {
	var parts []string
	for i, a := range in {
		parts = append(parts, interp.Format(a, f.Params[i]))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// time returns the summed best-of-3 cycles of v over inputs.
func (g *Gate) time(v *Version, inputs [][]interp.Value, fuel int64) uint64 {
	if g.faultHook != nil {
		g.faultHook(v)
	}
	m := g.sandbox()
	defer m.Close()
	var total uint64
	for _, in := range inputs {
		best := uint64(math.MaxUint64)
		for r := 0; r < 3; r++ {
			prof, err := jit.NewProfile(v.Prog)
			if err != nil {
				return math.MaxUint64
			}
			m.Prof, m.Fuel = prof, fuel
			if _, err := m.Call(v.Prog, v.Func, copyArgs(in)); err != nil {
				break
			}
			if s, _ := prof.Stats(v.Func); s.Calls == 1 && s.Cycles < best {
				best = s.Cycles
			}
		}
		if best != math.MaxUint64 {
			total += best
		}
	}
	return total
}

// canonical hashes f and re-decodes it from blocks, which verifies that
// it is well-typed; calls must target functions in g.Blocks.
func (g *Gate) canonical(f *ir.Func) (*ir.Func, error) {
	cp := *f
	cp.CID = ir.Func{}.CID
	h, err := merkle.HashModule(&ir.Module{Name: "candidate", Funcs: []*ir.Func{&cp}})
	if err != nil {
		return nil, err
	}
	blocks := map[string][]byte{}
	for _, b := range h.Blocks {
		blocks[b.CID.KeyString()] = b.Data
	}
	l := merkle.NewLoader(overlay{blocks, g.Blocks})
	dec, err := l.Func(cp.CID)
	if err != nil {
		return nil, err
	}
	dec.Name = f.Name
	return dec, nil
}

// inputs returns edge-value and random argument tuples.
func (g *Gate) inputs(params []*ir.Type, salt int) [][]interp.Value {
	n := g.Random
	if n <= 0 {
		n = 200
	}
	r := rand.New(rand.NewPCG(g.Seed, uint64(salt)+0x5eed))
	var out [][]interp.Value
	edges := []uint64{0, 1, ^uint64(0), 2, 7, 100, 1 << 63, 1<<63 - 1, 255, 1000}
	for k := 0; k < len(edges); k++ {
		in := make([]interp.Value, len(params))
		for i, t := range params {
			in[i] = randValue(r, t, edges[(k+i)%len(edges)], true)
		}
		out = append(out, in)
	}
	for k := 0; k < n; k++ {
		in := make([]interp.Value, len(params))
		for i, t := range params {
			in[i] = randValue(r, t, 0, false)
		}
		out = append(out, in)
	}
	return out
}

func randScalar(r *rand.Rand, t *ir.Type) uint64 {
	var v uint64
	switch r.IntN(4) {
	case 0:
		v = r.Uint64()
	case 1:
		v = uint64(r.Int64N(2001) - 1000)
	default:
		v = uint64(r.IntN(64))
	}
	switch t.Kind {
	case ir.Bool:
		return v & 1
	case ir.Float64:
		return math.Float64bits(float64(int64(v)) / 8)
	}
	return ir.Normalize(t, v)
}

func randValue(r *rand.Rand, t *ir.Type, edge uint64, useEdge bool) interp.Value {
	switch t.Kind {
	case ir.Slice:
		n := r.IntN(9)
		if useEdge {
			n = int(edge % 5)
		}
		s := interp.Slice{Elems: make([]uint64, n)}
		for i := range s.Elems {
			s.Elems[i] = randScalar(r, t.Elem)
		}
		return s
	case ir.Array:
		a := make([]interp.Value, t.Len)
		for i := range a {
			a[i] = randValue(r, t.Elem, edge, useEdge)
		}
		return a
	}
	if useEdge {
		if t.Kind == ir.Float64 {
			return math.Float64bits(float64(int64(edge)))
		}
		return ir.Normalize(t, edge)
	}
	return randScalar(r, t)
}
