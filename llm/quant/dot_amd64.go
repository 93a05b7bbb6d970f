package quant

import "golang.org/x/sys/cpu"

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
func dotQ4_KAsm(w *byte, q *int8, dk *float32, nb int, bsums *int16, tab *[1 << 16]float32, scratch *[16]int16) float32

//go:noescape
func dotQ6_KAsm(w *byte, q *int8, dk *float32, nb int, bsums *int16, tab *[1 << 16]float32, scratch *[16]int16) float32

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

// dotQ4_KAVX2 and dotQ6_KAVX2 run a whole row in assembly, scales
// included, in the float order of llama.cpp's AVX2 kernels.
func dotQ4_KAVX2(row []byte, a *Act) float32 {
	nb := len(a.dk)
	if nb == 0 {
		return 0
	}
	_ = row[144*nb-1]
	_ = a.qk[256*nb-1]
	_ = a.bsums[16*nb-1]
	var scratch [16]int16
	return dotQ4_KAsm(&row[0], &a.qk[0], &a.dk[0], nb, &a.bsums[0], f16Table, &scratch)
}

func dotQ6_KAVX2(row []byte, a *Act) float32 {
	nb := len(a.dk)
	if nb == 0 {
		return 0
	}
	_ = row[210*nb-1]
	_ = a.qk[256*nb-1]
	_ = a.bsums[16*nb-1]
	var scratch [16]int16
	return dotQ6_KAsm(&row[0], &a.qk[0], &a.dk[0], nb, &a.bsums[0], f16Table, &scratch)
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
