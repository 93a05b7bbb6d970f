//go:build velocity

// Velocity kernel: a GDB remote stub on a serial port (kgdb-style).
//
// With the kernel option "debug" (or "debug=wait", which also stops at
// boot before the Go runtime starts) the stub owns COM2 (or the port given
// by "debugport=0xNNN"). It is entered by a breakpoint (#BP), a debug
// exception (#DB: single step, hardware breakpoint or watchpoint), Ctrl-C
// from gdb (COM2's receive interrupt, and polling on the timer tick), and
// instead of exiting on a fatal CPU exception or kernel panic.
//
// Threads are CPUs (thread id = CPU number + 1). The CPU that enters the
// stub becomes its owner and stops the others with an IPI (vkGdbVector);
// they park in their interrupt handler, so gdb can read and write their
// saved registers, until the owner resumes. A single step lets only the
// stepped CPU run. The packet layer (framing, checksums, escapes, register
// layout, target description) is kernel/gdbproto, compiled into this
// package by the build overlay.

package runtime

import (
	"internal/runtime/atomic"
	"internal/runtime/sys"
	"unsafe"
)

const (
	vkGdbVector    = 0xF3 // IPI: park for the debugger
	vkGdbIRQVector = 0x23 // COM2 receive interrupt (ISA IRQ 3 through the IOAPIC)
	vkCOM2         = 0x2F8
	vkGdbMaxBP     = 64

	vkGdbSigInt  = 2
	vkGdbSigTrap = 5

	// Why the stub stopped, for the stop reply.
	vkGdbWhyNone  = 0
	vkGdbWhySW    = 1 // one of our software breakpoints
	vkGdbWhyHW    = 2 // hardware breakpoint
	vkGdbWhyWatch = 3 // write watchpoint
	vkGdbWhyRead  = 4 // read watchpoint
	vkGdbWhyAcc   = 5 // access watchpoint

	vkFlagTF = 1 << 8
	vkFlagIF = 1 << 9
	vkFlagRF = 1 << 16
)

type vkGdbBP struct {
	addr uintptr
	orig byte
	used bool
}

type vkGdbHW struct {
	addr uintptr
	typ  uint8 // Z type: 1 exec, 2 write, 3 read, 4 access
	len  uint8
	used bool
}

var vkGdb struct {
	on   bool
	wait bool
	port uint16

	owner    uint32 // CPU id+1 of the CPU serving gdb; 0 if none
	gen      uint32 // bumped on every resume
	stepOnly uint32 // CPU id+1 allowed to run on resume (single step); 0 = all
	stepIF   bool   // the stepped CPU had interrupts on; restored after the step

	parked    [vkMaxCPU]uint32 // 1 while the CPU waits in vkGdbWait
	parkedGen [vkMaxCPU]uint32 // gen the CPU waits to see change
	frame     [vkMaxCPU]uintptr
	fromUser  [vkMaxCPU]bool

	connected bool // gdb has talked to us and waits for stop replies
	gthread   int  // CPU for g/G/p/P (Hg)
	cthread   int  // CPU for s (Hc); -1 = the owner
	sig       uint8
	why       int
	waddr     uintptr

	bp [vkGdbMaxBP]vkGdbBP
	hw [4]vkGdbHW

	rd   gdbReader
	wr   gdbWriter
	regs gdbRegs
	mem  [gdbPacketSize]byte
}

// Implemented in arch/amd64/cpu_amd64.s.
func vkWriteDR(n int, v uint64)
func vkReadDR6() uint64
func vkReadDR7() uint64

// vkGdbOption handles the kernel options of the stub; it reports whether
// tok was one.
func vkGdbOption(tok []byte) bool {
	switch {
	case string(tok) == "debug":
		vkGdb.on = true
	case string(tok) == "debug=wait":
		vkGdb.on, vkGdb.wait = true, true
	case len(tok) > 10 && string(tok[:10]) == "debugport=":
		v := tok[10:]
		if len(v) > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X') {
			v = v[2:]
		}
		port, rest, ok := gdbParseHex(v)
		if !ok || len(rest) != 0 || port == 0 || port > 0xFFF8 {
			vkCmdlineError("debugport needs a hex I/O port such as 0x2f8", tok)
		}
		vkGdb.port = uint16(port)
	default:
		return false
	}
	return true
}

// vkGdbInit sets the stub up after the command line is parsed: the UART,
// and #DB and #BP on their own interrupt stack, so a breakpoint in code
// that already runs on IST1 (a kernel page fault, say) cannot overwrite it.
func vkGdbInit() {
	if !vkGdb.on {
		return
	}
	if vkGdb.port == 0 {
		vkGdb.port = vkCOM2
	}
	p := vkGdb.port
	vkOutb(p+1, 0x00)
	vkOutb(p+3, 0x80)
	vkOutb(p+0, 0x01) // 115200 baud
	vkOutb(p+1, 0x00)
	vkOutb(p+3, 0x03) // 8N1
	vkOutb(p+2, 0xC7)
	vkOutb(p+4, 0x0B) // DTR, RTS, OUT2 (gates the IRQ line)
	for _, v := range [2]int{1, 3} {
		vkIDT[v][0] = vkIDT[v][0]&^(7<<32) | 2<<32
	}
	vkGdb.cthread = -1
	vkPrint("velocity: gdb stub on serial port ")
	vkGdbPrintPort()
	vkPrint("\n")
}

// vkGdbPrintPort prints the stub's I/O port as 0x2f8.
func vkGdbPrintPort() {
	var buf [6]byte
	buf[0], buf[1] = '0', 'x'
	n := 2
	for shift := 12; shift >= 0; shift -= 4 {
		if d := vkGdb.port >> shift & 15; d != 0 || n > 2 || shift == 0 {
			buf[n] = gdbDigits[d]
			n++
		}
	}
	vkWrite(buf[:n])
}

// vkGdbBootWait is called with the first thread's frame just before it
// enters the Go runtime; with debug=wait it stops there for gdb. It also
// routes the UART's receive interrupt (Ctrl-C) once the IOAPIC is known.
func vkGdbBootWait(f *vkFrame) {
	if !vkGdb.on {
		return
	}
	vkGdbRouteIRQ()
	if vkGdb.wait {
		vkPrint("velocity: debug=wait: waiting for gdb on serial port ")
		vkGdbPrintPort()
		vkPrint("\n")
		vkGdbStop(f, vkGdbSigTrap, vkGdbWhyNone, 0)
	}
}

// vkGdbRouteIRQ sends the UART's IRQ (3 for COM2, 4 for COM1) through the
// first IOAPIC to the boot CPU and enables the receive interrupt.
func vkGdbRouteIRQ() {
	madt := vkACPITable("APIC")
	if madt == 0 {
		return
	}
	irq := uint32(3)
	if vkGdb.port == 0x3F8 || vkGdb.port == 0x3E8 {
		irq = 4
	}
	gsi, flags := irq, uint32(0)
	var ioapic, base uintptr
	length := uintptr(*(*uint32)(unsafe.Pointer(madt + 4)))
	for off := uintptr(44); off+2 <= length; {
		typ := *(*uint8)(unsafe.Pointer(madt + off))
		l := uintptr(*(*uint8)(unsafe.Pointer(madt + off + 1)))
		if l < 2 {
			break
		}
		switch {
		case typ == 1 && ioapic == 0:
			ioapic = uintptr(*(*uint32)(unsafe.Pointer(madt + off + 4)))
			base = uintptr(*(*uint32)(unsafe.Pointer(madt + off + 8)))
		case typ == 2 && uint32(*(*uint8)(unsafe.Pointer(madt + off + 3))) == irq:
			gsi = *(*uint32)(unsafe.Pointer(madt + off + 4))
			flags = uint32(*(*uint16)(unsafe.Pointer(madt + off + 8)))
		}
		off += l
	}
	if ioapic == 0 || uintptr(gsi) < base {
		return
	}
	low := uint32(vkGdbIRQVector)
	if flags&3 == 3 {
		low |= 1 << 13 // active low
	}
	if flags>>2&3 == 3 {
		low |= 1 << 15 // level triggered
	}
	sel := (*uint32)(unsafe.Pointer(vkDMAP + ioapic))
	win := (*uint32)(unsafe.Pointer(vkDMAP + ioapic + 0x10))
	reg := 0x10 + 2*(gsi-uint32(base))
	*sel = reg + 1
	*win = vkCPUs[0].apicID << 24
	*sel = reg
	*win = low
	vkOutb(vkGdb.port+1, 0x01) // interrupt on received data
}

// vkGdbTrap is called first for every kernel entry while the stub is on.
// It reports whether it handled the entry.
func vkGdbTrap(f *vkFrame) bool {
	switch f.vector {
	case 1:
		vkGdbDebugTrap(f)
	case 3:
		vkGdbBreakTrap(f)
	case vkGdbVector:
		vkEOI()
		vkGdbPark(f)
	case vkGdbIRQVector:
		vkEOI()
		vkGdbPollSerial(f)
	case vkTimerVector:
		if vkThisCPU().id == 0 {
			vkGdbPollSerial(f)
		}
		return false
	default:
		return false
	}
	return true
}

// vkGdbPollSerial drains the UART while the kernel runs: Ctrl-C stops it.
// While a CPU serves gdb, the bytes are its packets: a CPU that has not
// parked yet (its tick or the UART's interrupt came first) must leave
// them alone, or it would throw away a request and gdb, after its
// timeouts, would take the late answer for the next one.
func vkGdbPollSerial(f *vkFrame) {
	if atomic.Load(&vkGdb.owner) != 0 {
		return
	}
	stop := false
	for i := 0; i < 64 && vkInb(vkGdb.port+5)&1 != 0; i++ {
		if vkInb(vkGdb.port) == 0x03 {
			stop = true
		}
	}
	if stop {
		vkGdb.connected = true // a debugger is there, waiting for the stop reply
		vkGdbStop(f, vkGdbSigInt, vkGdbWhyNone, 0)
	}
}

