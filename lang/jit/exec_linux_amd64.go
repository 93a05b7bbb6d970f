//go:build linux && amd64

package jit

import (
	"fmt"
	"sync"
	"syscall"
	"unsafe"
)

func platformSupported() bool { return true }

// mapCode maps size bytes read-write, lets fill produce the blob for the
// mapping's address (fill validates it), copies it in and flips the pages
// to read-execute. The pages are never writable and executable at once.
func mapCode(size int, fill func(base uint64) ([]byte, error)) ([]byte, error) {
	mem, err := mapCodeMem(size)
	if err != nil {
		return nil, fmt.Errorf("jit: mmap: %w", err)
	}
	blob, err := fill(uint64(uintptr(unsafe.Pointer(&mem[0]))))
	if err != nil {
		unmapCode(mem)
		return nil, err
	}
	copy(mem, blob)
	if err := syscall.Mprotect(mem, syscall.PROT_READ|syscall.PROT_EXEC); err != nil {
		unmapCode(mem)
		return nil, fmt.Errorf("jit: mprotect: %w", err)
	}
	return mem, nil
}

func unmap(b []byte) error { return syscall.Munmap(b) }

// mapRW maps size bytes of lazily committed read-write memory whose first
// guard bytes are inaccessible.
func mapRW(size int, guard int) ([]byte, error) {
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("jit: mmap: %w", err)
	}
	if guard > 0 {
		if err := syscall.Mprotect(mem[:guard], syscall.PROT_NONE); err != nil {
			syscall.Munmap(mem)
			return nil, fmt.Errorf("jit: mprotect guard: %w", err)
		}
	}
	return mem, nil
}

//go:noescape
func callJIT(fn uintptr, st *state)

// All JIT code lives in one reserved arena of 128 MiB, so that any JIT
// function can reach any other with a JMP rel32 (±2 GiB): that is what a
// live patcher (package patch) writes at a function's entry to send its
// calls into another program. Without it, the other mappings a process
// makes (JIT stacks and arenas of hundreds of MiB, the Go heap) spread
// code blobs further apart than that: the Velocity kernel packs mappings
// top-down, and a healed version loaded after the gate's machines landed
// 2.4 GiB below the slot's entry. The arena is reserved inaccessible
// (PROT_NONE, nothing committed); a blob is mapped over part of it with
// MAP_FIXED and, when unmapped, the range is reserved again and reused
// (first fit). When the arena is full or cannot be reserved, a blob goes
// anywhere: loading never fails for this, only a patch between two
// distant programs does (with an error naming the distance).
var codeArena struct {
	sync.Mutex
	lo, hi uintptr
	free   []span // sorted, coalesced
	failed bool   // the reservation failed: map anywhere
}

type span struct{ lo, hi uintptr }

const codeArenaSize = 128 << 20

func mmapAt(addr, n uintptr, prot, flags int) (uintptr, error) {
	a, _, errno := syscall.Syscall6(syscall.SYS_MMAP, addr, n, uintptr(prot), uintptr(flags), ^uintptr(0), 0)
	if errno != 0 {
		return 0, errno
	}
	return a, nil
}

// mapCodeMem maps size bytes read-write for a code blob, in the arena if
// there is room.
func mapCodeMem(size int) ([]byte, error) {
	const rw, anon = syscall.PROT_READ | syscall.PROT_WRITE, syscall.MAP_PRIVATE | syscall.MAP_ANON
	n := uintptr(size+pageSize-1) &^ (pageSize - 1)
	ar := &codeArena
	ar.Lock()
	defer ar.Unlock()
	if ar.lo == 0 && !ar.failed {
		a, err := mmapAt(0, codeArenaSize, syscall.PROT_NONE, anon|syscall.MAP_NORESERVE)
		if err != nil {
			ar.failed = true
		} else {
			ar.lo, ar.hi, ar.free = a, a+codeArenaSize, []span{{a, a + codeArenaSize}}
		}
	}
	for i, sp := range ar.free {
		if sp.hi-sp.lo < n {
			continue
		}
		a, err := mmapAt(sp.lo, n, rw, anon|syscall.MAP_FIXED)
		if err != nil || a != sp.lo {
			break
		}
		if ar.free[i].lo += n; ar.free[i].lo == sp.hi {
			ar.free = append(ar.free[:i], ar.free[i+1:]...)
		}
		return unsafe.Slice((*byte)(ptrAt(a)), size), nil
	}
	return syscall.Mmap(-1, 0, size, rw, anon)
}

// unmapCode unmaps a blob from mapCodeMem: inside the arena its range is
// reserved again (inaccessible) for the next blob.
func unmapCode(b []byte) error {
	a := uintptr(unsafe.Pointer(&b[0]))
	n := uintptr(len(b)+pageSize-1) &^ (pageSize - 1)
	ar := &codeArena
	ar.Lock()
	defer ar.Unlock()
	if a < ar.lo || a+n > ar.hi {
		return syscall.Munmap(b)
	}
	if _, err := mmapAt(a, n, syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_FIXED|syscall.MAP_NORESERVE); err != nil {
		return err
	}
	i := 0
	for i < len(ar.free) && ar.free[i].lo < a {
		i++
	}
	ar.free = append(ar.free, span{})
	copy(ar.free[i+1:], ar.free[i:])
	ar.free[i] = span{a, a + n}
	// Coalesce with the neighbours.
	if i+1 < len(ar.free) && ar.free[i].hi == ar.free[i+1].lo {
		ar.free[i].hi = ar.free[i+1].hi
		ar.free = append(ar.free[:i+1], ar.free[i+2:]...)
	}
	if i > 0 && ar.free[i-1].hi == ar.free[i].lo {
		ar.free[i-1].hi = ar.free[i].hi
		ar.free = append(ar.free[:i], ar.free[i+1:]...)
	}
	return nil
}

// ptrAt turns the address of a mapping into a pointer (not Go memory, so
// nothing for the garbage collector to track).
func ptrAt(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }
