package main

import (
	"os"
	"syscall"
	"unsafe"
)

// File locks: flock(2) and fcntl's record locks (F_GETLK, F_SETLK and the
// OFD forms) with bad fds, operations, types, whences, ranges, access
// modes and pointers, and the conflicts Linux reports between two
// descriptions of one file (e.tmpFile and e.roFile). No case blocks: a
// waiting form (flock without LOCK_NB, F_SETLKW) is only asked for what
// is free. Every case leaves no lock behind.

const (
	fGetlk    = 5
	fSetlk    = 6
	fSetlkw   = 7
	fOFDGetlk = 36
	fOFDSetlk = 37
	lockSH    = 1
	lockEX    = 2
	lockNB    = 4
	lockUN    = 8
	fRd       = 0
	fWr       = 1
	fUn       = 2
	offMax    = int64(^uint64(0) >> 1)
)

// flk is struct flock on amd64.
type flk struct {
	typ, whence int16
	_           int32
	start, len  int64
	pid         int32
	_           int32
}

// putFlk writes a struct flock at p.
func putFlk(p uintptr, typ, whence int16, start, n int64, pid int32) uintptr {
	*(*flk)(unsafe.Pointer(&bytesAt(p, 32)[0])) = flk{typ: typ, whence: whence, start: start, len: n, pid: pid}
	return p
}

func getFlk(p uintptr) flk { return *(*flk)(unsafe.Pointer(&bytesAt(p, 32)[0])) }

// unlockAll drops every lock the cases may have taken.
func unlockAll(e *env, p uintptr) {
	for _, fd := range []int{e.tmpFile, e.roFile, e.pipeR, e.pipeW, e.efd, e.root} {
		sc(syscall.SYS_FLOCK, u(fd), lockUN)
		sc(syscall.SYS_FCNTL, u(fd), fOFDSetlk, putFlk(p, fUn, 0, 0, 0, 0))
	}
	sc(syscall.SYS_FCNTL, u(e.tmpFile), fSetlk, putFlk(p, fUn, 0, 0, 0, 0))
}

