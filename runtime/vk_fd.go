//go:build velocity

// Velocity kernel: file descriptors. Besides the console (0, 1, 2) a
// descriptor is a pipe (vk_pipe.go), a file or directory of the image
// (vk_fs.go) or of /tmp (vk_tmpfs.go), a device, a socket (vk_net.go), an
// eventfd or an epoll instance. The last two are what the runtime's network
// poller uses to sleep with a timeout and to be woken (netpollBreak); epoll
// here reports readiness for sockets, eventfds and pipes, edge- or
// level-triggered.
//
// The runtime's netpoller keeps one epoll instance and registers every
// socket in it, so an interest record lives with the watched fd (up to
// vkMaxWatch epoll instances per fd), not in a per-instance list: one
// instance can watch every fd, and a readiness change wakes exactly the
// instances watching that fd.

package runtime

import "unsafe"

const (
	vkMaxFDs   = 1024
	vkMaxWatch = 2 // epoll instances that may watch one fd
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
	fdSocket  // served by the network stack's server goroutine (vk_net.go)
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

// vkWatch is one epoll instance's interest in an fd.
type vkWatch struct {
	ep     int32 // the epoll fd; 0 = unused (epoll fds are >= 3)
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
	n        int             // epoll: number of fds it watches
	cursor   int32           // epoll: where the next scan starts (fairness)
	ready    uint32          // socket: readiness level the network server last reported
	readySeq uint64          // socket: the server's sequence number of that report
	sock     vkSockInfo      // socket: what the kernel answers without the server
	watch    [vkMaxWatch]vkWatch
}

var vkFDs [vkMaxFDs]vkFile

// vkFDHigh is one more than the highest fd ever allocated: epoll scans
// stop there.
var vkFDHigh int32 = 3

func vkFDAlloc(kind int32) int32 {
	for fd := int32(3); fd < vkMaxFDs; fd++ {
		if vkFDs[fd].kind == fdNone {
			vkFDs[fd] = vkFile{kind: kind}
			if fd >= vkFDHigh {
				vkFDHigh = fd + 1
			}
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
	f := &vkFDs[fd]
	if k := f.kind; fd > 2 && (k == fdRegular || k == fdDir || k == fdTmpFile || k == fdTmpDir || k == fdDevice) {
		return vkErr(vkEPERM) // as Linux: regular files are always ready
	}
	ep := vkFD(epfd, fdEpoll)
	if ep == nil || fd == epfd {
		return vkErr(vkEINVAL)
	}
	idx, free := -1, -1
	for i := range f.watch {
		if f.watch[i].ep == epfd {
			idx = i
		} else if f.watch[i].ep == 0 && free < 0 {
			free = i
		}
	}
	switch op {
	case epollCtlAdd, epollCtlMod:
		if !vkUserOK(ev, 12, false) {
			return vkErr(vkEFAULT)
		}
		// seen differs from the fd's generation, so an edge-triggered
		// watch reports a readiness the fd already has, once, as Linux
		// does on EPOLL_CTL_ADD and EPOLL_CTL_MOD.
		w := vkWatch{ep: epfd, events: *(*uint32)(unsafe.Pointer(ev)), data: *(*uint64)(unsafe.Pointer(ev + 4)), seen: f.gen - 1}
		if op == epollCtlAdd {
			if idx >= 0 {
				return vkErr(vkEEXIST)
			}
			if free < 0 {
				return vkErr(vkENOSPC)
			}
			idx = free
			ep.n++
		} else if idx < 0 {
			return vkErr(vkENOENT)
		}
		f.watch[idx] = w
		if vkReady(fd, w.events) != 0 {
			vkFutexWake(uintptr(unsafe.Pointer(ep)), vkMaxThreads) // ready already
		}
	case epollCtlDel:
		if idx < 0 {
			return vkErr(vkENOENT)
		}
		f.watch[idx] = vkWatch{}
		ep.n--
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
	case f.kind == fdSocket:
		have = f.ready
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
		high := vkFDHigh
		if ep.cursor >= high {
			ep.cursor = 0
		}
		start := ep.cursor
		for k := int32(0); k < high && n < max; k++ {
			fd := start + k
			if fd >= high {
				fd -= high
			}
			f := &vkFDs[fd]
			for j := range f.watch {
				w := &f.watch[j]
				if w.ep != epfd {
					continue
				}
				if w.events&epollET != 0 && w.seen == f.gen {
					continue // edge-triggered: nothing changed since the last report
				}
				if r := vkReady(fd, w.events); r != 0 {
					w.seen = f.gen
					e := events + uintptr(n)*12
					*(*uint32)(unsafe.Pointer(e)) = r
					*(*uint64)(unsafe.Pointer(e + 4)) = w.data
					n++
					ep.cursor = fd + 1 // the next scan starts after the last fd reported
				}
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

// vkNotify records a readiness change of fd and wakes the threads in
// epoll_wait on the instances watching it, and threads blocked on the fd
// itself (a blocking socket call waits on its file).
func vkNotify(fd int32) {
	f := &vkFDs[fd]
	f.gen++
	for j := range f.watch {
		if ep := f.watch[j].ep; ep != 0 {
			vkFutexWake(uintptr(unsafe.Pointer(&vkFDs[ep])), vkMaxThreads)
		}
	}
	vkFutexWake(uintptr(unsafe.Pointer(f)), vkMaxThreads)
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

// vkFDFree releases a closed fd. Its own interest records go with it,
// as Linux drops a file from every interest list when its last reference
// goes away; a closed epoll instance also drops its records in every other
// fd, so a new instance that reuses the number starts empty. Only that
// case scans the table: closing a socket or a pipe costs nothing more.
func vkFDFree(fd int32) {
	wasEpoll := vkFDs[fd].kind == fdEpoll
	vkFDs[fd] = vkFile{}
	if !wasEpoll {
		return
	}
	for i := int32(0); i < vkFDHigh; i++ {
		for j := range vkFDs[i].watch {
			if vkFDs[i].watch[j].ep == fd {
				vkFDs[i].watch[j] = vkWatch{}
			}
		}
	}
}
