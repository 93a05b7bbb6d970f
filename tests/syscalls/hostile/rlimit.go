package main

import "syscall"

// Resource limits: prlimit64, setrlimit and getrlimit with bad pointers,
// resources, pids and limits, in Linux's order of checks; setting a limit
// and reading it back; EMFILE at RLIMIT_NOFILE's soft limit. The host's
// limits differ from Velocity's (its RLIMIT_NOFILE is the shell's, up to
// fs.nr_open; Velocity's is its fd table, 4096), so every case works from
// the limits it reads, and puts back what it changed: a case that lowers
// a hard limit does so only for RLIMIT_RTTIME, which nothing here uses,
// since the host test may lack CAP_SYS_RESOURCE to raise it again. None
// of this may run in the random phase (setrlimit and prlimit64 are in
// neverAny; its aimed prlimit64 only reads).

const (
	rlimNofile  = syscall.RLIMIT_NOFILE
	rlimRttime  = 15
	rlimInf     = ^uint64(0)
	capSysRes   = 24
	rlNoSuchPid = 0x3fffffff
)

// limits reads a resource's soft and hard limit with prlimit64.
func limits(res uintptr, buf uintptr) (cur, max uint64) {
	if err := sc(syscall.SYS_PRLIMIT64, 0, res, 0, buf); err != 0 {
		fail("prlimit64(%d) read: %v", res, err)
	}
	b := bytesAt(buf, 16)
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 |
			uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56,
		uint64(b[8]) | uint64(b[9])<<8 | uint64(b[10])<<16 | uint64(b[11])<<24 | uint64(b[12])<<32 |
			uint64(b[13])<<40 | uint64(b[14])<<48 | uint64(b[15])<<56
}

