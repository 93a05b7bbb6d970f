//go:build velocity

// Velocity kernel: physical frames, page tables, and the Linux memory
// syscalls (mmap, munmap, madvise, mprotect) with demand-zero paging.
//
// Layout of the single address space that all threads share:
//   0 - 64 KiB                    never mapped: nil dereferences fault
//   stub_start - stub_end         identity: BOOT_ND.BIN's data (boot info)
//   image_start - image_end       identity, 2 MiB pages: the Go kernel ELF
//   64 KiB - 128 TiB (the rest)   user mappings, demand-zero on first touch
//   0xffff800000000000            direct map of all physical memory
//   0xffffc00000000000            kernel stacks, each below a guard gap

package runtime

import "unsafe"

const (
	vkPageSize   = 4096
	vkDMAP       = uintptr(0xffff800000000000)
	vkKStackBase = uintptr(0xffffc00000000000)
	vkKStackSlot = 64 << 10 // stack + guard gap per slot
	vkKStackSize = 32 << 10
	vkUserMin    = uintptr(64 << 10)
	vkUserMax    = uintptr(0x7ffffffff000)
	vkMmapTop    = uintptr(0x7f0000000000)

	ptePresent = 1 << 0
	pteWrite   = 1 << 1
	pteHuge    = 1 << 7
	pteAddr    = uint64(0x000ffffffffff000)

	vkMaxVMAs = 2048
)

// vkBootInfo mirrors docs/boot-protocol.md.
type vkBootInfo struct {
	magic      uint64
	version    uint64
	flags      uint64
	cmdline    uint64
	cmdlineLen uint64
	mmap       uint64
	mmapCount  uint64
	rsdp       uint64
	fbAddr     uint64
	fbPitch    uint32
	fbWidth    uint32
	fbHeight   uint32
	fbBpp      uint32
	elf        uint64
	elfSize    uint64
	imageStart uint64
	imageEnd   uint64
	stubStart  uint64
	stubEnd    uint64
	tscEntry   uint64
	loaderName uint64
	apTramp    uint64
	apTrampLen uint64
}

type vkMmapEntry struct {
	base, length uint64
	typ, _       uint32
}

var vkBoot0 *vkBootInfo

// Physical frames: one bit per 4 KiB frame over all RAM the memory map
// reports; 1 = in use or not RAM.
var vkFrames struct {
	bitmap   uintptr // physical address
	nframes  uintptr
	free     uintptr
	total    uintptr // usable frames at boot
	next     uintptr // next-fit cursor
	dmapLive bool    // page tables with the direct map are active
}

// vkP2V turns a physical address into one the kernel can dereference.
func vkP2V(p uintptr) uintptr {
	if vkFrames.dmapLive {
		return p + vkDMAP
	}
	return p // BOOT_ND.BIN identity-maps the first 4 GiB
}

func vkBitmapWord(i uintptr) *uint64 {
	return (*uint64)(unsafe.Pointer(vkP2V(vkFrames.bitmap) + i/64*8))
}

func vkFrameUsed(f uintptr) bool { return *vkBitmapWord(f)&(1<<(f%64)) != 0 }

func vkFrameMark(f uintptr, used bool) {
	w := vkBitmapWord(f)
	if used {
		*w |= 1 << (f % 64)
	} else {
		*w &^= 1 << (f % 64)
	}
}

