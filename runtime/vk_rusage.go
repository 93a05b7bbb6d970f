//go:build velocity

// Velocity kernel: CPU time of the program and of its threads, for
// getrusage and the CPU-time clocks.
//
// Go's CPU profiler checks its samples against getrusage (runtime/pprof's
// tests compare the profile's total with ru_utime+ru_stime and retry for
// minutes when getrusage fails), and programs read CLOCK_PROCESS_CPUTIME_ID
// to time their own work. A thread's CPU time is what vkSchedule charges
// it (vkThread.cpuNs) plus, while it runs, the time since it was switched
// in; the process's is the sum over live threads plus what exited threads
// had (vkSched.deadCPUNs).
//
// There is one privilege level: a system call is a function call on the
// calling thread's CPU, charged to that thread like the rest of its time.
// So getrusage reports all of it as user time and ru_stime as zero, rather
// than a split Velocity does not measure. Fields Linux fills from
// accounting Velocity does not keep (ru_maxrss, faults, context switches)
// are zero.
//
// Trap context: called from system calls, with or without the kernel
// lock. Other threads' counters are read without their locks, under the
// sequence counts vkChargeCPU keeps.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkRusageSelf     = 0
	vkRusageChildren = -1
	vkRusageThread   = 1
	vkRusageSize     = 144 // struct rusage: two timevals and 14 longs
)

// vkChargeCPU charges cur the time since it was switched in and starts
// next's clock; vkSchedule calls it, on this CPU with its run-queue lock
// held, at every decision (next may be cur).
//
// Readers on other CPUs take no lock: each thread's pair (cpuNs, lastRun)
// is a sequence lock whose only writer is the CPU switching the thread.
// The time is read inside the odd phase, so a reader that saw a
// consistent pair read its own clock before this CPU read tsw, and its
// running total (cpuNs + its now - lastRun) never exceeds what is
// charged here: the clocks never run backwards. A thread that exits
// moves its total to vkSched.deadCPUNs between vkDeathBegin and
// vkDeathEnd, so a sum over the threads counts it exactly once.
//
//go:nosplit
func vkChargeCPU(cur, next *vkThread) {
	c := vkThisCPU()
	if cur.state != thIdle {
		atomic.Xadd(&cur.cpuSeq, 1)
		now := vkNanotime()
		ran := now - cur.lastRun
		c.busyNs += ran
		cur.cpuNs += ran
		cur.lastRun = now
		if next != cur {
			cur.lastRun = 0
			if cur.sysOn > 0 { // leaving the CPU inside a system call (vk_syscount.go)
				cur.sysAcc += now - cur.sysOn
				cur.sysOn = -1
			}
		}
		if cur.state == thDead && !cur.cpuGone {
			vkDeathBegin()
			atomic.Xaddint64(&vkSched.deadCPUNs, cur.cpuNs)
			cur.cpuGone = true
			vkDeathEnd()
		}
		atomic.Xadd(&cur.cpuSeq, 1)
		if next == cur {
			return
		}
	}
	atomic.Xadd(&next.cpuSeq, 1)
	next.lastRun = vkNanotime()
	if next.sysOn < 0 {
		next.sysOn = next.lastRun
	}
	atomic.Xadd(&next.cpuSeq, 1)
}

// vkThreadCPUNs is t's CPU time at now (a time read before the call), and
// whether t has exited (its time is then in vkSched.deadCPUNs, and 0 is
// returned).
//
//go:nosplit
func vkThreadCPUNs(t *vkThread, now int64) (int64, bool) {
	for {
		seq := atomic.Load(&t.cpuSeq)
		if seq&1 != 0 {
			continue // its CPU is switching it: a few instructions
		}
		ns, last, gone := t.cpuNs, t.lastRun, t.cpuGone
		if atomic.Load(&t.cpuSeq) != seq {
			continue
		}
		if gone {
			return 0, true
		}
		if last != 0 && now > last {
			ns += now - last
		}
		return ns, false
	}
}

// vkDeathBegin and vkDeathEnd bracket a change to the set of threads
// whose time vkProcessCPUNs sums (an exit charged, exited threads freed).
// Several CPUs may be inside at once, so this is a count of writers and a
// generation rather than one sequence number.
//
//go:nosplit
func vkDeathBegin() { atomic.Xaddint32(&vkSched.deathBusy, 1) }

//go:nosplit
func vkDeathEnd() {
	atomic.Xadd(&vkSched.deathGen, 1)
	atomic.Xaddint32(&vkSched.deathBusy, -1)
}

// vkProcessCPUNs is the CPU time of every thread the program has had.
func vkProcessCPUNs() int64 {
	for {
		gen := atomic.Load(&vkSched.deathGen)
		if atomic.Loadint32(&vkSched.deathBusy) != 0 {
			continue
		}
		now := vkNanotime()
		ns := atomic.Loadint64(&vkSched.deadCPUNs)
		max := atomic.Loadint32(&vkSched.maxTID)
		for i := int32(0); i < max && int(i) < len(vkSched.threads); i++ {
			p := atomic.Loaduintptr(&vkSched.threads[i])
			if p == 0 {
				continue
			}
			t := vkThreadOf(p)
			if s := atomic.Loadint32(&t.state); s == thFree || s == thIdle {
				continue
			}
			tn, _ := vkThreadCPUNs(t, now)
			ns += tn
		}
		if atomic.Loadint32(&vkSched.deathBusy) == 0 && atomic.Load(&vkSched.deathGen) == gen {
			return ns
		}
	}
}

// vkSysGetrusage: RUSAGE_SELF (the program), RUSAGE_THREAD (the caller)
// and RUSAGE_CHILDREN (none: Velocity runs one program, so all zeros, as
// Linux reports for a process that never waited for a child).
func vkSysGetrusage(who int32, p uintptr) uintptr {
	var ns int64
	switch who {
	case vkRusageSelf:
		ns = vkProcessCPUNs()
	case vkRusageThread:
		ns, _ = vkThreadCPUNs(vkCur(), vkNanotime())
	case vkRusageChildren:
	default:
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(p, vkRusageSize, true) {
		return vkErr(vkEFAULT)
	}
	w := (*[vkRusageSize / 8]int64)(unsafe.Pointer(p))
	for i := range w {
		w[i] = 0
	}
	w[0], w[1] = ns/1e9, ns%1e9/1e3 // ru_utime
	return 0
}
