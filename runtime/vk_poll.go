//go:build velocity

// Velocity kernel: poll(2), ppoll(2), select(2) and pselect6(2).
//
// Go's runtime waits with epoll, but programs and libraries call poll on
// their own (golang.org/x/sys/unix.Poll, a serial line's read with a
// timeout), and before this they got ENOSYS. Poll asks about any fd, so a
// sleeping poller cannot be put on one description's wait queue: every
// readiness notification (vkNotifyDeliverLocked) counts itself in
// vkPollGen, and while a poller sleeps it also wakes every poller, which
// then looks at its fds again. Notifications are many and pollers few,
// so a notification with no poller asleep costs an increment and a load.
//
// What an fd reports is what epoll reports for it (vkReady), with the
// *NORM bits Linux adds for sockets and pipes (and POLLWRBAND for a
// writable socket); an epoll instance is
// readable when a record on its ready list has events; every other kind
// (tmpfs files and directories, devices) is always readable and
// writable, as Linux's DEFAULT_POLLMASK for files without a poll method.
//
// Trap context with the kernel lock held: no allocation, no write
// barriers, no defer. The caller's array is read and written without
// vkFDLock (a page fault may be taken there); each fd's readiness is read
// under it.

package runtime

import (
	"internal/runtime/sys"
	"unsafe"
)

// Poll's event bits, as Linux numbers them (the same as epoll's).
const (
	pollIn     = 0x1
	pollOut    = 0x4
	pollErr    = 0x8
	pollHup    = 0x10
	pollNval   = 0x20
	pollRdNorm = 0x40
	pollWrNorm = 0x100
	pollWrBand = 0x200
)

// vkPollGen counts readiness notifications; vkPollSleepers counts the
// threads asleep in poll, which sleep on vkPollGen's address. Both are
// vkFDLock's.
var (
	vkPollGen      uint64
	vkPollSleepers int32
)

// vkPollNotifyLocked is called by every readiness notification, with
// vkFDLock held.
func vkPollNotifyLocked() {
	vkPollGen++
	if vkPollSleepers != 0 {
		vkFutexWake(uintptr(unsafe.Pointer(&vkPollGen)), vkMaxThreads)
	}
}

// vkPollReadyLocked is what fd has now of the events in want (POLLERR and
// POLLHUP always count), or POLLNVAL for an fd that is not open. busy says
// the fd is a socket whose creation the network server has not handled
// yet: it has no level yet (socket and socketpair return before the
// server makes the endpoint, vk_net.go), and the caller waits for the
// report that gives it one. The caller holds vkFDLock.
func vkPollReadyLocked(fd int32, want uint32) (ready uint32, busy bool) {
	i := vkFDIndex(fd)
	if i < 0 {
		return pollNval, false
	}
	f := vkFileAt(i)
	if f.kind == fdSocket && vkNetSidBusy(i) {
		busy = true
	}
	var have uint32
	switch f.kind {
	case fdConsole, fdEventfd, fdPipeRead, fdPipeWrite, fdSocket:
		have = vkReady(f, ^uint32(0))
	case fdEpoll:
		if vkEpollHasEvents(f) {
			have = pollIn
		}
	default:
		have = pollIn | pollOut
	}
	if have&pollIn != 0 {
		have |= pollRdNorm
	}
	if have&pollOut != 0 {
		have |= pollWrNorm
		if f.kind == fdSocket {
			have |= pollWrBand // as Linux's socket poll methods
		}
	}
	return have & (want | pollErr | pollHup), busy
}

// vkPollBusyWaitNs bounds one wait for a new socket's first report (see
// vkPollReadyLocked): the report wakes the wait, but a level with no
// events (a listening socket's) is not a notification, and the server
// has handled the creation when its next wait begins.
// vkPollBusyMaxNs bounds them all in one call: a server that has not
// handled the creation by then leaves the socket's level as it is.
const (
	vkPollBusyWaitNs = 1_000_000
	vkPollBusyMaxNs  = 100_000_000
)

// vkEpollHasEvents reports whether epoll instance ep has a record an
// epoll_wait would report now. The caller holds vkFDLock.
func vkEpollHasEvents(ep *vkFile) bool {
	for ref := ep.rhead; ref != 0; {
		f, w := vkWatchAt(ref)
		ref = w.next
		if w.events&epollET != 0 && w.seen == f.gen || w.events&^epollPrivate == 0 {
			continue
		}
		if vkReady(f, w.events) != 0 {
			return true
		}
	}
	return false
}