// vkFramesInit builds the allocator from the memory map, reserving low
// memory, the stub, the kernel image and the bitmap itself.
func vkFramesInit(bi *vkBootInfo) {
	if bi.mmapCount == 0 || bi.mmap == 0 {
		vkFatal("boot info has no memory map")
	}
	ents := unsafe.Slice((*vkMmapEntry)(unsafe.Pointer(uintptr(bi.mmap))), bi.mmapCount)
	top := uint64(0)
	for _, e := range ents {
		if e.typ == 1 && e.base+e.length > top {
			top = e.base + e.length
		}
	}
	if top == 0 {
		vkFatal("memory map lists no usable RAM")
	}
	n := uintptr(top / vkPageSize)
	size := (n + 63) / 64 * 8
	fsStart, fsEnd := uint64(vkFS.start)&^4095, uint64(vkFS.end)
	reserved := func(a, b uint64) bool { // [a,b) overlaps something in use
		return a < 1<<20 || (a < bi.stubEnd && b > bi.stubStart) || (a < bi.imageEnd && b > bi.imageStart) ||
			(a < fsEnd && b > fsStart) // the file system stays where it was loaded
	}
	var bm uint64
	for _, e := range ents {
		if e.typ != 1 {
			continue
		}
		for a := (e.base + 4095) &^ 4095; a+uint64(size) <= e.base+e.length; a += 1 << 20 {
			if !reserved(a, a+uint64(size)) {
				bm = a
				break
			}
		}
		if bm != 0 {
			break
		}
	}
	if bm == 0 {
		vkFatal("no room for the frame bitmap")
	}
	vkFrames.bitmap = uintptr(bm)
	vkFrames.nframes = n
	// Everything starts used; usable RAM is then released page by page.
	p := unsafe.Slice((*uint64)(unsafe.Pointer(uintptr(bm))), size/8)
	for i := range p {
		p[i] = ^uint64(0)
	}
	for _, e := range ents {
		if e.typ != 1 {
			continue
		}
		for a := (e.base + 4095) &^ 4095; a+4096 <= e.base+e.length; a += 4096 {
			if !reserved(a, a+4096) && !(a < bm+uint64(size) && a+4096 > bm) {
				vkFrameMark(uintptr(a/4096), false)
				vkFrames.free++
			}
		}
	}
	vkFrames.total = vkFrames.free
	vkFrames.next = 256
}

// vkFrameAlloc returns a zeroed physical frame, or 0 when RAM is exhausted.
func vkFrameAlloc() uintptr {
	n := vkFrames.nframes
	f := vkFrames.next
	for scanned := uintptr(0); scanned < n; {
		if f >= n {
			f = 0
		}
		if f%64 == 0 && *vkBitmapWord(f) == ^uint64(0) {
			f += 64
			scanned += 64
			continue
		}
		if !vkFrameUsed(f) {
			vkFrameMark(f, true)
			vkFrames.free--
			vkFrames.next = f + 1
			pa := f * vkPageSize
			memclrNoHeapPointers(unsafe.Pointer(vkP2V(pa)), vkPageSize)
			return pa
		}
		f++
		scanned++
	}
	return 0
}

func vkFrameFree(pa uintptr) {
	f := pa / vkPageSize
	if f >= vkFrames.nframes || !vkFrameUsed(f) {
		vkFatal("freeing a frame that is not in use")
	}
	vkFrameMark(f, false)
	vkFrames.free++
}

func vkMustFrame() uintptr {
	pa := vkFrameAlloc()
	if pa == 0 {
		vkOutOfMemory()
	}
	return pa
}

// --- page tables ---

var vkPML4 uintptr // physical

// vkPTE returns a pointer to the 4 KiB page-table entry for va, creating
// the intermediate tables when create is set; 0 if absent or under a huge
// page.
func vkPTE(va uintptr, create bool) *uint64 {
	table := vkPML4
	for level := 3; level > 0; level-- {
		idx := va >> (12 + 9*uint(level)) & 511
		e := (*uint64)(unsafe.Pointer(vkP2V(table) + idx*8))
		if *e&ptePresent == 0 {
			if !create {
				return nil
			}
			*e = uint64(vkMustFrame()) | ptePresent | pteWrite
		} else if *e&pteHuge != 0 {
			return nil
		}
		table = uintptr(*e & pteAddr)
	}
	return (*uint64)(unsafe.Pointer(vkP2V(table) + (va>>12&511)*8))
}

func vkMap(va, pa uintptr, flags uint64) {
	*vkPTE(va, true) = uint64(pa) | flags
}

// vkMapHuge maps one 2 MiB page.
func vkMapHuge(va, pa uintptr) {
	table := vkPML4
	for level := 3; level > 1; level-- {
		idx := va >> (12 + 9*uint(level)) & 511
		e := (*uint64)(unsafe.Pointer(vkP2V(table) + idx*8))
		if *e&ptePresent == 0 {
			*e = uint64(vkMustFrame()) | ptePresent | pteWrite
		}
		table = uintptr(*e & pteAddr)
	}
	*(*uint64)(unsafe.Pointer(vkP2V(table) + (va>>21&511)*8)) = uint64(pa) | ptePresent | pteWrite | pteHuge
}