// vkGdbBreakTrap handles #BP: rip is just past the INT3.
func vkGdbBreakTrap(f *vkFrame) {
	addr := uintptr(f.rip) - 1
	if vkGdbFindBP(addr) >= 0 {
		f.rip = uint64(addr) // report (and resume) at the breakpoint itself
		vkGdbStop(f, vkGdbSigTrap, vkGdbWhySW, 0)
		return
	}
	if vkGdbMapped(addr, 1) && *(*byte)(unsafe.Pointer(addr)) == 0xCC {
		// An INT3 compiled into the program (runtime.Breakpoint).
		vkGdbStop(f, vkGdbSigTrap, vkGdbWhyNone, 0)
		return
	}
	// A breakpoint removed while this CPU waited to report it: run the
	// original instruction.
	f.rip = uint64(addr)
}

// vkGdbDebugTrap handles #DB: single step, hardware breakpoint or
// watchpoint, told apart by DR6.
func vkGdbDebugTrap(f *vkFrame) {
	dr6 := vkReadDR6()
	vkWriteDR(6, 0)
	why, addr := vkGdbWhyNone, uintptr(0)
	for i := range vkGdb.hw {
		h := &vkGdb.hw[i]
		if dr6&(1<<i) != 0 && h.used {
			addr = h.addr
			switch h.typ {
			case 1:
				why = vkGdbWhyHW
			case 2:
				why = vkGdbWhyWatch
			case 3:
				why = vkGdbWhyRead
			default:
				why = vkGdbWhyAcc
			}
			break
		}
	}
	if why == vkGdbWhyNone && dr6&(1<<14) == 0 && f.rflags&vkFlagTF == 0 {
		return // stale: the breakpoint was removed meanwhile
	}
	vkGdbStop(f, vkGdbSigTrap, why, addr)
}

// vkGdbFault is called instead of exiting on a CPU exception nothing can
// handle. It reports whether the stub took it; the faulting instruction
// runs again on return unless gdb moved rip.
func vkGdbFault(f *vkFrame, sig uint32) bool {
	if !vkGdb.on || atomic.Load(&vkGdb.owner) == vkThisCPU().id+1 {
		return false // a fault inside the stub itself: exit
	}
	vkPrint("velocity: entering the gdb stub\n")
	vkGdbStop(f, uint8(sig), vkGdbWhyNone, 0)
	return true
}

// vkGdbFatal lets gdb look at a kernel panic (vkFatal) before the machine
// exits; the frame is vkFatal's, as if it had hit a breakpoint.
func vkGdbFatal() {
	if !vkGdb.on || atomic.Load(&vkGdb.owner) == vkThisCPU().id+1 {
		return
	}
	var f vkFrame
	f.rip = uint64(sys.GetCallerPC())
	f.rsp = uint64(sys.GetCallerSP())
	f.rbp = uint64(*(*uintptr)(unsafe.Pointer(getfp())))
	f.cs, f.ss, f.rflags = vkSelKernelCode, vkSelKernelData, 2
	f.vector = 3
	vkPrint("velocity: entering the gdb stub\n")
	vkGdbStop(&f, 6, vkGdbWhyNone, 0) // SIGABRT
}

// vkGdbExit tells a connected gdb that the machine is ending.
func vkGdbExit(code int) {
	if !vkGdb.on || !vkGdb.connected {
		return
	}
	w := &vkGdb.wr
	w.gdbStart()
	w.gdbByte('W')
	w.gdbLE(uint64(code), 1)
	vkGdbSend()
}

// --- stopping and resuming the CPUs ---

// vkGdbStop makes this CPU the stub's owner (waiting parked while another
// CPU owns it), stops the others, serves gdb until it resumes, and
// returns to let f continue.
func vkGdbStop(f *vkFrame, sig uint8, why int, addr uintptr) {
	me := vkThisCPU().id
	if atomic.Load(&vkGdb.owner) == me+1 {
		vkPrint("velocity: trap inside the gdb stub\n")
		vkReport(f, 0, false, false)
		vkGdb.on = false
		vkExit(vkExitFatal)
	}
	for !atomic.Cas(&vkGdb.owner, 0, me+1) {
		vkGdbPark(f)
	}
	if why == vkGdbWhySW && vkGdbFindBP(uintptr(f.rip)) < 0 {
		atomic.Store(&vkGdb.owner, 0) // removed while we waited
		return
	}
	vkWriteDR(7, 0) // no watchpoint may fire inside the stub
	if f.rflags&vkFlagTF != 0 {
		f.rflags &^= vkFlagTF
		if vkGdb.stepIF {
			f.rflags |= vkFlagIF
		}
	}
	vkGdb.stepIF = false
	vkGdb.frame[me] = uintptr(unsafe.Pointer(f))
	vkGdb.fromUser[me] = vkFromUser(f)
	vkGdbStopOthers(me)
	vkGdb.sig, vkGdb.why, vkGdb.waddr = sig, why, addr
	vkGdb.gthread, vkGdb.cthread = int(me), -1
	if vkGdb.connected {
		vkGdbStopReply(me)
		vkGdbSend()
	}
	vkGdbServe(me)
}

