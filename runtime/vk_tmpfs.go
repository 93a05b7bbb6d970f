//go:build velocity

// Velocity kernel: /tmp, a writable file system in RAM.
//
// Programs and tests expect a writable temporary directory (os.MkdirTemp,
// t.TempDir). Everything under /tmp lives here: directories and files
// whose bytes sit in frames reached through a two-level page index (up to
// 1 GiB per file). Files are freed when unlinked and no longer open. An
// entry is named by its whole path, short ones inline, longer ones (up to
// pwResolvedMax, deeper than PATH_MAX) in kernel memory of their own.

package runtime

import "unsafe"

const (
	vkTmpMax = 2048
	// vkTmpNameInline: a path up to this long sits in its entry; a longer
	// one, up to pwResolvedMax, in kernel memory of its own (vkTmpSetName).
	// Paths under /tmp are mostly short (t.TempDir gives about 40 bytes),
	// and keeping 2,048 full-length names inline would take 32 MiB.
	vkTmpNameInline = 256
	vkENOTEMPTY     = 39
	vkEFBIG         = 27

	oAppend   = 0o2000
	oExcl     = 0o200
	atRemoveD = 0x200
)

type vkTmpEnt struct {
	used     bool
	unlinked bool // gone from the namespace, data kept while open
	dir      bool
	link     bool  // a symbolic link: the target is the file's bytes
	alias    int32 // a hard link: 1 + the index of the entry that holds the file; 0 for that entry itself
	links    int32 // on the entry that holds a file: how many aliases name it
	fifo     bool  // a named pipe (vk_fifo.go)
	pipe     int32 // a FIFO's pipe while it may be open: 1 + its index in vkPipes
	mode     uint32
	uid, gid uint32 // set by chown (vk_chown.go); 0, root, when created
	size     int64
	index    uintptr // physical page of 512 second-level index pages
	opens    int32
	atime    vkTimespec // access, modification and change times, as utimensat sets them
	mtime    vkTimespec
	ctime    vkTimespec
	nameLen  int
	name     [vkTmpNameInline]byte // path without the leading '/', e.g. "tmp/x/y"
	long     uintptr               // a longer path: vkKernelBytes of longCap bytes
	longCap  uintptr
}

var vkTmp struct {
	ents  [vkTmpMax]vkTmpEnt
	umask uint32 // the process's file mode creation mask (umask(2)), 022 at boot
	root  struct{ atime, mtime, ctime vkTimespec }
}

// vkTimespec is a time as struct timespec holds it.
type vkTimespec struct {
	sec, nsec int64
}

// vkNow is the wall clock as a timespec.
func vkNow() vkTimespec {
	ns := vkWalltime()
	return vkTimespec{ns / 1e9, ns % 1e9}
}

// vkInTmp reports whether a resolved path is /tmp or below it.
func vkInTmp(path []byte) bool {
	return len(path) >= 3 && string(path[:3]) == "tmp" && (len(path) == 3 || path[3] == '/')
}

// vkTmpOwns reports whether the /tmp file system serves path: anything
// under /tmp, except what exists only in the image's read-only archive
// (the image may carry files whose host paths are under /tmp, such as a
// checkout or a test's scratch directory). New names under such archive
// directories are created here.
func vkTmpOwns(path []byte) bool {
	return vkInTmp(path) && (vkTmpLookup(path) != -1 || vkLookup(path) == -1)
}

func vkTmpName(e *vkTmpEnt) []byte {
	if e.long != 0 {
		return unsafe.Slice((*byte)(unsafe.Pointer(e.long)), e.nameLen)
	}
	return e.name[:e.nameLen]
}

// vkTmpNameRoom makes room for a name of n bytes: ok, and the memory to
// pass to vkTmpSetName, 0 when the entry's own will do (the inline buffer,
// or long memory big enough). It changes nothing, so that a rename can
// make room for every name it changes before it changes any.
func vkTmpNameRoom(e *vkTmpEnt, n int) (uintptr, bool) {
	if n <= vkTmpNameInline || e.long != 0 && uintptr(n) <= e.longCap {
		return 0, true
	}
	if n >= pwResolvedMax {
		return 0, false
	}
	va := vkKernelBytes(uintptr(n))
	return va, va != 0
}

