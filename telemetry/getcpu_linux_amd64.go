package telemetry

import (
	"syscall"
	"unsafe"
)

const sysGetcpu = 309 // getcpu(2) on linux/amd64

// getcpu is the fallback CPU number when RDTSCP is absent (slow: a
// system call, but only on CPUs without RDTSCP).
func getcpu() uint32 {
	var cpu uint32
	syscall.RawSyscall(sysGetcpu, uintptr(unsafe.Pointer(&cpu)), 0, 0)
	return cpu
}
