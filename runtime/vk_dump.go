//go:build velocity

// Velocity kernel: a dump of every CPU and thread on a non-maskable
// interrupt, for a machine that hangs.
//
// A guest that stops making progress says nothing: Go's own timeout
// traceback needs a scheduler that still runs goroutines, and a lost
// wakeup in the kernel is exactly what stops that. An NMI still gets
// through (it ignores RFLAGS.IF and arrives on its own stack, IST2), so
// QEMU's monitor command `nmi`, which velocity run and velocity test send
// when a guest outlives its -timeout, makes the kernel print what each CPU
// was running, its run queue and timer heap, the locks held, and every
// thread with its state, what it waits on and the system call it is in.
// It is Linux's SysRq-l and SysRq-t in one.
//
// QEMU delivers the NMI to every CPU. Each records where it was; the first
// to arrive waits (briefly) for the others, prints, and lets them go. The
// others spin meanwhile, so the picture is not torn by their own work.
//
// Trap context, on any CPU, at any instruction, with any lock held by
// anyone (this CPU included): no locks, no allocation, no write barriers,
// and interrupts stay off throughout (spins use PAUSE alone, not
// vkSpinPause's STI window): an interrupt nested into the NMI would run on
// the IST1 stack that the interrupted handler may still be using, and its
// IRET would let a second NMI in.
// Everything shared is read without its lock; a thread that changes state
// while the dump runs can print inconsistent fields, which a diagnostic
// can live with.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

// vkSysVelocityDump is velocity_dump: the dump on request (vkSysDump).
const vkSysVelocityDump = 0x5608

func vkCallVelocityDump(f *vkFrame, canBlock bool) uintptr { return vkSysDump() }

var vkDump struct {
	owner   uint32 // CPU id + 1 of the CPU printing, 0 if none
	request bool   // the dump being printed was asked for (velocity_dump), not an NMI
	arrived uint32 // CPUs that have recorded themselves for this dump
	lastEnd int64  // when the last dump ended
	dumps   uint32 // dumps printed
	rip     [vkMaxCPU]uint64
	user    [vkMaxCPU]bool
	in      [vkMaxCPU]uint32 // 1 while CPU i waits in vkNMI
}

// vkNMI answers a non-maskable interrupt with a dump (see above).
func vkNMI(f *vkFrame) {
	c := vkThisCPU()
	me := c.id
	vkDump.rip[me] = f.rip
	vkDump.user[me] = vkFromUser(f)
	if atomic.Load(&vkDump.owner) == me+1 {
		return // it interrupted this CPU's own dump on request: that one goes on
	}
	atomic.Store(&vkDump.in[me], 1)
	atomic.Xadd(&vkDump.arrived, 1)
	if !atomic.Cas(&vkDump.owner, 0, me+1) {
		// Another CPU prints: wait until it has finished.
		for atomic.Load(&vkDump.owner) != 0 {
			procyield(10) // not vkSpinPause: no interrupt may nest into an NMI
		}
		atomic.Store(&vkDump.in[me], 0)
		return
	}
	now := vkNanotime()
	if last := vkDump.lastEnd; last != 0 && now-last < 200_000_000 {
		// The straggler of a dump that has just ended (its CPU took the
		// NMI after the printer gave up waiting for it): one dump is
		// enough.
		atomic.Store(&vkDump.arrived, 0)
		atomic.Store(&vkDump.in[me], 0)
		atomic.Store(&vkDump.owner, 0)
		return
	}
	online := 0
	for i := 0; i < vkCPUCount; i++ {
		if atomic.Load(&vkCPUs[i].online) != 0 {
			online++
		}
	}
	for deadline := now + 100_000_000; int(atomic.Load(&vkDump.arrived)) < online && vkNanotime() < deadline; {
		procyield(10) // not vkSpinPause: no interrupt may nest into an NMI
	}
	vkDumpPrint(now, "NMI dump")
	vkDump.dumps++
	vkDump.lastEnd = vkNanotime()
	atomic.Store(&vkDump.arrived, 0)
	atomic.Store(&vkDump.in[me], 0)
	atomic.Store(&vkDump.owner, 0)
}

var vkThreadStateNames = [...]string{
	thFree: "free", thRunnable: "runnable", thRunning: "running",
	thBlocked: "blocked", thDead: "dead", thIdle: "idle",
}

