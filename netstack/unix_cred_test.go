package netstack

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// The sender's own credentials as the kernel's path passes them with
// every AF_UNIX call (Msg.Cred): pid 1, uid 1000, gid 100.
var testCred = [3]uint32{1, 1000, 100}

// credCall makes a non-blocking call as the kernel's path does for an
// AF_UNIX socket: with the caller's credentials and, when scm is set, an
// SCM_CREDENTIALS message the kernel checked. It returns the reply.
func (h *harness) credCall(nr uint64, scm *[3]uint32, args ...uint64) Reply {
	h.mu.Lock()
	h.id++
	m := Msg{ID: h.id, NR: nr, NewFD: -1, Flags: msgNonblock, Cred: testCred, CredFlags: credSet}
	h.mu.Unlock()
	if scm != nil {
		m.SCM, m.CredFlags = *scm, credSet|credSCM
	}
	copy(m.Args[:], args)
	rep := h.s.handle(&m, nil)
	h.mu.Lock()
	if rep.AddrOK != 0 {
		h.names[int32(args[0])] = rep.Names
	}
	h.mu.Unlock()
	return rep
}

// recvCred reads with recvmsg into a control buffer of clen bytes and
// returns the data, the control bytes msg_controllen covers, msg_flags
// and Reply.Ctl.
func (h *harness) recvCred(fd int32, clen int, flags uint64) (string, []byte, uint32, uint32) {
	h.t.Helper()
	buf := make([]byte, 64)
	hdr := msghdr(buf)
	ctl := make([]byte, clen+8)
	if clen > 0 {
		binary.LittleEndian.PutUint64(hdr[32:], bptr(ctl))
		binary.LittleEndian.PutUint64(hdr[40:], uint64(clen))
	}
	rep := h.credCall(47, nil, uint64(fd), bptr(hdr), flags)
	if rep.Result < 0 {
		h.t.Fatalf("recvmsg on %d = %d", fd, rep.Result)
	}
	used := binary.LittleEndian.Uint64(hdr[40:])
	if rep.Ctl != uint32(used) {
		h.t.Fatalf("recvmsg: Reply.Ctl %d, msg_controllen %d", rep.Ctl, used)
	}
	return string(buf[:rep.Result]), ctl[:used], binary.LittleEndian.Uint32(hdr[48:]), rep.Ctl
}

// credMsg is the SCM_CREDENTIALS message recvmsg writes for c: CMSG_LEN
// 28, padded to CMSG_SPACE 32.
func credMsg(pid, uid, gid uint32) []byte {
	b := make([]byte, 32)
	binary.LittleEndian.PutUint64(b, 28)
	binary.LittleEndian.PutUint32(b[8:], solSocket)
	binary.LittleEndian.PutUint32(b[12:], scmCredentials)
	binary.LittleEndian.PutUint32(b[16:], pid)
	binary.LittleEndian.PutUint32(b[20:], uid)
	binary.LittleEndian.PutUint32(b[24:], gid)
	return b
}

func (h *harness) passcred(fd int32, on int32) {
	h.t.Helper()
	h.want("SO_PASSCRED", h.call(54, -1, true, uint64(fd), solSocket, soPassCred, ptr(&on), 4), 0)
	var v int32
	n := int32(4)
	h.want("get SO_PASSCRED", h.call(55, -1, true, uint64(fd), solSocket, soPassCred, ptr(&v), ptr(&n)), 0)
	if v != on || n != 4 {
		h.t.Fatalf("SO_PASSCRED reads back %d (length %d), want %d", v, n, on)
	}
}