// vkTmpSetName gives e the name path, in room from vkTmpNameRoom (freeing
// long memory it no longer needs).
func vkTmpSetName(e *vkTmpEnt, path []byte, room uintptr) {
	switch {
	case room != 0:
		vkTmpFreeName(e)
		e.long, e.longCap = room, (uintptr(len(path))+vkPageSize-1)&^(vkPageSize-1)
	case len(path) <= vkTmpNameInline:
		vkTmpFreeName(e)
	}
	e.nameLen = len(path)
	if e.long != 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(e.long)), e.longCap), path)
	} else {
		copy(e.name[:], path)
	}
}

func vkTmpFreeName(e *vkTmpEnt) {
	if e.long != 0 {
		vkKernelBytesFree(e.long, e.longCap)
		e.long, e.longCap = 0, 0
	}
}

// vkTmpClear frees an entry for reuse, its long name's memory included.
func vkTmpClear(e *vkTmpEnt) {
	vkTmpFreeName(e)
	*e = vkTmpEnt{}
}

// vkTmpLookup returns the entry that holds what path names (for a hard
// link, the file's own entry), -2 for /tmp itself, -1 if absent.
func vkTmpLookup(path []byte) int {
	i := vkTmpLookupName(path)
	if i >= 0 && vkTmp.ents[i].alias != 0 {
		return int(vkTmp.ents[i].alias - 1)
	}
	return i
}

// vkTmpLookupName returns the entry of the name path itself (for a hard
// link, the alias), -2 for /tmp itself, -1 if absent.
func vkTmpLookupName(path []byte) int {
	if len(path) == 3 {
		return -2
	}
	for i := range vkTmp.ents {
		e := &vkTmp.ents[i]
		if e.used && !e.unlinked && string(vkTmpName(e)) == string(path) {
			return i
		}
	}
	return -1
}

// vkTmpLink gives the file held by entry node (a file or symbolic link,
// not a directory) the further name full, resolved and known to be free.
// The new name is an alias entry; the file lives until its last name is
// unlinked and its last fd closed.
func vkTmpLink(node int, full []byte) uintptr {
	idx, e := vkTmpCreate(full, false, 0)
	if e != 0 {
		return e
	}
	n := &vkTmp.ents[node]
	a := &vkTmp.ents[idx]
	a.alias, a.link = int32(node)+1, n.link
	n.links++
	n.ctime = vkNow()
	return 0
}

// vkTmpParentOK reports whether path's parent directory exists.
func vkTmpParentOK(path []byte) bool {
	i := len(path) - 1
	for i > 0 && path[i] != '/' {
		i--
	}
	p := vkTmpLookup(path[:i])
	if p == -2 || p >= 0 && vkTmp.ents[p].dir {
		return true
	}
	a := vkLookup(path[:i]) // a directory of the read-only archive
	return a == -2 || a >= 0 && vkFS.ents[a].mode&sIFMT == sIFDIR
}

func vkTmpCreate(path []byte, dir bool, mode uint32) (int, uintptr) {
	if len(path) >= pwResolvedMax {
		return -1, vkErr(vkENAMETOOLNG)
	}
	if !vkTmpParentOK(path) {
		return -1, vkErr(vkENOENT)
	}
	for i := range vkTmp.ents {
		e := &vkTmp.ents[i]
		if !e.used {
			room, ok := vkTmpNameRoom(e, len(path))
			if !ok {
				return -1, vkErr(vkENOSPC)
			}
			now := vkNow()
			*e = vkTmpEnt{used: true, dir: dir, mode: mode & 0o7777 &^ vkTmp.umask, atime: now, mtime: now, ctime: now}
			vkTmpSetName(e, path, room)
			return i, 0
		}
	}
	return -1, vkErr(vkENOSPC)
}

