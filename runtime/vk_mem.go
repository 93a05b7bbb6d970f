//go:build velocity

// Velocity kernel: physical frames, page tables, and the Linux memory
// syscalls (mmap, munmap, madvise, mprotect) with demand-zero paging.
//
// Layout of the single address space that all threads share:
//   0 - 64 KiB                    never mapped: nil dereferences fault
//   stub_start - stub_end         identity: BOOT_ND.BIN's data (boot info)
//   image_start - image_end       identity: the Go kernel ELF, each PT_LOAD
//                                 segment with its own permissions
//   64 KiB - 128 TiB (the rest)   user mappings, demand-zero on first touch
//   0xffff800000000000            direct map of all physical memory
//   0xffffc00000000000            kernel stacks, each below a guard gap
//   0xffffe00000000000            text-poke aliases (one page per CPU and use)
//
// Memory protection (runtime/HACKING.md, "Memory protection"): everything
// runs at CPL 0 with CR0.WP set, so a read-only entry stops the kernel's
// own writes too, and EFER.NXE makes the no-execute bit count. The image's
// text is read-only and executable, its read-only data read-only, its data
// and BSS no-execute; the direct map, kernel stacks, the stub's data and
// every mapping without PROT_EXEC are no-execute. Nothing is writable and
// executable at once except a mapping the program asks for with
// PROT_WRITE|PROT_EXEC (as Linux allows). Code is changed only through a
// temporary writable alias (vkPokePA): the live patcher and the gdb stub.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

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
	pteNX      = 1 << 63 // only when the CPU has NX: use vkPteNX
	pteAddr    = uint64(0x000ffffffffff000)

	vkPokeBase  = uintptr(0xffffe00000000000)
	vkPokeKinds = 3 // vkPokePatch, vkPokeGdb, vkPokeTrap

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
// reports; 1 = in use, in a per-CPU cache, or not RAM. The bitmap, free
// and next are under vkFrameLock once the CPUs are up (vkLocksLive).
var vkFrames struct {
	bitmap   uintptr // physical address
	nframes  uintptr
	free     uintptr // frames free in the bitmap (vkFramesFree adds the caches')
	total    uintptr // usable frames at boot
	next     uintptr // where vkBitmapTake looks first: no free frame lies below it (above 1 MiB)
	dmapLive bool    // page tables with the direct map are active
}

// vkFrameLock is the frame allocator's global lock (the bitmap). The page
// fault path rarely takes it: it allocates from its CPU's cache, which
// refills and drains in batches under this lock.
var vkFrameLock vkSpin

// vkLocksLive is set once the boot CPU has its per-CPU data (vkThisCPU):
// before that there is one CPU and the allocator takes no lock.
var vkLocksLive bool

// A per-CPU frame cache: free frames (marked used in the bitmap) that its
// CPU allocates from and frees to without touching vkFrameLock. Its lock
// is taken by its own CPU, and by another only to drain it when the
// bitmap runs dry (vkFrameDrainAll), so it is almost never contended.
// Lock order: a cache's lock before vkFrameLock; never two caches' locks.
const (
	vkFrameCacheMax   = 64 // frames a cache holds at most
	vkFrameCacheBatch = 32 // frames moved between a cache and the bitmap at once
)

type vkFrameCache struct {
	lock   vkSpin
	n      uintptr // frames in pa (read without the lock by vkFramesFree)
	pa     [vkFrameCacheMax]uintptr
	allocs uint64 // frames handed out from the cache
	refill uint64 // refills from the bitmap
	drains uint64 // batches given back to the bitmap
}

var vkFrameCaches [vkMaxCPU]vkFrameCache

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

// vkFramesFree returns the frames free in the bitmap and in every CPU's
// cache: exact when nothing allocates or frees meanwhile (the figures are
// read without the locks).
func vkFramesFree() uintptr {
	n := atomic.Loaduintptr(&vkFrames.free)
	for i := 0; i < vkCPUCount; i++ {
		n += atomic.Loaduintptr(&vkFrameCaches[i].n)
	}
	return n
}

// vkBitmapTake marks up to max free frames used and stores their physical
// addresses in out, returning how many. The caller holds vkFrameLock (or
// is the only CPU).
func vkBitmapTake(out *[vkFrameCacheMax]uintptr, max uintptr) uintptr {
	n := vkFrames.nframes
	f := vkFrames.next
	got := uintptr(0)
	for scanned := uintptr(0); scanned < n && got < max; {
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
			out[got] = f * vkPageSize
			got++
		}
		f++
		scanned++
	}
	vkFrames.next = f
	atomic.Storeuintptr(&vkFrames.free, vkFrames.free-got)
	return got
}

// vkBitmapPut marks frames free again. The caller holds vkFrameLock (or is
// the only CPU). A frame that is already free is a double free: a kernel
// bug, caught here (a frame freed twice into a cache is caught when the
// cache gives it back).
//
// The cursor moves down to the lowest frame freed, so the allocator is
// first-fit: memory given back is what is handed out next. With a
// next-fit cursor a program that maps and unmaps 2 MiB at a time walked
// through every frame of the machine before reusing one, and under a
// hypervisor each frame never touched before costs a host page fault:
// mmap+touch+munmap of 2 MiB ran at 0.8x Linux's speed, 3.5x with reuse.
func vkBitmapPut(pa []uintptr) {
	for _, p := range pa {
		f := p / vkPageSize
		if f >= vkFrames.nframes || !vkFrameUsed(f) {
			vkFatal("freeing a frame that is not in use")
		}
		vkFrameMark(f, false)
		if f < vkFrames.next && f >= 256 {
			vkFrames.next = f
		}
	}
	atomic.Storeuintptr(&vkFrames.free, vkFrames.free+uintptr(len(pa)))
}

