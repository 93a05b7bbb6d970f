//go:build velocity

// Velocity kernel: pipes. os.Pipe needs them (the testing package captures
// example output through one), and they behave as Linux's do: blocking or
// non-blocking, EOF when the writer is gone, EPIPE when the reader is.
//
// Each pipe has its own lock (class "pipes"), for its ring (head, count)
// and its counts of open ends. read and write on a pipe run without the
// kernel lock when they can (vkPipeIOFast, from vkSyscallFine): the fd is
// looked up under vkFDLock, which takes a reference to the description,
// and the bytes move between the ring and user memory through the page
// tables and the direct map (vkPipeXfer), never by a load that could
// fault. A buffer that is not resident, or anything unusual (an error, a
// huge write), goes the locked way, which faults the buffer in first and
// then runs the same code. A blocked reader or writer sleeps on the pipe's
// address in the futex buckets, queued before it lets go of the pipe lock.
// Lock order: kernel lock, vkFDLock, a pipe lock, a futex bucket.

package runtime

import (
	"internal/runtime/atomic"
	"unsafe"
)

const (
	vkPipeSize = 32 << 10
	vkMaxPipes = 512 // buffers are allocated on first use (os TestPipeThreads opens 100)
	oNonblock  = 0x800
	oCloexec   = 0x80000
	// vkPipeFastMax: a lock-free write checks its whole buffer is resident
	// first; longer ones go the locked way.
	vkPipeFastMax = 1 << 20
)

type vkPipe struct {
	lock             vkSpin
	used             bool    // vkFDLock
	buf              uintptr // vkPipeSize bytes of kernel memory
	head, count      int
	readers, writers int
	rfile, wfile     int32 // the ends' descriptions (for a FIFO, the last opened of each; -1 none)
	// fifo is 1 + the /tmp entry of the FIFO this pipe serves (vk_fifo.go),
	// 0 for an anonymous pipe or a FIFO whose name has gone; rOpens and
	// wOpens count the opens of each end, so that an open blocked until
	// the other end is opened sees one that came and went.
	fifo           int32
	rOpens, wOpens uint32
	// rbusy: a splice or tee is moving bytes out of the ring (it copied
	// them and consumes what its destination took, vk_splice.go); wbusy:
	// a splice is filling the room it found. Other readers (writers) wait
	// meanwhile, as on Linux, which holds the pipe's mutex through a
	// splice; non-blocking ones get EAGAIN, and the end of the splice
	// notifies epoll.
	rbusy, wbusy bool
}

var vkPipes [vkMaxPipes]vkPipe

func vkSysPipe2(fds uintptr, flags int32) uintptr {
	if flags&^(oNonblock|oCloexec) != 0 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(fds, 8, true) {
		return vkErr(vkEFAULT)
	}
	pi := vkPipeAlloc()
	if pi < 0 {
		return vkErr(vkENFILE)
	}
	p := &vkPipes[pi]
	ri, rf := vkFileAlloc(fdPipeRead)
	if ri < 0 {
		return vkErr(vkENFILE)
	}
	wi, wf := vkFileAlloc(fdPipeWrite)
	if wi < 0 {
		vkFileUnalloc(ri)
		return vkErr(vkENFILE)
	}
	rf.pipe, wf.pipe = int32(pi), int32(pi)
	rf.nonblock, wf.nonblock = flags&oNonblock != 0, flags&oNonblock != 0
	rf.flags, wf.flags = 0, 1 // O_RDONLY, O_WRONLY
	vkSpinLock(&p.lock)
	p.used, p.head, p.count, p.readers, p.writers, p.rfile, p.wfile = true, 0, 0, 1, 1, ri, wi
	p.fifo = 0
	p.rbusy, p.wbusy = false, false
	vkSpinUnlock(&p.lock)
	cloexec := flags&oCloexec != 0
	r := vkFDInstall(ri, 0, cloexec)
	if r < 0 {
		vkFilePut(ri)
		vkFilePut(wi)
		return vkErr(vkEMFILE)
	}
	w := vkFDInstall(wi, 0, cloexec)
	if w < 0 {
		vkFDClose(r)
		vkFilePut(wi)
		return vkErr(vkEMFILE)
	}
	*(*[2]int32)(unsafe.Pointer(fds)) = [2]int32{r, w}
	return 0
}

