package quant

import (
	"math"

	"golang.org/x/sys/cpu"
)

// The AVX2 kernels need AVX2 and FMA (both Haswell and later); CPUID and the
// OS's YMM state support are checked by x/sys/cpu.
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotQ8_0AVX2 is dotQ8_0 with 32 int8 products per instruction.
func dotQ8_0AVX2(row []byte, q []int8, d []float32) float32 {
	if len(d) == 0 {
		return 0
	}
	_ = row[34*len(d)-1]
	_ = q[32*len(d)-1]
	return dotQ8_0Asm(&row[0], &q[0], &d[0], len(d), f16Table)
}

//go:noescape
func dotQ8_0Asm(w *byte, q *int8, d *float32, nb int, tab *[1 << 16]float32) float32

//go:noescape
func dotQ4_0Asm(w *byte, q *int8, d *float32, nb int, tab *[1 << 16]float32) float32

//go:noescape
func dotQ5_0Asm(w *byte, q *int8, d *float32, nb int, tab *[1 << 16]float32) float32

//go:noescape
func dotQ4_KAsm(w *byte, q *int8, sc *int16, d *float32, nb int) float32

//go:noescape
func dotQ6_KAsm(w *byte, q *int8, sc *int16, d *float32, nb int, bsums *int16) float32

func dotQ4_0AVX2(row []byte, q []int8, d []float32) float32 {
	if len(d) == 0 {
		return 0
	}
	_ = row[18*len(d)-1]
	_ = q[32*len(d)-1]
	return dotQ4_0Asm(&row[0], &q[0], &d[0], len(d), f16Table)
}

func dotQ5_0AVX2(row []byte, q []int8, d []float32) float32 {
	if len(d) == 0 {
		return 0
	}
	_ = row[22*len(d)-1]
	_ = q[32*len(d)-1]
	return dotQ5_0Asm(&row[0], &q[0], &d[0], len(d), f16Table)
}

// kStack is how many K-quant blocks (of one row) have their scales
// unpacked on the stack; longer rows use the heap.
const kStack = 64

// fma32 is a float32 fused multiply-add (through float64, which holds the
// product exactly).
func fma32(a, b, c float32) float32 { return float32(math.FMA(float64(a), float64(b), float64(c))) }

// dotQ4_KAVX2: Go unpacks each block's 6-bit scales and accumulates the
// mins term (min · activation block sum) in four float lanes; the assembly
// does the 256 multiply-adds per block. The float operations and their
// order are llama.cpp's (ggml_vec_dot_q4_K_q8_K, AVX2).
func dotQ4_KAVX2(row []byte, a *Act) float32 {
	nb := len(a.dk)
	if nb == 0 {
		return 0
	}
	_ = row[144*nb-1]
	var scBuf [kStack * 8]int16
	var dBuf [kStack]float32
	sc, d := scBuf[:], dBuf[:]
	if nb > kStack {
		sc, d = make([]int16, 8*nb), make([]float32, nb)
	}
	var accM [4]float32
	for b := 0; b < nb; b++ {
		blk := row[144*b : 144*b+16]
		bs := a.bsums[16*b : 16*b+16]
		var m [8]int32
		for j := 0; j < 8; j++ {
			s, mj := scaleMinK4(j, blk[4:16])
			sc[8*b+j] = int16(s)
			m[j] = int32(mj) * (int32(bs[2*j]) + int32(bs[2*j+1]))
		}
		d[b] = a.dk[b] * f16(blk)
		dmin := -(a.dk[b] * f16(blk[2:]))
		for k := 0; k < 4; k++ {
			accM[k] = fma32(dmin, float32(m[2*k]+m[2*k+1]), accM[k])
		}
	}
	mins := (accM[0] + accM[2]) + (accM[1] + accM[3])
	return dotQ4_KAsm(&row[0], &a.qk[0], &sc[0], &d[0], nb) + mins
}