// vkPagingInit builds the kernel's page tables and switches to them.
func vkPagingInit(bi *vkBootInfo) {
	vkPML4 = vkMustFrame()
	top := uintptr(vkFrames.nframes) * vkPageSize
	if top < 4<<30 {
		top = 4 << 30 // the direct map also covers MMIO below 4 GiB (LAPIC, IOAPIC)
	}
	for pa := uintptr(0); pa < top; pa += 2 << 20 {
		vkMapHuge(vkDMAP+pa, pa)
	}
	for pa := uintptr(bi.imageStart) &^ (2<<20 - 1); pa < uintptr(bi.imageEnd); pa += 2 << 20 {
		vkMapHuge(pa, pa)
	}
	for pa := uintptr(bi.stubStart) &^ 4095; pa < uintptr(bi.stubEnd); pa += 4096 {
		vkMap(pa, pa, ptePresent|pteWrite)
	}
	vkWriteCR3(vkPML4)
	vkFrames.dmapLive = true
}

// vkKernelStack maps a kernel stack with an unmapped guard gap below it and
// returns its top. Overflowing it faults instead of corrupting memory.
var vkKStacks struct {
	next  uintptr
	free  [4096]uintptr
	nfree int
}

func vkKernelStack(size uintptr) uintptr {
	var base uintptr
	if vkKStacks.nfree > 0 && size == vkKStackSize {
		vkKStacks.nfree--
		return vkKStacks.free[vkKStacks.nfree]
	}
	base = vkKStackBase + vkKStacks.next*vkKStackSlot
	vkKStacks.next++
	top := base + vkKStackSlot
	for va := top - size; va < top; va += vkPageSize {
		vkMap(va, vkMustFrame(), ptePresent|pteWrite)
	}
	return top
}

// vkKernelStackFree keeps the stack mapped for reuse by the next thread.
func vkKernelStackFree(top uintptr) {
	if vkKStacks.nfree < len(vkKStacks.free) {
		vkKStacks.free[vkKStacks.nfree] = top
		vkKStacks.nfree++
	}
}

// --- user mappings ---

const (
	protRead  = 1
	protWrite = 2
	protExec  = 4

	vmaKernel = 1 << 8 // not the user's to change
)

type vkVMA struct {
	start, end uintptr
	prot       uint32
}

var vkVM struct {
	n    int
	vmas [vkMaxVMAs]vkVMA
	// statistics
	faults   uint64
	resident uintptr
}

// vkVMAFind returns the index of the mapping containing va, or -1.
func vkVMAFind(va uintptr) int {
	lo, hi := 0, vkVM.n
	for lo < hi {
		m := (lo + hi) / 2
		v := &vkVM.vmas[m]
		switch {
		case va < v.start:
			hi = m
		case va >= v.end:
			lo = m + 1
		default:
			return m
		}
	}
	return -1
}

func vkVMAOverlaps(start, end uintptr) bool {
	for i := 0; i < vkVM.n; i++ {
		v := &vkVM.vmas[i]
		if v.start < end && start < v.end {
			return true
		}
	}
	return false
}

func vkVMAInsertAt(i int, v vkVMA) bool {
	if vkVM.n == vkMaxVMAs {
		return false
	}
	copy(vkVM.vmas[i+1:vkVM.n+1], vkVM.vmas[i:vkVM.n])
	vkVM.vmas[i] = v
	vkVM.n++
	return true
}

func vkVMADelete(i int) {
	copy(vkVM.vmas[i:vkVM.n-1], vkVM.vmas[i+1:vkVM.n])
	vkVM.n--
}

