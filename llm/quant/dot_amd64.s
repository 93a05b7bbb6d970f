#include "textflag.h"

// The one-row kernels stream weights from memory during decoding; each
// block's loop prefetches the weights 1 KiB ahead (PREFETCHT0 never
// faults, also past the end of the matrix), which took a 62 MB Q8_0
// matrix-vector product from 6.5 to 9.1 GB/s on one thread.

// Y1 holds 32 signed weights, (DI) 32 activations: Y0 += float(Σ pairs)·scale,
// where scale = f16 at (SI) (via the table in R8) × float32 at (DX).
#define SIGNED_BLOCK \
	VMOVDQU (DI), Y2 \
	VPSIGNB Y1, Y1, Y3 \
	VPSIGNB Y1, Y2, Y4 \
	VPMADDUBSW Y4, Y3, Y5 \
	VPMADDWD Y7, Y5, Y6 \
	VCVTDQ2PS Y6, Y6 \
	MOVWLZX (SI), AX \
	VMOVSS (R8)(AX*4), X8 \
	VMULSS (DX), X8, X8 \
	VBROADCASTSS X8, Y8 \
	VFMADD231PS Y8, Y6, Y0

// HSUM sums Y0's eight lanes into X0 as ggml's hsum_float_8:
// (l0+l4 + l2+l6) + (l1+l5 + l3+l7).
#define HSUM \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X1, X0, X0 \
	VMOVHLPS X0, X0, X1 \
	VADDPS X1, X0, X0 \
	VMOVSHDUP X0, X1 \
	VADDSS X1, X0, X0 \
	VZEROUPPER


