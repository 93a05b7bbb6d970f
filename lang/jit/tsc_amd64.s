//go:build linux

#include "textflag.h"

// Timestamp-read floors for BenchmarkTimestampFloor (probe_test.go): n
// back-to-back reads, the least a probe that reads the clock twice per
// call can cost.

// func rdtscpLoop(n int)
TEXT ·rdtscpLoop(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), BX
loop:
	RDTSCP
	DECQ BX
	JNZ loop
	RET

// func lfenceRdtscLoop(n int)
TEXT ·lfenceRdtscLoop(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), BX
loop:
	LFENCE
	RDTSC
	DECQ BX
	JNZ loop
	RET

// func rdtscLoop(n int)
TEXT ·rdtscLoop(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), BX
loop:
	RDTSC
	DECQ BX
	JNZ loop
	RET