// vkVMAAdd inserts [start,end) (which overlaps nothing) and merges it with
// equal neighbours.
func vkVMAAdd(start, end uintptr, prot uint32) bool {
	i := 0
	for i < vkVM.n && vkVM.vmas[i].start < start {
		i++
	}
	if i > 0 && vkVM.vmas[i-1].end == start && vkVM.vmas[i-1].prot == prot {
		vkVM.vmas[i-1].end = end
		if i < vkVM.n && vkVM.vmas[i].start == end && vkVM.vmas[i].prot == prot {
			vkVM.vmas[i-1].end = vkVM.vmas[i].end
			vkVMADelete(i)
		}
		return true
	}
	if i < vkVM.n && vkVM.vmas[i].start == end && vkVM.vmas[i].prot == prot {
		vkVM.vmas[i].start = start
		return true
	}
	return vkVMAInsertAt(i, vkVMA{start, end, prot})
}

// vkVMACut removes [start,end) from the mapping list, splitting mappings
// that straddle it. It fails only when a split needs a slot and none is left.
func vkVMACut(start, end uintptr) bool {
	for i := 0; i < vkVM.n; i++ {
		v := &vkVM.vmas[i]
		if v.end <= start || v.start >= end {
			continue
		}
		switch {
		case v.start < start && v.end > end: // split in two
			tail := vkVMA{end, v.end, v.prot}
			v.end = start
			if !vkVMAInsertAt(i+1, tail) {
				return false
			}
			return true
		case v.start < start:
			v.end = start
		case v.end > end:
			v.start = end
		default:
			vkVMADelete(i)
			i--
		}
	}
	return true
}

// vkUnmapPages frees every resident page in [start,end), skipping absent
// page tables whole so that releasing a large reservation is cheap.
func vkUnmapPages(start, end uintptr) {
	for va := start; va < end; {
		table := vkPML4
		skip := uintptr(0)
		var pte *uint64
		for level := 3; level >= 0; level-- {
			idx := va >> (12 + 9*uint(level)) & 511
			e := (*uint64)(unsafe.Pointer(vkP2V(table) + idx*8))
			if level == 0 {
				pte = e
				break
			}
			if *e&ptePresent == 0 || *e&pteHuge != 0 {
				skip = uintptr(1) << (12 + 9*uint(level))
				break
			}
			table = uintptr(*e & pteAddr)
		}
		if pte == nil {
			va = (va + skip) &^ (skip - 1)
			continue
		}
		if *pte&pteAddr != 0 {
			vkFrameFree(uintptr(*pte & pteAddr))
			*pte = 0
			vkInvlpg(va)
			vkVM.resident--
			vkSMP.tlbDirty = true
		}
		va += vkPageSize
	}
}

// vkFindGap returns the highest free range of n bytes below vkMmapTop.
func vkFindGap(n uintptr) uintptr {
	hi := vkMmapTop
	for i := vkVM.n - 1; i >= 0; i-- {
		v := &vkVM.vmas[i]
		if v.start >= hi {
			continue
		}
		if v.end <= hi && hi-v.end >= n {
			return hi - n
		}
		hi = v.start
	}
	if hi-vkUserMin >= n {
		return hi - n
	}
	return 0
}

const (
	mapFixed          = 0x10
	mapAnonymous      = 0x20
	mapFixedNoreplace = 0x100000
)

func vkUserRange(start, n uintptr) bool {
	return start >= vkUserMin && start+n > start && start+n <= vkUserMax
}

func vkSysMmap(addr, n uintptr, prot, flags uint32, fd int32) uintptr {
	if n == 0 || addr&4095 != 0 && flags&(mapFixed|mapFixedNoreplace) != 0 {
		return vkErr(vkEINVAL)
	}
	if flags&3 == 0 {
		return vkErr(vkEINVAL) // neither MAP_SHARED nor MAP_PRIVATE
	}
	if n > vkUserMax {
		return vkErr(vkENOMEM) // and rounding up must not wrap to 0
	}
	n = (n + 4095) &^ 4095
	if flags&mapAnonymous == 0 {
		if fd < 0 || fd >= vkMaxFDs || vkFDs[fd].kind == fdNone && fd > 2 {
			return vkErr(vkEBADF)
		}
		return vkErr(vkENODEV) // no file mappings yet
	}
	prot &= protRead | protWrite | protExec
	switch {
	case flags&mapFixed != 0:
		if addr < vkUserMin {
			// The first 64 KiB stay unmapped so nil dereferences always
			// fault: Linux's vm.mmap_min_addr, which says EPERM.
			return vkErr(vkEPERM)
		}
		if !vkUserRange(addr, n) {
			return vkErr(vkENOMEM) // beyond the user half, as Linux says
		}
		if vkKernelOverlap(addr, addr+n) {
			return vkErr(vkEINVAL)
		}
		vkUnmapPages(addr, addr+n)
		if !vkVMACut(addr, addr+n) {
			return vkErr(vkENOMEM)
		}
	case flags&mapFixedNoreplace != 0:
		if !vkUserRange(addr, n) || vkVMAOverlaps(addr, addr+n) {
			return vkErr(vkEEXIST)
		}
	default:
		addr &^= 4095
		if addr == 0 || !vkUserRange(addr, n) || vkVMAOverlaps(addr, addr+n) {
			addr = vkFindGap(n)
			if addr == 0 {
				return vkErr(vkENOMEM)
			}
		}
	}
	if !vkVMAAdd(addr, addr+n, prot) {
		return vkErr(vkENOMEM)
	}
	return addr
}