// vkSysDump serves velocity_dump (0x5608), the dump on request (the
// shell's `threads`, kernel.Dump): the same text, printed on the console
// by the calling thread with the kernel lock held. The other CPUs are not
// stopped, so their lines say what they run but not where, and a thread
// may change while it is printed. EBUSY while another dump prints.
func vkSysDump() uintptr {
	me := vkThisCPU().id
	if !atomic.Cas(&vkDump.owner, 0, me+1) {
		return vkErr(vkEBUSY)
	}
	vkDump.request = true
	vkDumpPrint(vkNanotime(), "dump on request")
	vkDump.request = false
	vkDump.dumps++
	atomic.Store(&vkDump.owner, 0)
	return 0
}

// vkDumpPrint prints the dump under title; now is when it was asked for.
func vkDumpPrint(now int64, title string) {
	vkPrint("\n=== velocity: ")
	vkPrint(title)
	vkPrint(" at ")
	vkPrintFixed(now/1_000_000, 3)
	vkPrint(" s: ")
	vkPrintDec(int64(vkSched.nthreads))
	vkPrint(" threads, ")
	vkPrintDec(int64(vkCPUCount))
	vkPrint(" CPUs ===\n")
	for i := 0; i < vkCPUCount; i++ {
		vkDumpCPU(i, now)
	}
	vkDumpLocks()
	vkDumpDevices()
	for i := 0; i < len(vkSched.threads); i++ {
		p := atomic.Loaduintptr(&vkSched.threads[i])
		if p == 0 {
			continue
		}
		if t := vkThreadOf(p); t.state != thFree && t.state != thIdle {
			vkDumpThread(t, now)
		}
	}
	vkDumpGo()
	vkPrint("=== end of ")
	vkPrint(title)
	vkPrint(" ===\n")
}

// vkDumpDevices prints the device interrupts' state: interrupts taken and
// not yet counted, deferred work, and per routed line the interrupts
// counted and its eventfd's count; for an INTx line also the I/O APIC's
// entry (bit 14, remote IRR, set while the line is idle: an EOI never
// reached it, and the line is deaf) and, for this CPU, the local APIC's
// in-service and requested vectors in 0x20-0x3F (a device vector stuck in
// service blocks every vector at or below its priority). A card that
// stopped answering shows here whether its interrupt came, was counted
// and woke the driver. The I/O APIC is read without its users' order (a
// select then a read): it is only written while routing a line.
func vkDumpDevices() {
	vkPrint("devices: not yet counted ")
	vkPrintHex(uint64(atomic.Load(&vkDev.pending)))
	vkPrint(", deferred work ")
	vkPrintDec(int64(atomic.Load(&vkIRQPending)))
	vkPrint(", local APIC in service ")
	vkPrintHex(uint64(*vkLAPIC(0x110))) // ISR bits 32-63
	vkPrint(" requested ")
	vkPrintHex(uint64(*vkLAPIC(0x210))) // IRR bits 32-63
	vkPrint("\n")
	for line := 0; line < len(vkDev.routed); line++ {
		if !vkDev.routed[line] {
			continue
		}
		vkPrint("  line ")
		vkPrintDec(int64(line))
		vkPrint(": ")
		vkPrintDec(int64(vkDev.count[line]))
		vkPrint(" interrupts")
		if e := vkDev.efd[line]; e != 0 {
			vkPrint(", eventfd count ")
			vkPrintDec(int64(vkFileAt(e - 1).counter))
		}
		if line < vkDevLines {
			if rte, ok := vkIOAPICEntry(line); ok {
				vkPrint(", I/O APIC entry ")
				vkPrintHex(uint64(rte))
			}
		}
		vkPrint("\n")
	}
	vkDumpRings()
}