// vkPagePoison is set by pagepoison on the command line, as Linux's
// page_poison=1: every free frame holds vkPoisonWord, and a frame handed
// out again is checked first. A write through a stale pointer or a stale
// TLB entry after the free then stops the machine at the next allocation
// of that frame, naming it and the first word that changed, rather than
// corrupting whoever gets the frame next. It costs a fill per free and a
// scan per allocation, so it is for hunting such bugs, not for benchmarks.
var vkPagePoison bool

const vkPoisonWord = 0xaaaaaaaaaaaaaaaa

// vkPoisonStart turns poisoning on: the CPU caches go back to the bitmap
// and every free frame is filled, so that from here on a free frame
// always holds the poison. Boot only, on CPU 0, before any other CPU or
// thread runs.
func vkPoisonStart() {
	vkFrameDrainAll()
	for f := uintptr(256); f < vkFrames.nframes; f++ {
		if !vkFrameUsed(f) {
			vkPoisonFill(f * vkPageSize)
		}
	}
	vkPagePoison = true
}

func vkPoisonFill(pa uintptr) {
	w := unsafe.Slice((*uint64)(unsafe.Pointer(vkP2V(pa))), vkPageSize/8)
	for i := range w {
		w[i] = vkPoisonWord
	}
}

// vkPoisonCheck stops the machine if the free frame pa was written.
func vkPoisonCheck(pa uintptr) {
	w := unsafe.Slice((*uint64)(unsafe.Pointer(vkP2V(pa))), vkPageSize/8)
	for i := range w {
		if w[i] != vkPoisonWord {
			vkPrint("velocity: pagepoison: frame ")
			vkPrintHex(uint64(pa))
			vkPrint(" was written after it was freed: the word at offset ")
			vkPrintHex(uint64(i * 8))
			vkPrint(" holds ")
			vkPrintHex(w[i])
			vkPrint("\n")
			vkFatal("a freed frame was written (pagepoison)")
		}
	}
}

// vkFrameAlloc returns a zeroed physical frame, or 0 when RAM is
// exhausted. It takes a frame from this CPU's cache, refilling the cache
// from the bitmap a batch at a time; only when the bitmap is empty does it
// drain every CPU's cache back, so a frame cached elsewhere is never
// reported missing. The frame is zeroed after every lock is released.
// Trap context (the page fault path, without the kernel lock): no
// allocation, no write barriers.
func vkFrameAlloc() uintptr {
	if !vkLocksLive {
		var one [vkFrameCacheMax]uintptr
		if vkBitmapTake(&one, 1) == 0 {
			return 0
		}
		if vkPagePoison {
			vkPoisonCheck(one[0])
		}
		memclrNoHeapPointers(unsafe.Pointer(vkP2V(one[0])), vkPageSize)
		return one[0]
	}
	pa := vkFrameCacheTake()
	if pa == 0 {
		vkFrameDrainAll()
		pa = vkFrameCacheTake()
		if pa == 0 {
			return 0
		}
	}
	if vkPagePoison {
		vkPoisonCheck(pa)
	}
	memclrNoHeapPointers(unsafe.Pointer(vkP2V(pa)), vkPageSize)
	return pa
}

// vkFrameCacheTake pops a frame from this CPU's cache, refilling it from
// the bitmap when empty; 0 when both are empty.
func vkFrameCacheTake() uintptr {
	c := &vkFrameCaches[vkThisCPU().id]
	vkSpinLock(&c.lock)
	if c.n == 0 {
		vkSpinLock(&vkFrameLock)
		got := vkBitmapTake(&c.pa, vkFrameCacheBatch)
		vkSpinUnlock(&vkFrameLock)
		if got == 0 {
			vkSpinUnlock(&c.lock)
			return 0
		}
		c.refill++
		atomic.Storeuintptr(&c.n, got)
	}
	n := c.n - 1
	pa := c.pa[n]
	atomic.Storeuintptr(&c.n, n)
	c.allocs++
	vkSpinUnlock(&c.lock)
	return pa
}

// vkFrameDrainAll gives every CPU's cached frames back to the bitmap (RAM
// is short: the bitmap is empty). One cache lock at a time, then the
// global lock, as the lock order says.
func vkFrameDrainAll() {
	for i := 0; i < vkCPUCount; i++ {
		c := &vkFrameCaches[i]
		vkSpinLock(&c.lock)
		if c.n > 0 {
			vkSpinLock(&vkFrameLock)
			vkBitmapPut(c.pa[:c.n])
			vkSpinUnlock(&vkFrameLock)
			atomic.Storeuintptr(&c.n, 0)
			c.drains++
		}
		vkSpinUnlock(&c.lock)
	}
}

