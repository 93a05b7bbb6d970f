//go:build velocity

// Velocity kernel: pipes. os.Pipe needs them (the testing package captures
// example output through one), and they behave as Linux's do: blocking or
// non-blocking, EOF when the writer is gone, EPIPE when the reader is.

package runtime

import "unsafe"

const (
	vkPipeSize = 32 << 10
	vkMaxPipes = 512 // half the fd table; buffers are allocated on first use (os TestPipeThreads opens 100)
	oNonblock  = 0x800
	oCloexec   = 0x80000
)

type vkPipe struct {
	used             bool
	buf              uintptr // vkPipeSize bytes of kernel memory
	head, count      int
	readers, writers int
	rfd, wfd         int32
}

var vkPipes [vkMaxPipes]vkPipe

func vkSysPipe2(fds uintptr, flags int32) uintptr {
	if flags&^(oNonblock|oCloexec) != 0 {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(fds, 8, true) {
		return vkErr(vkEFAULT)
	}
	pi := -1
	for i := range vkPipes {
		if !vkPipes[i].used {
			pi = i
			break
		}
	}
	if pi < 0 {
		return vkErr(vkENFILE)
	}
	r := vkFDAlloc(fdPipeRead)
	if r < 0 {
		return vkErr(vkEMFILE)
	}
	w := vkFDAlloc(fdPipeWrite)
	if w < 0 {
		vkFDs[r] = vkFile{}
		return vkErr(vkEMFILE)
	}
	p := &vkPipes[pi]
	if p.buf == 0 {
		p.buf = vkKernelStack(vkPipeSize) - vkPipeSize // mapped kernel memory, reused
	}
	p.used, p.head, p.count, p.readers, p.writers, p.rfd, p.wfd = true, 0, 0, 1, 1, r, w
	for _, fd := range [2]int32{r, w} {
		vkFDs[fd].pipe = int32(pi)
		vkFDs[fd].nonblock = flags&oNonblock != 0
	}
	*(*[2]int32)(unsafe.Pointer(fds)) = [2]int32{r, w}
	return 0
}

func vkPipeRead(f *vkFile, buf, n uintptr, canBlock bool) uintptr {
	p := &vkPipes[f.pipe]
	if !vkUserOK(buf, n, true) {
		return vkErr(vkEFAULT)
	}
	for p.count == 0 {
		if p.writers == 0 || n == 0 {
			return 0
		}
		if f.nonblock || !canBlock {
			return vkErr(vkEAGAIN)
		}
		vkCur().waitAddr = uintptr(unsafe.Pointer(p))
		vkBlock(0)
		if vkCur().pending&^vkCur().sigmask != 0 {
			return vkErr(vkEINTR)
		}
	}
	got := uintptr(0)
	for got < n && p.count > 0 {
		chunk := vkPipeSize - p.head
		if chunk > p.count {
			chunk = p.count
		}
		if uintptr(chunk) > n-got {
			chunk = int(n - got)
		}
		memmove(unsafe.Pointer(buf+got), unsafe.Pointer(p.buf+uintptr(p.head)), uintptr(chunk))
		p.head = (p.head + chunk) % vkPipeSize
		p.count -= chunk
		got += uintptr(chunk)
	}
	vkFutexWake(uintptr(unsafe.Pointer(p)), vkMaxThreads)
	vkNotify(p.wfd)
	vkNotify(p.rfd)
	return got
}

func vkPipeWrite(f *vkFile, buf, n uintptr, canBlock bool) uintptr {
	p := &vkPipes[f.pipe]
	if !vkUserOK(buf, n, false) {
		return vkErr(vkEFAULT)
	}
	put := uintptr(0)
	for put < n {
		if p.readers == 0 {
			if put > 0 {
				return put
			}
			return vkErr(vkEPIPE)
		}
		if p.count == vkPipeSize {
			if f.nonblock || !canBlock {
				if put > 0 {
					return put
				}
				return vkErr(vkEAGAIN)
			}
			vkCur().waitAddr = uintptr(unsafe.Pointer(p))
			vkBlock(0)
			if vkCur().pending&^vkCur().sigmask != 0 {
				if put > 0 {
					return put
				}
				return vkErr(vkEINTR)
			}
			continue
		}
		tail := (p.head + p.count) % vkPipeSize
		chunk := vkPipeSize - tail
		if free := vkPipeSize - p.count; chunk > free {
			chunk = free
		}
		if uintptr(chunk) > n-put {
			chunk = int(n - put)
		}
		memmove(unsafe.Pointer(p.buf+uintptr(tail)), unsafe.Pointer(buf+put), uintptr(chunk))
		p.count += chunk
		put += uintptr(chunk)
		vkFutexWake(uintptr(unsafe.Pointer(p)), vkMaxThreads)
		vkNotify(p.rfd)
		vkNotify(p.wfd)
	}
	return put
}

// vkPipeClose drops one end; the other end sees EOF or EPIPE.
func vkPipeClose(f *vkFile) {
	p := &vkPipes[f.pipe]
	if f.kind == fdPipeRead {
		p.readers--
	} else {
		p.writers--
	}
	vkFutexWake(uintptr(unsafe.Pointer(p)), vkMaxThreads)
	if p.readers == 0 && p.writers == 0 {
		p.used = false
		return
	}
	if p.readers > 0 {
		vkNotify(p.rfd)
	}
	if p.writers > 0 {
		vkNotify(p.wfd)
	}
}
