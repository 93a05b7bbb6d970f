package main

import (
	"encoding/binary"
	"os"
	"syscall"
)

// passcredCases: SO_PASSCRED and SCM_CREDENTIALS on AF_UNIX sockets
// (runtime/vk_netrights.go and netstack/unix_calls.go in the kernel;
// __scm_send, scm_check_creds, maybe_add_creds and scm_recv in Linux).
// The program runs as root with every capability on both sides, so any
// pid, uid and gid that exist may be sent; the checks that refuse a
// process without CAP_SYS_ADMIN, CAP_SETUID or CAP_SETGID are not made
// (dropping them is not undone safely here). Cases that read something
// back return check's errno when what they read is not what Linux gives.
// The pairs are non-blocking; every case drains what it sent.
func passcredCases(e *env, add func(string, func(*env) syscall.Errno)) {
	const (
		solSocket  = syscall.SOL_SOCKET
		soPasscred = syscall.SO_PASSCRED
		scmCreds   = syscall.SCM_CREDENTIALS
	)
	var dg, st [2]int32
	// pair makes (once) a datagram or stream socketpair, moved up as
	// scm.go's is, so that e.closed's number stays closed.
	pair := func(stream bool) (uintptr, uintptr) {
		sv, typ, at := &dg, syscall.SOCK_DGRAM, 192
		if stream {
			sv, typ, at = &st, syscall.SOCK_STREAM, 194
		}
		if sv[0] == 0 {
			p, err := syscall.Socketpair(syscall.AF_UNIX, typ|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				fail("socketpair: %v", err)
			}
			for i, fd := range p {
				r, _, errno := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, uintptr(at+i))
				if errno != 0 {
					fail("fcntl(F_DUPFD_CLOEXEC): %v", errno)
				}
				syscall.Close(fd)
				sv[i] = int32(r)
			}
		}
		return uintptr(sv[0]), uintptr(sv[1])
	}
	data := e.scratch + 3584 // data, then an iovec, then a msghdr
	iov := data + 8
	hdr := data + 32
	ctl := e.scratch + 1024
	setopt := func(fd uintptr, v uint32) syscall.Errno {
		put32s(e.scratch+3072, v)
		return sc(syscall.SYS_SETSOCKOPT, fd, solSocket, soPasscred, e.scratch+3072, 4)
	}
	// reset turns SO_PASSCRED off on both ends and drains the receiver.
	reset := func(stream bool) {
		a, b := pair(stream)
		setopt(a, 0)
		setopt(b, 0)
		putWords(iov, uint64(data), 8)
		putWords(hdr, 0, 0, uint64(iov), 1, 0, 0, 0)
		for sc(syscall.SYS_RECVMSG, b, hdr, 0) == 0 {
		}
	}
	// creds writes an SCM_CREDENTIALS message of length l at at and
	// returns CMSG_SPACE.
	creds := func(at uintptr, l uint64, pid, uid, gid uint32) uint64 {
		putWords(at, l)
		put32s(at+8, solSocket, scmCreds, pid, uid, gid, 0)
		return 32
	}
	// send sends the bytes of s from a with control data of clen at ctlp.
	send := func(a uintptr, s string, ctlp uintptr, clen uint64) syscall.Errno {
		copy(bytesAt(data, len(s)), s)
		putWords(iov, uint64(data), uint64(len(s)))
		putWords(hdr, 0, 0, uint64(iov), 1, uint64(ctlp), clen, 0)
		return sc(syscall.SYS_SENDMSG, a, hdr, 0)
	}
	// recv reads up to 8 bytes at b with a control buffer of clen at
	// ctlp (cleared first) and returns the count, msg_controllen and
	// msg_flags.
	recv := func(b uintptr, ctlp uintptr, clen uint64, flags uintptr) (uintptr, uint64, uint32, syscall.Errno) {
		if ctlp != 0 {
			copy(bytesAt(ctlp, 64), make([]byte, 64))
		}
		putWords(iov, uint64(data), 8)
		putWords(hdr, 0, 0, uint64(iov), 1, uint64(ctlp), clen, 0)
		n, r := sc1(syscall.SYS_RECVMSG, b, hdr, flags)
		h := bytesAt(hdr, 56)
		return n, binary.LittleEndian.Uint64(h[40:]), binary.LittleEndian.Uint32(h[48:]), r
	}
	// isCreds reports whether at holds an SCM_CREDENTIALS message of
	// length l with pid, uid and gid.
	isCreds := func(at uintptr, l uint64, pid, uid, gid uint32) bool {
		b := bytesAt(at, 28)
		w := func(i int) uint32 { return binary.LittleEndian.Uint32(b[i:]) }
		return binary.LittleEndian.Uint64(b) == l && w(8) == solSocket && w(12) == scmCreds &&
			w(16) == pid && w(20) == uid && w(24) == gid
	}
	pid := uint32(os.Getpid())
	// sendCreds sends one byte with an SCM_CREDENTIALS message.
	sendCreds := func(l uint64, p, u, g uint32) syscall.Errno {
		reset(false)
		a, _ := pair(false)
		r := send(a, "x", ctl, creds(ctl, l, p, u, g))
		reset(false)
		return r
	}

	// sendmsg: the checks of __scm_send and scm_check_creds.
	add("scm_creds/own", func(*env) syscall.Errno { return sendCreds(28, pid, 0, 0) })
	add("scm_creds/other_ids_as_root", func(*env) syscall.Errno { return sendCreds(28, pid, 12345, 54321) })
	add("scm_creds/pid_1", func(*env) syscall.Errno { return sendCreds(28, 1, 0, 0) })
	add("scm_creds/pid_0", func(*env) syscall.Errno { return sendCreds(28, 0, 0, 0) })
	add("scm_creds/pid_negative", func(*env) syscall.Errno { return sendCreds(28, 0xffffffff, 0, 0) })
	add("scm_creds/no_such_pid", func(*env) syscall.Errno { return sendCreds(28, 0x3fffffff, 0, 0) })
	add("scm_creds/uid_minus1", func(*env) syscall.Errno { return sendCreds(28, pid, 0xffffffff, 0) })
	add("scm_creds/gid_minus1", func(*env) syscall.Errno { return sendCreds(28, pid, 0, 0xffffffff) })
	add("scm_creds/uid_minus1_no_such_pid", func(*env) syscall.Errno { return sendCreds(28, 0x3fffffff, 0xffffffff, 0) })
	add("scm_creds/len_short", func(*env) syscall.Errno { return sendCreds(24, pid, 0, 0) })
	add("scm_creds/len_space", func(*env) syscall.Errno { return sendCreds(32, pid, 0, 0) })
	add("scm_creds/len_header_only", func(*env) syscall.Errno { return sendCreds(16, pid, 0, 0) })
	add("scm_creds/len_past_buffer", func(*env) syscall.Errno {
		reset(false)
		a, _ := pair(false)
		creds(ctl, 40, pid, 0, 0)
		return send(a, "x", ctl, 32)
	})
	add("scm_creds/twice", func(*env) syscall.Errno {
		reset(false)
		a, _ := pair(false)
		creds(ctl, 28, pid, 0, 0)
		creds(ctl+32, 28, pid, 1, 1)
		r := send(a, "x", ctl, 64)
		reset(false)
		return r
	})
	add("scm_creds/bad_after_good_rights", func(*env) syscall.Errno {
		reset(false)
		a, _ := pair(false)
		putWords(ctl, 20)
		put32s(ctl+8, solSocket, syscall.SCM_RIGHTS, uint32(e.pipeW))
		creds(ctl+24, 28, 0x3fffffff, 0, 0)
		r := send(a, "x", ctl, 56)
		reset(false)
		return r
	})

	// setsockopt and getsockopt.
	add("so_passcred/unix_set_get", func(*env) syscall.Errno {
		_, b := pair(false)
		if r := setopt(b, 7); r != 0 {
			return r
		}
		put32s(e.scratch+3072, 0xdead, 0xbeef)
		put32s(e.scratch+3080, 8)
		n, r := sc1(syscall.SYS_GETSOCKOPT, b, solSocket, soPasscred, e.scratch+3072, e.scratch+3080)
		if r != 0 {
			return r
		}
		w := bytesAt(e.scratch+3072, 12)
		ok := n == 0 && w[0] == 1 && w[1] == 0 && w[4] == 0xef && w[8] == 4
		reset(false)
		return check(ok, 1)
	})
	add("so_passcred/short_optlen", func(*env) syscall.Errno {
		_, b := pair(false)
		return sc(syscall.SYS_SETSOCKOPT, b, solSocket, soPasscred, e.scratch+3072, 2)
	})
	add("so_passcred/get_two_bytes", func(*env) syscall.Errno {
		_, b := pair(false)
		put32s(e.scratch+3080, 2)
		if r := sc(syscall.SYS_GETSOCKOPT, b, solSocket, soPasscred, e.scratch+3072, e.scratch+3080); r != 0 {
			return r
		}
		return check(bytesAt(e.scratch+3080, 1)[0] == 2, 1)
	})
	for _, c := range []struct {
		name     string
		fam, typ int
	}{{"tcp", syscall.AF_INET, syscall.SOCK_STREAM}, {"udp", syscall.AF_INET, syscall.SOCK_DGRAM}, {"tcp6", syscall.AF_INET6, syscall.SOCK_STREAM}} {
		c := c
		on := func(get bool) syscall.Errno {
			fd, err := syscall.Socket(c.fam, c.typ|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				return err.(syscall.Errno)
			}
			defer syscall.Close(fd)
			if get {
				put32s(e.scratch+3080, 4)
				return sc(syscall.SYS_GETSOCKOPT, uintptr(fd), solSocket, soPasscred, e.scratch+3072, e.scratch+3080)
			}
			return setopt(uintptr(fd), 1)
		}
		add("so_passcred/"+c.name+"_set", func(*env) syscall.Errno { return on(false) })
		add("so_passcred/"+c.name+"_get", func(*env) syscall.Errno { return on(true) })
	}

	// recvmsg: what a receiver with SO_PASSCRED reads.
	add("recvmsg/passcred_own", func(*env) syscall.Errno {
		reset(false)
		a, b := pair(false)
		setopt(b, 1)
		if r := send(a, "x", 0, 0); r != 0 {
			return r
		}
		n, clen, fl, r := recv(b, ctl, 64, 0)
		if r != 0 {
			return r
		}
		ok := n == 1 && clen == 32 && fl == 0 && isCreds(ctl, 28, pid, 0, 0)
		reset(false)
		return check(ok, 1)
	})
	add("recvmsg/passcred_scm", func(*env) syscall.Errno {
		reset(false)
		a, b := pair(false)
		setopt(b, 1)
		if r := send(a, "x", ctl, creds(ctl, 28, 1, 12345, 54321)); r != 0 {
			return r
		}
		n, clen, fl, r := recv(b, ctl, 64, syscall.MSG_CMSG_CLOEXEC)
		if r != 0 {
			return r
		}
		ok := n == 1 && clen == 32 && fl == syscall.MSG_CMSG_CLOEXEC && isCreds(ctl, 28, 1, 12345, 54321)
		reset(false)
		return check(ok, 1)
	})
	add("recvmsg/passcred_set_after_send", func(*env) syscall.Errno {
		reset(false)
		a, b := pair(false)
		if r := send(a, "x", 0, 0); r != 0 {
			return r
		}
		setopt(b, 1)
		n, clen, _, r := recv(b, ctl, 64, 0)
		if r != 0 {
			return r
		}
		ok := n == 1 && clen == 32 && isCreds(ctl, 28, 0, 65534, 65534)
		reset(false)
		return check(ok, 1)
	})
	add("recvmsg/passcred_sender_only", func(*env) syscall.Errno {
		reset(false)
		a, b := pair(false)
		setopt(a, 1)
		if r := send(a, "x", 0, 0); r != 0 {
			return r
		}
		setopt(b, 1)
		n, clen, _, r := recv(b, ctl, 64, 0)
		if r != 0 {
			return r
		}
		ok := n == 1 && clen == 32 && isCreds(ctl, 28, pid, 0, 0)
		// The sender had no name: SO_PASSCRED gave it one (autobind).
		put32s(e.scratch+3080, 110)
		sc(syscall.SYS_GETSOCKNAME, a, e.scratch+3100, e.scratch+3080)
		ok = ok && bytesAt(e.scratch+3080, 1)[0] == 8
		reset(false)
		return check(ok, 1)
	})
	add("recvmsg/passcred_off_scm_sent", func(*env) syscall.Errno {
		reset(false)
		a, b := pair(false)
		if r := send(a, "x", ctl, creds(ctl, 28, pid, 0, 0)); r != 0 {
			return r
		}
		n, clen, fl, r := recv(b, ctl, 64, 0)
		reset(false)
		if r != 0 {
			return r
		}
		return check(n == 1 && clen == 0 && fl == 0, 1)
	})
	// Short control buffers: put_cmsg writes what fits and MSG_CTRUNC
	// (none when CMSG_LEN, 28, fits without CMSG_SPACE's padding).
	for _, c := range []struct {
		name string
		clen uint64
		null bool
	}{{"20", 20, false}, {"16", 16, false}, {"8", 8, false}, {"30", 30, false}, {"null_64", 64, true}} {
		c := c
		add("recvmsg/passcred_ctl_"+c.name, func(*env) syscall.Errno {
			reset(false)
			a, b := pair(false)
			setopt(b, 1)
			if r := send(a, "x", 0, 0); r != 0 {
				return r
			}
			p := ctl
			if c.null {
				p = 0
			}
			n, clen, fl, r := recv(b, p, c.clen, 0)
			reset(false)
			if r != 0 {
				return r
			}
			want := min(c.clen, 32)
			if c.null || c.clen < 16 {
				want = 0
			}
			trunc := uint32(syscall.MSG_CTRUNC)
			if !c.null && c.clen >= 28 { // CMSG_LEN fits: whole, if not padded
				trunc = 0
			}
			ok := n == 1 && clen == want && fl == trunc
			if ok && want >= 16 {
				ok = binary.LittleEndian.Uint64(bytesAt(ctl, 8)) == min(c.clen, 28)
			}
			return check(ok, 1)
		})
	}
	// With SCM_RIGHTS: credentials first, the fds after them, or
	// MSG_CTRUNC and no fds when they do not fit.
	for _, c := range []struct {
		name string
		clen uint64
	}{{"64", 64}, {"40", 40}} {
		clen := c.clen
		add("recvmsg/passcred_and_rights_"+c.name, func(*env) syscall.Errno {
			reset(false)
			a, b := pair(false)
			setopt(b, 1)
			putWords(ctl, 20)
			put32s(ctl+8, solSocket, syscall.SCM_RIGHTS, uint32(e.pipeW))
			if r := send(a, "x", ctl, 24); r != 0 {
				return r
			}
			n, got, fl, r := recv(b, ctl, clen, syscall.MSG_CMSG_CLOEXEC)
			if r != 0 {
				return r
			}
			ok := n == 1 && isCreds(ctl, 28, pid, 0, 0)
			if clen == 64 {
				w := bytesAt(ctl+32, 20)
				fd := uintptr(binary.LittleEndian.Uint32(w[16:]))
				ok = ok && got == 56 && fl == syscall.MSG_CMSG_CLOEXEC && w[0] == 20 && w[8] == 1 && w[12] == 1
				if ok {
					ok = getfd(fd) == syscall.FD_CLOEXEC
					closeFD(fd)
				}
			} else {
				ok = ok && got == 32 && fl == syscall.MSG_CMSG_CLOEXEC|syscall.MSG_CTRUNC
			}
			reset(false)
			return check(ok, 1)
		})
	}
	// A null control buffer with a length: fds queued are closed and
	// MSG_CTRUNC set, nothing written.
	add("recvmsg/scm_rights_control_null", func(*env) syscall.Errno {
		reset(false)
		a, b := pair(false)
		putWords(ctl, 20)
		put32s(ctl+8, solSocket, syscall.SCM_RIGHTS, uint32(e.pipeW))
		if r := send(a, "x", ctl, 24); r != 0 {
			return r
		}
		n, clen, fl, r := recv(b, 0, 64, 0)
		reset(false)
		if r != 0 {
			return r
		}
		return check(n == 1 && clen == 0 && fl == syscall.MSG_CTRUNC, 1)
	})
	// A stream read with SO_PASSCRED stops where the credentials change;
	// without it, it joins the runs.
	add("recvmsg/passcred_stream_split", func(*env) syscall.Errno {
		reset(true)
		a, b := pair(true)
		setopt(b, 1)
		if r := send(a, "ab", 0, 0); r != 0 {
			return r
		}
		if r := send(a, "cd", 0, 0); r != 0 {
			return r
		}
		if r := send(a, "ef", ctl, creds(ctl, 28, 1, 5, 7)); r != 0 {
			return r
		}
		n1, _, _, r := recv(b, ctl, 64, 0)
		if r != 0 {
			return r
		}
		ok := n1 == 4 && isCreds(ctl, 28, pid, 0, 0)
		n2, _, _, r := recv(b, ctl, 64, 0)
		if r != 0 {
			return r
		}
		ok = ok && n2 == 2 && isCreds(ctl, 28, 1, 5, 7)
		reset(true)
		return check(ok, 1)
	})
	add("recvmsg/stream_joins_without_passcred", func(*env) syscall.Errno {
		reset(true)
		a, b := pair(true)
		send(a, "ab", 0, 0)
		send(a, "cd", ctl, creds(ctl, 28, 1, 5, 7))
		n, clen, _, r := recv(b, ctl, 64, 0)
		reset(true)
		if r != 0 {
			return r
		}
		return check(n == 4 && clen == 0, 1)
	})
}
