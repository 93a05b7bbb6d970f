//go:build velocity

// Velocity kernel: advisory file locks, flock(2) and fcntl's record locks
// (F_GETLK, F_SETLK, F_SETLKW and the open-file-description forms
// F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW), with Linux's semantics for a
// single process.
//
// A lock names its file by a key made from what fstat reports (st_dev and
// st_ino: an image entry, a /tmp entry) or, for files fstat does not tell
// apart, from the object itself (a pipe or FIFO, a device, the console;
// each socket, eventfd and epoll instance is its own file, where Linux
// gives eventfds and epoll instances one shared anonymous inode).
//
// Owners, as on Linux:
//   - a flock lock belongs to the open file description (dup'd fds share
//     it, two opens of one file conflict); it goes with LOCK_UN or when the
//     description's last reference goes (vkFilePut). flock locks never meet
//     record locks;
//   - a POSIX record lock (F_SETLK) belongs to the process: its own locks
//     never conflict with each other, a new one replaces, merges with or
//     splits the ranges it overlaps, and closing ANY fd of the file drops
//     every one of them on it (vkFLockClosePOSIX);
//   - an OFD record lock belongs to the description, conflicts with other
//     descriptions' and with the process's POSIX locks, and goes with the
//     description's last reference.
//
// Locking: the records are under vkFDLock (vkFilePut holds it when it
// drops a description's locks, with or without the kernel lock), and a
// blocked request sleeps with vkSleepOn on vkFLocks' address; every change
// that removes or weakens a lock wakes them all, and each checks again.
// The table is a fixed array of vkMaxFLocks records (ENOLCK when full):
// kernel memory, no Go heap.

package runtime

import "unsafe"

const (
	vkMaxFLocks = 1024
	vkENOLCK    = 37
	vkOffsetMax = int64(^uint64(0) >> 1)

	lockSH   = 1
	lockEX   = 2
	lockNB   = 4
	lockUN   = 8
	lockMand = 32

	fRdlck = 0
	fWrlck = 1
	fUnlck = 2

	fGetlk    = 5
	fSetlk    = 6
	fSetlkw   = 7
	fOFDGetlk = 36
	fOFDSetlk = 37
	fOFDSetlw = 38
)

// vkFLockRec is one held lock; key 0 marks a free record.
type vkFLockRec struct {
	key   uint64
	owner int32 // description index + 1 (flock, OFD); 0: the process (POSIX)
	flock bool  // a flock(2) lock: never conflicts with record locks
	wr    bool  // exclusive / write lock
	start int64 // inclusive byte range (flock: the whole file)
	end   int64
}

var (
	vkFLocks [vkMaxFLocks]vkFLockRec
	vkFLockN int // records in use (vkFDLock)
)

func vkFLockWait() uintptr { return uintptr(unsafe.Pointer(&vkFLocks)) }

// vkFLockSleep waits for a lock to go: the caller holds vkFDLock and a
// reference on description i. It reports true with vkFDLock held again,
// or false, with the lock released and the reference dropped, if a signal
// came (the caller returns ERESTARTSYS).
func vkFLockSleep(i int32) bool {
	vkAssertHeld(&vkFDLock)
	vkSleepOn(vkFLockWait(), &vkFDLock, 0, true)
	if vkPipeSignalled() {
		vkFilePut(i)
		return false
	}
	vkSpinLock(&vkFDLock)
	return true
}

// vkFLockKey names the file description i (f) is open on.
func vkFLockKey(f *vkFile, i int32) uint64 {
	switch f.kind {
	case fdRegular, fdDir:
		return 1<<32 | uint64(uint32(f.ent+3)) // st_dev 0x5601, st_ino
	case fdTmpFile, fdTmpDir:
		return 2<<32 | uint64(uint32(f.ent+3)) // st_dev 0x5602, st_ino
	case fdPipeRead, fdPipeWrite:
		return 3<<32 | uint64(uint32(f.pipe))
	case fdDevice:
		return 4<<32 | uint64(uint32(f.ent))
	case fdConsole:
		return 5 << 32
	}
	return 6<<32 | uint64(uint32(i))
}

