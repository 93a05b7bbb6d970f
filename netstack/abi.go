package netstack

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"gvisor.dev/gvisor/pkg/waiter"
)

// The Velocity system calls between the kernel's socket layer and this
// server (runtime/vk_net.go has the kernel's side and the protocol).
const (
	sysAttach = 0x5610
	sysWait   = 0x5611
	sysReply  = 0x5612
	sysReady  = 0x5613
	sysResolv = 0x5614 // replace /etc/resolv.conf, /proc/net/igmp or /proc/net/igmp6 (igmp.go)
	sysHold   = 0x5616 // a taken call waits (holdWait) or is taken back (holdTake)

	holdWait = 0
	holdTake = 1

	holdTimed = 1 // holdWait's flag: the call has a timeout, so a signal ends it with EINTR

	// msgCancel is the number of the message (ID 0) by which the kernel
	// says that the caller of the waiting call whose ID is Args[0] has
	// abandoned it (runtime's vkNetCancel; see hold).
	msgCancel = 0x10000
	// msgUnixGC (ID 0) asks the server to collect AF_UNIX sockets that
	// only SCM_RIGHTS tokens keep (unix_gc.go): the kernel sends it when
	// an fd of an AF_UNIX socket that keeps other references is closed
	// (runtime's vkNetUnixGC, vkNetGCHint).
	msgUnixGC = 0x10001
)

// errRestart is Linux's ERESTARTSYS: a blocking call that a signal cut
// short before it moved anything. The kernel never lets it reach the
// program: it makes the call again after an SA_RESTART handler, as Go's
// handlers are, or answers EINTR (runtime/vk_signal.go).
const errRestart = syscall.Errno(512)

// Msg is one forwarded socket system call (runtime's vkNetMsg). The
// kernel names a socket by its sid, the index of its open file
// description, which every fd dup made of it shares: Args[0] holds the
// sid in place of the caller's fd.
type Msg struct {
	ID    uint64    // names the reply
	NR    uint64    // Linux system call number
	Args  [6]uint64 // its arguments, as the caller passed them
	NewFD int64     // socket, accept, accept4: the new socket's sid (socketpair: sid0 | sid1<<32)
	Flags uint64    // msgNonblock
	// SockID: socket, accept, accept4: the new socket's identity, which
	// the kernel's description keeps too (socketpair: the first's; the
	// second's is SockID+1). Sids are reused after close, identities
	// never: the direct path (direct.go) acts on an endpoint only when
	// the two agree, and the kernel drops a readiness report whose
	// identity is not the sid's.
	SockID uint64
	// Rights, NRights: AF_UNIX SCM_RIGHTS (runtime/vk_netrights.go), an
	// int32 array in the kernel. sendmsg: NRights description indexes the
	// kernel holds a reference on, which travel with the data if the
	// send queues any (Reply.Rights = 1 then); the receiving calls: room
	// for NRights of them, filled with those of the message read
	// (Reply.Rights says how many), which become the kernel's. Zero on
	// the direct path, which declines a socket with tokens queued.
	Rights  uint64
	NRights uint64
	// Cred: AF_UNIX calls on the kernel's path: the caller's pid, real
	// uid and real gid (CredFlags credSet), which a send attaches when
	// either end has SO_PASSCRED; SCM: sendmsg's SCM_CREDENTIALS, which
	// the kernel checked as Linux does (credSCM). Zero on the direct
	// path, which declines a send that would need them.
	Cred      [3]uint32
	CredFlags uint32
	SCM       [3]uint32
	// Euid, Egid: the caller's effective ids (with credSet), which
	// socketpair, listen and connect record for SO_PEERCRED, as Linux's
	// init_peercred does.
	Euid uint32
	Egid uint32
	_    uint32
}

const (
	msgNonblock = 1

	credSet = 1 // Msg.Cred is set
	credSCM = 2 // Msg.SCM is set
)

// Reply answers one Msg (runtime's vkNetReply).
type Reply struct {
	ID        uint64
	Result    int64 // a value, or -errno
	Ready     uint32
	ReadyOK   uint32
	Ready2    uint32 // readiness of the new socket of accept and accept4
	AddrOK    uint32 // Names and Names2 are set
	ReadySeq  uint64
	Ready2Seq uint64
	Names     Names  // the socket's addresses after the call
	Names2    Names  // accept, accept4: the new socket's
	Rights    uint32 // see Msg.Rights
	// Ctl: recvmsg: the bytes at the start of the caller's control
	// buffer the server used (an SCM_CREDENTIALS message); the kernel
	// puts SCM_RIGHTS after them.
	Ctl uint32
}

