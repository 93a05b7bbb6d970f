package main

import (
	"syscall"
)

// Open file descriptions and the dup family: dup, dup2, dup3 and
// fcntl(F_DUPFD, F_DUPFD_CLOEXEC) with bad fds and flags, and what dups
// share (the offset, O_APPEND, O_NONBLOCK, the pipe end, the epoll
// instance) and what they do not (FD_CLOEXEC). A case that checks a value
// returns a made-up errno (0xe00 and up) when the value is wrong, so a
// difference from Linux shows as a different result.

const (
	fDupfd        = 0
	fDupfdCloexec = 1030
	eWrong        = syscall.Errno(0xe00)
)

// check returns e unless ok is false, then eWrong+n.
func check(ok bool, n int) syscall.Errno {
	if !ok {
		return eWrong + syscall.Errno(n)
	}
	return 0
}

func closeFD(fd uintptr) { syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0) }

// scClose makes a call that returns a new fd and closes it if it does.
func scClose(nr uintptr, a ...uintptr) syscall.Errno {
	r, err := sc1(nr, a...)
	if err == 0 {
		closeFD(r)
	}
	return err
}

// nofile is RLIMIT_NOFILE's soft limit.
func nofile() uintptr {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fail("getrlimit: %v", err)
	}
	return uintptr(lim.Cur)
}

// pipe makes a pipe with flags.
func pipe(flags int) (uintptr, uintptr) {
	var p [2]int
	if err := syscall.Pipe2(p[:], flags); err != nil {
		fail("pipe2: %v", err)
	}
	return uintptr(p[0]), uintptr(p[1])
}

func getfd(fd uintptr) uintptr {
	r, _ := sc1(syscall.SYS_FCNTL, fd, syscall.F_GETFD)
	return r
}

func getfl(fd uintptr) uintptr {
	r, _ := sc1(syscall.SYS_FCNTL, fd, syscall.F_GETFL)
	return r
}

// knownFile (re)writes a file in the scratch directory that holds
// "hostile file contents\n" and returns its name.
func knownFile(e *env) uintptr {
	name := cstr(e.tmpDir + "/known")
	fd, err := sc1(syscall.SYS_OPEN, name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC, 0o644)
	if err != 0 {
		fail("create known file: %v", err)
	}
	sc(syscall.SYS_WRITE, fd, cstr("hostile file contents\n"), 22)
	closeFD(fd)
	return name
}