// dotQ6_KAVX2: Go widens the int8 scales; the assembly does the rest.
func dotQ6_KAVX2(row []byte, a *Act) float32 {
	nb := len(a.dk)
	if nb == 0 {
		return 0
	}
	_ = row[210*nb-1]
	var scBuf [kStack * 16]int16
	var dBuf [kStack]float32
	sc, d := scBuf[:], dBuf[:]
	if nb > kStack {
		sc, d = make([]int16, 16*nb), make([]float32, nb)
	}
	for b := 0; b < nb; b++ {
		blk := row[210*b : 210*b+210]
		for k := 0; k < 16; k++ {
			sc[16*b+k] = int16(int8(blk[192+k]))
		}
		d[b] = a.dk[b] * f16(blk[208:])
	}
	return dotQ6_KAsm(&row[0], &a.qk[0], &sc[0], &d[0], nb, &a.bsums[0])
}

// matVecAVX2 runs the 32-value formats' kernels over rows r0..r1 without a
// per-row type switch and slice checks (bounds are checked once); it
// reports false for the types it leaves to dotRow.
func matVecAVX2(t Type, w []byte, rb, cols int, a *Act, out []float32, r0, r1 int) bool {
	var f func(w *byte, q *int8, d *float32, nb int, tab *[1 << 16]float32) float32
	switch t {
	case Q8_0:
		f = dotQ8_0Asm
	case Q4_0:
		f = dotQ4_0Asm
	case Q5_0:
		f = dotQ5_0Asm
	default:
		return false
	}
	nb := cols / QK
	if r1 <= r0 || nb == 0 {
		return true
	}
	_ = w[r1*rb-1]
	_ = a.q8[nb*QK-1]
	_ = a.d8[nb-1]
	_ = out[r1-r0-1]
	q, d := &a.q8[0], &a.d8[0]
	for r := r0; r < r1; r++ {
		out[r-r0] = f(&w[r*rb], q, d, nb, f16Table)
	}
	return true
}

//go:noescape
func dotQ8_0x4Asm(w *byte, q *[4]*int8, d *[4]*float32, nb int, tab *[1 << 16]float32, out *[4]float32)

//go:noescape
func dotQ4_0x4Asm(w *byte, q *[4]*int8, d *[4]*float32, nb int, tab *[1 << 16]float32, out *[4]float32)

//go:noescape
func dotQ5_0x4Asm(w *byte, q *[4]*int8, d *[4]*float32, nb int, tab *[1 << 16]float32, out *[4]float32)

// matMulAVX2 multiplies rows r0..r1 with activations in groups of four
// where a four-wide kernel exists (Q8_0, Q4_0, Q5_0), each weight block loaded once per
// group; out[i][r-r0] gets row r · acts[i]. It reports false for the types
// it leaves to MatVec.
func matMulAVX2(t Type, w []byte, rb, cols int, acts []Act, out [][]float32, r0, r1 int) bool {
	var f func(w *byte, q *[4]*int8, d *[4]*float32, nb int, tab *[1 << 16]float32, out *[4]float32)
	switch t {
	case Q8_0:
		f = dotQ8_0x4Asm
	case Q4_0:
		f = dotQ4_0x4Asm
	case Q5_0:
		f = dotQ5_0x4Asm
	}
	if f == nil || len(acts) < 4 {
		return false
	}
	nb := cols / QK
	if r1 <= r0 || nb == 0 {
		return true
	}
	_ = w[r1*rb-1]
	i := 0
	for ; i+4 <= len(acts); i += 4 {
		var q [4]*int8
		var d [4]*float32
		for k := range 4 {
			a := &acts[i+k]
			_ = a.q8[nb*QK-1]
			_ = a.d8[nb-1]
			_ = out[i+k][r1-r0-1]
			q[k], d[k] = &a.q8[0], &a.d8[0]
		}
		var res [4]float32
		for r := r0; r < r1; r++ {
			f(&w[r*rb], &q, &d, nb, f16Table, &res)
			out[i][r-r0], out[i+1][r-r0], out[i+2][r-r0], out[i+3][r-r0] = res[0], res[1], res[2], res[3]
		}
	}
	for ; i < len(acts); i++ {
		MatVec(t, w, cols, &acts[i], out[i], r0, r1)
	}
	return true
}