// vkFLockMode says whether description f may be read and written
// (a record lock's type needs the matching access: EBADF).
func vkFLockMode(f *vkFile) (rd, wr bool) {
	switch f.kind {
	case fdSocket, fdEventfd, fdEpoll:
		return true, true
	}
	m := f.flags & oAccMode
	return m == 0 || m == 2, m == 1 || m == 2
}

// vkFLockConflict returns the first record on key held by another owner
// that a request for [start, end] (wr: exclusive) conflicts with, or -1.
func vkFLockConflict(key uint64, owner int32, flk, wr bool, start, end int64) int {
	for j := range vkFLocks {
		r := &vkFLocks[j]
		if r.key != key || r.flock != flk || r.owner == owner || !(wr || r.wr) {
			continue
		}
		if r.start <= end && start <= r.end {
			return j
		}
	}
	return -1
}

// vkFLockOwn returns the first record lock of owner on key that overlaps
// [start, end], or -1.
func vkFLockOwn(key uint64, owner int32, start, end int64) int {
	for j := range vkFLocks {
		r := &vkFLocks[j]
		if r.key == key && !r.flock && r.owner == owner && r.start <= end && start <= r.end {
			return j
		}
	}
	return -1
}

func vkFLockFree() int {
	for j := range vkFLocks {
		if vkFLocks[j].key == 0 {
			return j
		}
	}
	return -1
}

func vkFLockDel(j int) {
	vkFLocks[j] = vkFLockRec{}
	vkFLockN--
}

// vkFLockDropOwner drops the flock and OFD locks of description i, whose
// last reference is going. The caller holds vkFDLock.
func vkFLockDropOwner(i int32) {
	vkAssertHeld(&vkFDLock)
	if vkFLockN == 0 {
		return
	}
	n := 0
	for j := range vkFLocks {
		if vkFLocks[j].key != 0 && vkFLocks[j].owner == i+1 {
			vkFLockDel(j)
			n++
		}
	}
	if n > 0 {
		vkFutexWake(vkFLockWait(), vkMaxThreads)
	}
}

// vkFLockClosePOSIX drops the process's POSIX locks on the file of
// description i, as closing any fd of a file does. The caller holds
// vkFDLock and the fd still names i.
func vkFLockClosePOSIX(i int32) {
	vkAssertHeld(&vkFDLock)
	if vkFLockN == 0 {
		return
	}
	key := vkFLockKey(vkFileAt(i), i)
	n := 0
	for j := range vkFLocks {
		r := &vkFLocks[j]
		if r.key == key && r.owner == 0 && !r.flock {
			vkFLockDel(j)
			n++
		}
	}
	if n > 0 {
		vkFutexWake(vkFLockWait(), vkMaxThreads)
	}
}

// vkSysFlock serves flock(2). Linux's order: LOCK_MAND is ignored (0), a
// bad operation is EINVAL, then the fd (EBADF). A conversion drops the old
// lock first (waking its waiters) and may then have to wait, as on Linux;
// a wait ends with a signal as -ERESTARTSYS (restarted under SA_RESTART).
func vkSysFlock(fd int32, op int32, canBlock bool) uintptr {
	if op&lockMand != 0 {
		return 0
	}
	var wr, un bool
	switch op &^ lockNB {
	case lockSH:
	case lockEX:
		wr = true
	case lockUN:
		un = true
	default:
		return vkErr(vkEINVAL)
	}
	i := vkFDIndex(fd)
	if i < 0 {
		return vkErr(vkEBADF)
	}
	f := vkFileAt(i)
	key := vkFLockKey(f, i)
	vkSpinLock(&vkFDLock)
	f.refs++ // kept across sleeps: a close meanwhile must not free it
	r := uintptr(0)
	for {
		own := -1
		for j := range vkFLocks {
			if vkFLocks[j].key == key && vkFLocks[j].flock && vkFLocks[j].owner == i+1 {
				own = j
				break
			}
		}
		if own >= 0 {
			if !un && vkFLocks[own].wr == wr {
				break
			}
			vkFLockDel(own)
			vkFutexWake(vkFLockWait(), vkMaxThreads)
		}
		if un {
			break
		}
		if vkFLockConflict(key, i+1, true, wr, 0, vkOffsetMax) < 0 {
			j := vkFLockFree()
			if j < 0 {
				r = vkErr(vkENOLCK)
				break
			}
			vkFLocks[j] = vkFLockRec{key: key, owner: i + 1, flock: true, wr: wr, start: 0, end: vkOffsetMax}
			vkFLockN++
			break
		}
		if op&lockNB != 0 || !canBlock {
			r = vkErr(vkEAGAIN) // EWOULDBLOCK
			break
		}
		if !vkFLockSleep(i) {
			return vkErr(vkERESTARTSYS)
		}
	}
	vkSpinUnlock(&vkFDLock)
	vkFilePut(i)
	return r
}

