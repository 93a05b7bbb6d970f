//go:build velocity

// CPU primitives for the Velocity kernel. This file joins package runtime
// through the build overlay (internal/build), so the kernel core can use
// them from trap context. Every function is a leaf: NOSPLIT, no frame, no
// allocation. Privileged instructions are legal here because all Go code,
// the runtime included, runs at CPL 0.

#include "textflag.h"

// func vkOutb(port uint16, v uint8)
TEXT runtime·vkOutb(SB),NOSPLIT|NOFRAME,$0-3
	MOVW	port+0(FP), DX
	MOVB	v+2(FP), AX
	OUTB
	RET

// func vkInb(port uint16) uint8
TEXT runtime·vkInb(SB),NOSPLIT|NOFRAME,$0-9
	MOVW	port+0(FP), DX
	XORL	AX, AX
	INB
	MOVB	AX, ret+8(FP)
	RET

// func vkOutl(port uint16, v uint32)
TEXT runtime·vkOutl(SB),NOSPLIT|NOFRAME,$0-8
	MOVW	port+0(FP), DX
	MOVL	v+4(FP), AX
	OUTL
	RET

// func vkRdmsr(msr uint32) uint64
TEXT runtime·vkRdmsr(SB),NOSPLIT|NOFRAME,$0-16
	MOVL	msr+0(FP), CX
	RDMSR
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+8(FP)
	RET

// func vkWrmsr(msr uint32, v uint64)
TEXT runtime·vkWrmsr(SB),NOSPLIT|NOFRAME,$0-16
	MOVL	msr+0(FP), CX
	MOVQ	v+8(FP), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	WRMSR
	RET

// func vkCpuid(leaf, sub uint32) (a, b, c, d uint32)
TEXT runtime·vkCpuid(SB),NOSPLIT|NOFRAME,$0-24
	MOVL	leaf+0(FP), AX
	MOVL	sub+4(FP), CX
	CPUID
	MOVL	AX, a+8(FP)
	MOVL	BX, b+12(FP)
	MOVL	CX, c+16(FP)
	MOVL	DX, d+20(FP)
	RET

// func vkRdtsc() uint64
// LFENCE keeps the read from drifting ahead of earlier instructions.
TEXT runtime·vkRdtsc(SB),NOSPLIT|NOFRAME,$0-8
	LFENCE
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET

