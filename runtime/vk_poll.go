//go:build velocity

// Velocity kernel: poll(2) and ppoll(2).
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
// *NORM bits Linux adds for sockets and pipes; an epoll instance is
// readable when a record on its ready list has events; every other kind
// (tmpfs files and directories, devices) is always readable and
// writable, as Linux's DEFAULT_POLLMASK for files without a poll method.
//
// Trap context with the kernel lock held: no allocation, no write
// barriers, no defer. The caller's array is read and written without
// vkFDLock (a page fault may be taken there); each fd's readiness is read
// under it.

package runtime

import "unsafe"

// Poll's event bits, as Linux numbers them (the same as epoll's).
const (
	pollIn     = 0x1
	pollOut    = 0x4
	pollErr    = 0x8
	pollHup    = 0x10
	pollNval   = 0x20
	pollRdNorm = 0x40
	pollWrNorm = 0x100
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
// POLLHUP always count), or POLLNVAL for an fd that is not open. The
// caller holds vkFDLock.
func vkPollReadyLocked(fd int32, want uint32) uint32 {
	i := vkFDIndex(fd)
	if i < 0 {
		return pollNval
	}
	f := vkFileAt(i)
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
	}
	return have & (want | pollErr | pollHup)
}

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
	for {
		vkSpinLock(&vkFDLock)
		gen := vkPollGen
		vkSpinUnlock(&vkFDLock)
		n := uintptr(0)
		for k := uintptr(0); k < nfds; k++ {
			p := fds + k*8
			fd := *(*int32)(unsafe.Pointer(p))
			var rev uint32
			if fd >= 0 {
				want := uint32(*(*uint16)(unsafe.Pointer(p + 4)))
				vkSpinLock(&vkFDLock)
				rev = vkPollReadyLocked(fd, want)
				vkSpinUnlock(&vkFDLock)
			}
			*(*uint16)(unsafe.Pointer(p + 6)) = uint16(rev)
			if rev != 0 {
				n++
			}
		}
		if n > 0 || deadline == 0 || !canBlock {
			return n
		}
		if deadline > 0 && vkNanotime() >= deadline {
			return 0
		}
		if t.pending&^t.sigmask != 0 {
			return vkErr(vkEINTR)
		}
		vkSpinLock(&vkFDLock)
		if vkPollGen != gen {
			vkSpinUnlock(&vkFDLock) // something changed during the look: look again
			continue
		}
		vkPollSleepers++
		vkSleepOn(uintptr(unsafe.Pointer(&vkPollGen)), &vkFDLock, max(deadline, 0), true)
		vkSpinLock(&vkFDLock)
		vkPollSleepers--
		vkSpinUnlock(&vkFDLock)
		if t.pending&^t.sigmask != 0 {
			return vkErr(vkEINTR)
		}
	}
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
	t := vkCur()
	own := t.sigmask
	if mask != 0 {
		if size != 8 {
			return vkErr(vkEINVAL)
		}
		if !vkUserOK(mask, 8, false) {
			return vkErr(vkEFAULT)
		}
		t.sigmask = *(*uint64)(unsafe.Pointer(mask)) &^ vkSigUnblockable
	}
	r := vkSysPoll(fds, nfds, deadline, canBlock)
	if mask != 0 {
		if r == vkErr(vkEINTR) && t.pending&^t.sigmask != 0 {
			t.savedMask, t.restoreMask = own, true
		} else {
			t.sigmask = own
		}
	}
	if deadline > 0 && vkUserOK(tsp, 16, true) {
		left := max(deadline-vkNanotime(), 0)
		*(*[2]int64)(unsafe.Pointer(tsp)) = [2]int64{left / 1e9, left % 1e9}
	}
	return r
}