func flockCases(e *env, add func(string, func(*env) syscall.Errno)) {
	p := e.scratch + 3072 // a struct flock
	q := e.scratch + 3136 // another
	lock := func(name string, f func(e *env) syscall.Errno) {
		add(name, func(e *env) syscall.Errno {
			unlockAll(e, p)
			r := f(e)
			unlockAll(e, p)
			return r
		})
	}
	fl := func(fd int, op uintptr) syscall.Errno { return sc(syscall.SYS_FLOCK, u(fd), op) }
	fc := func(fd int, cmd uintptr, typ, whence int16, start, n int64, pid int32) syscall.Errno {
		return sc(syscall.SYS_FCNTL, u(fd), cmd, putFlk(p, typ, whence, start, n, pid))
	}

	// flock: the operation is checked before the fd; LOCK_MAND is ignored.
	lock("flock/bad_fd", func(e *env) syscall.Errno { return fl(e.closed, lockSH) })
	lock("flock/bad_fd_bad_op", func(e *env) syscall.Errno { return fl(e.closed, 3) })
	lock("flock/bad_fd_mand", func(e *env) syscall.Errno { return fl(e.closed, 32|lockSH) })
	lock("flock/op_0", func(e *env) syscall.Errno { return fl(e.tmpFile, 0) })
	lock("flock/op_sh_ex", func(e *env) syscall.Errno { return fl(e.tmpFile, lockSH|lockEX) })
	lock("flock/op_nb_only", func(e *env) syscall.Errno { return fl(e.tmpFile, lockNB) })
	lock("flock/op_high_bit", func(e *env) syscall.Errno { return fl(e.tmpFile, 1<<16|lockSH) })
	lock("flock/op_all_ones", func(e *env) syscall.Errno { return fl(e.tmpFile, allOnes) })
	lock("flock/un_nb", func(e *env) syscall.Errno { return fl(e.tmpFile, lockUN|lockNB) })
	lock("flock/fd_high_bits", func(e *env) syscall.Errno {
		return sc(syscall.SYS_FLOCK, 1<<32|u(e.tmpFile), lockEX|lockNB)
	})
	lock("flock/ex_read_only", func(e *env) syscall.Errno { return fl(e.roFile, lockEX|lockNB) })
	lock("flock/conflict", func(e *env) syscall.Errno {
		fl(e.tmpFile, lockEX|lockNB)
		return fl(e.roFile, lockSH|lockNB)
	})
	lock("flock/shared", func(e *env) syscall.Errno {
		fl(e.tmpFile, lockSH|lockNB)
		return fl(e.roFile, lockSH)
	})
	// A conversion lets go of the old lock first: failing, it keeps none.
	lock("flock/failed_upgrade_drops_lock", func(e *env) syscall.Errno {
		fl(e.tmpFile, lockSH|lockNB)
		fl(e.roFile, lockSH|lockNB)
		if err := fl(e.tmpFile, lockEX|lockNB); err != syscall.EWOULDBLOCK {
			return check(false, 1)
		}
		return fl(e.roFile, lockEX|lockNB)
	})
	lock("flock/record_locks_apart", func(e *env) syscall.Errno {
		fc(e.tmpFile, fOFDSetlk, fWr, 0, 0, 0, 0)
		return fl(e.roFile, lockEX|lockNB)
	})
	// The two ends of a pipe are one inode.
	lock("flock/pipe_ends", func(e *env) syscall.Errno {
		if err := fl(e.pipeR, lockEX|lockNB); err != 0 {
			return err
		}
		return fl(e.pipeW, lockSH|lockNB)
	})
	lock("flock/eventfd", func(e *env) syscall.Errno { return fl(e.efd, lockEX|lockNB) })
	lock("flock/directory", func(e *env) syscall.Errno { return fl(e.root, lockEX|lockNB) })

	// fcntl: the fd, then the pointer, then the type and range, then the
	// access mode, then l_pid for the OFD forms.
	for _, c := range []struct {
		name string
		cmd  uintptr
	}{{"getlk", fGetlk}, {"setlk", fSetlk}, {"setlkw", fSetlkw}, {"ofd_getlk", fOFDGetlk}, {"ofd_setlk", fOFDSetlk}} {
		cmd := c.cmd
		lock("fcntl_"+c.name+"/bad_fd", func(e *env) syscall.Errno {
			return sc(syscall.SYS_FCNTL, u(e.closed), cmd, putFlk(p, fRd, 0, 0, 0, 0))
		})
		lock("fcntl_"+c.name+"/bad_fd_null", func(e *env) syscall.Errno { return sc(syscall.SYS_FCNTL, u(e.closed), cmd, 0) })
		lock("fcntl_"+c.name+"/null", func(e *env) syscall.Errno { return sc(syscall.SYS_FCNTL, u(e.tmpFile), cmd, 0) })
		lock("fcntl_"+c.name+"/edge", func(e *env) syscall.Errno { return sc(syscall.SYS_FCNTL, u(e.tmpFile), cmd, e.edge-16) })
		lock("fcntl_"+c.name+"/kernel", func(e *env) syscall.Errno {
			return sc(syscall.SYS_FCNTL, u(e.tmpFile), cmd, 0xffff800000000000)
		})
		lock("fcntl_"+c.name+"/read_only_page", func(e *env) syscall.Errno { return sc(syscall.SYS_FCNTL, u(e.tmpFile), cmd, e.ro) })
		for _, t := range []struct {
			name string
			typ  int16
		}{{"rd", fRd}, {"wr", fWr}, {"un", fUn}, {"type_3", 3}, {"type_neg", -1}} {
			typ := t.typ
			lock("fcntl_"+c.name+"/"+t.name, func(e *env) syscall.Errno { return fc(e.tmpFile, cmd, typ, 0, 0, 10, 0) })
			lock("fcntl_"+c.name+"/"+t.name+"_read_only", func(e *env) syscall.Errno { return fc(e.roFile, cmd, typ, 0, 0, 10, 0) })
			lock("fcntl_"+c.name+"/"+t.name+"_pipe_read", func(e *env) syscall.Errno { return fc(e.pipeR, cmd, typ, 0, 0, 10, 0) })
			lock("fcntl_"+c.name+"/"+t.name+"_pipe_write", func(e *env) syscall.Errno { return fc(e.pipeW, cmd, typ, 0, 0, 10, 0) })
			lock("fcntl_"+c.name+"/"+t.name+"_eventfd", func(e *env) syscall.Errno { return fc(e.efd, cmd, typ, 0, 0, 10, 0) })
			lock("fcntl_"+c.name+"/"+t.name+"_directory", func(e *env) syscall.Errno { return fc(e.root, cmd, typ, 0, 0, 10, 0) })
			lock("fcntl_"+c.name+"/"+t.name+"_pid", func(e *env) syscall.Errno { return fc(e.tmpFile, cmd, typ, 0, 0, 10, 77) })
			lock("fcntl_"+c.name+"/"+t.name+"_read_only_pid", func(e *env) syscall.Errno { return fc(e.roFile, cmd, typ, 0, 0, 10, 77) })
			lock("fcntl_"+c.name+"/"+t.name+"_read_only_whence_9", func(e *env) syscall.Errno { return fc(e.roFile, cmd, typ, 9, 0, 10, 0) })
		}
		for _, r := range []struct {
			name          string
			whence        int16
			start, n, pos int64
		}{
			{"whence_3", 3, 0, 0, 0}, {"whence_neg", -1, 0, 0, 0},
			{"start_neg", 0, -1, 0, 0}, {"start_min", 0, -1 << 63, 0, 0}, {"start_max", 0, offMax, 0, 0},
			{"start_max_len_1", 0, offMax, 1, 0}, {"start_max_len_2", 0, offMax, 2, 0},
			{"len_max", 0, 1, offMax, 0}, {"len_max_from_0", 0, 0, offMax, 0},
			{"len_neg", 0, 5, -5, 0}, {"len_neg_past_0", 0, 5, -6, 0}, {"len_min", 0, 5, -1 << 63, 0},
			{"end_start_neg", 2, -1, 1, 0}, {"end_start_before_0", 2, -23, 1, 0}, {"end_start_max", 2, offMax, 0, 0},
			{"end_start_to_0", 2, -22, 1, 0}, {"end_len_neg", 2, 0, -22, 0}, {"end_len_neg_past_0", 2, 0, -23, 0},
			{"cur_start_neg", 1, -10, 1, 10}, {"cur_start_before_0", 1, -11, 1, 10}, {"cur_start_max", 1, offMax, 0, 10},
			{"cur_start_max_minus_pos", 1, offMax - 10, 0, 10}, {"cur_len_neg_past_0", 1, 0, -11, 10},
		} {
			r := r
			lock("fcntl_"+c.name+"/"+r.name, func(e *env) syscall.Errno {
				if _, err := sc1(syscall.SYS_LSEEK, u(e.tmpFile), uintptr(r.pos), 0); err != 0 {
					return err
				}
				return fc(e.tmpFile, cmd, fWr, r.whence, r.start, r.n, 0)
			})
		}
	}

	// Conflicts between the two descriptions of the file.
	lock("fcntl_setlk/posix_never_conflicts_in_process", func(e *env) syscall.Errno {
		fc(e.tmpFile, fSetlk, fWr, 0, 0, 0, 0)
		return fc(e.roFile, fSetlk, fRd, 0, 5, 5, 0)
	})
	lock("fcntl_ofd_setlk/conflict", func(e *env) syscall.Errno {
		fc(e.tmpFile, fOFDSetlk, fWr, 0, 10, 10, 0)
		return fc(e.roFile, fOFDSetlk, fRd, 0, 19, 1, 0)
	})
	lock("fcntl_ofd_setlk/adjacent", func(e *env) syscall.Errno {
		fc(e.tmpFile, fOFDSetlk, fWr, 0, 10, 10, 0)
		return fc(e.roFile, fOFDSetlk, fRd, 0, 20, 1, 0)
	})
	lock("fcntl_ofd_setlk/read_shared", func(e *env) syscall.Errno {
		fc(e.tmpFile, fOFDSetlk, fRd, 0, 10, 10, 0)
		return fc(e.roFile, fOFDSetlk, fRd, 0, 0, 0, 0)
	})
	lock("fcntl_setlk/against_ofd", func(e *env) syscall.Errno {
		fc(e.tmpFile, fOFDSetlk, fWr, 0, 10, 10, 0)
		return fc(e.roFile, fSetlk, fRd, 0, 0, 0, 0)
	})
	lock("fcntl_ofd_setlk/against_posix", func(e *env) syscall.Errno {
		fc(e.tmpFile, fSetlk, fRd, 0, 10, 10, 0)
		return fc(e.tmpFile, fOFDSetlk, fWr, 0, 0, 11, 0)
	})
	lock("fcntl_setlkw/free", func(e *env) syscall.Errno {
		fc(e.roFile, fOFDSetlk, fRd, 0, 0, 10, 0)
		return fc(e.tmpFile, fSetlkw, fWr, 0, 10, 0, 0)
	})
	// What F_GETLK and F_OFD_GETLK report: the holder, from SEEK_SET, with
	// l_pid the process's (POSIX) or -1 (OFD); F_UNLCK and nothing else
	// changed when nothing conflicts.
	getlk := func(fd int, cmd uintptr, typ int16, start, n int64, want flk) syscall.Errno {
		putFlk(q, typ, 0, start, n, 0)
		if err := sc(syscall.SYS_FCNTL, u(fd), cmd, q); err != 0 {
			return err
		}
		return check(getFlk(q) == want, 2)
	}
	lock("fcntl_ofd_getlk/posix_holder", func(e *env) syscall.Errno {
		fc(e.tmpFile, fSetlk, fWr, 0, 10, 10, 0)
		fc(e.tmpFile, fSetlk, fWr, 0, 20, 0, 0)
		return getlk(e.roFile, fOFDGetlk, fRd, 5, 10, flk{typ: fWr, whence: 0, start: 10, len: 0, pid: int32(os.Getpid())})
	})
	lock("fcntl_ofd_getlk/ofd_holder", func(e *env) syscall.Errno {
		fc(e.roFile, fOFDSetlk, fRd, 0, 5, 10, 0)
		return getlk(e.tmpFile, fOFDGetlk, fWr, 0, 6, flk{typ: fRd, whence: 0, start: 5, len: 10, pid: -1})
	})
	lock("fcntl_getlk/ofd_holder", func(e *env) syscall.Errno {
		fc(e.roFile, fOFDSetlk, fRd, 0, 5, 10, 0)
		return getlk(e.tmpFile, fGetlk, fWr, 0, 100, flk{typ: fRd, whence: 0, start: 5, len: 10, pid: -1})
	})
	lock("fcntl_getlk/own_posix", func(e *env) syscall.Errno {
		fc(e.tmpFile, fSetlk, fWr, 0, 0, 0, 0)
		return getlk(e.roFile, fGetlk, fWr, 7, 9, flk{typ: fUn, whence: 0, start: 7, len: 9})
	})
	lock("fcntl_ofd_getlk/own_ofd", func(e *env) syscall.Errno {
		fc(e.tmpFile, fOFDSetlk, fWr, 0, 0, 0, 0)
		return getlk(e.tmpFile, fOFDGetlk, fWr, 7, 9, flk{typ: fUn, whence: 0, start: 7, len: 9})
	})
	// F_OFD_GETLK of F_UNLCK reports the description's own lock (Linux 6.3).
	lock("fcntl_ofd_getlk/unlck_own", func(e *env) syscall.Errno {
		fc(e.tmpFile, fOFDSetlk, fRd, 0, 5, 10, 0)
		return getlk(e.tmpFile, fOFDGetlk, fUn, 0, 0, flk{typ: fRd, whence: 0, start: 5, len: 10, pid: -1})
	})
	lock("fcntl_ofd_getlk/unlck_other", func(e *env) syscall.Errno {
		fc(e.tmpFile, fOFDSetlk, fRd, 0, 5, 10, 0)
		return getlk(e.roFile, fOFDGetlk, fUn, 0, 0, flk{typ: fUn, whence: 0, start: 0, len: 0})
	})
	// Unlocking the middle of a range leaves its two ends.
	lock("fcntl_setlk/split", func(e *env) syscall.Errno {
		fc(e.tmpFile, fSetlk, fWr, 0, 0, 100, 0)
		fc(e.tmpFile, fSetlk, fUn, 0, 40, 20, 0)
		if err := getlk(e.roFile, fOFDGetlk, fRd, 40, 20, flk{typ: fUn, whence: 0, start: 40, len: 20}); err != 0 {
			return err
		}
		if err := getlk(e.roFile, fOFDGetlk, fRd, 59, 1, flk{typ: fUn, whence: 0, start: 59, len: 1}); err != 0 {
			return err
		}
		return getlk(e.roFile, fOFDGetlk, fRd, 60, 1, flk{typ: fWr, start: 60, len: 40, pid: int32(os.Getpid())})
	})
	// Closing any fd of the file drops the process's POSIX locks on it.
	lock("fcntl_setlk/dropped_by_close", func(e *env) syscall.Errno {
		fc(e.tmpFile, fSetlk, fWr, 0, 0, 0, 0)
		d, err := sc1(syscall.SYS_DUP, u(e.roFile))
		if err != 0 {
			return err
		}
		closeFD(d)
		return fc(e.roFile, fOFDSetlk, fRd, 0, 0, 0, 0)
	})
	// So does dup2 over one of its fds (newfd is closed first).
	lock("fcntl_setlk/dropped_by_dup2", func(e *env) syscall.Errno {
		fc(e.tmpFile, fSetlk, fWr, 0, 0, 0, 0)
		d, err := sc1(syscall.SYS_DUP, u(e.roFile))
		if err != 0 {
			return err
		}
		defer closeFD(d)
		if _, err := sc1(syscall.SYS_DUP2, u(e.pipeR), d); err != 0 {
			return err
		}
		return fc(e.roFile, fOFDSetlk, fRd, 0, 0, 0, 0)
	})
	// And closing an fd of another file does not.
	lock("fcntl_setlk/kept_closing_other_file", func(e *env) syscall.Errno {
		fc(e.tmpFile, fSetlk, fWr, 0, 0, 0, 0)
		d, err := sc1(syscall.SYS_DUP, u(e.pipeR))
		if err != 0 {
			return err
		}
		closeFD(d)
		return fc(e.roFile, fOFDSetlk, fRd, 0, 0, 0, 0)
	})
}
