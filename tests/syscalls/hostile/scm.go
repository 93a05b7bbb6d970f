package main

import (
	_ "net" // links the kernel's network stack, which AF_UNIX sockets need
	"syscall"
)

// scmCases: sendmsg's SCM_RIGHTS control data on an AF_UNIX datagram
// socketpair (runtime/vk_netrights.go in the kernel, __scm_send and
// scm_fp_copy in Linux), and what recvmsg reports. The pair is
// non-blocking; every case drains it.
func scmCases(e *env, add func(string, func(*env) syscall.Errno)) {
	var sv [2]int32
	pair := func() (uintptr, uintptr) {
		if sv[0] == 0 {
			var p [2]int
			p, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				fail("socketpair: %v", err)
			}
			// Moved up, as openHigh does: e.closed's number must stay
			// closed.
			for i, fd := range p {
				r, _, errno := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, uintptr(190+i))
				if errno != 0 {
					fail("fcntl(F_DUPFD_CLOEXEC): %v", errno)
				}
				syscall.Close(fd)
				sv[i] = int32(r)
			}
		}
		return uintptr(sv[0]), uintptr(sv[1])
	}
	data := e.scratch + 3584 // one byte of data, then an iovec
	iov := data + 8
	hdr := data + 32        // a struct msghdr (56 bytes)
	ctl := e.scratch + 1024 // control data: room for 300 fds
	drain := func() {
		_, b := pair()
		putWords(hdr, 0, 0, uint64(iov), 1, 0, 0, 0)
		for sc(syscall.SYS_RECVMSG, b, hdr, 0) == 0 {
		}
	}
	// send sends one byte with control data ctl of length clen at ctlp.
	send := func(ctlp uintptr, clen uint64) syscall.Errno {
		a, _ := pair()
		bytesAt(data, 1)[0] = 'x'
		putWords(iov, uint64(data), 1)
		putWords(hdr, 0, 0, uint64(iov), 1, uint64(ctlp), clen, 0)
		r := sc(syscall.SYS_SENDMSG, a, hdr, 0)
		drain()
		return r
	}
	// cmsg writes a header and fds at ctl and returns CMSG_LEN.
	cmsg := func(level, typ uint32, fds ...uint32) uint64 {
		l := uint64(16 + 4*len(fds))
		putWords(ctl, l)
		put32s(ctl+8, level, typ)
		put32s(ctl+16, fds...)
		return l
	}
	rights := func(n int) []uint32 {
		v := make([]uint32, n)
		for i := range v {
			v[i] = uint32(e.pipeW)
		}
		return v
	}
	add("sendmsg/scm_rights_closed_fd", func(e *env) syscall.Errno {
		return send(ctl, cmsg(1, 1, uint32(e.closed)))
	})
	add("sendmsg/scm_rights_negative_fd", func(e *env) syscall.Errno { return send(ctl, cmsg(1, 1, ^uint32(0))) })
	add("sendmsg/scm_rights_cmsg_len_short", func(e *env) syscall.Errno {
		cmsg(1, 1, uint32(e.pipeW))
		putWords(ctl, 12)
		return send(ctl, 24)
	})
	add("sendmsg/scm_rights_cmsg_len_past_buffer", func(e *env) syscall.Errno {
		cmsg(1, 1, uint32(e.pipeW))
		putWords(ctl, 64)
		return send(ctl, 24)
	})
	add("sendmsg/scm_unknown_type", func(e *env) syscall.Errno { return send(ctl, cmsg(1, 99, uint32(e.pipeW))) })
	add("sendmsg/scm_rights_254_fds", func(e *env) syscall.Errno { return send(ctl, cmsg(1, 1, rights(254)...)) })
	add("sendmsg/scm_rights_253_fds", func(e *env) syscall.Errno { return send(ctl, cmsg(1, 1, rights(253)...)) })
	add("sendmsg/scm_rights_two_of_200", func(e *env) syscall.Errno {
		l := cmsg(1, 1, rights(200)...)
		second := ctl + uintptr((l+7)&^7)
		putWords(second, l)
		put32s(second+8, 1, 1)
		put32s(second+16, rights(200)...)
		return send(ctl, 2*((l+7)&^7))
	})
	add("sendmsg/scm_other_level_ignored", func(e *env) syscall.Errno { return send(ctl, cmsg(6, 1, uint32(e.closed))) })
	add("sendmsg/scm_short_buffer_ignored", func(e *env) syscall.Errno {
		cmsg(1, 1, uint32(e.closed))
		return send(ctl, 12)
	})
	add("sendmsg/scm_control_null", func(e *env) syscall.Errno { return send(0, 20) })
	add("sendmsg/scm_control_unmapped", func(e *env) syscall.Errno { return send(e.edge-8, 24) })
	add("sendmsg/scm_control_huge_len", func(e *env) syscall.Errno { return send(ctl, 1<<40) })
	// recvmsg: a control buffer with room for one of two fds gets it,
	// MSG_CTRUNC and msg_controllen 20; FD_CLOEXEC with MSG_CMSG_CLOEXEC.
	add("recvmsg/scm_rights_ctrunc_cloexec", func(e *env) syscall.Errno {
		a, b := pair()
		l := cmsg(1, 1, uint32(e.pipeW), uint32(e.pipeW))
		putWords(iov, uint64(data), 1)
		putWords(hdr, 0, 0, uint64(iov), 1, uint64(ctl), l, 0)
		if r := sc(syscall.SYS_SENDMSG, a, hdr, 0); r != 0 {
			return r
		}
		putWords(ctl, 0, 0, 0, 0)
		putWords(hdr, 0, 0, uint64(iov), 1, uint64(ctl), 20, 0)
		n, r := sc1(syscall.SYS_RECVMSG, b, hdr, syscall.MSG_CMSG_CLOEXEC)
		if r != 0 {
			return r
		}
		h := bytesAt(hdr, 56)
		w := bytesAt(ctl, 24)
		fd := uintptr(uint32(w[16]) | uint32(w[17])<<8 | uint32(w[18])<<16 | uint32(w[19])<<24)
		clen := uint64(h[40]) | uint64(h[41])<<8
		flags := uint32(h[48])
		ok := n == 1 && clen == 20 && flags&syscall.MSG_CTRUNC != 0 && w[0] == 20 && w[8] == 1 && w[12] == 1
		if ok {
			ok = getfd(fd) == syscall.FD_CLOEXEC
			closeFD(fd)
		}
		return check(ok, 1)
	})
}