// vkFrameFree gives a frame back to this CPU's cache; a full cache first
// returns a batch to the bitmap. The frame must not be reachable by any
// CPU any more: a frame that was mapped is freed only after the TLB
// shootdown that removed its translations (vkUnmapPages).
func vkFrameFree(pa uintptr) {
	if pa%vkPageSize != 0 || pa/vkPageSize >= vkFrames.nframes {
		vkFatal("freeing a frame that is not in use")
	}
	if !vkFrameUsed(pa / vkPageSize) {
		vkFatal("freeing a frame that is not in use")
	}
	if vkPagePoison {
		vkPoisonFill(pa)
	}
	if !vkLocksLive {
		one := [1]uintptr{pa}
		vkBitmapPut(one[:])
		return
	}
	c := &vkFrameCaches[vkThisCPU().id]
	vkSpinLock(&c.lock)
	if c.n == vkFrameCacheMax {
		keep := uintptr(vkFrameCacheMax - vkFrameCacheBatch)
		vkSpinLock(&vkFrameLock)
		vkBitmapPut(c.pa[keep:])
		vkSpinUnlock(&vkFrameLock)
		atomic.Storeuintptr(&c.n, keep)
		c.drains++
	}
	c.pa[c.n] = pa
	atomic.Storeuintptr(&c.n, c.n+1)
	vkSpinUnlock(&c.lock)
}

// vkFrameRun takes pages physically contiguous frames (not zeroed) and
// returns the first one's address, or 0. The bitmap's frames only: a run
// is never made of frames sitting in per-CPU caches (they are marked
// used), and RAM short by that much gives 0 here rather than draining
// them. It scans the bitmap, so it is for rare callers: drivers' DMA
// memory (vk_dev.go) and names longer than a page (vkKernelBytes). Each
// frame of the run may be freed on its own (vkFrameFree).
func vkFrameRun(pages uintptr) uintptr {
	vkSpinLock(&vkFrameLock)
	n := vkFrames.nframes
	run := uintptr(0)
	for f := uintptr(256); f < n; f++ { // above 1 MiB
		if vkFrameUsed(f) {
			run = 0
			continue
		}
		run++
		if run == pages {
			first := f + 1 - pages
			for g := first; g <= f; g++ {
				vkFrameMark(g, true)
				if vkPagePoison {
					vkPoisonCheck(g * vkPageSize)
				}
			}
			atomic.Storeuintptr(&vkFrames.free, vkFrames.free-pages)
			vkSpinUnlock(&vkFrameLock)
			return first * vkPageSize
		}
	}
	vkSpinUnlock(&vkFrameLock)
	return 0
}

// vkKernelBytes returns n bytes of kernel memory (n > 0) in whole frames,
// through the direct map, or 0: one frame from the fast allocator when n
// fits in a page, else a contiguous run. vkKernelBytesFree gives them
// back with the same n.
func vkKernelBytes(n uintptr) uintptr {
	if n <= vkPageSize {
		if pa := vkFrameAlloc(); pa != 0 {
			return vkP2V(pa)
		}
		return 0
	}
	if pa := vkFrameRun((n + vkPageSize - 1) / vkPageSize); pa != 0 {
		return vkP2V(pa)
	}
	return 0
}

func vkKernelBytesFree(va, n uintptr) {
	for off := uintptr(0); off < n; off += vkPageSize {
		vkFrameFree(va - vkDMAP + off)
	}
}