func dupCases(e *env, add func(string, func(*env) syscall.Errno)) {
	closeRangeCases(add)
	buf := e.scratch
	for _, b := range badFDs(e) {
		fd := b.fd
		add("dup/fd_"+b.name, func(*env) syscall.Errno { return scClose(syscall.SYS_DUP, fd) })
		add("dup2/old_"+b.name, func(e *env) syscall.Errno { return scClose(syscall.SYS_DUP2, fd, 1000) })
		add("dup3/old_"+b.name, func(e *env) syscall.Errno { return scClose(syscall.SYS_DUP3, fd, 1000, 0) })
		add("fcntl_dupfd/fd_"+b.name, func(*env) syscall.Errno { return scClose(syscall.SYS_FCNTL, fd, fDupfd, 0) })
		// As a new fd, some of these name a closed fd below the limit:
		// the call succeeds, and the case closes what it made.
		add("dup2/new_"+b.name, func(e *env) syscall.Errno {
			r, err := sc1(syscall.SYS_DUP2, u(e.pipeR), fd)
			if err == 0 {
				closeFD(r)
				return check(r == uintptr(uint32(fd)), 1)
			}
			return err
		})
		add("dup3/new_"+b.name, func(e *env) syscall.Errno {
			r, err := sc1(syscall.SYS_DUP3, u(e.pipeR), fd, syscall.O_CLOEXEC)
			if err == 0 {
				closeFD(r)
			}
			return err
		})
		add("dup2/same_"+b.name, func(*env) syscall.Errno { return sc(syscall.SYS_DUP2, fd, fd) })
	}
	add("dup2/same_open", func(e *env) syscall.Errno {
		r, err := sc1(syscall.SYS_DUP2, u(e.pipeW), u(e.pipeW))
		if err != 0 {
			return err
		}
		return check(r == u(e.pipeW) && getfd(r) == syscall.FD_CLOEXEC, 1) // unchanged, flag kept
	})
	// dup2 has two arguments: whatever the third register holds, the new
	// fd is not close-on-exec (Velocity's path without the kernel lock
	// once read dup3's flags there).
	add("dup2/third_register_ignored", func(e *env) syscall.Errno {
		r, err := sc1(syscall.SYS_DUP2, u(e.pipeR), 1000, syscall.O_CLOEXEC)
		if err != 0 {
			return err
		}
		defer closeFD(r)
		return check(getfd(r) == 0, 1)
	})
	add("dup3/same_open", func(e *env) syscall.Errno { return sc(syscall.SYS_DUP3, u(e.pipeW), u(e.pipeW), 0) })
	add("dup3/same_closed", func(e *env) syscall.Errno { return sc(syscall.SYS_DUP3, u(e.closed), u(e.closed), 0) })
	add("dup3/bad_flags", func(e *env) syscall.Errno { return sc(syscall.SYS_DUP3, u(e.pipeR), 1000, 1) })
	add("dup3/bad_flags_bad_fd", func(e *env) syscall.Errno { return sc(syscall.SYS_DUP3, u(e.closed), 1000, 0xffff) })
	add("dup3/nonblock_flag", func(e *env) syscall.Errno {
		return sc(syscall.SYS_DUP3, u(e.pipeR), 1000, syscall.O_NONBLOCK)
	})
	add("dup2/at_limit", func(e *env) syscall.Errno { return sc(syscall.SYS_DUP2, u(e.pipeR), nofile()) })
	add("dup3/at_limit", func(e *env) syscall.Errno { return sc(syscall.SYS_DUP3, u(e.pipeR), nofile(), 0) })
	add("dup2/below_limit", func(e *env) syscall.Errno {
		r, err := sc1(syscall.SYS_DUP2, u(e.pipeR), nofile()-1)
		if err != 0 {
			return err
		}
		closeFD(r)
		return check(r == nofile()-1, 1)
	})
	add("fcntl_dupfd/at_limit", func(e *env) syscall.Errno { return sc(syscall.SYS_FCNTL, u(e.pipeR), fDupfd, nofile()) })
	add("fcntl_dupfd/negative", func(e *env) syscall.Errno { return sc(syscall.SYS_FCNTL, u(e.pipeR), fDupfd, allOnes) })
	add("fcntl_dupfd_cloexec/at_limit", func(e *env) syscall.Errno {
		return sc(syscall.SYS_FCNTL, u(e.pipeR), fDupfdCloexec, nofile())
	})
	add("fcntl_dupfd/below_limit", func(e *env) syscall.Errno {
		r, err := sc1(syscall.SYS_FCNTL, u(e.pipeR), fDupfd, nofile()-1)
		if err != 0 {
			return err
		}
		closeFD(r)
		return check(r == nofile()-1, 1)
	})
	// The lowest closed fd, at or above the argument.
	add("fcntl_dupfd/lowest_from", func(e *env) syscall.Errno {
		a, _ := sc1(syscall.SYS_DUP2, u(e.pipeR), 1500)
		b, err := sc1(syscall.SYS_FCNTL, u(e.pipeW), fDupfd, 1500)
		closeFD(a)
		closeFD(b)
		if err != 0 {
			return err
		}
		return check(a == 1500 && b == 1501, 1)
	})
	add("dup/lowest", func(e *env) syscall.Errno {
		a, err := sc1(syscall.SYS_DUP, u(e.pipeR))
		if err != 0 {
			return err
		}
		closeFD(a)
		b, err := sc1(syscall.SYS_DUP, u(e.pipeW))
		if err != 0 {
			return err
		}
		closeFD(b)
		return check(a == b, 1)
	})
	// FD_CLOEXEC belongs to the fd.
	add("dup/cloexec_per_fd", func(e *env) syscall.Errno {
		r, w := pipe(syscall.O_CLOEXEC)
		defer closeFD(r)
		defer closeFD(w)
		d, err := sc1(syscall.SYS_DUP, r)
		if err != 0 {
			return err
		}
		defer closeFD(d)
		if getfd(r) != syscall.FD_CLOEXEC || getfd(d) != 0 {
			return eWrong + 1
		}
		sc(syscall.SYS_FCNTL, d, syscall.F_SETFD, syscall.FD_CLOEXEC)
		sc(syscall.SYS_FCNTL, r, syscall.F_SETFD, 0)
		return check(getfd(r) == 0 && getfd(d) == syscall.FD_CLOEXEC, 2)
	})
	add("dup3/cloexec", func(e *env) syscall.Errno {
		d, err := sc1(syscall.SYS_DUP3, u(e.pipeR), 1000, syscall.O_CLOEXEC)
		if err != 0 {
			return err
		}
		defer closeFD(d)
		c, err := sc1(syscall.SYS_FCNTL, u(e.pipeR), fDupfdCloexec, 1001)
		if err != 0 {
			return err
		}
		defer closeFD(c)
		p, err := sc1(syscall.SYS_FCNTL, u(e.pipeR), fDupfd, 1001)
		if err != 0 {
			return err
		}
		defer closeFD(p)
		return check(getfd(d) == syscall.FD_CLOEXEC && getfd(c) == syscall.FD_CLOEXEC && getfd(p) == 0, 1)
	})
	add("dup2/clears_cloexec", func(e *env) syscall.Errno {
		d, err := sc1(syscall.SYS_DUP3, u(e.pipeR), 1000, syscall.O_CLOEXEC)
		if err != 0 {
			return err
		}
		defer closeFD(d)
		if _, err := sc1(syscall.SYS_DUP2, u(e.pipeW), 1000); err != 0 {
			return err
		}
		return check(getfd(1000) == 0 && getfl(1000)&3 == syscall.O_WRONLY, 1)
	})
	// The offset is the description's.
	add("dup/shared_offset", func(e *env) syscall.Errno {
		a, err := sc1(syscall.SYS_OPEN, knownFile(e), syscall.O_RDONLY)
		if err != 0 {
			return err
		}
		defer closeFD(a)
		b, err := sc1(syscall.SYS_DUP, a)
		if err != 0 {
			return err
		}
		defer closeFD(b)
		sc(syscall.SYS_READ, a, buf, 4)
		off, _ := sc1(syscall.SYS_LSEEK, b, 0, 1) // SEEK_CUR
		n, _ := sc1(syscall.SYS_READ, b, buf, 4)
		if off != 4 || n != 4 || string(bytesAt(buf, 4)) != "ile " {
			return eWrong + 1
		}
		sc(syscall.SYS_LSEEK, b, 0, 0)
		off, _ = sc1(syscall.SYS_LSEEK, a, 0, 1)
		return check(off == 0, 2)
	})
	add("dup/separate_open_not_shared", func(e *env) syscall.Errno {
		a, _ := sc1(syscall.SYS_OPEN, knownFile(e), syscall.O_RDONLY)
		b, _ := sc1(syscall.SYS_OPEN, knownFile(e), syscall.O_RDONLY)
		defer closeFD(a)
		defer closeFD(b)
		sc(syscall.SYS_READ, a, buf, 4)
		off, err := sc1(syscall.SYS_LSEEK, b, 0, 1)
		if err != 0 {
			return err
		}
		return check(off == 0, 1)
	})
	// Status flags are the description's: O_APPEND and O_NONBLOCK set on
	// one fd show on its dups.
	add("dup/shared_append", func(e *env) syscall.Errno {
		name := cstr(e.tmpDir + "/append")
		a, err := sc1(syscall.SYS_OPEN, name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC, 0o644)
		if err != 0 {
			return err
		}
		defer closeFD(a)
		b, _ := sc1(syscall.SYS_DUP, a)
		defer closeFD(b)
		sc(syscall.SYS_WRITE, a, cstr("0123456789"), 10)
		if err := sc(syscall.SYS_FCNTL, b, syscall.F_SETFL, syscall.O_APPEND); err != 0 {
			return err
		}
		if getfl(a)&syscall.O_APPEND == 0 {
			return eWrong + 1
		}
		sc(syscall.SYS_LSEEK, a, 0, 0)
		sc(syscall.SYS_WRITE, a, cstr("x"), 1) // appends: the file is 11 bytes
		var st syscall.Stat_t
		if err := syscall.Fstat(int(b), &st); err != nil {
			return err.(syscall.Errno)
		}
		off, _ := sc1(syscall.SYS_LSEEK, b, 0, 1)
		return check(st.Size == 11 && off == 11, 2)
	})
	add("dup/shared_nonblock", func(e *env) syscall.Errno {
		r, w := pipe(syscall.O_CLOEXEC) // blocking
		defer closeFD(r)
		defer closeFD(w)
		d, _ := sc1(syscall.SYS_DUP, r)
		defer closeFD(d)
		if getfl(d)&syscall.O_NONBLOCK != 0 {
			return eWrong + 1
		}
		sc(syscall.SYS_FCNTL, r, syscall.F_SETFL, syscall.O_NONBLOCK)
		if getfl(d)&syscall.O_NONBLOCK == 0 {
			return eWrong + 2 // (a read of d would block)
		}
		return sc(syscall.SYS_READ, d, buf, 16) // EAGAIN
	})
	// A pipe end lives while any of its fds does.
	add("dup/pipe_write_end_survives", func(e *env) syscall.Errno {
		r, w := pipe(syscall.O_NONBLOCK)
		defer closeFD(r)
		w2, _ := sc1(syscall.SYS_DUP, w)
		closeFD(w)
		if n, err := sc1(syscall.SYS_WRITE, w2, cstr("abc"), 3); err != 0 || n != 3 {
			return eWrong + 1
		}
		if n, err := sc1(syscall.SYS_READ, r, buf, 16); err != 0 || n != 3 || string(bytesAt(buf, 3)) != "abc" {
			return eWrong + 2
		}
		if err := sc(syscall.SYS_READ, r, buf, 16); err != syscall.EAGAIN {
			return eWrong + 3 // a writer is still open: no EOF
		}
		closeFD(w2)
		n, err := sc1(syscall.SYS_READ, r, buf, 16)
		if err != 0 {
			return err
		}
		return check(n == 0, 4) // the last writer went: EOF
	})
	add("dup/pipe_read_end_survives", func(e *env) syscall.Errno {
		r, w := pipe(syscall.O_NONBLOCK)
		defer closeFD(w)
		r2, _ := sc1(syscall.SYS_FCNTL, r, fDupfd, 700)
		closeFD(r)
		if err := sc(syscall.SYS_WRITE, w, cstr("x"), 1); err != 0 {
			return err
		}
		closeFD(r2)
		return sc(syscall.SYS_WRITE, w, cstr("x"), 1) // EPIPE
	})
	add("dup2/closes_target", func(e *env) syscall.Errno {
		r, w := pipe(syscall.O_NONBLOCK)
		r2, w2 := pipe(syscall.O_NONBLOCK)
		defer closeFD(r)
		defer closeFD(r2)
		defer closeFD(w2)
		// w is the only writer of the first pipe: dup2 over it closes it.
		if x, err := sc1(syscall.SYS_DUP2, w2, w); err != 0 || x != w {
			return eWrong + 1
		}
		n, err := sc1(syscall.SYS_READ, r, buf, 16)
		if err != 0 || n != 0 {
			return eWrong + 2
		}
		sc(syscall.SYS_WRITE, w, cstr("yz"), 2) // now the second pipe
		n, err = sc1(syscall.SYS_READ, r2, buf, 16)
		closeFD(w)
		return check(err == 0 && n == 2, 3)
	})
	add("dup/eventfd", func(e *env) syscall.Errno {
		d, err := sc1(syscall.SYS_DUP, u(e.efd))
		if err != 0 {
			return err
		}
		defer closeFD(d)
		sc(syscall.SYS_READ, u(e.efd), buf, 8) // drain what other cases left
		putWords(buf, 5)
		sc(syscall.SYS_WRITE, d, buf, 8)
		putWords(buf, 0)
		n, err := sc1(syscall.SYS_READ, u(e.efd), buf, 8)
		return check(err == 0 && n == 8 && bytesAt(buf, 1)[0] == 5, 1)
	})
	// epoll: a record is keyed by the file and the fd, so a dup can be
	// added too; it stays while the file is open, even once its own fd is
	// closed; an epoll instance's dups are the same instance.
	add("dup/epoll", func(e *env) syscall.Errno {
		r, w := pipe(syscall.O_NONBLOCK)
		defer closeFD(w)
		d, _ := sc1(syscall.SYS_DUP, r)
		defer closeFD(d)
		ep, err := sc1(syscall.SYS_EPOLL_CREATE1, 0)
		if err != 0 {
			return err
		}
		defer closeFD(ep)
		ep2, _ := sc1(syscall.SYS_DUP, ep)
		defer closeFD(ep2)
		put32s(buf, syscall.EPOLLIN, 1, 0)
		if err := sc(syscall.SYS_EPOLL_CTL, ep, syscall.EPOLL_CTL_ADD, r, buf); err != 0 {
			return err
		}
		put32s(buf, syscall.EPOLLIN, 2, 0)
		if err := sc(syscall.SYS_EPOLL_CTL, ep2, syscall.EPOLL_CTL_ADD, d, buf); err != 0 {
			return eWrong + 1
		}
		if err := sc(syscall.SYS_EPOLL_CTL, ep2, syscall.EPOLL_CTL_ADD, r, buf); err != syscall.EEXIST {
			return eWrong + 2
		}
		sc(syscall.SYS_WRITE, w, cstr("x"), 1)
		n, err := sc1(syscall.SYS_EPOLL_WAIT, ep2, buf, 8, 0)
		if err != 0 || n != 2 {
			return eWrong + 3
		}
		closeFD(r)
		n, err = sc1(syscall.SYS_EPOLL_WAIT, ep, buf, 8, 0)
		if err != 0 || n != 2 {
			return eWrong + 4 // both records stay: d keeps the file open
		}
		return sc(syscall.SYS_EPOLL_CTL, ep, syscall.EPOLL_CTL_DEL, r, 0) // EBADF: r is closed
	})
	add("dup/fstat_same", func(e *env) syscall.Errno {
		d, _ := sc1(syscall.SYS_DUP, u(e.tmpFile))
		defer closeFD(d)
		var a, b syscall.Stat_t
		syscall.Fstat(e.tmpFile, &a)
		if err := syscall.Fstat(int(d), &b); err != nil {
			return err.(syscall.Errno)
		}
		return check(a.Ino == b.Ino && a.Size == b.Size, 1)
	})
	add("dup/directory", func(e *env) syscall.Errno {
		d, err := sc1(syscall.SYS_DUP, u(e.root))
		if err != 0 {
			return err
		}
		closeFD(d)
		d, _ = sc1(syscall.SYS_DUP, u(e.root))
		defer closeFD(d)
		r, err := sc1(syscall.SYS_OPENAT, d, cstr("tmp"), syscall.O_RDONLY|syscall.O_DIRECTORY)
		if err != 0 {
			return err
		}
		closeFD(r)
		n, err := sc1(syscall.SYS_GETDENTS64, d, buf, 4096)
		sc(syscall.SYS_LSEEK, d, 0, 0) // the offset is e.root's too
		return check(err == 0 && n > 0, 1)
	})
	// open with O_CREAT of a name that exists.
	for _, p := range []string{"/", "/tmp", "/dev/null", "."} {
		path := p
		add("open_excl/"+path, func(*env) syscall.Errno {
			r, err := sc1(syscall.SYS_OPEN, cstr(path), syscall.O_CREAT|syscall.O_EXCL|syscall.O_RDONLY, 0o644)
			if err == 0 {
				closeFD(r)
			}
			return err
		})
		add("open_creat/"+path, func(*env) syscall.Errno {
			r, err := sc1(syscall.SYS_OPEN, cstr(path), syscall.O_CREAT|syscall.O_RDONLY, 0o644)
			if err == 0 {
				closeFD(r)
			}
			return err
		})
	}
	add("open_excl/tmp_file", func(e *env) syscall.Errno {
		return sc(syscall.SYS_OPEN, cstr(e.tmpDir+"/f"), syscall.O_CREAT|syscall.O_EXCL|syscall.O_RDWR, 0o644)
	})
}

