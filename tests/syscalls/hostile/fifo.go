package main

import "syscall"

// fifoCases are the cases for mknodat and opens of FIFOs in e.tmpDir. A
// FIFO a case makes is unlinked again by the case.
func fifoCases(e *env, add func(string, func(*env) syscall.Errno)) {
	const (
		sIFIFO  = 0o010000
		sIFREG  = 0o100000
		sIFDIR  = 0o040000
		atFDCWD = allOnes - 99
	)
	fifo := e.tmpDir + "/fifo"
	// made runs call on a fresh FIFO, then unlinks it.
	made := func(call func(path uintptr) syscall.Errno) func(*env) syscall.Errno {
		return func(*env) syscall.Errno {
			p := cstr(fifo)
			if err := sc(syscall.SYS_MKNODAT, atFDCWD, p, sIFIFO|0o600, 0); err != 0 {
				fail("mknodat S_IFIFO: %v", err)
			}
			err := call(p)
			if err := sc(syscall.SYS_UNLINKAT, atFDCWD, p, 0); err != 0 {
				fail("unlinkat of the FIFO: %v", err)
			}
			return err
		}
	}
	// opened opens the FIFO and closes what it got: the open's errno.
	opened := func(flags uintptr) func(path uintptr) syscall.Errno {
		return func(p uintptr) syscall.Errno {
			fd, err := sc1(syscall.SYS_OPENAT, atFDCWD, p, flags)
			if err == 0 {
				syscall.Close(int(fd))
			}
			return err
		}
	}
	add("mknodat/fifo", made(func(uintptr) syscall.Errno { return 0 }))
	add("mknodat/fifo_exists", made(func(p uintptr) syscall.Errno { return sc(syscall.SYS_MKNODAT, atFDCWD, p, sIFIFO|0o600, 0) }))
	add("mknodat/regular_exists", func(e *env) syscall.Errno {
		return sc(syscall.SYS_MKNODAT, atFDCWD, cstr(e.tmpDir+"/f"), sIFREG|0o600, 0)
	})
	add("mknodat/dir_type", func(e *env) syscall.Errno {
		return sc(syscall.SYS_MKNODAT, atFDCWD, cstr(e.tmpDir+"/d"), sIFDIR|0o700, 0)
	})
	add("mknodat/bad_type", func(e *env) syscall.Errno {
		return sc(syscall.SYS_MKNODAT, atFDCWD, cstr(e.tmpDir+"/d"), 0o070000|0o600, 0)
	})
	add("mknodat/bad_type_path_unmapped", func(e *env) syscall.Errno {
		return sc(syscall.SYS_MKNODAT, atFDCWD, e.edge, 0o070000|0o600, 0)
	})
	add("mknodat/path_unmapped", func(e *env) syscall.Errno { return sc(syscall.SYS_MKNODAT, atFDCWD, e.edge, sIFIFO|0o600, 0) })
	add("mknodat/missing_parent", func(e *env) syscall.Errno {
		return sc(syscall.SYS_MKNODAT, atFDCWD, cstr(e.tmpDir+"/no/fifo"), sIFIFO|0o600, 0)
	})
	add("mknodat/parent_is_file", func(e *env) syscall.Errno {
		return sc(syscall.SYS_MKNODAT, atFDCWD, cstr(e.tmpDir+"/f/fifo"), sIFIFO|0o600, 0)
	})
	add("mknodat/dirfd_closed", func(e *env) syscall.Errno {
		return sc(syscall.SYS_MKNODAT, uintptr(e.closed), cstr("fifo"), sIFIFO|0o600, 0)
	})
	add("mknodat/trailing_slash", func(e *env) syscall.Errno {
		return sc(syscall.SYS_MKNODAT, atFDCWD, cstr(e.tmpDir+"/fifo/"), sIFIFO|0o600, 0)
	})
	add("open_fifo/wronly_nonblock_no_reader", made(opened(syscall.O_WRONLY|syscall.O_NONBLOCK)))
	add("open_fifo/rdonly_nonblock", made(opened(syscall.O_RDONLY|syscall.O_NONBLOCK)))
	add("open_fifo/rdwr", made(opened(syscall.O_RDWR)))
	add("open_fifo/accmode_3", made(opened(3|syscall.O_NONBLOCK)))
	add("open_fifo/directory", made(opened(syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_DIRECTORY)))
	add("open_fifo/create_excl", made(opened(syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL)))
	add("fifo/write_on_reader", made(func(p uintptr) syscall.Errno {
		fd, err := sc1(syscall.SYS_OPENAT, atFDCWD, p, syscall.O_RDONLY|syscall.O_NONBLOCK)
		if err != 0 {
			return err
		}
		defer syscall.Close(int(fd))
		return sc(syscall.SYS_WRITE, fd, e.scratch, 4)
	}))
	add("fifo/rdwr_write_read", made(func(p uintptr) syscall.Errno {
		fd, err := sc1(syscall.SYS_OPENAT, atFDCWD, p, syscall.O_RDWR|syscall.O_NONBLOCK)
		if err != 0 {
			return err
		}
		defer syscall.Close(int(fd))
		if err := sc(syscall.SYS_WRITE, fd, e.scratch, 4); err != 0 {
			return err
		}
		if n, err := sc1(syscall.SYS_READ, fd, e.scratch+64, 8); err != 0 || n != 4 {
			return syscall.ERANGE
		}
		return sc(syscall.SYS_READ, fd, e.scratch+64, 8) // empty, a writer open: EAGAIN
	}))
	add("fifo/reader_after_writer_gone", made(func(p uintptr) syscall.Errno {
		r, err := sc1(syscall.SYS_OPENAT, atFDCWD, p, syscall.O_RDONLY|syscall.O_NONBLOCK)
		if err != 0 {
			return err
		}
		defer syscall.Close(int(r))
		w, err := sc1(syscall.SYS_OPENAT, atFDCWD, p, syscall.O_WRONLY|syscall.O_NONBLOCK)
		if err != 0 {
			return err
		}
		sc(syscall.SYS_WRITE, w, e.scratch, 4)
		syscall.Close(int(w))
		if n, err := sc1(syscall.SYS_READ, r, e.scratch+64, 8); err != 0 || n != 4 {
			return syscall.ERANGE
		}
		return sc(syscall.SYS_READ, r, e.scratch+64, 8) // EOF: 0
	}))
}
