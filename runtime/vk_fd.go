//go:build velocity

// Velocity kernel: file descriptors and open file descriptions. An fd is a
// slot of vkFDs naming an open file description (a vkFile) and holding the
// fd's own flag, FD_CLOEXEC. dup, dup2, dup3 and fcntl(F_DUPFD) make more
// slots that name the same description, which is where the offset and the
// status flags (O_APPEND, O_NONBLOCK) live, as on Linux; a description is
// released when its last reference goes (vkFilePut).
//
// A description is the console (fds 0-2 at boot), a pipe end (vk_pipe.go),
// a file or directory of the image (vk_fs.go) or of /tmp (vk_tmpfs.go), a
// device, a socket (vk_net.go), an eventfd or an epoll instance. The last
// two are what the runtime's network poller uses to sleep with a timeout
// and to be woken (netpollBreak); epoll here reports readiness for
// sockets, eventfds and pipes, edge- or level-triggered.
//
// The runtime's netpoller keeps one epoll instance and registers every
// socket in it, so an interest record lives with the watched description
// (up to vkMaxWatch per description), not in a per-instance list: one
// instance can watch every fd, and a readiness change wakes exactly the
// instances watching it. A record is keyed, as on Linux, by the epoll
// instance and the fd number it was added with. As Linux's rdllist, each
// instance keeps a ready list of the records whose description changed
// since it last looked (vkReadyPush): epoll_wait costs the number of
// changed records, not the number of open descriptions, which it was
// while it scanned them all (at 4,096 descriptions of 8 records each).
//
// Locking (runtime/HACKING.md has the order). vkFDLock, the fd table lock,
// guards the slots of vkFDs, the reference counts, allocating and freeing
// descriptions, the interest records, readiness generations and epoll
// instances' state, and the file lock records (vk_flock.go). Slots change
// under vkFDLock alone: close, the dup family and fcntl's fd commands run
// without the kernel lock (vkCloseFast, vkDup3, vkFcntlFast), unless they
// close an fd whose release needs that lock (a socket, a /tmp file). Code
// holding only the kernel lock reads a slot once (vkFDIndex, vkFDFile),
// never twice expecting the same answer, and may use the description it
// found without a reference until it lets go of the kernel lock: a last
// reference dropped without that lock is released at once only if no
// holder can have found it, and under the lock otherwise (vkFilePut).
// Code that sleeps takes a reference to what it found (vkFileHold). The
// lock-free pipe path
// (vkPipeIOFast) reads a slot under vkFDLock and takes a reference, so a
// close on another CPU cannot free the description under it. Every other
// field of a description (offset, flags, /tmp and socket state) is under
// the kernel lock; an eventfd's count is under vkFDLock (vkEventfdFast), a
// pipe's ring under its own lock (vk_pipe.go).
//
// Memory: descriptions are allocated in chunks of vkFilesPerChunk, the
// first one static and the rest mapped from kernel memory as the number
// of open descriptions grows (never presized, never unmapped: a chunk is
// kept for reuse). A directory's path, the only kind that keeps one, is a
// kernel frame of its own, freed when the description goes.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	// vkMaxFDs is the fd table's size: fds are 0 to vkMaxFDs-1. It is
	// RLIMIT_NOFILE's ceiling (Linux's fs.nr_open) and its limits at
	// start; new fds are below the soft limit (vkFDLimit, vk_rlimit.go).
	vkMaxFDs = 4096
	// vkMaxFiles is how many descriptions may be open at once in the
	// whole system (ENFILE past it).
	vkMaxFiles      = 4096
	vkFilesPerChunk = 64
	// vkMaxWatch bounds the epoll interest records one description may
	// carry (EPOLL_CTL_ADD past it: ENOSPC; Linux has no such bound). Go's
	// netpoller adds one per fd, so a socket dup'd twice and used through
	// each fd needs three: net.FileListener of a listener's File() did,
	// and failed with 2.
	vkMaxWatch = 8
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
	fdConsole // the serial console: ent 0 reads it (fd 0), ent 1 writes it (fds 1 and 2)
)

const (
	epollIn      = 0x1
	epollOut     = 0x4
	epollErr     = 0x8
	epollHup     = 0x10
	epollRdHup   = 0x2000
	epollOneShot = 1 << 30
	epollWakeup  = 1 << 29
	epollExcl    = 1 << 28
	epollET      = 1 << 31
	// epollPrivate are Linux's EP_PRIVATE_BITS: how a record reports,
	// not what it waits for. A one-shot record that has reported keeps
	// only these: disabled until EPOLL_CTL_MOD re-arms it.
	epollPrivate = epollOneShot | epollWakeup | epollExcl | epollET
	epollCtlAdd  = 1
	epollCtlDel  = 2
	epollCtlMod  = 3
	efdSemaphore = 1
	efdNonblock  = 0x800
	fdCloexec    = 1 // FD_CLOEXEC
)

// vkWatch is one epoll instance's interest in a description.
type vkWatch struct {
	ep     int32 // the epoll instance's description index + 1; 0 = unused
	fd     int32 // the fd number it was added with (Linux keys by both)
	events uint32
	data   uint64
	seen   uint64 // for EPOLLET: the description's generation when last reported

	// The instance's ready list (vkReadyPush): a doubly linked list of
	// records, each named by its vkWatchRef, so that epoll_wait looks
	// only at records whose description changed, not at every open
	// description.
	self       int32 // this record's vkWatchRef, set when it is added
	prev, next int32 // neighbours on the ready list (vkWatchRef; 0: none)
	queued     bool  // on the ready list
}

// vkFile is one open file description.
type vkFile struct {
	kind     int32
	refs     int32 // fd slots and calls in flight that use it (vkFDLock)
	dying    bool  // its last reference went without the kernel lock; the release waits for that lock (vkFilePut)
	idx      int32 // its own index (vkFileHold)
	nonblock bool
	gen      uint64  // bumped on every readiness change (edge-triggered epoll; vkFDLock)
	pipe     int32   // pipes: index into vkPipes
	ent      int32   // files: index into vkFS.ents or vkTmp.ents (-2: an implicit directory, or /tmp)
	flags    int32   // open flags: the access mode, O_APPEND (F_SETFL changes it)
	off      int64   // files: offset; directories: names already listed
	path     uintptr // directories: kernel memory (vkKernelBytes) holding the absolute path without the leading '/'
	pathLen  int
	text     uintptr // generated files (/proc/<pid>/status): a kernel frame holding this open's text
	textLen  int
	counter  uint64     // eventfd
	sem      bool       // eventfd: EFD_SEMAPHORE (a read takes 1, not the whole count)
	wwait    int32      // eventfd: writers waiting for room (vkEventfdWrite)
	n        int        // epoll: number of records naming it (vkFDLock)
	rhead    int32      // epoll: the ready list's first record (vkWatchRef; vkFDLock)
	rtail    int32      // epoll: and its last
	ready    uint32     // socket: readiness level the network server last reported
	readySeq uint64     // socket: the server's sequence number of that report
	sock     vkSockInfo // socket: what the kernel answers without the server
	watch    [vkMaxWatch]vkWatch
}

// vkFDSlot is one fd.
type vkFDSlot struct {
	file    int32 // description index + 1; 0: the fd is closed
	cloexec bool  // FD_CLOEXEC: the fd's own flag, not shared by dups
}

// fds 0, 1 and 2 start as the console: 0 on its read side, 1 and 2 on one
// description of its write side (as a shell's dups of one terminal).
var vkFDs = [vkMaxFDs]vkFDSlot{0: {file: 1}, 1: {file: 2}, 2: {file: 2}}

// vkFDLock is the fd table lock (see the file comment).
var vkFDLock vkSpin

var (
	vkFiles0     = [vkFilesPerChunk]vkFile{0: {kind: fdConsole, refs: 1}, 1: {kind: fdConsole, refs: 2, ent: 1, flags: 1, idx: 1}}
	vkFileChunks [vkMaxFiles / vkFilesPerChunk]uintptr // chunk base addresses; [0] is vkFiles0
	vkFileCap    int32                                 = vkFilesPerChunk
	// vkFileHigh is one more than the highest description index ever
	// used: epoll scans stop there.
	vkFileHigh int32 = 2
	// vkFileLow is where vkFileAlloc starts looking: no description
	// below it is free (vkFDLock). Without it, opening the 4,000th
	// socket walked past the 3,999 open before it.
	vkFileLow int32 = 2
)

const vkFileChunkBytes = (vkFilesPerChunk*unsafe.Sizeof(vkFile{}) + vkPageSize - 1) &^ (vkPageSize - 1)

// vkFileAt returns description i, which must be below vkFileCap.
func vkFileAt(i int32) *vkFile {
	c := vkFileChunks[i/vkFilesPerChunk]
	if c == 0 {
		c = uintptr(unsafe.Pointer(&vkFiles0))
	}
	return (*vkFile)(unsafe.Pointer(c + uintptr(i%vkFilesPerChunk)*unsafe.Sizeof(vkFile{})))
}

// vkFileAlloc reserves a free description of kind with one reference and
// no fd yet (vkFDInstall gives it one), or returns -1 (ENFILE). The
// caller holds the kernel lock: a new chunk is mapped here, before
// vkFDLock is taken, and only holders of the kernel lock allocate.
func vkFileAlloc(kind int32) (int32, *vkFile) { return vkFileAllocSkip(kind, false) }

// vkFileAllocSkip is vkFileAlloc; with netBusy it passes over the indexes
// the network server may still act on under their old socket
// (vkNetSidBusy), for the direct path's accept.
func vkFileAllocSkip(kind int32, netBusy bool) (int32, *vkFile) {
	vkAssertHeld(&vkBKL)
	for pass := 0; pass < 2; pass++ {
		vkSpinLock(&vkFDLock)
		skipped := int32(-1) // the first free index passed over: vkFileLow stays there
		for i := vkFileLow; i < vkFileCap; i++ {
			f := vkFileAt(i)
			if f.kind == fdNone && f.refs == 0 {
				if netBusy && vkNetSidBusy(i) {
					if skipped < 0 {
						skipped = i
					}
					continue
				}
				*f = vkFile{kind: kind, refs: 1, idx: i}
				if i >= vkFileHigh {
					vkFileHigh = i + 1
				}
				vkFileLow = i + 1
				if skipped >= 0 {
					vkFileLow = skipped
				}
				vkSpinUnlock(&vkFDLock)
				return i, f
			}
		}
		vkFileLow = vkFileCap
		if skipped >= 0 {
			vkFileLow = skipped
		}
		vkSpinUnlock(&vkFDLock)
		if pass > 0 || vkFileCap >= vkMaxFiles {
			break
		}
		// Full: map one more chunk (zeroed: vkKernelStack may reuse a
		// freed thread stack).
		top := vkKernelStack(vkFileChunkBytes)
		base := top - vkFileChunkBytes
		memclrNoHeapPointers(unsafe.Pointer(base), vkFileChunkBytes)
		vkSpinLock(&vkFDLock)
		vkFileChunks[vkFileCap/vkFilesPerChunk] = base
		vkFileCap += vkFilesPerChunk
		vkSpinUnlock(&vkFDLock)
	}
	return -1, nil
}

// vkFileUnalloc frees a description from vkFileAlloc that never got an
// fd and holds nothing yet.
func vkFileUnalloc(i int32) {
	vkSpinLock(&vkFDLock)
	vkFileFree(i)
	vkSpinUnlock(&vkFDLock)
}

// vkFileFree makes description i free for vkFileAlloc. The caller holds
// vkFDLock.
func vkFileFree(i int32) {
	vkAssertHeld(&vkFDLock)
	*vkFileAt(i) = vkFile{}
	if i < vkFileLow {
		vkFileLow = i
	}
}

// vkFDInstall gives description i (whose reference it takes over) the
// lowest closed fd at or above min and below RLIMIT_NOFILE's soft limit,
// or returns -1 (EMFILE), leaving the reference with the caller. Every
// new fd but dup2's and dup3's chosen one is made here. The caller need
// not hold the kernel lock: the limit, which setrlimit changes under it,
// is one word read once.
func vkFDInstall(i, min int32, cloexec bool) int32 {
	lim := int32(vkFDLimit())
	vkSpinLock(&vkFDLock)
	for fd := min; fd < lim; fd++ {
		if vkFDs[fd].file == 0 {
			vkFDs[fd] = vkFDSlot{file: i + 1, cloexec: cloexec}
			vkSpinUnlock(&vkFDLock)
			return fd
		}
	}
	vkSpinUnlock(&vkFDLock)
	return -1
}

// vkFDNew makes a description of kind and gives it the lowest closed fd:
// fd is -1 with errno ENFILE or EMFILE. The caller holds the kernel lock
// and fills in the description after; only lock-free readers of slots
// care, and they take pipe ends alone, which vkSysPipe2 fills in before
// it installs them.
func vkFDNew(kind int32, cloexec bool) (int32, *vkFile, int) {
	vkAssertHeld(&vkBKL)
	i, f := vkFileAlloc(kind)
	if i < 0 {
		return -1, nil, vkENFILE
	}
	fd := vkFDInstall(i, 0, cloexec)
	if fd < 0 {
		vkFileUnalloc(i)
		return -1, nil, vkEMFILE
	}
	return fd, f, 0
}