// vkPipeAlloc finds a free pipe and gives it a buffer; -1 if none is
// free. The caller holds the kernel lock and marks it used.
func vkPipeAlloc() int32 {
	vkAssertHeld(&vkBKL)
	for i := range vkPipes {
		if p := &vkPipes[i]; !p.used {
			if p.buf == 0 {
				p.buf = vkKernelStack(vkPipeSize) - vkPipeSize // mapped kernel memory, reused
			}
			return int32(i)
		}
	}
	return -1
}

// vkPipeXfer copies n bytes between user memory at u and the ring at
// offset off (to the user with toUser), through the page tables: it
// translates every page first and copies only if all are resident (and
// writable, toUser), reporting whether it did. Nothing between a page's
// translation and its copy spins, so an unmap on another CPU cannot reuse
// the frame meanwhile (its TLB shootdown waits for this CPU). n is at
// most vkPipeSize, so at most 9 pages.
func vkPipeXfer(p *vkPipe, off int, u, n uintptr, toUser bool) bool {
	var pa [vkPipeSize/vkPageSize + 1]uintptr
	if n == 0 {
		return true // and no page to look at (u may be the last one)
	}
	if n > vkPipeSize || u+n < u || vkGuarded(u, u+n) {
		return false // a kernel variable: the locked path says EFAULT
	}
	np := 0
	for va := u &^ (vkPageSize - 1); va < u+n; va += vkPageSize {
		a, ok := vkUserPA(va, toUser)
		if !ok {
			return false
		}
		pa[np] = a
		np++
	}
	done := uintptr(0)
	for done < n {
		va := u + done
		chunk := vkPageSize - va&(vkPageSize-1)
		if chunk > n-done {
			chunk = n - done
		}
		up := pa[(va-u&^(vkPageSize-1))/vkPageSize] + va&(vkPageSize-1)
		// The ring may wrap inside this piece.
		ro := (off + int(done)) % vkPipeSize
		first := uintptr(vkPipeSize - ro)
		if first > chunk {
			first = chunk
		}
		rp := p.buf + uintptr(ro)
		if toUser {
			memmove(unsafe.Pointer(up), unsafe.Pointer(rp), first)
			memmove(unsafe.Pointer(up+first), unsafe.Pointer(p.buf), chunk-first)
		} else {
			memmove(unsafe.Pointer(rp), unsafe.Pointer(up), first)
			memmove(unsafe.Pointer(p.buf), unsafe.Pointer(up+first), chunk-first)
		}
		done += chunk
	}
	return true
}

// vkUserFaultIn makes [u, u+n) resident (writable, with write) so that
// vkPipeXfer finds it; the caller holds the kernel lock, has checked the
// range with vkUserOK, and holds no other lock.
func vkUserFaultIn(u, n uintptr, write bool) {
	vkAssertHeld(&vkBKL)
	// Pages are counted, not compared with u+n: a range in the last page
	// of the address space (vkUserOK passes any buffer with n == 0) made
	// va wrap to 0 and walk every page there is.
	if n == 0 || u+n-1 < u {
		return
	}
	first, last := u&^(vkPageSize-1), (u+n-1)&^(vkPageSize-1)
	for i := uintptr(0); i <= (last-first)/vkPageSize; i++ {
		va := first + i*vkPageSize
		if _, ok := vkUserPA(va, write); !ok {
			vkHandlePageFault(va, write, false)
		}
	}
}

// vkPipeSignalled reports whether the current thread has a signal to take.
func vkPipeSignalled() bool {
	t := vkCur()
	return atomic.Load64(&t.pending)&^t.sigmask != 0
}

