package main

import (
	"bytes"
	"syscall"
)

// copyRangeCases are the cases for copy_file_range between files the
// program holds: e.tmpFile (22 bytes; earlier cases have written over
// some of them) is the source, a second file in e.tmpDir the destination.
func copyRangeCases(e *env, add func(string, func(*env) syscall.Errno)) {
	const sysCopyFileRange = 326
	offs := e.scratch + 3584 // two int64 offsets: in, out
	var out, appendFD int
	dst := func() uintptr {
		if out == 0 {
			name := e.tmpDir + "/copy_dst"
			out = openHigh(name, syscall.O_RDWR|syscall.O_CREAT, 150)
			appendFD = openHigh(name, syscall.O_WRONLY|syscall.O_APPEND, 151)
		}
		return u(out)
	}
	cfr := func(in, offIn, out, offOut, n, flags uintptr) syscall.Errno {
		return sc(sysCopyFileRange, in, offIn, out, offOut, n, flags)
	}
	at := func(in, out int64, n uintptr) func(*env) syscall.Errno {
		return func(e *env) syscall.Errno {
			putWords(offs, uint64(in), uint64(out))
			return cfr(u(e.tmpFile), offs, dst(), offs+8, n, 0)
		}
	}
	add("copy_file_range/in_closed", func(e *env) syscall.Errno { return cfr(u(e.closed), 0, dst(), 0, 8, 0) })
	add("copy_file_range/out_closed", func(e *env) syscall.Errno { return cfr(u(e.tmpFile), 0, u(e.closed), 0, 8, 0) })
	add("copy_file_range/off_in_unmapped", func(e *env) syscall.Errno { return cfr(u(e.tmpFile), e.edge, dst(), 0, 8, 0) })
	add("copy_file_range/off_out_unmapped", func(e *env) syscall.Errno {
		putWords(offs, 0)
		return cfr(u(e.tmpFile), offs, dst(), e.edge-4, 8, 0)
	})
	add("copy_file_range/bad_flags", func(e *env) syscall.Errno { return cfr(u(e.tmpFile), 0, dst(), 0, 8, 1) })
	add("copy_file_range/in_directory", func(e *env) syscall.Errno { return cfr(u(e.root), 0, dst(), 0, 8, 0) })
	add("copy_file_range/in_pipe", func(e *env) syscall.Errno { return cfr(u(e.pipeR), 0, dst(), 0, 8, 0) })
	add("copy_file_range/out_pipe", func(e *env) syscall.Errno { return cfr(u(e.tmpFile), 0, u(e.pipeW), 0, 8, 0) })
	add("copy_file_range/in_eventfd", func(e *env) syscall.Errno { return cfr(u(e.efd), 0, dst(), 0, 8, 0) })
	add("copy_file_range/out_readonly", func(e *env) syscall.Errno { return cfr(u(e.tmpFile), 0, u(e.roFile), 0, 8, 0) })
	add("copy_file_range/out_append", func(e *env) syscall.Errno {
		dst()
		return cfr(u(e.tmpFile), 0, u(appendFD), 0, 8, 0)
	})
	add("copy_file_range/overlap", func(e *env) syscall.Errno {
		putWords(offs, 0, 4)
		return cfr(u(e.tmpFile), offs, u(e.tmpFile), offs+8, 8, 0)
	})
	add("copy_file_range/negative_in_wraps", at(-1, 0, 4))
	add("copy_file_range/negative_in", at(-100, 0, 4))
	add("copy_file_range/negative_out", at(0, -100, 4))
	add("copy_file_range/length_wraps", at(10, 0, allOnes))
	add("copy_file_range/past_end", at(100, 0, 8))
	add("copy_file_range/huge_length", at(0, 0, 1<<63))
	add("copy_file_range/copies", func(e *env) syscall.Errno {
		putWords(offs, 8, 2)
		n, err := sc1(sysCopyFileRange, u(e.tmpFile), offs, dst(), offs+8, 8, 0)
		if err != 0 {
			return err
		}
		want, got := make([]byte, 8), make([]byte, 8)
		if _, err := syscall.Pread(e.tmpFile, want, 8); err != nil {
			return err.(syscall.Errno)
		}
		if _, err := syscall.Pread(out, got, 2); err != nil {
			return err.(syscall.Errno)
		}
		o := bytesAt(offs, 16)
		if n != 8 || !bytes.Equal(got, want) || o[0] != 16 || o[8] != 10 {
			return syscall.ERANGE // not the bytes, count or advanced offsets Linux gives
		}
		return 0
	})
	add("copy_file_range/file_positions", func(e *env) syscall.Errno {
		if _, err := syscall.Seek(e.tmpFile, 0, 0); err != nil {
			return err.(syscall.Errno)
		}
		if _, err := syscall.Seek(int(dst()), 30, 0); err != nil {
			return err.(syscall.Errno)
		}
		n, err := sc1(sysCopyFileRange, u(e.tmpFile), 0, dst(), 0, 7, 0)
		if err != 0 {
			return err
		}
		pin, _ := syscall.Seek(e.tmpFile, 0, 1)
		pout, _ := syscall.Seek(out, 0, 1)
		if n != 7 || pin != 7 || pout != 37 {
			return syscall.ERANGE
		}
		return 0
	})
}

// openHigh opens name and moves it to fd number at (or the next free one
// above), so that it never takes e.closed's number, which other cases
// rely on being closed.
func openHigh(name string, flags, at int) int {
	fd, err := syscall.Open(name, flags|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		fail("open %s: %v", name, err)
	}
	r, _, errno := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, uintptr(at))
	if errno != 0 {
		fail("fcntl(F_DUPFD_CLOEXEC): %v", errno)
	}
	syscall.Close(fd)
	return int(r)
}
