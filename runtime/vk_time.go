//go:build velocity

// Velocity kernel: clocks and the timer.
//
// The TSC is the clock. Its rate is measured against the PIT (or taken from
// CPUID 0x15 when the CPU reports it) once at boot, as is the LAPIC timer's,
// which then fires one-shot at the next deadline: a sleeping thread's
// wake-up or the end of the running thread's time slice.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkLAPICPhys   = 0xFEE00000
	lapicID       = 0x20
	lapicTPR      = 0x80
	lapicEOI      = 0xB0
	lapicSVR      = 0xF0
	lapicLVTTimer = 0x320
	lapicLVTLINT1 = 0x360
	lapicInitCnt  = 0x380
	lapicCurCnt   = 0x390
	lapicDivide   = 0x3E0

	vkTimerVector    = 32
	vkSpuriousVector = 0xFF
	vkQuantumNs      = 10_000_000
)

var vkClock struct {
	tscHz     uint64
	tscMult   uint64 // ns = cycles * tscMult >> 32 (see vkCyclesToNs)
	lapicHz   uint64
	lapicBase uintptr
	rtcUnixNs int64 // wall clock read from the RTC at boot
	rtcMonoNs int64 // monotonic time of that reading
	tscCPUID  bool  // the TSC rate came from CPUID 0x15, not the PIT (a flag, not a string: boot stores no pointers)
	deadline  int64 // programmed one-shot deadline, 0 = none
}

func vkCyclesToNs(c uint64) int64 {
	m := vkClock.tscMult
	return int64((c>>32)*m + (c&0xFFFFFFFF)*m>>32)
}

// vkNanotime is CLOCK_MONOTONIC: nanoseconds since power-on (the TSC
// starts at zero at reset).
func vkNanotime() int64 { return vkCyclesToNs(vkRdtsc()) }

func vkWalltime() int64 { return vkClock.rtcUnixNs + vkNanotime() - vkClock.rtcMonoNs }

func vkLAPIC(reg uintptr) *uint32 {
	return (*uint32)(unsafe.Pointer(vkClock.lapicBase + reg))
}

// vkPITWait starts PIT channel 2 for count ticks (1.193182 MHz) and returns
// a function-free busy wait for its output to rise.
func vkPITStart(count uint16) {
	g := vkInb(0x61)
	vkOutb(0x61, g&^0x03) // gate low, speaker off
	vkOutb(0x43, 0xB0)    // channel 2, lo/hi byte, mode 0
	vkOutb(0x42, uint8(count))
	vkOutb(0x42, uint8(count>>8))
	vkOutb(0x61, g&^0x02|0x01) // gate high: counting starts
}

func vkPITDone() bool { return vkInb(0x61)&0x20 != 0 }

// vkPITSample reads PIT channel 2's count with the TSC and the LAPIC
// timer's count beside it: of three tries, the one whose TSC reads
// before and after are closest (the TSC returned is their midpoint).
func vkPITSample() (tsc uint64, pit uint16, lapic uint32) {
	best := ^uint64(0)
	for i := 0; i < 3; i++ {
		t0 := vkRdtsc()
		vkOutb(0x43, 0x80) // latch channel 2
		lo := vkInb(0x42)
		hi := vkInb(0x42)
		l := *vkLAPIC(lapicCurCnt)
		t1 := vkRdtsc()
		if t1-t0 < best {
			best = t1 - t0
			tsc, pit, lapic = t0+(t1-t0)/2, uint16(hi)<<8|uint16(lo), l
		}
	}
	return
}