// vkTmpPage returns the frame holding byte offset off of e, allocating the
// index pages and the frame when create is set; 0 for a hole.
func vkTmpPage(e *vkTmpEnt, off int64, create bool) uintptr {
	pg := uintptr(off / vkPageSize)
	if pg >= 512*512 {
		return 0
	}
	if e.index == 0 {
		if !create {
			return 0
		}
		if e.index = vkTmpFrame(); e.index == 0 {
			return 0
		}
	}
	l1 := (*uintptr)(unsafe.Pointer(vkP2V(e.index) + pg/512*8))
	if *l1 == 0 {
		if !create {
			return 0
		}
		if *l1 = vkTmpFrame(); *l1 == 0 {
			return 0
		}
	}
	l2 := (*uintptr)(unsafe.Pointer(vkP2V(*l1) + pg%512*8))
	if *l2 == 0 && create {
		*l2 = vkTmpFrame()
	}
	return *l2
}

// vkTmpFrame allocates a frame for /tmp, or returns 0 once free RAM is
// down to a sixteenth of what there was at boot: like Linux's tmpfs size
// limit, that reserve keeps a program that fills /tmp from taking the
// frames the Go heap and page tables need, so it gets ENOSPC instead of
// the kernel's out-of-memory exit.
func vkTmpFrame() uintptr {
	if vkFramesFree() <= vkFrames.total/16 {
		return 0
	}
	return vkFrameAlloc()
}

// vkTmpTruncate frees every page at or beyond size.
func vkTmpTruncate(e *vkTmpEnt, size int64) {
	if e.index != 0 {
		first := uintptr((size + vkPageSize - 1) / vkPageSize)
		for i := uintptr(0); i < 512; i++ {
			l1 := (*uintptr)(unsafe.Pointer(vkP2V(e.index) + i*8))
			if *l1 == 0 {
				continue
			}
			empty := true
			for j := uintptr(0); j < 512; j++ {
				l2 := (*uintptr)(unsafe.Pointer(vkP2V(*l1) + j*8))
				if *l2 != 0 && i*512+j >= first {
					vkFrameFree(*l2)
					*l2 = 0
				}
				if *l2 != 0 {
					empty = false
				}
			}
			if empty {
				vkFrameFree(*l1)
				*l1 = 0
			}
		}
		if size == 0 {
			vkFrameFree(e.index)
			e.index = 0
		}
	}
	if size < e.size && size%vkPageSize != 0 {
		// Zero the tail of the last page so growing again reads zeros.
		if pa := vkTmpPage(e, size, false); pa != 0 {
			off := uintptr(size % vkPageSize)
			memclrNoHeapPointers(unsafe.Pointer(vkP2V(pa)+off), vkPageSize-off)
		}
	}
	e.size = size
}

func vkTmpRelease(e *vkTmpEnt) {
	if e.unlinked && e.opens == 0 && e.links == 0 {
		if e.fifo {
			vkFifoForget(int((uintptr(unsafe.Pointer(e)) - uintptr(unsafe.Pointer(&vkTmp.ents[0]))) / unsafe.Sizeof(*e)))
		}
		vkTmpTruncate(e, 0)
		vkTmpClear(e)
	}
}

// vkTmpIO copies between a user buffer and the file at off.
func vkTmpIO(e *vkTmpEnt, buf, n uintptr, off int64, write bool) uintptr {
	if !vkUserOK(buf, n, !write) {
		return vkErr(vkEFAULT)
	}
	return vkTmpCopy(e, buf, n, off, write)
}

