//go:build velocity

// Velocity kernel: the x87/SSE/AVX register state of threads.
//
// What is saved. When CPUID.1:ECX.XSAVE is set (and the kernel option
// noxsave is absent), every CPU sets CR4.OSXSAVE and programs XCR0 with
// XSETBV to the same mask, vkXMask:
//
//	x87 | SSE                  always
//	| AVX (YMM upper halves)   when CPUID.1:ECX.AVX and leaf 0xD offer it
//	| opmask | ZMM_Hi256 | Hi16_ZMM (AVX-512)
//	                           when leaf 0xD offers all three, CPUID.7:EBX
//	                           reports AVX512F and the area still fits
//
// and nothing else (no MPX, PKRU or AMX: the kernel enables exactly the
// state it saves, so the Go runtime's internal/cpu, which reads XCR0 with
// XGETBV, sees AVX/AVX2/AVX-512 exactly when their registers survive a
// thread switch). The save area size is CPUID.(EAX=0xD,ECX=0):EBX read after
// XSETBV, i.e. the standard (non-compacted) XSAVE layout for that mask:
// 832 bytes for x87|SSE|AVX, 2,688 with AVX-512 on Intel. The BSP decides
// the mask and the size; each AP must offer the same components and report
// the same size, or it is left offline (vkFPUSetupAP).
//
// Without XSAVE (or with noxsave) the kernel saves with FXSAVE64 and a
// 512-byte area, as before, and CR4.OSXSAVE stays clear so Go takes its
// SSE paths.
//
// Where it is saved (vk_entry_amd64.s). The state belongs to the user
// thread and lives in vkThread.fpu, the first field of a page-aligned
// vkThread (so 64-byte aligned as XSAVE requires). Every interrupt or
// exception from user code saves it there before any kernel Go code runs,
// and the exit to user code restores the state of whichever thread is
// current then: thread switches (vkSwtch) need no FPU work at all, since
// kernel code never keeps x87/SSE/AVX values across a call.
//
// System calls save nothing (the XSAVE/XRSTOR pair was 1.7 of the 2.2
// microseconds a getpid took under TCG). The rule that makes this sound:
// a Go program executes SYSCALL only in assembly functions (the runtime's,
// package syscall's, golang.org/x/sys's and the vDSO's), every vector
// register is caller-saved in both of Go's ABIs, so nothing is live in
// X0-X14, the YMM/ZMM upper halves or the opmasks across the instruction,
// and what the caller does need afterwards is X15 = 0 (ABIInternal's zero
// register, for Syscall6) and its x87 control word and MXCSR, which Go
// never changes but a program's assembly may. So the SYSCALL entry
// stores the control word (FNSTCW) and MXCSR (STMXCSR) at their places in
// the area, sets vkThread.fpuStale and records the thread in
// vkCPU.fpuLive. On the way out a stale thread gets:
//   - nothing restored when fpuLive still names it (no thread switch on
//     this CPU since: vkSchedule clears fpuLive), because kernel code
//     never changes the control registers or the x87 stack (it runs Go,
//     which uses neither, and vkKernelTrap restores what it saved);
//   - otherwise the initial state with its own control word and MXCSR
//     (FNINIT, FLDCW, LDMXCSR), as it blocked and other threads ran;
//   - X15 zeroed in both cases.
// The difference from Linux, which keeps every register: after a system
// call X0-X14 and the upper halves hold whatever kernel code or another
// thread left there, and across a call that blocked the x87 data
// registers and status word are reset; no Go code can observe either.
// Go code that reads or replaces the area of a thread (signal frames,
// rt_sigreturn, clone, gdb) calls vkFPUMaterialize first, which turns a
// stale area into that same state (initial, with the saved control
// registers) and clears the flag, so the exit restores it with XRSTOR.
// Interrupts and exceptions, which arrive at any instruction, always save
// everything. tests/semantics (fpusyscall_amd64_test.go) checks the rule
// on Velocity and Linux: X15 and the control registers across blocking
// futex waits between threads with different rounding modes on one CPU,
// and across a signal delivered on the way out of a system call after the
// area's last full save had a nonzero X15.
//
// A
// trap taken while the kernel itself runs (vkKernelTrap: a page fault in
// the middle of an AVX memmove, an interrupt waking an idle CPU) saves the
// interrupted state in a 64-byte-aligned area on the stack it arrived on
// and restores it before IRETQ, because that kernel code may hold live
// YMM registers. XSAVE leaves the header's XCOMP_BV and reserved bytes
// alone while XRSTOR faults unless they are zero, so that stack area's
// header is cleared first. Plain XSAVE is used rather than XSAVEOPT or
// XSAVEC: no modified-state tracking to reason about across CPUs, and the
// standard layout is the one Linux signal frames use.
//
// Signals (vk_signal.go) copy the saved area into the signal frame in the
// layout Linux uses: the XSAVE image at a 64-byte-aligned fpstate, the
// _fpx_sw_bytes (FP_XSTATE_MAGIC1, sizes, features) in bytes 464-511 of
// its legacy region, FP_XSTATE_MAGIC2 right after the image, and
// UC_FP_XSTATE in uc_flags. rt_sigreturn takes the whole image back when
// the magics and sizes are intact and only the 512-byte legacy region
// otherwise (the AVX state then returns to its initial, zero, state), and
// sanitises what came from user memory (header, MXCSR) so XRSTOR cannot
// fault on it.
//
// Rules: everything here runs in trap context or during boot: no
// allocation, no write barriers (no pointers are stored), nosplit where the
// assembly calls in.

