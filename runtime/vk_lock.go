//go:build velocity

// Velocity kernel: spin locks that know their owner and count contention.
//
// Every kernel lock is a vkSpin. It records which CPU holds it, so code
// whose comment says "the caller holds X" can check it (vkAssertHeld), and
// a CPU that takes a lock it already holds stops the machine with the
// lock's name instead of spinning forever. Each lock also counts how often
// it was taken, how often it was found held, and how long waiters spun;
// Velocity system call 0x5607 sums these per lock class for package kernel
// (kernel.Locks) and the shell's `locks` command. The lock order is in
// runtime/HACKING.md.
//
// Kernel code runs with interrupts off, so a holder is never interrupted
// by code that wants the same lock on the same CPU. A waiter spins with a
// one-instruction interrupt window (vkSpinPause) and answers TLB
// shootdowns by polling, because the holder of the kernel lock may be
// waiting for this CPU's acknowledgement.
//
// Trap context: nothing here allocates or has write barriers; the counters
// are updated by the holder only, so they need no atomics.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

// vkSpin is one lock, padded to a cache line so that neighbouring locks
// (futex buckets, per-CPU locks) do not share one.
type vkSpin struct {
	word  uint32 // 0 free, 1 held
	owner uint32 // CPU id + 1 of the holder, 0 when free
	// sleepers has bit i set while CPU i waits for the lock halted
	// (vkSpinSleep); the releaser interrupts them.
	sleepers uint64
	vkLockCount
	_ [8]byte
}

// vkSpinHaltCycles is how long, in TSC cycles, a waiter spins before it
// halts until the holder releases the lock. A virtual CPU that holds a
// lock can lose its host CPU for a whole host time slice; a waiter that
// goes on spinning then burns the very host CPU the holder needs. (Under
// QEMU with two CPUs on this 2-core VM, the kernel lock's contended
// acquisitions waited 5.9 ms on average, the run queues' 5.2 ms.) About
// 20 us at 2.6 GHz: far longer than the kernel's holds on bare metal, so
// there a waiter rarely halts.
const vkSpinHaltCycles = 50000

// vkLockCount is what the `locks` command reports of one lock. A vkSpin's
// are updated by its holder only; a vkRWLock's read side has many holders
// at once and updates them atomically.
type vkLockCount struct {
	acquires   uint64 // times taken
	contended  uint64 // times found held (by a writer, for the read side)
	waitCycles uint64 // TSC cycles spent waiting, summed
	maxWait    uint64 // longest single wait, in TSC cycles
	halts      uint64 // times a waiter halted for it (vkSpinSleep)
}

// Lock classes, as reported to package kernel (append only: the class is
// the record's index).
const (
	vkLockBKL = iota
	vkLockSched
	vkLockFutex
	vkLockTimer
	vkLockMapsW
	vkLockMapsR
	vkLockFrames
	vkLockFrameCache
	vkLockFD
	vkLockPipe
	vkLockClasses
)

var vkLockNames = [vkLockClasses]string{
	vkLockBKL:        "kernel (BKL)",
	vkLockSched:      "run queues",
	vkLockFutex:      "futex buckets",
	vkLockTimer:      "timer heaps",
	vkLockMapsW:      "mappings (write)",
	vkLockMapsR:      "mappings (read)",
	vkLockFrames:     "frame allocator",
	vkLockFrameCache: "frame caches",
	vkLockFD:         "fd table",
	vkLockPipe:       "pipes",
}

func vkMyLockID() uint32 { return vkThisCPU().id + 1 }

