// Package interp is a tree-walking interpreter over the IR. It gives the
// reference semantics of the language. Every loop back-edge and every call
// costs one unit of fuel; when the fuel runs out the call returns
// ErrOutOfFuel and the host keeps running.
package interp

import (
	"errors"
	"fmt"
	"math"

	"github.com/velocityos/velocity/lang/ir"
)

// Value is a run-time value. Scalars are uint64 bit patterns (float64 as
// IEEE bits, bool as 0/1, byte in the low 8 bits); arrays are []Value
// (copied on assignment); slices are Slice (sharing their backing store).
type Value = any

// Slice is a slice value.
type Slice struct{ Elems []uint64 }

// ErrOutOfFuel is returned when a call exhausts its fuel.
var ErrOutOfFuel = errors.New("out of fuel")

// ErrTooDeep is returned when calls nest deeper than Machine.MaxDepth.
var ErrTooDeep = errors.New("call depth limit exceeded")

// ErrAllocLimit is returned when a run allocates more slice elements than
// Machine.MaxAlloc.
var ErrAllocLimit = errors.New("allocation limit exceeded")

// Machine runs functions with a fuel budget.
type Machine struct {
	Fuel     int64 // remaining fuel; decremented by calls and loop back-edges
	MaxDepth int   // maximum call depth
	MaxAlloc int64 // maximum slice elements allocated in total
	depth    int
	alloc    int64
}

// New returns a machine with the given fuel and default limits.
func New(fuel int64) *Machine {
	return &Machine{Fuel: fuel, MaxDepth: 2048, MaxAlloc: 1 << 26}
}

// RuntimeError is a failed run: the function where it happened and why.
type RuntimeError struct {
	Func string
	Err  error
}

func (e *RuntimeError) Error() string {
	name := e.Func
	if name == "" {
		name = "<anonymous>"
	}
	return fmt.Sprintf("in %s: %v", name, e.Err)
}

func (e *RuntimeError) Unwrap() error { return e.Err }

type abort struct{ err *RuntimeError }

type frame struct {
	fn     *ir.Func
	locals []Value
}

// Call runs fn with args (one Value per parameter, of the parameter's type)
// and returns its result (nil for no result).
func (m *Machine) Call(fn *ir.Func, args []Value) (result Value, err error) {
	if len(args) != len(fn.Params) {
		return nil, fmt.Errorf("%s: expected %d arguments, got %d", fn.Name, len(fn.Params), len(args))
	}
	for i, a := range args {
		if !hasType(a, fn.Params[i]) {
			return nil, fmt.Errorf("%s: argument %d is not a %s", fn.Name, i, fn.Params[i])
		}
	}
	defer func() {
		if r := recover(); r != nil {
			a, ok := r.(abort)
			if !ok {
				panic(r)
			}
			result, err = nil, a.err
			m.depth = 0
		}
	}()
	cp := make([]Value, len(args))
	for i, a := range args {
		cp[i] = copyVal(a)
	}
	m.burn(&frame{fn: fn}) // the entry call costs fuel like any other
	return m.call(fn, cp), nil
}

func hasType(v Value, t *ir.Type) bool {
	switch t.Kind {
	case ir.Array:
		a, ok := v.([]Value)
		if !ok || int64(len(a)) != t.Len {
			return false
		}
		for _, e := range a {
			if !hasType(e, t.Elem) {
				return false
			}
		}
		return true
	case ir.Slice:
		_, ok := v.(Slice)
		return ok
	case ir.Void:
		return false
	}
	b, ok := v.(uint64)
	return ok && ir.Normalize(t, b) == b
}

func (m *Machine) fail(f *frame, err error) {
	name := ""
	if f != nil {
		name = f.fn.Name
	}
	panic(abort{&RuntimeError{Func: name, Err: err}})
}