// vkGdbStopOthers sends the park IPI to every online CPU that is not
// parked for the current generation yet and waits (up to a second) until
// they are.
func vkGdbStopOthers(me uint32) {
	gen := atomic.Load(&vkGdb.gen)
	for i := 0; i < vkCPUCount; i++ {
		c := &vkCPUs[i]
		if uint32(i) == me || atomic.Load(&c.online) == 0 {
			continue
		}
		if atomic.Load(&vkGdb.parked[i]) == 0 || atomic.Load(&vkGdb.parkedGen[i]) != gen {
			vkSendIPI(c.apicID, vkGdbVector)
		}
	}
	deadline := vkNanotime() + 1_000_000_000
	for vkNanotime() < deadline {
		all := true
		for i := 0; i < vkCPUCount; i++ {
			if uint32(i) != me && atomic.Load(&vkCPUs[i].online) != 0 && !vkGdbIsParked(i) {
				all = false
			}
		}
		if all {
			return
		}
	}
}

func vkGdbIsParked(i int) bool {
	return atomic.Load(&vkGdb.parked[i]) != 0 && atomic.Load(&vkGdb.parkedGen[i]) == atomic.Load(&vkGdb.gen)
}

// vkGdbPark stops this CPU while another one serves gdb.
//
// A CPU counts as parked (vkGdbIsParked) only once parkedGen holds the
// current generation, and it stores that only after it has seen an
// owner, committed to wait. A late IPI (nobody is stopped) returns with
// parkedGen still old. Storing the generation first, as this did, let an
// owner that took the stub between the check and the return find the
// CPU parked, send it no IPI, and serve gdb while that CPU ran on: its
// tick then drained gdb's packets from the UART (vkGdbPollSerial) and
// gdb, after its timeouts, took late answers for the next requests. The
// IPI left over from a single step (sent while this CPU was still parked
// for the step's generation) lands right after the resume, when a
// watchpoint just past the step fires too.
func vkGdbPark(f *vkFrame) {
	me := vkThisCPU().id
	gen := atomic.Load(&vkGdb.gen)
	vkGdb.frame[me] = uintptr(unsafe.Pointer(f))
	vkGdb.fromUser[me] = vkFromUser(f)
	atomic.Store(&vkGdb.parked[me], 1)
	if atomic.Load(&vkGdb.owner) == 0 && atomic.Load(&vkGdb.gen) == gen {
		atomic.Store(&vkGdb.parked[me], 0) // nobody is stopped: a late IPI
		return
	}
	atomic.Store(&vkGdb.parkedGen[me], gen)
	vkGdbWait(me, gen)
}

// vkGdbWait spins until a resume lets CPU me run, then loads the debug
// registers gdb configured.
func vkGdbWait(me, gen uint32) {
	for {
		g := atomic.Load(&vkGdb.gen)
		if g != gen {
			if so := atomic.Load(&vkGdb.stepOnly); so == 0 || so == me+1 {
				break
			}
			gen = g // another CPU single-steps: stay
			atomic.Store(&vkGdb.parkedGen[me], gen)
		}
		procyield(10)
	}
	atomic.Store(&vkGdb.parked[me], 0)
	vkGdbLoadDR()
}

// vkGdbResume lets the machine run again: every CPU, or with step >= 0
// only that CPU for one instruction (the others stay parked).
func vkGdbResume(me uint32, step int) {
	for i := 0; i < vkCPUCount; i++ {
		if f := vkGdbFrame(i); f != nil {
			f.rflags |= vkFlagRF // do not re-trigger an instruction breakpoint
		}
	}
	so := uint32(0)
	if step >= 0 {
		f := vkGdbFrame(step)
		if f == nil {
			step, f = int(me), vkGdbFrame(int(me))
		}
		// Interrupts stay off for the step, so it ends on the next
		// instruction and not in an interrupt handler.
		vkGdb.stepIF = f.rflags&vkFlagIF != 0
		f.rflags = f.rflags&^vkFlagIF | vkFlagTF
		so = uint32(step) + 1
	}
	atomic.Store(&vkGdb.stepOnly, so)
	gen := atomic.Load(&vkGdb.gen) + 1
	stay := so != 0 && so != me+1
	if stay {
		atomic.Store(&vkGdb.parkedGen[me], gen)
		atomic.Store(&vkGdb.parked[me], 1)
	}
	atomic.Store(&vkGdb.owner, 0)
	atomic.Store(&vkGdb.gen, gen)
	if stay {
		vkGdbWait(me, gen)
		return
	}
	vkGdbLoadDR()
}

// vkGdbFrame is CPU i's saved frame if it is stopped (owner or parked).
func vkGdbFrame(i int) *vkFrame {
	if i < 0 || i >= vkCPUCount {
		return nil
	}
	if uint32(i)+1 != atomic.Load(&vkGdb.owner) && !vkGdbIsParked(i) {
		return nil
	}
	return (*vkFrame)(unsafe.Pointer(vkGdb.frame[i]))
}

