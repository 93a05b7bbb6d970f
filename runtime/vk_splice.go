//go:build velocity

// Velocity kernel: sendfile(2), splice(2) and tee(2), as Linux has them.
//
//   - sendfile(out, in, offset, count): in is a regular file (the image's
//     or /tmp's), read at *offset (which is advanced, the file's position
//     staying put) or at its position (which moves); out is a socket, a
//     pipe, a /tmp file, a device or the console.
//   - splice(in, off_in, out, off_out, len, flags): one side is a pipe,
//     the other a pipe, a socket or a file (a /tmp file either way, an
//     image file as the source, a device or the console as the
//     destination).
//   - tee(in, out, len, flags): two pipes; the bytes stay in the first.
//
// The bytes go through a bounce buffer of the kernel's (vkSpliceBuf: a
// fixed pool, never sized by the caller's count), one chunk at a time;
// only an image file sent to a socket needs none, since its bytes never
// change: the server reads them where they are. A socket is read or
// written by the same forwarded request as read(2) and write(2)
// (vkNetCall), so it blocks, or not, as they do: by the socket's own
// O_NONBLOCK. The pipe side blocks unless SPLICE_F_NONBLOCK is given or
// the pipe end is non-blocking (Linux 6.x adds the pipe's O_NONBLOCK to
// the flags too); a blocked pipe side is interrupted by a signal (EINTR,
// as this kernel's pipe reads and writes give; Go retries it).
//
// While a splice moves bytes out of a pipe, it has copied them to its
// buffer and consumes from the ring only what the destination took
// (a non-blocking socket may take part): meanwhile the pipe is marked
// rbusy and other readers wait (vk_pipe.go). A splice into a pipe marks
// it wbusy while its source is read, so the room it found is still there
// when the bytes come. Linux holds the pipe's mutex through a splice,
// with the same effect. SPLICE_F_MOVE and SPLICE_F_MORE are hints Linux
// accepts and this kernel has no use for; SPLICE_F_GIFT is vmsplice's.
//
// Trap context with the kernel lock held, released only while asleep
// (vkBlock, vkSleepOn, a forwarded socket call); every description used
// across a sleep is held by a reference (vkFileGet), as the calls on an
// fd that may be closed meanwhile do.

package runtime

import "unsafe"

const (
	vkSpliceBufSize = 32 << 10 // one bounce buffer: the pipe's size
	vkSpliceBufs    = 16       // the pool; a caller waits when all are in use
	// vkSpliceImageMax is the most an image file sends to a socket in one
	// request to the server (no buffer: the server reads the image).
	vkSpliceImageMax = 256 << 10
	vkMaxRWCount     = 0x7ffff000 // Linux's MAX_RW_COUNT: the most one call moves

	spliceFNonblock = 2
	spliceFAll      = 0xf // MOVE, NONBLOCK, MORE, GIFT
)

// vkSpliceBuf is the pool of bounce buffers, kernel memory mapped on
// first use and kept (kernel lock).
var vkSpliceBuf struct {
	addr [vkSpliceBufs]uintptr
	busy [vkSpliceBufs]bool
}

// vkSpliceBufGet takes a bounce buffer, waiting for one if all are in use
// (-1 if the caller may not sleep).
func vkSpliceBufGet(canBlock bool) int {
	for {
		for i := range vkSpliceBuf.busy {
			if !vkSpliceBuf.busy[i] {
				if vkSpliceBuf.addr[i] == 0 {
					vkSpliceBuf.addr[i] = vkKernelStack(vkSpliceBufSize) - vkSpliceBufSize
				}
				vkSpliceBuf.busy[i] = true
				return i
			}
		}
		if !canBlock {
			return -1
		}
		t := vkCur()
		t.waitAddr = uintptr(unsafe.Pointer(&vkSpliceBuf))
		vkBlock(0)
	}
}

func vkSpliceBufPut(i int) {
	vkSpliceBuf.busy[i] = false
	vkFutexWake(uintptr(unsafe.Pointer(&vkSpliceBuf)), 1)
}

