//go:build velocity

// Velocity kernel: live patching of machine code (package patch), with the
// protocol of Linux's text_poke_bp (docs/patch.md).
//
// Five bytes at a function's entry are rewritten while other CPUs may be
// executing them. x86 only promises a consistent view of modified code to
// a CPU that executes a serialising instruction after the modification,
// and a one-byte write is the only change another CPU can never see torn:
//
//  1. INT3 over byte 0, sync. From now on every CPU that reaches the entry
//     traps, and vkPatchTrap sends it to the jump's target.
//  2. If a thread is stopped at an instruction boundary strictly inside the
//     five bytes (gc prologues begin with a 4-byte CMPQ), it would resume
//     in the middle of the new instruction: undo step 1 and fail with
//     EBUSY; the caller retries once the thread has moved on.
//  3. Bytes 1-4, sync. No CPU executes them: all arrive at the INT3.
//  4. Byte 0, sync. The new instruction is whole.
//
// "sync" is a TLB shootdown round: every other online CPU takes the IPI
// (the interrupt and its IRET serialise it, and so does the CR3 write) or,
// spinning on the kernel lock, answers by polling with a CR3 write. Code
// is never writable where it runs (text is read-only, JIT code read-only
// and executable), so every write goes through a temporary writable,
// no-execute alias of the one physical page (vkPokePA, vk_mem.go).

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkPatchOpPoke  = 1
	vkPatchOpStats = 2
	vkPatchLen     = 5
	vkPatchRecent  = 16
)

// vkPatch is the site being rewritten, read by the #BP handler on any CPU
// without the kernel lock, and the counters package kernel reads.
var vkPatch struct {
	site    uintptr // entry being rewritten; 0 when none
	emulate uintptr // where a CPU that hits the INT3 at site continues
	// recent are the sites rewritten last (or whose rewrite was undone
	// with EBUSY), with byte 0's physical address: a CPU may still
	// execute a stale INT3 at any of them (see vkPatchTrap).
	recent  [vkPatchRecent]struct{ site, pa uintptr }
	nrecent uint64
	stats   vkPatchStats
}

// vkPatchStats mirrors kernel.PatchStats.
type vkPatchStats struct {
	pokes, busy, traps, syncs uint64
	lastNs, maxNs             uint64
	stale                     uint64
	totalNs                   uint64
}

// vkPatchTrap emulates the instruction being installed for a CPU that hit
// the temporary INT3: it is a JMP, so only RIP changes. It runs in trap
// context on any CPU, with or without the kernel lock held elsewhere: no
// locks, no allocation, no write barriers, no stack growth.
//
// The patcher publishes emulate before site and clears site only after the
// final sync; a CPU in this handler has interrupts off and answers that
// sync only after it returns, so site and emulate are consistent here.
//
//go:nosplit
//go:nowritebarrierrec
func vkPatchTrap(f *vkFrame) bool {
	at := uintptr(f.rip) - 1
	if atomic.Loaduintptr(&vkPatch.site) == at {
		return vkPatchEmulate(f)
	}
	pa := vkPatchRecentPA(at)
	if pa == 0 {
		return false // not ours: gdb's, or a real INT3
	}
	if *(*byte)(unsafe.Pointer(at)) == 0xCC {
		// A stale INT3 that ran while a new rewrite of the same site
		// began: the patcher stores site before it writes the INT3, so
		// having seen the INT3 this load sees the site (x86 keeps the
		// order of stores).
		if atomic.Loaduintptr(&vkPatch.site) == at {
			return vkPatchEmulate(f)
		}
		return false
	}
	// The INT3 of a finished patch, executed after the final sync. A
	// real CPU cannot (the sync serialised it), but QEMU's TCG can still
	// run a translation made while the INT3 was in place. The INT3 is
	// gone: run what is there now. (The byte was just fetched, and a
	// concurrent unmap would wait for this CPU's TLB shootdown answer, so
	// it is mapped.) Writing the byte again, unchanged, makes QEMU drop
	// that translation; a locked OR leaves the byte alone if a new patch
	// of the site is putting an INT3 there. The write goes through this
	// CPU's trap alias: the code page itself is read-only.
	a := vkPokeMap(vkPokeTrap, pa)
	atomic.Or8((*uint8)(unsafe.Pointer(a)), 0)
	vkPokeUnmap(vkPokeTrap)
	f.rip = uint64(at)
	atomic.Xadd64(&vkPatch.stats.stale, 1)
	return true
}

