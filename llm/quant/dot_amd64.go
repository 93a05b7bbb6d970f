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