func vkKernelOverlap(start, end uintptr) bool {
	for i := 0; i < vkVM.n; i++ {
		v := &vkVM.vmas[i]
		if v.prot&vmaKernel != 0 && v.start < end && start < v.end {
			return true
		}
	}
	return false
}

func vkSysMunmap(addr, n uintptr) uintptr {
	if addr&4095 != 0 || n == 0 || n > vkUserMax || addr > vkUserMax-((n+4095)&^4095) {
		return vkErr(vkEINVAL)
	}
	n = (n + 4095) &^ 4095
	if addr+n <= vkUserMin {
		return 0 // nothing is ever mapped there
	}
	if addr < vkUserMin {
		n -= vkUserMin - addr
		addr = vkUserMin
	}
	if vkKernelOverlap(addr, addr+n) {
		return vkErr(vkEINVAL)
	}
	vkUnmapPages(addr, addr+n)
	if !vkVMACut(addr, addr+n) {
		return vkErr(vkENOMEM)
	}
	return 0
}

const (
	madvDontneed = 4
	madvFree     = 8
	madvRemove   = 9
)

func vkSysMadvise(addr, n uintptr, advice int32) uintptr {
	// Linux's order: the advice, alignment and length (EINVAL), then
	// whether the range is mapped (ENOMEM).
	if !(advice >= 0 && advice <= 4 || advice >= 8 && advice <= 25) || addr&4095 != 0 || n > vkUserMax {
		return vkErr(vkEINVAL)
	}
	n = (n + 4095) &^ 4095
	if n == 0 {
		return 0
	}
	if !vkUserRange(addr, n) || !vkRangeMapped(addr, addr+n) {
		return vkErr(vkENOMEM)
	}
	if vkKernelOverlap(addr, addr+n) {
		return vkErr(vkEINVAL)
	}
	switch advice {
	case madvDontneed, madvFree, madvRemove:
		// The pages become demand-zero again: their frames go back to the pool.
		vkUnmapPages(addr, addr+n)
	}
	return 0
}

// vkSysMprotect changes the protection of whole mappings or parts of them.
// Resident pages keep their frames; the PTEs follow the new protection.
func vkSysMprotect(addr, n uintptr, prot uint32) uintptr {
	if addr&4095 != 0 {
		return vkErr(vkEINVAL)
	}
	if n == 0 {
		return 0
	}
	if n > vkUserMax {
		return vkErr(vkENOMEM)
	}
	n = (n + 4095) &^ 4095
	end := addr + n
	if prot&^(protRead|protWrite|protExec|8|0x03000000) != 0 {
		return vkErr(vkEINVAL) // beyond PROT_SEM, PROT_GROWSDOWN and PROT_GROWSUP
	}
	if !vkUserRange(addr, n) {
		return vkErr(vkENOMEM) // nothing of the program's is mapped there
	}
	if vkKernelOverlap(addr, end) {
		return vkErr(vkEINVAL)
	}
	// Every page must be mapped, as Linux requires.
	for va := addr; va < end; {
		i := vkVMAFind(va)
		if i < 0 {
			return vkErr(vkENOMEM)
		}
		va = vkVM.vmas[i].end
	}
	if !vkVMACut(addr, end) || !vkVMAAdd(addr, end, prot&(protRead|protWrite|protExec)) {
		return vkErr(vkENOMEM)
	}
	for va := addr; va < end; va += vkPageSize {
		pte := vkPTE(va, false)
		if pte == nil || *pte&pteAddr == 0 {
			continue
		}
		flags := uint64(0)
		if prot&(protRead|protWrite|protExec) != 0 {
			flags |= ptePresent
		}
		if prot&protWrite != 0 {
			flags |= pteWrite
		}
		*pte = *pte&pteAddr | flags
		vkInvlpg(va)
		vkSMP.tlbDirty = true
	}
	return 0
}

