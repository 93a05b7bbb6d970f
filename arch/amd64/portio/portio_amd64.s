// I/O port instructions for package portio. Leaves: NOSPLIT, no frame.

#include "textflag.h"

// func Inb(port uint16) uint8
TEXT ·Inb(SB),NOSPLIT|NOFRAME,$0-9
	MOVW	port+0(FP), DX
	XORL	AX, AX
	INB
	MOVB	AX, ret+8(FP)
	RET

// func Outb(port uint16, v uint8)
TEXT ·Outb(SB),NOSPLIT|NOFRAME,$0-3
	MOVW	port+0(FP), DX
	MOVB	v+2(FP), AX
	OUTB
	RET

// func Inw(port uint16) uint16
TEXT ·Inw(SB),NOSPLIT|NOFRAME,$0-10
	MOVW	port+0(FP), DX
	XORL	AX, AX
	INW
	MOVW	AX, ret+8(FP)
	RET

// func Outw(port uint16, v uint16)
TEXT ·Outw(SB),NOSPLIT|NOFRAME,$0-4
	MOVW	port+0(FP), DX
	MOVW	v+2(FP), AX
	OUTW
	RET

// func Inl(port uint16) uint32
TEXT ·Inl(SB),NOSPLIT|NOFRAME,$0-12
	MOVW	port+0(FP), DX
	INL
	MOVL	AX, ret+8(FP)
	RET

// func Outl(port uint16, v uint32)
TEXT ·Outl(SB),NOSPLIT|NOFRAME,$0-8
	MOVW	port+0(FP), DX
	MOVL	v+4(FP), AX
	OUTL
	RET
