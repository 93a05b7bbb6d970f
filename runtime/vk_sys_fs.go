//go:build velocity

// Velocity kernel: the system call table's handlers for the file-system
// family (paths: open, stat, directories, links, renames, modes, owners).
// The bodies are in vk_fs.go, vk_tmpfs.go, vk_sysargs.go and vk_chown.go;
// a handler only unpacks registers and supplies the AT_FDCWD or flags that
// the older call implies. Trap context with the kernel lock held: no
// allocation, no write barriers, no defer.

package runtime

func vkCallOpen(f *vkFrame, canBlock bool) uintptr {
	return vkSysOpenat(atFDCWD, uintptr(f.rdi), int32(f.rsi), uint32(f.rdx))
}

func vkCallCreat(f *vkFrame, canBlock bool) uintptr {
	return vkSysOpenat(atFDCWD, uintptr(f.rdi), oCreat|oTrunc|1, uint32(f.rsi))
}

func vkCallOpenat(f *vkFrame, canBlock bool) uintptr {
	return vkSysOpenat(int32(f.rdi), uintptr(f.rsi), int32(f.rdx), uint32(f.r10))
}

func vkCallStat(f *vkFrame, canBlock bool) uintptr {
	return vkSysNewfstatat(atFDCWD, uintptr(f.rdi), uintptr(f.rsi), 0)
}

// vkCallLstat is newfstatat with AT_SYMLINK_NOFOLLOW, as on Linux; whether
// the flag makes a difference is path resolution's business (vk_fs.go).
func vkCallLstat(f *vkFrame, canBlock bool) uintptr {
	return vkSysNewfstatat(atFDCWD, uintptr(f.rdi), uintptr(f.rsi), atSymlinkNofollow)
}

func vkCallNewfstatat(f *vkFrame, canBlock bool) uintptr {
	return vkSysNewfstatat(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx), int32(f.r10))
}

func vkCallAccess(f *vkFrame, canBlock bool) uintptr {
	return vkSysFaccessat2(atFDCWD, uintptr(f.rdi), uintptr(f.rsi), 0)
}

func vkCallFaccessat(f *vkFrame, canBlock bool) uintptr {
	return vkSysFaccessat2(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx), 0)
}

func vkCallFaccessat2(f *vkFrame, canBlock bool) uintptr {
	return vkSysFaccessat2(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx), uintptr(f.r10))
}

func vkCallReadlink(f *vkFrame, canBlock bool) uintptr {
	return vkSysReadlinkat(atFDCWD, uintptr(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}

func vkCallReadlinkat(f *vkFrame, canBlock bool) uintptr {
	return vkSysReadlinkat(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx), uintptr(f.r10))
}

func vkCallGetdents64(f *vkFrame, canBlock bool) uintptr {
	return vkSysGetdents64(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx))
}

func vkCallGetcwd(f *vkFrame, canBlock bool) uintptr {
	return vkSysGetcwd(uintptr(f.rdi), uintptr(f.rsi))
}

func vkCallChdir(f *vkFrame, canBlock bool) uintptr {
	return vkSysChdir(uintptr(f.rdi))
}

func vkCallFchdir(f *vkFrame, canBlock bool) uintptr {
	return vkSysFchdir(int32(f.rdi))
}

func vkCallMkdir(f *vkFrame, canBlock bool) uintptr {
	return vkSysMkdirat(atFDCWD, uintptr(f.rdi), uint32(f.rsi))
}

func vkCallMkdirat(f *vkFrame, canBlock bool) uintptr {
	return vkSysMkdirat(int32(f.rdi), uintptr(f.rsi), uint32(f.rdx))
}

func vkCallUnlink(f *vkFrame, canBlock bool) uintptr {
	return vkSysUnlinkat(atFDCWD, uintptr(f.rdi), 0)
}

func vkCallRmdir(f *vkFrame, canBlock bool) uintptr {
	return vkSysUnlinkat(atFDCWD, uintptr(f.rdi), atRemoveD)
}

func vkCallUnlinkat(f *vkFrame, canBlock bool) uintptr {
	if f.rdx&^atRemoveD != 0 {
		return vkErr(vkEINVAL)
	}
	return vkSysUnlinkat(int32(f.rdi), uintptr(f.rsi), int32(f.rdx))
}