// vkHandlePageFault resolves a fault on a demand-zero page. It returns
// false when the access is not allowed (the caller raises SIGSEGV).
func vkHandlePageFault(va uintptr, write bool) bool {
	i := vkVMAFind(va)
	if i < 0 {
		return false
	}
	v := &vkVM.vmas[i]
	if v.prot&vmaKernel != 0 || v.prot&(protRead|protWrite|protExec) == 0 || write && v.prot&protWrite == 0 {
		return false
	}
	pte := vkPTE(va&^4095, true)
	if *pte&ptePresent != 0 {
		if !write || *pte&pteWrite != 0 {
			// Another CPU resolved the same fault while this one waited
			// for the kernel lock: just retry the access.
			vkInvlpg(va &^ 4095)
			return true
		}
		return false // present but read-only: a genuine protection fault
	}
	flags := uint64(ptePresent)
	if v.prot&protWrite != 0 {
		flags |= pteWrite
	}
	if *pte&pteAddr != 0 {
		*pte |= flags // resident but protection was PROT_NONE
	} else {
		*pte = uint64(vkMustFrame()) | flags
		vkVM.resident++
	}
	vkVM.faults++
	return true
}

// vkCopyToUser and vkCopyFromUser check that the user range is mapped with
// the needed protection before touching it, so a bad pointer from a
// syscall returns EFAULT instead of a kernel fault.
func vkUserOK(addr, n uintptr, write bool) bool {
	if n == 0 {
		return true
	}
	if addr+n < addr {
		return false
	}
	// The program's code and read-only data (the image from its text to
	// its writable data) are never the kernel's to write into on its
	// behalf: Linux maps them read-only, and a system call storing a
	// result there gets EFAULT.
	if write && addr < firstmoduledata.noptrdata && addr+n > firstmoduledata.text {
		return false
	}
	for va := addr; va < addr+n; {
		i := vkVMAFind(va)
		if i < 0 {
			return false
		}
		v := &vkVM.vmas[i]
		if v.prot&(protRead|protWrite) == 0 || write && v.prot&protWrite == 0 {
			// Kernel-owned ranges (the image: Go globals) are fine too.
			if v.prot&vmaKernel == 0 {
				return false
			}
		}
		va = v.end
	}
	return true
}

func vkOutOfMemory() {
	vkPrint("\nvelocity: out of memory: ")
	vkPrintDec(int64(vkFrames.total))
	vkPrint(" frames, all in use\n")
	vkExit(vkExitOOM)
}

// vkRangeMapped reports whether every page of [start, end) belongs to a
// mapping (Linux's madvise and mprotect say ENOMEM otherwise).
func vkRangeMapped(start, end uintptr) bool {
	for va := start; va < end; {
		i := vkVMAFind(va)
		if i < 0 {
			return false
		}
		va = vkVM.vmas[i].end
	}
	return true
}

// vkUserPrefix returns how many bytes from addr, up to n, the program
// may access: read(2), write(2) and getrandom(2) on Linux copy up to the
// first fault and return that count, failing with EFAULT only when it is 0.
func vkUserPrefix(addr, n uintptr, write bool) uintptr {
	if vkUserOK(addr, n, write) {
		return n
	}
	lo, hi := uintptr(0), n // vkUserOK(addr, lo) holds, vkUserOK(addr, hi) does not
	for hi-lo > 1 {
		m := lo + (hi-lo)/2
		if vkUserOK(addr, m, write) {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}
