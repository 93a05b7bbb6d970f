//go:build !(linux && amd64)

package jit

import "errors"

func platformSupported() bool { return false }

func mapCode(size int, fill func(base uint64) ([]byte, error)) ([]byte, error) {
	return nil, errors.New("jit: executable memory is only implemented on linux/amd64")
}

func unmap(b []byte) error { return nil }

func mapRW(size int, guard int) ([]byte, error) {
	return nil, errors.New("jit: only implemented on linux/amd64")
}

func callJIT(fn uintptr, st *state) { panic("jit: no trampoline on this platform") }

func unmapCode(b []byte) error { return nil }
