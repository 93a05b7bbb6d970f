//go:build velocity

// Velocity kernel: how many system calls of each number the machine has
// made, for kernel.Syscalls and the shell's syscalls command: strace -c's
// counts for the whole machine, with no tracer and no cost but an
// increment. Each CPU counts the calls made on it in its own array, so
// the count needs no lock and no atomic; a reader sums the CPUs' arrays
// and may see a few calls late.

package runtime

import "unsafe"

// vkSysCountSlots: Linux's numbers, then Velocity's own from vkSysOwnBase.
const vkSysCountSlots = vkSysLinuxCount + vkSysOwnCount

// vkSysCount counts call nr made on c, this CPU. Trap context, before
// the kernel lock or without it: no allocation, no write barriers (a
// plain store into the CPU's own array). A number in neither range is not
// counted (it fails with ENOSYS, which vkUnimplemented reports).
//
//go:nosplit
func vkSysCount(c *vkCPU, nr uint64) {
	c.syscalls++
	if i, ok := vkSysSlot(nr); ok {
		c.sysNr[i]++
	}
}

// vkSysSlot is call nr's index in the per-CPU counts (sysNr, sysNs):
// Linux's numbers first, then Velocity's own from vkSysOwnBase; ok is
// false for a number in neither range.
//
//go:nosplit
func vkSysSlot(nr uint64) (uint64, bool) {
	if nr < vkSysLinuxCount {
		return nr, true
	}
	if nr-vkSysOwnBase < vkSysOwnCount {
		return vkSysLinuxCount + nr - vkSysOwnBase, true
	}
	return 0, false
}

// vkSysTimeBegin starts timing t's system call: the CPU time it takes,
// not the time it waits, which strace -c's figures mix. The scheduler
// stops the clock when t leaves its CPU inside the call and restarts it
// when t runs again (vkChargeCPU), so a call that blocks is charged only
// for its own work. Calls served on the lock-free path (clock_gettime,
// gettid, getpid, and futex wakes that find nobody waiting:
// vkSyscallLockFree) are not timed: two clock reads would cost as much
// as the call. Trap context, as vkSysCount: plain stores into the thread.
func vkSysTimeBegin(t *vkThread) {
	t.sysAcc = 0
	t.sysOn = vkNanotime()
}

// vkSysTimeEnd charges t's call nr (its number at entry: the frame's
// holds the result by now) to the CPU it ends on.
func vkSysTimeEnd(t *vkThread, nr uint64) {
	if t.sysOn <= 0 {
		t.sysOn = 0
		return
	}
	ns := t.sysAcc + vkNanotime() - t.sysOn
	t.sysOn = 0
	if i, ok := vkSysSlot(nr); ok {
		vkThisCPU().sysNs[i] += uint64(ns)
	}
}

// vkSysCountStat is one record of velocity_syscalls: layout shared with
// kernel/syscalls.go.
type vkSysCountStat struct {
	nr    uint32
	_     uint32
	count uint64
	name  [24]byte
	ns    uint64 // CPU time in the calls (vkSysTimeEnd)
}

const vkSysVelocitySyscalls = 0x5609

func vkCallVelocitySyscalls(f *vkFrame, canBlock bool) uintptr {
	return vkSysSyscallCounts(uintptr(f.rdi), uintptr(f.rsi))
}

// vkSysSyscallCounts writes a record for every system call number made
// at least once since boot into buf (n bytes, room for vkSysCountSlots
// records, else EINVAL) and returns how many it wrote.
func vkSysSyscallCounts(buf, n uintptr) uintptr {
	size := unsafe.Sizeof(vkSysCountStat{})
	if n < size*vkSysCountSlots {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(buf, size*vkSysCountSlots, true) {
		return vkErr(vkEFAULT)
	}
	w := uintptr(0)
	for i := uintptr(0); i < vkSysCountSlots; i++ {
		var sum, ns uint64
		for c := 0; c < vkCPUCount; c++ {
			sum += vkCPUs[c].sysNr[i]
			ns += vkCPUs[c].sysNs[i]
		}
		if sum == 0 {
			continue
		}
		r := vkSysCountStat{nr: uint32(i), count: sum, ns: ns}
		if i >= vkSysLinuxCount {
			r.nr = uint32(vkSysOwnBase + i - vkSysLinuxCount)
			copy(r.name[:], vkSysOwnNames[i-vkSysLinuxCount])
		} else if i < uintptr(len(vkSyscallNames)) {
			copy(r.name[:], vkSyscallNames[i])
		}
		*(*vkSysCountStat)(unsafe.Pointer(buf + w*size)) = r
		w++
	}
	return w
}
