package main

import (
	"bytes"
	"syscall"
)

// spliceCases are the cases for sendfile, splice and tee between the
// files and pipes the program holds (the program links package net
// only since the SCM_RIGHTS cases, scm.go; sockets are not spliced here).
// e's pipe is non-blocking, so nothing here
// waits: an empty or full pipe is EAGAIN. Every case that leaves bytes in
// the pipe drains it.
func spliceCases(e *env, add func(string, func(*env) syscall.Errno)) {
	const (
		sysSendfile = 40
		sysSplice   = 275
		sysTee      = 276
	)
	offs := e.scratch + 3520 // two int64 offsets
	buf := e.scratch + 2560  // 512 bytes for what comes out of a pipe
	var dstFD, appendFD, wrOnly int
	var p2 [2]int
	dst := func() uintptr {
		if dstFD == 0 {
			name := e.tmpDir + "/splice_dst"
			dstFD = openHigh(name, syscall.O_RDWR|syscall.O_CREAT, 160)
			appendFD = openHigh(name, syscall.O_WRONLY|syscall.O_APPEND, 161)
			wrOnly = openHigh(e.tmpDir+"/f", syscall.O_WRONLY, 162)
			// A second pipe, moved up as openHigh does (e.closed's number
			// must stay closed).
			var p [2]int
			if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
				fail("pipe2: %v", err)
			}
			for i, fd := range p {
				r, _, errno := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, uintptr(163+i))
				if errno != 0 {
					fail("fcntl(F_DUPFD_CLOEXEC): %v", errno)
				}
				syscall.Close(fd)
				p2[i] = int(r)
			}
		}
		return u(dstFD)
	}
	drain := func(fd int) {
		for sc(syscall.SYS_READ, u(fd), buf, 512) == 0 {
		}
	}
	// fill writes to the pipe until it is full.
	fill := func() {
		for sc(syscall.SYS_WRITE, u(e.pipeW), e.scratch, 2048) == 0 {
		}
	}
	sf := func(out, in, off, n uintptr) syscall.Errno { return sc(sysSendfile, out, in, off, n) }
	sp := func(in, offIn, out, offOut, n, flags uintptr) syscall.Errno {
		return sc(sysSplice, in, offIn, out, offOut, n, flags)
	}
	// want checks a call's count and the bytes it moved.
	want := func(n uintptr, err syscall.Errno, wantN int, got, exp []byte) syscall.Errno {
		if err != 0 {
			return err
		}
		if int(n) != wantN || !bytes.Equal(got, exp) {
			return syscall.ERANGE // not the count or the bytes Linux gives
		}
		return 0
	}
	pread := func(fd int, n int, at int64) []byte {
		b := make([]byte, n)
		m, _ := syscall.Pread(fd, b, at)
		return b[:max(m, 0)]
	}
	pipeRead := func(fd int) []byte {
		b := make([]byte, 512)
		m, _ := syscall.Read(fd, b)
		return b[:max(m, 0)]
	}

	// sendfile
	add("sendfile/in_closed", func(e *env) syscall.Errno { return sf(u(e.pipeW), u(e.closed), 0, 8) })
	add("sendfile/out_closed", func(e *env) syscall.Errno { return sf(u(e.closed), u(e.tmpFile), 0, 8) })
	add("sendfile/off_unmapped", func(e *env) syscall.Errno { return sf(u(e.pipeW), u(e.tmpFile), e.edge, 8) })
	add("sendfile/off_readonly", func(e *env) syscall.Errno { return sf(u(e.pipeW), u(e.tmpFile), e.ro, 8) })
	add("sendfile/off_readonly_bad_fd", func(e *env) syscall.Errno { return sf(u(e.closed), u(e.tmpFile), e.ro, 8) })
	add("sendfile/in_writeonly", func(e *env) syscall.Errno { dst(); return sf(u(e.pipeW), u(wrOnly), 0, 8) })
	add("sendfile/in_pipe_offset", func(e *env) syscall.Errno {
		putWords(offs, 0)
		return sf(dst(), u(e.pipeR), offs, 8)
	})
	add("sendfile/in_pipe", func(e *env) syscall.Errno { return sf(dst(), u(e.pipeR), 0, 8) })
	add("sendfile/in_directory", func(e *env) syscall.Errno {
		// At offset 0: a directory's own position is a cookie of its file
		// system's (ext4's are hashes, EOVERFLOW past its largest file).
		putWords(offs, 0)
		return sf(dst(), u(e.root), offs, 8)
	})
	add("sendfile/in_eventfd", func(e *env) syscall.Errno { return sf(dst(), u(e.efd), 0, 8) })
	add("sendfile/negative_offset", func(e *env) syscall.Errno {
		putWords(offs, uint64(1<<64-1))
		return sf(dst(), u(e.tmpFile), offs, 8)
	})
	add("sendfile/huge_count", func(e *env) syscall.Errno {
		putWords(offs, 0)
		return sf(dst(), u(e.tmpFile), offs, 1<<63)
	})
	add("sendfile/out_readonly", func(e *env) syscall.Errno { return sf(u(e.roFile), u(e.tmpFile), 0, 8) })
	add("sendfile/out_read_end", func(e *env) syscall.Errno { return sf(u(e.pipeR), u(e.tmpFile), 0, 8) })
	add("sendfile/out_append", func(e *env) syscall.Errno {
		dst()
		putWords(offs, 0)
		return sf(u(appendFD), u(e.tmpFile), offs, 8)
	})
	add("sendfile/out_eventfd", func(e *env) syscall.Errno {
		putWords(offs, 0)
		return sf(u(e.efd), u(e.tmpFile), offs, 8)
	})
	add("sendfile/zero_count", func(e *env) syscall.Errno {
		putWords(offs, 0)
		return sf(dst(), u(e.tmpFile), offs, 0)
	})
	add("sendfile/past_end", func(e *env) syscall.Errno {
		putWords(offs, 100)
		n, err := sc1(sysSendfile, dst(), u(e.tmpFile), offs, 8)
		return want(n, err, 0, bytesAt(offs, 8), []byte{100, 0, 0, 0, 0, 0, 0, 0})
	})
	add("sendfile/to_pipe", func(e *env) syscall.Errno {
		drain(e.pipeR)
		putWords(offs, 3)
		syscall.Seek(e.tmpFile, 1, 0)
		n, err := sc1(sysSendfile, u(e.pipeW), u(e.tmpFile), offs, 8)
		got := pipeRead(e.pipeR)
		pos, _ := syscall.Seek(e.tmpFile, 0, 1)
		if err == 0 && (bytesAt(offs, 1)[0] != 11 || pos != 1) {
			return syscall.EDOM // the offset not advanced, or the file position moved
		}
		return want(n, err, 8, got, pread(e.tmpFile, 8, 3))
	})
	add("sendfile/to_file_positions", func(e *env) syscall.Errno {
		syscall.Seek(e.tmpFile, 2, 0)
		syscall.Seek(int(dst()), 50, 0)
		n, err := sc1(sysSendfile, dst(), u(e.tmpFile), 0, 5)
		pin, _ := syscall.Seek(e.tmpFile, 0, 1)
		pout, _ := syscall.Seek(dstFD, 0, 1)
		if err == 0 && (pin != 7 || pout != 55) {
			return syscall.EDOM
		}
		return want(n, err, 5, pread(dstFD, 5, 50), pread(e.tmpFile, 5, 2))
	})
	add("sendfile/pipe_full", func(e *env) syscall.Errno {
		fill()
		putWords(offs, 0)
		r := sf(u(e.pipeW), u(e.tmpFile), offs, 8)
		drain(e.pipeR)
		return r
	})
	add("sendfile/pipe_no_reader", func(e *env) syscall.Errno {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
			return err.(syscall.Errno)
		}
		syscall.Close(p[0])
		putWords(offs, 0)
		r := sf(u(p[1]), u(e.tmpFile), offs, 8)
		syscall.Close(p[1])
		return r
	})

	// splice
	add("splice/zero_length", func(e *env) syscall.Errno { return sp(u(e.closed), 0, u(e.closed), 0, 0, 0) })
	add("splice/bad_flags", func(e *env) syscall.Errno { return sp(u(e.pipeR), 0, dst(), 0, 8, 0x10) })
	add("splice/in_closed", func(e *env) syscall.Errno { return sp(u(e.closed), 0, u(e.pipeW), 0, 8, 0) })
	add("splice/out_closed", func(e *env) syscall.Errno { return sp(u(e.pipeR), 0, u(e.closed), 0, 8, 0) })
	add("splice/pipe_offset_in", func(e *env) syscall.Errno {
		putWords(offs, 0)
		return sp(u(e.pipeR), offs, dst(), 0, 8, 0)
	})
	add("splice/pipe_offset_out", func(e *env) syscall.Errno {
		putWords(offs, 0)
		return sp(u(e.tmpFile), 0, u(e.pipeW), offs, 8, 0)
	})
	add("splice/pipe_offset_unmapped", func(e *env) syscall.Errno { return sp(u(e.pipeR), e.edge, dst(), 0, 8, 0) })
	add("splice/off_unmapped", func(e *env) syscall.Errno { return sp(u(e.tmpFile), e.edge, u(e.pipeW), 0, 8, 0) })
	add("splice/no_pipe", func(e *env) syscall.Errno { return sp(u(e.tmpFile), 0, dst(), 0, 8, 0) })
	add("splice/in_write_end", func(e *env) syscall.Errno { return sp(u(e.pipeW), 0, dst(), 0, 8, 0) })
	add("splice/out_read_end", func(e *env) syscall.Errno { return sp(u(e.tmpFile), 0, u(e.pipeR), 0, 8, 0) })
	add("splice/same_pipe", func(e *env) syscall.Errno { return sp(u(e.pipeR), 0, u(e.pipeW), 0, 8, 0) })
	add("splice/out_readonly", func(e *env) syscall.Errno { return sp(u(e.pipeR), 0, u(e.roFile), 0, 8, 0) })
	add("splice/out_append", func(e *env) syscall.Errno { dst(); return sp(u(e.pipeR), 0, u(appendFD), 0, 8, 0) })
	add("splice/in_writeonly", func(e *env) syscall.Errno { dst(); return sp(u(wrOnly), 0, u(e.pipeW), 0, 8, 0) })
	add("splice/negative_offset", func(e *env) syscall.Errno {
		putWords(offs, uint64(1<<64-5))
		return sp(u(e.tmpFile), offs, u(e.pipeW), 0, 8, 0)
	})
	add("splice/negative_offset_out", func(e *env) syscall.Errno {
		putWords(offs, uint64(1<<64-5))
		return sp(u(e.pipeR), 0, dst(), offs, 8, 0)
	})
	add("splice/offset_not_seekable", func(e *env) syscall.Errno {
		putWords(offs, 0)
		return sp(u(e.efd), offs, u(e.pipeW), 0, 8, 0)
	})
	add("splice/empty_pipe", func(e *env) syscall.Errno {
		drain(e.pipeR)
		return sp(u(e.pipeR), 0, dst(), 0, 8, 0)
	})
	add("splice/empty_pipe_flag", func(e *env) syscall.Errno {
		drain(e.pipeR)
		return sp(u(e.pipeR), 0, dst(), 0, 8, 2|1|4) // NONBLOCK|MOVE|MORE
	})
	add("splice/pipe_full", func(e *env) syscall.Errno {
		fill()
		putWords(offs, 0)
		r := sp(u(e.tmpFile), offs, u(e.pipeW), 0, 8, 0)
		drain(e.pipeR)
		return r
	})
	add("splice/file_to_pipe", func(e *env) syscall.Errno {
		drain(e.pipeR)
		putWords(offs, 3)
		n, err := sc1(sysSplice, u(e.tmpFile), offs, u(e.pipeW), 0, 6, 0)
		got := pipeRead(e.pipeR)
		if err == 0 && bytesAt(offs, 1)[0] != 9 {
			return syscall.EDOM
		}
		return want(n, err, 6, got, pread(e.tmpFile, 6, 3))
	})
	add("splice/file_to_pipe_position", func(e *env) syscall.Errno {
		drain(e.pipeR)
		syscall.Seek(e.tmpFile, 4, 0)
		n, err := sc1(sysSplice, u(e.tmpFile), 0, u(e.pipeW), 0, 100, 0)
		got := pipeRead(e.pipeR)
		pos, _ := syscall.Seek(e.tmpFile, 0, 1)
		if err == 0 && pos != 22 {
			return syscall.EDOM
		}
		return want(n, err, 18, got, pread(e.tmpFile, 18, 4))
	})
	add("splice/file_past_end", func(e *env) syscall.Errno {
		putWords(offs, 1000)
		n, err := sc1(sysSplice, u(e.tmpFile), offs, u(e.pipeW), 0, 6, 0)
		return want(n, err, 0, nil, nil)
	})
	add("splice/off_readonly", func(e *env) syscall.Errno { return sp(u(e.tmpFile), e.ro, u(e.pipeW), 0, 6, 0) })
	add("splice/pipe_to_file", func(e *env) syscall.Errno {
		drain(e.pipeR)
		syscall.Write(e.pipeW, []byte("abcdef"))
		putWords(offs, 40)
		n, err := sc1(sysSplice, u(e.pipeR), 0, dst(), offs, 100, 0)
		if err == 0 && bytesAt(offs, 1)[0] != 46 {
			return syscall.EDOM
		}
		return want(n, err, 6, pread(dstFD, 6, 40), []byte("abcdef"))
	})
	add("splice/pipe_to_file_position", func(e *env) syscall.Errno {
		drain(e.pipeR)
		syscall.Write(e.pipeW, []byte("ghijk"))
		syscall.Seek(int(dst()), 60, 0)
		n, err := sc1(sysSplice, u(e.pipeR), 0, dst(), 0, 3, 0)
		rest := pipeRead(e.pipeR)
		pos, _ := syscall.Seek(dstFD, 0, 1)
		if err == 0 && (pos != 63 || string(rest) != "jk") {
			return syscall.EDOM
		}
		return want(n, err, 3, pread(dstFD, 3, 60), []byte("ghi"))
	})
	add("splice/pipe_to_eventfd", func(e *env) syscall.Errno {
		drain(e.pipeR)
		syscall.Write(e.pipeW, []byte("abcdefgh"))
		r := sp(u(e.pipeR), 0, u(e.efd), 0, 8, 0)
		drain(e.pipeR)
		return r
	})
	add("splice/directory_to_pipe", func(e *env) syscall.Errno { return sp(u(e.root), 0, u(e.pipeW), 0, 8, 0) })
	add("splice/eventfd_to_pipe", func(e *env) syscall.Errno { return sp(u(e.efd), 0, u(e.pipeW), 0, 8, 0) })
	add("splice/pipe_to_pipe", func(e *env) syscall.Errno {
		dst()
		drain(e.pipeR)
		drain(p2[0])
		syscall.Write(e.pipeW, []byte("12345"))
		n, err := sc1(sysSplice, u(e.pipeR), 0, u(p2[1]), 0, 100, 0)
		return want(n, err, 5, pipeRead(p2[0]), []byte("12345"))
	})
	add("splice/pipe_to_pipe_no_reader", func(e *env) syscall.Errno {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
			return err.(syscall.Errno)
		}
		syscall.Close(p[0])
		drain(e.pipeR)
		syscall.Write(e.pipeW, []byte("12345"))
		r := sp(u(e.pipeR), 0, u(p[1]), 0, 100, 0)
		syscall.Close(p[1])
		drain(e.pipeR)
		return r
	})

	// tee
	add("tee/bad_flags", func(e *env) syscall.Errno { return sc(sysTee, u(e.pipeR), u(e.pipeW), 8, 0x10) })
	add("tee/zero_length", func(e *env) syscall.Errno { return sc(sysTee, u(e.closed), u(e.closed), 0, 0) })
	add("tee/closed", func(e *env) syscall.Errno { return sc(sysTee, u(e.closed), u(e.pipeW), 8, 0) })
	add("tee/not_pipe", func(e *env) syscall.Errno { return sc(sysTee, u(e.tmpFile), u(e.pipeW), 8, 0) })
	add("tee/to_file", func(e *env) syscall.Errno { return sc(sysTee, u(e.pipeR), dst(), 8, 0) })
	add("tee/in_write_end", func(e *env) syscall.Errno { return sc(sysTee, u(e.pipeW), u(e.pipeW), 8, 0) })
	add("tee/same_pipe", func(e *env) syscall.Errno { return sc(sysTee, u(e.pipeR), u(e.pipeW), 8, 0) })
	add("tee/empty", func(e *env) syscall.Errno {
		dst()
		drain(e.pipeR)
		return sc(sysTee, u(e.pipeR), u(p2[1]), 8, 0)
	})
	add("tee/copies", func(e *env) syscall.Errno {
		dst()
		drain(e.pipeR)
		drain(p2[0])
		syscall.Write(e.pipeW, []byte("tee!"))
		n, err := sc1(sysTee, u(e.pipeR), u(p2[1]), 100, 0)
		copied, kept := pipeRead(p2[0]), pipeRead(e.pipeR)
		if err == 0 && string(kept) != "tee!" {
			return syscall.EDOM
		}
		return want(n, err, 4, copied, []byte("tee!"))
	})
}
