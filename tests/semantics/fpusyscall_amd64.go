package semantics

import "syscall"

// Helpers for fpusyscall_amd64_test.go, in fpusyscall_amd64.s.

// futexWaitHold sets MXCSR and the x87 control word to mxcsr and fcw,
// fills X0-X14 with seed, seed+1, ... and zeroes X15, then makes
// futex(addr, FUTEX_WAIT_PRIVATE, val, ts) with SYSCALL. It returns the call's
// result, X15 (both lanes OR'ed), MXCSR and the control word as they were
// right after the SYSCALL, and restores the ABI defaults.
//
// The wait is made without telling the Go scheduler (no entersyscall), so
// the thread keeps its P while it sleeps: ts bounds the sleep, or a
// stop-the-world could wait for that P for ever.
func futexWaitHold(addr *uint32, val, mxcsr, fcw, seed uint64, ts *syscall.Timespec) (r, x15, mx, cw uint64)

// faultThenSignal fills X15 with pattern and writes a byte at page (a page
// not touched yet, so the write faults and the kernel saves the vector
// state with that X15), zeroes X15, sets MXCSR and the x87 control word,
// and sends itself sig with tgkill(pid, tid, sig). It returns what
// futexWaitHold does, after the handler ran and rt_sigreturn came back.
func faultThenSignal(page, pid, tid, sig, mxcsr, fcw, pattern uint64) (r, x15, mx, cw uint64)
