package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Quantize encodes x as type t. len(x) must be a whole number of blocks.
// The quantizers are simple round-to-nearest ones, written to make test and
// benchmark models; they are not llama.cpp's error-minimising searches, so a
// file made here is a valid but not an optimal quantization of x.
func Quantize(t Type, x []float32) ([]byte, error) {
	if !t.Supported() {
		return nil, fmt.Errorf("quantize: unsupported type %s", t)
	}
	n, err := t.RowBytes(uint64(len(x)))
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	out := make([]byte, n)
	bb, bl := t.BlockBytes(), t.BlockLen()
	switch t {
	case F32:
		for i, v := range x {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range x {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToF16(v))
		}
	case BF16:
		for i, v := range x {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToBF16(v))
		}
	default:
		for b := 0; b < len(x)/bl; b++ {
			quantBlock(t, x[b*bl:(b+1)*bl], out[b*bb:(b+1)*bb])
		}
	}
	return out, nil
}

func roundInt(f float32) int { return int(math.RoundToEven(float64(f))) }

func clampInt(v, lo, hi int) int { return min(max(v, lo), hi) }

// signedMax returns the value of largest magnitude, with its sign.
func signedMax(x []float32) float32 {
	var m, a float32
	for _, v := range x {
		if av := float32(math.Abs(float64(v))); av > a {
			a, m = av, v
		}
	}
	return m
}

func putF16(b []byte, f float32) { binary.LittleEndian.PutUint16(b, F32ToF16(f)) }

func quantBlock(t Type, x []float32, b []byte) {
	switch t {
	case Q8_0:
		m := float32(math.Abs(float64(signedMax(x))))
		d := m / 127
		putF16(b, d)
		id := float32(0)
		if d != 0 {
			id = 1 / d
		}
		for j, v := range x {
			b[2+j] = byte(int8(clampInt(roundInt(v*id), -127, 127)))
		}
	case Q4_0, Q5_0:
		// Map the value of largest magnitude to -8 (-16): the extra negative
		// level is then used rather than wasted.
		levels := 8
		if t == Q5_0 {
			levels = 16
		}
		d := signedMax(x) / float32(-levels)
		putF16(b, d)
		id := float32(0)
		if d != 0 {
			id = 1 / d
		}
		var q [QK]int
		for j, v := range x {
			q[j] = clampInt(roundInt(v*id)+levels, 0, 2*levels-1)
		}
		if t == Q4_0 {
			for j := 0; j < 16; j++ {
				b[2+j] = byte(q[j]) | byte(q[j+16])<<4
			}
			return
		}
		var qh uint32
		for j := 0; j < 16; j++ {
			b[6+j] = byte(q[j]&0xf) | byte(q[j+16]&0xf)<<4
			qh |= uint32(q[j]>>4&1) << uint(j)
			qh |= uint32(q[j+16]>>4&1) << uint(j+16)
		}
		binary.LittleEndian.PutUint32(b[2:], qh)
	case Q4_K:
		// Each sub-block of 32 gets an affine map x ≈ scale·q − min with q in
		// 0..15; scales and mins are then themselves quantized to 6 bits
		// against the block's d and dmin.
		var scale, mn [8]float32
		var maxScale, maxMin float32
		for s := 0; s < 8; s++ {
			lo, hi := float32(0), float32(0)
			for _, v := range x[32*s : 32*s+32] {
				lo, hi = min(lo, v), max(hi, v)
			}
			scale[s] = (hi - lo) / 15
			mn[s] = -lo
			maxScale, maxMin = max(maxScale, scale[s]), max(maxMin, mn[s])
		}
		d, dmin := maxScale/63, maxMin/63
		putF16(b, d)
		putF16(b[2:], dmin)
		d, dmin = F16ToF32(F32ToF16(d)), F16ToF32(F32ToF16(dmin))
		var sc, m [8]int
		for s := 0; s < 8; s++ {
			if d != 0 {
				sc[s] = clampInt(roundInt(scale[s]/d), 0, 63)
			}
			if dmin != 0 {
				m[s] = clampInt(roundInt(mn[s]/dmin), 0, 63)
			}
		}
		p := b[4:16]
		for j := 0; j < 8; j++ {
			if j < 4 {
				p[j] = byte(sc[j])
				p[j+4] = byte(m[j])
			} else {
				p[j+4] = byte(sc[j]&0xf) | byte(m[j]&0xf)<<4
				p[j-4] |= byte(sc[j]>>4) << 6
				p[j] |= byte(m[j]>>4) << 6
			}
		}
		var q [QKK]int
		for s := 0; s < 8; s++ {
			ds := d * float32(sc[s])
			ms := dmin * float32(m[s])
			for l := 0; l < 32; l++ {
				if ds != 0 {
					q[32*s+l] = clampInt(roundInt((x[32*s+l]+ms)/ds), 0, 15)
				}
			}
		}
		qs := b[16:144]
		for g := 0; g < 4; g++ {
			for l := 0; l < 32; l++ {
				qs[32*g+l] = byte(q[64*g+l]) | byte(q[64*g+32+l])<<4
			}
		}
	case Q6_K:
		// Sixteen sub-blocks of 16 values, each with an int8 scale against
		// the block's d, values in -32..31.
		var scale [16]float32
		var maxAbs float32
		for s := 0; s < 16; s++ {
			scale[s] = signedMax(x[16*s:16*s+16]) / -32
			maxAbs = max(maxAbs, float32(math.Abs(float64(scale[s]))))
		}
		d := maxAbs / 127
		putF16(b[208:], d)
		d = F16ToF32(F32ToF16(d))
		var q [QKK]int
		for s := 0; s < 16; s++ {
			sc := 0
			if d != 0 {
				sc = clampInt(roundInt(scale[s]/d), -128, 127)
			}
			b[192+s] = byte(int8(sc))
			ds := d * float32(sc)
			for l := 0; l < 16; l++ {
				v := 32
				if ds != 0 {
					v = clampInt(roundInt(x[16*s+l]/ds), -32, 31) + 32
				}
				q[16*s+l] = v
			}
		}
		ql, qh := b[0:128], b[128:192]
		for h := 0; h < 2; h++ {
			for l := 0; l < 32; l++ {
				q1, q2, q3, q4 := q[128*h+l], q[128*h+l+32], q[128*h+l+64], q[128*h+l+96]
				ql[64*h+l] = byte(q1&0xf) | byte(q3&0xf)<<4
				ql[64*h+l+32] = byte(q2&0xf) | byte(q4&0xf)<<4
				qh[32*h+l] = byte(q1>>4) | byte(q2>>4)<<2 | byte(q3>>4)<<4 | byte(q4>>4)<<6
			}
		}
	}
}
