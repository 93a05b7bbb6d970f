//go:build velocity

// Velocity kernel: a read-only file system.
//
// The image may carry files: a newc cpio archive appended to the kernel ELF
// and followed by a 16-byte footer ("VELOFS01" and the archive's length,
// little endian). BOOT_ND.BIN loads the whole ELF file as a module, so the
// archive arrives in memory with it; the kernel keeps those frames and
// serves the files in place, without copying. `velocity exec` uses this to
// give a test binary its package directory (testdata) and the time zone
// database, at the same absolute paths they have on the host.

package runtime

import "unsafe"

const (
	vkMaxFSEnts = 16384
	vkPathMax   = 4096

	sIFMT  = 0o170000
	sIFDIR = 0o040000
	sIFREG = 0o100000
	sIFLNK = 0o120000

	atFDCWD       = -100
	atEmptyPath   = 0x1000
	oAccMode      = 3
	oCreat        = 0o100
	oTrunc        = 0o1000
	oDirectory    = 0o200000
	vkEROFS       = 30
	vkEISDIR      = 21
	vkENAMETOOLNG = 36
)

type vkFSEnt struct {
	name    uintptr // path without leading '/', not NUL-terminated
	nameLen int
	mode    uint32
	size    int64
	data    uintptr
	mtime   int64
}

var vkFS struct {
	start, end uintptr // physical range holding the archive (kept from the allocator)
	n          int
	ents       [vkMaxFSEnts]vkFSEnt
	cwd        [vkPathMax]byte
	cwdLen     int
	path       [vkPathMax]byte // scratch for path resolution
}

// vkFSLocate finds the archive at the end of the kernel ELF module; it runs
// before the frame allocator so those frames can be kept.
func vkFSLocate(bi *vkBootInfo) {
	if bi.elf == 0 || bi.elfSize < 16 {
		return
	}
	foot := uintptr(bi.elf + bi.elfSize - 16)
	if *(*[8]byte)(unsafe.Pointer(foot)) != [8]byte{'V', 'E', 'L', 'O', 'F', 'S', '0', '1'} {
		return
	}
	n := uintptr(*(*uint64)(unsafe.Pointer(foot + 8)))
	if n > uintptr(bi.elfSize)-16 {
		vkFatal("file system footer says the archive is larger than the module")
	}
	vkFS.start = foot - n
	vkFS.end = foot
}

// vkFSInit indexes the archive (after paging is up: it reads through the
// direct map). A malformed archive stops the boot with a clear message.
func vkFSInit() {
	vkFS.cwd[0] = '/'
	vkFS.cwdLen = 1
	vkFSIndex()
	vkFSAddBuiltins()
}

// vkFSIndex fills vkFS.ents from the archive, if there is one; the
// headers are read by kernel/cpio. Entries point into the archive, which
// stays where the boot loader put it.
func vkFSIndex() {
	if vkFS.start == 0 {
		return
	}
	base := vkDMAP + vkFS.start
	ar := unsafe.Slice((*byte)(unsafe.Pointer(base)), vkFS.end-vkFS.start)
	for off := 0; ; {
		e, next, trailer, msg := cpioNext(ar, off, vkPathMax)
		if msg != "" {
			vkFatal(msg)
		}
		if trailer {
			return
		}
		if e.nameLen > 0 {
			if vkFS.n == vkMaxFSEnts {
				vkFatal("file system archive: more than 16384 files")
			}
			vkFS.ents[vkFS.n] = vkFSEnt{name: base + uintptr(e.nameOff), nameLen: e.nameLen, mode: e.mode,
				size: e.size, data: base + uintptr(e.dataOff), mtime: e.mtime}
			vkFS.n++
		}
		off = next
	}
}

func vkFSName(e *vkFSEnt) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(e.name)), e.nameLen) }