// vkDumpRings prints the network driver's queues as the device sees them
// (the indexes and flags in the rings, read through the direct map) next
// to how far the driver got: after the last used index, a used index
// ahead of the driver's while it sleeps is a completion whose interrupt
// never woke it; avail idx equal to used idx is a ring with no buffer
// for the device; used_event behind used idx with no interrupt taken is
// one the device did not send. The registered table is checked again
// (vkRingOK): the driver may have rewritten it.
func vkDumpRings() {
	if vkDev.rings == 0 {
		return
	}
	rings := (*[2]vkRingInfo)(unsafe.Pointer(vkDev.rings))
	for i := range rings {
		r := &rings[i]
		if !vkRingOK(r) {
			continue
		}
		size := uintptr(atomic.Load64(&r.size))
		avail := vkP2V(uintptr(atomic.Load64(&r.availPA)))
		used := vkP2V(uintptr(atomic.Load64(&r.usedPA)))
		vkPrint("  ")
		vkPrint([...]string{"rx", "tx"}[i])
		vkPrint(" ring: ")
		vkPrintDec(int64(size))
		vkPrint(" entries, avail")
		vkPrintRingHalf(avail, 4+2*size, "used_event")
		vkPrint("; used")
		vkPrintRingHalf(used, 4+8*size, "avail_event")
		vkPrint("; driver at ")
		vkPrintDec(int64(atomic.Load64(&r.lastUsed)))
		if atomic.Load64(&r.waiting) != 0 {
			vkPrint(", asleep for its interrupt")
		}
		vkPrint("\n")
	}
}

// vkPrintRingHalf prints a virtqueue ring's index and flags (the 16-bit
// words at base+2 and base) and the event index at base+event, named
// name, which the other side wrote there.
func vkPrintRingHalf(base, event uintptr, name string) {
	vkPrint(" idx ")
	vkPrintDec(int64(*(*uint16)(unsafe.Pointer(base + 2))))
	vkPrint(" flags ")
	vkPrintHex(uint64(*(*uint16)(unsafe.Pointer(base))))
	vkPrint(" ")
	vkPrint(name)
	vkPrint(" ")
	vkPrintDec(int64(*(*uint16)(unsafe.Pointer(base + event))))
}

var vkPStatusNames = [...]string{_Pidle: "idle", _Prunning: "running", _Psyscall_unused: "syscall", _Pgcstop: "gcstop", _Pdead: "dead"}

// vkDumpGo prints the Go scheduler as the runtime sees it, beside the
// kernel's threads: each P with its M (by thread id), goroutine, local run
// queue and runnext; each M with its P and goroutine; and the scheduler's
// stop-the-world and sysmon state. A stall above the kernel shows here
// (a P that a stop-the-world waits for, runnable goroutines no M takes),
// one below it in the threads above. Read without the runtime's locks.
func vkDumpGo() {
	vkPrint("go: gomaxprocs ")
	vkPrintDec(int64(gomaxprocs))
	vkPrint(", idle Ps ")
	vkPrintDec(int64(sched.npidle.Load()))
	vkPrint(", spinning Ms ")
	vkPrintDec(int64(sched.nmspinning.Load()))
	vkPrint(", global run queue ")
	vkPrintDec(int64(sched.runq.size))
	if sched.gcwaiting.Load() {
		vkPrint(", stopping the world (waiting for ")
		vkPrintDec(int64(sched.stopwait))
		vkPrint(" Ps)")
	}
	if sched.sysmonwait.Load() {
		vkPrint(", sysmon asleep")
	}
	vkPrint("\n")
	for i := 0; i < len(allp); i++ {
		pp := allp[i]
		if pp == nil {
			continue
		}
		vkPrint("  P")
		vkPrintDec(int64(pp.id))
		vkPrint(" ")
		if s := int(pp.status); s < len(vkPStatusNames) {
			vkPrint(vkPStatusNames[s])
		} else {
			vkPrintDec(int64(s))
		}
		if mp := pp.m.ptr(); mp != nil {
			vkPrint(", M on thread ")
			vkPrintDec(int64(mp.procid))
			vkDumpG(", goroutine ", mp.curg)
		}
		vkPrint(", run queue ")
		vkPrintDec(int64(pp.runqtail - pp.runqhead))
		vkDumpG(", runnext ", pp.runnext.ptr())
		vkPrint("\n")
	}
	n := 0
	for mp := allm; mp != nil && n < vkMaxThreads; mp = mp.alllink {
		n++
		vkPrint("  M on thread ")
		vkPrintDec(int64(mp.procid))
		if pp := mp.p.ptr(); pp != nil {
			vkPrint(", P")
			vkPrintDec(int64(pp.id))
		}
		if mp.spinning {
			vkPrint(", spinning")
		}
		vkDumpG(", goroutine ", mp.curg)
		vkDumpG(", locked to ", mp.lockedg.ptr())
		vkPrint("\n")
	}
}