package runtime

import "unsafe"

const (
	vkXFeatX87    = 1 << 0
	vkXFeatSSE    = 1 << 1
	vkXFeatAVX    = 1 << 2
	vkXFeatAVX512 = 7 << 5 // opmask, ZMM_Hi256, Hi16_ZMM

	// vkFPUMax is the room vkThread reserves for the save area: enough for
	// x87|SSE|AVX|AVX-512 in the standard layout (2,688 bytes on Intel,
	// less on AMD) with the rest of vkThread still in one page.
	vkFPUMax = 3072

	vkXHeader     = 512 // offset of the XSAVE header
	vkXHeaderSize = 64
	vkXLegacySize = 512

	vkFPXSWBytes       = 464 // _fpx_sw_bytes inside the legacy region
	vkFPXStateMagic1   = 0x46505853
	vkFPXStateMagic2   = 0x46505845
	vkUCFPXState       = 1 // uc_flags: fpstate has the XSAVE layout
	vkMXCSRMaskOff     = 28
	vkMXCSROff         = 24
	vkMXCSRMaskDefault = 0xFFBF // when the CPU reports 0 (SDM 11.6.6)
)

var (
	// vkXSaveOn is read by the entry assembly: XSAVE/XRSTOR when true,
	// FXSAVE/FXRSTOR when false. It becomes true only once the BSP has
	// set CR4.OSXSAVE and XCR0, before any AP starts.
	vkXSaveOn bool
	vkXMask   uint64 // XCR0 on every CPU while vkXSaveOn

	// vkFPUSize is the size of a save area; the entry assembly reserves
	// it on the stack for traps taken in kernel code. Statically 512 so
	// such a trap before vkFPUSetupBSP still reserves enough for FXSAVE.
	vkFPUSize uintptr = vkXLegacySize

	vkNoXSave bool // kernel option noxsave
)

// Implemented in arch/amd64/cpu_amd64.s.
func vkXsave(p uintptr)
func vkXsetbv(xcr uint32, v uint64)
func vkXgetbv(xcr uint32) uint64

// The page holding a vkThread must also hold its save area.
const _ = vkPageSize - unsafe.Sizeof(vkThread{})