// vkFlock64 is Linux's struct flock on amd64 (the same as flock64).
type vkFlock64 struct {
	typ    int16
	whence int16
	_      int32
	start  int64
	len    int64
	pid    int32
	_      int32
}

// vkFLockRange turns l into an inclusive byte range as Linux's
// flock64_to_posix_lock does, with its errors.
func vkFLockRange(f *vkFile, l *vkFlock64) (start, end int64, e int) {
	switch l.whence {
	case 0:
	case 1:
		start = f.off
	case 2:
		switch f.kind {
		case fdRegular:
			start = vkFS.ents[f.ent].size
		case fdTmpFile:
			start = vkTmp.ents[f.ent].size
		case fdDir, fdTmpDir:
			start = 4096 // what stat reports
		}
	default:
		return 0, 0, vkEINVAL
	}
	if l.start > vkOffsetMax-start {
		return 0, 0, vkEOVERFLOW
	}
	start += l.start
	if start < 0 {
		return 0, 0, vkEINVAL
	}
	switch {
	case l.len > 0:
		if l.len-1 > vkOffsetMax-start {
			return 0, 0, vkEOVERFLOW
		}
		end = start + l.len - 1
	case l.len < 0:
		if start+l.len < 0 {
			return 0, 0, vkEINVAL
		}
		end = start - 1
		start += l.len
	default:
		end = vkOffsetMax
	}
	if l.typ != fRdlck && l.typ != fWrlck && l.typ != fUnlck {
		return 0, 0, vkEINVAL
	}
	return start, end, 0
}

// vkSysFcntlLock serves fcntl's lock commands on fd (open: the caller
// checked). arg points to a struct flock.
func vkSysFcntlLock(fd int32, cmd int32, arg uintptr, canBlock bool) uintptr {
	i := vkFDIndex(fd)
	if i < 0 {
		return vkErr(vkEBADF) // closed on another CPU since the caller looked
	}
	f := vkFileAt(i)
	if !vkUserOK(arg, unsafe.Sizeof(vkFlock64{}), false) {
		return vkErr(vkEFAULT)
	}
	l := *(*vkFlock64)(unsafe.Pointer(arg))
	ofd := cmd == fOFDGetlk || cmd == fOFDSetlk || cmd == fOFDSetlw
	owner := int32(0)
	if ofd {
		owner = i + 1
	}
	key := vkFLockKey(f, i)
	if cmd == fGetlk || cmd == fOFDGetlk {
		// F_OFD_GETLK also takes F_UNLCK: it then reports a lock of the
		// description's own on the range (Linux 6.3 on).
		if l.typ != fRdlck && l.typ != fWrlck && !(ofd && l.typ == fUnlck) {
			return vkErr(vkEINVAL)
		}
		start, end, e := vkFLockRange(f, &l)
		if e != 0 {
			return vkErr(e)
		}
		if ofd && l.pid != 0 {
			return vkErr(vkEINVAL)
		}
		vkSpinLock(&vkFDLock)
		out := vkFlock64{typ: fUnlck}
		var j int
		if l.typ == fUnlck {
			j = vkFLockOwn(key, owner, start, end)
		} else {
			j = vkFLockConflict(key, owner, false, l.typ == fWrlck, start, end)
		}
		if j >= 0 {
			r := &vkFLocks[j]
			out.typ, out.start, out.pid = fRdlck, r.start, 1
			if r.wr {
				out.typ = fWrlck
			}
			if r.end != vkOffsetMax {
				out.len = r.end - r.start + 1
			}
			if r.owner != 0 {
				out.pid = -1
			}
		}
		vkSpinUnlock(&vkFDLock)
		if !vkUserOK(arg, unsafe.Sizeof(vkFlock64{}), true) {
			return vkErr(vkEFAULT)
		}
		p := (*vkFlock64)(unsafe.Pointer(arg))
		p.typ = out.typ
		if out.typ != fUnlck {
			p.whence, p.start, p.len, p.pid = 0, out.start, out.len, out.pid
		}
		return 0
	}
	start, end, e := vkFLockRange(f, &l)
	if e != 0 {
		return vkErr(e)
	}
	rd, wrOK := vkFLockMode(f)
	if l.typ == fRdlck && !rd || l.typ == fWrlck && !wrOK {
		return vkErr(vkEBADF)
	}
	if ofd && l.pid != 0 {
		return vkErr(vkEINVAL)
	}
	wait := (cmd == fSetlkw || cmd == fOFDSetlw) && canBlock
	vkSpinLock(&vkFDLock)
	f.refs++ // kept across sleeps
	r := uintptr(0)
	for {
		if l.typ != fUnlck && vkFLockConflict(key, owner, false, l.typ == fWrlck, start, end) >= 0 {
			if !wait {
				r = vkErr(vkEAGAIN)
				break
			}
			if !vkFLockSleep(i) {
				return vkErr(vkERESTARTSYS)
			}
			continue
		}
		if e := vkFLockApply(key, owner, l.typ, start, end); e != 0 {
			r = vkErr(e)
			break
		}
		// A POSIX lock taken while another thread closed fd would outlive
		// the close that should have dropped it: drop it, as Linux does.
		if owner == 0 && l.typ != fUnlck && vkFDs[fd].file != i+1 {
			vkFLockApply(key, 0, fUnlck, start, end)
		}
		break
	}
	vkSpinUnlock(&vkFDLock)
	vkFilePut(i)
	return r
}

