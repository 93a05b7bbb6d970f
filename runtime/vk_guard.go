//go:build velocity

// Velocity kernel: system calls refuse user pointers into the kernel's
// own variables.
//
// The kernel's tables are package runtime's vk* globals, in the program's
// image and address space (a unikernel has one). Without a guard, a
// system call given a stray pointer that happens to land on one, say
// read(fd, p, n) with p inside the socket table, wrote kernel state on
// the program's behalf and took the machine down later, far from the bug.
// On Linux the kernel's data lies above the user half and the same call
// fails with EFAULT; here vkUserOK (and the lock-free paths that walk the
// page tables themselves: vkUserLoad32/64, vkMappedWritable, the pipe
// copy) refuse any range that overlaps a kernel variable, with the same
// EFAULT. The variables are
// found at boot in the kernel ELF's symbol table (kernel/ksyms), so the
// list cannot fall out of date as tables are added. The program's own Go
// globals, the Go runtime's included, stay its to pass, as on Linux.
//
// This guards system calls, not plain stores: code running in the kernel
// image can still write anywhere, as any code in one address space can.

package runtime

import "unsafe"

// vkGuardMax bounds the merged ranges: the kernel has about a hundred
// variables, and neighbours merge.
const vkGuardMax = 512

// vkGuard holds the kernel's variables as sorted, disjoint address ranges.
// Written once at boot, before any other CPU or thread runs; read without
// a lock afterwards.
var vkGuard struct {
	n int
	r [vkGuardMax]ksRange
}

// vkGuardInit reads the ranges from the kernel ELF (the boot module, still
// intact: this runs before the frame allocator can reuse its frames). A
// kernel linked without a symbol table boots unguarded and says so.
// Boot context: no allocation, no write barriers.
func vkGuardInit(bi *vkBootInfo) {
	elf := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(bi.elf))), uintptr(bi.elfSize))
	n, err := ksObjects(elf, "runtime.vk", vkGuard.r[:])
	if err != "" {
		vkPrint("velocity: warning: system calls can write into the kernel's own variables: ")
		vkPrint(err)
		vkPrint("\n")
		return
	}
	vkGuard.n = n
}

// vkGuarded reports whether [start, end) overlaps a kernel variable.
// Trap context, any lock or none: it reads only what boot wrote, and
// allocates nothing.
func vkGuarded(start, end uintptr) bool {
	return ksFind(vkGuard.r[:], vkGuard.n, start, end)
}