// vkFDIndex is the index of the description fd names, read from its slot
// once, or -1 if fd is closed or out of range. The caller holds the
// kernel lock or vkFDLock. Under the kernel lock alone the slot may
// change right after (vkCloseFast), but the description read stays
// allocated until the caller lets go of the kernel lock.
func vkFDIndex(fd int32) int32 {
	if fd < 0 || fd >= vkMaxFDs {
		return -1
	}
	return int32(atomic.Load((*uint32)(unsafe.Pointer(&vkFDs[fd].file)))) - 1
}

// vkFDFile returns the description fd names, or nil (see vkFDIndex).
func vkFDFile(fd int32) *vkFile {
	i := vkFDIndex(fd)
	if i < 0 {
		return nil
	}
	return vkFileAt(i)
}

// vkFD returns the description fd names if it is of kind, or nil.
func vkFD(fd int32, kind int32) *vkFile {
	f := vkFDFile(fd)
	if f == nil || f.kind != kind {
		return nil
	}
	return f
}

// vkFDKind is the kind of fd's description, fdNone if it is closed.
func vkFDKind(fd int32) int32 {
	if f := vkFDFile(fd); f != nil {
		return f.kind
	}
	return fdNone
}

// vkFileGet takes a reference to fd's description for a call that may
// sleep (the fd may be closed meanwhile, as on Linux the call keeps its
// file); vkFilePut drops it. It returns -1 if fd is closed.
func vkFileGet(fd int32) int32 {
	if fd < 0 || fd >= vkMaxFDs {
		return -1
	}
	vkSpinLock(&vkFDLock)
	i := vkFDs[fd].file - 1
	if i >= 0 {
		vkFileAt(i).refs++
	}
	vkSpinUnlock(&vkFDLock)
	return i
}

// vkFileHold takes a reference to f, a description the caller found
// through an fd under the kernel lock and has held that lock since, for a
// call that may sleep; it returns f's index for vkFilePut. Unlike
// vkFileGet it does not read the slot again: a close without the kernel
// lock may have emptied it (and another open filled it) since, but f
// itself is not released before the caller lets go of the lock (vkFilePut
// releases a dying description only if nobody took a reference meanwhile).
func vkFileHold(f *vkFile) int32 {
	vkAssertHeld(&vkBKL)
	vkFileRef(f.idx)
	return f.idx
}

// vkFileRef takes one more reference to description i, which the caller
// knows is alive (an fd names it, or the caller holds a reference, or it
// found i through an fd and holds the kernel lock since).
func vkFileRef(i int32) {
	vkSpinLock(&vkFDLock)
	vkFileAt(i).refs++
	vkSpinUnlock(&vkFDLock)
}

// vkFilePut drops a reference to description i; the last one releases
// what it holds (a pipe end, interest records, a /tmp entry, a
// directory's path, a socket's endpoint) and frees it, and its result is
// close(2)'s (a socket's close may fail). The caller never holds
// vkFDLock. It holds the kernel lock unless the description is a pipe
// end, an eventfd, an epoll instance or the console (the only kinds the
// paths without it hold or close last).
//
// A last reference dropped without the kernel lock needs care: another
// CPU holding that lock may have read the description from a slot just
// before a close emptied it (vkCloseFast), and uses it without a
// reference until it lets go (vkFDIndex). If the kernel lock is free once
// the slot is empty, no holder can have it: one that takes the lock later
// finds the slot empty (emptying the slot and letting go of vkFDLock is a
// locked exchange, taking the kernel lock another, so each side sees the
// other's write). The description is then released at once, if its kind
// needs nothing of the kernel lock's. Otherwise it is marked dying and
// released under the kernel lock, taken here, unless a holder took a
// reference meanwhile (that holder's put releases it) or another put
// released it already.
func vkFilePut(i int32) uintptr {
	vkSpinLock(&vkFDLock)
	f := vkFileAt(i)
	f.refs--
	if f.refs > 0 {
		vkSpinUnlock(&vkFDLock)
		return 0
	}
	if f.refs < 0 {
		vkFatal("vkFilePut: description released twice")
	}
	if vkSpinHeld(&vkBKL) || vkFileLockless(f.kind) && atomic.Load(&vkBKL.word) == 0 {
		return vkFileRelease(i, f)
	}
	f.dying = true
	atomic.Xadd64(&vkFileDying, 1)
	vkSpinUnlock(&vkFDLock)
	vkLock()
	vkSpinLock(&vkFDLock)
	r := uintptr(0)
	if f.dying && f.refs == 0 {
		r = vkFileRelease(i, f)
	} else {
		vkSpinUnlock(&vkFDLock)
	}
	vkUnlock()
	return r
}

// vkFileDying counts the descriptions vkFilePut marked dying (kernel.Info's
// DyingFiles): their last reference went without the kernel lock while
// another CPU held it, so the release waited for that lock.
var vkFileDying uint64

// vkFileLockless reports whether a description of kind is released under
// vkFDLock alone (vkFileRelease).
func vkFileLockless(kind int32) bool {
	switch kind {
	case fdPipeRead, fdPipeWrite, fdEpoll, fdEventfd, fdConsole:
		return true
	}
	return false
}

// vkFileRelease releases description i, whose last reference went. The
// caller holds vkFDLock, which this lets go of, and the kernel lock
// unless no holder of that lock can have found the description and its
// kind is vkFileLockless (vkFilePut).
func vkFileRelease(i int32, f *vkFile) uintptr {
	vkAssertHeld(&vkFDLock)
	vkWatchDropAll(i)
	vkFLockDropOwner(i) // its flock and OFD locks (vk_flock.go)
	switch f.kind {
	case fdPipeRead, fdPipeWrite:
		vkPipeRelease(i, f)
		vkFileFree(i)
		vkSpinUnlock(&vkFDLock)
		return 0
	case fdEpoll, fdEventfd, fdConsole:
		vkFileFree(i)
		vkSpinUnlock(&vkFDLock)
		return 0
	}
	// The rest needs the kernel lock and runs without vkFDLock: kind
	// stays set, so the description is not reused meanwhile.
	vkSpinUnlock(&vkFDLock)
	vkAssertHeld(&vkBKL)
	r := uintptr(0)
	switch f.kind {
	case fdTmpFile, fdTmpDir:
		vkTmpClose(f)
	case fdSocket:
		r = vkNetReleaseTCP(i, f)
	}
	if f.path != 0 {
		vkKernelBytesFree(f.path, uintptr(max(f.pathLen, 1)))
	}
	if f.text != 0 {
		vkFrameFree(f.text - vkDMAP)
	}
	vkSpinLock(&vkFDLock)
	vkFileFree(i)
	vkSpinUnlock(&vkFDLock)
	return r
}

// vkFileSetPath stores a directory's path in kernel memory of its own (a
// frame, or a run of them for a path longer than a page). The
// caller holds the kernel lock; ok is false if memory is exhausted.
func vkFileSetPath(f *vkFile, path []byte) bool {
	vkAssertHeld(&vkBKL)
	if len(path) >= pwResolvedMax {
		return false
	}
	va := vkKernelBytes(uintptr(max(len(path), 1)))
	if va == 0 {
		return false
	}
	f.path = va
	f.pathLen = copy(unsafe.Slice((*byte)(unsafe.Pointer(f.path)), len(path)), path)
	return true
}

// vkFilePath is a directory's path (empty for other kinds).
func vkFilePath(f *vkFile) []byte {
	if f.path == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(f.path)), f.pathLen)
}

// vkFDClose closes fd: the slot goes at once, the description with its
// last reference. The caller holds the kernel lock.
func vkFDClose(fd int32) uintptr {
	vkAssertHeld(&vkBKL)
	r, _ := vkClose(fd, false)
	return r
}

// vkCloseFast serves close(2) without the kernel lock (vkClose).
func vkCloseFast(fd int32) (r uintptr, ok bool) { return vkClose(fd, true) }

// vkClose closes fd: the slot is emptied under vkFDLock and the
// description put; vkFilePut releases it with its last reference. With
// fine (no kernel lock, vkSyscallFine) it declines (ok false, the locked
// path closes) where the release needs the kernel lock for work of its
// own (vkCloseNeedsLock): the last reference to a description other than
// a pipe end, an eventfd, an epoll instance or the console, and any
// AF_UNIX socket (vkNetGCHint queues the server's collection of the fds
// in flight).
func vkClose(fd int32, fine bool) (r uintptr, ok bool) {
	if fd < 0 || fd >= vkMaxFDs {
		return vkErr(vkEBADF), true
	}
	vkSpinLock(&vkFDLock)
	i := vkFDs[fd].file - 1
	if i < 0 {
		vkSpinUnlock(&vkFDLock)
		return vkErr(vkEBADF), true
	}
	if fine && vkCloseNeedsLock(vkFileAt(i)) {
		vkSpinUnlock(&vkFDLock)
		return 0, false
	}
	vkFLockClosePOSIX(i) // closing any fd of a file drops the process's POSIX locks on it
	vkFDs[fd] = vkFDSlot{}
	vkSpinUnlock(&vkFDLock)
	if !fine {
		vkNetGCHint(i) // before the put: the fd's reference still holds it
	}
	return vkFilePut(i), true
}

// vkCloseNeedsLock reports whether closing an fd that names f needs the
// kernel lock: it drops the last reference to a description whose
// release is the kernel lock's work (a socket, a /tmp file, a directory),
// or f is an AF_UNIX socket (vkNetGCHint). The caller holds vkFDLock.
func vkCloseNeedsLock(f *vkFile) bool {
	return !vkFileLockless(f.kind) && (f.refs == 1 || f.kind == fdSocket && f.sock.family == 1)
}

// vkSysDup3 serves dup2 (dup2 true) and dup3 under the kernel lock.
func vkSysDup3(oldfd, newfd int32, flags int32, dup2 bool) uintptr {
	r, _ := vkDup3(oldfd, newfd, flags, dup2, false)
	return r
}

// vkDup3 serves dup2 (dup2 true) and dup3: newfd names oldfd's
// description, closing what newfd named first. Linux's order: dup3's
// flags and equal fds (EINVAL), newfd past the limit (EBADF), oldfd
// (EBADF). dup2(fd, fd) returns fd if it is open. With fine (no kernel
// lock, vkSyscallFine) it declines (ok false) before it changes anything
// if closing newfd would need the kernel lock, as vkCloseFast does.
func vkDup3(oldfd, newfd int32, flags int32, dup2, fine bool) (r uintptr, ok bool) {
	if dup2 {
		if oldfd == newfd {
			if vkFDFile(oldfd) == nil {
				return vkErr(vkEBADF), true
			}
			return uintptr(newfd), true
		}
	} else {
		if flags&^oCloexec != 0 || oldfd == newfd {
			return vkErr(vkEINVAL), true
		}
	}
	if uint32(newfd) >= vkFDLimit() {
		return vkErr(vkEBADF), true
	}
	vkSpinLock(&vkFDLock)
	i := vkFDIndex(oldfd)
	if i < 0 {
		vkSpinUnlock(&vkFDLock)
		return vkErr(vkEBADF), true
	}
	old := vkFDs[newfd].file - 1
	if old >= 0 && fine && vkCloseNeedsLock(vkFileAt(old)) {
		vkSpinUnlock(&vkFDLock)
		return 0, false
	}
	if old >= 0 {
		vkFLockClosePOSIX(old) // newfd is closed: as close(2)
	}
	vkFileAt(i).refs++
	vkFDs[newfd] = vkFDSlot{file: i + 1, cloexec: flags&oCloexec != 0}
	vkSpinUnlock(&vkFDLock)
	if old >= 0 {
		if !fine {
			vkNetGCHint(old)
		}
		vkFilePut(old) // as Linux, errors closing it are not reported
	}
	return uintptr(newfd), true
}

// vkFcntlFast serves fcntl's commands on the fd itself without the kernel
// lock: F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD and F_SETFD (ok false for the
// others, which work on the description).
func vkFcntlFast(fd int32, cmd int32, arg uintptr) (r uintptr, ok bool) {
	switch cmd {
	case 0, 1030: // F_DUPFD, F_DUPFD_CLOEXEC
		return vkSysDupFrom(fd, uint32(arg), cmd == 1030), true
	case 1, 2: // F_GETFD, F_SETFD
	default:
		return 0, false
	}
	vkSpinLock(&vkFDLock)
	switch {
	case vkFDIndex(fd) < 0:
		r = vkErr(vkEBADF)
	case cmd == 2:
		vkFDs[fd].cloexec = arg&fdCloexec != 0
	case vkFDs[fd].cloexec:
		r = fdCloexec
	}
	vkSpinUnlock(&vkFDLock)
	return r, true
}

// vkSysDupFrom serves dup (min 0) and fcntl F_DUPFD and F_DUPFD_CLOEXEC:
// the lowest closed fd at or above min names fd's description.
func vkSysDupFrom(fd int32, min uint32, cloexec bool) uintptr {
	if vkFDFile(fd) == nil {
		return vkErr(vkEBADF)
	}
	if min >= vkFDLimit() {
		return vkErr(vkEINVAL)
	}
	i := vkFileGet(fd) // the slot again: a close on another CPU may have emptied it
	if i < 0 {
		return vkErr(vkEBADF)
	}
	nfd := vkFDInstall(i, int32(min), cloexec)
	if nfd < 0 {
		vkFilePut(i)
		return vkErr(vkEMFILE)
	}
	return uintptr(nfd)
}

func vkSysEventfd(initval uint32, flags int32) uintptr {
	fd, f, e := vkFDNew(fdEventfd, flags&oCloexec != 0)
	if fd < 0 {
		return vkErr(e)
	}
	vkSpinLock(&vkFDLock) // the fd is in the table already: the lock-free path may look
	f.counter = uint64(initval)
	f.sem = flags&efdSemaphore != 0
	f.nonblock = flags&efdNonblock != 0
	vkSpinUnlock(&vkFDLock)
	f.flags = 2 // O_RDWR
	return uintptr(fd)
}

func vkSysEpollCreate(flags int32) uintptr {
	fd, f, e := vkFDNew(fdEpoll, flags&oCloexec != 0)
	if fd < 0 {
		return vkErr(e)
	}
	f.flags = 2
	return uintptr(fd)
}

// vkSysEpollCtl is epoll_ctl on the locked path: it reads the event,
// which may fault its page in, and then does the work under vkFDLock.
func vkSysEpollCtl(epfd int32, op int32, fd int32, ev uintptr) uintptr {
	// Linux's order begins with the event (EFAULT); vkEpollCtlLocked
	// goes on with the rest.
	var events uint32
	var data uint64
	if op == epollCtlAdd || op == epollCtlMod {
		if !vkUserOK(ev, 12, false) {
			return vkErr(vkEFAULT)
		}
		events, data = *(*uint32)(unsafe.Pointer(ev)), *(*uint64)(unsafe.Pointer(ev + 4))
	}
	vkSpinLock(&vkFDLock)
	r := vkEpollCtlLocked(epfd, op, fd, events, data)
	vkSpinUnlock(&vkFDLock)
	return r
}

// vkEpollCtlFast is epoll_ctl without the kernel lock (vkSyscallFine):
// Go's netpoller adds every socket, pipe and eventfd it is given, and
// deletes it again before the close. Everything epoll_ctl changes is
// vkFDLock's, and the fd slots may be read under it, so only the event
// needs care: it is read through vkUserPA and the direct map, with
// nothing spinning between the translation and the read (vkPipeXfer).
// An event that is not resident, is misaligned or crosses a page goes
// the locked way (ok false, nothing done), which faults it in or says
// EFAULT.
func vkEpollCtlFast(epfd int32, op int32, fd int32, ev uintptr) (uintptr, bool) {
	var events uint32
	var data uint64
	if op == epollCtlAdd || op == epollCtlMod {
		if ev&3 != 0 || ev&(vkPageSize-1) > vkPageSize-12 || ev+12 < ev || vkGuarded(ev, ev+12) {
			return 0, false
		}
		pa, ok := vkUserPA(ev, false)
		if !ok {
			return 0, false
		}
		events, data = *(*uint32)(unsafe.Pointer(pa)), *(*uint64)(unsafe.Pointer(pa + 4))
	}
	vkSpinLock(&vkFDLock)
	r := vkEpollCtlLocked(epfd, op, fd, events, data)
	vkSpinUnlock(&vkFDLock)
	return r, true
}

// vkEpollCtlLocked is epoll_ctl once the event (events, data) has been
// read. The caller holds vkFDLock, under which the fd slots and the
// descriptions they name stay put.
func vkEpollCtlLocked(epfd int32, op int32, fd int32, events uint32, data uint64) uintptr {
	vkAssertHeld(&vkFDLock)
	// Linux's order after the event: both fds (EBADF), a target that
	// cannot be polled (EPERM), then an epfd that is not an epoll
	// instance or is the target itself (EINVAL).
	if !vkFDOpen(epfd) || !vkFDOpen(fd) {
		return vkErr(vkEBADF)
	}
	f := vkFDFile(fd)
	if k := f.kind; k == fdRegular || k == fdDir || k == fdTmpFile || k == fdTmpDir || k == fdDevice {
		return vkErr(vkEPERM) // as Linux: regular files are always ready
	}
	ep := vkFD(epfd, fdEpoll)
	if ep == nil || f == ep {
		return vkErr(vkEINVAL)
	}
	var w vkWatch
	if op == epollCtlAdd || op == epollCtlMod {
		w = vkWatch{fd: fd, events: events, data: data}
		// EPOLLEXCLUSIVE, as Linux checks it: only on an add, not of an
		// epoll instance, with nothing beyond in, out, error, hang-up,
		// wakeup and edge. (Every watcher is woken, which it allows.)
		if w.events&epollExcl != 0 && (op == epollCtlMod || f.kind == fdEpoll ||
			w.events&^(epollIn|epollOut|epollErr|epollHup|epollWakeup|epollET|epollExcl) != 0) {
			return vkErr(vkEINVAL)
		}
	}
	epi := vkFDs[epfd].file // index + 1
	fi := vkFDs[fd].file - 1
	idx, free := -1, -1
	for i := range f.watch {
		if f.watch[i].ep == epi && f.watch[i].fd == fd {
			idx = i
		} else if f.watch[i].ep == 0 && free < 0 {
			free = i
		}
	}
	r := uintptr(0)
	switch op {
	case epollCtlAdd, epollCtlMod:
		// seen differs from the description's generation, so an
		// edge-triggered watch reports a readiness it already has, once,
		// as Linux does on EPOLL_CTL_ADD and EPOLL_CTL_MOD.
		w.ep, w.seen = epi, f.gen-1
		if op == epollCtlAdd {
			if idx >= 0 {
				r = vkErr(vkEEXIST)
				break
			}
			if free < 0 {
				r = vkErr(vkENOSPC)
				break
			}
			idx = free
			ep.n++
		} else if idx < 0 {
			r = vkErr(vkENOENT)
			break
		} else if f.watch[idx].events&epollExcl != 0 {
			r = vkErr(vkEINVAL) // an exclusive record cannot be modified
			break
		}
		vkReadyUnlink(ep, &f.watch[idx]) // MOD: a new record, looked at afresh
		w.self = vkWatchRef(fi, idx)
		f.watch[idx] = w
		vkReadyPush(ep, &f.watch[idx]) // the next wait looks at it
		if vkReady(f, w.events) != 0 {
			vkFutexWake(uintptr(unsafe.Pointer(ep)), vkMaxThreads) // ready already
		}
	case epollCtlDel:
		if idx < 0 {
			r = vkErr(vkENOENT)
			break
		}
		vkReadyUnlink(ep, &f.watch[idx])
		f.watch[idx] = vkWatch{}
		ep.n--
	default:
		r = vkErr(vkEINVAL)
	}
	return r
}

