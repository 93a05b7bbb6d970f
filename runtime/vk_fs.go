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
	oNofollow     = 0o400000
	vkELOOP       = 40
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
	start, end uintptr // physical range kept from the allocator: the whole module, ELF then archive
	arch       uintptr // where the archive starts in it
	exeAdded   bool    // the program's own file is in ents (vkFSAddExe)
	n          int
	ents       [vkMaxFSEnts]vkFSEnt
	cwd        [pwResolvedMax]byte // "/" and a resolved path, which may pass PATH_MAX (pathwalk)
	cwdLen     int
	walk       pwWalker // path resolution (kernel/pathwalk); its result lives until the next resolution
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
	// The ELF before the archive is kept too: it is the program's own
	// file, served at its host path (vkFSAddExe) for tests that read
	// their binary (debug/elf, debug/gosym, runtime/pprof).
	vkFS.start = uintptr(bi.elf)
	vkFS.arch = foot - n
	vkFS.end = foot
}

// vkFSAddExe adds the program's own file, the ELF bytes of the boot module,
// at the host path exe= named (os.Args[0], os.Executable), unless the
// archive has that path already. It runs on the first lookup after the
// command line is read, with the kernel lock held.
func vkFSAddExe() {
	vkFS.exeAdded = true
	exe := vkArgs.buf[vkArgs.exe:]
	exe = exe[:vkCStringLen(exe)]
	for len(exe) > 0 && exe[0] == '/' {
		exe = exe[1:]
	}
	if len(exe) == 0 || vkFS.arch == 0 || vkFS.n >= vkMaxFSEnts || vkLookup(exe) != -1 {
		return
	}
	vkFS.ents[vkFS.n] = vkFSEnt{
		name:    uintptr(unsafe.Pointer(&exe[0])),
		nameLen: len(exe),
		mode:    sIFREG | 0o755,
		size:    int64(vkFS.arch - vkFS.start),
		data:    vkDMAP + vkFS.start,
	}
	vkFS.n++
}

// vkFSInit indexes the archive (after paging is up: it reads through the
// direct map). A malformed archive stops the boot with a clear message.
func vkFSInit() {
	vkFS.cwd[0] = '/'
	vkFS.cwdLen = 1
	vkTmp.umask = 0o022 // what Linux gives the first process
	vkTmp.root.atime = vkNow()
	vkTmp.root.mtime, vkTmp.root.ctime = vkTmp.root.atime, vkTmp.root.atime
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
	base := vkDMAP + vkFS.arch
	ar := unsafe.Slice((*byte)(unsafe.Pointer(base)), vkFS.end-vkFS.arch)
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

// vkLookup finds path: an entry, or an implicit directory (a prefix of some
// entry). It returns the entry index, or -2 for an implicit directory, or
// -1 if nothing is there.
func vkLookup(path []byte) int {
	if len(path) == 0 {
		return -2 // the root
	}
	if !vkFS.exeAdded && vkArgs.exe != 0 {
		vkFSAddExe()
	}
	if idx, ok := vkProcLookup(path); ok {
		return idx // proc/<pid>, its task directory and files (vk_procstatus.go)
	}
	idx := vkArchiveLookup(path)
	if idx == -1 && (string(path) == "dev" || string(path) == "proc") {
		return -2 // the kernel's own /dev and /proc are there without entries
	}
	return idx
}

// vkArchiveLookup is vkLookup in the archive alone: the index of the entry
// named path, -2 for a directory that deeper entries imply, -1 for none.
func vkArchiveLookup(path []byte) int {
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
		if vkFDOpen(dirfd) {
			return nil, vkErr(vkENOTDIR)
		}
		return nil, vkErr(vkEBADF)
	}
	if f.kind == fdTmpDir && f.ent >= 0 {
		// The directory's name now: it may have been renamed (or a
		// parent of it) since it was opened, and the fd still names it.
		e := &vkTmp.ents[f.ent]
		if e.unlinked {
			return nil, vkErr(vkENOENT)
		}
		return vkTmpName(e), 0
	}
	return vkFilePath(f), 0
}

