package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// MatVec computes out[r-r0] = row r of w · a for rows r0..r1-1 of the
// matrix w (type t, cols values per row). a must have been prepared for t.
// Ranges of rows can be given to different goroutines.
func MatVec(t Type, w []byte, cols int, a *Act, out []float32, r0, r1 int) {
	rb := cols / t.BlockLen() * t.BlockBytes()
	if useAVX2 && matVecAVX2(t, w, rb, cols, a, out, r0, r1) {
		return
	}
	for r := r0; r < r1; r++ {
		out[r-r0] = dotRow(t, w[r*rb:(r+1)*rb], a)
	}
}

// Dot returns row · a for one row of type t (a prepared for t). It checks
// the lengths, unlike MatVec's inner loop, and is what tests call.
func Dot(t Type, row []byte, a *Act) (float32, error) {
	if !t.Supported() {
		return 0, fmt.Errorf("dot: unsupported type %s", t)
	}
	n, err := t.RowBytes(uint64(len(a.X)))
	if err != nil {
		return 0, err
	}
	if uint64(len(row)) != n {
		return 0, fmt.Errorf("dot: %s row of %d bytes for %d values (want %d)", t, len(row), len(a.X), n)
	}
	if !a.prepared(DotType(t)) {
		return 0, fmt.Errorf("dot: activation not prepared for %s", t)
	}
	return dotRow(t, row, a), nil
}

// useAVX2 selects the assembly kernels; set from CPUID at start-up, and
// switched off by tests to compare against the pure-Go kernels.
var useAVX2 = hasAVX2

func dotRow(t Type, row []byte, a *Act) float32 {
	switch t {
	case Q8_0:
		if useAVX2 {
			return dotQ8_0AVX2(row, a.q8, a.d8)
		}
		return dotQ8_0(row, a.q8, a.d8)
	case Q4_0:
		if useAVX2 {
			return dotQ4_0AVX2(row, a.q8, a.d8)
		}
		return dotQ4_0(row, a.q8, a.d8)
	case Q5_0:
		if useAVX2 {
			return dotQ5_0AVX2(row, a.q8, a.d8)
		}
		return dotQ5_0(row, a.q8, a.d8)
	case Q4_K:
		if useAVX2 {
			return dotQ4_KAVX2(row, a)
		}
		return dotQ4_K(row, a)
	case Q6_K:
		if useAVX2 {
			return dotQ6_KAVX2(row, a)
		}
		return dotQ6_K(row, a)
	case F32:
		var s float32
		for i, x := range a.X {
			s += math.Float32frombits(binary.LittleEndian.Uint32(row[4*i:])) * x
		}
		return s
	case F16:
		var s float32
		for i, h := range a.half {
			s += f16Table[binary.LittleEndian.Uint16(row[2*i:])] * f16Table[h]
		}
		return s
	case BF16:
		var s float32
		for i, h := range a.half {
			s += BF16ToF32(binary.LittleEndian.Uint16(row[2*i:])) * BF16ToF32(h)
		}
		return s
	}
	panic("quant: dot of unsupported type " + t.String())
}

func dotQ8_0(row []byte, q []int8, d []float32) float32 {
	var sum float32
	for b := range d {
		blk := row[34*b : 34*b+34]
		qs := q[32*b : 32*b+32]
		var s int32
		for j := 0; j < 32; j++ {
			s += int32(int8(blk[2+j])) * int32(qs[j])
		}
		sum += f16(blk) * d[b] * float32(s)
	}
	return sum
}

func dotQ4_0(row []byte, q []int8, d []float32) float32 {
	var sum float32
	for b := range d {
		blk := row[18*b : 18*b+18]
		qs := q[32*b : 32*b+32]
		var s int32
		for j := 0; j < 16; j++ {
			s += int32(int(blk[2+j]&0xf)-8)*int32(qs[j]) + int32(int(blk[2+j]>>4)-8)*int32(qs[j+16])
		}
		sum += f16(blk) * d[b] * float32(s)
	}
	return sum
}