// vkSpinLock takes l, spinning while another CPU holds it.
func vkSpinLock(l *vkSpin) {
	me := vkMyLockID()
	if atomic.Load(&l.owner) == me {
		vkLockFatal(l, "taken again by the CPU that holds it")
	}
	if atomic.Cas(&l.word, 0, 1) {
		l.owner = me
		l.acquires++
		return
	}
	t0 := vkRdtsc()
	halts := uint64(0)
	for {
		for atomic.Load(&l.word) != 0 {
			// The holder may be waiting for this CPU to answer a TLB
			// shootdown: answer by polling as well as by interrupt.
			vkTLBFlushLocal()
			if vkRdtsc()-t0 > vkSpinHaltCycles && vkCanSleep() {
				vkSpinSleep(l)
				halts++
			} else {
				vkSpinPause()
			}
		}
		if atomic.Cas(&l.word, 0, 1) {
			break
		}
	}
	w := vkRdtsc() - t0
	l.owner = me
	l.acquires++
	l.contended++
	l.halts += halts
	l.waitCycles += w
	if w > l.maxWait {
		l.maxWait = w
	}
}

// vkSpinSleep halts this CPU until l may be free: it announces itself in
// l.sleepers, looks at the lock once more, and halts with interrupts on
// (vkIdle: STI's one-instruction shadow covers HLT, so an interrupt sent
// after the look still ends the halt). The announcement and the look are
// a locked OR and a load; the release is a locked exchange and a load of
// sleepers: each side sees the other's store, so a waiter that saw the
// lock held is always sent the wake-up. Any other interrupt (a timer, a
// TLB shootdown, answered by its handler) also ends the halt, and the
// caller looks again.
func vkSpinSleep(l *vkSpin) {
	bit := uint64(1) << vkThisCPU().id
	atomic.Or64(&l.sleepers, bit)
	if atomic.Load(&l.word) != 0 {
		vkIdle()
	}
	atomic.And64(&l.sleepers, ^bit)
}

// vkCanSleep says whether this CPU can be woken by an IPI: the boot CPU,
// or an AP that is online (its local APIC set up; one still starting
// spins).
func vkCanSleep() bool {
	c := vkThisCPU()
	return c.id == 0 || atomic.Load(&c.online) == 1
}

// vkSpinUnlock releases l, which this CPU must hold, and wakes the CPUs
// halted waiting for it (vkSpinSleep) with the reschedule IPI, which in
// kernel code does nothing but end the halt.
func vkSpinUnlock(l *vkSpin) {
	if l.owner != vkMyLockID() {
		vkLockFatal(l, "released by a CPU that does not hold it")
	}
	atomic.Store(&l.owner, 0)
	atomic.Store(&l.word, 0)
	if s := atomic.Load64(&l.sleepers); s != 0 {
		vkSendIPIs(s)
	}
}

// vkSpinHeld reports whether this CPU holds l.
func vkSpinHeld(l *vkSpin) bool { return atomic.Load(&l.owner) == vkMyLockID() }

// vkAssertHeld stops the machine if this CPU does not hold l: it is what a
// "the caller holds" comment promises.
func vkAssertHeld(l *vkSpin) {
	if !vkSpinHeld(l) {
		vkLockFatal(l, "not held where the caller must hold it")
	}
}

// vkAssertNotHeld stops the machine if this CPU holds l.
func vkAssertNotHeld(l *vkSpin) {
	if vkSpinHeld(l) {
		vkLockFatal(l, "held where it must not be")
	}
}

func vkLockFatal(l *vkSpin, what string) {
	vkPrint("\nvelocity: lock ")
	vkPrint(vkLockName(l))
	vkPrint(" ")
	vkPrint(what)
	vkPrint(" (CPU ")
	vkPrintDec(int64(vkThisCPU().id))
	vkPrint(", owner ")
	vkPrintDec(int64(atomic.Load(&l.owner)) - 1)
	vkPrint(")\n")
	vkFatal("lock discipline violated")
}

// vkLockName names the class of l for reports.
func vkLockName(l *vkSpin) string {
	for i := 0; ; i++ {
		class, x := vkLockAt(i)
		if x == nil {
			return "?"
		}
		if x == &l.vkLockCount {
			return vkLockNames[class]
		}
	}
}

