package netstack

import "testing"

// TestUnixGC: the unix garbage collector frees the sockets whose every
// reference is a token queued on a socket that is itself garbage, and
// nothing that a live socket can still receive. The fake kernel's
// reference counts stand in for the fd table's.
func TestUnixGC(t *testing.T) {
	h := newHarness(t)
	data := []byte("x")
	send := func(from int32, tokens ...int32) {
		t.Helper()
		if r, took := h.rightsCall(46, tokens, uint64(from), bptr(msghdr(data)), 0); r != 1 || took != 1 {
			t.Fatalf("sendmsg on %d with %v = %d, took %d", from, tokens, r, took)
		}
	}
	queued := func(sid int32) int {
		h.s.unix.mu.Lock()
		defer h.s.unix.mu.Unlock()
		n := 0
		h.s.mu.Lock()
		u := h.s.socks[sid].ux
		h.s.mu.Unlock()
		u.eachToken(func(int32) { n++ })
		return n
	}
	setRefs := func(r map[int32]int32) {
		h.k.mu.Lock()
		h.k.refCounts = r
		h.k.mu.Unlock()
	}

	// 11 sent over 10 lands in 11's own queue: a cycle of one.
	h.pair(sockStream|sockNonblock, 10, 11)
	send(10, 11)
	// 21 holds 23, 23 holds 21: a cycle of two; 30 (an fd is open on
	// it) holds 33, which holds 31's peer 32... kept alive from 30.
	h.pair(sockStream|sockNonblock, 20, 21)
	h.pair(sockStream|sockNonblock, 22, 23)
	send(20, 23)
	send(22, 21)
	h.pair(sockStream|sockNonblock, 30, 31)
	h.pair(sockStream|sockNonblock, 32, 33)
	send(31, 33) // lands on 30
	send(32, 22) // lands on 33: 22 is reachable through 30 -> 33

	// While fds are open on them, nothing is a candidate.
	setRefs(map[int32]int32{11: 2, 21: 2, 23: 2, 33: 2, 22: 2})
	h.s.unixGC()
	if n := h.s.GCFreed.Load(); n != 0 {
		t.Fatalf("freed %d sockets that fds still hold", n)
	}
	// Every fd closed but 30's and 31's: 11, 21 and 23 are garbage; 33
	// and 22 are kept by 30's queue.
	setRefs(map[int32]int32{11: 1, 21: 1, 23: 1, 33: 1, 22: 1})
	h.s.unixGC()
	if n := h.s.GCFreed.Load(); n != 3 {
		t.Errorf("freed %d sockets, want 3 (11, 21, 23)", n)
	}
	for sid, want := range map[int32]int{11: 0, 21: 0, 23: 0, 30: 1, 33: 1} {
		if n := queued(sid); n != want {
			t.Errorf("socket %d has %d tokens queued after the collection, want %d", sid, n, want)
		}
	}
	h.k.mu.Lock()
	defer h.k.mu.Unlock()
	for sid, want := range map[int32]int{11: -1, 21: -1, 23: -1, 22: 0, 33: 0} {
		if h.k.refs[sid] != want {
			t.Errorf("references given back for %d: %d, want %d", sid, -h.k.refs[sid], -want)
		}
	}
}
