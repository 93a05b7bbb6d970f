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
	if nr < vkSysLinuxCount {
		c.sysNr[nr]++
	} else if nr-vkSysOwnBase < vkSysOwnCount {
		c.sysNr[vkSysLinuxCount+nr-vkSysOwnBase]++
	}
}

// vkSysCountStat is one record of velocity_syscalls: layout shared with
// kernel/syscalls.go.
type vkSysCountStat struct {
	nr    uint32
	_     uint32
	count uint64
	name  [24]byte
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
		var sum uint64
		for c := 0; c < vkCPUCount; c++ {
			sum += vkCPUs[c].sysNr[i]
		}
		if sum == 0 {
			continue
		}
		r := vkSysCountStat{nr: uint32(i), count: sum}
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