// Names are a socket's addresses as struct sockaddr bytes, which the
// kernel keeps to answer getsockname and getpeername itself (package
// syscall makes those with RawSyscall, which must not wait for us). 110
// bytes hold the largest, struct sockaddr_un (runtime's vkSockNames).
type Names struct {
	Local, Remote       [110]byte
	LocalLen, RemoteLen uint32
}

// kernel is the server's view of the kernel, so tests can stand in for it.
type kernel interface {
	// Ready reports readiness of socket sid: mode 0 adds events, 1 sets
	// the level. id is the socket's identity: the kernel drops a report
	// about a socket closed since, whose sid now names another.
	Ready(sid int32, events uint32, mode int, seq uint64, id uint64)
	// FD is the kernel's view of fd, read without a system call, for the
	// direct path: the sid of the description the fd names, the socket's
	// identity, whether it is in non-blocking mode, and epoll's readiness
	// level for it; ok is false when fd is not a socket (or changed while
	// the kernel's table was read).
	FD(fd int32) (sid int32, id uint64, nonblock bool, ready uint32, ok bool)
	// Mem reports whether the direct path may touch [p, p+n): memory that
	// cannot move or go away during the call (the Go heap).
	Mem(p, n uintptr) bool
	// Rights gives back (op rightsPut) the kernel's references named by
	// SCM_RIGHTS tokens the server will not deliver, or takes one more on
	// each (rightsRef, for MSG_PEEK). It never waits for the server.
	Rights(op int, tokens []int32)
	// Refs gives the kernel's reference count of each socket sid names
	// (-1 for one that is not an open socket), for the unix garbage
	// collector; it never waits for the server.
	Refs(sids []int32) []int32
	// Hold says that taken call id waits for its condition, having moved
	// moved bytes (holdWait), or takes it back (holdTake: ECANCELED if its
	// caller abandoned it). See hold.
	Hold(id uint64, op int, moved int64, flags int) syscall.Errno
	// AcceptReserve allocates the description of a connection the direct
	// path is about to accept on listener fd, whose identity must still be
	// lid (ESTALE otherwise): the new socket's sid and identity, no fd
	// yet. AcceptInstall completes it with what the server registered
	// and gives it an fd (EMFILE closes the socket); AcceptCancel frees
	// one that got no connection. None waits (runtime/vk_netaccept.go).
	AcceptReserve(fd int32, lid uint64) (sid int32, id uint64, e syscall.Errno)
	AcceptInstall(sid int32, flags int, names *Names, ready uint32, seq uint64) (fd int32, e syscall.Errno)
	AcceptCancel(sid int32)
}

const (
	rightsPut  = 0
	rightsRef  = 1
	rightsRefs = 2 // Refs
	sysRights  = 0x5615
)

// velocityKernel talks to the real kernel through its system calls.
type velocityKernel struct{}

func (velocityKernel) Ready(sid int32, events uint32, mode int, seq uint64, id uint64) {
	// An event (not a level after a call) that makes a socket readable
	// is handed to the runtime's netpoller in this goroutine; one that
	// makes it writable wakes the netpoller's thread as before, so a
	// streaming writer runs beside the goroutines that take its ACKs
	// (delivered here, bulk downloads ran at 0.71x).
	if mode == 0 && deliverOn && events&uint32(waiter.WritableEvents) == 0 && readyDeliver(sid, events, seq, id) {
		return
	}
	syscall.RawSyscall6(sysReady, uintptr(sid), uintptr(events), uintptr(mode), uintptr(seq), uintptr(id), 0)
	if mode == 0 {
		readyWake()
	}
}

func (velocityKernel) Rights(op int, tokens []int32) {
	if len(tokens) == 0 {
		return
	}
	syscall.RawSyscall(sysRights, uintptr(unsafe.Pointer(&tokens[0])), uintptr(len(tokens)), uintptr(op))
}

func (velocityKernel) Refs(sids []int32) []int32 {
	out := append([]int32(nil), sids...)
	if len(out) == 0 {
		return out
	}
	if _, _, e := syscall.RawSyscall(sysRights, uintptr(unsafe.Pointer(&out[0])), uintptr(len(out)), rightsRefs); e != 0 {
		for i := range out {
			out[i] = -1 // unknown: nothing is collected
		}
	}
	return out
}

func (velocityKernel) Hold(id uint64, op int, moved int64, flags int) syscall.Errno {
	_, _, e := syscall.RawSyscall6(sysHold, uintptr(id), uintptr(op), uintptr(moved), uintptr(flags), 0, 0)
	return e
}

