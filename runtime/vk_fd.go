//go:build velocity

// Velocity kernel: file descriptors. Besides the console (0, 1, 2) a
// descriptor is a pipe (vk_pipe.go), a file or directory of the image
// (vk_fs.go) or of /tmp (vk_tmpfs.go), a device, an eventfd or an epoll
// instance. The last two are what the runtime's network poller uses to
// sleep with a timeout and to be woken (netpollBreak); epoll here reports
// readiness for eventfds and pipes, edge- or level-triggered.

package runtime

import "unsafe"

const (
	vkMaxFDs      = 256
	vkMaxInterest = 32
)

const (
	fdNone = iota
	fdEventfd
	fdEpoll
	fdPipeRead
	fdPipeWrite
	fdRegular // a file of the read-only file system (vk_fs.go)
	fdDir     // a directory of it
	fdTmpFile // a file under /tmp (vk_tmpfs.go)
	fdTmpDir  // a directory under /tmp
	fdDevice  // /dev/null, /dev/zero, /dev/urandom (ent says which)
)

const (
	epollIn      = 0x1
	epollOut     = 0x4
	epollErr     = 0x8
	epollHup     = 0x10
	epollRdHup   = 0x2000
	epollET      = 1 << 31
	epollCtlAdd  = 1
	epollCtlDel  = 2
	epollCtlMod  = 3
	efdSemaphore = 1
	efdNonblock  = 0x800
)

type vkInterest struct {
	fd     int32
	events uint32
	data   uint64
	seen   uint64 // for EPOLLET: the fd's generation when last reported
}

type vkFile struct {
	kind     int32
	nonblock bool
	gen      uint64 // bumped on every readiness change (edge-triggered epoll)
	pipe     int32  // pipes: index into vkPipes
	ent      int32  // files: index into vkFS.ents or vkTmp.ents (-2: an implicit directory, or /tmp)
	flags    int32  // open flags (files under /tmp: access mode, O_APPEND)
	off      int64  // files: offset; directories: names already listed
	pathLen  int
	path     [vkPathMax]byte // files and directories: absolute path without the leading '/'
	counter  uint64          // eventfd
	n        int             // epoll: interest list length
	interest [vkMaxInterest]vkInterest
}

var vkFDs [vkMaxFDs]vkFile

func vkFDAlloc(kind int32) int32 {
	for fd := int32(3); fd < vkMaxFDs; fd++ {
		if vkFDs[fd].kind == fdNone {
			vkFDs[fd] = vkFile{kind: kind}
			return fd
		}
	}
	return -1
}

func vkFD(fd int32, kind int32) *vkFile {
	if fd < 3 || fd >= vkMaxFDs || vkFDs[fd].kind != kind {
		return nil
	}
	return &vkFDs[fd]
}

func vkSysEventfd(initval uint32, flags int32) uintptr {
	fd := vkFDAlloc(fdEventfd)
	if fd < 0 {
		return vkErr(vkEMFILE)
	}
	vkFDs[fd].counter = uint64(initval)
	vkFDs[fd].nonblock = flags&efdNonblock != 0
	return uintptr(fd)
}

func vkSysEpollCreate() uintptr {
	fd := vkFDAlloc(fdEpoll)
	if fd < 0 {
		return vkErr(vkEMFILE)
	}
	return uintptr(fd)
}

func vkSysEpollCtl(epfd int32, op int32, fd int32, ev uintptr) uintptr {
	// Linux's order: the event (EFAULT), both fds (EBADF), a target that
	// cannot be polled (EPERM), then an epfd that is not an epoll
	// instance or is the target itself (EINVAL).
	if (op == epollCtlAdd || op == epollCtlMod) && !vkUserOK(ev, 12, false) {
		return vkErr(vkEFAULT)
	}
	if !vkFDOpen(epfd) || !vkFDOpen(fd) {
		return vkErr(vkEBADF)
	}
	if k := vkFDs[fd].kind; fd > 2 && (k == fdRegular || k == fdDir || k == fdTmpFile || k == fdTmpDir || k == fdDevice) {
		return vkErr(vkEPERM) // as Linux: regular files are always ready
	}
	ep := vkFD(epfd, fdEpoll)
	if ep == nil || fd == epfd {
		return vkErr(vkEINVAL)
	}
	idx := -1
	for i := 0; i < ep.n; i++ {
		if ep.interest[i].fd == fd {
			idx = i
		}
	}
	switch op {
	case epollCtlAdd, epollCtlMod:
		if !vkUserOK(ev, 12, false) {
			return vkErr(vkEFAULT)
		}
		in := vkInterest{fd: fd, events: *(*uint32)(unsafe.Pointer(ev)), data: *(*uint64)(unsafe.Pointer(ev + 4))}
		if op == epollCtlAdd {
			if idx >= 0 {
				return vkErr(vkEEXIST)
			}
			if ep.n == vkMaxInterest {
				return vkErr(vkENOSPC)
			}
			idx = ep.n
			ep.n++
		} else if idx < 0 {
			return vkErr(vkENOENT)
		}
		ep.interest[idx] = in
	case epollCtlDel:
		if idx < 0 {
			return vkErr(vkENOENT)
		}
		ep.n--
		ep.interest[idx] = ep.interest[ep.n]
	default:
		return vkErr(vkEINVAL)
	}
	return 0
}