func (m *Machine) burn(f *frame) {
	m.Fuel--
	if m.Fuel < 0 {
		m.Fuel = 0
		m.fail(f, ErrOutOfFuel)
	}
}

func (m *Machine) call(fn *ir.Func, args []Value) Value {
	m.depth++
	if m.depth > m.MaxDepth {
		m.fail(&frame{fn: fn}, ErrTooDeep)
	}
	f := &frame{fn: fn, locals: make([]Value, len(fn.Locals))}
	copy(f.locals, args)
	// Every slot starts at its zero value, so even IR that reads a slot
	// before writing it (possible in blocks not produced by the checker)
	// sees a well-typed value.
	for i := len(args); i < len(f.locals); i++ {
		f.locals[i] = m.zero(f, fn.Locals[i])
	}
	var result Value
	if c, v := m.block(f, fn.Body); c == ctlReturn {
		result = v
	}
	if result == nil && fn.Result.Kind != ir.Void {
		m.fail(f, errors.New("function ended without returning a value"))
	}
	m.depth--
	return result
}

type ctl int

const (
	ctlNone ctl = iota
	ctlBreak
	ctlContinue
	ctlReturn
)

func (m *Machine) block(f *frame, stmts []ir.Stmt) (ctl, Value) {
	for _, s := range stmts {
		if c, v := m.stmt(f, s); c != ctlNone {
			return c, v
		}
	}
	return ctlNone, nil
}

func (m *Machine) stmt(f *frame, s ir.Stmt) (ctl, Value) {
	switch s := s.(type) {
	case *ir.Assign:
		m.assign(f, s)
	case *ir.Eval:
		m.eval(f, s.X)
	case *ir.If:
		if m.eval(f, s.Cond).(uint64) != 0 {
			return m.block(f, s.Then)
		}
		return m.block(f, s.Else)
	case *ir.Loop:
		for {
			if s.Cond != nil && m.eval(f, s.Cond).(uint64) == 0 {
				return ctlNone, nil
			}
			c, v := m.block(f, s.Body)
			switch c {
			case ctlBreak:
				return ctlNone, nil
			case ctlReturn:
				return c, v
			}
			if c, v := m.block(f, s.Post); c == ctlReturn {
				return c, v
			}
			m.burn(f) // back-edge
		}
	case *ir.Break:
		return ctlBreak, nil
	case *ir.Continue:
		return ctlContinue, nil
	case *ir.Return:
		if s.X == nil {
			return ctlReturn, nil
		}
		return ctlReturn, m.copyOf(f, s.X)
	default:
		m.fail(f, fmt.Errorf("unknown statement %T", s))
	}
	return ctlNone, nil
}

// location is an assignable place.
type location struct {
	slot  *Value
	elems []uint64 // slice element
	i     int
}

func (l location) get() Value {
	if l.slot != nil {
		return *l.slot
	}
	return l.elems[l.i]
}

func (l location) set(v Value) {
	if l.slot != nil {
		*l.slot = v
		return
	}
	l.elems[l.i] = v.(uint64)
}

func (m *Machine) locate(f *frame, e ir.Expr) location {
	switch e := e.(type) {
	case *ir.Local:
		return location{slot: &f.locals[e.Slot]}
	case *ir.Index:
		if e.X.Type().Kind == ir.Slice {
			s := m.eval(f, e.X).(Slice)
			i := m.checkIndex(f, m.eval(f, e.I), len(s.Elems))
			return location{elems: s.Elems, i: i}
		}
		arr := m.locate(f, e.X).get().([]Value)
		i := m.checkIndex(f, m.eval(f, e.I), len(arr))
		return location{slot: &arr[i]}
	}
	m.fail(f, fmt.Errorf("cannot assign to %T", e))
	return location{}
}