// vkTmpCopy is vkTmpIO for a buffer already checked, or one of the
// kernel's own (sendfile and splice's bounce buffers, vk_splice.go).
func vkTmpCopy(e *vkTmpEnt, buf, n uintptr, off int64, write bool) uintptr {
	if !write {
		if off >= e.size {
			return 0
		}
		if rem := uintptr(e.size - off); n > rem {
			n = rem
		}
	} else if off+int64(n) > 512*512*vkPageSize {
		return vkErr(vkEFBIG)
	}
	done := uintptr(0)
	for done < n {
		pos := off + int64(done)
		in := uintptr(pos % vkPageSize)
		chunk := vkPageSize - in
		if chunk > n-done {
			chunk = n - done
		}
		pa := vkTmpPage(e, pos, write)
		switch {
		case write && pa == 0:
			// RAM is short (vkTmpFrame): a short write, or ENOSPC, as a
			// full tmpfs says, instead of the machine's out-of-memory exit.
			if done == 0 {
				return vkErr(vkENOSPC)
			}
			n = done
			continue
		case write:
			memmove(unsafe.Pointer(vkP2V(pa)+in), unsafe.Pointer(buf+done), chunk)
		case pa == 0:
			memclrNoHeapPointers(unsafe.Pointer(buf+done), chunk)
		default:
			memmove(unsafe.Pointer(buf+done), unsafe.Pointer(vkP2V(pa)+in), chunk)
		}
		done += chunk
	}
	if write && off+int64(n) > e.size {
		e.size = off + int64(n)
	}
	if write {
		e.mtime = vkNow()
		e.ctime = e.mtime
	}
	return n
}

// vkTmpOpen opens (or creates) a path under /tmp.
func vkTmpOpen(full []byte, flags int32, mode uint32) uintptr {
	idx := vkTmpLookup(full)
	if idx != -1 && flags&(oCreat|oExcl) == oCreat|oExcl {
		return vkErr(vkEEXIST)
	}
	if idx == -1 {
		if flags&oCreat == 0 {
			return vkErr(vkENOENT)
		}
		var e uintptr
		if idx, e = vkTmpCreate(full, false, mode); e != 0 {
			return e
		}
	}
	isDir := idx == -2 || vkTmp.ents[idx].dir
	if isDir && (flags&oAccMode != 0 || flags&oTrunc != 0 || flags&oCreat != 0) {
		return vkErr(vkEISDIR)
	}
	if !isDir && flags&oDirectory != 0 {
		return vkErr(vkENOTDIR)
	}
	if idx >= 0 && vkTmp.ents[idx].fifo {
		return vkFifoOpen(idx, flags)
	}
	kind := int32(fdTmpFile)
	if isDir {
		kind = fdTmpDir
	}
	fd, f, en := vkFDNew(kind, flags&oCloexec != 0)
	if fd < 0 {
		return vkErr(en)
	}
	f.ent = int32(idx)
	f.flags = flags & (oAccMode | oAppend)
	f.nonblock = flags&oNonblock != 0
	if isDir && !vkFileSetPath(f, full) {
		vkFDClose(fd)
		return vkErr(vkENOMEM)
	}
	if idx >= 0 {
		e := &vkTmp.ents[idx]
		e.opens++
		if flags&oTrunc != 0 && flags&oAccMode != 0 {
			vkTmpTruncate(e, 0)
		}
	}
	return uintptr(fd)
}

func vkTmpClose(f *vkFile) {
	if f.ent >= 0 {
		e := &vkTmp.ents[f.ent]
		e.opens--
		vkTmpRelease(e)
	}
}

func vkTmpRead(f *vkFile, buf, n uintptr, off int64, advance bool) uintptr {
	if f.kind == fdTmpDir {
		return vkErr(vkEISDIR)
	}
	if f.flags&oAccMode == 1 {
		return vkErr(vkEBADF)
	}
	r := vkTmpIO(&vkTmp.ents[f.ent], buf, n, off, false)
	if advance && int64(r) > 0 {
		f.off += int64(r)
	}
	return r
}

func vkTmpWrite(f *vkFile, buf, n uintptr, off int64, advance bool) uintptr {
	if f.kind == fdTmpDir || f.flags&oAccMode == 0 {
		return vkErr(vkEBADF)
	}
	e := &vkTmp.ents[f.ent]
	if advance && f.flags&oAppend != 0 {
		off = e.size
	}
	r := vkTmpIO(e, buf, n, off, true)
	if advance && int64(r) > 0 {
		f.off = off + int64(r)
	}
	return r
}