func vkTimeInit() {
	vkClock.lapicBase = vkDMAP + vkLAPICPhys
	// Enable the LAPIC: software enable + spurious vector; accept all.
	vkWrmsr(msrAPICBase, vkRdmsr(msrAPICBase)|1<<11)
	*vkLAPIC(lapicSVR) = 0x100 | vkSpuriousVector
	*vkLAPIC(lapicTPR) = 0
	vkLINT1NMI()
	// The BSP is CPU 0 in flat logical mode, as vkLAPICInit makes each AP
	// its own bit: without it no I/O APIC interrupt aimed at CPU 0 (all
	// of them at -smp 1, or with irqcpus=0) was ever delivered.
	*vkLAPIC(lapicDFR) = 0xFFFFFFFF
	*vkLAPIC(lapicLDR) = 1 << 24
	*vkLAPIC(lapicDivide) = 0x3                     // divide by 16
	*vkLAPIC(lapicLVTTimer) = 1<<16 | vkTimerVector // masked while measuring

	// CPUID 0x15 gives the TSC rate directly on CPUs that report it.
	if max, _, _, _ := vkCpuid(0, 0); max >= 0x15 {
		den, num, crystal, _ := vkCpuid(0x15, 0)
		if den != 0 && num != 0 && crystal != 0 {
			vkClock.tscHz = uint64(crystal) * uint64(num) / uint64(den)
			vkClock.tscCPUID = true
		}
	}

	// Measure against the PIT: TSC always, LAPIC timer too, over at least
	// 10 ms (11932 PIT ticks). The PIT's count is read (latched) at both
	// ends, each time between two TSC reads, so the interval is what the
	// PIT counted between the two samples, not "until it expired": under
	// TCG on a loaded host the vCPU thread can be descheduled for
	// milliseconds, and a measurement that waited for the PIT to expire
	// and then read the TSC once counted that time too (one boot read
	// 23 GHz, another 122 MHz). A sample whose two TSC reads are far apart
	// was descheduled itself: the narrowest of three is kept.
	const ticks = 11932
	var tscHz, lapicHz uint64
	for try := 0; try < 20 && tscHz == 0; try++ {
		*vkLAPIC(lapicInitCnt) = 0xFFFFFFFF
		vkPITStart(0xFFFF) // counts down for 54.9 ms
		ta, ca, la := vkPITSample()
		var tb uint64
		var cb uint16
		var lb uint32
		for {
			tb, cb, lb = vkPITSample()
			if vkPITDone() || ca-cb >= ticks {
				break
			}
		}
		if vkPITDone() || ca <= cb {
			continue // wrapped past the terminal count: descheduled too long
		}
		tscHz = (tb - ta) * 1193182 / uint64(ca-cb)
		lapicHz = uint64(la-lb) * 1193182 / uint64(ca-cb)
	}
	*vkLAPIC(lapicInitCnt) = 0
	if vkClock.tscHz == 0 {
		vkClock.tscHz = tscHz
	}
	vkClock.lapicHz = lapicHz
	if vkClock.tscHz < 1_000_000 || vkClock.lapicHz < 1000 {
		vkFatal("timer calibration failed (no PIT?)")
	}
	vkClock.tscMult = (1_000_000_000 << 32) / vkClock.tscHz
	*vkLAPIC(lapicLVTTimer) = vkTimerVector // one-shot, unmasked

	vkClock.rtcUnixNs = vkReadRTC() * 1_000_000_000
	vkClock.rtcMonoNs = vkNanotime()
}

// vkLAPICInit enables this CPU's local APIC: software enable, spurious
// vector, accept every priority, timer divider 16, one-shot timer.
func vkLAPICInit() {
	vkWrmsr(msrAPICBase, vkRdmsr(msrAPICBase)|1<<11)
	// Flat logical destination: CPU i answers to bit i (first eight CPUs),
	// so the I/O APIC can aim at a set of CPUs.
	*vkLAPIC(lapicDFR) = 0xFFFFFFFF
	if id := vkThisCPU().id; id < 8 {
		*vkLAPIC(lapicLDR) = 1 << (24 + id)
	}
	*vkLAPIC(lapicSVR) = 0x100 | vkSpuriousVector
	*vkLAPIC(lapicTPR) = 0
	*vkLAPIC(lapicDivide) = 0x3
	*vkLAPIC(lapicLVTTimer) = vkTimerVector
	vkLINT1NMI()
}

