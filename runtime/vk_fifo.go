//go:build velocity

// Velocity kernel: named pipes (FIFOs) under /tmp, made by mknodat (and
// mkfifo, which is mknodat with S_IFIFO).
//
// Why: programs and tests use FIFOs as rendezvous points between
// goroutines or with the shell (os TestFifoEOF, TestNonPollable); they are
// pollable, so Go's os package puts them in the netpoller.
//
// A FIFO is a /tmp entry (vkTmpEnt.fifo) and, while anyone has it open,
// a pipe of vk_pipe.go (vkTmpEnt.pipe names it; vkPipe.fifo names the
// entry back). Every open makes a description of its own: O_RDONLY a
// reader (kind fdPipeRead), O_WRONLY a writer (fdPipeWrite), O_RDWR one
// description that is both (fdPipeRead with the access mode O_RDWR,
// vkPipeRW). Opens follow Linux: O_RDONLY waits for a writer and O_WRONLY
// for a reader unless O_NONBLOCK is set (then O_WRONLY with no reader is
// ENXIO); O_RDWR never waits. The bytes go with the last close. An
// unlinked FIFO that is still open goes on as an anonymous pipe.
//
// Locking: the kernel lock for the /tmp entry and the pipe's allocation;
// the pipe's lock for its counts; a blocked open sleeps on the pipe's
// address as a blocked read does.

package runtime

import "unsafe"

const sIFIFO = 0o010000

var vkFifoLogged bool

// vkSysMknodat serves mknodat(dirfd, path, mode, dev): FIFOs and
// regular files under /tmp. The type is checked first, as Linux's
// may_mknod does; device and socket nodes are not offered (EPERM, said
// once on the console).
func vkSysMknodat(dirfd int32, upath uintptr, mode, dev uint32) uintptr {
	switch mode & sIFMT {
	case 0, sIFREG, sIFIFO:
	case 0o020000, 0o060000, 0o140000: // S_IFCHR, S_IFBLK, S_IFSOCK
		if !vkFifoLogged {
			vkFifoLogged = true
			vkPrint("velocity: mknodat: device and socket nodes are not offered, only FIFOs and files -> EPERM\n")
		}
		return vkErr(vkEPERM)
	case sIFDIR:
		return vkErr(vkEPERM)
	default:
		return vkErr(vkEINVAL)
	}
	full, e := vkFSResolveAtParent(dirfd, upath)
	if e != 0 {
		return e
	}
	if vkFS.walk.pwDots != 0 {
		return vkErr(vkEEXIST) // "." and ".." always exist
	}
	if vkFS.walk.pwSlash { // "name/" names a directory: only a name that exists has an answer
		if vkTmpLookupName(full) != -1 || !vkTmpOwns(full) && vkLookup(full) != -1 {
			return vkErr(vkEEXIST)
		}
		return vkErr(vkENOENT)
	}
	if !vkTmpOwns(full) {
		if vkLookup(full) != -1 {
			return vkErr(vkEEXIST)
		}
		return vkErr(vkEROFS)
	}
	if vkTmpLookupName(full) != -1 {
		return vkErr(vkEEXIST)
	}
	idx, e := vkTmpCreate(full, false, mode)
	if e != 0 {
		return e
	}
	vkTmp.ents[idx].fifo = mode&sIFMT == sIFIFO
	return 0
}

// vkFifoOpen opens the FIFO of /tmp entry idx (flags as given to open).
func vkFifoOpen(idx int, flags int32) uintptr {
	acc := flags & oAccMode
	if acc == 3 {
		return vkErr(vkEINVAL)
	}
	e := &vkTmp.ents[idx]
	pi := e.pipe - 1
	if pi < 0 || !vkPipes[pi].used || vkPipes[pi].fifo != int32(idx)+1 {
		pi = vkPipeAlloc()
		if pi < 0 {
			return vkErr(vkENFILE)
		}
		p := &vkPipes[pi]
		vkSpinLock(&p.lock)
		p.used, p.head, p.count, p.readers, p.writers = true, 0, 0, 0, 0
		p.rfile, p.wfile, p.fifo, p.rOpens, p.wOpens = -1, -1, int32(idx)+1, 0, 0
		p.rbusy, p.wbusy = false, false
		vkSpinUnlock(&p.lock)
		e.pipe = pi + 1
	}
	p := &vkPipes[pi]
	kind := int32(fdPipeRead)
	if acc == 1 {
		kind = fdPipeWrite
	}
	i, f := vkFileAlloc(kind)
	if i < 0 {
		vkFifoUnused(p)
		return vkErr(vkENFILE)
	}
	f.pipe, f.ent, f.flags, f.nonblock = pi, int32(idx), acc, flags&oNonblock != 0
	vkSpinLock(&p.lock)
	if acc == 1 && f.nonblock && p.readers == 0 {
		vkSpinUnlock(&p.lock)
		vkFileUnalloc(i)
		vkFifoUnused(p)
		return vkErr(vkENXIO)
	}
	if acc != 1 {
		p.readers++
		p.rOpens++
		p.rfile = i
	}
	if acc != 0 {
		p.writers++
		p.wOpens++
		p.wfile = i
	}
	if acc == 0 && f.nonblock && p.writers == 0 {
		// epoll reports no hang-up until a writer has come and gone:
		// f.off keeps the count of writers' opens it must differ from
		// (Linux's f_version). Otherwise 0, as any count of 1 or more
		// differs.
		f.off = int64(p.wOpens)
	}
	vkFutexWake(uintptr(unsafe.Pointer(p)), vkMaxThreads)
	// Wait for the other end, unless O_RDWR or O_NONBLOCK: until one is
	// open, or has been opened since (and perhaps closed again).
	r0, w0 := p.rOpens, p.wOpens
	if acc != 2 && !f.nonblock {
		for {
			if acc == 0 && (p.writers > 0 || p.wOpens != w0) {
				break
			}
			if acc == 1 && (p.readers > 0 || p.rOpens != r0) {
				break
			}
			if vkPipeSignalled() {
				vkSpinUnlock(&p.lock)
				vkFilePut(i)                // drops this end again
				return vkErr(vkERESTARTSYS) // EINTR, or opened again (SA_RESTART)
			}
			vkSleepOn(uintptr(unsafe.Pointer(p)), &p.lock, 0, true)
			vkSpinLock(&p.lock)
		}
	}
	vkSpinUnlock(&p.lock)
	vkSpinLock(&vkFDLock)
	vkPipeNotifyAll(pi)
	vkSpinUnlock(&vkFDLock)
	fd := vkFDInstall(i, 0, flags&oCloexec != 0)
	if fd < 0 {
		vkFilePut(i)
		return vkErr(vkEMFILE)
	}
	return uintptr(fd)
}

// vkFifoUnused frees a FIFO's pipe that an open allocated and could not
// use (no end was ever counted on it).
func vkFifoUnused(p *vkPipe) {
	vkSpinLock(&p.lock)
	if p.readers == 0 && p.writers == 0 {
		p.used = false
	}
	vkSpinUnlock(&p.lock)
}

// vkFifoForget detaches /tmp entry idx, whose name is gone for good,
// from its pipe: descriptions still open go on with an anonymous pipe.
func vkFifoForget(idx int) {
	e := &vkTmp.ents[idx]
	if !e.fifo || e.pipe == 0 {
		return
	}
	p := &vkPipes[e.pipe-1]
	vkSpinLock(&p.lock)
	if p.fifo == int32(idx)+1 {
		p.fifo = 0
	}
	vkSpinUnlock(&p.lock)
	e.pipe = 0
}
