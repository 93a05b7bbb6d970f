package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Dequantize decodes len(dst) values of type t from src into dst. src must
// hold exactly the bytes of len(dst) values.
func Dequantize(t Type, src []byte, dst []float32) error {
	if !t.Supported() {
		return fmt.Errorf("dequantize: unsupported type %s", t)
	}
	n, err := t.RowBytes(uint64(len(dst)))
	if err != nil {
		return fmt.Errorf("dequantize: %w", err)
	}
	if uint64(len(src)) != n {
		return fmt.Errorf("dequantize: %s: %d values need %d bytes, have %d", t, len(dst), n, len(src))
	}
	bb := t.BlockBytes()
	bl := t.BlockLen()
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = f16(src[2*i:])
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	default:
		for b := 0; b < len(dst)/bl; b++ {
			dequantBlock(t, src[b*bb:(b+1)*bb], dst[b*bl:(b+1)*bl])
		}
	}
	return nil
}

func dequantBlock(t Type, b []byte, y []float32) {
	switch t {
	case Q8_0:
		d := f16(b)
		for j := 0; j < QK; j++ {
			y[j] = d * float32(int8(b[2+j]))
		}
	case Q4_0:
		d := f16(b)
		qs := b[2:18]
		for j := 0; j < 16; j++ {
			y[j] = d * float32(int(qs[j]&0xf)-8)
			y[j+16] = d * float32(int(qs[j]>>4)-8)
		}
	case Q5_0:
		d := f16(b)
		qh := binary.LittleEndian.Uint32(b[2:])
		qs := b[6:22]
		for j := 0; j < 16; j++ {
			hi0 := byte(qh>>uint(j)) & 1
			hi1 := byte(qh>>uint(j+16)) & 1
			y[j] = d * float32(int(qs[j]&0xf|hi0<<4)-16)
			y[j+16] = d * float32(int(qs[j]>>4|hi1<<4)-16)
		}
	case Q4_K:
		d := f16(b)
		dmin := f16(b[2:])
		sc := b[4:16]
		q := b[16:144]
		for g := 0; g < 4; g++ { // 64 values: two sub-blocks sharing 32 bytes
			s0, m0 := scaleMinK4(2*g, sc)
			s1, m1 := scaleMinK4(2*g+1, sc)
			d0, o0 := d*float32(s0), dmin*float32(m0)
			d1, o1 := d*float32(s1), dmin*float32(m1)
			qq := q[32*g : 32*g+32]
			yy := y[64*g : 64*g+64]
			for l := 0; l < 32; l++ {
				yy[l] = d0*float32(qq[l]&0xf) - o0
				yy[l+32] = d1*float32(qq[l]>>4) - o1
			}
		}
	case Q6_K:
		ql := b[0:128]
		qh := b[128:192]
		sc := b[192:208]
		d := f16(b[208:])
		for h := 0; h < 2; h++ { // two halves of 128 values
			l8 := ql[64*h:]
			h8 := qh[32*h:]
			s := sc[8*h:]
			yy := y[128*h:]
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := int(l8[l]&0xf|(h8[l]>>0&3)<<4) - 32
				q2 := int(l8[l+32]&0xf|(h8[l]>>2&3)<<4) - 32
				q3 := int(l8[l]>>4|(h8[l]>>4&3)<<4) - 32
				q4 := int(l8[l+32]>>4|(h8[l]>>6&3)<<4) - 32
				yy[l] = d * float32(int8(s[is])) * float32(q1)
				yy[l+32] = d * float32(int8(s[is+2])) * float32(q2)
				yy[l+64] = d * float32(int8(s[is+4])) * float32(q3)
				yy[l+96] = d * float32(int8(s[is+6])) * float32(q4)
			}
		}
	}
}

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j (0..7) from the
// 12 packed bytes of a Q4_K block: the first four pairs sit in the low six
// bits of bytes 0..7, the last four are split into a low nibble in bytes
// 8..11 and two high bits borrowed from the top of bytes 0..7.
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}