// vkReady returns the events of interest that f has now. The caller holds
// vkFDLock; a pipe's ring is read without its lock (a stale count only
// makes a report early or late by one notification, which follows).
func vkReady(f *vkFile, want uint32) uint32 {
	var have uint32
	switch f.kind {
	case fdConsole:
		if f.ent == 1 {
			have = epollOut
		}
	case fdEventfd:
		if f.counter < vkEventfdMax {
			have = epollOut // a write of 1 fits
		}
		if f.counter > 0 {
			have |= epollIn
		}
	case fdPipeRead:
		p := &vkPipes[f.pipe]
		if p.count > 0 {
			have |= epollIn
		}
		if p.writers == 0 && (p.fifo == 0 || uint32(f.off) != p.wOpens) {
			// A FIFO reader is hung up only once a writer has come
			// and gone since it opened (f.off: the count then), as on
			// Linux. Hung up only, as Linux's pipe_poll says: readable
			// while bytes are left (tests/semantics TestPollReadiness).
			have |= epollHup
		}
		if vkPipeRW(f) && p.count < vkPipeSize {
			have |= epollOut
		}
	case fdPipeWrite:
		p := &vkPipes[f.pipe]
		if p.count < vkPipeSize {
			have |= epollOut
		}
		if p.readers == 0 {
			have |= epollErr
		}
	case fdSocket:
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
	epi := vkFileHold(ep) // held while asleep: a close meanwhile does not free it
	r, _ := vkEpollWait(ep, epi+1, events, max, timeoutMs, canBlock, false)
	vkFilePut(epi)
	return r
}

// vkSysEpollPwait is epoll_pwait: with a signal mask (size its size),
// the thread waits with that mask instead of its own, as Linux's
// set_user_sigmask. Linux's order: the size (EINVAL) and the mask
// (EFAULT) first, then epoll_wait's checks. On EINTR the mask stays until
// the signal's frame has saved the thread's own (vkSignalFrame), so the
// handler runs with the wait's mask and its return restores the other;
// on any other result it is restored at once. Without a mask it is
// epoll_wait (and the runtime's netpoller takes vkEpollWaitFast).
func vkSysEpollPwait(epfd int32, events uintptr, max int32, timeoutMs int64, mask, size uintptr, canBlock bool) uintptr {
	if mask == 0 {
		return vkSysEpollWait(epfd, events, max, timeoutMs, canBlock)
	}
	if e := vkWaitMaskCheck(mask, size); e != 0 {
		return e
	}
	t := vkCur()
	own := vkWaitMaskSet(t, mask)
	r := vkSysEpollWait(epfd, events, max, timeoutMs, canBlock)
	vkWaitMaskDone(t, mask, own, r)
	return r
}

// vkWaitMaskCheck checks a wait's signal mask (0 for none) as Linux's
// set_user_sigmask does: a size other than a sigset_t's is EINVAL, a mask
// that cannot be read EFAULT.
func vkWaitMaskCheck(mask, size uintptr) uintptr {
	if mask == 0 {
		return 0
	}
	if size != 8 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(mask, 8, false) {
		return vkErr(vkEFAULT)
	}
	return 0
}

// vkWaitMaskSet makes the signal mask at mask (a checked user address; 0
// for none, which changes nothing) the thread's for a wait, as Linux's
// set_user_sigmask, and returns the thread's own for vkWaitMaskDone.
func vkWaitMaskSet(t *vkThread, mask uintptr) uint64 {
	own := t.sigmask
	if mask != 0 {
		t.sigmask = *(*uint64)(unsafe.Pointer(mask)) &^ vkSigUnblockable
	}
	return own
}

// vkWaitMaskDone ends a wait that vkWaitMaskSet began, whose result is r.
// On EINTR the wait's mask stays until the signal's frame has saved own
// (vkSignalFrame), so the handler runs with it and its return restores
// own; on any other result own comes back at once.
func vkWaitMaskDone(t *vkThread, mask uintptr, own uint64, r uintptr) {
	if mask == 0 {
		return
	}
	if r == vkErr(vkEINTR) && t.pending&^t.sigmask != 0 {
		t.savedMask, t.restoreMask = own, true
	} else {
		t.sigmask = own
	}
}

// vkEpollWaitFast is epoll_wait, and epoll_pwait without a signal mask
// (the runtime's netpoller), without the kernel lock: everything it
// touches is under vkFDLock, and it writes the events through the direct
// map, so it needs the events buffer resident and writable, 4-byte
// aligned and clear of kernel variables. Anything else, and every error,
// goes the locked way (ok false), which has Linux's order of checks. A
// wait that finds events takes no reference to the instance: the fd
// table lock, held from the lookup to the last event, keeps it.
func vkEpollWaitFast(epfd int32, events uintptr, max int32, timeoutMs int64) (r uintptr, ok bool) {
	if max <= 0 || max > 0x7fffffff/12 || events&3 != 0 || epfd < 0 || epfd >= vkMaxFDs {
		return 0, false
	}
	end := events + uintptr(max)*12
	if events < vkUserMin || end < events || end > vkUserMax || vkGuarded(events, end) {
		return 0, false
	}
	vkSpinLock(&vkFDLock)
	epi := vkFDs[epfd].file - 1
	if epi < 0 || vkFileAt(epi).kind != fdEpoll {
		vkSpinUnlock(&vkFDLock)
		return 0, false
	}
	ep := vkFileAt(epi)
	n, ok := vkEpollScan(ep, epi+1, events, max, true)
	if !ok || n > 0 || timeoutMs == 0 {
		vkSpinUnlock(&vkFDLock)
		return uintptr(n), ok
	}
	ep.refs++ // held while asleep, as vkSysEpollWait's
	vkSpinUnlock(&vkFDLock)
	r, ok = vkEpollWait(ep, epi+1, events, max, timeoutMs, true, true)
	vkFilePut(epi) // a last reference: released as vkFilePut says
	return r, ok
}

// vkEventDst translates the 12 bytes of an epoll_event at user address e
// (4-byte aligned, so no 4-byte piece straddles a page) to direct-map
// addresses of its three words, for a write without the kernel lock: ok
// is false unless every page is resident and writable. The caller holds
// vkFDLock and spins on nothing before the write (see vk_lockpath.go).
func vkEventDst(e uintptr) (d [3]uintptr, ok bool) {
	p, ok := vkUserPA(e, true)
	if !ok {
		return d, false
	}
	if e&(vkPageSize-1) <= vkPageSize-12 {
		return [3]uintptr{p, p + 4, p + 8}, true
	}
	for k := range d {
		if d[k], ok = vkUserPA(e+uintptr(k)*4, true); !ok {
			return d, false
		}
	}
	return d, true
}

// vkEpollScan reports the ready records of instance ep (description
// index epi-1) into events, at most max, and returns how many. The
// caller holds vkFDLock. With fine (no kernel lock) the events go
// through vkEventDst, and ok is false, with nothing consumed, if the
// first slot is not resident (a later one ends the scan early); without
// it they are plain stores, which the kernel lock lets fault.
func vkEpollScan(ep *vkFile, epi int32, events uintptr, max int32, fine bool) (n int32, ok bool) {
	vkAssertHeld(&vkFDLock)
	// Each record is looked at once at most: one that stays ready goes
	// back to the tail, so the next wait starts with others (fairness, as
	// Linux's list), and this scan stops when it comes round to the first
	// it put back.
	back := int32(0)
	for n < max && ep.rhead != 0 && ep.rhead != back {
		e := events + uintptr(n)*12
		var dst [3]uintptr
		if fine {
			if dst, ok = vkEventDst(e); !ok {
				return n, n > 0
			}
		}
		f, w := vkWatchAt(ep.rhead)
		vkReadyUnlink(ep, w)
		if w.ep != epi {
			vkFatal("epoll: a record on an instance's ready list names another instance")
		}
		if w.events&epollET != 0 && w.seen == f.gen {
			continue // edge-triggered: nothing changed since the last report
		}
		if w.events&^epollPrivate == 0 {
			continue // a one-shot record that reported: disabled until EPOLL_CTL_MOD
		}
		r := vkReady(f, w.events)
		if r == 0 {
			continue // off the list until its description changes again
		}
		w.seen = f.gen
		if fine {
			*(*uint32)(unsafe.Pointer(dst[0])) = r
			*(*uint32)(unsafe.Pointer(dst[1])) = uint32(w.data)
			*(*uint32)(unsafe.Pointer(dst[2])) = uint32(w.data >> 32)
		} else {
			*(*uint32)(unsafe.Pointer(e)) = r
			*(*uint64)(unsafe.Pointer(e + 4)) = w.data
		}
		n++
		if w.events&epollOneShot != 0 {
			w.events &= epollPrivate // EPOLLONESHOT: disabled after one report
		} else if w.events&epollET == 0 {
			vkReadyPush(ep, w) // level-triggered: reported until a look finds it not ready
			if back == 0 {
				back = w.self
			}
		}
	}
	return n, true
}

// vkEpollWait waits on instance ep (description index epi-1), holding a
// reference to it. With fine the caller holds no kernel lock
// (vkEpollWaitFast): ok is false, with nothing consumed, if the events
// buffer is found not resident, and the locked way starts again.
func vkEpollWait(ep *vkFile, epi int32, events uintptr, max int32, timeoutMs int64, canBlock, fine bool) (r uintptr, ok bool) {
	deadline := int64(0)
	if timeoutMs > 0 {
		deadline = vkNanotime() + timeoutMs*1_000_000
	}
	for {
		vkSpinLock(&vkFDLock)
		n, ok := vkEpollScan(ep, epi, events, max, fine)
		if !ok || n > 0 || timeoutMs == 0 || !canBlock {
			vkSpinUnlock(&vkFDLock)
			return uintptr(n), ok
		}
		if timeoutMs > 0 && vkNanotime() >= deadline {
			vkSpinUnlock(&vkFDLock)
			return 0, true
		}
		// Sleep until a watched description changes, a signal arrives or
		// the timeout passes; queued before vkFDLock goes, so a
		// notification (which takes it) cannot slip in between.
		vkSleepOn(uintptr(unsafe.Pointer(ep)), &vkFDLock, deadline, !fine)
		if vkCur().pending&^vkCur().sigmask != 0 {
			return vkErr(vkEINTR), true
		}
	}
}

// vkNotify records a readiness change of description f and wakes the
// threads in epoll_wait on the instances watching it, and threads blocked
// on the description itself (a blocking socket call waits on its file).
// The caller does not hold vkFDLock (vkNotifyLocked: it does).
func vkNotify(f *vkFile) {
	vkSpinLock(&vkFDLock)
	vkNotifyLocked(f)
	vkSpinUnlock(&vkFDLock)
}

func vkNotifyLocked(f *vkFile) { vkNotifyDeliverLocked(f, 0) }

// vkNotifyDeliverLocked is vkNotifyLocked that, with own naming the
// runtime's netpoller's epoll instance (its description index + 1; 0 for
// none), serves an event whose reporter hands it to that netpoller itself
// (vkNetReadyDeliver): the runtime's edge-triggered record for f, if
// there is one, is marked reported instead of being queued on its
// instance's ready list, so no thread in the netpoller's epoll_pwait is
// woken for it, and its data and ready events are returned (0, 0 when
// there is none, or nothing in it is ready). Every other watcher is
// notified as usual.
func vkNotifyDeliverLocked(f *vkFile, own int32) (data uint64, got uint32) {
	vkAssertHeld(&vkFDLock)
	f.gen++
	vkPollNotifyLocked() // poll's sleepers look at their fds again (vk_poll.go)
	for j := range f.watch {
		w := &f.watch[j]
		ep := w.ep
		if ep == 0 {
			continue
		}
		if ep == own && got == 0 && w.events&epollET != 0 && w.events&epollOneShot == 0 {
			if r := vkReady(f, w.events); r != 0 {
				w.seen = f.gen // as epoll_wait reporting it would
				data, got = w.data, r
				continue
			}
		}
		epf := vkFileAt(ep - 1)
		vkReadyPush(epf, w)
		vkFutexWake(uintptr(unsafe.Pointer(epf)), vkMaxThreads)
	}
	vkFutexWake(uintptr(unsafe.Pointer(f)), vkMaxThreads)
	return data, got
}

// vkEventfdMax is the largest count an eventfd holds, as Linux's
// ULLONG_MAX - 1: a write that would pass it waits for a read (EAGAIN
// when non-blocking).
const vkEventfdMax = ^uint64(0) - 1

// An eventfd's count (counter, with wwait, its waiting writers) is
// vkFDLock's, not the kernel lock's: the runtime's netpoller reads its
// eventfd on every wake-up, and drivers' interrupts (vkDevIRQWork) and
// netpollBreak add to one, so read and write take the lock-free path
// (vkEventfdFast) unless they must wait or fail. The locked calls below
// take vkFDLock for the count too, and touch the user's word outside it
// (that may fault a page in, which a spin lock must not be held across).

// vkEventfdSignal adds one to the count of eventfd f for the kernel (a
// device's interrupt, the network server's doorbell), saturating at
// vkEventfdMax rather than waiting, and wakes its readers and epoll
// watchers. The caller holds the kernel lock, not vkFDLock.
func vkEventfdSignal(f *vkFile) {
	vkSpinLock(&vkFDLock)
	if f.counter < vkEventfdMax {
		f.counter++
	}
	vkNotifyLocked(f)
	vkSpinUnlock(&vkFDLock)
}

// vkEventfdWrite adds the 8-byte value at p to f's count, waiting, as
// Linux does, while it would pass vkEventfdMax. The kernel lock is held
// (and let go while asleep).
func vkEventfdWrite(f *vkFile, p, n uintptr, canBlock bool) uintptr {
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
	vkSpinLock(&vkFDLock)
	for vkEventfdMax-f.counter < v {
		if f.nonblock || !canBlock {
			vkSpinUnlock(&vkFDLock)
			return vkErr(vkEAGAIN)
		}
		f.wwait++
		vkSleepOn(uintptr(unsafe.Pointer(f)), &vkFDLock, 0, true) // queued before vkFDLock goes: no lost wake-up
		vkSpinLock(&vkFDLock)
		f.wwait--
		if vkPipeSignalled() {
			vkSpinUnlock(&vkFDLock)
			return vkErr(vkERESTARTSYS) // EINTR, or write again (SA_RESTART), as Linux's eventfd
		}
	}
	f.counter += v
	vkNotifyLocked(f)
	vkSpinUnlock(&vkFDLock)
	return 8
}

func vkEventfdRead(f *vkFile, p, n uintptr, canBlock bool) uintptr {
	if n < 8 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(p, 8, true) {
		return vkErr(vkEFAULT)
	}
	vkSpinLock(&vkFDLock)
	for f.counter == 0 {
		if f.nonblock || !canBlock {
			vkSpinUnlock(&vkFDLock)
			return vkErr(vkEAGAIN)
		}
		vkSleepOn(uintptr(unsafe.Pointer(f)), &vkFDLock, 0, true)
		if vkPipeSignalled() {
			return vkErr(vkERESTARTSYS) // EINTR, or read again (SA_RESTART), as Linux's eventfd
		}
		vkSpinLock(&vkFDLock)
	}
	v := vkEventfdTake(f)
	vkSpinUnlock(&vkFDLock)
	if !vkUserOK(p, 8, true) {
		// Unmapped by another thread while this one slept. Linux's
		// eventfd_read has taken the count by then too (its copy fails
		// after the count is gone), so do as it does.
		return vkErr(vkEFAULT)
	}
	*(*uint64)(unsafe.Pointer(p)) = v
	return 8
}

// vkEventfdTake takes what a read of f returns from its count, which is
// not 0. The caller holds vkFDLock.
func vkEventfdTake(f *vkFile) uint64 {
	vkAssertHeld(&vkFDLock)
	v, full := f.counter, f.counter == vkEventfdMax
	if f.sem {
		v = 1 // EFD_SEMAPHORE: one at a time
	}
	f.counter -= v
	if full || f.wwait > 0 {
		// Room again: epoll's EPOLLOUT, and the writers waiting for it.
		// Only then: the runtime's netpoller watches every eventfd it
		// is given (a driver's interrupt) for writing too, and a report
		// after every read would wake it for nothing.
		vkNotifyLocked(f)
	}
	return v
}

// vkEventfdFast is read or write of eventfd f without the kernel lock;
// the caller holds vkFDLock. It declines (ok false, nothing done) what
// must wait (an empty count, a write past the ceiling) and what is an
// error (short or bad buffers), which the locked calls answer; and a
// word that is not resident and aligned (so on one page). Between the
// translation of the user's page and the access nothing spins, so an
// unmap on another CPU cannot reuse the frame meanwhile (vkPipeXfer).
func vkEventfdFast(f *vkFile, p, n uintptr, write bool) (uintptr, bool) {
	vkAssertHeld(&vkFDLock)
	if n < 8 || p&7 != 0 || vkGuarded(p, p+8) {
		return 0, false
	}
	pa, ok := vkUserPA(p, !write) // a read stores into the user's word
	if !ok {
		return 0, false
	}
	w := (*uint64)(unsafe.Pointer(pa))
	if write {
		v := *w
		if v == ^uint64(0) || vkEventfdMax-f.counter < v {
			return 0, false
		}
		f.counter += v
		vkNotifyLocked(f)
		return 8, true
	}
	if f.counter == 0 {
		return 0, false
	}
	*w = vkEventfdTake(f)
	return 8, true
}

// vkWatchRef names record j of description i: i*vkMaxWatch+j+1, so 0 is
// none (vkMaxFiles*vkMaxWatch fits an int32 with room to spare).
func vkWatchRef(i int32, j int) int32 { return i*vkMaxWatch + int32(j) + 1 }

// vkWatchAt returns the description and the record that ref names.
func vkWatchAt(ref int32) (*vkFile, *vkWatch) {
	f := vkFileAt((ref - 1) / vkMaxWatch)
	return f, &f.watch[(ref-1)%vkMaxWatch]
}

// vkReadyPush puts record w at the tail of instance ep's ready list,
// unless it is on it already. The caller holds vkFDLock.
func vkReadyPush(ep *vkFile, w *vkWatch) {
	vkAssertHeld(&vkFDLock)
	if w.queued {
		return
	}
	w.queued, w.prev, w.next = true, ep.rtail, 0
	if ep.rtail != 0 {
		_, t := vkWatchAt(ep.rtail)
		t.next = w.self
	} else {
		ep.rhead = w.self
	}
	ep.rtail = w.self
}

// vkReadyUnlink takes record w off instance ep's ready list, if it is
// on it. The caller holds vkFDLock.
func vkReadyUnlink(ep *vkFile, w *vkWatch) {
	vkAssertHeld(&vkFDLock)
	if !w.queued {
		return
	}
	if w.prev != 0 {
		_, p := vkWatchAt(w.prev)
		p.next = w.next
	} else {
		ep.rhead = w.next
	}
	if w.next != 0 {
		_, n := vkWatchAt(w.next)
		n.prev = w.prev
	} else {
		ep.rtail = w.prev
	}
	w.queued, w.prev, w.next = false, 0, 0
}

// vkWatchDropAll drops description i's interest records, as Linux drops
// a file from every interest list when its last reference goes; if i is
// an epoll instance, also the records naming it in every description, so
// an instance that reuses the slot starts empty. The caller holds
// vkFDLock.
func vkWatchDropAll(i int32) {
	vkAssertHeld(&vkFDLock)
	f := vkFileAt(i)
	for j := range f.watch {
		if ep := f.watch[j].ep; ep != 0 {
			epf := vkFileAt(ep - 1)
			vkReadyUnlink(epf, &f.watch[j])
			epf.n--
			f.watch[j] = vkWatch{}
		}
	}
	if f.kind != fdEpoll || f.n == 0 {
		return
	}
	f.rhead, f.rtail = 0, 0 // its records go below, listed or not
	for k := int32(0); k < vkFileHigh; k++ {
		g := vkFileAt(k)
		for j := range g.watch {
			if g.watch[j].ep == i+1 {
				g.watch[j] = vkWatch{}
			}
		}
	}
}
