package main

import "syscall"

// timerCases are the cases for POSIX timers (timer_create and the calls
// on a timer id). A case that creates a timer deletes it, so the program
// holds the same timers (none) on both systems between cases.
func timerCases(e *env, add func(string, func(*env) syscall.Errno)) {
	const (
		sysTimerCreate  = 222
		sysTimerSettime = 223
		sysTimerGettime = 224
		sysTimerOverrun = 225
		sysTimerDelete  = 226
		noSuchTimer     = 0x7fffffff
		minus1          = uintptr(0xffffffff)
		sigevSignal     = 0
		sigevNone       = 1
		sigevThreadID   = 4
		sigUSR1         = 10
	)
	ev := e.scratch + 2560  // struct sigevent, 64 bytes
	idp := e.scratch + 2624 // timer_t
	spec := e.scratch + 2632
	sevent := func(signo, notify, tid uint32) uintptr {
		putWords(ev, 0, 0, 0, 0, 0, 0, 0, 0)
		put32s(ev+8, signo, notify, tid)
		return ev
	}
	// create makes a timer and deletes it again: the errno of timer_create.
	create := func(clock, sevp, id uintptr) syscall.Errno {
		err := sc(sysTimerCreate, clock, sevp, id)
		if err == 0 {
			if err := sc(sysTimerDelete, timerID(id)); err != 0 {
				fail("timer_delete of a new timer: %v", err)
			}
		}
		return err
	}
	// withTimer runs call on a new CLOCK_MONOTONIC timer, then deletes it.
	withTimer := func(call func(id uintptr) syscall.Errno) func(*env) syscall.Errno {
		return func(*env) syscall.Errno {
			if err := sc(sysTimerCreate, 1, sevent(0, sigevNone, 0), idp); err != 0 {
				fail("timer_create: %v", err)
			}
			id := timerID(idp)
			err := call(id)
			if err := sc(sysTimerDelete, id); err != 0 {
				fail("timer_delete: %v", err)
			}
			return err
		}
	}
	add("timer_create/bad_clock", func(*env) syscall.Errno { return create(100, 0, idp) })
	add("timer_create/clock_10", func(*env) syscall.Errno { return create(10, 0, idp) })
	add("timer_create/monotonic_raw", func(*env) syscall.Errno { return create(4, 0, idp) })
	add("timer_create/realtime_coarse", func(*env) syscall.Errno { return create(5, 0, idp) })
	add("timer_create/sevp_unmapped", func(e *env) syscall.Errno { return create(1, e.edge, idp) })
	add("timer_create/sevp_crosses_edge", func(e *env) syscall.Errno { return create(1, e.edge-16, idp) })
	add("timer_create/bad_clock_sevp_unmapped", func(e *env) syscall.Errno { return create(100, e.edge, idp) })
	add("timer_create/id_nil", func(*env) syscall.Errno { return create(1, 0, 0) })
	add("timer_create/id_readonly", func(e *env) syscall.Errno { return create(1, 0, e.ro) })
	add("timer_create/bad_notify", func(*env) syscall.Errno { return create(1, sevent(sigUSR1, 3, 0), idp) })
	add("timer_create/signo_0", func(*env) syscall.Errno { return create(1, sevent(0, sigevSignal, 0), idp) })
	add("timer_create/signo_65", func(*env) syscall.Errno { return create(1, sevent(65, sigevSignal, 0), idp) })
	add("timer_create/thread_id_not_ours", func(*env) syscall.Errno {
		return create(1, sevent(sigUSR1, sigevThreadID, 0x3fffffff), idp)
	})
	add("timer_create/thread_id_self", func(*env) syscall.Errno {
		return create(3, sevent(sigUSR1, sigevThreadID, uint32(syscall.Gettid())), idp)
	})
	add("timer_create/none_signo_0", func(*env) syscall.Errno { return create(1, sevent(0, sigevNone, 0), idp) })
	add("timer_create/default_sevp", func(*env) syscall.Errno { return create(0, 0, idp) })
	add("timer_create/process_cputime", func(*env) syscall.Errno { return create(2, sevent(sigUSR1, sigevSignal, 0), idp) })

	add("timer_settime/no_such_timer", func(*env) syscall.Errno {
		putWords(spec, 0, 0, 1, 0)
		return sc(sysTimerSettime, noSuchTimer, 0, spec, 0)
	})
	add("timer_settime/negative_id", func(*env) syscall.Errno {
		putWords(spec, 0, 0, 1, 0)
		return sc(sysTimerSettime, minus1, 0, spec, 0)
	})
	add("timer_settime/no_such_timer_new_nil", func(*env) syscall.Errno { return sc(sysTimerSettime, noSuchTimer, 0, 0, 0) })
	add("timer_settime/no_such_timer_new_unmapped", func(e *env) syscall.Errno { return sc(sysTimerSettime, noSuchTimer, 0, e.edge, 0) })
	add("timer_settime/new_nil", withTimer(func(id uintptr) syscall.Errno { return sc(sysTimerSettime, id, 0, 0, 0) }))
	add("timer_settime/new_crosses_edge", withTimer(func(id uintptr) syscall.Errno { return sc(sysTimerSettime, id, 0, e.edge-16, 0) }))
	add("timer_settime/nsec_too_big", withTimer(func(id uintptr) syscall.Errno {
		putWords(spec, 0, 0, 1, u64(1e9))
		return sc(sysTimerSettime, id, 0, spec, 0)
	}))
	add("timer_settime/interval_negative", withTimer(func(id uintptr) syscall.Errno {
		putWords(spec, u64(-1), 0, 1, 0)
		return sc(sysTimerSettime, id, 0, spec, 0)
	}))
	add("timer_settime/old_readonly", withTimer(func(id uintptr) syscall.Errno {
		putWords(spec, 0, 0, 100, 0)
		return sc(sysTimerSettime, id, 0, spec, e.ro)
	}))
	add("timer_settime/absolute_past", withTimer(func(id uintptr) syscall.Errno {
		putWords(spec, 0, 0, 0, 1)
		return sc(sysTimerSettime, id, 1, spec, spec)
	}))
	add("timer_settime/disarm", withTimer(func(id uintptr) syscall.Errno {
		putWords(spec, 0, 0, 0, 0)
		return sc(sysTimerSettime, id, 0, spec, 0)
	}))
	add("timer_gettime/no_such_timer", func(*env) syscall.Errno { return sc(sysTimerGettime, noSuchTimer, spec) })
	add("timer_gettime/no_such_timer_unmapped", func(e *env) syscall.Errno { return sc(sysTimerGettime, noSuchTimer, e.edge) })
	add("timer_gettime/unmapped", withTimer(func(id uintptr) syscall.Errno { return sc(sysTimerGettime, id, e.edge-8) }))
	add("timer_gettime/readonly", withTimer(func(id uintptr) syscall.Errno { return sc(sysTimerGettime, id, e.ro) }))
	add("timer_gettime/ok", withTimer(func(id uintptr) syscall.Errno { return sc(sysTimerGettime, id, spec) }))
	add("timer_getoverrun/no_such_timer", func(*env) syscall.Errno { return sc(sysTimerOverrun, noSuchTimer) })
	add("timer_getoverrun/negative_id", func(*env) syscall.Errno { return sc(sysTimerOverrun, minus1) })
	add("timer_getoverrun/ok", withTimer(func(id uintptr) syscall.Errno { return sc(sysTimerOverrun, id) }))
	add("timer_delete/no_such_timer", func(*env) syscall.Errno { return sc(sysTimerDelete, noSuchTimer) })
	add("timer_delete/negative_id", func(*env) syscall.Errno { return sc(sysTimerDelete, minus1) })
}

// timerID reads the timer_t timer_create wrote at p.
func timerID(p uintptr) uintptr {
	b := bytesAt(p, 4)
	return uintptr(b[0]) | uintptr(b[1])<<8 | uintptr(b[2])<<16 | uintptr(b[3])<<24
}