// vkPatchEmulate sends a CPU that hit the INT3 of the rewrite in progress
// to the new instruction's target. Trap context, as vkPatchTrap.
//
//go:nosplit
//go:nowritebarrierrec
func vkPatchEmulate(f *vkFrame) bool {
	f.rip = uint64(atomic.Loaduintptr(&vkPatch.emulate))
	atomic.Xadd64(&vkPatch.stats.traps, 1)
	return true
}

// vkPatchRecentPA returns the physical address of byte 0 of a recently
// rewritten site at, or 0. Trap context: loads only.
//
//go:nosplit
//go:nowritebarrierrec
func vkPatchRecentPA(at uintptr) uintptr {
	for i := range vkPatch.recent {
		r := &vkPatch.recent[i]
		if atomic.Loaduintptr(&r.site) == at {
			return atomic.Loaduintptr(&r.pa)
		}
	}
	return 0
}

// vkPatchRemember records a site whose byte 0 held an INT3, before the
// patcher stops answering for it as the site in progress, so a stale INT3
// there is never an unexpected #BP. The pa is stored first: a reader that
// sees the site sees its pa. Caller holds the kernel lock (one writer).
func vkPatchRemember(site, pa uintptr) {
	for i := range vkPatch.recent {
		if vkPatch.recent[i].site == site {
			return
		}
	}
	r := &vkPatch.recent[vkPatch.nrecent%vkPatchRecent]
	vkPatch.nrecent++
	atomic.Storeuintptr(&r.site, 0)
	atomic.Storeuintptr(&r.pa, pa)
	atomic.Storeuintptr(&r.site, site)
}

// vkSysPatch is system call 0x5602: op 1 rewrites 5 bytes of code, op 2
// copies the counters out. The caller holds the kernel lock.
func vkSysPatch(op, a1, a2, a3 uintptr) uintptr {
	switch op {
	case vkPatchOpPoke:
		return vkPatchPoke(a1, a2, a3)
	case vkPatchOpStats:
		n := unsafe.Sizeof(vkPatch.stats)
		if a2 < n {
			return vkErr(vkEINVAL)
		}
		if !vkUserOK(a1, n, true) {
			return vkErr(vkEFAULT)
		}
		*(*vkPatchStats)(unsafe.Pointer(a1)) = vkPatch.stats
		return 0
	}
	return vkErr(vkEINVAL)
}

// vkPatchPhys finds the physical address of a byte of code: in the
// kernel's text (identity-mapped) or in a present page of an executable
// mapping (JIT code). ok is false for anything else, the image's data
// included: the patcher rewrites code only.
func vkPatchPhys(va uintptr) (uintptr, bool) {
	if prot, ok := vkImageProt(va); ok {
		return va, prot&protExec != 0
	}
	i := vkVMAFind(va)
	if i < 0 || vkVM.vmas[i].prot&protExec == 0 {
		return 0, false
	}
	pte := vkPTE(va&^(vkPageSize-1), false)
	if pte == nil || *pte&ptePresent == 0 {
		return 0, false
	}
	return uintptr(*pte&pteAddr) + va&(vkPageSize-1), true
}

// vkPatchSync makes every other CPU serialise and waits until all have.
func vkPatchSync() {
	vkSMP.tlbDirty = true
	vkTLBShootdown()
	vkPatch.stats.syncs++
}

