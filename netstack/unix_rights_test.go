package netstack

import (
	"encoding/binary"
	"syscall"
	"testing"
)

// rightsCall makes a call as the kernel's path does for an AF_UNIX
// socket: with a token array (Msg.Rights), in for sendmsg, out for the
// receiving calls. It returns the result and Reply.Rights.
func (h *harness) rightsCall(nr uint64, tokens []int32, args ...uint64) (int64, uint32) {
	h.mu.Lock()
	h.id++
	m := Msg{ID: h.id, NR: nr, NewFD: -1, Flags: msgNonblock}
	h.mu.Unlock()
	copy(m.Args[:], args)
	if len(tokens) > 0 {
		m.Rights, m.NRights = ptr(&tokens[0]), uint64(len(tokens))
	}
	rep := h.s.handle(&m, nil)
	return rep.Result, rep.Rights
}

// msghdr builds a struct msghdr of one iovec over b.
func msghdr(b []byte) []byte {
	iov := make([]byte, 16)
	binary.LittleEndian.PutUint64(iov, bptr(b))
	binary.LittleEndian.PutUint64(iov[8:], uint64(len(b)))
	hdr := make([]byte, 56)
	binary.LittleEndian.PutUint64(hdr[16:], bptr(iov))
	binary.LittleEndian.PutUint64(hdr[24:], 1)
	return hdr
}

// TestUnixRightsTokens: SCM_RIGHTS tokens travel with the data (a
// stream's with the first byte of their write, and a read ends after
// them), peeking takes new references, the direct path declines while
// tokens are queued, and a close gives queued tokens back.
func TestUnixRightsTokens(t *testing.T) {
	h := newHarness(t)
	h.pair(sockStream|sockNonblock, 80, 81)
	plain := []byte("ab")
	h.want("write", h.call(1, -1, true, 80, bptr(plain), 2), 2)
	data := []byte("cdef")
	r, took := h.rightsCall(46, []int32{7, 9}, 80, bptr(msghdr(data)), 0)
	if r != 4 || took != 1 {
		t.Fatalf("sendmsg with tokens = %d, took %d", r, took)
	}
	h.want("write after", h.call(1, -1, true, 80, bptr(plain), 2), 2)
	// The direct path cannot take tokens: it declines.
	buf := make([]byte, 64)
	if _, ok := h.direct(0, 81, uint64(bptr(buf)), 64); ok {
		t.Fatal("the direct path read a socket with tokens queued")
	}
	// A peek sees them and takes references of its own.
	out := make([]int32, 253)
	r, n := h.rightsCall(47, out, 81, bptr(msghdr(buf)), msgPeek)
	if r != 6 || n != 2 || out[0] != 7 || out[1] != 9 || h.k.refs[7] != 1 || h.k.refs[9] != 1 {
		t.Fatalf("peek = %d with %d tokens %v, refs %v", r, n, out[:n], h.k.refs)
	}
	// A read takes the bytes before them and theirs, and stops there.
	out[0], out[1] = 0, 0
	r, n = h.rightsCall(0, out, 81, bptr(buf), 64)
	if r != 6 || n != 2 || out[0] != 7 || string(buf[:6]) != "abcdef" {
		t.Fatalf("read = %d %q with %d tokens", r, buf[:r], n)
	}
	r, n = h.rightsCall(0, out, 81, bptr(buf), 64)
	if r != 2 || n != 0 {
		t.Fatalf("read after = %d with %d tokens", r, n)
	}
	// A send that queues nothing leaves the tokens with the kernel.
	h.want("shutdown", h.call(48, -1, true, 80, 1), 0)
	r, took = h.rightsCall(46, []int32{5}, 80, bptr(msghdr(data)), 0)
	if r != errn(syscall.EPIPE) || took != 0 {
		t.Fatalf("sendmsg after shutdown = %d, took %d", r, took)
	}

	// Datagrams: tokens with the message; a close gives unread ones back.
	h.pair(sockDgram|sockNonblock, 90, 91)
	r, took = h.rightsCall(46, []int32{11}, 90, bptr(msghdr(data)), 0)
	if r != 4 || took != 1 {
		t.Fatalf("datagram sendmsg = %d, took %d", r, took)
	}
	r, took = h.rightsCall(46, []int32{12, 13}, 90, bptr(msghdr(nil)), 0)
	if r != 0 || took != 1 {
		t.Fatalf("empty datagram sendmsg = %d, took %d", r, took)
	}
	r, n = h.rightsCall(0, out, 91, bptr(buf[:1]), 1)
	if r != 1 || n != 1 || out[0] != 11 {
		t.Fatalf("truncated datagram read = %d with %d tokens", r, n)
	}
	h.want("close", h.call(3, -1, true, 91), 0)
	if h.k.refs[12] != -1 || h.k.refs[13] != -1 {
		t.Fatalf("tokens of a closed socket's queue not given back: %v", h.k.refs)
	}
}