// vkSysPoll serves poll and ppoll: nfds struct pollfd (an int fd, short
// events and short revents) at fds, waiting until deadline (vkNanotime;
// -1 for no limit, 0 for none at all). Linux's checks: nfds above
// RLIMIT_NOFILE is EINVAL, an array that cannot be read and written
// EFAULT. A negative fd is skipped (its revents 0). A signal ends the
// wait with EINTR, which Linux does not restart for poll either when a
// handler runs.
func vkSysPoll(fds, nfds uintptr, deadline int64, canBlock bool) uintptr {
	if nfds > uintptr(vkFDLimit()) {
		return vkErr(vkEINVAL)
	}
	if nfds > 0 && !vkUserOK(fds, nfds*8, true) {
		return vkErr(vkEFAULT)
	}
	t := vkCur()
	busyUntil := vkNanotime() + vkPollBusyMaxNs
	for {
		vkSpinLock(&vkFDLock)
		gen := vkPollGen
		vkSpinUnlock(&vkFDLock)
		n, busy := uintptr(0), false
		for k := uintptr(0); k < nfds; k++ {
			p := fds + k*8
			fd := *(*int32)(unsafe.Pointer(p))
			var rev uint32
			if fd >= 0 {
				want := uint32(*(*uint16)(unsafe.Pointer(p + 4)))
				vkSpinLock(&vkFDLock)
				r, b := vkPollReadyLocked(fd, want)
				vkSpinUnlock(&vkFDLock)
				rev, busy = r, busy || b
			}
			*(*uint16)(unsafe.Pointer(p + 6)) = uint16(rev)
			if rev != 0 {
				n++
			}
		}
		again, e := vkPollWait(t, gen, n, busy, deadline, canBlock, &busyUntil)
		if e != 0 {
			return e
		}
		if !again {
			return n
		}
	}
}

// vkPollWait ends one look of poll or select at its fds, which found n
// ready, and busy if a socket among them has no level yet: it reports
// whether the call looks again, having waited here (for that socket's
// first report, for a notification, until deadline), or returns, with
// EINTR when a signal ended its wait. A signal during the wait for a new
// socket's level only ends that wait (busyUntil), so a call that was not
// to wait answers with the levels known and never says EINTR.
func vkPollWait(t *vkThread, gen uint64, n uintptr, busy bool, deadline int64, canBlock bool, busyUntil *int64) (again bool, e uintptr) {
	if busy && canBlock && vkNanotime() < *busyUntil {
		if !vkPollSleep(t, gen, vkNanotime()+vkPollBusyWaitNs) {
			*busyUntil = 0
		}
		return true, 0
	}
	if n > 0 || deadline == 0 || !canBlock || deadline > 0 && vkNanotime() >= deadline {
		return false, 0
	}
	if !vkPollSleep(t, gen, deadline) {
		return false, vkErr(vkEINTR)
	}
	return true, 0
}

// vkPollSleep sleeps until a readiness notification comes after the one
// numbered gen (at once if one has: something changed while the caller
// looked), until deadline (vkNanotime; -1 for none) or until a signal. It
// reports false when a signal is to be taken: the call ends with EINTR.
func vkPollSleep(t *vkThread, gen uint64, deadline int64) bool {
	if t.pending&^t.sigmask != 0 {
		return false
	}
	vkSpinLock(&vkFDLock)
	if vkPollGen == gen {
		vkPollSleepers++
		vkSleepOn(uintptr(unsafe.Pointer(&vkPollGen)), &vkFDLock, max(deadline, 0), true)
		vkSpinLock(&vkFDLock)
		vkPollSleepers--
	}
	vkSpinUnlock(&vkFDLock)
	return t.pending&^t.sigmask == 0
}

// vkPollTimeLeft writes the time left before deadline back to the
// timeout at ts, as Linux does for ppoll, select and pselect6 when the
// timeout was not zero: a timespec, or with usUnit a timeval.
func vkPollTimeLeft(ts uintptr, deadline int64, usUnit bool) {
	if ts == 0 || deadline <= 0 || !vkUserOK(ts, 16, true) {
		return
	}
	left := max(deadline-vkNanotime(), 0)
	sub := left % 1e9
	if usUnit {
		sub /= 1000
	}
	*(*[2]int64)(unsafe.Pointer(ts)) = [2]int64{left / 1e9, sub}
}

// vkSysPpoll is ppoll: the timeout a timespec (none without one), and a
// signal mask the thread waits with, as epoll_pwait's (vkSysEpollPwait).
// Linux's order: the timespec (EFAULT, EINVAL), the mask's size (EINVAL)
// and the mask (EFAULT), then poll's checks. As on Linux, the time left
// is written back to the timespec when it was not zero.
func vkSysPpoll(fds, nfds, tsp, mask, size uintptr, canBlock bool) uintptr {
	deadline := int64(-1)
	if tsp != 0 {
		d, e := vkReadTimespec(tsp)
		if e != 0 {
			return e
		}
		deadline = 0
		if d > 0 {
			deadline = vkNanotime() + d
		}
	}
	if e := vkWaitMaskCheck(mask, size); e != 0 {
		return e
	}
	t := vkCur()
	own := vkWaitMaskSet(t, mask)
	r := vkSysPoll(fds, nfds, deadline, canBlock)
	vkWaitMaskDone(t, mask, own, r)
	vkPollTimeLeft(tsp, deadline, false)
	return r
}

// vkSelectWords is the size of an fd_set the kernel looks at, in words:
// the fd table's (select's nfds beyond it is cut to it, as Linux cuts it
// to its table's size).
const vkSelectWords = vkMaxFDs / 64

