package quant

import (
	"math"
)

// DotType is the format ggml converts an activation vector to before taking
// its dot product with a row of weights of type t.
func DotType(t Type) Type {
	switch t {
	case Q8_0, Q4_0, Q5_0:
		return Q8_0
	case Q4_K, Q6_K:
		return Q8_K
	}
	return t
}

// Act is one activation vector in the forms the dot products need. Set
// stores the float32 values; Prepare converts them (once) for a weight type.
// Prepare is not safe for concurrent use; call it before sharing the Act
// with the goroutines that run MatVec, which only read it.
type Act struct {
	X     []float32
	ready uint64 // bit t: prepared for dot type t

	half  []uint16 // F16 or BF16 copy of X (halfT says which)
	halfT Type

	q8 []int8    // Q8_0: 32 values per block
	d8 []float32 // Q8_0: the block scales, rounded through f16 like ggml's

	qk    []int8    // Q8_K: 256 values per block
	dk    []float32 // Q8_K: block scales (float32)
	bsums []int16   // Q8_K: sums of each 16 values, for the K-quant mins
}

// Set makes the Act hold x (not copied) and forgets earlier conversions.
func (a *Act) Set(x []float32) {
	a.X = x
	a.ready = 0
}

// Prepare converts X into the form weights of type t multiply with.
func (a *Act) Prepare(t Type) {
	dt := DotType(t)
	if a.prepared(dt) {
		return
	}
	a.ready |= 1 << dt
	x := a.X
	switch dt {
	case F16, BF16:
		// Only one half form is kept; preparing the other recomputes it.
		a.ready &^= 1 << (F16 + BF16 - dt)
		a.half = grow(a.half, len(x))
		a.halfT = dt
		for i, v := range x {
			if dt == F16 {
				a.half[i] = F32ToF16(v)
			} else {
				a.half[i] = F32ToBF16(v)
			}
		}
	case Q8_0:
		nb := len(x) / QK
		a.q8 = grow(a.q8, nb*QK)
		a.d8 = grow(a.d8, nb)
		for b := 0; b < nb; b++ {
			xs := x[b*QK : b*QK+QK]
			var amax float32
			for _, v := range xs {
				amax = max(amax, float32(math.Abs(float64(v))))
			}
			d := amax / 127
			id := float32(0)
			if amax != 0 {
				id = 127 / amax
			}
			a.d8[b] = F16ToF32(F32ToF16(d))
			for j, v := range xs {
				a.q8[b*QK+j] = int8(roundInt(v * id))
			}
		}
	case Q8_K:
		nb := len(x) / QKK
		a.qk = grow(a.qk, nb*QKK)
		a.dk = grow(a.dk, nb)
		a.bsums = grow(a.bsums, nb*16)
		for b := 0; b < nb; b++ {
			xs := x[b*QKK : b*QKK+QKK]
			qs := a.qk[b*QKK : b*QKK+QKK]
			m := signedMax(xs)
			if m == 0 {
				a.dk[b] = 0
				clear(qs)
				clear(a.bsums[b*16 : b*16+16])
				continue
			}
			iscale := -127 / m
			for j, v := range xs {
				qs[j] = int8(min(127, roundInt(iscale*v)))
			}
			for j := 0; j < 16; j++ {
				s := 0
				for _, q := range qs[16*j : 16*j+16] {
					s += int(q)
				}
				a.bsums[b*16+j] = int16(s)
			}
			a.dk[b] = 1 / iscale
		}
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

func (a *Act) prepared(dt Type) bool { return dt < 64 && a.ready&(1<<dt) != 0 }