// func vkLidt(p uintptr)  p points at a 10-byte pseudo-descriptor.
TEXT runtime·vkLidt(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	p+0(FP), AX
	LIDT	(AX)
	RET

// func vkLtr(sel uint16)
TEXT runtime·vkLtr(SB),NOSPLIT|NOFRAME,$0-2
	MOVW	sel+0(FP), AX
	LTR	AX
	RET

// func vkReadCR2() uintptr
TEXT runtime·vkReadCR2(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	CR2, AX
	MOVQ	AX, ret+0(FP)
	RET

// func vkReadCR3() uintptr
TEXT runtime·vkReadCR3(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	CR3, AX
	MOVQ	AX, ret+0(FP)
	RET

// func vkWriteCR3(v uintptr)
TEXT runtime·vkWriteCR3(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, CR3
	RET

// func vkReadCR0() uintptr
TEXT runtime·vkReadCR0(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	CR0, AX
	MOVQ	AX, ret+0(FP)
	RET

// func vkReadCR4() uintptr
TEXT runtime·vkReadCR4(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	CR4, AX
	MOVQ	AX, ret+0(FP)
	RET

// func vkWriteCR4(v uintptr)
TEXT runtime·vkWriteCR4(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, CR4
	RET

// func vkInvlpg(va uintptr)
TEXT runtime·vkInvlpg(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	va+0(FP), AX
	INVLPG	(AX)
	RET

// func vkIdle()  enables interrupts and halts until the next one, then
// disables them again. STI's one-instruction shadow makes STI;HLT atomic
// for maskable interrupts, so a wake-up that arrives in between is not
// lost. An NMI is not held off by the shadow: vkTrap moves a context it
// interrupted on the HLT past it (vkIdleNoHalt, runtime/vk_trap.go).
TEXT runtime·vkIdle(SB),NOSPLIT|NOFRAME,$0-0
	STI
	HLT
	CLI
	RET

// func vkIdleHaltPC() uintptr  is the address of vkIdle's HLT (STI is one
// byte), which vkTrap moves an interrupted context past (vkIdleNoHalt);
// vkIdleCheck verifies the bytes at boot.
TEXT runtime·vkIdleHaltPC(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	$runtime·vkIdle(SB), AX
	ADDQ	$1, AX
	MOVQ	AX, ret+0(FP)
	RET

// func vkIntrOn() and vkIntrOff() open and close a window for interrupts
// longer than vkSpinPause's (the idle poll, vk_idlepoll.go).
TEXT runtime·vkIntrOn(SB),NOSPLIT|NOFRAME,$0-0
	STI
	RET

TEXT runtime·vkIntrOff(SB),NOSPLIT|NOFRAME,$0-0
	CLI
	RET

// func vkHaltForever()
TEXT runtime·vkHaltForever(SB),NOSPLIT|NOFRAME,$0-0
	CLI
again:
	HLT
	JMP	again

// func vkRdrand() (v uint64, ok bool)
TEXT runtime·vkRdrand(SB),NOSPLIT|NOFRAME,$0-9
	MOVL	$10, CX
retry:
	BYTE $0x48; BYTE $0x0F; BYTE $0xC7; BYTE $0xF0 // RDRAND AX
	JCS	good
	DECL	CX
	JNZ	retry
	MOVQ	$0, v+0(FP)
	MOVB	$0, ok+8(FP)
	RET
good:
	MOVQ	AX, v+0(FP)
	MOVB	$1, ok+8(FP)
	RET

// func vkFxsave(p uintptr)   p must be 16-byte aligned.
TEXT runtime·vkFxsave(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	p+0(FP), AX
	FXSAVE64	(AX)
	RET

// func vkXsave(p uintptr)  p must be 64-byte aligned; saves every
// component XCR0 enables (EDX:EAX = all ones). runtime/vk_fpu.go.
TEXT runtime·vkXsave(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	p+0(FP), CX
	MOVL	$-1, AX
	MOVL	$-1, DX
	XSAVE64	(CX)
	RET

// func vkXsetbv(xcr uint32, v uint64)  needs CR4.OSXSAVE.
TEXT runtime·vkXsetbv(SB),NOSPLIT|NOFRAME,$0-16
	MOVL	xcr+0(FP), CX
	MOVQ	v+8(FP), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	XSETBV
	RET

// func vkXgetbv(xcr uint32) uint64  needs CR4.OSXSAVE.
TEXT runtime·vkXgetbv(SB),NOSPLIT|NOFRAME,$0-16
	MOVL	xcr+0(FP), CX
	XGETBV
	SHLQ	$32, DX
	MOVL	AX, AX
	ORQ	DX, AX
	MOVQ	AX, ret+8(FP)
	RET

// func vkFpuInit()  resets x87 and SSE control state to the ABI defaults.
TEXT runtime·vkFpuInit(SB),NOSPLIT,$8-0
	BYTE $0xDB; BYTE $0xE3 // FNINIT
	MOVL	$0x1f80, 0(SP)
	LDMXCSR	0(SP)
	RET

// Debug registers, for the gdb stub's hardware breakpoints and
// watchpoints (runtime/vk_gdb.go). MOV to/from DRn is emitted as bytes:
// 0F 23 /r writes DRn from RAX, 0F 21 /r reads it into RAX.

// func vkWriteDR(n int, v uint64)  n = 0-3, 6 or 7
TEXT runtime·vkWriteDR(SB),NOSPLIT|NOFRAME,$0-16
	MOVQ	n+0(FP), CX
	MOVQ	v+8(FP), AX
	CMPQ	CX, $0
	JEQ	dr0
	CMPQ	CX, $1
	JEQ	dr1
	CMPQ	CX, $2
	JEQ	dr2
	CMPQ	CX, $3
	JEQ	dr3
	CMPQ	CX, $6
	JEQ	dr6
	BYTE $0x0F; BYTE $0x23; BYTE $0xF8	// MOVQ AX, DR7
	RET
dr0:
	BYTE $0x0F; BYTE $0x23; BYTE $0xC0	// MOVQ AX, DR0
	RET
dr1:
	BYTE $0x0F; BYTE $0x23; BYTE $0xC8	// MOVQ AX, DR1
	RET
dr2:
	BYTE $0x0F; BYTE $0x23; BYTE $0xD0	// MOVQ AX, DR2
	RET
dr3:
	BYTE $0x0F; BYTE $0x23; BYTE $0xD8	// MOVQ AX, DR3
	RET
dr6:
	BYTE $0x0F; BYTE $0x23; BYTE $0xF0	// MOVQ AX, DR6
	RET

// func vkReadDR6() uint64
TEXT runtime·vkReadDR6(SB),NOSPLIT|NOFRAME,$0-8
	BYTE $0x0F; BYTE $0x21; BYTE $0xF0	// MOVQ DR6, AX
	MOVQ	AX, ret+0(FP)
	RET

// func vkReadDR7() uint64
TEXT runtime·vkReadDR7(SB),NOSPLIT|NOFRAME,$0-8
	BYTE $0x0F; BYTE $0x21; BYTE $0xF8	// MOVQ DR7, AX
	MOVQ	AX, ret+0(FP)
	RET

// func vkOutw(port uint16, v uint16)
TEXT runtime·vkOutw(SB),NOSPLIT|NOFRAME,$0-4
	MOVW	port+0(FP), DX
	MOVW	v+2(FP), AX
	OUTW
	RET

// func vkInw(port uint16) uint16
TEXT runtime·vkInw(SB),NOSPLIT|NOFRAME,$0-10
	MOVW	port+0(FP), DX
	XORL	AX, AX
	INW
	MOVW	AX, ret+8(FP)
	RET

// func vkInl(port uint16) uint32
TEXT runtime·vkInl(SB),NOSPLIT|NOFRAME,$0-12
	MOVW	port+0(FP), DX
	INL
	MOVL	AX, ret+8(FP)
	RET