func dotQ5_0(row []byte, q []int8, d []float32) float32 {
	var sum float32
	for b := range d {
		blk := row[22*b : 22*b+22]
		qh := binary.LittleEndian.Uint32(blk[2:])
		qs := q[32*b : 32*b+32]
		var s int32
		for j := 0; j < 16; j++ {
			lo := int32(blk[6+j]&0xf|byte(qh>>uint(j)&1)<<4) - 16
			hi := int32(blk[6+j]>>4|byte(qh>>uint(j+16)&1)<<4) - 16
			s += lo*int32(qs[j]) + hi*int32(qs[j+16])
		}
		sum += f16(blk) * d[b] * float32(s)
	}
	return sum
}

func dotQ4_K(row []byte, a *Act) float32 {
	var sum float32
	for b := range a.dk {
		blk := row[144*b : 144*b+144]
		qs := a.qk[256*b : 256*b+256]
		bs := a.bsums[16*b : 16*b+16]
		sc := blk[4:16]
		q := blk[16:144]
		var sumi, summ int32
		for g := 0; g < 4; g++ {
			s0, m0 := scaleMinK4(2*g, sc)
			s1, m1 := scaleMinK4(2*g+1, sc)
			qq := q[32*g : 32*g+32]
			aa := qs[64*g : 64*g+64]
			var i0, i1 int32
			for l := 0; l < 32; l++ {
				i0 += int32(qq[l]&0xf) * int32(aa[l])
				i1 += int32(qq[l]>>4) * int32(aa[l+32])
			}
			sumi += int32(s0)*i0 + int32(s1)*i1
			summ += int32(m0)*(int32(bs[4*g])+int32(bs[4*g+1])) + int32(m1)*(int32(bs[4*g+2])+int32(bs[4*g+3]))
		}
		sum += f16(blk)*a.dk[b]*float32(sumi) - f16(blk[2:])*a.dk[b]*float32(summ)
	}
	return sum
}

func dotQ6_K(row []byte, a *Act) float32 {
	var sum float32
	for b := range a.dk {
		blk := row[210*b : 210*b+210]
		qs := a.qk[256*b : 256*b+256]
		ql, qh, sc := blk[0:128], blk[128:192], blk[192:208]
		var sumi int32
		for h := 0; h < 2; h++ {
			l8, h8, s, aa := ql[64*h:], qh[32*h:], sc[8*h:], qs[128*h:]
			for is := 0; is < 2; is++ { // two groups of 16 in each quarter
				var i1, i2, i3, i4 int32
				for l := 16 * is; l < 16*is+16; l++ {
					i1 += (int32(l8[l]&0xf|(h8[l]&3)<<4) - 32) * int32(aa[l])
					i2 += (int32(l8[l+32]&0xf|(h8[l]>>2&3)<<4) - 32) * int32(aa[l+32])
					i3 += (int32(l8[l]>>4|(h8[l]>>4&3)<<4) - 32) * int32(aa[l+64])
					i4 += (int32(l8[l+32]>>4|(h8[l]>>6&3)<<4) - 32) * int32(aa[l+96])
				}
				sumi += int32(int8(s[is]))*i1 + int32(int8(s[is+2]))*i2 + int32(int8(s[is+4]))*i3 + int32(int8(s[is+6]))*i4
			}
		}
		sum += f16(blk[208:]) * a.dk[b] * float32(sumi)
	}
	return sum
}

// HasAVX2 reports whether the assembly kernels are in use.
func HasAVX2() bool { return useAVX2 }

// UseAVX2 switches the assembly kernels on or off (on only where the CPU
// has them) and returns the previous setting. Tests use it to compute with
// the same kernels as a machine without AVX2.
func UseAVX2(on bool) (prev bool) {
	prev, useAVX2 = useAVX2, on && hasAVX2
	return prev
}

// MatMul is MatVec for a batch: out[i][r-r0] = row r of w · acts[i] for
// rows r0..r1-1. Results are bit-identical to MatVec's; where a batched
// kernel exists each weight block is loaded once for several activations.
func MatMul(t Type, w []byte, cols int, acts []Act, out [][]float32, r0, r1 int) {
	rb := cols / t.BlockLen() * t.BlockBytes()
	if useAVX2 && matMulAVX2(t, w, rb, cols, acts, out, r0, r1) {
		return
	}
	for i := range acts {
		MatVec(t, w, cols, &acts[i], out[i], r0, r1)
	}
}