// vkFrameFreeBatch frees many frames at once (munmap's): this CPU's cache
// is topped up to vkFrameCacheMax-vkFrameCacheBatch, so that the faults
// of the next mapping find frames there, and the rest go to the bitmap
// under one acquisition of the global lock.
func vkFrameFreeBatch(pa []uintptr) {
	if len(pa) == 0 {
		return
	}
	for _, p := range pa {
		if p%vkPageSize != 0 || p/vkPageSize >= vkFrames.nframes || !vkFrameUsed(p/vkPageSize) {
			vkFatal("freeing a frame that is not in use")
		}
		if vkPagePoison {
			vkPoisonFill(p)
		}
	}
	c := &vkFrameCaches[vkThisCPU().id]
	vkSpinLock(&c.lock)
	for len(pa) > 0 && c.n < vkFrameCacheMax-vkFrameCacheBatch {
		c.pa[c.n] = pa[0]
		atomic.Storeuintptr(&c.n, c.n+1)
		pa = pa[1:]
	}
	if len(pa) > 0 {
		vkSpinLock(&vkFrameLock)
		vkBitmapPut(pa)
		vkSpinUnlock(&vkFrameLock)
	}
	vkSpinUnlock(&c.lock)
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

// vkPteNX is the no-execute bit, or 0 on a CPU without NX (where the bit
// is reserved and setting it would fault): such a CPU runs with data
// executable, and the boot says so.
var vkPteNX uint64

// vkPteFlags turns a mapping's protection into leaf-entry flags: present
// unless PROT_NONE, writable only with PROT_WRITE, no-execute unless
// PROT_EXEC. x86 cannot map a page executable or writable but unreadable,
// so PROT_EXEC or PROT_WRITE alone is readable too, as on Linux.
func vkPteFlags(prot uint32) uint64 {
	if prot&(protRead|protWrite|protExec) == 0 {
		return 0
	}
	f := uint64(ptePresent)
	if prot&protWrite != 0 {
		f |= pteWrite
	}
	if prot&protExec == 0 {
		f |= vkPteNX
	}
	return f
}

// vkPTE returns a pointer to the 4 KiB page-table entry for va, creating
// the intermediate tables when create is set; nil if absent or under a huge
// page (or, with create, when RAM is exhausted). Intermediate entries are
// writable and executable: the leaf decides.
//
// Page faults create tables without the kernel lock, so a missing table is
// put in with a compare-and-swap: two CPUs that both find the entry empty
// each allocate a table, one installs it and the other frees its own and
// uses the winner's. A table is never removed, so an entry once present
// stays present, and filling an empty entry needs no TLB shootdown (the
// CPU caches no translation for a non-present entry). Trap context: no
// allocation, no write barriers.
func vkPTE(va uintptr, create bool) *uint64 {
	table := vkPML4
	for level := 3; level > 0; level-- {
		e := vkTableEntry(table, va, level, create)
		if e == 0 || e&pteHuge != 0 {
			return nil
		}
		table = uintptr(e & pteAddr)
	}
	return (*uint64)(unsafe.Pointer(vkP2V(table) + (va>>12&511)*8))
}

// vkTableEntry returns the entry for va at level (3: PML4 ... 1: page
// directory) of table, installing a new, empty lower table when it is
// absent and create is set (by compare-and-swap, see vkPTE); 0 when it is
// absent and is not (or cannot be) created.
func vkTableEntry(table, va uintptr, level int, create bool) uint64 {
	p := (*uint64)(unsafe.Pointer(vkP2V(table) + (va>>(12+9*uint(level))&511)*8))
	e := atomic.Load64(p)
	if e&ptePresent != 0 || !create {
		if e&ptePresent == 0 {
			return 0
		}
		return e
	}
	pa := vkFrameAlloc()
	if pa == 0 {
		return 0
	}
	n := uint64(pa) | ptePresent | pteWrite
	if atomic.Cas64(p, e, n) {
		return n
	}
	vkFrameFree(pa) // another CPU put a table here first: use that one
	return atomic.Load64(p)
}

func vkMap(va, pa uintptr, flags uint64) {
	pte := vkPTE(va, true)
	if pte == nil {
		vkOutOfMemory()
	}
	atomic.Store64(pte, uint64(pa)|flags)
}

// vkMapHuge maps one 2 MiB page.
func vkMapHuge(va, pa uintptr, flags uint64) {
	vkMapHugeEntry(va, uint64(pa)|flags|pteHuge)
}

// vkMapHugeEntry stores a 2 MiB leaf entry for va, creating the tables
// above it as vkPTE does.
func vkMapHugeEntry(va uintptr, leaf uint64) {
	table := vkPML4
	for level := 3; level > 1; level-- {
		e := vkTableEntry(table, va, level, true)
		if e == 0 {
			vkOutOfMemory()
		}
		table = uintptr(e & pteAddr)
	}
	atomic.Store64((*uint64)(unsafe.Pointer(vkP2V(table)+(va>>21&511)*8)), leaf)
}

// vkMapRange maps [va, va+n) to [pa, pa+n) with 2 MiB pages where both
// are aligned and a whole 2 MiB lies inside, 4 KiB pages elsewhere: ELF
// segments are only page aligned, so their edges need 4 KiB granularity.
func vkMapRange(va, pa, n uintptr, flags uint64) {
	const huge = 2 << 20
	for off := uintptr(0); off < n; {
		if (va+off)%huge == 0 && (pa+off)%huge == 0 && n-off >= huge {
			vkMapHuge(va+off, pa+off, flags)
			off += huge
			continue
		}
		vkMap(va+off, pa+off, flags)
		off += vkPageSize
	}
}

// vkWalk returns the leaf entry that maps va and the size of the page it
// maps (4 KiB, 2 MiB or 1 GiB), or 0, 0 when va is not mapped. Trap
// context: loads only.
//
//go:nosplit
func vkWalk(va uintptr) (uint64, uintptr) {
	if top := va >> 47; top != 0 && top != 0x1FFFF {
		return 0, 0 // not canonical
	}
	table := vkPML4
	for level := 3; level >= 0; level-- {
		e := *(*uint64)(unsafe.Pointer(vkP2V(table) + (va>>(12+9*uint(level))&511)*8))
		if e&ptePresent == 0 {
			return 0, 0
		}
		if level == 0 || level <= 2 && e&pteHuge != 0 {
			return e, uintptr(1) << (12 + 9*uint(level))
		}
		table = uintptr(e & pteAddr)
	}
	return 0, 0
}

// vkTranslate returns the physical address mapped at va.
//
//go:nosplit
func vkTranslate(va uintptr) (uintptr, bool) {
	e, size := vkWalk(va)
	if size == 0 {
		return 0, false
	}
	return uintptr(e&pteAddr)&^(size-1) + va&(size-1), true
}

// --- the kernel image's segments ---

// vkImage holds the kernel ELF's PT_LOAD segments, page-rounded, as read
// from its program headers at boot (before the frame allocator can reuse
// the module they are in).
var vkImage struct {
	n    int
	segs [8]struct {
		start, end uintptr
		off        uintptr // file offset of start (/proc/self/maps)
		prot       uint32
	}
}

// vkImageSegments reads the kernel ELF's program headers. BOOT_ND.BIN has
// validated the ELF and loaded every segment at its p_paddr (== p_vaddr);
// what is checked here is what the page tables rely on: segments inside
// the image, sorted and never sharing a page (the linker's -R 0x1000).
func vkImageSegments(bi *vkBootInfo) {
	elf := uintptr(bi.elf)
	if elf == 0 || bi.elfSize < 64 {
		vkFatal("boot info has no kernel ELF: cannot learn the image's segment permissions")
	}
	phoff := *(*uint64)(unsafe.Pointer(elf + 32))
	phentsize := uint64(*(*uint16)(unsafe.Pointer(elf + 54)))
	phnum := uint64(*(*uint16)(unsafe.Pointer(elf + 56)))
	if phentsize < 56 || phoff > bi.elfSize || phnum*phentsize > bi.elfSize-phoff {
		vkFatal("kernel ELF program headers lie outside the module")
	}
	prev := uintptr(0)
	for i := uint64(0); i < phnum; i++ {
		ph := elf + uintptr(phoff+i*phentsize)
		typ := *(*uint32)(unsafe.Pointer(ph))
		flags := *(*uint32)(unsafe.Pointer(ph + 4))
		offset := uintptr(*(*uint64)(unsafe.Pointer(ph + 8)))
		vaddr := uintptr(*(*uint64)(unsafe.Pointer(ph + 16)))
		memsz := uintptr(*(*uint64)(unsafe.Pointer(ph + 40)))
		if typ != 1 || memsz == 0 { // PT_LOAD
			continue
		}
		start, end := vaddr&^(vkPageSize-1), (vaddr+memsz+vkPageSize-1)&^(vkPageSize-1)
		if start < uintptr(bi.imageStart) || end > uintptr(bi.imageEnd) || end < start {
			vkFatal("kernel ELF segment lies outside the loaded image")
		}
		if start < prev {
			vkFatal("kernel ELF segments overlap, share a page or are not sorted: page tables cannot give each its permissions (link with -R 0x1000)")
		}
		if vkImage.n == len(vkImage.segs) {
			vkFatal("kernel ELF has more than 8 PT_LOAD segments")
		}
		prot := uint32(0)
		if flags&4 != 0 { // PF_R
			prot |= protRead
		}
		if flags&2 != 0 { // PF_W
			prot |= protWrite
		}
		if flags&1 != 0 { // PF_X
			prot |= protExec
		}
		if prot&protWrite != 0 && prot&protExec != 0 {
			vkFatal("kernel ELF has a writable and executable segment")
		}
		s := &vkImage.segs[vkImage.n]
		s.start, s.end, s.prot = start, end, prot
		s.off = offset - (vaddr - start) // ELF keeps p_offset ≡ p_vaddr modulo the page size
		vkImage.n++
		prev = end
	}
	if vkImage.n == 0 {
		vkFatal("kernel ELF has no PT_LOAD segment")
	}
}

// vkImageProt returns the protection of the image page at pa (the image is
// identity-mapped), and false for a page no segment covers.
func vkImageProt(pa uintptr) (uint32, bool) {
	for i := 0; i < vkImage.n; i++ {
		s := &vkImage.segs[i]
		if pa >= s.start && pa < s.end {
			return s.prot, true
		}
	}
	return 0, false
}

// vkImageReadOnlyIn reports whether a read-only segment of the image
// overlaps [lo, hi).
func vkImageReadOnlyIn(lo, hi uintptr) bool {
	for i := 0; i < vkImage.n; i++ {
		s := &vkImage.segs[i]
		if s.prot&protWrite == 0 && s.start < hi && lo < s.end {
			return true
		}
	}
	return false
}

// vkImageVMAs records the image's segments (with their protection, so
// system calls cannot write into text or read-only data on the program's
// behalf) and the stub's data as kernel-owned mappings.
func vkImageVMAs(bi *vkBootInfo) {
	for i := 0; i < vkImage.n; i++ {
		s := &vkImage.segs[i]
		vkVMAAdd(s.start, s.end, vmaKernel|s.prot)
	}
	vkVMAAdd(uintptr(bi.stubStart)&^4095, (uintptr(bi.stubEnd)+4095)&^4095, vmaKernel|protRead|protWrite)
}

// vkPagingInit builds the kernel's page tables and switches to them.
func vkPagingInit(bi *vkBootInfo) {
	if vkHasNX {
		// Before the switch: with NXE clear, bit 63 is reserved.
		vkWrmsr(msrEFER, vkRdmsr(msrEFER)|eferNXE)
		vkPteNX = pteNX
	} else {
		vkPrint("velocity: WARNING: this CPU has no NX bit: data, heap and stacks stay executable\n")
	}
	nx := vkPteNX
	vkPML4 = vkMustFrame()
	top := uintptr(vkFrames.nframes) * vkPageSize
	if top < 4<<30 {
		top = 4 << 30 // the direct map also covers MMIO below 4 GiB (LAPIC, IOAPIC)
	}
	// The direct map: read-write and never executable. A 2 MiB page that
	// holds any of the image's text or read-only data is mapped by 4 KiB
	// pages instead, so that those are read-only here too: there is no
	// permanent writable alias of code.
	for pa := uintptr(0); pa < top; pa += 2 << 20 {
		if !vkImageReadOnlyIn(pa, pa+2<<20) {
			vkMapHuge(vkDMAP+pa, pa, ptePresent|pteWrite|nx)
			continue
		}
		for p := pa; p < pa+2<<20; p += vkPageSize {
			flags := ptePresent | pteWrite | nx
			if prot, ok := vkImageProt(p); ok && prot&protWrite == 0 {
				flags &^= pteWrite
			}
			vkMap(vkDMAP+p, p, flags)
		}
	}
	// The image itself, identity-mapped, each segment as the ELF says.
	for i := 0; i < vkImage.n; i++ {
		s := &vkImage.segs[i]
		vkMapRange(s.start, s.start, s.end-s.start, vkPteFlags(s.prot))
	}
	for pa := uintptr(bi.stubStart) &^ 4095; pa < uintptr(bi.stubEnd); pa += 4096 {
		vkMap(pa, pa, ptePresent|pteWrite|nx)
	}
	// The page table of the poke aliases exists from now on, so mapping
	// an alias never allocates (it happens in trap context).
	vkPTE(vkPokeBase, true)
	vkPoke.pt = vkPTEPhysTable(vkPokeBase)
	vkWriteCR3(vkPML4)
	vkFrames.dmapLive = true
}

// vkPTEPhysTable returns the physical address of the page table holding
// va's 4 KiB entry (which must exist).
func vkPTEPhysTable(va uintptr) uintptr {
	table := vkPML4
	for level := 3; level > 0; level-- {
		e := *(*uint64)(unsafe.Pointer(vkP2V(table) + (va>>(12+9*uint(level))&511)*8))
		table = uintptr(e & pteAddr)
	}
	return table
}

// --- writing code: the temporary writable alias ---

// Text and JIT code are never writable at their own addresses. The live
// patcher (vk_patch.go) and the gdb stub (vk_gdb.go) write code by mapping
// the one physical page writable and no-execute at an alias address,
// storing, and unmapping it, all with interrupts off, on this CPU only.
// Each CPU has one alias page per kind of writer, so a gdb breakpoint
// taken inside the patcher, or a stale INT3 trap, never reuses a page
// that is in use. No other CPU ever touches this CPU's alias address, so
// unmapping it needs only a local INVLPG.
const (
	vkPokePatch = 0 // vkPatchPoke: kernel lock held
	vkPokeGdb   = 1 // the gdb stub: vkGdb.owner held
	vkPokeTrap  = 2 // vkPatchTrap's stale INT3: trap context, no lock
)

// Every CPU's aliases share one page table (512 entries).
const _ = uint(512 - vkMaxCPU*vkPokeKinds)

var vkPoke struct {
	pt uintptr // physical address of the page table of the aliases
}

// vkPokeMap maps the physical page holding pa at this CPU's alias of the
// given kind and returns the alias address of pa. Interrupts must be off
// until vkPokeUnmap. Trap context: no allocation, no locks.
//
//go:nosplit
func vkPokeMap(kind, pa uintptr) uintptr {
	slot := uintptr(vkThisCPU().id)*vkPokeKinds + kind
	va := vkPokeBase + slot*vkPageSize
	e := (*uint64)(unsafe.Pointer(vkDMAP + vkPoke.pt + slot*8))
	*e = uint64(pa&^(vkPageSize-1)) | ptePresent | pteWrite | vkPteNX
	vkInvlpg(va)
	return va + pa&(vkPageSize-1)
}

//go:nosplit
func vkPokeUnmap(kind uintptr) {
	slot := uintptr(vkThisCPU().id)*vkPokeKinds + kind
	*(*uint64)(unsafe.Pointer(vkDMAP + vkPoke.pt + slot*8)) = 0
	vkInvlpg(vkPokeBase + slot*vkPageSize)
}

// vkPokePA stores b at physical address pa through the alias, as one
// atomic byte store (another CPU may be executing the bytes around it).
//
//go:nosplit
func vkPokePA(kind, pa uintptr, b byte) {
	a := vkPokeMap(kind, pa)
	atomic.Store8((*uint8)(unsafe.Pointer(a)), b)
	vkPokeUnmap(kind)
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
		vkMap(va, vkMustFrame(), ptePresent|pteWrite|vkPteNX)
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

// vkVM is the mapping list. It changes only under vkMapLock held
// exclusive, which its writers (mmap, munmap, mprotect, madvise, the
// framebuffer's mapping) take while they also hold the kernel lock; so it
// may be read with either lock: page faults hold vkMapLock shared and not
// the kernel lock, system calls hold the kernel lock (vkUserOK).
var vkVM struct {
	n    int
	vmas [vkMaxVMAs]vkVMA
	// statistics, updated atomically (faults run in parallel)
	faults   uint64  // demand-zero frames installed (a lost race is not counted)
	races    uint64  // faults that found their page or table installed by another CPU meanwhile
	resident uintptr // user pages holding a frame
}

// vkMapLock protects the mapping list and the user half's leaf page-table
// entries against change: page faults hold it shared and install entries
// where none was present by compare-and-swap (vkHandlePageFault); whatever
// changes or removes a present entry (munmap, mprotect, madvise, mmap over
// an old mapping) holds it exclusive, with the kernel lock, and makes the
// TLB shootdown before letting go of it.
var vkMapLock vkRWLock

// vkMapWriteLock takes the mapping list for a change. The caller holds the
// kernel lock (which makes vkTLBShootdown its to call, and is what lets
// system calls read the list under the kernel lock alone).
func vkMapWriteLock() {
	vkAssertHeld(&vkBKL)
	vkWriteLock(&vkMapLock)
}

// vkMapWriteUnlock makes the TLB shootdown of what the writer changed,
// then lets go of the mapping list.
func vkMapWriteUnlock() {
	vkTLBShootdown()
	vkWriteUnlock(&vkMapLock)
}

// vkAssertMapWrite stops the machine unless the mapping list may be
// changed here: its write lock held, or boot (one CPU, no locks yet).
func vkAssertMapWrite() {
	if vkLocksLive {
		vkAssertHeld(&vkMapLock.w)
	}
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
	vkAssertMapWrite()
	if vkVM.n == vkMaxVMAs {
		return false
	}
	copy(vkVM.vmas[i+1:vkVM.n+1], vkVM.vmas[i:vkVM.n])
	vkVM.vmas[i] = v
	vkVM.n++
	return true
}

func vkVMADelete(i int) {
	vkAssertMapWrite()
	copy(vkVM.vmas[i:vkVM.n-1], vkVM.vmas[i+1:vkVM.n])
	vkVM.n--
}

// vkVMAAdd inserts [start,end) (which overlaps nothing) and merges it with
// equal neighbours.
func vkVMAAdd(start, end uintptr, prot uint32) bool {
	vkAssertMapWrite()
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
	vkAssertMapWrite()
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

// vkUnmapBatch holds frames taken out of the page tables whose TLB
// shootdown has not been made yet: they are freed only after it, since
// another CPU may still write through a stale translation until it
// acknowledges, and a page fault elsewhere could meanwhile be given the
// frame (faults allocate without the kernel lock). Under vkMapLock held
// exclusive.
var vkUnmapBatch struct {
	n  int
	pa [512]uintptr
}

// vkUnmapFlush makes the shootdown for the entries cleared so far and
// frees their frames into this CPU's frame cache. The caller holds the
// mapping list exclusive (and so the kernel lock).
func vkUnmapFlush() {
	vkTLBShootdown()
	vkFrameFreeBatch(vkUnmapBatch.pa[:vkUnmapBatch.n])
	vkUnmapBatch.n = 0
}

// vkUnmapPages frees every resident page in [start,end), skipping absent
// page tables whole so that releasing a large reservation is cheap. The
// caller holds the mapping list exclusive; the frames are freed after the
// TLB shootdown (vkUnmapFlush), at the latest before this returns.
func vkUnmapPages(start, end uintptr) {
	vkAssertHeld(&vkMapLock.w)
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
			v := atomic.Load64(e)
			if v&ptePresent == 0 || v&pteHuge != 0 {
				skip = uintptr(1) << (12 + 9*uint(level))
				break
			}
			table = uintptr(v & pteAddr)
		}
		if pte == nil {
			va = (va + skip) &^ (skip - 1)
			continue
		}
		// Exclusive: no fault installs an entry meanwhile, so a plain
		// read and an atomic clear (for the lock-free readers) suffice.
		if old := atomic.Load64(pte); old&pteAddr != 0 {
			atomic.Store64(pte, 0)
			vkInvlpg(va)
			atomic.Xadduintptr(&vkVM.resident, ^uintptr(0))
			vkSMP.tlbDirty = true
			if vkUnmapBatch.n == len(vkUnmapBatch.pa) {
				vkUnmapFlush() // its shootdown covers this entry too
			}
			vkUnmapBatch.pa[vkUnmapBatch.n] = uintptr(old & pteAddr)
			vkUnmapBatch.n++
		}
		va += vkPageSize
	}
	vkUnmapFlush()
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
		if !vkFDOpen(fd) {
			return vkErr(vkEBADF)
		}
		return vkErr(vkENODEV) // no file mappings yet
	}
	prot &= protRead | protWrite | protExec
	vkMapWriteLock()
	r := vkMmapLocked(addr, n, prot, flags)
	vkMapWriteUnlock()
	return r
}