// sysAccept is velocity_net_accept(op, ...) and its ops.
const (
	sysAccept     = 0x5617
	acceptReserve = 0
	acceptInstall = 1
	acceptCancel  = 2
)

func (velocityKernel) AcceptReserve(fd int32, lid uint64) (int32, uint64, syscall.Errno) {
	var id uint64
	r, _, e := syscall.RawSyscall6(sysAccept, acceptReserve, uintptr(fd), uintptr(lid), uintptr(unsafe.Pointer(&id)), 0, 0)
	if e != 0 {
		return -1, 0, e
	}
	return int32(r), id, 0
}

func (velocityKernel) AcceptInstall(sid int32, flags int, names *Names, ready uint32, seq uint64) (int32, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(sysAccept, acceptInstall, uintptr(sid), uintptr(flags), uintptr(unsafe.Pointer(names)), uintptr(ready), uintptr(seq))
	if e != 0 {
		return -1, e
	}
	return int32(r), 0
}

func (velocityKernel) AcceptCancel(sid int32) {
	syscall.RawSyscall(sysAccept, acceptCancel, uintptr(sid), 0)
}

// onVelocity reports whether the kernel speaks this protocol: a wait for
// zero requests is EINVAL there and ENOSYS on Linux.
func onVelocity() bool {
	_, _, e := syscall.RawSyscall(sysWait, 0, 0, 0)
	return e != syscall.ENOSYS
}

// Flags of velocity_net_attach and velocity_net_wait
// (runtime/vk_sys_sockets.go).
const (
	attachDoorbell = 1 // the second argument is the server's doorbell eventfd
	waitNonblock   = 1 // EAGAIN instead of blocking when nothing is queued
)

// attach tells the kernel a server exists, so it forwards socket calls.
// With doorbell >= 0, an eventfd, the kernel also counts on it each time
// it has work for the server (runtime/vk_net.go, vkNetWake).
func attach(doorbell int) syscall.Errno {
	flags, fd := uintptr(0), uintptr(0)
	if doorbell >= 0 {
		flags, fd = attachDoorbell, uintptr(doorbell)
	}
	_, _, e := syscall.RawSyscall(sysAttach, flags, fd, 0)
	return e
}

// wait fills buf with the kernel's requests. Blocking, it waits as a
// system call (the Go scheduler runs other goroutines meanwhile) until
// there are some; non-blocking, it fails with EAGAIN when there are none.
func wait(buf []Msg, nonblock bool) (int, syscall.Errno) {
	if nonblock {
		n, _, e := syscall.RawSyscall(sysWait, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), waitNonblock)
		return int(n), e
	}
	n, _, e := syscall.Syscall(sysWait, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0)
	return int(n), e
}

// eventfdWaiter reads an eventfd the kernel signals (a card's interrupt,
// the server's doorbell), waiting for it in Go's netpoller. The read
// itself is a raw system call: it never blocks (the fd is non-blocking),
// so it needs no entersyscall/exitsyscall, and exitsyscall is what woke
// Go's sysmon from its idle wait and set it sleeping in 20 us steps
// again, each a nanosleep. os.File.Read's deadline still applies.
type eventfdWaiter struct {
	f   *os.File
	rc  syscall.RawConn
	buf [8]byte
	// The functions handed to rc.Read, made once: a closure made at each
	// wait escaped to the heap (RawConn is an interface), two objects per
	// wait of the server's doorbell, about 10% of the objects a new
	// connection per request allocated (the allocs profile of
	// images/netbench, 2026-12-06).
	takeFn, readyFn func(fd uintptr) bool
	errno           syscall.Errno // takeFn's result
	ready           func() bool   // waitUntil's condition
}

func newEventfdWaiter(f *os.File) (*eventfdWaiter, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	w := &eventfdWaiter{f: f, rc: rc}
	w.takeFn, w.readyFn = w.take, w.isReady
	return w, nil
}

// take reads the count, for wait.
func (w *eventfdWaiter) take(fd uintptr) bool {
	_, _, w.errno = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&w.buf[0])), uintptr(len(w.buf)))
	return w.errno != syscall.EAGAIN
}

// isReady asks waitUntil's condition.
func (w *eventfdWaiter) isReady(uintptr) bool { return w.ready() }

// wait returns once the eventfd's count was non-zero, having taken it.
// One goroutine waits on a waiter at a time.
func (w *eventfdWaiter) wait() error {
	w.errno = 0
	if err := w.rc.Read(w.takeFn); err != nil {
		return err
	}
	if w.errno != 0 {
		return os.NewSyscallError("read", w.errno)
	}
	return nil
}

// waitUntil waits in Go's netpoller until ready reports true, looking
// again each time the eventfd is signalled, and never reads the count:
// the receive goroutine's wait, where ready looks at the ring. wait made
// two system calls per interrupt, a read that found the count zero
// before parking and one that took it after the wake-up; this makes
// none. The count only grows (the kernel saturates it rather than
// block), and the kernel reports an edge-triggered eventfd at every
// signal, not only when it becomes readable, so each interrupt still
// wakes the netpoller. A signal that came before the netpoller's
// prepareRead forgot it is found by ready, which RawConn.Read calls
// first: the completions the interrupt announced are in the ring. An
// interrupt for nothing ready (a transmit completion on a shared vector,
// one whose completions were already taken) costs a wake-up and a look
// at the ring. With -against over tap, 3 rounds (2026-12-05): 1.12x
// requests/s with one connection, 1.08x with 16, 1.08x at 64 KiB with
// 16, and 1.01x for a new connection per request (5 rounds); about 2.3
// fewer system calls per connection on images/httpd (read: 3.8 to 1.5).
func (w *eventfdWaiter) waitUntil(ready func() bool) error {
	w.ready = ready
	return w.rc.Read(w.readyFn)
}

// newDoorbell makes the server's doorbell: a non-blocking eventfd, read
// through Go's netpoller. nil if it cannot be made (the server then
// blocks in velocity_net_wait, as before the doorbell).
func newDoorbell() *os.File {
	const efdNonblock, efdCloexec = 0x800, 0x80000
	fd, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, efdNonblock|efdCloexec, 0)
	if e != 0 {
		fmt.Fprintf(os.Stderr, "velocity: net: the server's doorbell: eventfd2: %v; it blocks in the kernel instead\n", e)
		return nil
	}
	return os.NewFile(fd, "netstack-doorbell")
}

func reply(reps []Reply) {
	if len(reps) == 0 {
		return
	}
	syscall.RawSyscall(sysReply, uintptr(unsafe.Pointer(&reps[0])), uintptr(len(reps)), 0)
}

// user turns a caller's pointer and length into a slice. The kernel has
// checked that the range is mapped with the access the call needs, and the
// caller sleeps until it gets its reply, so the memory stays put; the
// conversion goes through a pointer-typed copy so that go vet's unsafeptr
// check, which cannot know this, stays quiet.
func user(addr uint64, n int) []byte {
	if n <= 0 || addr == 0 {
		return nil
	}
	p := uintptr(addr)
	return unsafe.Slice(*(**byte)(unsafe.Pointer(&p)), n)
}

// userTokens is the kernel's SCM_RIGHTS token array of a Msg (see
// Msg.Rights); nil when it has none.
func userTokens(addr, n uint64) []int32 {
	if addr == 0 || n == 0 {
		return nil
	}
	p := uintptr(addr)
	return unsafe.Slice(*(**int32)(unsafe.Pointer(&p)), int(n))
}

func userI32(addr uint64) *int32 {
	p := uintptr(addr)
	return *(**int32)(unsafe.Pointer(&p))
}

// clearBufs: the [][]byte that name a caller's buffers escape to the heap
// (netstack's readers and writers are interfaces) and are cleared as soon
// as the call is done. A caller's buffer may be on its stack (the kernel's
// path serves those), and garbage is not always gone: the collector scans
// an async-preempted frame conservatively, and a stale word there can mark
// a dead [][]byte, whose element is then followed precisely; pointing into
// a stack that has since been freed, that is a fatal "found bad pointer in
// Go heap". That is the likeliest reading of the one time tests/net
// stopped so (TestUnixManyConnections on one CPU: a 24-byte object, a
// [][]byte of one slice, pointing into a freed 32 KiB span, the size of
// the runtime's stack-pool spans); it did not recur in three later runs.
// Cleared, such an object holds nothing.

// iovecs reads an iovec array of the caller's.
func iovecs(addr uint64, cnt int) [][]byte {
	raw := user(addr, cnt*16)
	v := make([][]byte, 0, cnt) // cnt <= 1024: the kernel checked it
	for i := 0; i < cnt; i++ {
		base := binary.LittleEndian.Uint64(raw[i*16:])
		n := binary.LittleEndian.Uint64(raw[i*16+8:])
		if n > 0 {
			v = append(v, user(base, int(n)))
		}
	}
	return v
}