// vkGdbLoadDR programs this CPU's debug registers from vkGdb.hw.
func vkGdbLoadDR() {
	dr7 := uint64(0)
	for i := range vkGdb.hw {
		h := &vkGdb.hw[i]
		if !h.used {
			continue
		}
		vkWriteDR(i, uint64(h.addr))
		rw := uint64(3) // read or write: x86 cannot watch reads alone
		switch h.typ {
		case 1:
			rw = 0
		case 2:
			rw = 1
		}
		ln := uint64(0)
		switch h.len {
		case 2:
			ln = 1
		case 4:
			ln = 3
		case 8:
			ln = 2
		}
		dr7 |= 1<<(2*i) | rw<<(16+4*i) | ln<<(18+4*i)
	}
	vkWriteDR(6, 0)
	if dr7 != 0 {
		dr7 |= 1 << 8 // LE: exact data breakpoints
	}
	vkWriteDR(7, dr7)
}

// --- the packet loop ---

func vkGdbGetc() byte {
	for vkInb(vkGdb.port+5)&1 == 0 {
		procyield(1)
	}
	return vkInb(vkGdb.port)
}

func vkGdbPutc(c byte) {
	for i := 0; i < 1000000 && vkInb(vkGdb.port+5)&0x20 == 0; i++ {
	}
	vkOutb(vkGdb.port, c)
}

// vkGdbSend finishes the packet in vkGdb.wr and transmits it; it stays
// in the buffer for a retransmission on '-'.
func vkGdbSend() {
	for _, c := range vkGdb.wr.gdbFinish() {
		vkGdbPutc(c)
	}
}

func vkGdbResend() {
	for _, c := range vkGdb.wr.buf[:vkGdb.wr.n] {
		vkGdbPutc(c)
	}
}

// Results of vkGdbHandle.
const (
	vkGdbStay = iota
	vkGdbContinue
	vkGdbStep
)

// vkGdbServe answers packets until gdb resumes the machine.
func vkGdbServe(me uint32) {
	r := &vkGdb.rd
	r.gdbReset()
	for {
		switch r.gdbFeed(vkGdbGetc()) {
		case gdbPacket:
			vkGdbPutc('+')
			vkGdb.connected = true
			step := -1
			switch vkGdbHandle(me, r.gdbData(), &step) {
			case vkGdbContinue:
				vkGdbResume(me, -1)
				return
			case vkGdbStep:
				vkGdbResume(me, step)
				return
			}
		case gdbBad:
			vkGdbPutc('-')
		case gdbNak:
			vkGdbResend()
		}
	}
}

func vkGdbTID(cpu int) uint64 { return uint64(cpu) + 1 }

// vkGdbCPUOf maps a thread id to a CPU; 0 and -1 mean "any" (the owner).
func vkGdbCPUOf(id int64, me uint32) (int, bool) {
	if id <= 0 {
		return int(me), true
	}
	cpu := int(id - 1)
	if cpu >= vkCPUCount || atomic.Load(&vkCPUs[cpu].online) == 0 {
		return 0, false
	}
	return cpu, true
}

// vkGdbStopReply writes "T<sig>thread:<id>;<reason>" for CPU cpu.
func vkGdbStopReply(cpu uint32) {
	w := &vkGdb.wr
	w.gdbStart()
	w.gdbByte('T')
	w.gdbLE(uint64(vkGdb.sig), 1)
	w.gdbString("thread:")
	w.gdbNum(vkGdbTID(int(cpu)))
	w.gdbByte(';')
	switch vkGdb.why {
	case vkGdbWhySW:
		w.gdbString("swbreak:;")
	case vkGdbWhyHW:
		w.gdbString("hwbreak:;")
	case vkGdbWhyWatch, vkGdbWhyRead, vkGdbWhyAcc:
		switch vkGdb.why {
		case vkGdbWhyWatch:
			w.gdbString("watch:")
		case vkGdbWhyRead:
			w.gdbString("rwatch:")
		default:
			w.gdbString("awatch:")
		}
		w.gdbNum(uint64(vkGdb.waddr))
		w.gdbByte(';')
	}
}