// vkPatchInside reports whether any thread's interrupted user context lies
// strictly inside (site, site+5). Every thread that is not running has its
// user registers in the frame at the top of its kernel stack; every thread
// that was running on another CPU at the last sync was interrupted by its
// IPI (or was in the kernel), which saved its RIP in that same frame. After
// that sync no thread can enter the range except through the INT3, so a
// later frame cannot be a new arrival. A thread inside a signal handler
// has the interrupted context in the signal frame on its alternate stack
// (the runtime's handlers block all signals, so it is the only one there).
func vkPatchInside(site uintptr) bool {
	in := func(rip uint64) bool { return uintptr(rip) > site && uintptr(rip) < site+vkPatchLen }
	for i := int32(0); i < vkSched.maxTID; i++ {
		p := vkSched.threads[i]
		if p == 0 {
			continue
		}
		t := vkThreadOf(p)
		if t.state == thFree || t.state == thDead || t.state == thIdle {
			continue
		}
		f := vkFrameOf(t)
		if in(atomic.Load64(&f.rip)) {
			return true
		}
		if t.altSize != 0 && uintptr(f.rsp) > t.altSP && uintptr(f.rsp) <= t.altSP+t.altSize {
			// Where vkSignalFrame put the frame on an empty alternate stack.
			sp := (t.altSP + t.altSize - vkSigFPSize()) &^ (vkFPUAlign - 1)
			sp = ((sp - sfSize) &^ 15) - 8
			rip := sp + sfUcontext + ucMcontext + 16*8
			if vkUserOK(rip, 8, false) && in(*(*uint64)(unsafe.Pointer(rip))) {
				return true
			}
		}
	}
	return false
}

// vkPatchPoke rewrites [site, site+5) with the bytes at code.
func vkPatchPoke(site, code, emulate uintptr) uintptr {
	if !vkUserOK(code, vkPatchLen, false) {
		return vkErr(vkEFAULT)
	}
	nw := *(*[vkPatchLen]byte)(unsafe.Pointer(code))
	var pa [vkPatchLen]uintptr
	for i := range pa {
		p, ok := vkPatchPhys(site + uintptr(i))
		if !ok {
			return vkErr(vkEFAULT)
		}
		pa[i] = p
	}
	if _, ok := vkPatchPhys(emulate); !ok {
		return vkErr(vkEFAULT)
	}
	poke := func(i int, b byte) { vkPokePA(vkPokePatch, pa[i], b) }
	var old [vkPatchLen]byte
	for i := range old {
		old[i] = *(*byte)(unsafe.Pointer(vkDMAP + pa[i])) // read-only there
	}
	if old == nw {
		return 0
	}
	start := vkNanotime()
	vkPatch.emulate = emulate
	atomic.Storeuintptr(&vkPatch.site, site)
	poke(0, 0xCC)
	vkPatchSync()
	if vkPatchInside(site) {
		poke(0, old[0])
		vkPatchSync()
		vkPatchRemember(site, pa[0])
		atomic.Storeuintptr(&vkPatch.site, 0)
		vkPatch.stats.busy++
		return vkErr(vkEBUSY)
	}
	for i := 1; i < vkPatchLen; i++ {
		poke(i, nw[i])
	}
	vkPatchSync()
	poke(0, nw[0])
	vkPatchSync()
	// Remembered before site is cleared: a stale INT3 executed in
	// between would otherwise match neither.
	vkPatchRemember(site, pa[0])
	atomic.Storeuintptr(&vkPatch.site, 0)
	ns := uint64(vkNanotime() - start)
	vkPatch.stats.pokes++
	vkPatch.stats.lastNs = ns
	vkPatch.stats.totalNs += ns
	if ns > vkPatch.stats.maxNs {
		vkPatch.stats.maxNs = ns
	}
	return 0
}