// vkFPUSetupBSP decides what the kernel saves and enables it on the BSP.
// It runs once, after the command line is parsed and before any AP or
// user thread exists.
func vkFPUSetupBSP() {
	_, _, c1, _ := vkCpuid(1, 0)
	if c1&(1<<26) == 0 || vkNoXSave {
		return
	}
	a, _, _, d := vkCpuid(0xD, 0)
	offered := uint64(d)<<32 | uint64(a)
	mask := uint64(vkXFeatX87 | vkXFeatSSE)
	if c1&(1<<28) != 0 && offered&vkXFeatAVX != 0 {
		mask |= vkXFeatAVX
		_, b7, _, _ := vkCpuid(7, 0)
		if offered&vkXFeatAVX512 == vkXFeatAVX512 && b7&(1<<16) != 0 {
			mask |= vkXFeatAVX512
		}
	}
	vkWriteCR4(vkReadCR4() | 1<<18) // OSXSAVE
	size := vkXEnable(mask)
	if size > vkFPUMax && mask&vkXFeatAVX512 != 0 {
		mask &^= vkXFeatAVX512
		size = vkXEnable(mask)
	}
	if size < vkXLegacySize+vkXHeaderSize || size > vkFPUMax {
		// A CPU reporting nonsense: stay with FXSAVE.
		vkXsetbv(0, vkXFeatX87|vkXFeatSSE)
		vkWriteCR4(vkReadCR4() &^ (1 << 18))
		vkPrint("velocity: CPUID leaf 0xD reports an XSAVE area of ")
		vkPrintDec(int64(size))
		vkPrint(" bytes; saving FPU state with FXSAVE, AVX off\n")
		return
	}
	vkXMask = mask
	vkFPUSize = size
	vkXSaveOn = true
}

// vkXEnable programs XCR0 with mask and returns the XSAVE area size the
// CPU reports for it.
func vkXEnable(mask uint64) uintptr {
	vkXsetbv(0, mask)
	if vkXgetbv(0) != mask {
		return 0 // did not take: treated as an unusable size
	}
	_, b, _, _ := vkCpuid(0xD, 0)
	return uintptr(b)
}

// vkFPUSetupAP gives an AP the BSP's XCR0. It reports false, with a
// message, if the AP cannot hold the same state in an area of the same
// size: a thread saved on one CPU must restore on every other.
func vkFPUSetupAP(c *vkCPU) bool {
	if !vkXSaveOn {
		return true
	}
	_, _, c1, _ := vkCpuid(1, 0)
	a, _, _, d := vkCpuid(0xD, 0)
	offered := uint64(d)<<32 | uint64(a)
	size := uintptr(0)
	if c1&(1<<26) != 0 && offered&vkXMask == vkXMask {
		vkWriteCR4(vkReadCR4() | 1<<18)
		size = vkXEnable(vkXMask)
	}
	if size != vkFPUSize {
		vkPrint("velocity: CPU ")
		vkPrintDec(int64(c.id))
		vkPrint(" cannot save the extended state CPU 0 saves (XCR0 ")
		vkPrintHex(vkXMask)
		vkPrint(", ")
		vkPrintDec(int64(vkFPUSize))
		vkPrint(" bytes; it reports ")
		vkPrintDec(int64(size))
		vkPrint("); leaving it offline\n")
		return false
	}
	return true
}

// vkFPUSave saves this CPU's x87/SSE(/AVX) state into the area at p (64-byte
// aligned, vkFPUSize bytes, header zeroed or left from an earlier save).
//
//go:nosplit
func vkFPUSave(p uintptr) {
	if vkXSaveOn {
		vkXsave(p)
	} else {
		vkFxsave(p)
	}
}

// vkFPUCopy copies a thread's save area.
//
//go:nosplit
func vkFPUCopy(dst, src uintptr) {
	memmove(unsafe.Pointer(dst), unsafe.Pointer(src), vkFPUSize)
}