// vkMmapLocked places an anonymous mapping; the caller holds the mapping
// list exclusive.
func vkMmapLocked(addr, n uintptr, prot, flags uint32) uintptr {
	vkAssertHeld(&vkMapLock.w)
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
	vkMapWriteLock()
	r := uintptr(0)
	if vkKernelOverlap(addr, addr+n) {
		r = vkErr(vkEINVAL)
	} else {
		vkUnmapPages(addr, addr+n)
		if !vkVMACut(addr, addr+n) {
			r = vkErr(vkENOMEM)
		}
	}
	vkMapWriteUnlock()
	return r
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
		vkMapWriteLock()
		vkUnmapPages(addr, addr+n)
		vkMapWriteUnlock()
	}
	return 0
}

// vkSysMprotect changes the protection of whole mappings or parts of them.
// Resident pages keep their frames; the PTEs follow the new protection.
// Changing present entries needs the mapping list exclusive and a TLB
// shootdown, made before the lock is let go (vkMapWriteUnlock): a CPU
// still holding the old, more permissive translation could otherwise
// write or execute after the call returned.
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
	vkMapWriteLock()
	r := vkMprotectLocked(addr, end, prot)
	vkMapWriteUnlock()
	return r
}

func vkMprotectLocked(addr, end uintptr, prot uint32) uintptr {
	if vkKernelOverlap(addr, end) {
		return vkErr(vkEINVAL)
	}
	if !vkRangeMapped(addr, end) { // every page must be mapped, as Linux requires
		return vkErr(vkENOMEM)
	}
	if !vkVMACut(addr, end) || !vkVMAAdd(addr, end, prot&(protRead|protWrite|protExec)) {
		return vkErr(vkENOMEM)
	}
	for va := addr; va < end; va += vkPageSize {
		pte := vkPTE(va, false)
		if pte == nil {
			va |= 2<<20 - 1 // no page table here: skip to the next 2 MiB
			va -= vkPageSize - 1
			continue
		}
		old := atomic.Load64(pte)
		if old&pteAddr == 0 {
			continue
		}
		atomic.Store64(pte, old&pteAddr|vkPteFlags(prot))
		vkInvlpg(va)
		vkSMP.tlbDirty = true
	}
	return 0
}