func (m *Machine) assign(f *frame, s *ir.Assign) {
	loc := m.locate(f, s.Dst)
	if s.Op == 0 {
		loc.set(m.copyOf(f, s.X))
		return
	}
	x := m.eval(f, s.X)
	t := s.Dst.Type()
	r, err := ir.EvalBinary(s.Op, t, s.X.Type(), loc.get().(uint64), x.(uint64))
	if err != nil {
		m.fail(f, err)
	}
	loc.set(r)
}

func (m *Machine) checkIndex(f *frame, v Value, n int) int {
	i := int64(v.(uint64))
	if i < 0 || i >= int64(n) {
		m.fail(f, ir.Trap(fmt.Sprintf("index out of range [%d] with length %d", i, n)))
	}
	return int(i)
}

func copyVal(v Value) Value {
	if a, ok := v.([]Value); ok {
		c := make([]Value, len(a))
		for i, e := range a {
			c[i] = copyVal(e)
		}
		return c
	}
	return v
}

// ArrayFuelUnit is how many array elements one unit of fuel pays for when
// an array is created or copied, so that fuel bounds the work of a run even
// when it moves large arrays around.
const ArrayFuelUnit = 256

func (m *Machine) chargeArray(f *frame, elems int) {
	for n := elems / ArrayFuelUnit; n > 0; n-- {
		m.burn(f)
	}
}

func (m *Machine) zero(f *frame, t *ir.Type) Value {
	if t.Kind == ir.Array {
		m.chargeArray(f, int(elemCount(t)))
	}
	return Zero(t)
}

// copyOf evaluates e for storing: an array read from an existing place
// (a variable or an element) is copied; fresh values (call results, zero
// values, literals) are used as they are.
func (m *Machine) copyOf(f *frame, e ir.Expr) Value {
	v := m.eval(f, e)
	switch e.(type) {
	case *ir.Local, *ir.Index:
		return m.copy(f, v)
	}
	return v
}

func (m *Machine) copy(f *frame, v Value) Value {
	if a, ok := v.([]Value); ok {
		m.chargeArray(f, countElems(a))
		return copyVal(a)
	}
	return v
}

func elemCount(t *ir.Type) int64 {
	if t.Kind == ir.Array {
		return t.Len * elemCount(t.Elem)
	}
	return 1
}

func countElems(a []Value) int {
	if len(a) == 0 {
		return 0
	}
	if inner, ok := a[0].([]Value); ok {
		return len(a) * countElems(inner)
	}
	return len(a)
}

// Zero returns the zero value of t.
func Zero(t *ir.Type) Value {
	switch t.Kind {
	case ir.Array:
		a := make([]Value, t.Len)
		for i := range a {
			a[i] = Zero(t.Elem)
		}
		return a
	case ir.Slice:
		return Slice{}
	}
	return uint64(0)
}