// vkResolve turns path (relative to dir, or absolute) into a normalised
// absolute path without the leading '/', in vkFS.path. "." and ".." are
// folded; ".." at the root stays at the root, as on Linux. It writes by
// index into a fixed buffer: append could allocate, which trap context
// must never do.
func vkResolve(dir []byte, path []byte) ([]byte, bool) {
	n := 0
	buf := vkFS.path[:]
	add := func(comp []byte) bool {
		switch {
		case len(comp) == 0 || len(comp) == 1 && comp[0] == '.':
		case len(comp) == 2 && comp[0] == '.' && comp[1] == '.':
			for n > 0 && buf[n-1] != '/' {
				n--
			}
			if n > 0 {
				n--
			}
		default:
			if n+1+len(comp) > len(buf) {
				return false
			}
			if n > 0 {
				buf[n] = '/'
				n++
			}
			n += copy(buf[n:], comp)
		}
		return true
	}
	walk := func(s []byte) bool {
		for len(s) > 0 {
			i := 0
			for i < len(s) && s[i] != '/' {
				i++
			}
			if !add(s[:i]) {
				return false
			}
			if i < len(s) {
				i++
			}
			s = s[i:]
		}
		return true
	}
	if len(path) == 0 || path[0] != '/' {
		if !walk(dir) {
			return nil, false
		}
	}
	if !walk(path) {
		return nil, false
	}
	return buf[:n], true
}

// vkLookup finds path: an entry, or an implicit directory (a prefix of some
// entry). It returns the entry index, or -2 for an implicit directory, or
// -1 if nothing is there.
func vkLookup(path []byte) int {
	if len(path) == 0 {
		return -2 // the root
	}
	implicit := false
	for i := 0; i < vkFS.n; i++ {
		name := vkFSName(&vkFS.ents[i])
		if len(name) == len(path) && string(name) == string(path) {
			return i
		}
		if _, below := vkBelow(name, path); below {
			implicit = true
		}
	}
	if implicit {
		return -2
	}
	return -1
}

// vkUserPath copies a NUL-terminated user string.
func vkUserPath(p uintptr) ([]byte, uintptr) {
	if p == 0 {
		return nil, vkErr(vkEFAULT)
	}
	for n := uintptr(0); n < vkPathMax; n++ {
		if !vkUserOK(p+n, 1, false) {
			return nil, vkErr(vkEFAULT)
		}
		if *(*byte)(unsafe.Pointer(p + n)) == 0 {
			return unsafe.Slice((*byte)(unsafe.Pointer(p)), n), 0
		}
	}
	return nil, vkErr(vkENAMETOOLNG)
}

// vkDirOf returns the directory a relative path starts from.
func vkDirOf(dirfd int32) ([]byte, uintptr) {
	if dirfd == atFDCWD {
		return vkFS.cwd[:vkFS.cwdLen], 0
	}
	f := vkFD(dirfd, fdDir)
	if f == nil {
		f = vkFD(dirfd, fdTmpDir)
	}
	if f == nil {
		if dirfd >= 0 && dirfd < vkMaxFDs && vkFDs[dirfd].kind != fdNone {
			return nil, vkErr(vkENOTDIR)
		}
		return nil, vkErr(vkEBADF)
	}
	return f.path[:f.pathLen], 0
}

// vkFSResolveAt resolves a user path relative to dirfd.
func vkFSResolveAt(dirfd int32, upath uintptr) ([]byte, uintptr) {
	path, e := vkUserPath(upath)
	if e != 0 {
		return nil, e
	}
	if len(path) == 0 {
		return nil, vkErr(vkENOENT) // callers that take AT_EMPTY_PATH handle "" first
	}
	for i, start := 0, 0; i <= len(path); i++ {
		if i == len(path) || path[i] == '/' {
			if i-start > 255 {
				return nil, vkErr(vkENAMETOOLNG) // a name longer than NAME_MAX
			}
			start = i + 1
		}
	}
	var dir []byte
	if len(path) == 0 || path[0] != '/' {
		if dir, e = vkDirOf(dirfd); e != 0 {
			return nil, e
		}
	}
	full, ok := vkResolve(dir, path)
	if !ok {
		return nil, vkErr(vkENAMETOOLNG)
	}
	// A file used as a directory: an ancestor that is not one, or a
	// trailing slash after a file, is ENOTDIR on Linux (not ENOENT).
	for i := 0; i < len(full); i++ {
		if full[i] == '/' && vkIsNonDir(full[:i]) {
			return nil, vkErr(vkENOTDIR)
		}
	}
	if len(path) > 1 && path[len(path)-1] == '/' && vkIsNonDir(full) {
		return nil, vkErr(vkENOTDIR)
	}
	return full, 0
}

