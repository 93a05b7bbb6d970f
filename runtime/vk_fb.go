//go:build velocity

// Velocity kernel: the framebuffer system call, used by package kernel
// (kernel/fb.go) and the Synaptic Canvas (canvas/fb).
//
//	op 0 (info): copy the boot framebuffer's geometry (the multiboot2
//	     framebuffer tag, direct RGB only) to a user buffer; ENODEV if the
//	     loader set no graphics mode.
//	op 1 (map):  map physical device memory [phys, phys+len) into the
//	     address space, uncached, and return its address. The range must
//	     lie outside every RAM range of the memory map, so a program can map
//	     a device's memory (the boot framebuffer, or the BAR of a display
//	     it found on PCI) but never the kernel's or anyone's RAM. This
//	     catches mistakes; it is no protection boundary, since Go code runs
//	     at CPL 0 and could reach any memory through the direct map.
//
// The mapping is a kernel-owned VMA (vmaKernel): munmap, mprotect and
// MAP_FIXED cannot touch it, page faults never fill it (every PTE is
// written here), and its frames are device memory that the frame
// allocator never owns. Mapping the same range again returns the same
// address. The PTEs have PCD|PWT (uncached): a framebuffer is written
// once per frame with large copies, and uncached keeps those writes
// in order and visible to the display without a flush; write-combining
// would need a PAT entry programmed on every CPU, which the kernel does
// not do yet.
//
// Trap context: runs under the kernel lock from vkSyscall; no allocation,
// no write barriers (only integer globals are written).

package runtime

import "unsafe"

const (
	vkSysVelocityFB = 0x5620

	vkFBOpInfo = 0
	vkFBOpMap  = 1

	ptePWT = 1 << 3
	ptePCD = 1 << 4

	vkFBMaxMap = 512 << 20 // no display needs more; bounds the PTE loop
	vkPhysMax  = uint64(1) << 46
	vkFlagFB   = 1 << 3 // boot info flags: framebuffer valid
)

// vkFBInfo is the layout package kernel reads; append only.
type vkFBInfo struct {
	addr   uint64
	pitch  uint64
	width  uint64
	height uint64
	bpp    uint64
}

// vkFBMaps remembers device mappings so the same range maps once.
var vkFBMaps struct {
	n    int
	phys [8]uint64
	size [8]uint64
	va   [8]uintptr
}

func vkSysFB(op, a1, a2 uintptr) uintptr {
	switch op {
	case vkFBOpInfo:
		return vkFBInfoCopy(a1, a2)
	case vkFBOpMap:
		return vkFBMap(uint64(a1), uint64(a2))
	}
	return vkErr(vkEINVAL)
}

func vkFBInfoCopy(buf, n uintptr) uintptr {
	var in vkFBInfo
	if n < unsafe.Sizeof(in) {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(buf, unsafe.Sizeof(in), true) {
		return vkErr(vkEFAULT)
	}
	bi := vkBoot0
	if bi == nil || bi.flags&vkFlagFB == 0 || bi.fbAddr == 0 {
		return vkErr(vkENODEV)
	}
	in = vkFBInfo{addr: bi.fbAddr, pitch: uint64(bi.fbPitch), width: uint64(bi.fbWidth),
		height: uint64(bi.fbHeight), bpp: uint64(bi.fbBpp)}
	*(*vkFBInfo)(unsafe.Pointer(buf)) = in
	return unsafe.Sizeof(in)
}

// vkOverlapsRAM reports whether [a, b) overlaps usable RAM (type 1) in the
// boot memory map, or the kernel's own image, stub or file system.
func vkOverlapsRAM(a, b uint64) bool {
	bi := vkBoot0
	ents := unsafe.Slice((*vkMmapEntry)(unsafe.Pointer(uintptr(bi.mmap))), bi.mmapCount)
	for _, e := range ents {
		if e.typ == 1 && a < e.base+e.length && e.base < b {
			return true
		}
	}
	return a < bi.imageEnd && bi.imageStart < b || a < bi.stubEnd && bi.stubStart < b || a < 1<<20
}

func vkFBMap(phys, size uint64) uintptr {
	if size == 0 || size > vkFBMaxMap || phys >= vkPhysMax || size > vkPhysMax-phys {
		return vkErr(vkEINVAL)
	}
	start := phys &^ 4095
	end := (phys + size + 4095) &^ 4095
	if vkOverlapsRAM(start, end) {
		return vkErr(vkEPERM)
	}
	for i := 0; i < vkFBMaps.n; i++ {
		if vkFBMaps.phys[i] == start && vkFBMaps.size[i] == end-start {
			return vkFBMaps.va[i] + uintptr(phys-start)
		}
	}
	if vkFBMaps.n == len(vkFBMaps.va) {
		return vkErr(vkENOMEM)
	}
	n := uintptr(end - start)
	// A kernel-owned mapping in the user half: the list changes, so it is
	// taken exclusive; faults never install entries in it (vmaKernel).
	vkMapWriteLock()
	va := vkFindGap(n)
	if va == 0 || !vkVMAAdd(va, va+n, vmaKernel|protRead|protWrite) {
		vkMapWriteUnlock()
		return vkErr(vkENOMEM)
	}
	for off := uintptr(0); off < n; off += vkPageSize {
		vkMap(va+off, uintptr(start)+off, ptePresent|pteWrite|ptePCD|ptePWT|vkPteNX)
	}
	vkMapWriteUnlock()
	i := vkFBMaps.n
	vkFBMaps.phys[i], vkFBMaps.size[i], vkFBMaps.va[i] = start, end-start, va
	vkFBMaps.n++
	return va + uintptr(phys-start)
}