// vkHandlePageFault resolves a fault on a demand-zero page, with the
// mapping list held shared and without the kernel lock: any number of
// CPUs run it at once. It returns false when the access is not allowed
// (the caller raises SIGSEGV): a write without PROT_WRITE, an instruction
// fetch without PROT_EXEC (the page is no-execute), or anything in a
// kernel-owned range.
//
// A missing page gets a zeroed frame by compare-and-swap on its entry:
// two CPUs faulting on the same page both allocate, one installs its
// frame, and the other frees its own and retries the access, which now
// succeeds. Installing an entry where none was present needs no TLB
// shootdown. An entry that is present when the lock is taken was
// installed by another CPU (or upgraded by mprotect since the access):
// the access is retried after an INVLPG of the stale translation.
//
// Trap context, without the kernel lock: no allocation, no write
// barriers, no sleeping; locks taken: vkMapLock shared, then this CPU's
// frame cache and perhaps the frame allocator's lock.
func vkHandlePageFault(va uintptr, write, fetch bool) bool {
	vkReadLock(&vkMapLock)
	ok := vkFaultIn(va&^(vkPageSize-1), write, fetch)
	vkReadUnlock(&vkMapLock)
	return ok
}

// vkFaultIn is vkHandlePageFault's body; the caller holds vkMapLock shared.
func vkFaultIn(va uintptr, write, fetch bool) bool {
	if !vkReadHeld(&vkMapLock) {
		vkLockFatal(&vkMapLock.w, "not held shared where the caller must hold it")
	}
	i := vkVMAFind(va)
	if i < 0 {
		return false
	}
	prot := vkVM.vmas[i].prot
	if prot&vmaKernel != 0 || prot&(protRead|protWrite|protExec) == 0 ||
		write && prot&protWrite == 0 || fetch && prot&protExec == 0 {
		return false
	}
	pte := vkPTE(va, true)
	if pte == nil {
		if _, size := vkWalk(va); size > vkPageSize {
			return false // under a huge page: never made in the user half
		}
		vkOutOfMemory() // no frame for a page table
	}
	flags := vkPteFlags(prot)
	for {
		old := atomic.Load64(pte)
		if old&ptePresent != 0 {
			if (!write || old&pteWrite != 0) && (!fetch || old&vkPteNX == 0) {
				// Installed by another CPU since this one faulted:
				// drop any stale translation and retry the access.
				atomic.Xadd64(&vkVM.races, 1)
				vkInvlpg(va)
				return true
			}
			return false // present but not allowed: a genuine protection fault
		}
		if old&pteAddr != 0 {
			// A resident frame whose entry is not present: only under
			// PROT_NONE, which mprotect keeps in step with the
			// mapping, and that was refused above. Make it present
			// with the mapping's protection all the same.
			if atomic.Cas64(pte, old, old&pteAddr|flags) {
				return true
			}
			continue
		}
		pa := vkFrameAlloc() // zeroed before it is published by the CAS
		if pa == 0 {
			vkOutOfMemory()
		}
		if atomic.Cas64(pte, 0, uint64(pa)|flags) {
			atomic.Xadduintptr(&vkVM.resident, 1)
			atomic.Xadd64(&vkVM.faults, 1)
			return true
		}
		vkFrameFree(pa) // never visible to anyone: back to the cache at once
	}
}

