package kernel

import (
	"bytes"
	"cmp"
	"slices"
	"syscall"
	"time"
	"unsafe"
)

const sysSyscalls = 0x5609

// rawSyscallCount mirrors vkSysCountStat in runtime/vk_syscount.go.
type rawSyscallCount struct {
	Nr    uint32
	_     uint32
	Count uint64
	Name  [24]byte
	Ns    uint64
}

// syscallSlots is how many records the kernel may write: Linux's 512
// numbers and Velocity's 64 (runtime's vkSysCountSlots).
const syscallSlots = 512 + 64

// SyscallCount is how many times the machine has made one system call.
type SyscallCount struct {
	Nr    int    // its number: Linux's, or Velocity's own from 0x5600
	Name  string // "read", "velocity_net_ready", ... ("" if the kernel has no name for it)
	Count uint64
	// Time is the CPU time the kernel spent in these calls: a call that
	// blocks is charged for its own work, not for its wait. The calls
	// the kernel serves on its lock-free path are not timed:
	// clock_gettime, gettid, getpid (always zero) and private futex
	// wakes that find nobody waiting (futex's time is the other calls').
	Time time.Duration
}

// Syscalls reads the kernel's count of system calls by number since boot,
// summed over every CPU and thread: strace -c's counts for the whole
// machine. Only numbers made at least once appear, the most made first.
// Each CPU counts its own calls without a lock, so a reading may be a few
// calls behind.
func Syscalls() ([]SyscallCount, error) {
	raw := make([]rawSyscallCount, syscallSlots)
	n, err := tableCall(sysSyscalls, unsafe.Pointer(&raw[0]), uintptr(len(raw))*unsafe.Sizeof(raw[0]), len(raw))
	if err != nil {
		return nil, err
	}
	out := make([]SyscallCount, 0, n)
	for _, r := range raw[:n] {
		out = append(out, SyscallCount{Nr: int(r.Nr), Name: cName(r.Name[:]), Count: r.Count, Time: time.Duration(r.Ns)})
	}
	sortSyscalls(out)
	return out, nil
}

// SyscallsDelta is after minus before, number by number, with the calls
// made in between only, the most made first: the system calls of one
// piece of work.
func SyscallsDelta(before, after []SyscallCount) []SyscallCount {
	was := make(map[int]SyscallCount, len(before))
	for _, b := range before {
		was[b.Nr] = b
	}
	out := make([]SyscallCount, 0, len(after))
	for _, a := range after {
		if a.Count > was[a.Nr].Count {
			a.Count -= was[a.Nr].Count
			a.Time -= was[a.Nr].Time
			out = append(out, a)
		}
	}
	sortSyscalls(out)
	return out
}

// tableCall makes a Velocity call that fills buf (size bytes, room for max
// records) with records and returns how many it wrote (at most max).
func tableCall(nr uintptr, buf unsafe.Pointer, size uintptr, max int) (int, error) {
	n, _, errno := syscall.RawSyscall(nr, uintptr(buf), size, 0)
	if errno == syscall.ENOSYS {
		return 0, ErrNotVelocity
	}
	if errno != 0 {
		return 0, errno
	}
	return min(int(n), max), nil
}

// cName is a NUL-padded name from the kernel.
func cName(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func sortSyscalls(s []SyscallCount) {
	slices.SortFunc(s, func(a, b SyscallCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Nr, b.Nr)
	})
}