// vkDumpG prints label and goroutine gp's id and status, if gp is not nil.
func vkDumpG(label string, gp *g) {
	if gp == nil {
		return
	}
	vkPrint(label)
	vkPrintDec(int64(gp.goid))
	vkPrint(" (")
	if s := readgstatus(gp) &^ _Gscan; s < uint32(len(gStatusStrings)) && gStatusStrings[s] != "" {
		vkPrint(gStatusStrings[s])
	} else {
		vkPrintDec(int64(s))
	}
	vkPrint(")")
}

// vkDumpCPU prints one CPU: where it was, its run queue and timer heap.
func vkDumpCPU(i int, now int64) {
	c := &vkCPUs[i]
	vkPrint("cpu ")
	vkPrintDec(int64(i))
	if atomic.Load(&c.online) == 0 {
		vkPrint(": offline\n")
		return
	}
	vkPrint(": ")
	cur := c.cur
	switch {
	case cur == 0:
		vkPrint("no thread")
	case cur == c.idleT:
		if c.idle != 0 {
			vkPrint("idle (halted)")
		} else {
			vkPrint("idle thread")
		}
	default:
		vkPrint("thread ")
		vkPrintDec(int64(vkThreadOf(cur).tid))
	}
	if atomic.Load(&vkDump.in[i]) != 0 {
		if vkDump.user[i] {
			vkPrint(" in Go code at ")
		} else {
			vkPrint(" in the kernel at ")
		}
		vkPrintPC(uintptr(vkDump.rip[i]))
	} else if vkDump.request {
		if uint32(i) == vkThisCPU().id {
			vkPrint(", printing this dump")
		} else {
			vkPrint(", not stopped")
		}
	} else {
		vkPrint(", did not answer the NMI")
	}
	vkPrint("\n  run queue ")
	vkPrintDec(int64(c.runqLen))
	n := 0
	for p := c.runqHead; p != 0 && n < 16; p = vkThreadOf(p).next {
		if n == 0 {
			vkPrint(":")
		}
		vkPrint(" ")
		vkPrintDec(int64(vkThreadOf(p).tid))
		n++
	}
	h := &vkTimers[i]
	vkPrint("; timer heap ")
	vkPrintDec(int64(h.n))
	if next := int64(atomic.Load64((*uint64)(unsafe.Pointer(&h.next)))); next != 0 {
		vkPrint(", next ")
		vkPrintRel(next, now)
	}
	vkPrint("; tick ")
	if c.deadline != 0 {
		vkPrintRel(c.deadline, now)
	} else {
		vkPrint("not armed")
	}
	vkPrint("; ")
	vkPrintDec(int64(c.ticks))
	vkPrint(" ticks, ")
	vkPrintDec(int64(c.syscalls))
	vkPrint(" system calls\n")
}

// vkDumpLocks names the kernel locks held and by which CPU.
func vkDumpLocks() {
	vkPrint("locks held:")
	n := vkDumpHeld("kernel (BKL)", -1, &vkBKL, 0)
	n = vkDumpHeld("mappings", -1, &vkMapLock.w, n)
	n = vkDumpHeld("frame allocator", -1, &vkFrameLock, n)
	n = vkDumpHeld("fd table", -1, &vkFDLock, n)
	for i := 0; i < vkCPUCount; i++ {
		n = vkDumpHeld("run queue", i, &vkRunqLk[i], n)
		n = vkDumpHeld("timer heap", i, &vkTimers[i].lock, n)
		n = vkDumpHeld("frame cache", i, &vkFrameCaches[i].lock, n)
	}
	for i := range vkFutexTab {
		n = vkDumpHeld("futex bucket", i, &vkFutexTab[i].lock, n)
	}
	for i := range vkPipes {
		n = vkDumpHeld("pipe", i, &vkPipes[i].lock, n)
	}
	if r := atomic.Load(&vkMapLock.state) &^ vkRWWriter; r != 0 {
		vkPrint(" mappings shared by ")
		vkPrintDec(int64(r))
		vkPrint(" CPUs;")
		n++
	}
	if n == 0 {
		vkPrint(" none")
	}
	vkPrint("\n")
}

