//go:build velocity

// Velocity kernel: per-CPU state, descriptor tables and CPU features.
//
// Everything in files named vk_*.go joins package runtime through the build
// overlay. It runs beneath the stock Go runtime, which sees a Linux kernel.
// Rules for this code (trap context):
//   - no heap allocation, no maps, no closures that escape, no defer;
//   - no pointer-typed fields in kernel structures: kernel memory is not Go
//     heap, and write barriers must never fire here (uintptr everywhere);
//   - no calls into runtime code that may block, allocate or schedule.
// Kernel code runs on kernel stacks with g = vkKernelG (stackguard0 = 0), so
// ordinary (splittable) functions are safe: their stack check always passes.

package runtime

import "unsafe"

const (
	vkMaxCPU        = 64
	vkGDTEntries    = 3 + 2*vkMaxCPU // null, code, data, then a TSS per CPU
	vkSelKernelCode = 0x08
	vkSelKernelData = 0x10

	vkISTStackSize = 16 << 10
)

// vkCPU is one CPU's kernel state; GS base points at it. The assembly in
// vk_entry_amd64.s reads the first fields by offset (go_asm.h).
type vkCPU struct {
	self      uintptr
	scratch   uintptr // user RSP while the SYSCALL entry switches stacks
	kstackTop uintptr // top of the current thread's kernel stack
	inKernel  uintptr // 1 while kernel code runs on this CPU
	fpu       uintptr // current thread's FXSAVE area
	userFS    uintptr // current thread's FS base (its Go TLS)
	kernelFS  uintptr // FS base used inside the kernel: &tls[1]
	fsgsbase  uintptr // 1 when CR4.FSGSBASE is on: the entry writes FS with WRFSBASE, not WRMSR
	fpuLive   uintptr // thread (its fpu area) whose x87/MXCSR control state the registers hold since its system call; 0 after a switch (vk_fpu.go)
	cur       uintptr // current *vkThread
	idle      uintptr // 1 while halted in the idle loop
	id        uint32
	apicID    uint32
	tls       [2]uintptr // tls[0] = &vkKernelG, read as FS-8
	tss       [104]byte
	ist1      uintptr // top of the interrupt stack
	ist2      uintptr // top of the double-fault/NMI stack
	ticks     uint64
	syscalls  uint64
	sysNr     [vkSysCountSlots]uint64 // calls made here, by number (vk_syscount.go)
	sysNs     [vkSysCountSlots]uint64 // CPU time of the calls that ended here, by number (vk_syscount.go)

	// Scheduling (guarded by the kernel lock).
	online   uint32
	idleT    uintptr // this CPU's idle thread
	runqHead uintptr
	runqTail uintptr
	runqLen  int
	zombie   uintptr // exited thread whose stack is freed after the switch
	deadline int64   // programmed one-shot timer deadline, 0 = none
	busyNs   int64   // time spent running threads other than idle
	tlbSeen  uint32  // last TLB shootdown generation this CPU answered
	pollNs   int64   // how long the idle loop polls before halting (vk_idlepoll.go)
	// stealWanted is set by vkKick before its IPI: a thread this CPU may
	// run waits in another CPU's queue. The idle loop looks at it before
	// halting, as at its own queue, so the steal happens even when the
	// IPI was taken while this CPU waited for a lock (vkSpinSleep's halt
	// or vkSpinPause's window), where an interrupt only ends the wait.
	stealWanted uint32
	// tlbRefreshed is when this CPU last flushed its whole TLB for
	// vkTLBRefresh, and tlbRefreshes how often it has (vk_tlbrefresh.go).
	tlbRefreshed int64
	tlbRefreshes uint64
	// ipis counts the fixed IPIs this CPU sent (atomic: an interrupt
	// handler may send one while the code it interrupted does); halts
	// and haltNs how often and how long its idle loop halted.
	ipis   uint64
	halts  uint64
	haltNs int64
}

var (
	vkCPUs [vkMaxCPU]vkCPU

	// vkKernelG is the g that kernel code runs as. Its stackguard0 of 0
	// makes every stack check pass on kernel stacks; its m makes the
	// runtime's print usable from fatal reports.
	vkKernelG vkG
	vkKernelM m

	// The GDT: null, kernel code, kernel data, and a 16-byte TSS descriptor
	// per CPU filled in as each CPU starts. Static data, so it exists
	// before vkBoot.
	vkGDT = [vkGDTEntries]uint64{0, 0x00AF9A000000FFFF, 0x00CF92000000FFFF}

	vkIDT [256][2]uint64

	vkCPUCount  = 1
	vkHasRdrand bool
	vkHasRdseed bool
	vkHasNX     bool // CPUID.80000001h:EDX.NX: EFER.NXE may be set (vk_mem.go)
	vkCPUBrand  [48]byte
)