// vkSpliceReadable and vkSpliceWritable say whether a description was
// opened for reading (writing): Linux's FMODE_READ and FMODE_WRITE.
func vkSpliceReadable(f *vkFile) bool {
	switch f.kind {
	case fdEpoll, fdEventfd, fdPipeRead:
		return true
	case fdPipeWrite:
		return false
	}
	return f.flags&oAccMode != 1
}

func vkSpliceWritable(f *vkFile) bool {
	switch f.kind {
	case fdEpoll, fdEventfd, fdPipeWrite:
		return true
	case fdPipeRead:
		return false
	}
	return f.flags&oAccMode != 0
}

// vkSpliceSeekable: what takes an offset (pread), Linux's FMODE_PREAD.
func vkSpliceSeekable(f *vkFile) bool {
	switch f.kind {
	case fdRegular, fdDir, fdTmpFile, fdTmpDir, fdDevice:
		return true
	}
	return false
}

func vkSpliceIsPipe(f *vkFile) bool { return f.kind == fdPipeRead || f.kind == fdPipeWrite }

// vkSpliceRWCheck is Linux's rw_verify_area for an offset and a count:
// a count above SSIZE_MAX, a negative offset, or a range past the
// largest offset are EINVAL.
func vkSpliceRWCheck(pos int64, n uintptr) int {
	if int64(n) < 0 || pos < 0 || pos+int64(n) < 0 {
		return vkEINVAL
	}
	return 0
}

// vkSpliceEnd is the side of a transfer that is not a pipe: a file with
// the offset it is read or written at, or a socket.
type vkSpliceEnd struct {
	f   *vkFile
	idx int32 // its description index, held by a reference
	pos int64
}

// vkSpliceCanRead: what splice and sendfile read (Linux's splice_read):
// files and sockets. vkSpliceCanWrite: what they write (splice_write).
func vkSpliceCanRead(f *vkFile) bool {
	return f.kind == fdRegular || f.kind == fdTmpFile || f.kind == fdSocket
}

func vkSpliceCanWrite(f *vkFile) bool {
	switch f.kind {
	case fdSocket, fdTmpFile, fdDevice:
		return true
	case fdConsole:
		return f.ent == 1
	}
	return false
}

// vkSpliceRead reads up to n bytes from s into the kernel buffer kb: a
// file at s.pos (advanced), or a socket, which blocks unless non-blocking.
func vkSpliceRead(s *vkSpliceEnd, kb, n uintptr, canBlock bool) int64 {
	switch s.f.kind {
	case fdRegular:
		data, size := vkFileData(s.f)
		if s.pos >= size {
			return 0
		}
		if rem := uintptr(size - s.pos); n > rem {
			n = rem
		}
		memmove(unsafe.Pointer(kb), unsafe.Pointer(data+uintptr(s.pos)), n)
		s.pos += int64(n)
		return int64(n)
	case fdTmpFile:
		r := int64(vkTmpCopy(&vkTmp.ents[s.f.ent], kb, n, s.pos, false))
		if r > 0 {
			s.pos += r
		}
		return r
	case fdSocket:
		return int64(vkNetCall(0, [6]uintptr{0, kb, n}, s.f, s.idx, canBlock))
	}
	return -vkEINVAL
}

// vkSpliceWrite writes the n bytes at kb to s: a /tmp file at s.pos
// (advanced), a socket (all of them unless it is non-blocking), a device
// (which discards them) or the console.
func vkSpliceWrite(s *vkSpliceEnd, kb, n uintptr, canBlock bool) int64 {
	switch s.f.kind {
	case fdSocket:
		return int64(vkNetCall(1, [6]uintptr{0, kb, n}, s.f, s.idx, canBlock))
	case fdTmpFile:
		r := int64(vkTmpCopy(&vkTmp.ents[s.f.ent], kb, n, s.pos, true))
		if r > 0 {
			s.pos += r
		}
		return r
	case fdDevice:
		return int64(n)
	case fdConsole:
		if s.f.ent == 1 {
			vkWrite(unsafe.Slice((*byte)(unsafe.Pointer(kb)), n))
			return int64(n)
		}
	}
	return -vkEINVAL
}

