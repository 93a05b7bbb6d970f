package semantics

import (
	"encoding/binary"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// edgeTriggered is EPOLLET as the uint32 of an epoll_event (package
// syscall's constant is negative).
const edgeTriggered = 1 << 31

// TestEpollReadyList: what epoll_wait reports, and in what order, as
// Linux's ready list gives it. Level-triggered records stay reported
// until drained and take turns when maxevents is smaller than the ready
// set; edge-triggered ones are reported once per change and one-shot
// ones once, until EPOLL_CTL_MOD re-arms either; a record deleted or a
// file closed while ready is not reported; and among a thousand idle
// eventfds a wait finds exactly the few that changed. Runs on the host too, so Linux checks the test.
func TestEpollReadyList(t *testing.T) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(ep)
	type pipe struct{ r, w int }
	var pipes []pipe
	newPipe := func() pipe {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
			t.Fatalf("pipe2 after %d pipes: %v", len(pipes), err)
		}
		pp := pipe{p[0], p[1]}
		pipes = append(pipes, pp)
		return pp
	}
	defer func() {
		for _, p := range pipes {
			syscall.Close(p.r)
			syscall.Close(p.w)
		}
	}()
	add := func(fd int, events uint32, op int) {
		t.Helper()
		ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
		if err := syscall.EpollCtl(ep, op, fd, &ev); err != nil {
			t.Fatalf("epoll_ctl(%d, fd %d): %v", op, fd, err)
		}
	}
	write := func(fd int) {
		t.Helper()
		if _, err := syscall.Write(fd, []byte{'x'}); err != nil {
			t.Fatal(err)
		}
	}
	drain := func(fd int) {
		t.Helper()
		var b [64]byte // a pipe's bytes, or an eventfd's counter
		if _, err := syscall.Read(fd, b[:]); err != nil {
			t.Fatal(err)
		}
	}
	// wait returns the fds reported by one non-blocking wait of at most
	// max events, each of which must say EPOLLIN.
	wait := func(max int) []int32 {
		t.Helper()
		evs := make([]syscall.EpollEvent, max)
		n, err := syscall.EpollWait(ep, evs, 0)
		if err != nil {
			t.Fatal(err)
		}
		var fds []int32
		for _, e := range evs[:n] {
			if e.Events&syscall.EPOLLIN == 0 {
				t.Errorf("fd %d reported with events %#x, want EPOLLIN", e.Fd, e.Events)
			}
			fds = append(fds, e.Fd)
		}
		return fds
	}
	sorted := func(s []int32) []int32 { s = slices.Clone(s); slices.Sort(s); return s }

	// A thousand idle eventfds (Velocity has 512 pipes, no bound on
	// eventfds but the 4,096 descriptions), three of which then count.
	const idle = 1000
	var efds []int
	defer func() {
		for _, fd := range efds {
			syscall.Close(fd)
		}
	}()
	for range idle {
		fd, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if e != 0 {
			t.Fatalf("eventfd2 after %d: %v", len(efds), e)
		}
		efds = append(efds, int(fd))
		add(int(fd), syscall.EPOLLIN, syscall.EPOLL_CTL_ADD)
	}
	if got := wait(16); len(got) != 0 {
		t.Fatalf("idle eventfds reported %v", got)
	}
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	var hot []int32
	for _, i := range []int{17, 500, 999} {
		if _, err := syscall.Write(efds[i], one); err != nil {
			t.Fatal(err)
		}
		hot = append(hot, int32(efds[i]))
	}
	hot = sorted(hot)
	if got := wait(16); !slices.Equal(sorted(got), hot) {
		t.Fatalf("after counting on 3 of %d eventfds: reported %v, want %v", idle, got, hot)
	}

	// Level-triggered, three ready, one event per wait: every one is
	// reported within three waits (a reported record goes to the back),
	// and again in the next three, until drained.
	var seen []int32
	for range 6 {
		got := wait(1)
		if len(got) != 1 {
			t.Fatalf("level-triggered with maxevents 1: reported %v, want one fd", got)
		}
		seen = append(seen, got[0])
	}
	if !slices.Equal(sorted(seen[:3]), hot) || !slices.Equal(sorted(seen[3:]), hot) {
		t.Errorf("six waits of one event reported %v: want each of %v once in the first three and once in the last three", seen, hot)
	}
	for _, fd := range hot {
		drain(int(fd))
	}
	if got := wait(16); len(got) != 0 {
		t.Fatalf("after reading the counters: reported %v", got)
	}

	// Edge-triggered: once per change, not while the data sits unread.
	et := newPipe()
	add(et.r, syscall.EPOLLIN|edgeTriggered, syscall.EPOLL_CTL_ADD)
	write(et.w)
	if got := wait(16); !slices.Equal(got, []int32{int32(et.r)}) {
		t.Fatalf("edge-triggered after a write: %v, want [%d]", got, et.r)
	}
	if got := wait(16); len(got) != 0 {
		t.Fatalf("edge-triggered, no change since: %v", got)
	}
	write(et.w)
	if got := wait(16); !slices.Equal(got, []int32{int32(et.r)}) {
		t.Fatalf("edge-triggered after a second write: %v, want [%d]", got, et.r)
	}
	// EPOLL_CTL_MOD re-arms a ready edge-triggered record: reported once.
	add(et.r, syscall.EPOLLIN|edgeTriggered, syscall.EPOLL_CTL_MOD)
	if got := wait(16); !slices.Equal(got, []int32{int32(et.r)}) {
		t.Fatalf("edge-triggered after EPOLL_CTL_MOD: %v, want [%d]", got, et.r)
	}
	if got := wait(16); len(got) != 0 {
		t.Fatalf("edge-triggered, MOD reported already: %v", got)
	}

	// EPOLLONESHOT: reported once, then disabled, though the data stays
	// unread and more comes, until EPOLL_CTL_MOD re-arms it.
	const oneShot = 1 << 30
	shot := newPipe()
	add(shot.r, syscall.EPOLLIN|oneShot, syscall.EPOLL_CTL_ADD)
	write(shot.w)
	if got := wait(16); !slices.Equal(got, []int32{int32(shot.r)}) {
		t.Fatalf("one-shot after a write: %v, want [%d]", got, shot.r)
	}
	write(shot.w)
	if got := wait(16); len(got) != 0 {
		t.Fatalf("one-shot, reported once already: %v", got)
	}
	add(shot.r, syscall.EPOLLIN|oneShot, syscall.EPOLL_CTL_MOD)
	if got := wait(16); !slices.Equal(got, []int32{int32(shot.r)}) {
		t.Fatalf("one-shot re-armed by EPOLL_CTL_MOD: %v, want [%d]", got, shot.r)
	}
	if got := wait(16); len(got) != 0 {
		t.Fatalf("one-shot, re-armed and reported: %v", got)
	}

	// Deleted while ready, and closed while ready: not reported.
	del, gone := newPipe(), newPipe()
	add(del.r, syscall.EPOLLIN, syscall.EPOLL_CTL_ADD)
	add(gone.r, syscall.EPOLLIN, syscall.EPOLL_CTL_ADD)
	write(del.w)
	write(gone.w)
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_DEL, del.r, nil); err != nil {
		t.Fatal(err)
	}
	syscall.Close(gone.r)
	pipes[len(pipes)-1].r = -1
	if got := wait(16); len(got) != 0 {
		t.Fatalf("a record deleted and a file closed while ready: reported %v", got)
	}

}