// vkLockAt returns the counters of the i-th kernel lock and its class, or
// nil past the last: the kernel lock, the run queues, the futex buckets,
// the timer heaps, the mapping list's lock (its write and read sides as
// two classes), the frame allocator, the per-CPU frame caches, the fd
// table and the pipes. (An index rather than a visitor: trap-context code
// has no closures.)
func vkLockAt(i int) (int, *vkLockCount) {
	if i == 0 {
		return vkLockBKL, &vkBKL.vkLockCount
	}
	i--
	if i < vkCPUCount {
		return vkLockSched, &vkRunqLk[i].vkLockCount
	}
	i -= vkCPUCount
	if i < vkFutexBuckets {
		return vkLockFutex, &vkFutexTab[i].lock.vkLockCount
	}
	i -= vkFutexBuckets
	if i < vkCPUCount {
		return vkLockTimer, &vkTimers[i].lock.vkLockCount
	}
	i -= vkCPUCount
	switch i {
	case 0:
		return vkLockMapsW, &vkMapLock.w.vkLockCount
	case 1:
		return vkLockMapsR, &vkMapLock.rd
	case 2:
		return vkLockFrames, &vkFrameLock.vkLockCount
	}
	i -= 3
	if i < vkCPUCount {
		return vkLockFrameCache, &vkFrameCaches[i].lock.vkLockCount
	}
	i -= vkCPUCount
	if i == 0 {
		return vkLockFD, &vkFDLock.vkLockCount
	}
	i--
	if i < vkMaxPipes {
		return vkLockPipe, &vkPipes[i].lock.vkLockCount
	}
	return 0, nil
}

// vkRWLock is a spinning reader/writer lock: any number of CPUs hold it
// shared, or one holds it exclusive. It is built beside vkSpin: writers
// first take the embedded vkSpin w (one writer at a time, with its owner
// checks and counters), then set vkRWWriter, which turns new readers away,
// and wait for the readers inside to leave. Writers are preferred, so a
// stream of readers (a page-fault storm) cannot starve one.
//
// Readers and a waiting writer answer TLB shootdowns by polling, as
// vkSpinLock does: the holder of the kernel lock may be waiting for them.
// A CPU never takes the lock shared twice (a writer waiting between the
// two would deadlock it), nor shared while holding it exclusive: both
// stop the machine with the lock's name, like a vkSpin taken twice.
//
// Trap context: no allocation, no write barriers; the read side's
// counters are updated atomically (many holders), the write side's by the
// holder of w.
type vkRWLock struct {
	w     vkSpin
	state uint32 // readers inside, | vkRWWriter while a writer holds it or waits for them
	_     [60]byte
	rd    vkLockCount
	_     [32]byte
	// readHeld[cpu] is 1 while that CPU holds the lock shared; each CPU
	// writes only its own (for the checks, not for the locking).
	readHeld [vkMaxCPU]uint8
}

const vkRWWriter = 1 << 31

// vkReadLock takes l shared, spinning while a writer holds or wants it.
func vkReadLock(l *vkRWLock) {
	me := vkThisCPU().id
	if l.readHeld[me] != 0 {
		vkLockFatal(&l.w, "taken shared again by a CPU that holds it shared")
	}
	if atomic.Load(&l.w.owner) == me+1 {
		vkLockFatal(&l.w, "taken shared by the CPU that holds it exclusive")
	}
	waited := false
	var t0 uint64
	for {
		s := atomic.Load(&l.state)
		if s&vkRWWriter == 0 {
			if atomic.Cas(&l.state, s, s+1) {
				break
			}
			continue // another reader came or went: try again at once
		}
		if !waited {
			waited = true
			t0 = vkRdtsc()
		}
		vkTLBFlushLocal()
		vkSpinPause()
	}
	l.readHeld[me] = 1
	atomic.Xadd64(&l.rd.acquires, 1)
	if waited {
		w := vkRdtsc() - t0
		atomic.Xadd64(&l.rd.contended, 1)
		atomic.Xadd64(&l.rd.waitCycles, int64(w))
		for {
			m := atomic.Load64(&l.rd.maxWait)
			if w <= m || atomic.Cas64(&l.rd.maxWait, m, w) {
				break
			}
		}
	}
}