func vkCallRename(f *vkFrame, canBlock bool) uintptr {
	return vkSysRenameat(atFDCWD, uintptr(f.rdi), atFDCWD, uintptr(f.rsi))
}

func vkCallRenameat(f *vkFrame, canBlock bool) uintptr {
	return vkSysRenameat(int32(f.rdi), uintptr(f.rsi), int32(f.rdx), uintptr(f.r10))
}

func vkCallRenameat2(f *vkFrame, canBlock bool) uintptr {
	return vkSysRenameat2(int32(f.rdi), uintptr(f.rsi), int32(f.rdx), uintptr(f.r10), uint32(f.r8))
}

func vkCallTruncate(f *vkFrame, canBlock bool) uintptr {
	return vkSysTruncate(uintptr(f.rdi), int64(f.rsi))
}

func vkCallLink(f *vkFrame, canBlock bool) uintptr {
	return vkSysLinkat(atFDCWD, uintptr(f.rdi), atFDCWD, uintptr(f.rsi), 0)
}

func vkCallLinkat(f *vkFrame, canBlock bool) uintptr {
	return vkSysLinkat(int32(f.rdi), uintptr(f.rsi), int32(f.rdx), uintptr(f.r10), uint32(f.r8))
}

func vkCallSymlink(f *vkFrame, canBlock bool) uintptr {
	return vkSysSymlinkat(uintptr(f.rdi), atFDCWD, uintptr(f.rsi))
}

func vkCallSymlinkat(f *vkFrame, canBlock bool) uintptr {
	return vkSysSymlinkat(uintptr(f.rdi), int32(f.rsi), uintptr(f.rdx))
}

func vkCallChmod(f *vkFrame, canBlock bool) uintptr {
	return vkSysFchmodat(atFDCWD, uintptr(f.rdi), uint32(f.rsi))
}

func vkCallFchmod(f *vkFrame, canBlock bool) uintptr {
	return vkSysFchmod(int32(f.rdi), uint32(f.rsi))
}

func vkCallFchmodat(f *vkFrame, canBlock bool) uintptr {
	return vkSysFchmodat(int32(f.rdi), uintptr(f.rsi), uint32(f.rdx))
}

func vkCallFchmodat2(f *vkFrame, canBlock bool) uintptr {
	return vkSysFchmodat2(int32(f.rdi), uintptr(f.rsi), uint32(f.rdx), uintptr(f.r10))
}

func vkCallChown(f *vkFrame, canBlock bool) uintptr {
	return vkSysFchownat(atFDCWD, uintptr(f.rdi), uint32(f.rsi), uint32(f.rdx), 0)
}

func vkCallLchown(f *vkFrame, canBlock bool) uintptr {
	return vkSysFchownat(atFDCWD, uintptr(f.rdi), uint32(f.rsi), uint32(f.rdx), atSymlinkNofollow)
}

func vkCallFchown(f *vkFrame, canBlock bool) uintptr {
	return vkSysFchown(int32(f.rdi), uint32(f.rsi), uint32(f.rdx))
}

func vkCallFchownat(f *vkFrame, canBlock bool) uintptr {
	return vkSysFchownat(int32(f.rdi), uintptr(f.rsi), uint32(f.rdx), uint32(f.r10), int32(f.r8))
}

func vkCallUtimensat(f *vkFrame, canBlock bool) uintptr {
	return vkSysUtimensat(int32(f.rdi), uintptr(f.rsi), uintptr(f.rdx), int32(f.r10))
}

func vkCallUmask(f *vkFrame, canBlock bool) uintptr {
	return vkSysUmask(uint32(f.rdi))
}

func vkCallCopyFileRange(f *vkFrame, canBlock bool) uintptr {
	return vkSysCopyFileRange(int32(f.rdi), uintptr(f.rsi), int32(f.rdx), uintptr(f.r10), uintptr(f.r8), uint32(f.r9))
}

// vkCallMknodat: FIFOs and regular files under /tmp (vk_fifo.go).
func vkCallMknodat(f *vkFrame, canBlock bool) uintptr {
	return vkSysMknodat(int32(f.rdi), uintptr(f.rsi), uint32(f.rdx), uint32(f.r10))
}

func vkCallMknod(f *vkFrame, canBlock bool) uintptr {
	return vkSysMknodat(atFDCWD, uintptr(f.rdi), uint32(f.rsi), uint32(f.rdx))
}
