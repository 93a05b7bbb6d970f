package kernel

import (
	"errors"
	"runtime"
	"syscall"
	"unsafe"
)

// CurrentCPU returns the CPU the calling thread runs on (getcpu).
func CurrentCPU() (int, error) {
	var cpu, node uint32
	_, _, errno := syscall.RawSyscall(sysGetcpu, uintptr(unsafe.Pointer(&cpu)), uintptr(unsafe.Pointer(&node)), 0)
	if errno != 0 {
		return 0, errno
	}
	return int(cpu), nil
}

const sysGetcpu = 309

type cpuMask [16]uint64 // 1024 CPUs, as glibc's cpu_set_t

func getAffinity() (cpuMask, error) {
	var m cpuMask
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m)))
	if errno != 0 {
		return m, errno
	}
	return m, nil
}

func setAffinity(m *cpuMask) error {
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(*m), uintptr(unsafe.Pointer(m)))
	if errno != 0 {
		return errno
	}
	return nil
}

// Pin binds the calling goroutine to CPU cpu: it locks the goroutine to its
// OS thread (runtime.LockOSThread) and restricts that thread's affinity to
// the one CPU, which also works for CPUs reserved with the kernel option
// reserve=. The returned function gives the pin back: it restores the
// thread's previous affinity and unlocks the goroutine. Call it from the
// same goroutine.
func Pin(cpu int) (unpin func() error, err error) {
	if cpu < 0 || cpu >= 1024 {
		return nil, errors.New("kernel: no such CPU")
	}
	runtime.LockOSThread()
	old, err := getAffinity()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	var m cpuMask
	m[cpu/64] = 1 << (cpu % 64)
	if err := setAffinity(&m); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	return func() error {
		err := setAffinity(&old)
		runtime.UnlockOSThread()
		return err
	}, nil
}