// TestEpollPwaitSignalMask: epoll_pwait waits with the mask it is given
// instead of the thread's own. A signal pending and blocked in the
// thread's mask but let in by the wait's ends the wait at once with
// EINTR, its handler runs, and the thread's own mask is back afterwards;
// a wait whose mask blocks the signal too times out and leaves it
// pending. Runs on the host too.
func TestEpollPwaitSignalMask(t *testing.T) {
	const sigusr1 = uint64(1) << (syscall.SIGUSR1 - 1)
	got := make(chan os.Signal, 4)
	signal.Notify(got, syscall.SIGUSR1)
	defer signal.Stop(got)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	sigprocmask := func(how int, set *uint64) uint64 {
		t.Helper()
		var old uint64
		if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, uintptr(how), uintptr(unsafe.Pointer(set)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
			t.Fatalf("rt_sigprocmask: %v", e)
		}
		return old
	}
	block := sigusr1
	before := sigprocmask(0, &block) // SIG_BLOCK
	defer sigprocmask(2, &before)    // SIG_SETMASK
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(ep)
	tid := syscall.Gettid()
	if err := syscall.Tgkill(syscall.Getpid(), tid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	pwait := func(mask uint64, ms int) (uintptr, syscall.Errno) {
		var ev [1]syscall.EpollEvent
		r, _, e := syscall.Syscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&ev[0])), 1, uintptr(ms),
			uintptr(unsafe.Pointer(&mask)), 8)
		return r, e
	}

	// The wait's mask blocks SIGUSR1 as well: a timeout, still pending.
	if r, e := pwait(sigusr1, 50); e != 0 || r != 0 {
		t.Fatalf("epoll_pwait with SIGUSR1 blocked: %d, %v; want a timeout (0)", r, e)
	}
	select {
	case <-got:
		t.Fatal("SIGUSR1 was delivered while blocked")
	default:
	}

	// The wait's mask lets it in: EINTR at once, not after 10 s.
	start := time.Now()
	if r, e := pwait(0, 10_000); e != syscall.EINTR {
		t.Fatalf("epoll_pwait letting in a pending SIGUSR1: %d, %v; want EINTR", r, e)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("EINTR took %v", d)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("SIGUSR1's handler never ran")
	}
	var none uint64
	if now := sigprocmask(0, &none); now&sigusr1 == 0 {
		t.Errorf("after epoll_pwait the thread's mask is %#x: SIGUSR1 no longer blocked", now)
	}
}

