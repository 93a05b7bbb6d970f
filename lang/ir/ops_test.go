package ir

import (
	"errors"
	"math"
	"testing"
)

func TestEvalBinary(t *testing.T) {
	neg := func(v int64) uint64 { return uint64(v) }
	cases := []struct {
		op   Op
		t    *Type
		yt   *Type
		x, y uint64
		want uint64
		err  error
	}{
		{OpAdd, TByte, TByte, 250, 10, 4, nil},
		{OpMul, TInt64, TInt64, neg(-3), 7, neg(-21), nil},
		{OpDiv, TInt64, TInt64, neg(math.MinInt64), neg(-1), neg(math.MinInt64), nil},
		{OpRem, TInt64, TInt64, neg(math.MinInt64), neg(-1), 0, nil},
		{OpRem, TInt64, TInt64, neg(-7), 2, neg(-1), nil},
		{OpDiv, TUint64, TUint64, 7, 0, 0, TrapDivZero},
		{OpShl, TInt64, TUint64, 1, 64, 0, nil},
		{OpShr, TInt64, TUint64, neg(-8), 100, neg(-1), nil},
		{OpShr, TInt64, TInt64, 8, neg(-1), 0, TrapNegShift},
		{OpShl, TByte, TUint64, 0x81, 1, 2, nil},
		{OpLt, TInt64, TInt64, neg(-1), 0, 1, nil},
		{OpLt, TUint64, TUint64, neg(-1), 0, 0, nil},
		{OpAndNot, TUint64, TUint64, 0xff, 0x0f, 0xf0, nil},
		{OpLt, TFloat64, TFloat64, math.Float64bits(math.NaN()), 0, 0, nil},
		{OpNe, TFloat64, TFloat64, math.Float64bits(math.NaN()), math.Float64bits(math.NaN()), 1, nil},
		{OpAdd, TBool, TBool, 1, 1, 0, TrapBadOperands},
	}
	for _, c := range cases {
		got, err := EvalBinary(c.op, c.t, c.yt, c.x, c.y)
		if !errors.Is(err, c.err) || (err == nil && got != c.want) {
			t.Errorf("%v %s %v (%s): got %#x, %v; want %#x, %v", c.x, c.op, c.y, c.t, got, err, c.want, c.err)
		}
	}
}

func TestEvalConvert(t *testing.T) {
	f := func(v float64) uint64 { return math.Float64bits(v) }
	cases := []struct {
		from, to *Type
		x, want  uint64
		err      error
	}{
		{TInt64, TByte, uint64(0x1ff), 0xff, nil},
		{TInt64, TFloat64, uint64(1 << 62), f(1 << 62), nil},
		{TUint64, TFloat64, math.MaxUint64, f(18446744073709551616.0), nil},
		{TFloat64, TInt64, f(-2.9), uint64(0xfffffffffffffffe), nil},
		{TFloat64, TInt64, f(9223372036854775808.0), 0, TrapConvRange},
		{TFloat64, TUint64, f(-1), 0, TrapConvRange},
		{TFloat64, TByte, f(255.9), 255, nil},
		{TFloat64, TByte, f(math.NaN()), 0, TrapConvRange},
		{TBool, TInt64, 1, 0, TrapBadOperands},
	}
	for _, c := range cases {
		got, err := EvalConvert(c.from, c.to, c.x)
		if !errors.Is(err, c.err) || (err == nil && got != c.want) {
			t.Errorf("%s(%#x from %s): got %#x, %v; want %#x, %v", c.to, c.x, c.from, got, err, c.want, c.err)
		}
	}
}