// vkFSResolveAt resolves a user path relative to dirfd, following a
// symbolic link in the last component (stat, open, chdir). The result
// points into vkFS.walk and lasts until the next resolution.
func vkFSResolveAt(dirfd int32, upath uintptr) ([]byte, uintptr) {
	return vkFSResolve(dirfd, upath, pwFollow)
}

// vkFSResolveAtNofollow resolves a user path relative to dirfd, leaving a
// symbolic link in the last component as it is unless a '/' follows it
// (lstat, readlink).
func vkFSResolveAtNofollow(dirfd int32, upath uintptr) ([]byte, uintptr) {
	return vkFSResolve(dirfd, upath, pwNofollow)
}

// vkFSResolveAtParent resolves a name that is to be made or removed
// (mkdir, unlink, rename, the new name of link and symlink): the last
// component is never followed. vkFS.walk.pwDots then says whether it was
// "." or "..".
func vkFSResolveAtParent(dirfd int32, upath uintptr) ([]byte, uintptr) {
	return vkFSResolve(dirfd, upath, pwParent)
}

// vkFSResolve copies the name in, checks it as Linux does before walking
// (EFAULT, ENOENT for "", ENAMETOOLONG, then the dirfd of a relative name)
// and walks it with kernel/pathwalk over the image and /tmp (vkPathKind),
// which gives ENOENT, ENOTDIR and ELOOP on the way.
func vkFSResolve(dirfd int32, upath uintptr, mode int) ([]byte, uintptr) {
	path, e := vkUserPath(upath)
	if e != 0 {
		return nil, e
	}
	if len(path) == 0 {
		return nil, vkErr(vkENOENT) // callers that take AT_EMPTY_PATH handle "" first
	}
	if en := pwCheckNames(path); en != 0 {
		return nil, vkErr(en)
	}
	var dir []byte
	if path[0] != '/' {
		if dir, e = vkDirOf(dirfd); e != 0 {
			return nil, e
		}
	}
	full, en := vkFS.walk.pwWalk(dir, path, mode, vkPathKind)
	if en != 0 {
		return nil, vkErr(en)
	}
	return full, 0
}

// vkPathKind answers kernel/pathwalk's question, what a resolved path
// names: /tmp's entries where /tmp serves the path (vkTmpOwns), the
// kernel's own /dev and /proc names, then the image. A link's target is
// copied into link. It runs in trap context with the kernel lock held, and
// allocates nothing.
func vkPathKind(path, link []byte) (int, int) {
	if vkTmpOwns(path) {
		idx := vkTmpLookup(path)
		switch {
		case idx == -1:
			return pwMissing, 0
		case idx == -2 || vkTmp.ents[idx].dir:
			return pwDir, 0
		case vkTmp.ents[idx].link:
			return pwLink, vkTmpReadLink(&vkTmp.ents[idx], link)
		}
		return pwOther, 0
	}
	switch string(path) {
	case "dev", "proc", "proc/self":
		return pwDir, 0
	case "proc/self/exe":
		if vkArgs.exe != 0 {
			exe := vkArgs.buf[vkArgs.exe:]
			return pwLink, copy(link, exe[:vkCStringLen(exe)])
		}
		return pwMissing, 0
	}
	if vkDevice(path) >= 0 {
		return pwOther, 0
	}
	idx := vkLookup(path)
	switch {
	case idx == -1:
		return pwMissing, 0
	case idx == -2:
		return pwDir, 0
	}
	e := &vkFS.ents[idx]
	switch e.mode & sIFMT {
	case sIFDIR:
		return pwDir, 0
	case sIFLNK:
		n := int(e.size)
		if n > len(link) {
			n = len(link)
		}
		return pwLink, copy(link, unsafe.Slice((*byte)(unsafe.Pointer(e.data)), n))
	}
	return pwOther, 0
}