// vkFLockApply sets owner's record lock of type typ (fUnlck: none) on
// [start, end] of key, replacing, trimming, splitting and merging the
// owner's records there. It returns ENOLCK, changing nothing, if the
// table lacks the records it needs. The caller holds vkFDLock and has
// checked for conflicts.
func vkFLockApply(key uint64, owner int32, typ int16, start, end int64) int {
	vkAssertHeld(&vkFDLock)
	wr := typ == fWrlck
	// Records needed: the new one, and one more if a record of the owner
	// must be split around the range.
	need := 0
	if typ != fUnlck {
		need++
	}
	for j := range vkFLocks {
		r := &vkFLocks[j]
		if r.key == key && !r.flock && r.owner == owner && r.start < start && r.end > end && (typ == fUnlck || r.wr != wr) {
			need++
		}
	}
	if vkMaxFLocks-vkFLockN < need {
		return vkENOLCK
	}
	changed := false
	for j := range vkFLocks {
		r := &vkFLocks[j]
		if r.key != key || r.flock || r.owner != owner {
			continue
		}
		if typ != fUnlck && r.wr == wr {
			// Same type: merge if overlapping or adjacent.
			if r.end < start && r.end+1 != start || r.start > end && end+1 != r.start {
				continue
			}
			if r.start < start {
				start = r.start
			}
			if r.end > end {
				end = r.end
			}
			vkFLockDel(j)
			continue
		}
		if r.end < start || r.start > end {
			continue
		}
		changed = true // a lock goes or weakens: waiters may proceed
		switch {
		case r.start >= start && r.end <= end:
			vkFLockDel(j)
		case r.start < start && r.end > end:
			k := vkFLockFree()
			vkFLocks[k] = *r
			vkFLocks[k].start = end + 1
			vkFLockN++
			r.end = start - 1
		case r.start < start:
			r.end = start - 1
		default:
			r.start = end + 1
		}
	}
	if typ != fUnlck {
		k := vkFLockFree()
		vkFLocks[k] = vkFLockRec{key: key, owner: owner, wr: wr, start: start, end: end}
		vkFLockN++
	}
	if changed {
		vkFutexWake(vkFLockWait(), vkMaxThreads)
	}
	return 0
}