// vkIsNonDir reports whether a resolved path names something that is not
// a directory, in /tmp or in the image.
func vkIsNonDir(full []byte) bool {
	if vkInTmp(full) {
		if idx := vkTmpLookup(full); idx != -1 {
			return idx >= 0 && !vkTmp.ents[idx].dir
		}
	}
	idx := vkLookup(full)
	return idx >= 0 && vkFS.ents[idx].mode&sIFMT != sIFDIR
}

func vkSysOpenat(dirfd int32, upath uintptr, flags int32, mode uint32) uintptr {
	if flags&(oCreat|oDirectory) == oCreat|oDirectory {
		return vkErr(vkEINVAL) // Linux (since 6.4) refuses the ambiguous pair
	}
	full, e := vkFSResolveAt(dirfd, upath)
	if e != 0 {
		return e
	}
	if vkTmpOwns(full) {
		return vkTmpOpen(full, flags, mode)
	}
	if dev := vkDevice(full); dev >= 0 {
		fd := vkFDAlloc(fdDevice)
		if fd < 0 {
			return vkErr(vkEMFILE)
		}
		vkFDs[fd].ent = dev
		vkFDs[fd].flags = flags
		return uintptr(fd)
	}
	idx := vkLookup(full)
	if idx == -1 {
		if flags&oCreat != 0 {
			return vkErr(vkEROFS)
		}
		return vkErr(vkENOENT)
	}
	isDir := idx == -2 || vkFS.ents[idx].mode&sIFMT == sIFDIR
	if isDir && (flags&oAccMode != 0 || flags&oTrunc != 0) {
		return vkErr(vkEISDIR) // Linux says so before it looks at the mount
	}
	if flags&oAccMode != 0 || flags&oTrunc != 0 {
		return vkErr(vkEROFS)
	}
	if flags&oDirectory != 0 && !isDir {
		return vkErr(vkENOTDIR)
	}
	kind := int32(fdRegular)
	if isDir {
		kind = fdDir
	}
	fd := vkFDAlloc(kind)
	if fd < 0 {
		return vkErr(vkEMFILE)
	}
	f := &vkFDs[fd]
	f.ent = int32(idx)
	f.off = 0
	f.pathLen = copy(f.path[:], full)
	f.nonblock = flags&oNonblock != 0
	return uintptr(fd)
}

func vkFileRead(f *vkFile, buf, n uintptr, off int64, advance bool) uintptr {
	if f.kind == fdDir {
		return vkErr(vkEISDIR)
	}
	e := &vkFS.ents[f.ent]
	if !vkUserOK(buf, n, true) {
		return vkErr(vkEFAULT)
	}
	if off >= e.size {
		return 0
	}
	if rem := uintptr(e.size - off); n > rem {
		n = rem
	}
	memmove(unsafe.Pointer(buf), unsafe.Pointer(e.data+uintptr(off)), n)
	if advance {
		f.off += int64(n)
	}
	return n
}

func vkSysLseek(fd int32, off int64, whence int32) uintptr {
	f := vkFD(fd, fdRegular)
	for _, k := range [3]int32{fdDir, fdTmpFile, fdTmpDir} {
		if f == nil {
			f = vkFD(fd, k)
		}
	}
	if f == nil {
		if fd >= 0 && fd < vkMaxFDs && (fd <= 2 || vkFDs[fd].kind != fdNone) {
			return vkErr(vkESPIPE)
		}
		return vkErr(vkEBADF)
	}
	var base int64
	switch whence {
	case 3, 4: // SEEK_DATA, SEEK_HOLE: files here have no holes
		size := int64(-1)
		switch f.kind {
		case fdRegular:
			size = vkFS.ents[f.ent].size
		case fdTmpFile:
			size = vkTmp.ents[f.ent].size
		}
		if size < 0 {
			return vkErr(vkEINVAL)
		}
		if off < 0 || off >= size {
			return vkErr(vkENXIO)
		}
		if whence == 4 {
			off = size
		}
		f.off = off
		return uintptr(off)
	case 0:
	case 1:
		base = f.off
	case 2:
		if f.kind == fdRegular {
			base = vkFS.ents[f.ent].size
		}
		if f.kind == fdTmpFile {
			base = vkTmp.ents[f.ent].size
		}
	default:
		return vkErr(vkEINVAL)
	}
	if base+off < 0 {
		return vkErr(vkEINVAL)
	}
	f.off = base + off
	return uintptr(f.off)
}