// vkPipeRead reads up to n bytes. With locked the caller holds the kernel
// lock; without, it holds none (the lock-free path), and ok false means
// nothing was done and the call must go the locked way.
func vkPipeRead(f *vkFile, buf, n uintptr, canBlock, locked bool) (r uintptr, ok bool) {
	p := &vkPipes[f.pipe]
	if locked {
		if !vkUserOK(buf, n, true) {
			return vkErr(vkEFAULT), true
		}
		m := n
		if m > vkPipeSize {
			m = vkPipeSize
		}
		vkUserFaultIn(buf, m, true)
	}
	vkSpinLock(&p.lock)
	for p.count == 0 || p.rbusy {
		if n == 0 || (p.writers == 0 && !p.rbusy) {
			vkSpinUnlock(&p.lock)
			return 0, true
		}
		if f.nonblock || !canBlock {
			vkSpinUnlock(&p.lock)
			return vkErr(vkEAGAIN), true
		}
		vkSleepOn(uintptr(unsafe.Pointer(p)), &p.lock, 0, locked)
		if vkPipeSignalled() {
			return vkErr(vkERESTARTSYS), true // EINTR, or made again (SA_RESTART)
		}
		if locked {
			// The kernel lock was let go: the mapping may have changed.
			m := n
			if m > vkPipeSize {
				m = vkPipeSize
			}
			if !vkUserOK(buf, m, true) {
				return vkErr(vkEFAULT), true
			}
			vkUserFaultIn(buf, m, true)
		}
		vkSpinLock(&p.lock)
	}
	got := uintptr(p.count)
	if got > n {
		got = n
	}
	if !vkPipeXfer(p, p.head, buf, got, true) {
		vkSpinUnlock(&p.lock)
		if !locked {
			return 0, false
		}
		return vkErr(vkEFAULT), true // unmapped by another thread meanwhile
	}
	p.head = (p.head + int(got)) % vkPipeSize
	p.count -= int(got)
	vkFutexWake(uintptr(unsafe.Pointer(p)), vkMaxThreads)
	rf, wf, fifo := p.rfile, p.wfile, p.fifo != 0
	vkSpinUnlock(&p.lock)
	vkPipeNotify(f.pipe, rf, wf, fifo)
	return got, true
}

// vkPipeNotify tells epoll both ends of pipe pi changed. The pipe's ends
// are read under its lock; both are alive, since the caller holds a
// reference to one and the pipe (so the other's count) is only freed with
// both gone. A FIFO may have several descriptions of each end, and all
// are told.
func vkPipeNotify(pi, rf, wf int32, fifo bool) {
	vkSpinLock(&vkFDLock)
	if fifo {
		vkPipeNotifyAll(pi)
	} else {
		if rf >= 0 {
			vkNotifyLocked(vkFileAt(rf))
		}
		if wf >= 0 {
			vkNotifyLocked(vkFileAt(wf))
		}
	}
	vkSpinUnlock(&vkFDLock)
}

// vkPipeNotifyAll tells epoll every description of pipe pi changed; the
// caller holds vkFDLock.
func vkPipeNotifyAll(pi int32) {
	vkAssertHeld(&vkFDLock)
	for i := int32(0); i < vkFileHigh; i++ {
		if f := vkFileAt(i); (f.kind == fdPipeRead || f.kind == fdPipeWrite) && f.pipe == pi && f.refs > 0 {
			vkNotifyLocked(f)
		}
	}
}

// vkPipeRW reports whether f is a FIFO opened O_RDWR: one description
// that is both a reader and a writer (its kind is fdPipeRead).
func vkPipeRW(f *vkFile) bool { return f.kind == fdPipeRead && f.flags&oAccMode == 2 }