// vkSimdName names the widest vector state the kernel keeps for threads,
// for the boot banner.
func vkSimdName() string {
	switch {
	case vkXMask&vkXFeatAVX512 == vkXFeatAVX512:
		return "AVX-512"
	case vkXMask&vkXFeatAVX != 0:
		_, b7, _, _ := vkCpuid(7, 0)
		if b7&(1<<5) != 0 {
			return "AVX2"
		}
		return "AVX"
	}
	return "SSE"
}

// vkMXCSRMask is the set of MXCSR bits the CPU accepts, from the legacy
// region of an area the CPU itself saved.
func vkMXCSRMask(area uintptr) uint32 {
	m := *(*uint32)(unsafe.Pointer(area + vkMXCSRMaskOff))
	if m == 0 {
		m = vkMXCSRMaskDefault
	}
	return m
}

// vkFPULegacyWritten makes area restorable after its 512-byte legacy
// region was replaced by someone other than the CPU (gdb, or a signal frame
// without the XSAVE layout): MXCSR loses bits the CPU would fault on, and
// under XSAVE the header says x87 and SSE come from the legacy region while
// the other components keep what the header already said (keep = true) or
// return to their initial state (keep = false). mxcsrMask is taken before
// the region was overwritten.
func vkFPULegacyWritten(area uintptr, mxcsrMask uint32, keep bool) {
	*(*uint32)(unsafe.Pointer(area + vkMXCSROff)) &= mxcsrMask
	*(*uint32)(unsafe.Pointer(area + vkMXCSRMaskOff)) = mxcsrMask
	if !vkXSaveOn {
		return
	}
	bv := (*uint64)(unsafe.Pointer(area + vkXHeader))
	if keep {
		*bv = *bv&vkXMask | vkXFeatX87 | vkXFeatSSE
	} else {
		*bv = vkXFeatX87 | vkXFeatSSE
	}
	vkXHeaderClearRest(area)
}

// vkXHeaderClearRest zeroes the XSAVE header after XSTATE_BV: XCOMP_BV
// (the standard layout has it 0) and the reserved bytes, which XRSTOR
// requires to be zero.
func vkXHeaderClearRest(area uintptr) {
	for off := uintptr(8); off < vkXHeaderSize; off += 8 {
		*(*uint64)(unsafe.Pointer(area + vkXHeader + off)) = 0
	}
}

// vkSigFPSize is the room a signal frame takes for the FPU state: the
// save area plus, with XSAVE, the 4-byte FP_XSTATE_MAGIC2 after it.
func vkSigFPSize() uintptr {
	if vkXSaveOn {
		return vkFPUSize + 4
	}
	return vkXLegacySize
}

// vkSigFPStore writes thread t's FPU state at fpstate in a signal frame
// (64-byte aligned, vkSigFPSize bytes, checked writable by the caller) and
// returns the uc_flags bits that describe it.
func vkSigFPStore(t *vkThread, fpstate uintptr) uint64 {
	vkFPUMaterialize(t)
	vkFPUCopy(fpstate, uintptr(unsafe.Pointer(&t.fpu[0])))
	sw := fpstate + vkFPXSWBytes
	memclrNoHeapPointers(unsafe.Pointer(sw), vkXLegacySize-vkFPXSWBytes)
	if !vkXSaveOn {
		return 0 // magic1 = 0: a plain FXSAVE image, as Linux writes one
	}
	*(*uint32)(unsafe.Pointer(sw)) = vkFPXStateMagic1
	*(*uint32)(unsafe.Pointer(sw + 4)) = uint32(vkFPUSize + 4) // extended_size
	*(*uint64)(unsafe.Pointer(sw + 8)) = vkXMask               // xfeatures
	*(*uint32)(unsafe.Pointer(sw + 16)) = uint32(vkFPUSize)    // xstate_size
	*(*uint32)(unsafe.Pointer(fpstate + vkFPUSize)) = vkFPXStateMagic2
	return vkUCFPXState
}