// vkCopyToUser and vkCopyFromUser check that the user range is mapped with
// the needed protection before touching it, so a bad pointer from a
// syscall returns EFAULT instead of a kernel fault.
// vkTaskSizeMax is Linux's TASK_SIZE_MAX on x86-64 (4-level paging): the
// highest address a user range may start at.
const vkTaskSizeMax = 1<<47 - vkPageSize

func vkUserOK(addr, n uintptr, write bool) bool {
	if n == 0 {
		// As Linux's access_ok: an empty range is fine anywhere below
		// the top of user space, and EFAULT above it.
		return addr <= vkTaskSizeMax
	}
	if addr+n < addr {
		return false
	}
	// The kernel-owned ranges are the image's segments with their own
	// protection (vkImageVMAs): Go globals are fine, but the program's code
	// and read-only data are never the kernel's to write into on its
	// behalf: they are read-only, as on Linux, and a system call storing a
	// result there gets EFAULT.
	for va := addr; va < addr+n; {
		i := vkVMAFind(va)
		if i < 0 {
			return false
		}
		v := &vkVM.vmas[i]
		if v.prot&(protRead|protWrite) == 0 || write && v.prot&protWrite == 0 {
			return false
		}
		va = v.end
	}
	// The kernel's own variables are in the program's data too, but never
	// the program's to hand to a system call (vk_guard.go).
	return !vkGuarded(addr, addr+n)
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