// vkLINT1NMI makes this CPU's LINT1 pin an unmasked NMI. The firmware does
// so for the boot CPU only (Linux masks it on the others, so that one CPU
// handles a board's NMI button); Velocity wants it on every CPU, because
// QEMU's monitor command `nmi` arrives through LINT1 and the NMI dump
// (vk_dump.go) should see what each CPU was doing.
func vkLINT1NMI() {
	*vkLAPIC(lapicLVTLINT1) = 4 << 8 // delivery mode NMI, edge, not masked
}

// vkTimerArm programs the one-shot timer for the monotonic time deadline
// (0 disarms it).
func vkTimerArm(deadline int64) {
	deadline = vkProfDeadline(deadline)   // the sampling profiler's tick (vk_prof.go)
	deadline = vkITimerDeadline(deadline) // setitimer(ITIMER_PROF) (vk_itimer.go)
	deadline = vkPTimerDeadline(deadline) // timer_create's timers (vk_ptimer.go)
	c := vkThisCPU()
	if deadline != 0 && deadline == c.deadline {
		// Programmed already and not fired yet: its interrupt clears
		// c.deadline. A switch to the idle thread and back, or a tick
		// that changes nothing, asks for the deadline it has; under
		// TCG every LAPIC access takes QEMU's global lock, which the
		// card's emulation holds while it moves frames.
		return
	}
	c.deadline = deadline
	if deadline == 0 {
		*vkLAPIC(lapicInitCnt) = 0
		return
	}
	d := deadline - vkNanotime()
	if d < 20_000 {
		d = 20_000 // interrupts closer than 20 µs cost more than they gain
	}
	if d > 1_000_000_000 {
		d = 1_000_000_000 // keeps d*lapicHz in range; a far deadline is re-armed on the way
	}
	cnt := uint64(d) * vkClock.lapicHz / 1_000_000_000
	if cnt == 0 {
		cnt = 1
	}
	if cnt > 0xFFFFFFFF {
		cnt = 0xFFFFFFFF
	}
	*vkLAPIC(lapicInitCnt) = uint32(cnt)
}

func vkEOI() { *vkLAPIC(lapicEOI) = 0 }

// --- RTC ---

func vkCMOS(reg uint8) uint8 {
	vkOutb(0x70, reg)
	return vkInb(0x71)
}

// vkReadRTC returns the RTC as Unix seconds (UTC), read twice until two
// reads agree so an update in between cannot tear the value.
func vkReadRTC() int64 {
	var t, prev [7]uint8
	for tries := 0; tries < 10; tries++ {
		for i := 0; i < 100000 && vkCMOS(0x0A)&0x80 != 0; i++ {
		}
		t = [7]uint8{vkCMOS(0x00), vkCMOS(0x02), vkCMOS(0x04), vkCMOS(0x07), vkCMOS(0x08), vkCMOS(0x09), vkCMOS(0x32)}
		if t == prev {
			break
		}
		prev = t
	}
	b := vkCMOS(0x0B)
	bcd := func(v uint8) int64 {
		if b&0x04 == 0 {
			return int64(v&0x0F) + int64(v>>4)*10
		}
		return int64(v)
	}
	sec, min, day, mon, year := bcd(t[0]), bcd(t[1]), bcd(t[3]), bcd(t[4]), bcd(t[5])
	hour := bcd(t[2] & 0x7F)
	if b&0x02 == 0 && t[2]&0x80 != 0 { // 12-hour clock, PM
		hour = (hour + 12) % 24
	}
	century := bcd(t[6])
	if century < 19 || century > 30 {
		century = 20
	}
	year += century * 100
	return vkDaysFromCivil(year, mon, day)*86400 + hour*3600 + min*60 + sec
}

// vkDaysFromCivil counts days since 1970-01-01 in the proleptic Gregorian
// calendar.
func vkDaysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// --- Per-CPU timer heaps ---
//
// A thread that sleeps with a deadline (nanosleep, a futex or epoll
// timeout) goes into the timer heap of the CPU it sleeps on, a binary
// min-heap of thread slots ordered by deadline. That CPU's timer tick pops
// what has expired and wakes it; nothing scans every thread. The heap has
// its own lock, taken after a futex bucket's and before a run queue's: the
// tick wakes threads with the heap lock held, so a sleeper that was woken
// another way and takes itself out of the heap (vkTimerCancel) cannot
// start its next sleep before the tick is done with the old entry.

