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
func dotQ4_KAsm(w *byte, q *int8, sc *int16, d *float32, nb int) float32

//go:noescape
func dotQ6_KAsm(w *byte, q *int8, sc *int16, d *float32, nb int) float32

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

// kChunk is how many K-quant blocks have their scales unpacked (in Go, on
// the stack) before the assembly runs over them.
const kChunk = 32

// dotQ4_KAVX2: Go unpacks each block's 6-bit scales and takes the mins
// term from the activation's block sums; the assembly does the 256
// multiply-adds per block.
func dotQ4_KAVX2(row []byte, a *Act) float32 {
	nb := len(a.dk)
	_ = row[144*nb-1]
	var sc [kChunk * 8]int16
	var d [kChunk]float32
	var sum float32
	for b0 := 0; b0 < nb; b0 += kChunk {
		n := min(kChunk, nb-b0)
		for b := 0; b < n; b++ {
			blk := row[144*(b0+b) : 144*(b0+b)+16]
			dk := a.dk[b0+b]
			bs := a.bsums[16*(b0+b) : 16*(b0+b)+16]
			var summ int32
			for j := 0; j < 8; j++ {
				s, m := scaleMinK4(j, blk[4:16])
				sc[8*b+j] = int16(s)
				summ += int32(m) * (int32(bs[2*j]) + int32(bs[2*j+1]))
			}
			d[b] = f16(blk) * dk
			sum -= f16(blk[2:]) * dk * float32(summ)
		}
		sum += dotQ4_KAsm(&row[144*b0], &a.qk[256*b0], &sc[0], &d[0], n)
	}
	return sum
}

// dotQ6_KAVX2: the assembly multiplies the unsigned values (value+32); Go
// removes the +32 with the activation's block sums.
func dotQ6_KAVX2(row []byte, a *Act) float32 {
	nb := len(a.dk)
	_ = row[210*nb-1]
	var sc [kChunk * 16]int16
	var d [kChunk]float32
	var sum float32
	for b0 := 0; b0 < nb; b0 += kChunk {
		n := min(kChunk, nb-b0)
		for b := 0; b < n; b++ {
			blk := row[210*(b0+b) : 210*(b0+b)+210]
			bs := a.bsums[16*(b0+b) : 16*(b0+b)+16]
			var summ int32
			for k := 0; k < 16; k++ {
				s := int16(int8(blk[192+k]))
				sc[16*b+k] = s
				summ += int32(s) * int32(bs[k])
			}
			d[b] = f16(blk[208:]) * a.dk[b0+b]
			sum -= d[b] * float32(32*summ)
		}
		sum += dotQ6_KAsm(&row[210*b0], &a.qk[256*b0], &sc[0], &d[0], n)
	}
	return sum
}