func vkTmpStat(idx int, st uintptr) uintptr {
	if !vkUserOK(st, 144, true) {
		return vkErr(vkEFAULT)
	}
	memclrNoHeapPointers(unsafe.Pointer(st), 144)
	mode, size := uint32(sIFDIR|0o1777), int64(4096)
	times := [3]vkTimespec{vkTmp.root.atime, vkTmp.root.mtime, vkTmp.root.ctime}
	uid, gid := vkTmpRootOwner[0], vkTmpRootOwner[1]
	if idx >= 0 {
		e := &vkTmp.ents[idx]
		size, times = e.size, [3]vkTimespec{e.atime, e.mtime, e.ctime}
		uid, gid = e.uid, e.gid
		mode = sIFREG | e.mode
		if e.dir {
			mode, size = sIFDIR|e.mode, 4096
		}
		if e.link {
			mode = sIFLNK | 0o777
		}
		if e.fifo {
			mode, size = sIFIFO|e.mode, 0
		}
	}
	*(*uint64)(unsafe.Pointer(st)) = 0x5602                 // st_dev: not the archive's
	*(*uint64)(unsafe.Pointer(st + 8)) = uint64(idx + 3)    // st_ino
	*(*uint64)(unsafe.Pointer(st + 16)) = vkTmpNlink(idx)   // st_nlink
	*(*uint32)(unsafe.Pointer(st + 24)) = mode              // st_mode
	*(*uint32)(unsafe.Pointer(st + 28)) = uid               // st_uid
	*(*uint32)(unsafe.Pointer(st + 32)) = gid               // st_gid
	*(*int64)(unsafe.Pointer(st + 48)) = size               // st_size
	*(*int64)(unsafe.Pointer(st + 56)) = 4096               // st_blksize
	*(*int64)(unsafe.Pointer(st + 64)) = (size + 511) / 512 // st_blocks
	for i, off := range [3]uintptr{72, 88, 104} {           // st_atim, st_mtim, st_ctim
		*(*int64)(unsafe.Pointer(st + off)) = times[i].sec
		*(*int64)(unsafe.Pointer(st + off + 8)) = times[i].nsec
	}
	return 0
}

// vkTmpNlink counts the names of entry idx (hard links).
func vkTmpNlink(idx int) uint64 {
	if idx < 0 {
		return 1
	}
	e := &vkTmp.ents[idx]
	n := uint64(e.links)
	if !e.unlinked {
		n++
	}
	return n
}

func vkTmpMkdir(full []byte, mode uint32) uintptr {
	if vkTmpLookup(full) != -1 {
		return vkErr(vkEEXIST)
	}
	_, e := vkTmpCreate(full, true, mode)
	return e
}

func vkTmpUnlink(full []byte, flags int32) uintptr {
	idx := vkTmpLookupName(full)
	if idx == -1 {
		return vkErr(vkENOENT)
	}
	if idx == -2 {
		return vkErr(vkEBUSY)
	}
	e := &vkTmp.ents[idx]
	if e.alias != 0 { // a hard link: the name goes, the file stays while it has others
		if flags&atRemoveD != 0 {
			return vkErr(vkENOTDIR)
		}
		n := &vkTmp.ents[e.alias-1]
		vkTmpClear(e)
		n.links--
		n.ctime = vkNow()
		vkTmpRelease(n)
		return 0
	}
	if flags&atRemoveD != 0 {
		if !e.dir {
			return vkErr(vkENOTDIR)
		}
		for i := range vkTmp.ents {
			o := &vkTmp.ents[i]
			if o.used && !o.unlinked {
				if _, below := vkBelow(vkTmpName(o), full); below {
					return vkErr(vkENOTEMPTY)
				}
			}
		}
	} else if e.dir {
		return vkErr(vkEISDIR)
	}
	e.unlinked = true
	vkTmpRelease(e)
	return 0
}