// TestUnixPasscred: what each send carries (SCM_CREDENTIALS, the
// sender's own when either end has SO_PASSCRED, or none) and what a
// receiver with SO_PASSCRED reads, on the three types, as the Linux host
// answered the same sequence (uname 6.18).
func TestUnixPasscred(t *testing.T) {
	h := newHarness(t)
	other := [3]uint32{1, 5, 7}
	for i, typ := range []int{sockDgram, sockStream, sockSeqpacket} {
		a, b := int32(100+2*i), int32(101+2*i)
		h.pair(typ|sockNonblock, a, b)
		x := []byte("x")
		send := func(scm *[3]uint32) {
			t.Helper()
			if r := h.credCall(46, scm, uint64(a), bptr(msghdr(x)), 0).Result; r != 1 {
				t.Fatalf("type %d: sendmsg = %d", typ, r)
			}
		}
		// Neither end has it when the data is sent: it carries none,
		// which a receiver that asks later reads as pid 0, ids 65534.
		send(nil)
		h.passcred(b, 1)
		if d, c, fl, _ := h.recvCred(b, 64, 0); d != "x" || !bytes.Equal(c, credMsg(0, 65534, 65534)) || fl != 0 {
			t.Fatalf("type %d: no credentials sent: %q %x flags %#x", typ, d, c, fl)
		}
		// The sender has it: its own credentials go with the data.
		h.passcred(b, 0)
		h.passcred(a, 1)
		send(nil)
		h.passcred(b, 1)
		if d, c, _, _ := h.recvCred(b, 64, 0); d != "x" || !bytes.Equal(c, credMsg(testCred[0], testCred[1], testCred[2])) {
			t.Fatalf("type %d: sender with SO_PASSCRED: %q %x", typ, d, c)
		}
		// SCM_CREDENTIALS wins; MSG_CMSG_CLOEXEC comes back in msg_flags.
		h.passcred(a, 0)
		send(&other)
		if d, c, fl, _ := h.recvCred(b, 64, msgCmsgCloexec); d != "x" || !bytes.Equal(c, credMsg(1, 5, 7)) || fl != msgCmsgCloexec {
			t.Fatalf("type %d: SCM_CREDENTIALS: %q %x flags %#x", typ, d, c, fl)
		}
		// A receiver without SO_PASSCRED gets no message.
		h.passcred(b, 0)
		send(&other)
		if d, c, fl, _ := h.recvCred(b, 64, 0); d != "x" || len(c) != 0 || fl != 0 {
			t.Fatalf("type %d: receiver without SO_PASSCRED: %q %x flags %#x", typ, d, c, fl)
		}
		// Short buffers: what fits and MSG_CTRUNC, as put_cmsg does.
		h.passcred(b, 1)
		full := credMsg(testCred[0], testCred[1], testCred[2])
		for _, clen := range []int{20, 16, 10, 0, 28, 30} {
			send(nil)
			d, c, fl, _ := h.recvCred(b, clen, 0)
			want := append([]byte(nil), full[:min(clen, 32)]...)
			if clen >= 16 {
				binary.LittleEndian.PutUint64(want, uint64(min(clen, 28)))
			}
			if clen < 16 {
				want = nil
			}
			trunc := uint32(0)
			if clen < 28 {
				trunc = msgCtrunc
			}
			if d != "x" || !bytes.Equal(c, want) || fl != trunc {
				t.Fatalf("type %d: control buffer of %d: %q %x flags %#x, want %x", typ, clen, d, c, fl, want)
			}
		}
		// A datagram sender with SO_PASSCRED and no name gets one on its
		// first send; a stream socket that is already connected does not.
		h.passcred(a, 1)
		send(nil)
		h.recvCred(b, 64, 0)
		got := make([]byte, 110)
		n := int32(len(got))
		h.want("getsockname", h.call(51, -1, true, uint64(a), bptr(got), ptr(&n)), 0)
		if typ == sockStream && n != 2 || typ != sockStream && (n != 8 || got[2] != 0) {
			t.Fatalf("type %d: name after a send with SO_PASSCRED: %q", typ, got[:n])
		}
	}
}

// TestUnixPasscredStream: a stream read with SO_PASSCRED never joins
// runs whose credentials differ (and MSG_WAITALL stops there too); one
// without joins them all; an end-of-file read reports zeros.
func TestUnixPasscredStream(t *testing.T) {
	h := newHarness(t)
	const a, b = 120, 121
	h.pair(sockStream|sockNonblock, a, b)
	other := [3]uint32{1, 5, 7}
	send := func(s string, scm *[3]uint32) {
		t.Helper()
		if r := h.credCall(46, scm, a, bptr(msghdr([]byte(s))), 0).Result; r != int64(len(s)) {
			t.Fatalf("sendmsg %q = %d", s, r)
		}
	}
	h.passcred(b, 1)
	send("ab", nil)
	send("cd", nil)
	send("ef", &other)
	send("gh", nil)
	own := credMsg(testCred[0], testCred[1], testCred[2])
	for _, w := range []struct {
		data string
		cred []byte
	}{{"abcd", own}, {"ef", credMsg(1, 5, 7)}, {"gh", own}} {
		if d, c, _, _ := h.recvCred(b, 64, 0); d != w.data || !bytes.Equal(c, w.cred) {
			t.Fatalf("read %q %x, want %q %x", d, c, w.data, w.cred)
		}
	}
	// Without SO_PASSCRED the runs join.
	send("ab", nil)
	send("cd", &other)
	h.passcred(b, 0)
	if d, c, _, _ := h.recvCred(b, 64, 0); d != "abcd" || len(c) != 0 {
		t.Fatalf("read without SO_PASSCRED %q %x", d, c)
	}
	// End of file: Linux's zeroed credentials.
	h.passcred(b, 1)
	h.want("shutdown", h.call(48, -1, true, a, 1), 0)
	if d, c, _, _ := h.recvCred(b, 64, 0); d != "" || !bytes.Equal(c, credMsg(0, 0, 0)) {
		t.Fatalf("end of file: %q %x", d, c)
	}
}

