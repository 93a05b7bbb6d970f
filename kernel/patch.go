package kernel

import (
	"errors"
	"syscall"
	"unsafe"
)

// sysPatch is the kernel's live-patching system call (runtime/vk_patch.go).
const sysPatch = 0x5602

const (
	patchOpPoke  = 1
	patchOpStats = 2
)

// ErrPatchBusy is returned by PokeText when a thread was stopped at an
// instruction boundary strictly inside the five bytes: rewriting them
// would make it resume inside the new instruction. The caller retries once
// that thread has run on (package patch does).
var ErrPatchBusy = syscall.EBUSY

// PokeText rewrites the five bytes of machine code at addr with code while
// every CPU may be executing them, with the INT3 protocol of Linux's
// text_poke_bp: INT3 over byte 0, bytes 1-4, then byte 0, each step
// followed by IPIs that serialise every CPU. A CPU that executes the INT3
// meanwhile continues at emulate, which must be the target of the JMP that
// is being installed or removed (either body is correct mid-swap).
// addr must be in the kernel image or in a present page of an executable
// mapping.
func PokeText(addr uintptr, code [5]byte, emulate uintptr) error {
	_, _, errno := syscall.RawSyscall6(sysPatch, patchOpPoke, addr, uintptr(unsafe.Pointer(&code[0])), emulate, 0, 0)
	if errno == syscall.ENOSYS {
		return ErrNotVelocity
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// PatchStats counts the kernel's text pokes since boot.
type PatchStats struct {
	Pokes   uint64 // sites rewritten
	Busy    uint64 // pokes refused: a thread was stopped inside the range
	Traps   uint64 // INT3s hit at a site being rewritten, and emulated
	Syncs   uint64 // rounds of serialising IPIs
	LastNs  uint64 // duration of the last completed poke, first INT3 to last sync
	MaxNs   uint64 // the longest poke
	Stale   uint64 // INT3s of a finished poke executed from a stale translation (QEMU TCG), re-run
	TotalNs uint64 // sum of the completed pokes' durations
}

// ReadPatchStats returns the kernel's patch counters.
func ReadPatchStats() (PatchStats, error) {
	var s PatchStats
	_, _, errno := syscall.RawSyscall(sysPatch, patchOpStats, uintptr(unsafe.Pointer(&s)), unsafe.Sizeof(s))
	if errno == syscall.ENOSYS {
		return s, ErrNotVelocity
	}
	if errno != 0 {
		return s, errors.Join(errors.New("kernel: patch stats"), errno)
	}
	return s, nil
}