// vkGdbHandle answers one packet (the reply is sent here) or reports that
// the machine should resume.
func vkGdbHandle(me uint32, p []byte, step *int) int {
	w := &vkGdb.wr
	w.gdbStart()
	if len(p) == 0 {
		vkGdbSend()
		return vkGdbStay
	}
	switch p[0] {
	case '?':
		vkGdbStopReply(me)
	case 'g':
		if !vkGdbLoadRegs(vkGdb.gthread) {
			w.gdbString("E01")
			break
		}
		w.gdbPutRegs(&vkGdb.regs)
	case 'G':
		if !vkGdbLoadRegs(vkGdb.gthread) || !vkGdb.regs.gdbSetRegs(p[1:]) {
			w.gdbString("E01")
			break
		}
		vkGdbStoreRegs(vkGdb.gthread)
		w.gdbString("OK")
	case 'p':
		n, rest, ok := gdbParseHex(p[1:])
		if !ok || len(rest) != 0 || !vkGdbLoadRegs(vkGdb.gthread) || !w.gdbPutReg(&vkGdb.regs, int(n)) {
			w.gdbStart()
			w.gdbString("E01")
		}
	case 'P':
		if !vkGdbLoadRegs(vkGdb.gthread) || !vkGdb.regs.gdbSetReg(p[1:]) {
			w.gdbString("E01")
			break
		}
		vkGdbStoreRegs(vkGdb.gthread)
		w.gdbString("OK")
	case 'm':
		vkGdbReadMem(p[1:])
	case 'M', 'X':
		vkGdbWriteMem(p[0] == 'X', p[1:])
	case 'c', 's', 'C', 'S':
		// [sig;]addr: the signal is ignored, an address sets rip.
		args := p[1:]
		if p[0] == 'C' || p[0] == 'S' {
			_, rest, _ := gdbParseHex(args)
			args = rest
			if len(args) > 0 && args[0] == ';' {
				args = args[1:]
			}
		}
		if a, rest, ok := gdbParseHex(args); ok && len(rest) == 0 {
			if f := vkGdbFrame(int(me)); f != nil {
				f.rip = a
			}
		}
		if p[0] == 's' || p[0] == 'S' {
			*step = int(me)
			if vkGdb.cthread >= 0 {
				*step = vkGdb.cthread
			}
			return vkGdbStep
		}
		return vkGdbContinue
	case 'v':
		switch {
		case gdbEqual(p, "vCont?"):
			w.gdbString("vCont;c;C;s;S")
		case gdbHasPrefix(p, "vCont;"):
			return vkGdbVCont(me, p[5:], step)
		}
	case 'H':
		if len(p) < 3 {
			w.gdbString("E01")
			break
		}
		id, rest, ok := gdbParseThread(p[2:])
		cpu, okCPU := vkGdbCPUOf(id, me)
		if !ok || len(rest) != 0 || !okCPU {
			w.gdbString("E01")
			break
		}
		switch p[1] {
		case 'g':
			vkGdb.gthread = cpu
		case 'c':
			vkGdb.cthread = cpu
			if id <= 0 {
				vkGdb.cthread = -1
			}
		}
		w.gdbString("OK")
	case 'T':
		id, rest, ok := gdbParseThread(p[1:])
		if _, okCPU := vkGdbCPUOf(id, me); !ok || len(rest) != 0 || id <= 0 || !okCPU {
			w.gdbString("E01")
			break
		}
		w.gdbString("OK")
	case 'Z', 'z':
		vkGdbBreak(p[0] == 'Z', p[1:])
	case 'D':
		vkGdbClearAll()
		w.gdbString("OK")
		vkGdbSend()
		vkGdb.connected = false
		return vkGdbContinue
	case 'k':
		vkGdbClearAll()
		vkGdb.connected = false
		vkPrint("velocity: killed by gdb\n")
		vkExit(vkExitSignal + 9)
	case 'q':
		vkGdbQuery(me, p)
	}
	vkGdbSend()
	return vkGdbStay
}

// vkGdbVCont handles "vCont;ACTION[:TID];..." (p starts at the first
// ';'). A step action steps its thread with the others held; otherwise
// every CPU continues.
func vkGdbVCont(me uint32, p []byte, step *int) int {
	for len(p) > 0 && p[0] == ';' {
		p = p[1:]
		if len(p) == 0 {
			break
		}
		act := p[0]
		p = p[1:]
		if act == 'C' || act == 'S' {
			_, p, _ = gdbParseHex(p)
		}
		cpu := int(me)
		if len(p) > 0 && p[0] == ':' {
			id, rest, ok := gdbParseThread(p[1:])
			if !ok {
				break
			}
			p = rest
			if c, ok := vkGdbCPUOf(id, me); ok {
				cpu = c
			}
		}
		if act == 's' || act == 'S' {
			*step = cpu
			return vkGdbStep
		}
	}
	return vkGdbContinue
}

// vkGdbQuery answers the q packets.
func vkGdbQuery(me uint32, p []byte) {
	w := &vkGdb.wr
	switch {
	case gdbHasPrefix(p, "qSupported"):
		w.gdbString("PacketSize=")
		w.gdbNum(gdbPacketSize)
		w.gdbString(";qXfer:features:read+;swbreak+;hwbreak+")
	case gdbHasPrefix(p, "qXfer:features:read:target.xml:"):
		off, n, _, ok := gdbParseAddrLen(p[len("qXfer:features:read:target.xml:"):], gdbPacketSize-1)
		if !ok {
			w.gdbString("E01")
			break
		}
		w.gdbXfer(gdbTargetXML, off, n)
	case gdbHasPrefix(p, "qXfer:features:read:"):
		w.gdbString("E00")
	case gdbEqual(p, "qAttached"):
		w.gdbByte('1')
	case gdbEqual(p, "qC"):
		w.gdbString("QC")
		w.gdbNum(vkGdbTID(int(me)))
	case gdbEqual(p, "qfThreadInfo"):
		w.gdbByte('m')
		first := true
		for i := 0; i < vkCPUCount; i++ {
			if atomic.Load(&vkCPUs[i].online) == 0 && i != int(me) {
				continue
			}
			if !first {
				w.gdbByte(',')
			}
			first = false
			w.gdbNum(vkGdbTID(i))
		}
	case gdbEqual(p, "qsThreadInfo"):
		w.gdbByte('l')
	case gdbHasPrefix(p, "qThreadExtraInfo,"):
		id, _, ok := gdbParseThread(p[len("qThreadExtraInfo,"):])
		cpu, okCPU := vkGdbCPUOf(id, me)
		if !ok || !okCPU {
			w.gdbString("E01")
			break
		}
		vkGdbThreadInfo(cpu)
	}
}