// vkPipeWrite writes n bytes (fewer only if non-blocking, interrupted or
// the reader goes); locked and ok as for vkPipeRead. The lock-free path
// takes a write of at most vkPipeFastMax bytes whose buffer is resident.
func vkPipeWrite(f *vkFile, buf, n uintptr, canBlock, locked bool) (r uintptr, ok bool) {
	p := &vkPipes[f.pipe]
	if locked {
		if !vkUserOK(buf, n, false) {
			return vkErr(vkEFAULT), true
		}
	} else {
		if n > vkPipeFastMax {
			return 0, false
		}
		for va := buf &^ (vkPageSize - 1); va < buf+n; va += vkPageSize {
			if _, ok := vkUserPA(va, false); !ok {
				return 0, false
			}
		}
	}
	put := uintptr(0)
	for put < n {
		if locked {
			m := n - put
			if m > vkPipeSize {
				m = vkPipeSize
			}
			vkUserFaultIn(buf+put, m, false)
		}
		vkSpinLock(&p.lock)
		if p.readers == 0 {
			vkSpinUnlock(&p.lock)
			if put > 0 {
				return put, true
			}
			return vkErr(vkEPIPE), true
		}
		if p.count == vkPipeSize || p.wbusy {
			if f.nonblock || !canBlock {
				vkSpinUnlock(&p.lock)
				if put > 0 {
					return put, true
				}
				return vkErr(vkEAGAIN), true
			}
			vkSleepOn(uintptr(unsafe.Pointer(p)), &p.lock, 0, locked)
			if vkPipeSignalled() {
				if put > 0 {
					return put, true
				}
				return vkErr(vkERESTARTSYS), true // EINTR, or made again (SA_RESTART)
			}
			if locked && !vkUserOK(buf+put, n-put, false) {
				if put > 0 {
					return put, true
				}
				return vkErr(vkEFAULT), true
			}
			continue
		}
		chunk := uintptr(vkPipeSize - p.count)
		if chunk > n-put {
			chunk = n - put
		}
		if !vkPipeXfer(p, p.head+p.count, buf+put, chunk, false) {
			// Unmapped by another thread meanwhile (the locked path
			// faulted it in, the lock-free one checked it).
			vkSpinUnlock(&p.lock)
			if put > 0 {
				return put, true
			}
			if !locked {
				return 0, false
			}
			return vkErr(vkEFAULT), true
		}
		p.count += int(chunk)
		put += chunk
		vkFutexWake(uintptr(unsafe.Pointer(p)), vkMaxThreads)
		rf, wf, fifo := p.rfile, p.wfile, p.fifo != 0
		vkSpinUnlock(&p.lock)
		vkPipeNotify(f.pipe, rf, wf, fifo)
	}
	return put, true
}

// vkPipeIOFast is read or write on a pipe end or an eventfd without the
// kernel lock; ok false: neither (or a pipe end of the other direction),
// or the call needs the locked way (see the file comment and
// vkEventfdFast), and nothing was done.
func vkPipeIOFast(fd int32, buf, n uintptr, write bool) (r uintptr, ok bool) {
	if fd < 0 || fd >= vkMaxFDs || buf+n < buf || buf+n > vkUserMax {
		return 0, false // the locked way gives the errors
	}
	want := int32(fdPipeRead)
	if write {
		want = fdPipeWrite
	}
	vkSpinLock(&vkFDLock)
	i := vkFDs[fd].file - 1
	if i >= 0 && vkFileAt(i).kind == fdEventfd {
		r, ok = vkEventfdFast(vkFileAt(i), buf, n, write) // its count is vkFDLock's (vk_fd.go)
		vkSpinUnlock(&vkFDLock)
		return r, ok
	}
	if i < 0 || vkFileAt(i).kind != want && !(write && vkPipeRW(vkFileAt(i))) {
		vkSpinUnlock(&vkFDLock)
		return 0, false
	}
	f := vkFileAt(i)
	f.refs++
	vkSpinUnlock(&vkFDLock)
	if write {
		r, ok = vkPipeWrite(f, buf, n, true, false)
	} else {
		r, ok = vkPipeRead(f, buf, n, true, false)
	}
	vkFilePut(i)
	return r, ok
}

// vkPipeRelease drops description i, an end of a pipe; the other end sees
// EOF or EPIPE once no description of this end is left. The caller holds
// vkFDLock (vkFilePut, the end's last reference).
func vkPipeRelease(i int32, f *vkFile) {
	vkAssertHeld(&vkFDLock)
	p := &vkPipes[f.pipe]
	vkSpinLock(&p.lock)
	if f.kind == fdPipeRead {
		p.readers--
		if p.rfile == i {
			p.rfile = -1
		}
	}
	if f.kind == fdPipeWrite || vkPipeRW(f) {
		p.writers--
		if p.wfile == i {
			p.wfile = -1
		}
	}
	vkFutexWake(uintptr(unsafe.Pointer(p)), vkMaxThreads)
	rf, wf, fifo := p.rfile, p.wfile, p.fifo != 0
	if p.readers == 0 && p.writers == 0 {
		p.used = false // a FIFO's bytes go with its last open, as on Linux
	}
	vkSpinUnlock(&p.lock)
	if fifo {
		vkPipeNotifyAll(f.pipe) // f itself has no references left: skipped
		return
	}
	if rf >= 0 {
		vkNotifyLocked(vkFileAt(rf))
	}
	if wf >= 0 {
		vkNotifyLocked(vkFileAt(wf))
	}
}