// TestEventfdSemantics: EFD_SEMAPHORE hands the count out one at a time;
// the count stops at 2^64-2, past which a write waits (EAGAIN when
// non-blocking) and the fd is not writable for epoll; a read makes room
// and a blocked writer goes on; 2^64-1 is EINVAL. Runs on the host too.
func TestEventfdSemantics(t *testing.T) {
	eventfd := func(initval uint, flags int) int {
		t.Helper()
		fd, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, uintptr(initval), uintptr(flags|syscall.O_CLOEXEC), 0)
		if e != 0 {
			t.Fatal(e)
		}
		t.Cleanup(func() { syscall.Close(int(fd)) })
		return int(fd)
	}
	put := func(fd int, v uint64) error {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		_, err := syscall.Write(fd, b[:])
		return err
	}
	get := func(fd int) (uint64, error) {
		var b [8]byte
		_, err := syscall.Read(fd, b[:])
		return binary.LittleEndian.Uint64(b[:]), err
	}
	const efdSemaphore = 1

	sem := eventfd(2, efdSemaphore|syscall.O_NONBLOCK)
	if err := put(sem, 1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if v, err := get(sem); v != 1 || err != nil {
			t.Fatalf("EFD_SEMAPHORE read %d: %d, %v; want 1", i, v, err)
		}
	}
	if _, err := get(sem); err != syscall.EAGAIN {
		t.Fatalf("EFD_SEMAPHORE read at 0: %v, want EAGAIN", err)
	}

	const max = ^uint64(0) - 1
	full := eventfd(0, syscall.O_NONBLOCK)
	if err := put(full, max-1); err != nil {
		t.Fatal(err)
	}
	if err := put(full, 2); err != syscall.EAGAIN {
		t.Fatalf("a write past 2^64-2: %v, want EAGAIN", err)
	}
	if err := put(full, ^uint64(0)); err != syscall.EINVAL {
		t.Fatalf("a write of 2^64-1: %v, want EINVAL", err)
	}
	if err := put(full, 1); err != nil {
		t.Fatalf("a write up to 2^64-2: %v", err)
	}
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(ep)
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, full, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT, Fd: int32(full)}); err != nil {
		t.Fatal(err)
	}
	evs := make([]syscall.EpollEvent, 1)
	if n, err := syscall.EpollWait(ep, evs, 0); err != nil || n != 1 || evs[0].Events != syscall.EPOLLIN {
		t.Fatalf("a full eventfd: %d events %#x, %v; want EPOLLIN alone", n, evs[0].Events, err)
	}

	// A blocking writer waits for room, which a read makes.
	blk := eventfd(0, 0)
	if err := put(blk, max); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- put(blk, 5) }()
	select {
	case err := <-done:
		t.Fatalf("a write to a full eventfd returned at once: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if v, err := get(blk); v != max || err != nil {
		t.Fatalf("read of the full count: %d, %v", v, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the waiting write: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting write never went on after a read made room")
	}
	if v, err := get(blk); v != 5 || err != nil {
		t.Fatalf("after the waiting write: %d, %v; want 5", v, err)
	}
}

// TestEventfdConcurrent: a blocking reader and writers on other threads
// hand an eventfd's count back and forth, so reads find it empty and
// sleep while writes land from other CPUs. Every unit written is read
// exactly once and no reader sleeps through a write (in the kernel,
// reads and writes of a resident, aligned word take the lock-free path
// and waits the locked one; this is where the two meet). Runs on the
// host too.
func TestEventfdConcurrent(t *testing.T) {
	fd, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC, 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer syscall.Close(int(fd))
	const writers, each = 2, 3000
	for w := 0; w < writers; w++ {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			one := new(uint64) // the heap: aligned, so the kernel's lock-free path
			*one = 1
			b := unsafe.Slice((*byte)(unsafe.Pointer(one)), 8)
			for i := 0; i < each; i++ {
				if _, err := syscall.Write(int(fd), b); err != nil {
					t.Errorf("write: %v", err)
					return
				}
				if i%64 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	got := new(uint64)
	b := unsafe.Slice((*byte)(unsafe.Pointer(got)), 8)
	// A reader asleep after the last write would never return: the
	// watchdog's write wakes it, and its huge count says what happened.
	const watchdog = 1 << 40
	dog := time.AfterFunc(60*time.Second, func() {
		v := uint64(watchdog)
		syscall.Write(int(fd), unsafe.Slice((*byte)(unsafe.Pointer(&v)), 8))
	})
	defer dog.Stop()
	total, reads := uint64(0), 0
	for total < writers*each {
		n, err := syscall.Read(int(fd), b)
		if err != nil || n != 8 || *got == 0 {
			t.Fatalf("read: %d bytes, count %d, %v", n, *got, err)
		}
		total += *got
		reads++
	}
	if total >= watchdog {
		t.Fatalf("after %d reads, %d of %d units: the reader slept through a write until the watchdog's", reads, total-watchdog, writers*each)
	}
	if total != writers*each {
		t.Fatalf("read %d units, %d written", total, writers*each)
	}
	t.Logf("%d units in %d reads", total, reads)
}

// TestEpollCtlConcurrent: threads add, modify and delete eventfds of
// their own in one epoll instance while another thread waits on it. No
// call fails (a second delete is ENOENT), every record a wait reports
// carries data that an add gave, and once every fd is gone the instance
// reports nothing, then exactly the one fd added afterwards. In the
// kernel epoll_ctl and epoll_wait both run without the kernel lock when
// their buffers are resident. Runs on the host too.
func TestEpollCtlConcurrent(t *testing.T) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(ep)
	const workers, rounds = 3, 400
	stop := make(chan struct{})
	waited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		evs := make([]syscall.EpollEvent, 16)
		for {
			select {
			case <-stop:
				waited <- nil
				return
			default:
			}
			n, err := syscall.EpollWait(ep, evs, 1)
			if err != nil && err != syscall.EINTR {
				waited <- err
				return
			}
			for _, e := range evs[:max(n, 0)] {
				if e.Pad>>16 != 0x7e57 {
					waited <- syscall.EINVAL // data nobody added
					return
				}
			}
		}
	}()
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			one := new(uint64)
			*one = 1
			for i := 0; i < rounds; i++ {
				fd, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
				if e != 0 {
					errs <- e
					return
				}
				ev := &syscall.EpollEvent{Events: syscall.EPOLLIN | edgeTriggered, Fd: int32(fd), Pad: 0x7e57 << 16}
				if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, int(fd), ev); err != nil {
					errs <- err
					return
				}
				syscall.Write(int(fd), unsafe.Slice((*byte)(unsafe.Pointer(one)), 8))
				ev.Events = syscall.EPOLLIN | syscall.EPOLLOUT
				if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_MOD, int(fd), ev); err != nil {
					errs <- err
					return
				}
				if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_DEL, int(fd), nil); err != nil {
					errs <- err
					return
				}
				if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_DEL, int(fd), nil); err != syscall.ENOENT {
					errs <- err
					return
				}
				syscall.Close(int(fd))
			}
			errs <- nil
		}()
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatalf("a worker: %v", err)
		}
	}
	close(stop)
	if err := <-waited; err != nil {
		t.Fatalf("the waiter: %v", err)
	}
	evs := make([]syscall.EpollEvent, 16)
	if n, err := syscall.EpollWait(ep, evs, 0); n != 0 || err != nil {
		t.Fatalf("with every fd deleted the instance reports %d events (%v)", n, err)
	}
	last, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 1, syscall.O_CLOEXEC, 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer syscall.Close(int(last))
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, int(last), &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(last)}); err != nil {
		t.Fatal(err)
	}
	if n, err := syscall.EpollWait(ep, evs, 0); n != 1 || err != nil || evs[0].Fd != int32(last) {
		t.Fatalf("after one more add: %d events %+v (%v), want that fd alone", n, evs[:max(n, 0)], err)
	}
}
