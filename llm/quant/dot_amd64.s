#include "textflag.h"

// func dotQ8_0Asm(w *byte, q *int8, d *float32, nb int, tab *[65536]float32) float32
//
// w: nb Q8_0 blocks (f16 scale + 32 int8); q: nb*32 int8 activations; d: nb
// activation scales; tab: f16 → f32. Per block: |w|·(q·sign w) with
// VPMADDUBSW (pairs fit int16: 127·127·2 < 32768), widened to int32 with
// VPMADDWD by ones, converted to float and accumulated with FMA against the
// product of the two block scales.
TEXT ·dotQ8_0Asm(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ tab+32(FP), R8
	VXORPS Y0, Y0, Y0
	VXORPS Y9, Y9, Y9
	MOVL $0x00010001, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7

	CMPQ CX, $2
	JLT  tail

pair:
	// two blocks per iteration, into two accumulators
	VMOVDQU 2(SI), Y1
	VMOVDQU (DI), Y2
	VPSIGNB Y1, Y1, Y3
	VPSIGNB Y1, Y2, Y4
	VPMADDUBSW Y4, Y3, Y5
	VPMADDWD Y7, Y5, Y6
	VCVTDQ2PS Y6, Y6
	MOVWLZX (SI), AX
	VMOVSS (R8)(AX*4), X8
	VMULSS (DX), X8, X8
	VBROADCASTSS X8, Y8
	VFMADD231PS Y8, Y6, Y0

	VMOVDQU 36(SI), Y11
	VMOVDQU 32(DI), Y12
	VPSIGNB Y11, Y11, Y13
	VPSIGNB Y11, Y12, Y14
	VPMADDUBSW Y14, Y13, Y15
	VPMADDWD Y7, Y15, Y10
	VCVTDQ2PS Y10, Y10
	MOVWLZX 34(SI), AX
	VMOVSS (R8)(AX*4), X8
	VMULSS 4(DX), X8, X8
	VBROADCASTSS X8, Y8
	VFMADD231PS Y8, Y10, Y9

	ADDQ $68, SI
	ADDQ $64, DI
	ADDQ $8, DX
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  pair

tail:
	TESTQ CX, CX
	JZ    done
	VMOVDQU 2(SI), Y1
	VMOVDQU (DI), Y2
	VPSIGNB Y1, Y1, Y3
	VPSIGNB Y1, Y2, Y4
	VPMADDUBSW Y4, Y3, Y5
	VPMADDWD Y7, Y5, Y6
	VCVTDQ2PS Y6, Y6
	MOVWLZX (SI), AX
	VMOVSS (R8)(AX*4), X8
	VMULSS (DX), X8, X8
	VBROADCASTSS X8, Y8
	VFMADD231PS Y8, Y6, Y0

done:
	VADDPS Y9, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET
