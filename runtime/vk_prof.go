//go:build velocity

// Velocity kernel: the sampling CPU profiler.
//
// While profiling is on, every CPU takes a sample at a fixed rate (1 to
// vkProfMaxHz per second): the interrupted instruction and a short stack
// found by walking the frame-pointer chain, which Go on amd64 always
// keeps. The samples go into a ring per CPU that package kernel drains
// with vkSysProfRead (github.com/velocityos/velocity/kernel, profile.go).
//
// The rate: the LAPIC timer is one-shot and armed only for the next
// scheduler deadline, so a thread that runs alone on its CPU may see no
// timer interrupt for seconds. While profiling, vkTimerArm (vk_time.go)
// arms the timer for the earlier of the scheduler's deadline and this
// CPU's next sample (vkProfDeadline). The scheduler does not mind early
// interrupts: vkTimerTick recomputes every deadline from scratch each
// time, and so does the idle loop. An interrupt that is not due for a
// sample (a sleeper's wake-up) takes none, so samples stay evenly spaced
// and each stands for one period of CPU time. Idle CPUs wake at the
// sampling rate too but record nothing: idle time is not CPU time.
//
// Where samples come from: kernel code runs with interrupts off except
// while spinning for the kernel lock (vkSpinPause) and while idle, so a
// sample lands either in the Go program (user context: the trap came
// from it) or in a thread spinning for the kernel lock (kernel context:
// the kernel frames, then the Go frames of the thread's syscall or trap).
// Time spent in a syscall with interrupts off is seen at the first user
// instruction after it, the syscall's return site.
//
// Trap-context rules for everything vkProfTick calls: no locks (the ring
// is single-producer, single-consumer: the CPU's own interrupt handler
// writes, a reader holding the kernel lock reads), no allocation, no write
// barriers (only uintptr and integer fields; vkTrap's nowritebarrierrec
// checks the callees), and no memory read that could fault: every address
// of the stack walk is checked against the page tables first and bounded
// to the interrupted goroutine's stack (or the thread's kernel stack), and
// from the system stack to the stack of the goroutine that switched to
// it (vkProfSwitched).

package runtime

import (
	"internal/abi"
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkProfMaxHz   = 10_000
	vkProfWords   = 32 // words per ring slot: a header and up to 31 PCs
	vkProfPages   = 16 // ring pages per CPU
	vkProfPerPage = vkPageSize / (vkProfWords * 8)
	vkProfRingLen = vkProfPages * vkProfPerPage // 256 samples per CPU
	vkProfMaxPCs  = vkProfWords - 1
	vkProfMaxUser = 1 << 30 // a goroutine stack larger than this is not believed
)

// Record header (the first word of a sample, here and in the stream
// vkSysProfRead returns): PCs in bits 0-7, how many of them (leading) are
// kernel frames in bits 8-15, CPU in 16-23, session in 24-31, thread id
// in 32-63. PCs are return addresses: the interrupted instruction is
// stored plus one, so a symbolizer that subtracts one from every PC (as
// runtime.CallersFrames does) finds the right line everywhere.
const (
	vkProfHdrKernelShift  = 8
	vkProfHdrCPUShift     = 16
	vkProfHdrSessionShift = 24
	vkProfHdrTIDShift     = 32
)

var vkProf struct {
	on       uint32 // read without the lock by every CPU's timer interrupt
	session  uint64 // counts StartCPUProfile calls; stale records are dropped
	hz       uint64
	periodNs int64
	startNs  int64
}

// vkProfCPU is one CPU's ring and counters.
type vkProfCPU struct {
	head    uint64 // samples written; stored only by this CPU's interrupt handler
	tail    uint64 // samples read; stored only by readers, under the kernel lock
	next    int64  // monotonic time this CPU's next sample is due
	samples uint64 // samples recorded this session
	lost    uint64 // samples dropped because the ring was full
	idle    uint64 // sample ticks that found the CPU idle
	cycles  uint64 // TSC cycles spent recording samples
	pages   [vkProfPages]uintptr
	_       [64]byte // keep CPUs' counters on separate cache lines
}

var vkProfCPUs [vkMaxCPU]vkProfCPU

// vkProfDeadline is vkTimerArm's hook: while profiling, the timer fires
// no later than this CPU's next sample.
func vkProfDeadline(deadline int64) int64 {
	if atomic.Load(&vkProf.on) == 0 {
		return deadline
	}
	next := vkProfCPUs[vkThisCPU().id].next
	if deadline == 0 || next < deadline {
		return next
	}
	return deadline
}

// vkProfTick runs on every LAPIC timer interrupt (trap context, see the
// rules above): fromUser says whether f interrupted the Go program or
// kernel code. It records a sample when one is due.
func vkProfTick(f *vkFrame, fromUser bool) {
	if atomic.Load(&vkProf.on) == 0 {
		return
	}
	c := vkThisCPU()
	p := &vkProfCPUs[c.id]
	t0 := vkRdtsc()
	now := vkCyclesToNs(t0)
	period := vkProf.periodNs
	due := now >= p.next-period/4 // else an interrupt for the scheduler
	if due {
		next := p.next + period
		if next <= now {
			next = now + period // fell behind (interrupts were off): no burst
		}
		p.next = next
	}
	if !fromUser {
		// Nothing on the way back from an interrupted kernel context
		// re-arms the timer, so do it here. Interrupts are on in kernel
		// code only in vkSpinPause and vkIdle, so this cannot tear a
		// vkTimerArm the interrupted code was in the middle of.
		vkTimerArm(0)
		if due && c.cur == c.idleT {
			p.idle++
			return
		}
	}
	if !due {
		return
	}
	h := p.head
	if h-atomic.Load64(&p.tail) >= vkProfRingLen {
		p.lost++
		return
	}
	slot := (*[vkProfWords]uint64)(unsafe.Pointer(p.pages[h%vkProfRingLen/vkProfPerPage] +
		uintptr(h%vkProfPerPage)*vkProfWords*8))
	n, nk := 0, 0
	if fromUser {
		n = vkProfUser(slot, 0, c, f.rip+1, f.rsp, f.rbp)
	} else {
		n = vkProfKernel(slot, c, f)
		nk = n
		if t := vkCur(); t != nil && t.kstackTop == c.kstackTop {
			// The thread entered the kernel from Go code: its frame
			// sits at the top of its kernel stack.
			uf := vkFrameOf(t)
			rip := uf.rip
			if uf.vector != vkVectorSyscall {
				rip++ // an interrupt or fault: rip is the instruction itself
			}
			n = vkProfUser(slot, n, c, rip, uf.rsp, uf.rbp)
		}
	}
	tid := uint64(0)
	if t := vkCur(); t != nil {
		tid = uint64(uint32(t.tid))
	}
	slot[0] = uint64(n) | uint64(nk)<<vkProfHdrKernelShift | uint64(c.id&0xFF)<<vkProfHdrCPUShift |
		(vkProf.session&0xFF)<<vkProfHdrSessionShift | tid<<vkProfHdrTIDShift
	atomic.Store64(&p.head, h+1) // publishes the slot (x86 keeps stores in order)
	p.samples++
	p.cycles += vkRdtsc() - t0
}

// vkProfKernel records the interrupted kernel context (trap context): its
// instruction and the frame-pointer chain within the thread's kernel
// stack, below the user frame at its top. It returns the PCs stored.
func vkProfKernel(slot *[vkProfWords]uint64, c *vkCPU, f *vkFrame) int {
	slot[1] = f.rip + 1
	n := 1
	lo := uintptr(f.rsp)
	hi := c.kstackTop - vkFrameSize
	if lo < c.kstackTop-vkKStackSize || lo >= hi {
		return n // not on the thread's kernel stack: no walk
	}
	return vkProfWalk(slot, n, uintptr(f.rbp), lo, hi)
}

// vkProfUser records a Go context (trap context): pc, then the return
// addresses of the frame-pointer chain from bp. The walk stays inside the
// stack of the goroutine the thread's TLS names (g at FS-8, as the Go
// runtime keeps it on linux/amd64), and only if sp lies in that stack:
// while the runtime switches stacks the two disagree and only pc is
// recorded. It returns the PCs stored in total.
func vkProfUser(slot *[vkProfWords]uint64, n int, c *vkCPU, pc, sp, bp uint64) int {
	if n >= vkProfMaxPCs {
		return n
	}
	slot[1+n] = pc
	n++
	fs := c.userFS
	if fs < vkUserMin+8 {
		return n // no TLS yet: no g to bound the walk
	}
	gpp, ok := vkProfLoad(fs - 8)
	if !ok || gpp == 0 {
		return n
	}
	gp := uintptr(gpp)
	if !vkProfReadable(gp) || !vkProfReadable(gp+unsafe.Sizeof(stack{})-1) {
		return n
	}
	st := (*g)(unsafe.Pointer(gp)).stack
	if uintptr(sp) < st.lo || uintptr(sp) >= st.hi || st.hi-st.lo > vkProfMaxUser {
		return n
	}
	n = vkProfWalk(slot, n, uintptr(bp), uintptr(sp), st.hi)
	return vkProfSwitched(slot, n, gp)
}

// vkProfSwitched continues a walk that ended on the system stack (trap
// context) into the goroutine that switched to it, as Go's own unwinder
// does: without this, every sample in a stack's growth (morestack, then
// newstack and copystack on g0), in systemstack's callees and under mcall
// ends at the switch, and a profile cannot say whose stack grew or whose
// allocation ran the collector. The goroutine's state is in its
// g.sched, which the switch saved: morestack and systemstack store the
// function that switched (pc), its caller's return address at sp, and
// its caller's frame pointer; mcall stores its caller's pc and frame
// pointer. gp is the g in the thread's TLS; nothing is followed unless
// it is its M's g0, the walk's last frame is one of the three switches
// and the goroutine's saved sp lies in its own stack.
func vkProfSwitched(slot *[vkProfWords]uint64, n int, gp uintptr) int {
	if n >= vkProfMaxPCs {
		return n
	}
	mp, ok := vkProfLoad(gp + unsafe.Offsetof(g{}.m))
	if !ok || mp == 0 {
		return n
	}
	g0, ok1 := vkProfLoad(uintptr(mp) + unsafe.Offsetof(m{}.g0))
	cg, ok2 := vkProfLoad(uintptr(mp) + unsafe.Offsetof(m{}.curg))
	if !ok1 || !ok2 || uintptr(g0) != gp || cg == 0 || uintptr(cg) == gp {
		return n
	}
	f := findfunc(uintptr(slot[n]) - 1) // the last frame's return address
	if !f.valid() {
		return n
	}
	id := f.funcID
	if id != abi.FuncID_morestack && id != abi.FuncID_systemstack && id != abi.FuncID_mcall {
		return n
	}
	curg := uintptr(cg)
	if !vkProfReadable(curg) || !vkProfReadable(curg+unsafe.Sizeof(g{})-1) {
		return n
	}
	c := (*g)(unsafe.Pointer(curg))
	st, sched := c.stack, c.sched
	if sched.sp < st.lo || sched.sp >= st.hi || st.hi-st.lo > vkProfMaxUser || sched.pc == 0 {
		return n
	}
	slot[1+n] = uint64(sched.pc)
	n++
	if id != abi.FuncID_mcall && n < vkProfMaxPCs {
		ret, ok := vkProfLoad(sched.sp)
		if !ok || ret == 0 {
			return n
		}
		slot[1+n] = ret
		n++
	}
	return vkProfWalk(slot, n, sched.bp, sched.sp, st.hi)
}

// vkProfWalk follows saved frame pointers from bp while they stay inside
// [lo, hi), 8-byte aligned and strictly increasing (so the walk ends),
// storing each frame's return address (trap context).
func vkProfWalk(slot *[vkProfWords]uint64, n int, bp, lo, hi uintptr) int {
	for n < vkProfMaxPCs {
		if bp < lo || bp+16 > hi || bp&7 != 0 {
			break
		}
		ret, ok1 := vkProfLoad(bp + 8)
		up, ok2 := vkProfLoad(bp)
		if !ok1 || !ok2 || ret == 0 {
			break
		}
		slot[1+n] = ret
		n++
		if uintptr(up) <= bp {
			break
		}
		bp = uintptr(up)
	}
	return n
}

// vkProfLoad reads the aligned word at va if its page is mapped (trap
// context: it cannot fault). A frame another CPU unmaps is not reused
// before this CPU, running with interrupts off, answers the TLB
// shootdown, so a present entry stays readable for the duration.
func vkProfLoad(va uintptr) (uint64, bool) {
	if va&7 != 0 || !vkProfReadable(va) {
		return 0, false
	}
	return *(*uint64)(unsafe.Pointer(va)), true
}

// vkProfReadable walks the page tables for va without creating anything:
// present at every level, 4 KiB, 2 MiB or 1 GiB pages (trap context).
func vkProfReadable(va uintptr) bool {
	if va < vkUserMin || va > vkUserMax && va < vkDMAP {
		return false // the nil page, or not canonical
	}
	table := vkPML4
	for level := 3; level >= 0; level-- {
		e := *(*uint64)(unsafe.Pointer(vkP2V(table) + (va>>(12+9*uint(level))&511)*8))
		if e&ptePresent == 0 {
			return false
		}
		if level > 0 && level < 3 && e&pteHuge != 0 {
			return true
		}
		table = uintptr(e & pteAddr)
	}
	return true
}

// --- system calls (kernel lock held) ---

