//go:build velocity

#include "textflag.h"

// func vkRdseed() (v uint64, ok bool)
// RDSEED draws from the CPU's entropy conditioner directly. It fails
// (CF=0) when the conditioner is drained, which happens under load, so
// it is retried a bounded number of times with PAUSE between tries (as
// Intel's DRNG guide advises); the caller falls back to RDRAND.
TEXT runtime·vkRdseed(SB),NOSPLIT|NOFRAME,$0-9
	MOVL	$64, CX
retry:
	BYTE $0x48; BYTE $0x0F; BYTE $0xC7; BYTE $0xF8 // RDSEED AX
	JCS	good
	PAUSE
	DECL	CX
	JNZ	retry
	MOVQ	$0, v+0(FP)
	MOVB	$0, ok+8(FP)
	RET
good:
	MOVQ	AX, v+0(FP)
	MOVB	$1, ok+8(FP)
	RET