// func dotQ8_0Asm(w *byte, q *int8, d *float32, nb int, tab *[65536]float32) float32
//
// w: nb Q8_0 blocks (f16 scale + 32 int8); q: nb*32 int8 activations; d: nb
// activation scales; tab: f16 → f32. Per block: |w|·(q·sign w) with
// VPMADDUBSW (pairs fit int16: 127·127·2 < 32768), widened to int32 with
// VPMADDWD by ones, converted to float and accumulated with one FMA per
// block into eight lanes, summed at the end as ggml's hsum_float_8 does:
// the same float operations in the same order as llama.cpp's AVX2 kernel.
TEXT ·dotQ8_0Asm(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ tab+32(FP), R8
	VXORPS Y0, Y0, Y0
	VMOVDQU ones16<>(SB), Y7
	TESTQ CX, CX
	JZ    q80done
q80loop:
	PREFETCHT0 1024(SI)
	VMOVDQU 2(SI), Y1
	SIGNED_BLOCK
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  q80loop
q80done:
	HSUM
	MOVSS X0, ret+40(FP)
	RET

DATA nib<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nib<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nib<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nib<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL nib<>(SB), RODATA|NOPTR, $32

DATA eight<>+0(SB)/8, $0x0808080808080808
DATA eight<>+8(SB)/8, $0x0808080808080808
DATA eight<>+16(SB)/8, $0x0808080808080808
DATA eight<>+24(SB)/8, $0x0808080808080808
GLOBL eight<>(SB), RODATA|NOPTR, $32

DATA ones16<>+0(SB)/8, $0x0001000100010001
DATA ones16<>+8(SB)/8, $0x0001000100010001
DATA ones16<>+16(SB)/8, $0x0001000100010001
DATA ones16<>+24(SB)/8, $0x0001000100010001
GLOBL ones16<>(SB), RODATA|NOPTR, $32

// byte i of lane 0 takes byte i/8 of the broadcast qh; lane 1 bytes 2 and 3
DATA bitshuf<>+0(SB)/8, $0x0000000000000000
DATA bitshuf<>+8(SB)/8, $0x0101010101010101
DATA bitshuf<>+16(SB)/8, $0x0202020202020202
DATA bitshuf<>+24(SB)/8, $0x0303030303030303
GLOBL bitshuf<>(SB), RODATA|NOPTR, $32

DATA bitmask<>+0(SB)/8, $0x8040201008040201
DATA bitmask<>+8(SB)/8, $0x8040201008040201
DATA bitmask<>+16(SB)/8, $0x8040201008040201
DATA bitmask<>+24(SB)/8, $0x8040201008040201
GLOBL bitmask<>(SB), RODATA|NOPTR, $32

DATA hif0<>+0(SB)/8, $0xf0f0f0f0f0f0f0f0
DATA hif0<>+8(SB)/8, $0xf0f0f0f0f0f0f0f0
DATA hif0<>+16(SB)/8, $0xf0f0f0f0f0f0f0f0
DATA hif0<>+24(SB)/8, $0xf0f0f0f0f0f0f0f0
GLOBL hif0<>(SB), RODATA|NOPTR, $32

DATA m03<>+0(SB)/8, $0x0303030303030303
DATA m03<>+8(SB)/8, $0x0303030303030303
DATA m03<>+16(SB)/8, $0x0303030303030303
DATA m03<>+24(SB)/8, $0x0303030303030303
GLOBL m03<>(SB), RODATA|NOPTR, $32

DATA m0c<>+0(SB)/8, $0x0c0c0c0c0c0c0c0c
DATA m0c<>+8(SB)/8, $0x0c0c0c0c0c0c0c0c
DATA m0c<>+16(SB)/8, $0x0c0c0c0c0c0c0c0c
DATA m0c<>+24(SB)/8, $0x0c0c0c0c0c0c0c0c
GLOBL m0c<>(SB), RODATA|NOPTR, $32

DATA m30<>+0(SB)/8, $0x3030303030303030
DATA m30<>+8(SB)/8, $0x3030303030303030
DATA m30<>+16(SB)/8, $0x3030303030303030
DATA m30<>+24(SB)/8, $0x3030303030303030
GLOBL m30<>(SB), RODATA|NOPTR, $32

DATA mc0<>+0(SB)/8, $0xc0c0c0c0c0c0c0c0
DATA mc0<>+8(SB)/8, $0xc0c0c0c0c0c0c0c0
DATA mc0<>+16(SB)/8, $0xc0c0c0c0c0c0c0c0
DATA mc0<>+24(SB)/8, $0xc0c0c0c0c0c0c0c0
GLOBL mc0<>(SB), RODATA|NOPTR, $32

// func dotQ4_0Asm(w *byte, q *int8, d *float32, nb int, tab *[65536]float32) float32
// Q4_0 blocks: f16 scale, 16 bytes of nibbles (element j low, j+16 high),
// value nibble-8.
TEXT ·dotQ4_0Asm(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ tab+32(FP), R8
	VXORPS Y0, Y0, Y0
	VMOVDQU nib<>(SB), Y13
	VMOVDQU eight<>(SB), Y14
	VMOVDQU ones16<>(SB), Y7
	TESTQ CX, CX
	JZ    q40done
q40loop:
	PREFETCHT0 1024(SI)
	VMOVDQU 2(SI), X1
	VPSRLW $4, X1, X2
	VINSERTI128 $1, X2, Y1, Y1
	VPAND Y13, Y1, Y1
	VPSUBB Y14, Y1, Y1
	SIGNED_BLOCK
	ADDQ $18, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  q40loop
q40done:
	HSUM
	MOVSS X0, ret+40(FP)
	RET

// func dotQ5_0Asm(w *byte, q *int8, d *float32, nb int, tab *[65536]float32) float32
// Q5_0 blocks: f16 scale, u32 of fifth bits, 16 bytes of nibbles; value
// (nibble | bit<<4) - 16, i.e. nibble | 0xF0 (as int8) where the bit is clear.
TEXT ·dotQ5_0Asm(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ tab+32(FP), R8
	VXORPS Y0, Y0, Y0
	VMOVDQU nib<>(SB), Y13
	VMOVDQU bitshuf<>(SB), Y10
	VMOVDQU bitmask<>(SB), Y11
	VMOVDQU hif0<>(SB), Y12
	VMOVDQU ones16<>(SB), Y7
	TESTQ CX, CX
	JZ    q50done
q50loop:
	PREFETCHT0 1024(SI)
	VMOVDQU 6(SI), X1
	VPSRLW $4, X1, X2
	VINSERTI128 $1, X2, Y1, Y1
	VPAND Y13, Y1, Y1
	VPBROADCASTD 2(SI), Y3
	VPSHUFB Y10, Y3, Y3
	VPAND Y11, Y3, Y3
	VPCMPEQB Y11, Y3, Y3
	VPANDN Y12, Y3, Y3
	VPOR Y3, Y1, Y1
	SIGNED_BLOCK
	ADDQ $22, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  q50loop
q50done:
	HSUM
	MOVSS X0, ret+40(FP)
	RET

// Q4_K: 32 bytes of nibbles at off (low: 32 values with scale s0, high: the
// next 32 with s1) against 64 activations at aoff.
#define Q4K_GROUP(off, aoff, soff) \
	VMOVDQU off(SI), Y1 \
	VPSRLW $4, Y1, Y2 \
	VPAND Y13, Y1, Y1 \
	VPAND Y13, Y2, Y2 \
	VPMADDUBSW aoff(DI), Y1, Y3 \
	VPMADDUBSW aoff+32(DI), Y2, Y4 \
	VPBROADCASTW soff(BX), Y5 \
	VPBROADCASTW soff+2(BX), Y6 \
	VPMADDWD Y5, Y3, Y3 \
	VPMADDWD Y6, Y4, Y4 \
	VPADDD Y3, Y9, Y9 \
	VPADDD Y4, Y9, Y9

// func dotQ4_KAsm(w *byte, q *int8, dk *float32, nb int, bsums *int16, tab *[65536]float32, scratch *[16]int16) float32
// A row of Q4_K blocks against a Q8_K activation (q, block scales dk, sums
// of 16 bsums), in the float order of llama.cpp's AVX2 kernel: per block,
// acc += (dk·d) · float(Σ_j scale_j · Σ nibble·q) in eight lanes, and
// accm += -(dk·dmin) · float(mins · pair sums of bsums) in four; the result
// is hsum8(acc) + hsum4(accm). The 6-bit scales and mins are unpacked with
// 32-bit masks: bytes 0-3 of the 12 hold scales 0-3 and bytes 4-7 mins 0-3
// in their low 6 bits; scales and mins 4-7 are the nibbles of bytes 8-11
// with the top two bits of bytes 0-3 (scales) and 4-7 (mins) above them.
// scratch receives the unpacked bytes and the scales as int16.
TEXT ·dotQ4_KAsm(SB), NOSPLIT, $0-60
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ dk+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ bsums+32(FP), R9
	MOVQ tab+40(FP), R8
	MOVQ scratch+48(FP), BX
	VXORPS Y0, Y0, Y0
	VXORPS X10, X10, X10
	VMOVDQU nib<>(SB), Y13
	TESTQ CX, CX
	JZ    q4kdone
q4kloop:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1088(SI)
	PREFETCHT0 1152(SI)
	MOVL 4(SI), R10
	MOVL 8(SI), R11
	MOVL 12(SI), R12
	MOVL R10, AX
	ANDL $0x3f3f3f3f, AX
	MOVL AX, 0(BX)
	MOVL R10, AX
	SHRL $6, AX
	ANDL $0x03030303, AX
	SHLL $4, AX
	MOVL R12, R10
	ANDL $0x0f0f0f0f, R10
	ORL  R10, AX
	MOVL AX, 4(BX)
	MOVL R11, AX
	ANDL $0x3f3f3f3f, AX
	MOVL AX, 8(BX)
	MOVL R11, AX
	SHRL $6, AX
	ANDL $0x03030303, AX
	SHLL $4, AX
	SHRL $4, R12
	ANDL $0x0f0f0f0f, R12
	ORL  R12, AX
	MOVL AX, 12(BX)
	VPMOVZXBW 0(BX), X5
	VMOVDQU X5, 16(BX)
	// mins: accm += -(dk·dmin) · float(mins · (b0+b1, b2+b3, ...))
	VPMOVZXBW 8(BX), X5
	VMOVDQU 0(R9), X11
	VMOVDQU 16(R9), X12
	VPHADDW X12, X11, X11
	VPMADDWD X11, X5, X5
	VCVTDQ2PS X5, X5
	MOVWLZX 2(SI), AX
	VMOVSS (R8)(AX*4), X14
	VMULSS (DX), X14, X14
	VBROADCASTSS X14, X14
	VFNMADD231PS X14, X5, X10
	VPXOR Y9, Y9, Y9
	Q4K_GROUP(16, 0, 16)
	Q4K_GROUP(48, 64, 20)
	Q4K_GROUP(80, 128, 24)
	Q4K_GROUP(112, 192, 28)
	VCVTDQ2PS Y9, Y9
	MOVWLZX 0(SI), AX
	VMOVSS (R8)(AX*4), X8
	VMULSS (DX), X8, X8
	VBROADCASTSS X8, Y8
	VFMADD231PS Y8, Y9, Y0
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $32, R9
	ADDQ $4, DX
	DECQ CX
	JNZ  q4kloop
q4kdone:
	HSUM
	VMOVHLPS X10, X10, X1
	VADDPS X1, X10, X10
	VMOVSHDUP X10, X1
	VADDSS X1, X10, X10
	VADDSS X10, X0, X0
	MOVSS X0, ret+56(FP)
	RET

// Q6_K: Y4 holds 32 unsigned 6-bit values (value+32) for activations at
// aoff, the first 16 with scale at soff, the next 16 with scale at soff+2.
// The +32 is taken off per block in int32 lanes, 32·(scale·block sums)
// paired as VPMADDWD pairs them, exactly as llama.cpp's AVX2 kernel does, so
// each lane converts to float the same value.
#define Q6K_PART(aoff, soff) \
	VPMADDUBSW aoff(DI), Y4, Y4 \
	VPBROADCASTW soff(BX), Y6 \
	VPBROADCASTW soff+2(BX), X5 \
	VINSERTI128 $1, X5, Y6, Y6 \
	VPMADDWD Y6, Y4, Y4 \
	VPADDD Y4, Y9, Y9

#define Q6K_HALF(h) \
	VMOVDQU (64*h)(SI), Y1 \
	VMOVDQU (64*h+32)(SI), Y2 \
	VMOVDQU (128+32*h)(SI), Y3 \
	VPAND Y13, Y1, Y4 \
	VPAND Y12, Y3, Y5 \
	VPSLLW $4, Y5, Y5 \
	VPOR Y5, Y4, Y4 \
	Q6K_PART(128*h, 16*h) \
	VPAND Y13, Y2, Y4 \
	VPAND Y11, Y3, Y5 \
	VPSLLW $2, Y5, Y5 \
	VPOR Y5, Y4, Y4 \
	Q6K_PART(128*h+32, 16*h+4) \
	VPSRLW $4, Y1, Y4 \
	VPAND Y13, Y4, Y4 \
	VPAND Y10, Y3, Y5 \
	VPOR Y5, Y4, Y4 \
	Q6K_PART(128*h+64, 16*h+8) \
	VPSRLW $4, Y2, Y4 \
	VPAND Y13, Y4, Y4 \
	VPAND Y15, Y3, Y5 \
	VPSRLW $2, Y5, Y5 \
	VPOR Y5, Y4, Y4 \
	Q6K_PART(128*h+96, 16*h+12)

// func dotQ6_KAsm(w *byte, q *int8, dk *float32, nb int, bsums *int16, tab *[65536]float32, scratch *[16]int16) float32
// Σ over blocks of (dk·d) · float(Σ_k scale_k · Σ value·q over the 16
// values of scale k), the int8 scales widened into scratch for broadcasting.
TEXT ·dotQ6_KAsm(SB), NOSPLIT, $0-60
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ dk+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ bsums+32(FP), R9
	MOVQ tab+40(FP), R8
	MOVQ scratch+48(FP), BX
	VXORPS Y0, Y0, Y0
	VMOVDQU nib<>(SB), Y13
	VMOVDQU m03<>(SB), Y12
	VMOVDQU m0c<>(SB), Y11
	VMOVDQU m30<>(SB), Y10
	VMOVDQU mc0<>(SB), Y15
	TESTQ CX, CX
	JZ    q6kdone
q6kloop:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1088(SI)
	PREFETCHT0 1152(SI)
	PREFETCHT0 1216(SI)
	VPMOVSXBW 192(SI), Y14
	VMOVDQU Y14, (BX)
	VPXOR Y9, Y9, Y9
	Q6K_HALF(0)
	Q6K_HALF(1)
	VPMADDWD (R9), Y14, Y5
	VPSLLD $5, Y5, Y5
	VPSUBD Y5, Y9, Y9
	VCVTDQ2PS Y9, Y9
	MOVWLZX 208(SI), AX
	VMOVSS (R8)(AX*4), X8
	VMULSS (DX), X8, X8
	VBROADCASTSS X8, Y8
	VFMADD231PS Y8, Y9, Y0
	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $32, R9
	ADDQ $4, DX
	DECQ CX
	JNZ  q6kloop
q6kdone:
	HSUM
	MOVSS X0, ret+56(FP)
	RET

// One activation against the weight block whose |w| is in Y4 and w in Y1
// (scale dw in X15): acc += float(Σ pairs) · (dw·da), exactly the single-row
// kernel's operations for that activation.
#define X4_TOKEN(q, d, acc) \
	VMOVDQU (q), Y2 \
	VPSIGNB Y1, Y2, Y2 \
	VPMADDUBSW Y2, Y4, Y2 \
	VPMADDWD Y7, Y2, Y2 \
	VCVTDQ2PS Y2, Y2 \
	VMULSS (d), X15, X8 \
	VBROADCASTSS X8, Y8 \
	VFMADD231PS Y8, Y2, acc

#define HSUM_TO(Y, X, dst) \
	VEXTRACTF128 $1, Y, X1 \
	VADDPS X1, X, X \
	VMOVHLPS X, X, X1 \
	VADDPS X1, X, X \
	VMOVSHDUP X, X1 \
	VADDSS X1, X, X \
	MOVSS X, dst

// func dotQ8_0x4Asm(w *byte, q *[4]*int8, d *[4]*float32, nb int, tab *[65536]float32, out *[4]float32)
// One Q8_0 row against four activations (prefill): the weights are loaded
// and made absolute once per block for all four, and each activation's sum
// is formed exactly as dotQ8_0Asm forms it, so results are bit-identical.
TEXT ·dotQ8_0x4Asm(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), BX
	MOVQ 16(AX), R9
	MOVQ 24(AX), R10
	MOVQ d+16(FP), AX
	MOVQ 0(AX), R11
	MOVQ 8(AX), R12
	MOVQ 16(AX), R13
	MOVQ 24(AX), DX
	MOVQ nb+24(FP), CX
	MOVQ tab+32(FP), R8
	VXORPS Y0, Y0, Y0
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VMOVDQU ones16<>(SB), Y7
	TESTQ CX, CX
	JZ    x4done
x4loop:
	VMOVDQU 2(SI), Y1
	VPSIGNB Y1, Y1, Y4
	MOVWLZX (SI), AX
	VMOVSS (R8)(AX*4), X15
	X4_TOKEN(DI, R11, Y0)
	X4_TOKEN(BX, R12, Y9)
	X4_TOKEN(R9, R13, Y10)
	X4_TOKEN(R10, DX, Y11)
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $32, BX
	ADDQ $32, R9
	ADDQ $32, R10
	ADDQ $4, R11
	ADDQ $4, R12
	ADDQ $4, R13
	ADDQ $4, DX
	DECQ CX
	JNZ  x4loop
x4done:
	MOVQ out+40(FP), AX
	HSUM_TO(Y0, X0, 0(AX))
	HSUM_TO(Y9, X9, 4(AX))
	HSUM_TO(Y10, X10, 8(AX))
	HSUM_TO(Y11, X11, 12(AX))
	VZEROUPPER
	RET

// func dotQ4_0x4Asm(w *byte, q *[4]*int8, d *[4]*float32, nb int, tab *[65536]float32, out *[4]float32)
// dotQ4_0Asm for four activations, each weight block decoded once.
TEXT ·dotQ4_0x4Asm(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), BX
	MOVQ 16(AX), R9
	MOVQ 24(AX), R10
	MOVQ d+16(FP), AX
	MOVQ 0(AX), R11
	MOVQ 8(AX), R12
	MOVQ 16(AX), R13
	MOVQ 24(AX), DX
	MOVQ nb+24(FP), CX
	MOVQ tab+32(FP), R8
	VXORPS Y0, Y0, Y0
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VMOVDQU ones16<>(SB), Y7
	VMOVDQU nib<>(SB), Y13
	VMOVDQU eight<>(SB), Y14
	TESTQ CX, CX
	JZ    q40x4done
q40x4loop:
	VMOVDQU 2(SI), X1
	VPSRLW $4, X1, X2
	VINSERTI128 $1, X2, Y1, Y1
	VPAND Y13, Y1, Y1
	VPSUBB Y14, Y1, Y1
	VPSIGNB Y1, Y1, Y4
	MOVWLZX (SI), AX
	VMOVSS (R8)(AX*4), X15
	X4_TOKEN(DI, R11, Y0)
	X4_TOKEN(BX, R12, Y9)
	X4_TOKEN(R9, R13, Y10)
	X4_TOKEN(R10, DX, Y11)
	ADDQ $18, SI
	ADDQ $32, DI
	ADDQ $32, BX
	ADDQ $32, R9
	ADDQ $32, R10
	ADDQ $4, R11
	ADDQ $4, R12
	ADDQ $4, R13
	ADDQ $4, DX
	DECQ CX
	JNZ  q40x4loop
q40x4done:
	MOVQ out+40(FP), AX
	HSUM_TO(Y0, X0, 0(AX))
	HSUM_TO(Y9, X9, 4(AX))
	HSUM_TO(Y10, X10, 8(AX))
	HSUM_TO(Y11, X11, 12(AX))
	VZEROUPPER
	RET

// func dotQ5_0x4Asm(w *byte, q *[4]*int8, d *[4]*float32, nb int, tab *[65536]float32, out *[4]float32)
// dotQ5_0Asm for four activations, each weight block decoded once.
TEXT ·dotQ5_0x4Asm(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), BX
	MOVQ 16(AX), R9
	MOVQ 24(AX), R10
	MOVQ d+16(FP), AX
	MOVQ 0(AX), R11
	MOVQ 8(AX), R12
	MOVQ 16(AX), R13
	MOVQ 24(AX), DX
	MOVQ nb+24(FP), CX
	MOVQ tab+32(FP), R8
	VXORPS Y0, Y0, Y0
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VMOVDQU ones16<>(SB), Y7
	VMOVDQU nib<>(SB), Y13
	VMOVDQU bitshuf<>(SB), Y12
	VMOVDQU bitmask<>(SB), Y14
	VMOVDQU hif0<>(SB), Y5
	TESTQ CX, CX
	JZ    q50x4done
q50x4loop:
	VMOVDQU 6(SI), X1
	VPSRLW $4, X1, X2
	VINSERTI128 $1, X2, Y1, Y1
	VPAND Y13, Y1, Y1
	VPBROADCASTD 2(SI), Y3
	VPSHUFB Y12, Y3, Y3
	VPAND Y14, Y3, Y3
	VPCMPEQB Y14, Y3, Y3
	VPANDN Y5, Y3, Y3
	VPOR Y3, Y1, Y1
	VPSIGNB Y1, Y1, Y4
	MOVWLZX (SI), AX
	VMOVSS (R8)(AX*4), X15
	X4_TOKEN(DI, R11, Y0)
	X4_TOKEN(BX, R12, Y9)
	X4_TOKEN(R9, R13, Y10)
	X4_TOKEN(R10, DX, Y11)
	ADDQ $22, SI
	ADDQ $32, DI
	ADDQ $32, BX
	ADDQ $32, R9
	ADDQ $32, R10
	ADDQ $4, R11
	ADDQ $4, R12
	ADDQ $4, R13
	ADDQ $4, DX
	DECQ CX
	JNZ  q50x4loop
q50x4done:
	MOVQ out+40(FP), AX
	HSUM_TO(Y0, X0, 0(AX))
	HSUM_TO(Y9, X9, 4(AX))
	HSUM_TO(Y10, X10, 8(AX))
	HSUM_TO(Y11, X11, 12(AX))
	VZEROUPPER
	RET