// vkReady returns the events of interest that fd has now.
func vkReady(fd int32, want uint32) uint32 {
	f := &vkFDs[fd]
	var have uint32
	switch {
	case fd == 1 || fd == 2:
		have = epollOut
	case f.kind == fdEventfd:
		have = epollOut
		if f.counter > 0 {
			have |= epollIn
		}
	case f.kind == fdPipeRead:
		p := &vkPipes[f.pipe]
		if p.count > 0 {
			have |= epollIn
		}
		if p.writers == 0 {
			have |= epollIn | epollHup | epollRdHup
		}
	case f.kind == fdPipeWrite:
		p := &vkPipes[f.pipe]
		if p.count < vkPipeSize {
			have |= epollOut
		}
		if p.readers == 0 {
			have |= epollErr
		}
	}
	return have & (want | epollErr | epollHup)
}

func vkSysEpollWait(epfd int32, events uintptr, max int32, timeoutMs int64, canBlock bool) uintptr {
	// Linux's order: the count (EINVAL), the buffer (EFAULT), the fd
	// (EBADF), and whether it is an epoll instance (EINVAL).
	if max <= 0 || max > 0x7fffffff/12 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(events, uintptr(max)*12, true) {
		return vkErr(vkEFAULT)
	}
	if !vkFDOpen(epfd) {
		return vkErr(vkEBADF)
	}
	ep := vkFD(epfd, fdEpoll)
	if ep == nil {
		return vkErr(vkEINVAL)
	}
	deadline := int64(0)
	if timeoutMs > 0 {
		deadline = vkNanotime() + timeoutMs*1_000_000
	}
	for {
		n := int32(0)
		for i := 0; i < ep.n && n < max; i++ {
			in := &ep.interest[i]
			if in.events&epollET != 0 && in.seen == vkFDs[in.fd].gen {
				continue // edge-triggered: nothing changed since the last report
			}
			if r := vkReady(in.fd, in.events); r != 0 {
				in.seen = vkFDs[in.fd].gen
				e := events + uintptr(n)*12
				*(*uint32)(unsafe.Pointer(e)) = r
				*(*uint64)(unsafe.Pointer(e + 4)) = in.data
				n++
			}
		}
		if n > 0 || timeoutMs == 0 || !canBlock {
			return uintptr(n)
		}
		if timeoutMs > 0 && vkNanotime() >= deadline {
			return 0
		}
		// Sleep until an eventfd in the set is written, a signal arrives or
		// the timeout passes.
		vkCur().waitAddr = uintptr(unsafe.Pointer(ep))
		vkBlock(deadline)
		if vkCur().pending&^vkCur().sigmask != 0 {
			return vkErr(vkEINTR)
		}
	}
}

// vkNotify records a readiness change of fd and wakes threads in
// epoll_wait on any instance watching it.
func vkNotify(fd int32) {
	vkFDs[fd].gen++
	for i := range vkFDs {
		ep := &vkFDs[i]
		if ep.kind != fdEpoll {
			continue
		}
		for j := 0; j < ep.n; j++ {
			if ep.interest[j].fd == fd {
				vkFutexWake(uintptr(unsafe.Pointer(ep)), vkMaxThreads)
				break
			}
		}
	}
}

func vkEventfdWrite(f *vkFile, fd int32, p, n uintptr) uintptr {
	if n < 8 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(p, 8, false) {
		return vkErr(vkEFAULT)
	}
	v := *(*uint64)(unsafe.Pointer(p))
	if v == ^uint64(0) {
		return vkErr(vkEINVAL)
	}
	f.counter += v
	vkNotify(fd)
	return 8
}

func vkEventfdRead(f *vkFile, p, n uintptr, canBlock bool) uintptr {
	if n < 8 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(p, 8, true) {
		return vkErr(vkEFAULT)
	}
	for f.counter == 0 {
		if f.nonblock || !canBlock {
			return vkErr(vkEAGAIN)
		}
		vkCur().waitAddr = uintptr(unsafe.Pointer(f))
		vkBlock(0)
	}
	*(*uint64)(unsafe.Pointer(p)) = f.counter
	f.counter = 0
	return 8
}

// vkEpollForget drops a closed fd from every interest list, as Linux does
// when the last reference to a file goes away.
func vkEpollForget(fd int32) {
	for i := range vkFDs {
		ep := &vkFDs[i]
		if ep.kind != fdEpoll {
			continue
		}
		for j := 0; j < ep.n; j++ {
			if ep.interest[j].fd == fd {
				ep.n--
				ep.interest[j] = ep.interest[ep.n]
				j--
			}
		}
	}
}
