//go:build velocity

// Velocity kernel: argument checks shared by several system calls, and
// the handlers that validate arguments the way Linux does before doing
// anything (clocks, access modes, rename flags). Trap context: no
// allocation, no locks beyond the kernel lock the caller holds.

package runtime

import "unsafe"

const vkEOPNOTSUPP = 95

// vkFDOpen reports whether fd names an open descriptor. Linux reads an fd
// argument as an int (or unsigned int): only the low 32 bits count, which
// is why callers pass int32(register).
func vkFDOpen(fd int32) bool {
	return vkFDFile(fd) != nil
}

// vkUserPrefixOr clamps n to the part of [p, p+n) the program may access,
// as Linux's read and write copy up to the first fault and return that
// count. It leaves n alone when nothing is accessible, or when the range
// leaves the user half (Linux's access_ok fails the whole call then), so
// the handler's own check says EFAULT.
func vkUserPrefixOr(p, n uintptr, write bool) uintptr {
	if n == 0 || p+n < p || p+n > vkUserMax {
		return n
	}
	if m := vkUserPrefix(p, n, write); m > 0 {
		return m
	}
	return n
}

func vkValidClock(clock int32) bool { return clock >= 0 && clock <= 11 && clock != 10 }

func vkSysClockGetres(clock int32, res uintptr) uintptr {
	if !vkValidClock(clock) {
		return vkErr(vkEINVAL)
	}
	if res == 0 {
		return 0
	}
	if !vkUserOK(res, 16, true) {
		return vkErr(vkEFAULT)
	}
	*(*[2]int64)(unsafe.Pointer(res)) = [2]int64{0, 1} // the TSC: every nanosecond counts
	return 0
}

func vkSysGettimeofday(tv, tz uintptr) uintptr {
	if tv != 0 {
		if !vkUserOK(tv, 16, true) {
			return vkErr(vkEFAULT)
		}
		w := vkWalltime()
		*(*[2]int64)(unsafe.Pointer(tv)) = [2]int64{w / 1e9, w % 1e9 / 1000}
	}
	if tz != 0 {
		if !vkUserOK(tz, 8, true) {
			return vkErr(vkEFAULT)
		}
		*(*[2]int32)(unsafe.Pointer(tz)) = [2]int32{0, 0} // UTC, no DST
	}
	return 0
}

// vkSysTime returns the time in seconds and, like Linux, also stores it
// at tloc when that is not nil.
func vkSysTime(tloc uintptr) uintptr {
	now := vkWalltime() / 1e9
	if tloc != 0 {
		if !vkUserOK(tloc, 8, true) {
			return vkErr(vkEFAULT)
		}
		*(*int64)(unsafe.Pointer(tloc)) = now
	}
	return uintptr(now)
}

// vkSysFaccessat2 checks the mode (F_OK or R_OK|W_OK|X_OK) and flags
// (AT_EACCESS, AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH) before the path. One
// user, root: only existence and the read-only image decide.
func vkSysFaccessat2(dirfd int32, upath, mode, flags uintptr) uintptr {
	if mode&^7 != 0 || flags&^(0x200|atSymlinkNofollow|atEmptyPath) != 0 {
		return vkErr(vkEINVAL)
	}
	if flags&atEmptyPath != 0 {
		if p, e := vkUserPath(upath); e == 0 && len(p) == 0 {
			if dirfd == atFDCWD {
				return 0
			}
			if !vkFDOpen(dirfd) {
				return vkErr(vkEBADF)
			}
			return 0
		}
	}
	return vkSysFaccessat(dirfd, upath, int32(mode))
}

// vkSysRenameat2 honours RENAME_NOREPLACE and refuses RENAME_EXCHANGE and
// RENAME_WHITEOUT, which /tmp does not implement (Linux's answer for a
// file system without them is EINVAL too).
func vkSysRenameat2(olddir int32, oldp uintptr, newdir int32, newp uintptr, flags uint32) uintptr {
	const noReplace = 1
	if flags&^noReplace != 0 {
		return vkErr(vkEINVAL)
	}
	if flags&noReplace != 0 {
		to, e := vkFSResolveAt(newdir, newp)
		if e != 0 {
			return e
		}
		if vkTmpOwns(to) && vkTmpLookup(to) != -1 || !vkTmpOwns(to) && vkLookup(to) != -1 {
			return vkErr(vkEEXIST)
		}
	}
	return vkSysRenameat(olddir, oldp, newdir, newp)
}

// vkPathExists reports whether a resolved path names something, in /tmp
// or in the image.
func vkPathExists(full []byte) bool {
	if vkTmpOwns(full) {
		return vkTmpLookup(full) != -1
	}
	return vkLookup(full) != -1
}

// vkParentExists reports whether the directory a new name would go in
// exists.
func vkParentExists(full []byte) bool {
	i := len(full)
	for i > 0 && full[i-1] != '/' {
		i--
	}
	if i == 0 {
		return true // the root
	}
	parent := full[:i-1]
	if vkTmpOwns(full) {
		return vkTmpParentOK(full)
	}
	idx := vkLookup(parent)
	return idx == -2 || idx >= 0 && vkFS.ents[idx].mode&sIFMT == sIFDIR
}