// vkStatEnt fills a Linux struct stat for an entry (or an implicit directory).
func vkStatEnt(idx int, st uintptr) uintptr {
	if !vkUserOK(st, 144, true) {
		return vkErr(vkEFAULT)
	}
	memclrNoHeapPointers(unsafe.Pointer(st), 144)
	mode, size, mtime := uint32(sIFDIR|0o555), int64(4096), int64(0)
	if idx >= 0 {
		e := &vkFS.ents[idx]
		mode, size, mtime = e.mode, e.size, e.mtime
		if mode&sIFMT == sIFDIR {
			size = 4096
		}
	}
	*(*uint64)(unsafe.Pointer(st)) = 0x5601              // st_dev
	*(*uint64)(unsafe.Pointer(st + 8)) = uint64(idx + 3) // st_ino
	*(*uint64)(unsafe.Pointer(st + 16)) = 1
	*(*uint32)(unsafe.Pointer(st + 24)) = mode
	*(*int64)(unsafe.Pointer(st + 48)) = size
	*(*int64)(unsafe.Pointer(st + 56)) = 4096
	*(*int64)(unsafe.Pointer(st + 64)) = (size + 511) / 512
	for _, off := range [3]uintptr{72, 88, 104} {
		*(*int64)(unsafe.Pointer(st + off)) = mtime
	}
	return 0
}

func vkSysNewfstatat(dirfd int32, upath, st uintptr, flags int32) uintptr {
	if flags&^(atSymlinkNofollow|0x800|atEmptyPath) != 0 { // 0x800: AT_NO_AUTOMOUNT
		return vkErr(vkEINVAL)
	}
	if flags&atEmptyPath != 0 {
		if p, e := vkUserPath(upath); e == 0 && len(p) == 0 {
			return vkSysFstat(dirfd, st)
		}
	}
	full, e := vkFSResolveAt(dirfd, upath)
	if e != 0 {
		return e
	}
	if vkTmpOwns(full) {
		if idx := vkTmpLookup(full); idx != -1 {
			return vkTmpStat(idx, st)
		}
		return vkErr(vkENOENT)
	}
	idx := vkLookup(full)
	if idx == -1 {
		return vkErr(vkENOENT)
	}
	return vkStatEnt(idx, st)
}

func vkSysFaccessat(dirfd int32, upath uintptr, mode int32) uintptr {
	full, e := vkFSResolveAt(dirfd, upath)
	if e != 0 {
		return e
	}
	if vkTmpOwns(full) {
		if vkTmpLookup(full) == -1 {
			return vkErr(vkENOENT)
		}
		return 0
	}
	if vkLookup(full) == -1 {
		return vkErr(vkENOENT)
	}
	if mode&2 != 0 { // W_OK
		return vkErr(vkEROFS)
	}
	return 0
}

func vkSysReadlinkat(dirfd int32, upath, buf, n uintptr) uintptr {
	if int32(n) <= 0 {
		return vkErr(vkEINVAL) // Linux's bufsiz is an int, checked first
	}
	full, e := vkFSResolveAt(dirfd, upath)
	if e != 0 {
		return e
	}
	if string(full) == "proc/self/exe" {
		// os.Executable: the program's host path, if velocity passed it.
		if vkArgs.exe == 0 {
			return vkErr(vkENOENT)
		}
		exe := vkArgs.buf[vkArgs.exe:]
		exe = exe[:vkCStringLen(exe)]
		if n > uintptr(len(exe)) {
			n = uintptr(len(exe))
		}
		if !vkUserOK(buf, n, true) {
			return vkErr(vkEFAULT)
		}
		copy(unsafe.Slice((*byte)(unsafe.Pointer(buf)), n), exe)
		return n
	}
	idx := vkLookup(full)
	if idx == -1 {
		return vkErr(vkENOENT)
	}
	if idx < 0 || vkFS.ents[idx].mode&sIFMT != sIFLNK {
		return vkErr(vkEINVAL)
	}
	ent := &vkFS.ents[idx]
	if int64(n) > ent.size {
		n = uintptr(ent.size)
	}
	if !vkUserOK(buf, n, true) {
		return vkErr(vkEFAULT)
	}
	memmove(unsafe.Pointer(buf), unsafe.Pointer(ent.data), n)
	return n
}

