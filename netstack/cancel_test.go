package netstack

import (
	"encoding/binary"
	"syscall"
	"testing"
	"time"
)

// startWaiting runs the blocking call nr on the server as serve does for
// a call that may wait: with a hold, on a goroutine of its own. The reply
// comes on the returned channel.
func (h *harness) startWaiting(id uint64, nr uint64, newFD int64, args ...uint64) <-chan Reply {
	m := Msg{ID: id, NR: nr, NewFD: newFD}
	copy(m.Args[:], args)
	if nr == 43 || nr == 288 {
		m.SockID = h.k.newSocket(int32(newFD), false)
	}
	if !h.s.mayBlock(&m) {
		h.t.Fatalf("call %d on a blocking socket: mayBlock says it never waits", nr)
	}
	hd := &hold{id: id, k: h.k, cancel: make(chan struct{})}
	h.s.mu.Lock()
	h.s.waiting[id] = hd
	h.s.mu.Unlock()
	out := make(chan Reply, 1)
	go func() {
		r := h.s.handle(&m, hd)
		h.s.mu.Lock()
		delete(h.s.waiting, id)
		h.s.mu.Unlock()
		out <- r
	}()
	return out
}

// abandon does what the kernel does for a caller with a signal to take:
// once the call waits for its condition (it has let go of its caller), it
// leaves it, with what the call had moved, and sends the cancel. The
// server's goroutine must then end promptly, without an answer that
// counts.
func (h *harness) abandon(what string, id uint64, out <-chan Reply) int64 {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if moved, ok := h.k.abandon(id); ok {
			h.s.cancel(id)
			h.s.cancel(id) // a second cancel does nothing
			select {
			case <-out:
			case <-time.After(5 * time.Second):
				h.t.Fatalf("%s: the server's goroutine still runs 5 s after its cancel", what)
			}
			return moved
		}
		select {
		case r := <-out:
			h.t.Fatalf("%s answered %d before its condition held", what, r.Result)
		default:
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s never let go of its caller to wait", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAbandon: a blocking call lets go of its caller while it waits, so a
// caller with a signal to take can leave it without the server's help
// (runtime/vk_net.go); the server then ends the call without touching
// the caller's memory, and the socket works for the call made again. A
// blocking send that had queued part of its data reports that part.
func TestAbandon(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd, u0, u1 = 20, 21, 22, 23, 24
	h.call(41, lfd, false, afInet, sockStream, 0)
	h.call(49, -1, false, lfd, bptr(sockaddr4([4]byte{127, 0, 0, 1}, 0)), 16)
	h.call(50, -1, false, lfd, 8)

	if moved := h.abandon("accept", 1, h.startWaiting(1, 43, afd, lfd, 0, 0)); moved != 0 {
		t.Fatalf("abandoned accept moved %d", moved)
	}
	// The accept made again, then a connect to release it.
	acc := h.startWaiting(2, 43, afd, lfd, 0, 0)
	got := make([]byte, 16)
	n := int32(len(got))
	h.call(51, -1, false, lfd, bptr(got), ptr(&n))
	h.call(41, cfd, false, afInet, sockStream, 0)
	if r := h.call(42, -1, false, cfd, bptr(got), 16); r != 0 {
		t.Fatalf("blocking connect = %d", r)
	}
	select {
	case r := <-acc:
		if r.Result != afd {
			t.Fatalf("accept after the restart = %d, want %d", r.Result, afd)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("accept did not return after the connect")
	}

	// An abandoned read must not take the data that comes after it.
	buf := make([]byte, 8)
	h.abandon("tcp read", 3, h.startWaiting(3, 0, -1, afd, bptr(buf), 8))
	if r := h.call(1, -1, false, cfd, bptr([]byte("hi")), 2); r != 2 {
		t.Fatalf("write = %d", r)
	}
	if r := <-h.startWaiting(4, 0, -1, afd, bptr(buf), 8); r.Result != 2 || string(buf[:2]) != "hi" {
		t.Fatalf("read after the abandoned one = %d %q; want 2 \"hi\"", r.Result, buf[:2])
	}

	// A blocking unix send bigger than the peer's room queues what fits,
	// then waits: abandoned, it reports what it queued.
	h.pair(sockStream, u0, u1)
	big := make([]byte, 4<<20)
	moved := h.abandon("unix write", 5, h.startWaiting(5, 1, -1, u0, bptr(big), uint64(len(big))))
	if moved <= 0 || moved >= int64(len(big)) {
		t.Fatalf("abandoned unix write moved %d of %d bytes; want part of it", moved, len(big))
	}
	var total int64
	rb := make([]byte, 64<<10)
	for total < moved {
		r := h.call(0, -1, true, u1, bptr(rb), uint64(len(rb)))
		if r <= 0 {
			t.Fatalf("read of the queued part = %d after %d of %d bytes", r, total, moved)
		}
		total += r
	}
	if r := h.call(0, -1, true, u1, bptr(rb), uint64(len(rb))); r != -int64(syscall.EAGAIN) || total != moved {
		t.Fatalf("the peer read %d bytes then %d; want exactly the %d the write reported", total, r, moved)
	}

	h.s.cancel(99) // a cancel for a call the server never had
	h.s.mu.Lock()
	left := len(h.s.waiting)
	h.s.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d calls stay registered after they ended", left)
	}
}

// TestTimeo: SO_RCVTIMEO's struct timeval as sock_set_timeout reads it.
func TestTimeo(t *testing.T) {
	tv := func(sec, usec int64) []byte {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint64(b, uint64(sec))
		binary.LittleEndian.PutUint64(b[8:], uint64(usec))
		return b
	}
	for _, c := range []struct {
		v    []byte
		e    syscall.Errno
		d    time.Duration
		back [2]int64
	}{
		{tv(1, 500000), 0, 1500 * time.Millisecond, [2]int64{1, 500000}},
		{tv(0, 0), 0, 0, [2]int64{0, 0}},     // none: wait for ever
		{tv(-1, 0), 0, -1, [2]int64{0, 0}},   // do not wait
		{tv(1<<62, 0), 0, 0, [2]int64{0, 0}}, // past a duration: for ever
		{tv(0, 1000000), syscall.EDOM, 0, [2]int64{}},
		{tv(0, -1), syscall.EDOM, 0, [2]int64{}},
		{tv(1, 0)[:8], syscall.EINVAL, 0, [2]int64{}},
	} {
		var o timeo
		if e := o.set(c.v); e != c.e {
			t.Errorf("set(%x) = %v, want %v", c.v, e, c.e)
			continue
		}
		if c.e != 0 {
			continue
		}
		b := o.timeval()
		back := [2]int64{int64(binary.LittleEndian.Uint64(b[:])), int64(binary.LittleEndian.Uint64(b[8:]))}
		if o.duration() != c.d || back != c.back {
			t.Errorf("set(%x): duration %v, timeval %v; want %v, %v", c.v, o.duration(), back, c.d, c.back)
		}
	}
}