// vkTmpRename moves an entry (and, for a directory, everything below it).
func vkTmpRename(from, to []byte) uintptr {
	src := vkTmpLookup(from)
	if src < 0 {
		if src == -2 {
			return vkErr(vkEBUSY)
		}
		return vkErr(vkENOENT)
	}
	if len(to) >= pwResolvedMax {
		return vkErr(vkENAMETOOLNG)
	}
	if string(from) == string(to) {
		return 0
	}
	if _, below := vkBelow(to, from); below {
		return vkErr(vkEINVAL) // a directory into itself
	}
	if !vkTmpParentOK(to) {
		return vkErr(vkENOENT)
	}
	// Replacing what is there follows Linux: a directory only by a
	// directory and only if empty, a file only by a file.
	srcDir := vkTmp.ents[src].dir
	if vkTmpLookup(to) == src {
		return 0 // two names of one file: Linux leaves both
	}
	switch dst := vkTmpLookup(to); {
	case dst == -2:
		return vkErr(vkEBUSY)
	case dst >= 0 && vkTmp.ents[dst].dir && !srcDir:
		return vkErr(vkEISDIR)
	case dst >= 0 && !vkTmp.ents[dst].dir && srcDir:
		return vkErr(vkENOTDIR)
	case dst >= 0:
		flags := int32(0)
		if srcDir {
			flags = atRemoveD
		}
		if r := vkTmpUnlink(to, flags); r != 0 {
			return r // ENOTEMPTY for a directory that is not empty
		}
	}
	// Two passes: the first makes room for every new name (or fails with
	// nothing changed), the second renames.
	old := vkTmpRenameOld[:copy(vkTmpRenameOld[:], from)]
	room := &vkTmpRenameRoom
	for pass := 0; pass < 2; pass++ {
		for i := range vkTmp.ents {
			e := &vkTmp.ents[i]
			if !e.used || e.unlinked {
				continue
			}
			name := vkTmpName(e)
			next := to
			if string(name) != string(old) {
				rest, below := vkBelow(name, old)
				if !below {
					continue
				}
				k := copy(vkTmpRenameNew[:], to)
				if k+1+len(rest) < len(vkTmpRenameNew) {
					vkTmpRenameNew[k] = '/'
					k += 1 + copy(vkTmpRenameNew[k+1:], rest)
				}
				next = vkTmpRenameNew[:k]
				if len(to)+1+len(rest) >= pwResolvedMax {
					next = nil // too long: the first pass fails
				}
			}
			if pass == 1 {
				vkTmpSetName(e, next, room[i].va)
				room[i] = vkTmpRoom{}
				continue
			}
			r, ok := vkTmpNameRoom(e, len(next))
			if next == nil || !ok {
				for j := 0; j < i; j++ { // give back what was taken
					if room[j].va != 0 {
						vkKernelBytesFree(room[j].va, room[j].n)
					}
					room[j] = vkTmpRoom{}
				}
				if next == nil {
					return vkErr(vkENAMETOOLNG)
				}
				return vkErr(vkENOSPC)
			}
			room[i] = vkTmpRoom{r, uintptr(len(next))}
		}
	}
	return 0
}

// Rename's working memory (the caller holds the kernel lock): the old
// name, a descendant's new name, and the room made for each entry's.
var (
	vkTmpRenameOld  [pwResolvedMax]byte
	vkTmpRenameNew  [pwResolvedMax]byte
	vkTmpRenameRoom [vkTmpMax]vkTmpRoom
)

// vkTmpRoom is memory vkKernelBytes gave for a name of n bytes.
type vkTmpRoom struct{ va, n uintptr }

// vkTmpChildren calls visit for each name directly inside dir in /tmp,
// stopping when visit returns false (and then returning false).
func vkTmpChildren(dir []byte, visit func(ino uint64, typ byte, name []byte) bool) bool {
	for i := range vkTmp.ents {
		e := &vkTmp.ents[i]
		if !e.used || e.unlinked {
			continue
		}
		rest, below := vkBelow(vkTmpName(e), dir)
		if !below {
			continue
		}
		for j := range rest {
			if rest[j] == '/' {
				below = false // deeper down
			}
		}
		if !below {
			continue
		}
		typ := byte(8) // DT_REG
		if e.dir {
			typ = 4 // DT_DIR
		}
		if e.link {
			typ = 10 // DT_LNK
		}
		if e.fifo {
			typ = 1 // DT_FIFO
		}
		if !visit(uint64(0x10000+i), typ, rest) {
			return false
		}
	}
	return true
}

