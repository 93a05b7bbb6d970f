// Package kernel is the Go API of the Velocity kernel for programs that run
// on it: what the machine is, how it booted, and what the kernel is doing.
//
// The kernel itself lives in package runtime (added by the build overlay,
// see internal/build), so any Go program boots without importing this
// package. Programs that want more than Linux's interface import it; it
// talks to the kernel through Velocity's own system calls, which fail with
// ENOSYS on Linux, so the same program still runs (and tests) on a host.
package kernel

import (
	"errors"
	"syscall"
	"time"
	"unsafe"
)

// ErrNotVelocity is returned when the program is not running on Velocity.
var ErrNotVelocity = errors.New("kernel: not running on the Velocity kernel")

const (
	sysInfo  = 0x5600
	sysCrash = 0x5601
)

// rawInfo mirrors vkInfo in runtime/vk_velocity.go.
type rawInfo struct {
	Version, CPUs, TSCHz, StubNs, KernelNs           uint64
	FramesTotal, FramesFree, ResidentPages, Faults   uint64
	Syscalls, Switches, TimerTicks, Threads, LAPICHz uint64
	ImageBytes, Reserved, Steals                     uint64
	CPUBusyNs, CPUSyscalls                           [64]uint64
	FaultRaces                                       uint64
	DyingFiles                                       uint64
	TLBRefreshes                                     uint64
	CPUIPIs, CPUHalts, CPUHaltNs                     [64]uint64
	Shootdowns                                       uint64
}

// Info is a snapshot of the kernel's state.
type Info struct {
	CPUs        int
	TSCHz       uint64
	LAPICHz     uint64
	StubEntry   time.Duration // power-on to BOOT_ND.BIN's first instruction
	KernelReady time.Duration // power-on to the hand-over to the Go runtime
	MemTotal    uint64        // bytes of RAM the frame allocator manages
	MemFree     uint64        // bytes not in use
	Resident    uint64        // bytes of demand-zero user pages now backed by RAM
	ImageBytes  uint64        // bytes of the loaded kernel image (text, data, BSS)
	PageFaults  uint64        // demand-zero pages filled (each page once, however many CPUs faulted on it)
	FaultRaces  uint64        // page faults that found their page filled by another CPU meanwhile
	DyingFiles  uint64        // open file descriptions whose last fd was closed without the kernel lock while another CPU held it: released once it let go
	Syscalls    uint64
	Switches    uint64 // thread context switches
	TimerTicks  uint64
	Threads     int
	Reserved    uint64 // mask of CPUs reserved with the kernel option reserve=
	Steals      uint64 // threads an idle CPU took from another CPU's queue
	// TLBRefreshes counts the whole-TLB flushes the CPUs made on their
	// timer ticks, every tlbrefresh= milliseconds, so that QEMU's TCG
	// grows its software TLB (runtime/vk_tlbrefresh.go).
	TLBRefreshes uint64
	// Shootdowns counts the TLB shootdowns (modulo 2^32): unmappings
	// after which every other CPU flushed its TLB whole, which under TCG
	// also empties QEMU's jump cache (runtime/vk_smp.go).
	Shootdowns uint64
	PerCPU     []CPUInfo
}

// CPUInfo is one CPU's share of the work.
type CPUInfo struct {
	Busy     time.Duration // time spent running threads rather than idling
	Syscalls uint64
	IPIs     uint64        // interrupts this CPU sent to others (a wake-up, a steal, a TLB shootdown)
	Halts    uint64        // times its idle loop halted it
	Halted   time.Duration // time it spent halted
}

// ReadInfo asks the kernel for a snapshot.
func ReadInfo() (Info, error) {
	var r rawInfo
	_, _, errno := syscall.RawSyscall(sysInfo, uintptr(unsafe.Pointer(&r)), unsafe.Sizeof(r), 0)
	if errno == syscall.ENOSYS {
		return Info{}, ErrNotVelocity
	}
	if errno != 0 {
		return Info{}, errno
	}
	const page = 4096
	return Info{
		CPUs:         int(r.CPUs),
		TSCHz:        r.TSCHz,
		LAPICHz:      r.LAPICHz,
		StubEntry:    time.Duration(r.StubNs),
		KernelReady:  time.Duration(r.KernelNs),
		MemTotal:     r.FramesTotal * page,
		MemFree:      r.FramesFree * page,
		Resident:     r.ResidentPages * page,
		ImageBytes:   r.ImageBytes,
		PageFaults:   r.Faults,
		FaultRaces:   r.FaultRaces,
		DyingFiles:   r.DyingFiles,
		Syscalls:     r.Syscalls,
		Switches:     r.Switches,
		TimerTicks:   r.TimerTicks,
		Threads:      int(r.Threads),
		Reserved:     r.Reserved,
		Steals:       r.Steals,
		TLBRefreshes: r.TLBRefreshes,
		Shootdowns:   r.Shootdowns,
		PerCPU:       perCPU(&r),
	}, nil
}

// OnVelocity reports whether the program runs on the Velocity kernel.
func OnVelocity() bool {
	_, err := ReadInfo()
	return err == nil
}

// SincePowerOn is the time since the machine was switched on. On Velocity
// CLOCK_MONOTONIC counts from power-on (the TSC starts at zero at reset).
func SincePowerOn() time.Duration {
	var ts syscall.Timespec
	const clockMonotonic = 1
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// CrashKernel makes the kernel take a page fault in kernel code, the way
// Linux's sysrq 'c' does, to test that faults are reported and end the
// machine. It does not return on Velocity.
func CrashKernel() error {
	_, _, errno := syscall.RawSyscall(sysCrash, 1, 0, 0)
	if errno == syscall.ENOSYS {
		return ErrNotVelocity
	}
	return errno
}

func perCPU(r *rawInfo) []CPUInfo {
	n := int(r.CPUs)
	if n > len(r.CPUBusyNs) {
		n = len(r.CPUBusyNs)
	}
	out := make([]CPUInfo, n)
	for i := range out {
		out[i] = CPUInfo{Busy: time.Duration(r.CPUBusyNs[i]), Syscalls: r.CPUSyscalls[i],
			IPIs: r.CPUIPIs[i], Halts: r.CPUHalts[i], Halted: time.Duration(r.CPUHaltNs[i])}
	}
	return out
}