// vkPipeCopy copies n bytes between the ring of p at offset off (taken
// modulo its size) and the kernel buffer kb: out of the ring with out.
// The caller holds p's lock.
func vkPipeCopy(p *vkPipe, off int, kb, n uintptr, out bool) {
	vkAssertHeld(&p.lock)
	ro := off % vkPipeSize
	first := uintptr(vkPipeSize - ro)
	if first > n {
		first = n
	}
	rp := p.buf + uintptr(ro)
	if out {
		memmove(unsafe.Pointer(kb), unsafe.Pointer(rp), first)
		memmove(unsafe.Pointer(kb+first), unsafe.Pointer(p.buf), n-first)
	} else {
		memmove(unsafe.Pointer(rp), unsafe.Pointer(kb), first)
		memmove(unsafe.Pointer(p.buf), unsafe.Pointer(kb+first), n-first)
	}
}

// vkSplicePipeWait sleeps on p (whose lock the caller holds, with the
// kernel lock) and takes the lock again; it reports false, with neither
// p's lock held, if a signal came.
func vkSplicePipeWait(p *vkPipe) bool {
	vkSleepOn(uintptr(unsafe.Pointer(p)), &p.lock, 0, true)
	if vkPipeSignalled() {
		return false
	}
	vkSpinLock(&p.lock)
	return true
}

// vkSplicePipeDone wakes p's sleepers, lets go of its lock and tells
// epoll both ends changed.
func vkSplicePipeDone(p *vkPipe) {
	vkFutexWake(uintptr(unsafe.Pointer(p)), vkMaxThreads)
	rf, wf, fifo := p.rfile, p.wfile, p.fifo != 0
	vkSpinUnlock(&p.lock)
	pi := int32((uintptr(unsafe.Pointer(p)) - uintptr(unsafe.Pointer(&vkPipes[0]))) / unsafe.Sizeof(*p))
	vkPipeNotify(pi, rf, wf, fifo)
}

// vkSplicePipePut writes up to n bytes from kb to the pipe whose write
// end is out, as much as there is room for, waiting for room unless
// nonblock: EPIPE without readers.
func vkSplicePipePut(out *vkFile, kb, n uintptr, nonblock, canBlock bool) int64 {
	p := &vkPipes[out.pipe]
	vkSpinLock(&p.lock)
	for {
		if p.readers == 0 {
			vkSpinUnlock(&p.lock)
			return -vkEPIPE
		}
		if p.count < vkPipeSize && !p.wbusy {
			break
		}
		if (nonblock && !p.wbusy) || !canBlock {
			vkSpinUnlock(&p.lock)
			return -vkEAGAIN
		}
		if !vkSplicePipeWait(p) {
			return -vkEINTR
		}
	}
	if room := uintptr(vkPipeSize - p.count); n > room {
		n = room
	}
	vkPipeCopy(p, p.head+p.count, kb, n, false)
	p.count += int(n)
	vkSplicePipeDone(p)
	return int64(n)
}

// vkSpliceFromPipe moves up to n bytes (tee, !consume: copies them) from
// the pipe whose read end is in to the pipe whose write end is out, or,
// with out nil, to end. It waits for bytes unless nonblock; with no
// writer left it returns 0. Only what the destination took leaves the
// pipe.
func vkSpliceFromPipe(in, out *vkFile, end *vkSpliceEnd, n uintptr, nonblock, consume, canBlock bool) int64 {
	b := vkSpliceBufGet(canBlock)
	if b < 0 {
		return -vkEAGAIN
	}
	kb := vkSpliceBuf.addr[b]
	p := &vkPipes[in.pipe]
	vkSpinLock(&p.lock)
	for p.count == 0 || p.rbusy {
		if p.writers == 0 && !p.rbusy {
			vkSpinUnlock(&p.lock)
			vkSpliceBufPut(b)
			return 0
		}
		if (nonblock && !p.rbusy) || !canBlock {
			vkSpinUnlock(&p.lock)
			vkSpliceBufPut(b)
			return -vkEAGAIN
		}
		if !vkSplicePipeWait(p) {
			vkSpliceBufPut(b)
			return -vkEINTR
		}
	}
	m := uintptr(p.count)
	if m > n {
		m = n
	}
	if m > vkSpliceBufSize {
		m = vkSpliceBufSize
	}
	vkPipeCopy(p, p.head, kb, m, true)
	p.rbusy = true
	vkSpinUnlock(&p.lock)
	var r int64
	if out != nil {
		r = vkSplicePipePut(out, kb, m, nonblock, canBlock)
	} else {
		r = vkSpliceWrite(end, kb, m, canBlock)
	}
	vkSpinLock(&p.lock)
	if r > 0 && consume {
		p.head = (p.head + int(r)) % vkPipeSize
		p.count -= int(r)
	}
	p.rbusy = false
	vkSplicePipeDone(p)
	vkSpliceBufPut(b)
	return r
}