// vkSysProfStart starts sampling every CPU hz times a second.
func vkSysProfStart(hz uintptr) uintptr {
	if hz < 1 || hz > vkProfMaxHz {
		return vkErr(vkEINVAL)
	}
	if atomic.Load(&vkProf.on) != 0 {
		return vkErr(vkEBUSY)
	}
	for i := 0; i < vkCPUCount; i++ {
		p := &vkProfCPUs[i]
		for j := range p.pages {
			if p.pages[j] != 0 {
				continue
			}
			pa := vkFrameAlloc()
			if pa == 0 {
				return vkErr(vkENOMEM)
			}
			p.pages[j] = vkP2V(pa)
		}
	}
	vkProf.session++
	vkProf.hz = uint64(hz)
	vkProf.periodNs = int64(1_000_000_000 / hz)
	now := vkNanotime()
	vkProf.startNs = now
	for i := 0; i < vkCPUCount; i++ {
		p := &vkProfCPUs[i]
		atomic.Store64(&p.tail, atomic.Load64(&p.head)) // drop unread samples
		p.samples, p.lost, p.idle, p.cycles = 0, 0, 0, 0
		p.next = now + vkProf.periodNs
	}
	atomic.Store(&vkProf.on, 1)
	// Every CPU re-arms its timer with the profiler's deadline: this one
	// now, the others when the reschedule IPI makes them re-evaluate.
	me := vkThisCPU()
	vkTimerArm(me.deadline)
	for i := 0; i < vkCPUCount; i++ {
		if o := &vkCPUs[i]; o != me && o.online != 0 {
			vkSendIPI(o.apicID, vkReschedVector)
		}
	}
	return 0
}

// vkSysProfStop stops sampling. The samples taken stay readable.
func vkSysProfStop() uintptr {
	atomic.Store(&vkProf.on, 0)
	return 0
}

// vkSysProfRead copies whole samples (header, then its PCs; see the
// header layout above) from every CPU's ring into buf and returns the
// bytes written; 0 when there are none.
func vkSysProfRead(buf, n uintptr) uintptr {
	if n < vkProfWords*8 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(buf, n, true) {
		return vkErr(vkEFAULT)
	}
	out := uintptr(0)
	session := vkProf.session & 0xFF
	for i := 0; i < vkCPUCount; i++ {
		p := &vkProfCPUs[i]
		t := atomic.Load64(&p.tail)
		h := atomic.Load64(&p.head)
		for ; t < h; t++ {
			slot := (*[vkProfWords]uint64)(unsafe.Pointer(p.pages[t%vkProfRingLen/vkProfPerPage] +
				uintptr(t%vkProfPerPage)*vkProfWords*8))
			hdr := slot[0]
			words := 1 + uintptr(hdr&0xFF)
			if hdr>>vkProfHdrSessionShift&0xFF != session {
				continue // written by a previous session's last tick
			}
			if out+words*8 > n {
				atomic.Store64(&p.tail, t)
				return out
			}
			for w := uintptr(0); w < words; w++ {
				*(*uint64)(unsafe.Pointer(buf + out + w*8)) = slot[w]
			}
			out += words * 8
		}
		atomic.Store64(&p.tail, t)
	}
	return out
}

// vkProfStats is the layout package kernel reads; append only.
type vkProfStats struct {
	version  uint64
	on       uint64
	hz       uint64
	session  uint64
	startNs  uint64
	tscHz    uint64
	cpus     uint64
	samples  [vkMaxCPU]uint64
	lost     [vkMaxCPU]uint64
	idle     [vkMaxCPU]uint64
	cycles   [vkMaxCPU]uint64
	unread   [vkMaxCPU]uint64
	maxPCs   uint64
	ringSize uint64
}

// vkSysProfStats reports the profiler's counters.
func vkSysProfStats(buf, n uintptr) uintptr {
	var s vkProfStats
	if n < unsafe.Sizeof(s) {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(buf, unsafe.Sizeof(s), true) {
		return vkErr(vkEFAULT)
	}
	s.version = 1
	s.on = uint64(atomic.Load(&vkProf.on))
	s.hz = vkProf.hz
	s.session = vkProf.session
	s.startNs = uint64(vkProf.startNs)
	s.tscHz = vkClock.tscHz
	s.cpus = uint64(vkCPUCount)
	for i := 0; i < vkCPUCount; i++ {
		p := &vkProfCPUs[i]
		s.samples[i] = p.samples
		s.lost[i] = p.lost
		s.idle[i] = p.idle
		s.cycles[i] = p.cycles
		s.unread[i] = atomic.Load64(&p.head) - atomic.Load64(&p.tail)
	}
	s.maxPCs = vkProfMaxPCs
	s.ringSize = vkProfRingLen
	*(*vkProfStats)(unsafe.Pointer(buf)) = s
	return unsafe.Sizeof(s)
}
