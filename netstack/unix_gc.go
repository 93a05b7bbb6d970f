package netstack

import "slices"

// The unix garbage collector, as Linux's (net/unix/garbage.c): an
// AF_UNIX socket sent over itself, or sockets queued on each other,
// keep each other's descriptions through the SCM_RIGHTS tokens in their
// queues after every fd is closed, and nothing would ever read them.
//
// A socket is a candidate when every kernel reference to it is a token
// queued on some AF_UNIX socket (its reference count, which the kernel
// gives, equals the tokens naming it). Candidates that a token in the
// queue of a socket that is not a candidate names are still reachable
// (whoever holds that socket can receive them), and so are those their
// own queues name, transitively; the rest are garbage. Their queues are
// purged: the tokens go back to the kernel, which drops the references,
// and as the garbage sockets' last references go the kernel closes them
// (runtime/vk_netrights.go, vkNetPutAsync).
//
// It runs when the server releases an AF_UNIX socket, as Linux's
// unix_release_sock runs it, and when the kernel closes an fd of an
// AF_UNIX socket that other references keep (msgUnixGC), which is how
// the last fd of a socket that only a token keeps goes.
//
// Consistency: the queues are read and purged under the space's lock,
// which every move of a token on the server's side takes (send, receive,
// MSG_PEEK's extra references). A candidate has no fd, so no reference
// to it can appear but by the server; a socket that stops being one
// while the collector runs (its last fd closed) is left for the next
// run, which that close asks for.
func (s *Server) unixGC() {
	sp := s.unix
	if sp.k == nil {
		return
	}
	sp.mu.Lock()
	none := sp.withRights == 0
	sp.mu.Unlock()
	if none {
		return // nothing in flight: nothing can be kept by tokens alone
	}
	s.mu.Lock()
	eps := make(map[int32]*unixEP)
	for sid, sk := range s.socks {
		if sk.ux != nil {
			eps[sid] = sk.ux
		}
	}
	s.mu.Unlock()

	sp.mu.Lock()
	defer sp.mu.Unlock()
	inflight := map[int32]int32{}
	for _, u := range eps {
		u.eachToken(func(t int32) {
			if _, ok := eps[t]; ok {
				inflight[t]++
			}
		})
	}
	if len(inflight) == 0 {
		return
	}
	sids := make([]int32, 0, len(inflight))
	for sid := range inflight {
		sids = append(sids, sid)
	}
	slices.Sort(sids)
	refs := sp.k.Refs(sids)
	cand := map[int32]bool{}
	for i, sid := range sids {
		if refs[i] == inflight[sid] {
			cand[sid] = true
		}
	}
	if len(cand) == 0 {
		return
	}
	live := map[int32]bool{}
	var work []int32
	mark := func(t int32) {
		if cand[t] && !live[t] {
			live[t] = true
			work = append(work, t)
		}
	}
	for sid, u := range eps {
		if !cand[sid] {
			u.eachToken(mark)
		}
	}
	for len(work) > 0 {
		c := work[len(work)-1]
		work = work[:len(work)-1]
		eps[c].eachToken(mark)
	}
	var drop []int32
	for _, sid := range sids {
		if cand[sid] && !live[sid] {
			drop = eps[sid].purgeLocked(drop)
			s.GCFreed.Add(1)
		}
	}
	if len(drop) > 0 {
		// Never waits for the server: the garbage sockets' last
		// references go by requests queued for later.
		sp.k.Rights(rightsPut, drop)
	}
}

// eachToken calls fn with every SCM_RIGHTS token queued on u, and on the
// connections a listener has not accepted yet (Linux's scan_children:
// whoever accepts them receives their queues). The caller holds the
// space's lock.
func (u *unixEP) eachToken(fn func(int32)) {
	for i := range u.rq {
		for _, t := range u.rq[i].rights {
			fn(t)
		}
	}
	for _, p := range u.pending {
		p.eachToken(fn)
	}
}

// purgeLocked empties u's queue and its unaccepted connections' queues,
// as closing it would, and appends their tokens to drop.
func (u *unixEP) purgeLocked(drop []int32) []int32 {
	drop = u.emptyQueueLocked(drop)
	for _, p := range u.pending {
		drop = p.purgeLocked(drop)
	}
	u.notify()
	return drop
}