// vkReadUnlock releases l, which this CPU holds shared.
func vkReadUnlock(l *vkRWLock) {
	me := vkThisCPU().id
	if l.readHeld[me] == 0 {
		vkLockFatal(&l.w, "released shared by a CPU that does not hold it shared")
	}
	l.readHeld[me] = 0
	atomic.Xadd(&l.state, -1)
}

// vkWriteLock takes l exclusive: other writers wait on w, then readers
// are turned away and the ones inside are waited for.
func vkWriteLock(l *vkRWLock) {
	if l.readHeld[vkThisCPU().id] != 0 {
		vkLockFatal(&l.w, "taken exclusive by a CPU that holds it shared")
	}
	vkSpinLock(&l.w)
	for {
		s := atomic.Load(&l.state)
		if atomic.Cas(&l.state, s, s|vkRWWriter) {
			if s == 0 {
				return
			}
			break
		}
	}
	c0 := l.w.contended
	t0 := vkRdtsc()
	for atomic.Load(&l.state) != vkRWWriter {
		vkTLBFlushLocal()
		vkSpinPause()
	}
	w := vkRdtsc() - t0
	if l.w.contended == c0 {
		l.w.contended++ // found held by readers, not by a writer
	}
	l.w.waitCycles += w
	if w > l.w.maxWait {
		l.w.maxWait = w
	}
}

// vkWriteUnlock releases l, which this CPU holds exclusive.
func vkWriteUnlock(l *vkRWLock) {
	vkAssertHeld(&l.w)
	atomic.Store(&l.state, 0)
	vkSpinUnlock(&l.w)
}

// vkReadHeld reports whether this CPU holds l shared.
func vkReadHeld(l *vkRWLock) bool { return l.readHeld[vkThisCPU().id] != 0 }

// The kernel lock, as the rest of the kernel names it.
func vkLock()   { vkSpinLock(&vkBKL) }
func vkUnlock() { vkSpinUnlock(&vkBKL) }

// vkLockStat is one record of Velocity system call 0x5607; package kernel
// mirrors it (kernel/locks.go). Append only.
type vkLockStat struct {
	name      [24]byte
	instances uint64
	acquires  uint64
	contended uint64
	waitNs    uint64
	maxWaitNs uint64
	halts     uint64
}

const vkSysVelocityLocks = 0x5607

func vkCallVelocityLocks(f *vkFrame, canBlock bool) uintptr {
	return vkSysLocks(uintptr(f.rdi), uintptr(f.rsi))
}

// vkSysLocks writes one record per lock class into buf (n bytes) and
// returns the number written. The figures are read without the locks: a
// snapshot that may be a few acquisitions stale.
func vkSysLocks(buf, n uintptr) uintptr {
	var st [vkLockClasses]vkLockStat
	size := unsafe.Sizeof(st[0])
	if n < size*vkLockClasses {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(buf, size*vkLockClasses, true) {
		return vkErr(vkEFAULT)
	}
	for i := range st {
		copy(st[i].name[:], vkLockNames[i])
	}
	for i := 0; ; i++ {
		class, l := vkLockAt(i)
		if l == nil {
			break
		}
		s := &st[class]
		s.instances++
		s.acquires += atomic.Load64(&l.acquires)
		s.contended += atomic.Load64(&l.contended)
		s.waitNs += uint64(vkCyclesToNs(atomic.Load64(&l.waitCycles)))
		s.halts += atomic.Load64(&l.halts)
		if w := uint64(vkCyclesToNs(atomic.Load64(&l.maxWait))); w > s.maxWaitNs {
			s.maxWaitNs = w
		}
	}
	for i := range st {
		*(*vkLockStat)(unsafe.Pointer(buf + uintptr(i)*size)) = st[i]
	}
	return vkLockClasses
}
