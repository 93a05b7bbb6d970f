//go:build linux && amd64

package jit

import (
	"fmt"
	"syscall"
	"unsafe"
)

func platformSupported() bool { return true }

// mapCode maps size bytes read-write, lets fill produce the blob for the
// mapping's address (fill validates it), copies it in and flips the pages
// to read-execute. The pages are never writable and executable at once.
func mapCode(size int, fill func(base uint64) ([]byte, error)) ([]byte, error) {
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("jit: mmap: %w", err)
	}
	blob, err := fill(uint64(uintptr(unsafe.Pointer(&mem[0]))))
	if err != nil {
		syscall.Munmap(mem)
		return nil, err
	}
	copy(mem, blob)
	if err := syscall.Mprotect(mem, syscall.PROT_READ|syscall.PROT_EXEC); err != nil {
		syscall.Munmap(mem)
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