func vkSysChdir(upath uintptr) uintptr {
	full, e := vkFSResolveAt(atFDCWD, upath)
	if e != 0 {
		return e
	}
	if vkTmpOwns(full) {
		idx := vkTmpLookup(full)
		if idx == -1 {
			return vkErr(vkENOENT)
		}
		if idx >= 0 && !vkTmp.ents[idx].dir {
			return vkErr(vkENOTDIR)
		}
		vkFS.cwd[0] = '/'
		vkFS.cwdLen = 1 + copy(vkFS.cwd[1:], full)
		return 0
	}
	idx := vkLookup(full)
	if idx == -1 {
		return vkErr(vkENOENT)
	}
	if idx >= 0 && vkFS.ents[idx].mode&sIFMT != sIFDIR {
		return vkErr(vkENOTDIR)
	}
	vkFS.cwd[0] = '/'
	vkFS.cwdLen = 1 + copy(vkFS.cwd[1:], full)
	return 0
}

// vkSetCwd sets the working directory from the kernel command line.
func vkSetCwd(path []byte) bool {
	full, ok := vkResolve(nil, path)
	if !ok {
		return false
	}
	vkFS.cwd[0] = '/'
	vkFS.cwdLen = 1 + copy(vkFS.cwd[1:], full)
	return true
}

func vkSysGetcwd(buf, n uintptr) uintptr {
	if n < uintptr(vkFS.cwdLen+1) {
		return vkErr(vkERANGE)
	}
	if !vkUserOK(buf, uintptr(vkFS.cwdLen+1), true) {
		return vkErr(vkEFAULT)
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(buf)), vkFS.cwdLen+1)
	copy(b, vkFS.cwd[:vkFS.cwdLen])
	b[vkFS.cwdLen] = 0
	return uintptr(vkFS.cwdLen + 1)
}

// vkBelow returns the part of name below directory dir ("" is the root),
// and whether name is below dir at all.
func vkBelow(name, dir []byte) ([]byte, bool) {
	if len(dir) == 0 {
		return name, true
	}
	if len(name) <= len(dir) || name[len(dir)] != '/' || string(name[:len(dir)]) != string(dir) {
		return nil, false
	}
	return name[len(dir)+1:], true
}

// vkDirent writes one linux_dirent64 record at d if it fits in room bytes
// and returns its length (0 if it does not fit).
func vkDirent(d, room uintptr, ino uint64, off int64, typ byte, name []byte) uintptr {
	reclen := (19 + uintptr(len(name)) + 1 + 7) &^ 7
	if reclen > room {
		return 0
	}
	memclrNoHeapPointers(unsafe.Pointer(d), reclen)
	*(*uint64)(unsafe.Pointer(d)) = ino
	*(*int64)(unsafe.Pointer(d + 8)) = off
	*(*uint16)(unsafe.Pointer(d + 16)) = uint16(reclen)
	*(*byte)(unsafe.Pointer(d + 18)) = typ
	copy(unsafe.Slice((*byte)(unsafe.Pointer(d+19)), len(name)), name)
	return reclen
}

// vkSysGetdents64 lists a directory: the entries directly inside it, and
// the implicit subdirectories that deeper paths imply, each once. f.off
// counts names already returned.
func vkSysGetdents64(fd int32, buf, n uintptr) uintptr {
	f := vkFD(fd, fdDir)
	if f == nil {
		f = vkFD(fd, fdTmpDir)
	}
	if f == nil {
		if vkFD(fd, fdRegular) != nil || vkFD(fd, fdTmpFile) != nil {
			return vkErr(vkENOTDIR)
		}
		return vkErr(vkEBADF)
	}
	if !vkUserOK(buf, n, true) {
		return vkErr(vkEFAULT)
	}
	dir := f.path[:f.pathLen]
	written := uintptr(0)
	index := int64(0)
	full := false
	// One record per name; f.off counts the names already returned.
	emit := func(ino uint64, typ byte, name []byte) bool {
		if index < f.off {
			index++
			return true
		}
		reclen := vkDirent(buf+written, n-written, ino, index+1, typ, name)
		if reclen == 0 {
			full = true
			return false
		}
		written += reclen
		index++
		f.off = index
		return true
	}
	// A directory under /tmp lists what /tmp holds there, then what the
	// image's archive holds there under other names.
	inTmp := vkInTmp(dir)
	if inTmp && !vkTmpChildren(dir, emit) {
		if full && written == 0 {
			return vkErr(vkEINVAL)
		}
		return written
	}
	vkArchiveChildren(dir, inTmp, emit)
	if full && written == 0 {
		return vkErr(vkEINVAL)
	}
	return written
}