// vkG wraps g so the kernel g sits in static memory with room around it.
type vkG struct{ g g }

// Implemented in arch/amd64/cpu_amd64.s and vk_entry_amd64.s.
func vkOutb(port uint16, v uint8)
func vkInb(port uint16) uint8
func vkOutl(port uint16, v uint32)
func vkOutw(port uint16, v uint16)
func vkInw(port uint16) uint16
func vkInl(port uint16) uint32
func vkRdmsr(msr uint32) uint64
func vkWrmsr(msr uint32, v uint64)
func vkCpuid(leaf, sub uint32) (a, b, c, d uint32)
func vkRdtsc() uint64
func vkLidt(p uintptr)
func vkLtr(sel uint16)
func vkReadCR2() uintptr
func vkReadCR3() uintptr
func vkWriteCR3(v uintptr)
func vkReadCR0() uintptr
func vkReadCR4() uintptr
func vkWriteCR4(v uintptr)
func vkInvlpg(va uintptr)
func vkIdle()
func vkIdleHaltPC() uintptr
func vkIntrOn()
func vkIntrOff()
func vkHaltForever()
func vkRdrand() (v uint64, ok bool)
func vkFxsave(p uintptr)
func vkFpuInit()
func vkSwtch(save *uintptr, next uintptr)
func vkThreadStartPC() uintptr
func vkIdleStartPC() uintptr
func vkSyscallEntryPC() uintptr
func vkRuntimeEntryPC() uintptr
func vkVecTabAddr() uintptr

const (
	msrEFER      = 0xC0000080
	eferSCE      = 1 << 0  // SYSCALL/SYSRET
	eferNXE      = 1 << 11 // no-execute bit in page-table entries
	msrSTAR      = 0xC0000081
	msrLSTAR     = 0xC0000082
	msrFMASK     = 0xC0000084
	msrFSBase    = 0xC0000100
	msrGSBase    = 0xC0000101
	msrAPICBase  = 0x1B
	msrTSCAux    = 0xC0000103
	vkNumVectors = 63 // entries in vkVecTab
)

// vkCPUInit prepares CPU c's descriptor tables, interrupt stacks and
// SYSCALL MSRs. It runs on the CPU itself.
func vkCPUInit(c *vkCPU) {
	c.self = uintptr(unsafe.Pointer(c))
	c.tls[0] = uintptr(unsafe.Pointer(&vkKernelG.g))
	c.kernelFS = uintptr(unsafe.Pointer(&c.tls[1]))

	// Interrupt stacks: IST1 for every vector, IST2 for #DF and NMI so a
	// broken kernel stack still produces a report. A trap from the
	// program moves to the thread's kernel stack, one from kernel code
	// below the stack pointer it interrupted (vkKernelTrap), so IST1 is
	// free again for an interrupt let in while either runs.
	if c.ist1 == 0 {
		c.ist1 = vkKernelStack(vkISTStackSize)
		c.ist2 = vkKernelStack(vkISTStackSize)
	}
	vkPut64(c.tss[:], 36, uint64(c.ist1))
	vkPut64(c.tss[:], 44, uint64(c.ist2))
	vkPut64(c.tss[:], 4, uint64(c.ist1)) // RSP0, unused at CPL 0
	c.tss[102] = 104                     // no I/O bitmap

	base := uint64(uintptr(unsafe.Pointer(&c.tss[0])))
	slot := 3 + 2*int(c.id)
	vkGDT[slot] = 103 | (base&0xFFFFFF)<<16 | 0x89<<40 | (base>>24&0xFF)<<56
	vkGDT[slot+1] = base >> 32
	vkLtr(uint16(slot * 8))

	var idtr [10]byte
	vkPut16(idtr[:], 0, uint16(len(vkIDT)*16-1))
	vkPut64(idtr[:], 2, uint64(uintptr(unsafe.Pointer(&vkIDT[0]))))
	vkLidt(uintptr(unsafe.Pointer(&idtr[0])))

	// SYSCALL at CPL 0: CS from STAR[47:32], SS = CS+8. FMASK clears IF,
	// TF, DF and AC so the entry runs with interrupts off.
	// NXE is already on (vkPagingInit on the BSP, the trampoline's EFER
	// on an AP: the page tables have NX bits, which without NXE are
	// reserved and fault); setting it again here keeps every CPU's EFER
	// stating it.
	vkWrmsr(msrEFER, vkRdmsr(msrEFER)|eferSCE|vkEFERNX())
	vkWrmsr(msrSTAR, uint64(vkSelKernelCode)<<32)
	vkWrmsr(msrLSTAR, uint64(vkSyscallEntryPC()))
	vkWrmsr(msrFMASK, 0x47700)
	vkWrmsr(msrTSCAux, uint64(c.id))

	// WRFSBASE where the CPU has it: the entry and exit switch the FS base
	// between the kernel's TLS and the thread's on every trap, and WRMSR
	// is a serialising instruction (under TCG a helper that ends the
	// translation block). Decided per CPU, so a CPU without it still
	// works with the MSR.
	c.fsgsbase = 0
	if maxLeaf, _, _, _ := vkCpuid(0, 0); maxLeaf >= 7 {
		if _, b7, _, _ := vkCpuid(7, 0); b7&1 != 0 {
			vkWriteCR4(vkReadCR4() | cr4FSGSBase)
			c.fsgsbase = 1
		}
	}
}

