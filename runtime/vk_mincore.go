//go:build velocity

// Velocity kernel: mincore, which pages of a range are resident.
//
// Go's runtime calls it to find the page size when it has no auxiliary
// vector (and its tests check that the error is negative), and programs
// use it to see what a mapping has touched. Velocity has no swap and no
// page cache: a page is resident when its page-table entry is present,
// that is, once it has been touched (demand-zero) or was mapped whole.
// The errors come in Linux's order: EINVAL for a start that is not page
// aligned, ENOMEM for a range outside user space, EFAULT when the vector
// cannot be written, ENOMEM at the first page no mapping covers.
//
// Trap context with the kernel lock held, which every writer of the
// mapping list also holds: no allocation, no write barriers.

package runtime

import "unsafe"

func vkCallMincore(f *vkFrame, canBlock bool) uintptr {
	return vkSysMincore(uintptr(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}

func vkSysMincore(addr, n, vec uintptr) uintptr {
	if addr&(vkPageSize-1) != 0 {
		return vkErr(vkEINVAL)
	}
	if addr+n < addr || addr+n > vkUserMax {
		return vkErr(vkENOMEM)
	}
	pages := n / vkPageSize
	if n%vkPageSize != 0 {
		pages++
	}
	if !vkUserOK(vec, pages, true) {
		return vkErr(vkEFAULT)
	}
	for i := uintptr(0); i < pages; i++ {
		va := addr + i*vkPageSize
		if vkVMAFind(va) < 0 {
			return vkErr(vkENOMEM)
		}
		r := byte(0)
		if _, size := vkWalk(va); size != 0 { // a 4 KiB entry or a huge page over it
			r = 1
		}
		*(*byte)(unsafe.Pointer(vec + i)) = r
	}
	return 0
}

// mlock, mlock2, munlock, mlockall and munlockall. Velocity never pages
// memory out, so every page stays resident once touched; what a lock adds
// is Linux's populate: mlock faults the range's accessible pages in, so
// mincore then reports them resident, as on Linux. The checks are Linux's:
// the range is widened to whole pages, wraps are EINVAL, and a page no
// mapping covers is ENOMEM (munlock checks the same). mlockall with
// MCL_CURRENT populates every accessible mapping; MCL_FUTURE is accepted,
// and later mappings are populated as they are touched, not at mmap
// (README, "Not done yet"). The caller is root, so RLIMIT_MEMLOCK does
// not apply, as CAP_IPC_LOCK lifts it on Linux.

const (
	mclCurrent   = 1
	mclFuture    = 2
	mclOnFault   = 4
	mlockOnFault = 1
)

// vkSysMlock checks [addr, addr+n) as Linux's apply_vma_lock_flags does
// and, with populate, faults its accessible pages in.
func vkSysMlock(addr, n uintptr, populate bool) uintptr {
	end := (addr + n + vkPageSize - 1) &^ (vkPageSize - 1)
	start := addr &^ (vkPageSize - 1)
	if addr+n < addr || end < start {
		return vkErr(vkEINVAL)
	}
	if end == start {
		return 0
	}
	if end > vkUserMax {
		return vkErr(vkENOMEM)
	}
	if !vkRangeMapped(start, end) {
		return vkErr(vkENOMEM)
	}
	if populate {
		vkPopulate(start, end)
	}
	return 0
}

// vkPopulate faults in the pages of [start, end) whose mappings can be
// read, written or executed. The caller holds the kernel lock.
func vkPopulate(start, end uintptr) {
	for va := start; va < end; va += vkPageSize {
		i := vkVMAFind(va)
		if i < 0 {
			continue
		}
		prot := vkVM.vmas[i].prot
		if prot&vmaKernel != 0 || prot&(protRead|protWrite|protExec) == 0 {
			va = vkVM.vmas[i].end - vkPageSize // skip the whole inaccessible mapping
			continue
		}
		if _, size := vkWalk(va); size == 0 {
			vkHandlePageFault(va, false, false)
		}
	}
}

func vkSysMlockall(flags uintptr) uintptr {
	if flags == 0 || flags&^(mclCurrent|mclFuture|mclOnFault) != 0 || flags == mclOnFault {
		return vkErr(vkEINVAL)
	}
	if flags&mclCurrent != 0 && flags&mclOnFault == 0 {
		for i := 0; i < vkVM.n; i++ {
			vkPopulate(vkVM.vmas[i].start, vkVM.vmas[i].end)
		}
	}
	return 0
}