// vkSysSelect serves select and pselect6: sets are the read, write and
// except fd_sets (0 for none), deadline as vkSysPoll's. Linux's checks:
// a negative nfds is EINVAL, a set that cannot be read and written
// EFAULT, an fd in a set that is not open EBADF. The sets are copied in
// (1.5 KiB of the 32 KiB kernel stack at most) and overwritten with the
// ready fds only when the call returns a count. What counts is Linux's:
// readable is POLLIN, POLLHUP or POLLERR; writable POLLOUT or POLLERR;
// an exceptional condition (POLLPRI) no kind of fd here has.
func vkSysSelect(nfds int64, sets [3]uintptr, deadline int64, canBlock bool) uintptr {
	if nfds < 0 {
		return vkErr(vkEINVAL)
	}
	nfds = min(nfds, vkMaxFDs)
	words := uintptr(nfds+63) / 64
	for _, p := range sets {
		if p != 0 && words > 0 && !vkUserOK(p, words*8, true) {
			return vkErr(vkEFAULT)
		}
	}
	var set [3][vkSelectWords]uint64
	vkSelectLoad(&set, sets, words, nfds)
	for k := uintptr(0); k < words; k++ {
		for b := set[0][k] | set[1][k] | set[2][k]; b != 0; b &= b - 1 {
			if vkFDIndex(int32(k*64)+int32(sys.TrailingZeros64(b))) < 0 {
				return vkErr(vkEBADF)
			}
		}
	}
	t := vkCur()
	busyUntil := vkNanotime() + vkPollBusyMaxNs
	for {
		vkSpinLock(&vkFDLock)
		gen := vkPollGen
		n, busy := uintptr(0), false
		for k := uintptr(0); k < words; k++ {
			var r, w uint64
			for b := set[0][k] | set[1][k] | set[2][k]; b != 0; b &= b - 1 {
				bit := b & -b
				have, bz := vkPollReadyLocked(int32(k*64)+int32(sys.TrailingZeros64(b)), ^uint32(0))
				busy = busy || bz
				if have&(pollIn|pollRdNorm|pollHup|pollErr) != 0 {
					r |= bit
				}
				if have&(pollOut|pollWrNorm|pollErr) != 0 {
					w |= bit
				}
			}
			set[0][k] &= r
			set[1][k] &= w
			set[2][k] = 0 // no POLLPRI here
			n += uintptr(sys.OnesCount64(set[0][k]) + sys.OnesCount64(set[1][k]))
		}
		vkSpinUnlock(&vkFDLock)
		again, e := vkPollWait(t, gen, n, busy, deadline, canBlock, &busyUntil)
		if e != 0 {
			return e
		}
		if !again {
			for s, p := range sets {
				for k := uintptr(0); p != 0 && k < words; k++ {
					*(*uint64)(unsafe.Pointer(p + k*8)) = set[s][k]
				}
			}
			return n
		}
		vkSelectLoad(&set, sets, words, nfds) // untouched until the call returns a count
	}
}

// vkSelectLoad copies the caller's fd_sets (words of them, fds from nfds
// on cleared) into set; a set the caller did not give is empty.
func vkSelectLoad(set *[3][vkSelectWords]uint64, sets [3]uintptr, words uintptr, nfds int64) {
	for s, p := range sets {
		for k := uintptr(0); k < words; k++ {
			set[s][k] = 0
			if p != 0 {
				set[s][k] = *(*uint64)(unsafe.Pointer(p + k*8))
			}
		}
		if nfds%64 != 0 {
			set[s][words-1] &= 1<<(nfds%64) - 1
		}
	}
}

// vkSysSelectTime serves select and pselect6 around vkSysSelect: ts is
// the timeout (a timeval for select, a timespec for pselect6; none
// without one), written back with the time left when it was not zero,
// as Linux does; mask is pselect6's signal mask (0 for none), which the
// thread waits with, as ppoll's.
func vkSysSelectTime(nfds int64, sets [3]uintptr, ts uintptr, timeval bool, mask uintptr, canBlock bool) uintptr {
	deadline := int64(-1)
	if ts != 0 {
		if !vkUserOK(ts, 16, false) {
			return vkErr(vkEFAULT)
		}
		v := *(*[2]int64)(unsafe.Pointer(ts))
		unit, limit := int64(1), int64(1e9)
		if timeval {
			// Linux carries microseconds past a second into the
			// seconds; only a negative part is invalid.
			if v[1] >= 0 {
				v[0], v[1] = v[0]+v[1]/1e6, v[1]%1e6
			}
			unit, limit = 1000, 1e6
		}
		if v[0] < 0 || v[1] < 0 || v[1] >= limit {
			return vkErr(vkEINVAL)
		}
		d := min(v[0], 9_000_000_000)*1e9 + v[1]*unit
		deadline = 0
		if d > 0 {
			deadline = vkNanotime() + d
		}
	}
	t := vkCur()
	own := vkWaitMaskSet(t, mask)
	r := vkSysSelect(nfds, sets, deadline, canBlock)
	vkWaitMaskDone(t, mask, own, r)
	vkPollTimeLeft(ts, deadline, timeval)
	return r
}