// TestUnixPasscredDirect: the direct path, which does not know the
// sender's credentials, declines a send that needs them, and serves a
// receiver with SO_PASSCRED itself.
func TestUnixPasscredDirect(t *testing.T) {
	h := newHarness(t)
	const a, b = 130, 131
	h.pair(sockDgram|sockNonblock, a, b)
	x := []byte("x")
	if r, ok := h.direct(1, a, bptr(x), 1); !ok || r != 1 {
		t.Fatalf("direct write without SO_PASSCRED = %d, %v", r, ok)
	}
	h.passcred(b, 1)
	if _, ok := h.direct(1, a, bptr(x), 1); ok {
		t.Fatal("the direct path sent to a receiver with SO_PASSCRED")
	}
	buf := make([]byte, 8)
	hdr := msghdr(buf)
	ctl := make([]byte, 64)
	binary.LittleEndian.PutUint64(hdr[32:], bptr(ctl))
	binary.LittleEndian.PutUint64(hdr[40:], 64)
	if r, ok := h.direct(47, b, bptr(hdr), 0); !ok || r != 1 {
		t.Fatalf("direct recvmsg = %d, %v", r, ok)
	}
	if c := ctl[:binary.LittleEndian.Uint64(hdr[40:])]; !bytes.Equal(c, credMsg(0, 65534, 65534)) {
		t.Fatalf("direct recvmsg control %x", c)
	}
	h.passcred(b, 0)
	h.passcred(a, 1)
	if _, ok := h.direct(1, a, bptr(x), 1); ok {
		t.Fatal("the direct path sent from a socket with SO_PASSCRED")
	}
}

// TestUnixPasscredAccept: a connection not accepted yet gets the
// sender's credentials whatever the options (Linux: the embryo has no
// socket), the accepted socket takes the listener's SO_PASSCRED, and a
// client with it is given a name when it connects.
func TestUnixPasscredAccept(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd, c2, a2 = 140, 141, 142, 143, 144
	name := sun("@velocity-passcred-test")
	h.call(41, lfd, false, afUnix, sockStream|sockNonblock, 0)
	h.want("bind", h.call(49, -1, true, lfd, bptr(name), uint64(len(name))), 0)
	h.want("listen", h.call(50, -1, true, lfd, 16), 0)
	h.call(41, cfd, false, afUnix, sockStream|sockNonblock, 0)
	h.want("connect", h.credCall(42, nil, cfd, bptr(name), uint64(len(name))).Result, 0)
	if r := h.credCall(1, nil, cfd, bptr([]byte("early")), 5).Result; r != 5 {
		t.Fatalf("write before accept = %d", r)
	}
	if r := h.credCall(1, nil, cfd, bptr([]byte("late")), 4).Result; r != 4 {
		t.Fatalf("write before accept = %d", r)
	}
	h.want("accept", h.call(43, afd, true, lfd, 0, 0), afd)
	if r := h.credCall(1, nil, cfd, bptr([]byte("after")), 5).Result; r != 5 {
		t.Fatalf("write after accept = %d", r)
	}
	h.passcred(afd, 1)
	if d, c, _, _ := h.recvCred(afd, 64, 0); d != "earlylate" || !bytes.Equal(c, credMsg(testCred[0], testCred[1], testCred[2])) {
		t.Fatalf("read of data sent before accept: %q %x", d, c)
	}
	if d, c, _, _ := h.recvCred(afd, 64, 0); d != "after" || !bytes.Equal(c, credMsg(0, 65534, 65534)) {
		t.Fatalf("read of data sent after accept: %q %x", d, c)
	}
	// The listener's option goes to what it accepts; a client with the
	// option and no name is given one at connect.
	h.passcred(lfd, 1)
	h.call(41, c2, false, afUnix, sockStream|sockNonblock, 0)
	h.passcred(c2, 1)
	h.want("connect", h.credCall(42, nil, c2, bptr(name), uint64(len(name))).Result, 0)
	h.want("accept", h.call(43, a2, true, lfd, 0, 0), a2)
	var v int32
	n := int32(4)
	h.want("get SO_PASSCRED", h.call(55, -1, true, a2, solSocket, soPassCred, ptr(&v), ptr(&n)), 0)
	if v != 1 {
		t.Fatal("the accepted socket did not take the listener's SO_PASSCRED")
	}
	got := make([]byte, 110)
	n = int32(len(got))
	h.want("getsockname", h.call(51, -1, true, c2, bptr(got), ptr(&n)), 0)
	if n != 8 || got[2] != 0 {
		t.Fatalf("client with SO_PASSCRED after connect: name %q", got[:n])
	}
}