const cr4FSGSBase = 1 << 16 // RDFSBASE/WRFSBASE and the GS forms usable

// vkEFERNX is EFER.NXE when the page tables use the NX bit, else 0.
func vkEFERNX() uint64 {
	if vkPteNX != 0 {
		return eferNXE
	}
	return 0
}

// vkIDTInit fills the IDT once; all CPUs share it.
func vkIDTInit() {
	tab := vkVecTabAddr()
	for i := 0; i < vkNumVectors; i++ {
		vec := *(*uint64)(unsafe.Pointer(tab + uintptr(i)*16))
		pc := *(*uint64)(unsafe.Pointer(tab + uintptr(i)*16 + 8))
		ist := uint64(1)
		if vec == 2 || vec == 8 {
			ist = 2
		}
		vkIDT[vec][0] = pc&0xFFFF | vkSelKernelCode<<16 | ist<<32 | 0x8E<<40 | (pc>>16&0xFFFF)<<48
		vkIDT[vec][1] = pc >> 32
	}
}

// vkCPUFeatures checks what the kernel needs and records what it can use.
func vkCPUFeatures() {
	_, _, c, _ := vkCpuid(1, 0)
	vkHasRdrand = c&(1<<30) != 0
	_, b, _, _ := vkCpuid(7, 0)
	vkHasRdseed = b&(1<<18) != 0
	max, _, _, _ := vkCpuid(0x80000000, 0)
	if max >= 0x80000001 {
		_, _, _, d := vkCpuid(0x80000001, 0)
		vkHasNX = d&(1<<20) != 0
	}
	if max >= 0x80000004 {
		for i := uint32(0); i < 3; i++ {
			a, b, c, d := vkCpuid(0x80000002+i, 0)
			for j, r := range [4]uint32{a, b, c, d} {
				vkPut32(vkCPUBrand[:], int(i*16)+j*4, r)
			}
		}
	}
}

// vkCPUModel returns the brand string without padding.
func vkCPUModel() []byte {
	b := vkCPUBrand[:]
	for len(b) > 0 && (b[0] == ' ') {
		b = b[1:]
	}
	for i, ch := range b {
		if ch == 0 {
			return b[:i]
		}
	}
	return b
}

func vkPut16(b []byte, off int, v uint16) {
	b[off] = byte(v)
	b[off+1] = byte(v >> 8)
}

func vkPut32(b []byte, off int, v uint32) {
	for i := 0; i < 4; i++ {
		b[off+i] = byte(v >> (8 * i))
	}
}

func vkPut64(b []byte, off int, v uint64) {
	for i := 0; i < 8; i++ {
		b[off+i] = byte(v >> (8 * i))
	}
}

func vkThisCPUAddr() uintptr

//go:nosplit
func vkThisCPU() *vkCPU {
	return (*vkCPU)(unsafe.Pointer(vkThisCPUAddr()))
}