// vkSysLinkat checks what Linux checks (flags, both paths, that the old
// one exists and the new one does not), then gives a /tmp file a further
// name (vkTmpLink). The image is read-only (EROFS), links between it and
// /tmp cross file systems (EXDEV), and directories take no hard links
// (EPERM).
func vkSysLinkat(olddir int32, oldp uintptr, newdir int32, newp uintptr, flags uint32) uintptr {
	if flags&^(0x400|atEmptyPath) != 0 { // AT_SYMLINK_FOLLOW, AT_EMPTY_PATH
		return vkErr(vkEINVAL)
	}
	fromMode := pwNofollow
	if flags&0x400 != 0 { // AT_SYMLINK_FOLLOW
		fromMode = pwFollow
	}
	from, e := vkFSResolve(olddir, oldp, fromMode)
	if e != 0 {
		return e
	}
	fromExists, fromTmp := vkPathExists(from), vkTmpOwns(from)
	fromDir, fromNode := false, -1
	if fromExists {
		if fromTmp {
			idx := vkTmpLookup(from)
			fromDir, fromNode = idx == -2 || vkTmp.ents[idx].dir, idx
		} else {
			idx := vkLookup(from)
			fromDir = idx == -2 || vkFS.ents[idx].mode&sIFMT == sIFDIR
		}
	}
	to, e := vkFSResolveAtParent(newdir, newp) // reuses the buffer from pointed into
	if e != 0 {
		return e
	}
	switch {
	case !fromExists:
		return vkErr(vkENOENT)
	case !vkParentExists(to):
		return vkErr(vkENOENT)
	case vkPathExists(to):
		return vkErr(vkEEXIST)
	case vkFS.walk.pwSlash:
		return vkErr(vkENOENT) // "name/" can only be made by mkdir
	case fromDir:
		return vkErr(vkEPERM)
	case fromTmp != vkTmpOwns(to):
		return vkErr(vkEXDEV)
	case !fromTmp:
		return vkErr(vkEROFS)
	}
	return vkTmpLink(fromNode, to)
}

// vkSysSymlinkat reads the target and resolves the new name as Linux does
// (a link already there is not followed), then creates the link in /tmp
// (vkTmpSymlink); the image is read-only (EROFS).
func vkSysSymlinkat(target uintptr, newdir int32, newp uintptr) uintptr {
	t, e := vkUserPath(target)
	if e != 0 {
		return e
	}
	if len(t) == 0 {
		return vkErr(vkENOENT)
	}
	to, e := vkFSResolveAtParent(newdir, newp)
	if e != 0 {
		return e
	}
	switch {
	case vkFS.walk.pwDots != 0:
		return vkErr(vkEEXIST)
	case !vkParentExists(to):
		return vkErr(vkENOENT)
	case vkPathExists(to):
		return vkErr(vkEEXIST)
	case vkFS.walk.pwSlash:
		return vkErr(vkENOENT) // "name/" can only be made by mkdir
	case !vkTmpOwns(to):
		return vkErr(vkEROFS)
	}
	return vkTmpSymlink(to, t)
}

// vkSysFchdir makes an open directory the working directory (testing's
// t.Chdir restores the old one this way).
func vkSysFchdir(fd int32) uintptr {
	if !vkFDOpen(fd) {
		return vkErr(vkEBADF)
	}
	f := vkFD(fd, fdDir)
	if f == nil {
		f = vkFD(fd, fdTmpDir)
	}
	if f == nil {
		return vkErr(vkENOTDIR)
	}
	path := vkFilePath(f)
	if f.ent >= 0 && f.kind == fdTmpDir {
		e := &vkTmp.ents[f.ent]
		if e.unlinked {
			return vkErr(vkENOENT) // removed since it was opened (Linux enters it)
		}
		path = vkTmpName(e) // its name now: it may have been renamed since
	}
	vkFS.cwd[0] = '/'
	vkFS.cwdLen = 1 + copy(vkFS.cwd[1:], path)
	return 0
}

// vkSysPwrite64 writes at an offset: files under /tmp take it; the
// image's files and directories are open read-only (EBADF); pipes, the
// console, eventfds and epoll instances cannot seek (ESPIPE); devices
// write as write(2) does.
func vkSysPwrite64(fd int32, p, n uintptr, off int64) uintptr {
	if !vkFDOpen(fd) {
		return vkErr(vkEBADF)
	}
	if f := vkFD(fd, fdTmpFile); f != nil {
		if f.flags&oAccMode == 0 {
			return vkErr(vkEBADF)
		}
		if off < 0 {
			return vkErr(vkEINVAL) // a negative offset would index below the file
		}
		return vkTmpWrite(f, p, vkUserPrefixOr(p, n, false), off, false)
	}
	switch vkFDKind(fd) {
	case fdRegular, fdDir, fdTmpDir:
		return vkErr(vkEBADF)
	case fdDevice:
		if off < 0 {
			return vkErr(vkEINVAL)
		}
		return vkSysWrite(fd, p, n)
	}
	return vkErr(vkESPIPE)
}