// closeRangeCases: close_range(2) (since Linux 5.9). CLOSE_RANGE_UNSHARE
// is left out: on Linux it would give the calling thread a private fd
// table, which a Go program's other threads (its netpoller's epoll fd
// among them) would not share; Velocity refuses it (EINVAL).
func closeRangeCases(add func(string, func(*env) syscall.Errno)) {
	const closeRange = 436
	add("close_range/reversed", func(*env) syscall.Errno { return sc(closeRange, 1001, 1000, 0) })
	add("close_range/bad_flag", func(*env) syscall.Errno { return sc(closeRange, 1000, 1001, 1) })
	add("close_range/nothing_open", func(*env) syscall.Errno { return sc(closeRange, 1000, 1010, 0) })
	add("close_range/past_the_table", func(*env) syscall.Errno { return sc(closeRange, 1<<30, allOnes, 0) })
	add("close_range/closes", func(e *env) syscall.Errno {
		for _, fd := range []uintptr{1000, 1002} {
			if _, err := sc1(syscall.SYS_DUP2, u(e.pipeR), fd); err != 0 {
				return err
			}
		}
		if err := sc(closeRange, 1000, 1002, 0); err != 0 {
			return err
		}
		_, e1 := sc1(syscall.SYS_FCNTL, 1000, syscall.F_GETFD)
		_, e2 := sc1(syscall.SYS_FCNTL, 1002, syscall.F_GETFD)
		return check(e1 == syscall.EBADF && e2 == syscall.EBADF && getfd(u(e.pipeR)) != allOnes, 1)
	})
	add("close_range/cloexec", func(e *env) syscall.Errno {
		if _, err := sc1(syscall.SYS_DUP2, u(e.pipeR), 1000); err != 0 {
			return err
		}
		defer closeFD(1000)
		if err := sc(closeRange, 1000, 1000, 4); err != 0 {
			return err
		}
		return check(getfd(1000) == syscall.FD_CLOEXEC, 1)
	})
}