// vkSigFPLoad takes thread t's FPU state back from the fpstate of a signal
// frame the handler returned from. fp was written by vkSigFPStore but is
// user memory: anything the CPU could fault on is fixed up, and a frame
// whose XSAVE description is damaged yields only its legacy region.
func vkSigFPLoad(t *vkThread, fp uintptr) {
	vkFPUMaterialize(t) // a frame that is not usable keeps the thread's state
	if fp == 0 || fp&15 != 0 || !vkUserOK(fp, vkXLegacySize, false) {
		return // no usable state: keep the thread's (Linux would SIGSEGV)
	}
	area := uintptr(unsafe.Pointer(&t.fpu[0]))
	mxcsrMask := vkMXCSRMask(area)
	sw := fp + vkFPXSWBytes
	full := vkXSaveOn &&
		*(*uint32)(unsafe.Pointer(sw)) == vkFPXStateMagic1 &&
		uintptr(*(*uint32)(unsafe.Pointer(sw + 16))) == vkFPUSize &&
		uintptr(*(*uint32)(unsafe.Pointer(sw + 4))) == vkFPUSize+4 &&
		vkUserOK(fp, vkFPUSize+4, false) &&
		*(*uint32)(unsafe.Pointer(fp + vkFPUSize)) == vkFPXStateMagic2
	if !full {
		memmove(unsafe.Pointer(area), unsafe.Pointer(fp), vkXLegacySize)
		vkFPULegacyWritten(area, mxcsrMask, false)
		return
	}
	vkFPUCopy(area, fp)
	bv := (*uint64)(unsafe.Pointer(area + vkXHeader))
	*bv &= vkXMask & *(*uint64)(unsafe.Pointer(sw + 8))
	vkXHeaderClearRest(area)
	*(*uint32)(unsafe.Pointer(area + vkMXCSROff)) &= mxcsrMask
	*(*uint32)(unsafe.Pointer(area + vkMXCSRMaskOff)) = mxcsrMask
}

// The entry assembly finds a thread's fpuStale from its save area's
// address: the area must be vkThread's first field.
const _ = -unsafe.Offsetof(vkThread{}.fpu)

// vkFPUMaterialize makes thread t's save area describe its state again
// after a system call entry left it stale (only the x87 control word and
// MXCSR, stored by the entry, are current): the initial state, which is
// all a Go program may rely on at a system call (vector registers zero,
// so X15 = 0; the x87 stack empty), with those two control registers. The
// exit then restores the area with XRSTOR as after any other entry.
// Everything that reads or replaces a thread's area (signal frames,
// rt_sigreturn, clone, gdb) calls this first.
//
//go:nosplit
func vkFPUMaterialize(t *vkThread) {
	if t.fpuStale == 0 {
		return
	}
	area := uintptr(unsafe.Pointer(&t.fpu[0]))
	fcw := *(*uint16)(unsafe.Pointer(area))
	mxcsr := *(*uint32)(unsafe.Pointer(area + vkMXCSROff))
	mask := *(*uint32)(unsafe.Pointer(area + vkMXCSRMaskOff))
	memclrNoHeapPointers(unsafe.Pointer(area), vkXLegacySize)
	*(*uint16)(unsafe.Pointer(area)) = fcw
	*(*uint32)(unsafe.Pointer(area + vkMXCSROff)) = mxcsr
	*(*uint32)(unsafe.Pointer(area + vkMXCSRMaskOff)) = mask
	if vkXSaveOn {
		// x87 and SSE from the legacy region just written; AVX and
		// AVX-512 in their initial (zero) state.
		*(*uint64)(unsafe.Pointer(area + vkXHeader)) = vkXFeatX87 | vkXFeatSSE
		vkXHeaderClearRest(area)
	}
	t.fpuStale = 0
}
