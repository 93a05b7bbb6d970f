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