type vkTimerHeap struct {
	lock vkSpin
	next int64 // earliest deadline in the heap, 0 if empty (read without the lock)
	n    int
	slot [vkMaxThreads]uint16 // thread slots (tid-1)
}

var vkTimers [vkMaxCPU]vkTimerHeap

func (h *vkTimerHeap) at(i int) *vkThread { return vkThreadOf(vkSched.threads[h.slot[i]]) }

func (h *vkTimerHeap) less(i, j int) bool { return h.at(i).timerAt < h.at(j).timerAt }

func (h *vkTimerHeap) swap(i, j int) {
	h.slot[i], h.slot[j] = h.slot[j], h.slot[i]
	h.at(i).timerIdx = int32(i)
	h.at(j).timerIdx = int32(j)
}

func (h *vkTimerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.swap(i, p)
		i = p
	}
}

func (h *vkTimerHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= h.n {
			return
		}
		m := l
		if r := l + 1; r < h.n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h.swap(i, m)
		i = m
	}
}

// remove takes entry i out; the caller holds h.lock.
func (h *vkTimerHeap) remove(i int) {
	vkAssertHeld(&h.lock)
	t := h.at(i)
	h.n--
	if i != h.n {
		h.slot[i] = h.slot[h.n]
		h.at(i).timerIdx = int32(i)
		h.down(i)
		h.up(i)
	}
	t.timerIdx = -1
	t.timerCPU = -1
	h.setNext()
}

func (h *vkTimerHeap) setNext() {
	next := int64(0)
	if h.n > 0 {
		next = h.at(0).timerAt
	}
	atomic.Store64((*uint64)(unsafe.Pointer(&h.next)), uint64(next))
}

// vkTimerAdd puts the current thread t into this CPU's heap to be woken at
// deadline, and returns the CPU whose heap it is in.
func vkTimerAdd(t *vkThread, deadline int64) int32 {
	cpu := int32(vkThisCPU().id)
	h := &vkTimers[cpu]
	vkSpinLock(&h.lock)
	t.timerAt = deadline
	t.timerCPU = cpu
	t.timerIdx = int32(h.n)
	h.slot[h.n] = uint16(t.tid - 1)
	h.n++
	h.up(h.n - 1)
	h.setNext()
	vkSpinUnlock(&h.lock)
	return cpu
}

// vkTimerCancel takes t out of the heap of cpu if the tick has not popped
// it yet; t calls it for itself after every timed sleep.
func vkTimerCancel(t *vkThread, cpu int32) {
	h := &vkTimers[cpu]
	vkSpinLock(&h.lock)
	if t.timerCPU == cpu && t.timerIdx >= 0 {
		h.remove(int(t.timerIdx))
	}
	vkSpinUnlock(&h.lock)
}

// vkTimerExpire wakes the threads in CPU c's heap whose deadline has
// passed and returns the earliest deadline left (0 if none). The caller
// holds no run-queue lock and not the kernel lock.
func vkTimerExpire(c *vkCPU, now int64) int64 {
	h := &vkTimers[c.id]
	if next := int64(atomic.Load64((*uint64)(unsafe.Pointer(&h.next)))); next == 0 || next > now {
		return next
	}
	vkSpinLock(&h.lock)
	ipis := uint64(0)
	for h.n > 0 && h.at(0).timerAt <= now {
		t := h.at(0)
		h.remove(0)
		vkWakeIPI(t, true, &ipis) // only if still blocked: then it is this sleep's entry
	}
	next := h.next
	vkSpinUnlock(&h.lock)
	vkSendIPIs(ipis)
	return next
}

// vkTimerNext is the earliest deadline in CPU c's heap, read without its
// lock: a sleeper that has just taken itself out can only make the value
// early, never late, and an early tick finds nothing to do.
func vkTimerNext(c *vkCPU) int64 {
	return int64(atomic.Load64((*uint64)(unsafe.Pointer(&vkTimers[c.id].next))))
}