func vkDumpHeld(name string, idx int, l *vkSpin, n int) int {
	if atomic.Load(&l.word) == 0 {
		return n
	}
	vkPrint(" ")
	vkPrint(name)
	if idx >= 0 {
		vkPrint(" ")
		vkPrintDec(int64(idx))
	}
	vkPrint(" by cpu ")
	vkPrintDec(int64(atomic.Load(&l.owner)) - 1)
	if s := atomic.Load64(&l.sleepers); s != 0 {
		// CPUs halted waiting for it (vkSpinSleep): they show as
		// halted at vkIdle inside a thread, not as idle.
		vkPrint(", halted waiting:")
		for i := 0; i < vkMaxCPU; i++ {
			if s&(1<<i) != 0 {
				vkPrint(" cpu ")
				vkPrintDec(int64(i))
			}
		}
	}
	vkPrint(";")
	return n + 1
}

// vkDumpThread prints one thread: state, CPU, wait, signals, and the
// system call or trap it entered the kernel by (the frame at the top of
// its kernel stack, which for a thread running Go code is its last entry).
func vkDumpThread(t *vkThread, now int64) {
	vkPrint("thread ")
	vkPrintDec(int64(t.tid))
	vkPrint(" ")
	if s := int(t.state); s >= 0 && s < len(vkThreadStateNames) {
		vkPrint(vkThreadStateNames[s])
	} else {
		vkPrintDec(int64(s))
	}
	if t.onCPU >= 0 {
		vkPrint(" on cpu ")
		vkPrintDec(int64(t.onCPU))
	} else {
		vkPrint(", last cpu ")
		vkPrintDec(int64(t.lastCPU))
	}
	if all := vkAllCPUs(); t.affinity&all != all {
		vkPrint(", affinity ")
		vkPrintHex(t.affinity)
	}
	if t.requeue {
		vkPrint(", requeue")
	}
	if t.waitAddr != 0 {
		vkPrint(", waits on ")
		vkPrintHex(uint64(t.waitAddr))
	}
	if t.deadline != 0 {
		vkPrint(", deadline ")
		vkPrintRel(t.deadline, now)
	}
	if t.timerCPU >= 0 {
		vkPrint(" (timer heap ")
		vkPrintDec(int64(t.timerCPU))
		vkPrint(" #")
		vkPrintDec(int64(t.timerIdx))
		vkPrint(")")
	}
	if t.pending != 0 {
		vkPrint(", signals pending ")
		vkPrintHex(t.pending)
		vkPrint(" masked ")
		vkPrintHex(t.sigmask)
	}
	vkPrint("\n  ")
	if t.kstackTop == 0 {
		vkPrint("no kernel stack\n")
		return
	}
	f := vkFrameOf(t)
	switch {
	case f.vector == vkVectorSyscall:
		vkPrint("in ")
		vkPrintSyscallCall(f.err, f) // f.err: the number, as orig_rax (vkSyscallTrap)
		vkPrint(" from ")
	case f.vector < 32:
		vkPrint("entered by ")
		vkPrint(vkExceptionNames[f.vector])
		vkPrint(" at ")
	default:
		vkPrint("entered by interrupt ")
		vkPrintHexShort(f.vector)
		vkPrint(" at ")
	}
	vkPrintPC(uintptr(f.rip))
	vkPrint("\n")
}

// vkPrintRel prints a monotonic time relative to now, in milliseconds.
func vkPrintRel(t, now int64) {
	d := (t - now) / 1000
	if d >= 0 {
		vkPrint("+")
	} else {
		vkPrint("-")
		d = -d
	}
	vkPrintFixed(d, 3)
	vkPrint(" ms")
}

// vkPrintPC prints pc as function+offset when it is Go code, else in hex.
func vkPrintPC(pc uintptr) {
	vkPrintHex(uint64(pc))
	if fi := findfunc(pc); fi.valid() {
		vkPrint(" ")
		vkPrint(funcname(fi))
		vkPrint("+")
		vkPrintHexShort(uint64(pc - fi.entry()))
	}
}

// vkPrintHexShort prints v in hex without leading zeros.
func vkPrintHexShort(v uint64) {
	const digits = "0123456789abcdef"
	var buf [18]byte
	i := len(buf)
	for {
		i--
		buf[i] = digits[v&0xF]
		v >>= 4
		if v == 0 {
			break
		}
	}
	i -= 2
	buf[i], buf[i+1] = '0', 'x'
	vkWrite(buf[i:])
}