// vkIsLink reports whether a resolved path names a symbolic link, in /tmp
// or in the image.
func vkIsLink(full []byte) bool {
	if vkTmpOwns(full) {
		idx := vkTmpLookup(full)
		return idx >= 0 && vkTmp.ents[idx].link
	}
	idx := vkLookup(full)
	return idx >= 0 && vkFS.ents[idx].mode&sIFMT == sIFLNK
}

func vkSysOpenat(dirfd int32, upath uintptr, flags int32, mode uint32) uintptr {
	if flags&(oCreat|oDirectory) == oCreat|oDirectory {
		return vkErr(vkEINVAL) // Linux (since 6.4) refuses the ambiguous pair
	}
	// O_NOFOLLOW, and O_CREAT|O_EXCL (which must create the name itself),
	// do not follow a link at the end: they fail on it.
	follow := flags&oNofollow == 0 && flags&(oCreat|oExcl) != oCreat|oExcl
	walk := pwNofollow
	if follow {
		walk = pwFollow
	}
	full, e := vkFSResolve(dirfd, upath, walk)
	if e != 0 {
		return e
	}
	if flags&oCreat != 0 && vkFS.walk.pwSlash && vkLookupAny(full) == -1 {
		return vkErr(vkEISDIR) // O_CREAT cannot make "name/" a regular file
	}
	if !follow && vkIsLink(full) {
		if flags&(oCreat|oExcl) == oCreat|oExcl {
			return vkErr(vkEEXIST)
		}
		return vkErr(vkELOOP)
	}
	if vkTmpOwns(full) {
		return vkTmpOpen(full, flags, mode)
	}
	if dev := vkDevice(full); dev >= 0 {
		if flags&(oCreat|oExcl) == oCreat|oExcl {
			return vkErr(vkEEXIST)
		}
		fd, f, e := vkFDNew(fdDevice, flags&oCloexec != 0)
		if fd < 0 {
			return vkErr(e)
		}
		f.ent = dev
		f.flags = flags
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
	if flags&(oCreat|oExcl) == oCreat|oExcl {
		return vkErr(vkEEXIST) // the name exists: O_EXCL must create it
	}
	if isDir && (flags&oAccMode != 0 || flags&oTrunc != 0 || flags&oCreat != 0) {
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
	fd, f, en := vkFDNew(kind, flags&oCloexec != 0)
	if fd < 0 {
		return vkErr(en)
	}
	vkProcMapsOpened(idx) // /proc/self/maps: the text as of this open
	if en := vkProcStatusOpened(idx, full, f); en != 0 {
		vkFDClose(fd)
		return vkErr(en)
	}
	if en := vkStackFileOpened(idx, f); en != 0 {
		vkFDClose(fd)
		return vkErr(en)
	}
	f.ent = int32(idx)
	f.off = 0
	f.flags = flags & (oAccMode | oAppend)
	f.nonblock = flags&oNonblock != 0
	if isDir && !vkFileSetPath(f, full) {
		vkFDClose(fd)
		return vkErr(vkENOMEM)
	}
	return uintptr(fd)
}

// vkFileData is what an image file's description f reads: the text made
// for this open (/proc/<pid>/status, vk_procstatus.go) or the entry's
// bytes.
func vkFileData(f *vkFile) (data uintptr, size int64) {
	if f.text != 0 {
		return f.text, int64(f.textLen)
	}
	e := &vkFS.ents[f.ent]
	return e.data, e.size
}

func vkFileRead(f *vkFile, buf, n uintptr, off int64, advance bool) uintptr {
	if f.kind == fdDir {
		return vkErr(vkEISDIR)
	}
	data, size := vkFileData(f)
	if !vkUserOK(buf, n, true) {
		return vkErr(vkEFAULT)
	}
	if off >= size {
		return 0
	}
	if rem := uintptr(size - off); n > rem {
		n = rem
	}
	memmove(unsafe.Pointer(buf), unsafe.Pointer(data+uintptr(off)), n)
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
		if vkFDOpen(fd) {
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
			_, size = vkFileData(f)
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
			_, base = vkFileData(f)
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

// vkDirIno numbers a directory that no archive entry of its own names: the
// root, a directory that deeper paths imply, and the kernel's /proc
// directories. The root is 2, as on Linux's disk file systems; any other
// hashes its resolved path (FNV-1a, dir and child joined by '/') with the
// top bit set, above every entry's index+3. Each such directory needs a
// number of its own: os.Getwd walks up from a directory deeper than
// PATH_MAX by comparing st_ino, and with one number for all of them /usr
// and / looked like the same directory.
func vkDirIno(dir, child []byte) uint64 {
	if len(dir) == 0 && len(child) == 0 {
		return 2
	}
	h := uint64(14695981039346656037)
	for _, c := range dir {
		h = (h ^ uint64(c)) * 1099511628211
	}
	if len(dir) != 0 && len(child) != 0 {
		h = (h ^ '/') * 1099511628211
	}
	for _, c := range child {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h | 1<<63
}

// vkStatEnt fills a Linux struct stat for an entry, or (idx -2) for the
// directory full that no entry names.
func vkStatEnt(idx int, full []byte, st uintptr) uintptr {
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
	ino := uint64(idx + 3)
	if idx < 0 {
		ino = vkDirIno(full, nil)
	}
	*(*uint64)(unsafe.Pointer(st)) = 0x5601 // st_dev
	*(*uint64)(unsafe.Pointer(st + 8)) = ino
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
	full, e := vkFSResolve(dirfd, upath, vkFollowFlag(flags))
	if e != 0 {
		return e
	}
	if dev := vkDevice(full); dev >= 0 {
		return vkStatDevice(dev, st)
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
	return vkStatEnt(idx, full, st)
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
	full, e := vkFSResolveAtNofollow(dirfd, upath)
	if e != 0 {
		return e
	}
	if vkTmpOwns(full) {
		idx := vkTmpLookup(full)
		if idx == -1 {
			return vkErr(vkENOENT)
		}
		if idx < 0 || !vkTmp.ents[idx].link {
			return vkErr(vkEINVAL)
		}
		// The target goes through the walker's link buffer: /tmp keeps
		// it in frames, and vkTmpIO copies only to user memory.
		m := vkTmpReadLink(&vkTmp.ents[idx], vkFS.walk.link[:])
		if n > uintptr(m) {
			n = uintptr(m)
		}
		if !vkUserOK(buf, n, true) {
			return vkErr(vkEFAULT)
		}
		copy(unsafe.Slice((*byte)(unsafe.Pointer(buf)), n), vkFS.walk.link[:n])
		return n
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
	// Through symbolic links, as chdir would (velocity exec's working
	// directory may be a link in Velocity's GOROOT to the real one); a
	// name the image does not have on the way is kept as written.
	full, en := vkFS.walk.pwWalk(nil, path, pwFollow, vkPathKind)
	ok := en == 0
	if !ok {
		full, ok = vkFS.walk.pwClean(nil, path)
	}
	if !ok {
		return false
	}
	vkFS.cwd[0] = '/'
	vkFS.cwdLen = 1 + copy(vkFS.cwd[1:], full)
	return true
}

func vkSysGetcwd(buf, n uintptr) uintptr {
	if vkFS.cwdLen+1 > vkPathMax {
		// Linux's answer for a directory deeper than PATH_MAX; Go's
		// os.Getwd then finds its way up through "..".
		return vkErr(vkENAMETOOLNG)
	}
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
	dir := vkFilePath(f)
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
	if vkArchiveChildren(dir, inTmp, emit) && !inTmp {
		vkProcChildren(dir, emit) // /proc's per-process directories (vk_procstatus.go)
	}
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
		ino := uint64(i + 3)
		if j < len(rest) {
			ino = vkDirIno(dir, child)
		}
		if !visit(ino, typ, child) {
			return false
		}
	}
	if len(dir) == 0 {
		// The root also holds the directories the kernel serves itself,
		// whether or not the archive has names under them.
		for _, d := range [...]string{"dev", "proc", "tmp"} {
			if vkArchiveLookup(vkStrBytes(d)) != -1 {
				continue
			}
			ino := vkDirIno(nil, vkStrBytes(d))
			if d == "tmp" {
				ino = 1 // what stat says of /tmp (vkTmpStat's root)
			}
			if !visit(ino, 4, vkStrBytes(d)) {
				return false
			}
		}
	}
	return true
}

// Namespace changes: only /tmp is writable.

func vkSysMkdirat(dirfd int32, upath uintptr, mode uint32) uintptr {
	full, e := vkFSResolveAtParent(dirfd, upath)
	if e != 0 {
		return e
	}
	if vkFS.walk.pwDots != 0 {
		return vkErr(vkEEXIST) // "." and ".." always exist
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
	full, e := vkFSResolveAtParent(dirfd, upath)
	if e != 0 {
		return e
	}
	if vkFS.walk.pwSlash && vkIsNonDirEntry(full) {
		return vkErr(vkENOTDIR) // "name/" names a directory, and this is a file or a link
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

// vkFSRenameFrom keeps rename's resolved old name while the new one is
// resolved (too big for a kernel stack; the caller holds the kernel lock).
var vkFSRenameFrom [pwResolvedMax]byte

func vkSysRenameat(olddir int32, oldp uintptr, newdir int32, newp uintptr) uintptr {
	from, e := vkFSResolveAtParent(olddir, oldp)
	if e != 0 {
		return e
	}
	if vkFS.walk.pwDots != 0 {
		return vkErr(vkEBUSY) // Linux will not move "." or ".."
	}
	// A file or link moves only under names without a trailing '/'.
	fromNonDir, fromSlash := vkIsNonDirEntry(from), vkFS.walk.pwSlash
	fromBuf := &vkFSRenameFrom
	if len(from) > len(fromBuf) {
		return vkErr(vkENAMETOOLNG)
	}
	n := copy(fromBuf[:], from) // vkFSResolveAt reuses its buffer
	to, e := vkFSResolveAtParent(newdir, newp)
	if e != 0 {
		return e
	}
	if vkFS.walk.pwDots != 0 {
		return vkErr(vkEBUSY)
	}
	if fromNonDir && (fromSlash || vkFS.walk.pwSlash) {
		return vkErr(vkENOTDIR)
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
		if vkFDOpen(fd) {
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
// AT_EMPTY_PATH. A link's own mode cannot change: with
// AT_SYMLINK_NOFOLLOW on a link, Linux says EOPNOTSUPP, and so does this.
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
	if flags&atSymlinkNofollow != 0 {
		full, e := vkFSResolveAtNofollow(dirfd, upath)
		if e != 0 {
			return e
		}
		if vkIsLink(full) {
			return vkErr(vkEOPNOTSUPP)
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

// vkIsNonDirEntry reports whether full names something that exists and
// is not a directory (a file, a link, a device).
func vkIsNonDirEntry(full []byte) bool {
	if vkTmpOwns(full) {
		idx := vkTmpLookup(full)
		return idx >= 0 && !vkTmp.ents[idx].dir
	}
	if vkDevice(full) >= 0 {
		return true
	}
	idx := vkLookup(full)
	return idx >= 0 && vkFS.ents[idx].mode&sIFMT != sIFDIR
}

// vkFollowFlag turns AT_SYMLINK_NOFOLLOW in flags into a walk mode.
func vkFollowFlag(flags int32) int {
	if flags&atSymlinkNofollow != 0 {
		return pwNofollow
	}
	return pwFollow
}

// vkLookupAny is vkTmpLookup or vkLookup, whichever serves full.
func vkLookupAny(full []byte) int {
	if vkTmpOwns(full) {
		return vkTmpLookup(full)
	}
	if vkDevice(full) >= 0 {
		return -2
	}
	return vkLookup(full)
}

// vkStatDevice describes /dev/null, /dev/zero, /dev/random and
// /dev/urandom as Linux's memory devices (major 1), as fstat does.
func vkStatDevice(dev int32, st uintptr) uintptr {
	if !vkUserOK(st, 144, true) {
		return vkErr(vkEFAULT)
	}
	memclrNoHeapPointers(unsafe.Pointer(st), 144)
	minor := uint64(3 + 2*dev)                                 // null 3, zero 5, random 7 (urandom is 9 on Linux)
	*(*uint64)(unsafe.Pointer(st)) = 0x5603                    // st_dev: devtmpfs
	*(*uint64)(unsafe.Pointer(st + 8)) = uint64(0x20000 + dev) // st_ino
	*(*uint64)(unsafe.Pointer(st + 16)) = 1                    // st_nlink
	*(*uint32)(unsafe.Pointer(st + 24)) = 0o20666              // S_IFCHR | rw-rw-rw-
	*(*uint64)(unsafe.Pointer(st + 40)) = 1<<8 | minor         // st_rdev
	*(*int64)(unsafe.Pointer(st + 56)) = 4096                  // st_blksize
	return 0
}

// vkSysUmask sets the mode creation mask /tmp applies to new files and
// directories, and returns the old one.
func vkSysUmask(mask uint32) uintptr {
	old := vkTmp.umask
	vkTmp.umask = mask & 0o777
	return uintptr(old)
}

// vkSysUtimensat sets access and modification times (UTIME_NOW,
// UTIME_OMIT, or a time; all now if times is NULL) of a file under /tmp,
// by name or, with a NULL name, by fd (futimens). The image is read-only
// (EROFS). Like Linux, setting times also sets the change time to now.
func vkSysUtimensat(dirfd int32, upath, times uintptr, flags int32) uintptr {
	const utimeNow, utimeOmit = 1<<30 - 1, 1<<30 - 2
	if flags&^(atSymlinkNofollow|atEmptyPath) != 0 {
		return vkErr(vkEINVAL)
	}
	now := vkNow()
	ts := [2]vkTimespec{now, now}
	if times != 0 {
		if !vkUserOK(times, 32, false) {
			return vkErr(vkEFAULT)
		}
		for i := range ts {
			t := vkTimespec{*(*int64)(unsafe.Pointer(times + uintptr(16*i))), *(*int64)(unsafe.Pointer(times + uintptr(16*i+8)))}
			switch {
			case t.nsec == utimeNow:
			case t.nsec == utimeOmit:
				ts[i].nsec = utimeOmit
			case t.nsec < 0 || t.nsec >= 1e9:
				return vkErr(vkEINVAL)
			default:
				ts[i] = t
			}
		}
	}
	idx := 0
	if upath == 0 || flags&atEmptyPath != 0 && vkEmptyPath(upath) {
		if upath == 0 && dirfd == atFDCWD {
			return vkErr(vkEFAULT)
		}
		if !vkFDOpen(dirfd) {
			return vkErr(vkEBADF)
		}
		f := vkFD(dirfd, fdTmpFile)
		if f == nil {
			f = vkFD(dirfd, fdTmpDir)
		}
		if f == nil {
			return vkErr(vkEROFS) // an image file, the console, a pipe: nothing keeps their times
		}
		idx = int(f.ent)
	} else {
		full, e := vkFSResolve(dirfd, upath, vkFollowFlag(flags))
		if e != 0 {
			return e
		}
		if !vkTmpOwns(full) {
			if vkLookup(full) == -1 && vkDevice(full) < 0 {
				return vkErr(vkENOENT)
			}
			return vkErr(vkEROFS)
		}
		if idx = vkTmpLookup(full); idx == -1 {
			return vkErr(vkENOENT)
		}
	}
	a, m, c := &vkTmp.root.atime, &vkTmp.root.mtime, &vkTmp.root.ctime
	if idx >= 0 {
		e := &vkTmp.ents[idx]
		a, m, c = &e.atime, &e.mtime, &e.ctime
	}
	if ts[0].nsec != utimeOmit {
		*a = ts[0]
	}
	if ts[1].nsec != utimeOmit {
		*m = ts[1]
	}
	*c = now
	return 0
}

// vkEmptyPath reports whether a user name is "" (for AT_EMPTY_PATH).
func vkEmptyPath(upath uintptr) bool {
	p, e := vkUserPath(upath)
	return e == 0 && len(p) == 0
}