func (m *Machine) eval(f *frame, e ir.Expr) Value {
	switch e := e.(type) {
	case *ir.Const:
		return e.Bits
	case *ir.Zero:
		return m.zero(f, e.T)
	case *ir.Local:
		return f.locals[e.Slot]
	case *ir.Unary:
		r, err := ir.EvalUnary(e.Op, e.T, m.eval(f, e.X).(uint64))
		if err != nil {
			m.fail(f, err)
		}
		return r
	case *ir.Binary:
		x := m.eval(f, e.X).(uint64)
		switch e.Op {
		case ir.OpLAnd:
			if x == 0 {
				return uint64(0)
			}
			return m.eval(f, e.Y)
		case ir.OpLOr:
			if x != 0 {
				return uint64(1)
			}
			return m.eval(f, e.Y)
		}
		y := m.eval(f, e.Y).(uint64)
		r, err := ir.EvalBinary(e.Op, e.X.Type(), e.Y.Type(), x, y)
		if err != nil {
			m.fail(f, err)
		}
		return r
	case *ir.Convert:
		r, err := ir.EvalConvert(e.X.Type(), e.T, m.eval(f, e.X).(uint64))
		if err != nil {
			m.fail(f, err)
		}
		return r
	case *ir.Call:
		args := make([]Value, len(e.Args))
		for i, a := range e.Args {
			args[i] = m.copyOf(f, a)
		}
		if e.Target == nil {
			m.fail(f, errors.New("call of unlinked function"))
		}
		m.burn(f)
		return m.call(e.Target, args)
	case *ir.Index:
		x := m.eval(f, e.X)
		i := m.eval(f, e.I)
		switch x := x.(type) {
		case Slice:
			return x.Elems[m.checkIndex(f, i, len(x.Elems))]
		case []Value:
			return x[m.checkIndex(f, i, len(x))]
		}
	case *ir.SliceOf:
		s := m.eval(f, e.X).(Slice)
		lo, hi := int64(0), int64(len(s.Elems))
		if e.Lo != nil {
			lo = int64(m.eval(f, e.Lo).(uint64))
		}
		if e.Hi != nil {
			hi = int64(m.eval(f, e.Hi).(uint64))
		}
		if lo < 0 || hi < lo || hi > int64(len(s.Elems)) {
			m.fail(f, ir.Trap(fmt.Sprintf("slice bounds out of range [%d:%d] with length %d", lo, hi, len(s.Elems))))
		}
		return Slice{Elems: s.Elems[lo:hi:hi]}
	case *ir.Len:
		switch x := m.eval(f, e.X).(type) {
		case Slice:
			return uint64(len(x.Elems))
		case []Value:
			return uint64(len(x))
		}
	case *ir.Make:
		n := int64(m.eval(f, e.N).(uint64))
		if n < 0 {
			m.fail(f, ir.Trap(fmt.Sprintf("makeslice: len out of range (%d)", n)))
		}
		m.alloc += n
		if n > m.MaxAlloc || m.alloc > m.MaxAlloc {
			m.fail(f, ErrAllocLimit)
		}
		return Slice{Elems: make([]uint64, n)}
	case *ir.Composite:
		if e.T.Kind == ir.Slice {
			s := make([]uint64, len(e.Elems))
			for i, el := range e.Elems {
				s[i] = m.eval(f, el).(uint64)
			}
			m.alloc += int64(len(s))
			if m.alloc > m.MaxAlloc {
				m.fail(f, ErrAllocLimit)
			}
			return Slice{Elems: s}
		}
		a := m.zero(f, e.T).([]Value)
		for i, el := range e.Elems {
			a[i] = m.copyOf(f, el)
		}
		return a
	}
	m.fail(f, fmt.Errorf("unknown expression %T", e))
	return nil
}

// Scalar helpers for hosts passing arguments and reading results.

// Int64 makes an int64 value.
func Int64(v int64) Value { return uint64(v) }

// Uint64 makes a uint64 value.
func Uint64(v uint64) Value { return v }

// Float64 makes a float64 value.
func Float64(v float64) Value { return math.Float64bits(v) }

// Bool makes a bool value.
func Bool(v bool) Value {
	if v {
		return uint64(1)
	}
	return uint64(0)
}

// Format renders a value of type t for display.
func Format(v Value, t *ir.Type) string {
	switch t.Kind {
	case ir.Void:
		return ""
	case ir.Int64:
		return fmt.Sprint(int64(v.(uint64)))
	case ir.Uint64, ir.Byte:
		return fmt.Sprint(v.(uint64))
	case ir.Float64:
		return fmt.Sprint(math.Float64frombits(v.(uint64)))
	case ir.Bool:
		return fmt.Sprint(v.(uint64) != 0)
	case ir.Array:
		s := "["
		for i, e := range v.([]Value) {
			if i > 0 {
				s += " "
			}
			s += Format(e, t.Elem)
		}
		return s + "]"
	case ir.Slice:
		s := "["
		for i, e := range v.(Slice).Elems {
			if i > 0 {
				s += " "
			}
			s += Format(e, t.Elem)
		}
		return s + "]"
	}
	return fmt.Sprint(v)
}