// vkSpliceToPipe moves up to n bytes from src (a file at src.pos, or a
// socket) to the pipe whose write end is out: at most the room the pipe
// has, waiting for room unless nonblock; EPIPE without readers.
func vkSpliceToPipe(out *vkFile, src *vkSpliceEnd, n uintptr, nonblock, canBlock bool) int64 {
	b := vkSpliceBufGet(canBlock)
	if b < 0 {
		return -vkEAGAIN
	}
	kb := vkSpliceBuf.addr[b]
	p := &vkPipes[out.pipe]
	vkSpinLock(&p.lock)
	for {
		if p.readers == 0 {
			vkSpinUnlock(&p.lock)
			vkSpliceBufPut(b)
			return -vkEPIPE
		}
		if p.count < vkPipeSize && !p.wbusy {
			break
		}
		if (nonblock && !p.wbusy) || !canBlock {
			vkSpinUnlock(&p.lock)
			vkSpliceBufPut(b)
			return -vkEAGAIN
		}
		if !vkSplicePipeWait(p) {
			vkSpliceBufPut(b)
			return -vkEINTR
		}
	}
	if room := uintptr(vkPipeSize - p.count); n > room {
		n = room
	}
	p.wbusy = true
	vkSpinUnlock(&p.lock)
	var r int64
	switch {
	case n == 0:
	case !vkSpliceCanRead(src.f):
		r = -vkEINVAL // Linux: no splice_read, after the wait for room
	default:
		r = vkSpliceRead(src, kb, n, canBlock) // n <= vkPipeSize: the buffer's size
	}
	vkSpinLock(&p.lock)
	if r > 0 {
		vkPipeCopy(p, p.head+p.count, kb, uintptr(r), false)
		p.count += int(r)
	}
	p.wbusy = false
	vkSplicePipeDone(p)
	vkSpliceBufPut(b)
	return r
}

// vkSysSendfile is sendfile(2); offp, when not 0, is read first and
// written back last, whatever happened between (Linux's order).
func vkSysSendfile(outFD, inFD int32, offp, count uintptr, canBlock bool) uintptr {
	var pos int64
	if offp != 0 {
		if !vkUserOK(offp, 8, false) {
			return vkErr(vkEFAULT)
		}
		pos = *(*int64)(unsafe.Pointer(offp))
	}
	r := vkSendfile(outFD, inFD, offp != 0, &pos, count, canBlock)
	if offp != 0 {
		if !vkUserOK(offp, 8, true) {
			return vkErr(vkEFAULT)
		}
		*(*int64)(unsafe.Pointer(offp)) = pos
	}
	return uintptr(r)
}

