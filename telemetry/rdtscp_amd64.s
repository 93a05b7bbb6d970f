#include "textflag.h"

// func rdtscp() (tsc uint64, aux uint32)
// RDTSCP: EDX:EAX = TSC, ECX = IA32_TSC_AUX (the CPU id under Velocity
// and Linux). It waits for earlier instructions to retire.
TEXT ·rdtscp(SB), NOSPLIT, $0-12
	RDTSCP
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, tsc+0(FP)
	MOVL CX, aux+8(FP)
	RET

// func rdtscFenced() uint64
// LFENCE;RDTSC for CPUs without RDTSCP.
TEXT ·rdtscFenced(SB), NOSPLIT, $0-8
	LFENCE
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET

// func cpuid(leaf, sub uint32) (a, b, c, d uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, a+8(FP)
	MOVL BX, b+12(FP)
	MOVL CX, c+16(FP)
	MOVL DX, d+20(FP)
	RET