// vkTmpHasChild reports whether /tmp has name directly inside dir.
func vkTmpHasChild(dir, name []byte) bool {
	for i := range vkTmp.ents {
		e := &vkTmp.ents[i]
		if !e.used || e.unlinked {
			continue
		}
		if rest, below := vkBelow(vkTmpName(e), dir); below && string(rest) == string(name) {
			return true
		}
	}
	return false
}

// vkTmpSymlink creates a symbolic link at full (resolved, not followed,
// known to be free and in /tmp) whose target is target, kept as the
// entry's bytes.
func vkTmpSymlink(full, target []byte) uintptr {
	idx, e := vkTmpCreate(full, false, 0o777)
	if e != 0 {
		return e
	}
	ent := &vkTmp.ents[idx]
	ent.link = true
	for off := 0; off < len(target); {
		pa := vkTmpPage(ent, int64(off), true)
		if pa == 0 {
			vkTmpTruncate(ent, 0)
			vkTmpClear(ent)
			return vkErr(vkENOSPC)
		}
		in := off % vkPageSize
		off += copy(unsafe.Slice((*byte)(unsafe.Pointer(vkP2V(pa)+uintptr(in))), vkPageSize-in), target[off:])
	}
	ent.size = int64(len(target))
	return 0
}

// vkTmpReadLink copies a link's target into buf (a kernel buffer) and
// returns its length, cut to len(buf).
func vkTmpReadLink(e *vkTmpEnt, buf []byte) int {
	n := int(e.size)
	if n > len(buf) {
		n = len(buf)
	}
	for off := 0; off < n; {
		in := off % vkPageSize
		chunk := vkPageSize - in
		if chunk > n-off {
			chunk = n - off
		}
		if pa := vkTmpPage(e, int64(off), false); pa != 0 {
			copy(buf[off:off+chunk], unsafe.Slice((*byte)(unsafe.Pointer(vkP2V(pa)+uintptr(in))), chunk))
		}
		off += chunk
	}
	return n
}

// vkCopyFileRangeMax bounds one copy_file_range call: the copy runs with
// interrupts off under the kernel lock, so a large request is answered
// with a short count (which Linux also allows and Go's os loops on)
// instead of holding the machine for a whole file.
const vkCopyFileRangeMax = 1 << 20

