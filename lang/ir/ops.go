package ir

import "math"

// Trap is a run-time error raised by an operation (division by zero, an
// index out of range, ...). Constant folding and the interpreter share
// these operations, so both give the same results.
type Trap string

func (t Trap) Error() string { return "runtime error: " + string(t) }

const (
	TrapDivZero     Trap = "integer divide by zero"
	TrapNegShift    Trap = "negative shift amount"
	TrapConvRange   Trap = "float64 value out of range in conversion"
	TrapBadOperands Trap = "invalid operator for type"
)

// Normalize truncates bits to the width of scalar type t.
func Normalize(t *Type, bits uint64) uint64 {
	switch t.Kind {
	case Byte:
		return bits & 0xff
	case Bool:
		return bits & 1
	}
	return bits
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// EvalBinary applies a non-short-circuit binary operator to operands of
// type t (for shifts, y has type yt). Comparison results are bool bits.
func EvalBinary(op Op, t, yt *Type, x, y uint64) (uint64, error) {
	switch op {
	case OpShl, OpShr:
		if yt.Kind == Int64 && int64(y) < 0 {
			return 0, TrapNegShift
		}
		return shift(op, t, x, y), nil
	}
	if t.Kind == Float64 {
		a, b := math.Float64frombits(x), math.Float64frombits(y)
		switch op {
		case OpAdd:
			return math.Float64bits(a + b), nil
		case OpSub:
			return math.Float64bits(a - b), nil
		case OpMul:
			return math.Float64bits(a * b), nil
		case OpDiv:
			return math.Float64bits(a / b), nil
		case OpEq:
			return b2u(a == b), nil
		case OpNe:
			return b2u(a != b), nil
		case OpLt:
			return b2u(a < b), nil
		case OpLe:
			return b2u(a <= b), nil
		case OpGt:
			return b2u(a > b), nil
		case OpGe:
			return b2u(a >= b), nil
		}
		return 0, TrapBadOperands
	}
	switch op {
	case OpEq:
		return b2u(x == y), nil
	case OpNe:
		return b2u(x != y), nil
	}
	if t.Kind == Bool {
		return 0, TrapBadOperands
	}
	signed := t.Kind == Int64
	switch op {
	case OpLt:
		if signed {
			return b2u(int64(x) < int64(y)), nil
		}
		return b2u(x < y), nil
	case OpLe:
		if signed {
			return b2u(int64(x) <= int64(y)), nil
		}
		return b2u(x <= y), nil
	case OpGt:
		if signed {
			return b2u(int64(x) > int64(y)), nil
		}
		return b2u(x > y), nil
	case OpGe:
		if signed {
			return b2u(int64(x) >= int64(y)), nil
		}
		return b2u(x >= y), nil
	}
	var r uint64
	switch op {
	case OpAdd:
		r = x + y
	case OpSub:
		r = x - y
	case OpMul:
		r = x * y
	case OpDiv, OpRem:
		if Normalize(t, y) == 0 {
			return 0, TrapDivZero
		}
		if signed {
			a, b := int64(x), int64(y)
			if b == -1 { // avoids the hardware fault on MinInt64 / -1; Go semantics
				if op == OpDiv {
					r = uint64(-a)
				} else {
					r = 0
				}
			} else if op == OpDiv {
				r = uint64(a / b)
			} else {
				r = uint64(a % b)
			}
		} else {
			x, y = Normalize(t, x), Normalize(t, y)
			if op == OpDiv {
				r = x / y
			} else {
				r = x % y
			}
		}
	case OpAnd:
		r = x & y
	case OpOr:
		r = x | y
	case OpXor:
		r = x ^ y
	case OpAndNot:
		r = x &^ y
	default:
		return 0, TrapBadOperands
	}
	return Normalize(t, r), nil
}

func shift(op Op, t *Type, x, n uint64) uint64 {
	width := uint64(64)
	if t.Kind == Byte {
		width = 8
		x &= 0xff
	}
	if op == OpShl {
		if n >= width {
			return 0
		}
		return Normalize(t, x<<n)
	}
	if t.Kind == Int64 {
		if n >= 64 {
			n = 63
		}
		return uint64(int64(x) >> n)
	}
	if n >= width {
		return 0
	}
	return x >> n
}

// EvalUnary applies a unary operator to a value of type t.
func EvalUnary(op Op, t *Type, x uint64) (uint64, error) {
	switch op {
	case OpNeg:
		if t.Kind == Float64 {
			return math.Float64bits(-math.Float64frombits(x)), nil
		}
		if t.IsInteger() {
			return Normalize(t, -x), nil
		}
	case OpNot:
		if t.Kind == Bool {
			return x ^ 1, nil
		}
	case OpCpl:
		if t.IsInteger() {
			return Normalize(t, ^x), nil
		}
	}
	return 0, TrapBadOperands
}

// EvalConvert converts a scalar from type from to type to. Float to integer
// conversions truncate toward zero and trap when the result does not fit
// (or the value is NaN), so the result never depends on the machine.
func EvalConvert(from, to *Type, x uint64) (uint64, error) {
	if from.Kind == to.Kind {
		return x, nil
	}
	if from.Kind == Bool || to.Kind == Bool {
		return 0, TrapBadOperands
	}
	if from.Kind == Float64 {
		f := math.Trunc(math.Float64frombits(x))
		switch to.Kind {
		case Int64:
			if !(f >= -9223372036854775808.0 && f < 9223372036854775808.0) {
				return 0, TrapConvRange
			}
			return uint64(int64(f)), nil
		case Uint64:
			if !(f >= 0 && f < 18446744073709551616.0) {
				return 0, TrapConvRange
			}
			return uint64(f), nil
		case Byte:
			if !(f >= 0 && f < 256) {
				return 0, TrapConvRange
			}
			return uint64(f), nil
		}
		return 0, TrapBadOperands
	}
	if to.Kind == Float64 {
		if from.Kind == Int64 {
			return math.Float64bits(float64(int64(x))), nil
		}
		return math.Float64bits(float64(x)), nil
	}
	return Normalize(to, x), nil
}