// vkArchiveChildren calls visit for each name directly inside dir in the
// archive: its entries there, and the subdirectories deeper paths imply,
// each once. With skipTmp, names that /tmp also has there are left out.
// It stops when visit returns false.
func vkArchiveChildren(dir []byte, skipTmp bool, visit func(ino uint64, typ byte, name []byte) bool) bool {
	for i := 0; i < vkFS.n; i++ {
		rest, ok := vkBelow(vkFSName(&vkFS.ents[i]), dir)
		if !ok {
			continue
		}
		j := 0
		for j < len(rest) && rest[j] != '/' {
			j++
		}
		child := rest[:j]
		typ := byte(8) // DT_REG
		if j < len(rest) {
			typ = 4 // DT_DIR, implied by a deeper path
		} else {
			switch vkFS.ents[i].mode & sIFMT {
			case sIFDIR:
				typ = 4
			case sIFLNK:
				typ = 10
			}
		}
		// Skip a child already listed by an earlier entry.
		dup := false
		for k := 0; k < i && !dup; k++ {
			other, ok := vkBelow(vkFSName(&vkFS.ents[k]), dir)
			if !ok {
				continue
			}
			if len(other) >= len(child) && string(other[:len(child)]) == string(child) && (len(other) == len(child) || other[len(child)] == '/') {
				dup = true
			}
		}
		if dup || skipTmp && vkTmpHasChild(dir, child) {
			continue
		}
		if !visit(uint64(i+3), typ, child) {
			return false
		}
	}
	return true
}

// Namespace changes: only /tmp is writable.

func vkSysMkdirat(dirfd int32, upath uintptr, mode uint32) uintptr {
	full, e := vkFSResolveAt(dirfd, upath)
	if e != 0 {
		return e
	}
	if vkTmpOwns(full) {
		return vkTmpMkdir(full, mode)
	}
	if vkLookup(full) != -1 {
		return vkErr(vkEEXIST)
	}
	return vkErr(vkEROFS)
}

func vkSysUnlinkat(dirfd int32, upath uintptr, flags int32) uintptr {
	if flags&atRemoveD != 0 {
		// rmdir of "." is EINVAL on Linux (and of ".." ENOTEMPTY): the
		// last component counts before "." and ".." are folded away.
		if p, e := vkUserPath(upath); e == 0 {
			n := len(p)
			for n > 1 && p[n-1] == '/' {
				n--
			}
			if n >= 1 && p[n-1] == '.' && (n == 1 || p[n-2] == '/') {
				return vkErr(vkEINVAL)
			}
			if n >= 2 && p[n-1] == '.' && p[n-2] == '.' && (n == 2 || p[n-3] == '/') {
				return vkErr(vkENOTEMPTY)
			}
		}
	}
	full, e := vkFSResolveAt(dirfd, upath)
	if e != 0 {
		return e
	}
	if vkTmpOwns(full) {
		return vkTmpUnlink(full, flags)
	}
	idx := vkLookup(full)
	if idx == -1 {
		return vkErr(vkENOENT)
	}
	isDir := idx == -2 || vkFS.ents[idx].mode&sIFMT == sIFDIR
	switch {
	case flags&atRemoveD == 0 && isDir:
		return vkErr(vkEISDIR)
	case flags&atRemoveD != 0 && !isDir:
		return vkErr(vkENOTDIR)
	case flags&atRemoveD != 0 && len(full) == 0:
		return vkErr(vkEBUSY) // the root
	}
	return vkErr(vkEROFS)
}

