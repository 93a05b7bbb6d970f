package semantics

// Helpers for simd_amd64_test.go, in simd_amd64.s. They live outside the
// _test files only because assembly cannot be test-only.

// cpuid executes CPUID with EAX = leaf and ECX = sub.
func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// xgetbv0 reads XCR0, the state components the OS saves (needs
// CPUID.1:ECX.OSXSAVE, or it faults).
func xgetbv0() uint64

// ymmHold loads Y0-Y15 with register i's four lanes all seed+i, sets the
// rounding mode of MXCSR and of the x87 control word to toward-zero, spins
// for iters iterations without touching any of them, then stores the 16
// registers to out and returns MXCSR and the x87 control word as they were
// at the end, after which it restores the ABI defaults (MXCSR 0x1F80, FCW
// 0x037F). While it spins the thread can be switched out, interrupted and
// handed signals; every value it returns must be what it set. Needs AVX.
func ymmHold(seed, iters uint64, out *[16][4]uint64) (mxcsr uint32, fcw uint16)

// xmmHold is ymmHold for X0-X15 (two lanes each) with SSE2 only.
func xmmHold(seed, iters uint64, out *[16][2]uint64) (mxcsr uint32, fcw uint16)