// vkGdbThreadInfo describes CPU cpu: "CPU 1: Go thread 7", "CPU 0:
// idle", "CPU 1: kernel code", "CPU 1: running".
func vkGdbThreadInfo(cpu int) {
	w := &vkGdb.wr
	w.gdbHexString("CPU ")
	vkGdbHexDec(uint64(cpu))
	w.gdbHexString(": ")
	f := vkGdbFrame(cpu)
	c := &vkCPUs[cpu]
	switch {
	case f == nil:
		w.gdbHexString("running (did not stop)")
	case c.cur == c.idleT || c.cur == 0:
		w.gdbHexString("idle")
	case vkGdb.fromUser[cpu]:
		w.gdbHexString("Go thread ")
		vkGdbHexDec(uint64(vkThreadOf(c.cur).tid))
	default:
		w.gdbHexString("kernel code, thread ")
		vkGdbHexDec(uint64(vkThreadOf(c.cur).tid))
	}
}

// vkGdbHexDec appends v in decimal, hex-encoded.
func vkGdbHexDec(v uint64) {
	var buf [20]byte
	vkGdb.wr.gdbHex(buf[:vkPutDec(buf[:], 0, v)])
}

// --- registers ---

// vkGdbLoadRegs fills vkGdb.regs from CPU cpu's saved frame.
func vkGdbLoadRegs(cpu int) bool {
	f := vkGdbFrame(cpu)
	if f == nil {
		return false
	}
	r := &vkGdb.regs
	r.gpr = [17]uint64{f.rax, f.rbx, f.rcx, f.rdx, f.rsi, f.rdi, f.rbp, f.rsp,
		f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15, f.rip}
	r.seg = [7]uint64{f.rflags, f.cs, f.ss, vkSelKernelData, vkSelKernelData, 0, 0}
	c := &vkCPUs[cpu]
	r.gsBase = uint64(c.self)
	r.fx = [512]byte{}
	if vkGdb.fromUser[cpu] {
		r.fsBase = uint64(c.userFS)
		if c.fpu != 0 {
			vkFPUMaterialize(vkThreadOf(c.cur)) // c.fpu is its area
			r.fx = *(*[512]byte)(unsafe.Pointer(c.fpu))
		}
	} else {
		r.fsBase = uint64(c.kernelFS)
	}
	return true
}

// vkGdbStoreRegs writes vkGdb.regs back: the general registers, rip and
// eflags, and the x87/SSE state of Go code. Segments and bases are fixed
// by the kernel and stay as they are.
func vkGdbStoreRegs(cpu int) {
	f := vkGdbFrame(cpu)
	if f == nil {
		return
	}
	r := &vkGdb.regs
	f.rax, f.rbx, f.rcx, f.rdx = r.gpr[0], r.gpr[1], r.gpr[2], r.gpr[3]
	f.rsi, f.rdi, f.rbp, f.rsp = r.gpr[4], r.gpr[5], r.gpr[6], r.gpr[7]
	f.r8, f.r9, f.r10, f.r11 = r.gpr[8], r.gpr[9], r.gpr[10], r.gpr[11]
	f.r12, f.r13, f.r14, f.r15 = r.gpr[12], r.gpr[13], r.gpr[14], r.gpr[15]
	f.rip = r.gpr[16]
	f.rflags = r.seg[0]&0x3F7FD5 | 2 // no VM, IOPL or reserved bits
	c := &vkCPUs[cpu]
	if vkGdb.fromUser[cpu] && c.fpu != 0 {
		// The legacy region of an XSAVE area has the FXSAVE layout;
		// the header must then say x87 and SSE are to be loaded from it.
		vkFPUMaterialize(vkThreadOf(c.cur))
		mask := vkMXCSRMask(c.fpu)
		*(*[512]byte)(unsafe.Pointer(c.fpu)) = r.fx
		vkFPULegacyWritten(c.fpu, mask, true)
	}
}

// --- memory ---

// vkGdbMapped reports whether [va, va+n) is mapped in the kernel's page
// tables, so the stub never faults on gdb's behalf. Read-only pages count
// for writes too: vkGdbStore writes them through an alias.
func vkGdbMapped(va, n uintptr) bool {
	if n == 0 {
		return true
	}
	end := va + n - 1
	if end < va {
		return false
	}
	for p := va &^ 4095; ; p += 4096 {
		if _, size := vkWalk(p); size == 0 {
			return false
		}
		if p >= end&^4095 {
			return true
		}
	}
}

// vkGdbStore writes one byte for gdb: directly where the page is
// writable, and through this CPU's gdb alias (vkPokePA) where it is not:
// text, read-only data, JIT code. A debugger may write any mapped memory,
// as ptrace's POKETEXT does on Linux; nothing else may write code.
func vkGdbStore(va uintptr, b byte) {
	e, size := vkWalk(va)
	switch {
	case size == 0:
	case e&pteWrite != 0:
		*(*byte)(unsafe.Pointer(va)) = b
	default:
		vkPokePA(vkPokeGdb, uintptr(e&pteAddr)&^(size-1)+va&(size-1), b)
	}
}