// vkSysCopyFileRange copies between two files of /tmp in the kernel, as
// Linux's copy_file_range does within one file system, checking in
// Linux's order: fds (EBADF), the offset pointers (EFAULT), flags
// (EINVAL); directories are EISDIR, anything but a regular file EINVAL,
// an input not open for reading or an output not open for writing or
// open with O_APPEND EBADF; offsets that are negative, or ranges that
// overlap within one file, EINVAL. The image's files are another file
// system: Linux gives EXDEV between file systems that have no
// copy_file_range of their own (after the checks above and after a
// copy of nothing has returned 0), and Go's os then copies through
// memory. With an offset pointer that file's position stays and the
// pointer is advanced; without, the position moves.
func vkSysCopyFileRange(fdIn int32, offIn uintptr, fdOut int32, offOut uintptr, n uintptr, flags uint32) uintptr {
	in, out := vkFDFile(fdIn), vkFDFile(fdOut)
	if in == nil || out == nil {
		return vkErr(vkEBADF)
	}
	posIn, posOut := in.off, out.off
	if offIn != 0 {
		if !vkUserOK(offIn, 8, false) {
			return vkErr(vkEFAULT)
		}
		posIn = *(*int64)(unsafe.Pointer(offIn))
	}
	if offOut != 0 {
		if !vkUserOK(offOut, 8, false) {
			return vkErr(vkEFAULT)
		}
		posOut = *(*int64)(unsafe.Pointer(offOut))
	}
	if flags != 0 {
		return vkErr(vkEINVAL)
	}
	dir := func(k int32) bool { return k == fdDir || k == fdTmpDir }
	reg := func(k int32) bool { return k == fdRegular || k == fdTmpFile }
	if dir(in.kind) || dir(out.kind) {
		return vkErr(vkEISDIR)
	}
	if !reg(in.kind) || !reg(out.kind) {
		return vkErr(vkEINVAL)
	}
	if in.flags&oAccMode == 1 || out.flags&oAccMode == 0 || out.flags&oAppend != 0 {
		return vkErr(vkEBADF)
	}
	if out.kind != fdTmpFile {
		return vkErr(vkEBADF) // the image's files are never open for writing; kept for safety
	}
	if uint64(posIn)+uint64(n) < uint64(posIn) || uint64(posOut)+uint64(n) < uint64(posOut) {
		return vkErr(vkEOVERFLOW) // Linux adds the offsets unsigned: -1 with any length wraps
	}
	// Shorten to the input's end, as Linux does before its other checks
	// (its arithmetic is unsigned: a negative offset shortens nothing).
	var sizeIn int64
	if in.kind == fdTmpFile {
		sizeIn = vkTmp.ents[in.ent].size
	} else {
		_, sizeIn = vkFileData(in)
	}
	if posIn >= sizeIn {
		n = 0
	} else if rem := uint64(sizeIn) - uint64(posIn); uint64(n) > rem {
		n = uintptr(rem)
	}
	const maxSize = 512 * 512 * vkPageSize // the largest file /tmp holds (vkTmpPage)
	if posOut >= maxSize {
		return vkErr(vkEFBIG)
	}
	if rem := uint64(maxSize) - uint64(posOut); uint64(n) > rem {
		n = uintptr(rem)
	}
	if in.kind == out.kind && in.ent == out.ent && posOut+int64(n) > posIn && posOut < posIn+int64(n) {
		return vkErr(vkEINVAL) // overlapping ranges of one file
	}
	if posIn < 0 || posOut < 0 || int64(n) < 0 {
		return vkErr(vkEINVAL) // rw_verify_area: negative offsets, or a count past ssize_t
	}
	if n == 0 {
		return 0
	}
	if in.kind != fdTmpFile {
		return vkErr(vkEXDEV)
	}
	if n > vkCopyFileRangeMax {
		n = vkCopyFileRangeMax
	}
	src, dst := &vkTmp.ents[in.ent], &vkTmp.ents[out.ent]
	done := uintptr(0)
	for done < n {
		pi, po := posIn+int64(done), posOut+int64(done)
		chunk := vkPageSize - uintptr(pi%vkPageSize)
		if c := vkPageSize - uintptr(po%vkPageSize); c < chunk {
			chunk = c
		}
		if chunk > n-done {
			chunk = n - done
		}
		dpa := vkTmpPage(dst, po, true)
		if dpa == 0 {
			break // RAM is short (vkTmpFrame): a short copy, or ENOSPC below
		}
		d := unsafe.Pointer(vkP2V(dpa) + uintptr(po%vkPageSize))
		if spa := vkTmpPage(src, pi, false); spa == 0 {
			memclrNoHeapPointers(d, chunk) // a hole reads as zeros
		} else {
			memmove(d, unsafe.Pointer(vkP2V(spa)+uintptr(pi%vkPageSize)), chunk)
		}
		done += chunk
	}
	if done == 0 {
		return vkErr(vkENOSPC)
	}
	if end := posOut + int64(done); end > dst.size {
		dst.size = end
	}
	dst.mtime = vkNow()
	dst.ctime = dst.mtime
	if offIn != 0 {
		if !vkUserOK(offIn, 8, true) {
			return vkErr(vkEFAULT)
		}
		*(*int64)(unsafe.Pointer(offIn)) = posIn + int64(done)
	} else {
		in.off = posIn + int64(done)
	}
	if offOut != 0 {
		if !vkUserOK(offOut, 8, true) {
			return vkErr(vkEFAULT)
		}
		*(*int64)(unsafe.Pointer(offOut)) = posOut + int64(done)
	} else {
		out.off = posOut + int64(done)
	}
	return done
}