func rlimitCases(e *env, add func(string, func(*env) syscall.Errno)) {
	buf := e.scratch + 1024 // a struct rlimit64 to pass in
	out := e.scratch + 1280 // one to read into
	// cur puts RLIMIT_NOFILE's current limits at buf.
	cur := func() (uint64, uint64) {
		c, m := limits(rlimNofile, out)
		putWords(buf, c, m)
		return c, m
	}
	pl := func(pid, res, newp, oldp uintptr) syscall.Errno {
		return sc(syscall.SYS_PRLIMIT64, pid, res, newp, oldp)
	}

	// The new limit is read first: EFAULT before the pid and the resource.
	add("prlimit64/new_unmapped", func(e *env) syscall.Errno { cur(); return pl(0, rlimNofile, e.edge, 0) })
	add("prlimit64/new_into_unmapped", func(e *env) syscall.Errno { return pl(0, rlimNofile, e.edge-8, 0) })
	add("prlimit64/new_prot_none", func(e *env) syscall.Errno { return pl(0, rlimNofile, e.none, 0) })
	add("prlimit64/new_kernel", func(e *env) syscall.Errno { return pl(0, rlimNofile, kernelHalf, 0) })
	add("prlimit64/new_bad_resource_bad", func(e *env) syscall.Errno { return pl(0, 99, e.edge, 0) })
	add("prlimit64/new_bad_no_such_pid", func(e *env) syscall.Errno { return pl(rlNoSuchPid, rlimNofile, e.edge, 0) })
	// The read-only page starts "/\0": soft 0x2f above hard 0.
	add("prlimit64/new_readonly_page", func(e *env) syscall.Errno { return pl(0, rlimNofile, e.ro, 0) })
	// Then the pid, then the resource, then the limits.
	add("prlimit64/no_such_pid_new", func(*env) syscall.Errno { cur(); return pl(rlNoSuchPid, rlimNofile, buf, 0) })
	add("prlimit64/negative_pid", func(*env) syscall.Errno { return pl(allOnes, rlimNofile, 0, out) })
	add("prlimit64/int_min_pid", func(*env) syscall.Errno { return pl(0x80000000, rlimNofile, 0, out) })
	add("prlimit64/no_such_pid_bad_resource", func(*env) syscall.Errno { return pl(rlNoSuchPid, 99, 0, out) })
	add("prlimit64/bad_resource_new", func(*env) syscall.Errno { cur(); return pl(0, 16, buf, 0) })
	add("prlimit64/resource_minus1", func(*env) syscall.Errno { cur(); return pl(0, allOnes, buf, out) })
	add("prlimit64/resource_high_bits", func(*env) syscall.Errno { return pl(0, 1<<32|rlimNofile, 0, out) })
	add("prlimit64/neither", func(*env) syscall.Errno { return pl(0, rlimNofile, 0, 0) })
	add("prlimit64/neither_bad_resource", func(*env) syscall.Errno { return pl(0, 16, 0, 0) })
	add("prlimit64/soft_above_hard", func(*env) syscall.Errno {
		_, m := cur()
		putWords(buf, m, m-1)
		return pl(0, rlimNofile, buf, out)
	})
	add("prlimit64/soft_above_hard_bad_resource", func(*env) syscall.Errno {
		putWords(buf, 2, 1)
		return pl(0, 16, buf, 0)
	})
	add("prlimit64/nofile_past_nr_open", func(*env) syscall.Errno {
		c, _ := cur()
		putWords(buf, c, 1<<40)
		return pl(0, rlimNofile, buf, 0)
	})
	add("prlimit64/nofile_infinity", func(*env) syscall.Errno {
		putWords(buf, rlimInf, rlimInf)
		return pl(0, rlimNofile, buf, 0)
	})
	add("prlimit64/nofile_soft_past_nr_open", func(*env) syscall.Errno {
		_, m := cur()
		putWords(buf, 1<<40, m) // soft above hard: EINVAL first
		return pl(0, rlimNofile, buf, 0)
	})

	// Setting what is set already, and reading the old value back.
	add("prlimit64/same", func(*env) syscall.Errno {
		c, m := cur()
		putWords(out, 1, 1)
		if err := pl(0, rlimNofile, buf, out); err != 0 {
			return err
		}
		c2, m2 := limits(rlimNofile, out)
		return check(c2 == c && m2 == m, 1)
	})
	add("prlimit64/same_by_pid", func(*env) syscall.Errno { cur(); return pl(u(syscall.Getpid()), rlimNofile, buf, out) })
	add("prlimit64/same_by_tid", func(*env) syscall.Errno { cur(); return pl(u(syscall.Gettid()), rlimNofile, buf, out) })
	add("prlimit64/old_readonly", func(e *env) syscall.Errno { cur(); return pl(0, rlimNofile, buf, e.ro) })
	add("prlimit64/old_into_unmapped", func(e *env) syscall.Errno { cur(); return pl(0, rlimNofile, buf, e.edge-8) })
	// A bad old pointer: EFAULT, after the new limit is set.
	add("prlimit64/old_bad_after_set", func(e *env) syscall.Errno {
		c, m := cur()
		putWords(buf, c-1, m)
		err := pl(0, rlimNofile, buf, e.edge)
		c2, _ := limits(rlimNofile, out)
		putWords(buf, c, m)
		if r := pl(0, rlimNofile, buf, 0); r != 0 {
			return eWrong + 2
		}
		if c2 != c-1 {
			return eWrong + 1
		}
		return err
	})
	add("prlimit64/lower_soft_and_back", func(*env) syscall.Errno {
		c, m := cur()
		putWords(buf, c/2, m)
		if err := pl(0, rlimNofile, buf, 0); err != 0 {
			return err
		}
		c2, m2 := limits(rlimNofile, out)
		putWords(buf, c, m)
		if err := pl(0, rlimNofile, buf, out); err != 0 {
			return err
		}
		c3, _ := limits(rlimNofile, out)
		return check(c2 == c/2 && m2 == m && c3 == c, 1)
	})
	// Raising a hard limit needs CAP_SYS_RESOURCE in the effective set:
	// RLIMIT_RTTIME's is lowered, the capability dropped (this thread's on
	// Linux, the process's on Velocity: cases run on one locked thread),
	// and raising it again is EPERM. Putting it back needs the capability,
	// which the host test may not have: that result is not reported.
	add("prlimit64/raise_hard_without_cap", func(*env) syscall.Errno {
		hdr, data := e.scratch+3072, e.scratch+3200
		put32s(hdr, 0x20080522, 0)
		if err := sc(syscall.SYS_CAPGET, hdr, data); err != 0 {
			return eWrong + 1
		}
		caps := bytesAt(data, 24)
		saved := append([]byte(nil), caps...)
		c, m := limits(rlimRttime, out)
		low := m - 1
		if m == rlimInf {
			low = 1 << 40
		}
		putWords(buf, min(c, low), low)
		if err := pl(0, rlimRttime, buf, 0); err != 0 {
			return eWrong + 2
		}
		caps[3] &^= 1 << (capSysRes - 24) // effective, bits 24-31
		if err := sc(syscall.SYS_CAPSET, hdr, data); err != 0 {
			return eWrong + 3
		}
		putWords(buf, c, m)
		err := pl(0, rlimRttime, buf, 0)
		copy(caps, saved)
		put32s(hdr, 0x20080522, 0)
		if sc(syscall.SYS_CAPSET, hdr, data) != 0 {
			return eWrong + 4
		}
		pl(0, rlimRttime, buf, 0) // back as it was, where the capability allows
		return err
	})

	// setrlimit reads its pointer first; getrlimit checks the resource
	// first.
	sr := func(res, p uintptr) syscall.Errno { return sc(syscall.SYS_SETRLIMIT, res, p) }
	add("setrlimit/nil", func(*env) syscall.Errno { return sr(rlimNofile, 0) })
	add("setrlimit/nil_bad_resource", func(*env) syscall.Errno { return sr(99, 0) })
	add("setrlimit/unmapped", func(e *env) syscall.Errno { return sr(rlimNofile, e.edge) })
	add("setrlimit/into_unmapped", func(e *env) syscall.Errno { return sr(rlimNofile, e.edge-8) })
	add("setrlimit/readonly_page", func(e *env) syscall.Errno { return sr(rlimNofile, e.ro) })
	add("setrlimit/bad_resource", func(*env) syscall.Errno { cur(); return sr(16, buf) })
	add("setrlimit/same", func(*env) syscall.Errno { cur(); return sr(rlimNofile, buf) })
	add("setrlimit/soft_above_hard", func(*env) syscall.Errno {
		_, m := cur()
		putWords(buf, m, m-1)
		return sr(rlimNofile, buf)
	})
	add("setrlimit/nofile_past_nr_open", func(*env) syscall.Errno {
		c, _ := cur()
		putWords(buf, c, 1<<40)
		return sr(rlimNofile, buf)
	})
	add("getrlimit/bad_resource_nil", func(*env) syscall.Errno { return sc(syscall.SYS_GETRLIMIT, 16, 0) })
	add("getrlimit/resource_minus1", func(*env) syscall.Errno { return sc(syscall.SYS_GETRLIMIT, allOnes, out) })
	add("getrlimit/every_resource", func(*env) syscall.Errno {
		for r := uintptr(0); r < 16; r++ {
			if err := sc(syscall.SYS_GETRLIMIT, r, out); err != 0 {
				return err
			}
			if c, m := limits(r, out); c > m {
				return eWrong + syscall.Errno(r)
			}
		}
		return 0
	})

	// EMFILE at the soft limit: with the limit just above the lowest free
	// fd, one open succeeds and the next fails; dup2 to the limit is
	// EBADF, F_DUPFD from it EINVAL; an fd above it stays usable.
	add("prlimit64/emfile_at_soft_limit", func(e *env) syscall.Errno {
		c, m := cur()
		low, err := sc1(syscall.SYS_DUP, u(e.pipeR))
		if err != 0 {
			return eWrong + 1
		}
		closeFD(low)
		putWords(buf, uint64(low+1), m)
		if err := pl(0, rlimNofile, buf, 0); err != 0 {
			return err
		}
		a, errA := sc1(syscall.SYS_OPEN, cstr("/dev/null"), syscall.O_RDONLY|syscall.O_CLOEXEC)
		b, errB := sc1(syscall.SYS_OPEN, cstr("/dev/null"), syscall.O_RDONLY|syscall.O_CLOEXEC)
		_, errP := sc1(syscall.SYS_EPOLL_CREATE1, syscall.EPOLL_CLOEXEC)
		_, errD := sc1(syscall.SYS_DUP2, u(e.pipeR), low+1)
		_, errF := sc1(syscall.SYS_FCNTL, u(e.pipeR), fDupfd, low+1)
		errW := sc(syscall.SYS_WRITE, u(e.pipeW), cstr("x"), 0) // pipeW may be above the limit
		putWords(buf, c, m)
		restored := pl(0, rlimNofile, buf, 0)
		if errA == 0 {
			closeFD(a)
		}
		if errB == 0 {
			closeFD(b)
		}
		switch {
		case restored != 0:
			return eWrong + 2
		case errA != 0 || a != low:
			return eWrong + 3
		case errP != syscall.EMFILE:
			return eWrong + 4
		case errD != syscall.EBADF:
			return eWrong + 5
		case errF != syscall.EINVAL:
			return eWrong + 6
		case errW != 0:
			return eWrong + 7
		}
		return errB // EMFILE
	})
}