// vkGdbReadMem answers "m ADDR,LEN": as many bytes as are readable, E14
// if none are. Bytes under our breakpoints read as the original ones.
func vkGdbReadMem(p []byte) {
	w := &vkGdb.wr
	addr, n, _, ok := gdbParseAddrLen(p, gdbPacketSize/2-1)
	if !ok {
		w.gdbString("E01")
		return
	}
	a := uintptr(addr)
	got := uintptr(0)
	for got < uintptr(n) && vkGdbMapped(a+got, 1) {
		chunk := 4096 - (a+got)&4095
		if chunk > uintptr(n)-got {
			chunk = uintptr(n) - got
		}
		for i := uintptr(0); i < chunk; i++ {
			vkGdb.mem[got+i] = *(*byte)(unsafe.Pointer(a + got + i))
		}
		got += chunk
	}
	if got == 0 && n > 0 {
		w.gdbString("E14")
		return
	}
	for i := range vkGdb.bp {
		b := &vkGdb.bp[i]
		if b.used && b.addr >= a && b.addr < a+got {
			vkGdb.mem[b.addr-a] = b.orig
		}
	}
	w.gdbHex(vkGdb.mem[:got])
}

// vkGdbWriteMem answers "M ADDR,LEN:HEX" and "X ADDR,LEN:BINARY".
func vkGdbWriteMem(binary bool, p []byte) {
	w := &vkGdb.wr
	addr, n, rest, ok := gdbParseAddrLen(p, gdbPacketSize)
	if !ok || len(rest) == 0 || rest[0] != ':' {
		w.gdbString("E01")
		return
	}
	data := rest[1:]
	if binary {
		if uint64(len(data)) != n {
			w.gdbString("E01")
			return
		}
		copy(vkGdb.mem[:], data)
	} else if k, ok := gdbDecodeHex(vkGdb.mem[:], data); !ok || uint64(k) != n || uint64(len(data)) != 2*n {
		w.gdbString("E01")
		return
	}
	a := uintptr(addr)
	if !vkGdbMapped(a, uintptr(n)) {
		w.gdbString("E14")
		return
	}
	for i := uintptr(0); i < uintptr(n); i++ {
		v := vkGdb.mem[i]
		if j := vkGdbFindBP(a + i); j >= 0 {
			vkGdb.bp[j].orig = v // keep the INT3; the new byte shows when it goes
			continue
		}
		vkGdbStore(a+i, v)
	}
	w.gdbString("OK")
}

// --- breakpoints ---

func vkGdbFindBP(addr uintptr) int {
	for i := range vkGdb.bp {
		if vkGdb.bp[i].used && vkGdb.bp[i].addr == addr {
			return i
		}
	}
	return -1
}

// vkGdbBreak answers Z and z: software breakpoints by INT3 (type 0),
// hardware breakpoints and watchpoints through DR0-DR3 (types 1-4).
func vkGdbBreak(insert bool, p []byte) {
	w := &vkGdb.wr
	typ, addr64, kind, ok := gdbParseBreak(p)
	if !ok {
		w.gdbString("E01")
		return
	}
	addr := uintptr(addr64)
	if typ == 0 {
		i := vkGdbFindBP(addr)
		switch {
		case !insert:
			if i >= 0 {
				vkGdbStore(addr, vkGdb.bp[i].orig)
				vkGdb.bp[i].used = false
			}
		case i >= 0:
		case !vkGdbMapped(addr, 1):
			w.gdbString("E14")
			return
		default:
			for j := range vkGdb.bp {
				if !vkGdb.bp[j].used {
					i = j
					break
				}
			}
			if i < 0 {
				w.gdbString("E28") // ENOSPC
				return
			}
			b := &vkGdb.bp[i]
			b.addr, b.orig, b.used = addr, *(*byte)(unsafe.Pointer(addr)), true
			vkGdbStore(addr, 0xCC)
		}
		w.gdbString("OK")
		return
	}
	if typ == 1 {
		kind = 1
	}
	if kind != 1 && kind != 2 && kind != 4 && kind != 8 || addr&uintptr(kind-1) != 0 {
		w.gdbString("E22") // EINVAL: gdb splits other ranges itself
		return
	}
	free := -1
	for i := range vkGdb.hw {
		h := &vkGdb.hw[i]
		if h.used && h.addr == addr && h.typ == uint8(typ) && h.len == uint8(kind) {
			if !insert {
				h.used = false
			}
			w.gdbString("OK")
			return
		}
		if !h.used && free < 0 {
			free = i
		}
	}
	if !insert {
		w.gdbString("OK")
		return
	}
	if free < 0 {
		w.gdbString("E28")
		return
	}
	vkGdb.hw[free] = vkGdbHW{addr: addr, typ: uint8(typ), len: uint8(kind), used: true}
	w.gdbString("OK")
}

// vkGdbClearAll removes every breakpoint and watchpoint (detach, kill).
func vkGdbClearAll() {
	for i := range vkGdb.bp {
		b := &vkGdb.bp[i]
		if b.used {
			vkGdbStore(b.addr, b.orig)
			b.used = false
		}
	}
	for i := range vkGdb.hw {
		vkGdb.hw[i].used = false
	}
}
