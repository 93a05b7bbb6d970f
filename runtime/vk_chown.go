//go:build velocity

// Velocity kernel: chown, fchown, lchown and fchownat.
//
// The program runs as root (uid 0, gid 0), so on Linux every change of
// owner would be allowed. Here it is done where the kernel keeps owners
// and refused where it cannot be, never acknowledged without effect:
//   - files and directories under /tmp record the new owner, which stat
//     reports;
//   - the image's files (and /dev, which lives in it) are read-only: EROFS,
//     as Linux says for a read-only mount;
//   - the console, pipes, eventfds and epoll instances have no stored
//     owner: EPERM.
// A uid or gid of -1 leaves that id unchanged, as on Linux.
// Trap context: no allocation, no locks beyond the kernel lock the caller
// holds.

package runtime

const (
	atSymlinkNofollow = 0x100
	vkNoID            = ^uint32(0)
)

// vkTmpRootOwner is the owner of /tmp itself, which has no entry.
var vkTmpRootOwner [2]uint32

func vkChownIDs(uid, gid *uint32, newUID, newGID uint32) {
	if newUID != vkNoID {
		*uid = newUID
	}
	if newGID != vkNoID {
		*gid = newGID
	}
}

func vkTmpChown(idx int, uid, gid uint32) {
	if idx == -2 {
		vkChownIDs(&vkTmpRootOwner[0], &vkTmpRootOwner[1], uid, gid)
		return
	}
	e := &vkTmp.ents[idx]
	vkChownIDs(&e.uid, &e.gid, uid, gid)
}

func vkSysFchown(fd int32, uid, gid uint32) uintptr {
	f := vkFDFile(fd)
	if f == nil {
		return vkErr(vkEBADF)
	}
	if f.kind == fdConsole {
		return vkErr(vkEPERM) // the console: no owner is kept for it
	}
	switch f.kind {
	case fdTmpFile, fdTmpDir:
		// The entry stays allocated while open, even once unlinked.
		if f.ent == -2 || f.ent >= 0 && f.ent < vkTmpMax && vkTmp.ents[f.ent].used {
			vkTmpChown(int(f.ent), uid, gid)
			return 0
		}
		return vkErr(vkEBADF)
	case fdRegular, fdDir, fdDevice:
		return vkErr(vkEROFS)
	}
	return vkErr(vkEPERM) // pipes, eventfds, epoll: no owner is kept
}

func vkSysFchownat(dirfd int32, upath uintptr, uid, gid uint32, flags int32) uintptr {
	if flags&^(atSymlinkNofollow|atEmptyPath) != 0 {
		return vkErr(vkEINVAL)
	}
	if flags&atEmptyPath != 0 {
		if p, e := vkUserPath(upath); e == 0 && len(p) == 0 {
			if dirfd == atFDCWD {
				return vkSysChownPath(vkFS.cwd[1:vkFS.cwdLen], uid, gid)
			}
			return vkSysFchown(dirfd, uid, gid)
		}
	}
	full, e := vkFSResolve(dirfd, upath, vkFollowFlag(flags))
	if e != 0 {
		return e
	}
	return vkSysChownPath(full, uid, gid)
}

// vkSysChownPath changes the owner of a resolved path (a link itself, for
// lchown); the read-only image answers EROFS.
func vkSysChownPath(full []byte, uid, gid uint32) uintptr {
	if vkTmpOwns(full) {
		idx := vkTmpLookup(full)
		if idx == -1 {
			return vkErr(vkENOENT)
		}
		vkTmpChown(idx, uid, gid)
		return 0
	}
	if vkDevice(full) >= 0 {
		return vkErr(vkEROFS)
	}
	if vkLookup(full) == -1 {
		return vkErr(vkENOENT)
	}
	return vkErr(vkEROFS)
}