// vkSendfile does sendfile's work; with usePos the input is read at *pos
// (advanced by what was sent), else at its position.
func vkSendfile(outFD, inFD int32, usePos bool, pos *int64, count uintptr, canBlock bool) int64 {
	in := vkFDFile(inFD)
	if in == nil || !vkSpliceReadable(in) {
		return -vkEBADF
	}
	start := in.off
	if usePos {
		if !vkSpliceSeekable(in) {
			return -vkESPIPE
		}
		start = *pos
	}
	if e := vkSpliceRWCheck(start, count); e != 0 {
		return -int64(e)
	}
	if count > vkMaxRWCount {
		count = vkMaxRWCount
	}
	out := vkFDFile(outFD)
	if out == nil || !vkSpliceWritable(out) {
		return -vkEBADF
	}
	if !vkSpliceIsPipe(out) {
		if out.flags&oAppend != 0 {
			return -vkEINVAL
		}
		if in.kind != fdRegular && in.kind != fdTmpFile {
			return -vkEINVAL // only a regular file sends to a non-pipe
		}
	}
	ii, oi := vkFileHold(in), vkFileHold(out)
	src := vkSpliceEnd{f: in, idx: ii, pos: start}
	var r int64
	if vkSpliceIsPipe(out) {
		r = vkSpliceToPipe(out, &src, count, out.nonblock, canBlock)
	} else {
		dst := vkSpliceEnd{f: out, idx: oi, pos: out.off}
		r = vkSendfileTo(&src, &dst, count, canBlock)
		if r > 0 && out.kind == fdTmpFile {
			out.off = dst.pos
		}
	}
	if r > 0 {
		if usePos {
			*pos = src.pos
		} else if in.kind != fdSocket {
			in.off = src.pos
		}
	}
	vkFilePut(oi)
	vkFilePut(ii)
	return r
}

// vkSendfileTo sends up to count bytes of the regular file src to dst
// (not a pipe), chunk by chunk, until the file ends, dst takes less than
// it was given (a non-blocking socket is full) or a signal is pending.
func vkSendfileTo(src, dst *vkSpliceEnd, count uintptr, canBlock bool) int64 {
	b := -1
	total := int64(0)
	for uintptr(total) < count {
		want := count - uintptr(total)
		var got, r int64
		if src.f.kind == fdRegular && dst.f.kind == fdSocket {
			// The image never changes: the server reads it in place.
			data, size := vkFileData(src.f)
			if src.pos >= size {
				break
			}
			m := uintptr(size - src.pos)
			if m > want {
				m = want
			}
			if m > vkSpliceImageMax {
				m = vkSpliceImageMax
			}
			got = int64(m)
			r = int64(vkNetCall(1, [6]uintptr{0, data + uintptr(src.pos), m}, dst.f, dst.idx, canBlock))
			if r > 0 {
				src.pos += r
			}
		} else {
			if b < 0 {
				if b = vkSpliceBufGet(canBlock); b < 0 {
					if total == 0 {
						total = -vkEAGAIN
					}
					break
				}
			}
			kb := vkSpliceBuf.addr[b]
			m := want
			if m > vkSpliceBufSize {
				m = vkSpliceBufSize
			}
			if got = vkSpliceRead(src, kb, m, canBlock); got <= 0 {
				if got < 0 && total == 0 {
					total = got
				}
				break
			}
			r = vkSpliceWrite(dst, kb, uintptr(got), canBlock)
			if r < got {
				// What dst did not take is read again next time.
				src.pos -= got - max(r, 0)
			}
		}
		if r < 0 {
			if total == 0 {
				total = r
			}
			break
		}
		total += r
		if r < got || vkPipeSignalled() {
			break
		}
	}
	if b >= 0 {
		vkSpliceBufPut(b)
	}
	return total
}