func vkSysRenameat(olddir int32, oldp uintptr, newdir int32, newp uintptr) uintptr {
	from, e := vkFSResolveAt(olddir, oldp)
	if e != 0 {
		return e
	}
	var fromBuf [vkTmpNameMax]byte
	if len(from) > len(fromBuf) {
		return vkErr(vkENAMETOOLNG)
	}
	n := copy(fromBuf[:], from) // vkFSResolveAt reuses its buffer
	to, e := vkFSResolveAt(newdir, newp)
	if e != 0 {
		return e
	}
	if vkTmpOwns(fromBuf[:n]) && vkTmpOwns(to) {
		return vkTmpRename(fromBuf[:n], to)
	}
	if vkTmpOwns(fromBuf[:n]) != vkTmpOwns(to) {
		return vkErr(vkEXDEV)
	}
	return vkErr(vkEROFS)
}

func vkSysTruncate(upath uintptr, size int64) uintptr {
	full, e := vkFSResolveAt(atFDCWD, upath)
	if e != 0 {
		return e
	}
	if size < 0 {
		return vkErr(vkEINVAL)
	}
	if !vkTmpOwns(full) {
		idx := vkLookup(full)
		if idx == -1 {
			return vkErr(vkENOENT)
		}
		if idx == -2 || vkFS.ents[idx].mode&sIFMT == sIFDIR {
			return vkErr(vkEISDIR)
		}
		return vkErr(vkEROFS)
	}
	idx := vkTmpLookup(full)
	if idx == -1 {
		return vkErr(vkENOENT)
	}
	if idx == -2 || vkTmp.ents[idx].dir {
		return vkErr(vkEISDIR)
	}
	vkTmpTruncate(&vkTmp.ents[idx], size)
	return 0
}

// Modes are kept (and reported) for files under /tmp; nothing enforces
// them, since everything runs as one user.
func vkSysFchmod(fd int32, mode uint32) uintptr {
	f := vkFD(fd, fdTmpFile)
	if f == nil {
		f = vkFD(fd, fdTmpDir)
	}
	if f == nil {
		if fd >= 0 && fd < vkMaxFDs && (fd <= 2 || vkFDs[fd].kind != fdNone) {
			return vkErr(vkEROFS)
		}
		return vkErr(vkEBADF)
	}
	if f.ent >= 0 {
		vkTmp.ents[f.ent].mode = mode & 0o7777
	}
	return 0
}

// vkSysFchmodat2 is fchmodat2: fchmodat with AT_SYMLINK_NOFOLLOW and
// AT_EMPTY_PATH (symbolic links exist only in the read-only image, so
// not following one changes nothing).
func vkSysFchmodat2(dirfd int32, upath uintptr, mode uint32, flags uintptr) uintptr {
	if flags&^(atSymlinkNofollow|atEmptyPath) != 0 {
		return vkErr(vkEINVAL)
	}
	if flags&atEmptyPath != 0 {
		if p, e := vkUserPath(upath); e == 0 && len(p) == 0 {
			if dirfd == atFDCWD {
				return vkSysFchmodat(atFDCWD, upath, mode)
			}
			return vkSysFchmod(dirfd, mode)
		}
	}
	return vkSysFchmodat(dirfd, upath, mode)
}

func vkSysFchmodat(dirfd int32, upath uintptr, mode uint32) uintptr {
	full, e := vkFSResolveAt(dirfd, upath)
	if e != 0 {
		return e
	}
	if !vkTmpOwns(full) {
		if vkLookup(full) == -1 {
			return vkErr(vkENOENT)
		}
		return vkErr(vkEROFS)
	}
	idx := vkTmpLookup(full)
	if idx == -1 {
		return vkErr(vkENOENT)
	}
	if idx >= 0 {
		vkTmp.ents[idx].mode = mode & 0o7777
	}
	return 0
}

// The character devices programs expect to exist.
const (
	devNull = iota
	devZero
	devRandom
)

func vkDevice(path []byte) int32 {
	switch string(path) {
	case "dev/null":
		return devNull
	case "dev/zero":
		return devZero
	case "dev/urandom", "dev/random":
		return devRandom
	}
	return -1
}

func vkDeviceRead(f *vkFile, buf, n uintptr) uintptr {
	switch f.ent {
	case devNull:
		return 0
	case devZero:
		if !vkUserOK(buf, n, true) {
			return vkErr(vkEFAULT)
		}
		memclrNoHeapPointers(unsafe.Pointer(buf), n)
		return n
	}
	return vkSysGetrandom(buf, n)
}