// vkSysSplice is splice(2), checking in Linux's order: a zero length (0),
// flags (EINVAL), fds (EBADF), an offset for a pipe (ESPIPE), the offsets'
// memory (EFAULT), the access modes (EBADF), then per direction.
func vkSysSplice(fdIn int32, offIn uintptr, fdOut int32, offOut uintptr, n uintptr, flags uint32, canBlock bool) uintptr {
	if n == 0 {
		return 0
	}
	if flags&^spliceFAll != 0 {
		return vkErr(vkEINVAL)
	}
	in, out := vkFDFile(fdIn), vkFDFile(fdOut)
	if in == nil || out == nil {
		return vkErr(vkEBADF)
	}
	ipipe, opipe := vkSpliceIsPipe(in), vkSpliceIsPipe(out)
	if (ipipe && offIn != 0) || (opipe && offOut != 0) {
		return vkErr(vkESPIPE)
	}
	var pos int64
	for _, o := range [2]uintptr{offIn, offOut} {
		if o != 0 {
			if !vkUserOK(o, 8, false) {
				return vkErr(vkEFAULT)
			}
			pos = *(*int64)(unsafe.Pointer(o))
		}
	}
	if !vkSpliceReadable(in) || !vkSpliceWritable(out) {
		return vkErr(vkEBADF)
	}
	nonblock := flags&spliceFNonblock != 0
	var r int64
	var end vkSpliceEnd
	switch {
	case ipipe && opipe:
		if in.pipe == out.pipe {
			return vkErr(vkEINVAL)
		}
		ii, oi := vkFileHold(in), vkFileHold(out)
		r = vkSpliceFromPipe(in, out, nil, n, nonblock || in.nonblock || out.nonblock, true, canBlock)
		vkFilePut(oi)
		vkFilePut(ii)
		return uintptr(r)
	case ipipe:
		if offOut != 0 && !vkSpliceSeekable(out) {
			return vkErr(vkEINVAL)
		}
		if offOut == 0 {
			pos = out.off
		}
		if out.flags&oAppend != 0 {
			return vkErr(vkEINVAL)
		}
		if e := vkSpliceRWCheck(pos, n); e != 0 {
			return vkErr(e)
		}
		if !vkSpliceCanWrite(out) {
			return vkErr(vkEINVAL)
		}
		ii, oi := vkFileHold(in), vkFileHold(out)
		end = vkSpliceEnd{f: out, idx: oi, pos: pos}
		r = vkSpliceFromPipe(in, nil, &end, n, nonblock || in.nonblock, true, canBlock)
		if r > 0 && offOut == 0 && out.kind == fdTmpFile {
			out.off = end.pos
		}
		vkFilePut(oi)
		vkFilePut(ii)
	case opipe:
		if offIn != 0 && !vkSpliceSeekable(in) {
			return vkErr(vkEINVAL)
		}
		if offIn == 0 {
			pos = in.off
		}
		if e := vkSpliceRWCheck(pos, n); e != 0 {
			return vkErr(e)
		}
		ii, oi := vkFileHold(in), vkFileHold(out)
		end = vkSpliceEnd{f: in, idx: ii, pos: pos}
		r = vkSpliceToPipe(out, &end, n, nonblock || out.nonblock, canBlock)
		if r > 0 && offIn == 0 && in.kind != fdSocket {
			in.off = end.pos
		}
		vkFilePut(oi)
		vkFilePut(ii)
	default:
		return vkErr(vkEINVAL) // no pipe on either side
	}
	if r < 0 {
		return uintptr(r)
	}
	for _, o := range [2]uintptr{offIn, offOut} {
		if o != 0 {
			if !vkUserOK(o, 8, true) {
				return vkErr(vkEFAULT)
			}
			*(*int64)(unsafe.Pointer(o)) = end.pos
		}
	}
	return uintptr(r)
}

// vkSysTee is tee(2): up to n bytes of the pipe in are copied to the pipe
// out and stay in the first; anything but two different pipes is EINVAL.
func vkSysTee(fdIn, fdOut int32, n uintptr, flags uint32, canBlock bool) uintptr {
	if flags&^spliceFAll != 0 {
		return vkErr(vkEINVAL)
	}
	if n == 0 {
		return 0
	}
	in, out := vkFDFile(fdIn), vkFDFile(fdOut)
	if in == nil || out == nil {
		return vkErr(vkEBADF)
	}
	if !vkSpliceReadable(in) || !vkSpliceWritable(out) {
		return vkErr(vkEBADF)
	}
	if !vkSpliceIsPipe(in) || !vkSpliceIsPipe(out) || in.pipe == out.pipe {
		return vkErr(vkEINVAL)
	}
	nonblock := flags&spliceFNonblock != 0 || in.nonblock || out.nonblock
	ii, oi := vkFileHold(in), vkFileHold(out)
	r := vkSpliceFromPipe(in, out, nil, n, nonblock, false, canBlock)
	vkFilePut(oi)
	vkFilePut(ii)
	return uintptr(r)
}
