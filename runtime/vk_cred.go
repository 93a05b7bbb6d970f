//go:build velocity

// Velocity kernel: the process's credentials: real, effective, saved and
// file-system user and group ids, the supplementary groups, the
// capability sets and the keep-capabilities flag, with Linux's rules for
// changing them (kernel/sys.c, kernel/groups.c, kernel/capability.c,
// security/commoncap.c). Trap context with the kernel lock held, which
// serialises every change: no allocation, no write barriers, no defer.
//
// The program starts as root (all ids 0) with every capability, the only
// identity a unikernel has. It may change its ids as root may on Linux,
// and the getters report what it set, so that code which drops and
// regains privileges (package syscall's Setuid family, run on all
// threads by AllThreadsSyscall) sees Linux's answers. Linux keeps
// credentials per thread and Go keeps its threads in step; Velocity runs
// one process, so it keeps one set for all of its threads, which is what
// Go's all-thread calls produce anyway.
//
// Changing an id changes what these calls answer and permit (an effective
// uid other than 0 loses the effective capabilities, so a later setuid to
// another id is EPERM as on Linux). The file systems do not check access
// against the ids: the image is read-only to everyone and /tmp belongs to
// the one program, as before.

package runtime

import "unsafe"

const (
	vkCapLast        = 40 // CAP_CHECKPOINT_RESTORE, Linux 5.9's last capability
	vkCapAll         = uint64(1)<<(vkCapLast+1) - 1
	vkCapSetgid      = 6
	vkCapSetuid      = 7
	vkCapSetpcap     = 8
	vkNGroupsMax     = 65536 // NGROUPS_MAX
	vkCapVersion1    = 0x19980330
	vkCapVersion2    = 0x20071026
	vkCapVersion3    = 0x20080522
	vkSecbitKeepCaps = 1 << 4 // SECBIT_KEEP_CAPS
	// vkCapFSSet is Linux's CAP_FS_SET, the capabilities that follow the
	// file-system uid in and out of 0 (setfsuid): CAP_CHOWN,
	// CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID,
	// CAP_LINUX_IMMUTABLE, CAP_MKNOD and CAP_MAC_OVERRIDE (measured on
	// the Linux host: the effective set setfsuid(1000) leaves).
	vkCapFSSet = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<9 | 1<<27 | 1<<32
)

// vkCred is the process's credential set; see the file comment.
var vkCred struct {
	uid, euid, suid, fsuid uint32
	gid, egid, sgid, fsgid uint32
	capEff, capPrm, capInh uint64
	capBnd                 uint64 // the bounding set: all, never dropped (PR_CAPBSET_DROP is not offered)
	securebits             uint32
	inited                 bool
	ngroups                int32
	groups                 [vkNGroupsMax]uint32 // sorted, as Linux keeps them
}

// vkCredInit gives the program root's full capability sets the first time
// credentials are consulted (the zero value already means uid and gid 0).
func vkCredInit() {
	if !vkCred.inited {
		vkCred.capEff, vkCred.capPrm, vkCred.capBnd = vkCapAll, vkCapAll, vkCapAll
		vkCred.inited = true
	}
}

func vkCapable(c uint) bool {
	vkCredInit()
	return vkCred.capEff&(1<<c) != 0
}

// vkSysGetid answers getuid (0), geteuid (1), getgid (2) and getegid (3).
func vkSysGetid(which int) uintptr {
	switch which {
	case 0:
		return uintptr(vkCred.uid)
	case 1:
		return uintptr(vkCred.euid)
	case 2:
		return uintptr(vkCred.gid)
	}
	return uintptr(vkCred.egid)
}

// vkSysGetres answers getresuid and getresgid: each id is stored in turn,
// and the first unwritable pointer stops the call with EFAULT, as Linux's
// put_user sequence does.
func vkSysGetres(gid bool, rp, ep, sp uintptr) uintptr {
	v := [3]uint32{vkCred.uid, vkCred.euid, vkCred.suid}
	if gid {
		v = [3]uint32{vkCred.gid, vkCred.egid, vkCred.sgid}
	}
	p := [3]uintptr{rp, ep, sp}
	for i := range p {
		if !vkUserOK(p[i], 4, true) || p[i] == 0 {
			return vkErr(vkEFAULT)
		}
		*(*uint32)(unsafe.Pointer(p[i])) = v[i]
	}
	return 0
}

// vkCredFixCaps applies commoncap's cap_emulate_setxuid after a change of
// user ids from (ou, oe, os): losing uid 0 everywhere clears the
// permitted and effective sets unless keep-caps is set; leaving effective
// uid 0 clears the effective set; regaining it restores it from permitted.
func vkCredFixCaps(ou, oe, os uint32) {
	c := &vkCred
	if (ou == 0 || oe == 0 || os == 0) && c.uid != 0 && c.euid != 0 && c.suid != 0 {
		if c.securebits&vkSecbitKeepCaps == 0 {
			c.capPrm, c.capEff = 0, 0
		}
	}
	if oe == 0 && c.euid != 0 {
		c.capEff = 0
	}
	if oe != 0 && c.euid == 0 {
		c.capEff = c.capPrm
	}
}

// vkSysSetid serves setuid (gid false) and setgid (gid true): with
// CAP_SETUID/CAP_SETGID all four ids change; without, only the effective
// and file-system ids, and only to the real or saved id (else EPERM).
// -1 is not an id (EINVAL).
func vkSysSetid(gid bool, id uint32) uintptr {
	vkCredInit()
	if id == ^uint32(0) {
		return vkErr(vkEINVAL)
	}
	c := &vkCred
	if gid {
		if vkCapable(vkCapSetgid) {
			c.gid, c.egid, c.sgid, c.fsgid = id, id, id, id
		} else if id == c.gid || id == c.sgid {
			c.egid, c.fsgid = id, id
		} else {
			return vkErr(vkEPERM)
		}
		return 0
	}
	ou, oe, os := c.uid, c.euid, c.suid
	if vkCapable(vkCapSetuid) {
		c.uid, c.euid, c.suid, c.fsuid = id, id, id, id
	} else if id == c.uid || id == c.suid {
		c.euid, c.fsuid = id, id
	} else {
		return vkErr(vkEPERM)
	}
	vkCredFixCaps(ou, oe, os)
	return 0
}

// vkCredIDs returns the real, effective, saved and file-system user ids
// (gid false) or group ids (gid true), and whether the process holds the
// capability to set them freely (CAP_SETUID or CAP_SETGID).
func vkCredIDs(gid bool) (r, e, s, fs *uint32, capable bool) {
	vkCredInit()
	c := &vkCred
	if gid {
		return &c.gid, &c.egid, &c.sgid, &c.fsgid, vkCapable(vkCapSetgid)
	}
	return &c.uid, &c.euid, &c.suid, &c.fsuid, vkCapable(vkCapSetuid)
}

// vkSysSetreid serves setreuid and setregid (-1 leaves an id alone).
// Without the capability the real id may become the real or effective
// one, the effective id the real, effective or saved one. The saved id
// follows the new effective id when the real id is set or the effective
// id is set to something other than the old real id.
func vkSysSetreid(gid bool, r, e uint32) uintptr {
	c := &vkCred
	or, oe, os, fs, capable := vkCredIDs(gid)
	const none = ^uint32(0)
	if r != none && r != *or && r != *oe && !capable {
		return vkErr(vkEPERM)
	}
	if e != none && e != *or && e != *oe && e != *os && !capable {
		return vkErr(vkEPERM)
	}
	ou, oeu, osu := c.uid, c.euid, c.suid
	oldReal := *or
	if r != none {
		*or = r
	}
	if e != none {
		*oe = e
	}
	if r != none || (e != none && e != oldReal) {
		*os = *oe
	}
	*fs = *oe
	if !gid {
		vkCredFixCaps(ou, oeu, osu)
	}
	return 0
}

// vkSysSetresid serves setresuid and setresgid (-1 leaves an id alone).
// Without the capability each new id must be one of the current real,
// effective and saved ids. The file-system id follows the effective one.
func vkSysSetresid(gid bool, r, e, s uint32) uintptr {
	c := &vkCred
	or, oe, os, fs, capable := vkCredIDs(gid)
	const none = ^uint32(0)
	known := func(v uint32) bool { return v == none || v == *or || v == *oe || v == *os }
	if !capable && !(known(r) && known(e) && known(s)) {
		return vkErr(vkEPERM)
	}
	ou, oeu, osu := c.uid, c.euid, c.suid
	if r != none {
		*or = r
	}
	if e != none {
		*oe = e
	}
	if s != none {
		*os = s
	}
	*fs = *oe
	if !gid {
		vkCredFixCaps(ou, oeu, osu)
	}
	return 0
}

// vkSysSetgroups replaces the supplementary group list: CAP_SETGID is
// needed (EPERM), at most NGROUPS_MAX entries (EINVAL, a negative size
// too), the list must be readable (EFAULT) and hold no -1 (EINVAL).
// Nothing changes unless all of it is good. The list is kept sorted, as
// Linux's groups_sort leaves it, so getgroups returns it in order.
func vkSysSetgroups(size int32, list uintptr) uintptr {
	if !vkCapable(vkCapSetgid) {
		return vkErr(vkEPERM)
	}
	if uint32(size) > vkNGroupsMax {
		return vkErr(vkEINVAL)
	}
	n := uintptr(size)
	if n > 0 && (list == 0 || !vkUserOK(list, 4*n, false)) {
		return vkErr(vkEFAULT)
	}
	for i := uintptr(0); i < n; i++ {
		if *(*uint32)(unsafe.Pointer(list + 4*i)) == ^uint32(0) {
			return vkErr(vkEINVAL)
		}
	}
	g := vkCred.groups[:n]
	for i := range g {
		g[i] = *(*uint32)(unsafe.Pointer(list + 4*uintptr(i)))
	}
	vkSortU32(g)
	vkCred.ngroups = size
	return 0
}

// vkSortU32 sorts in place by heapsort: no allocation and O(n log n) for
// the 65,536 entries a group list may hold.
func vkSortU32(a []uint32) {
	down := func(i, n int) {
		for {
			c := 2*i + 1
			if c >= n {
				return
			}
			if c+1 < n && a[c+1] > a[c] {
				c++
			}
			if a[i] >= a[c] {
				return
			}
			a[i], a[c] = a[c], a[i]
			i = c
		}
	}
	for i := len(a)/2 - 1; i >= 0; i-- {
		down(i, len(a))
	}
	for n := len(a) - 1; n > 0; n-- {
		a[0], a[n] = a[n], a[0]
		down(0, n)
	}
}

// vkSysGetgroups returns the supplementary groups (none until setgroups
// sets some): size 0 asks for the count, a negative size or one smaller
// than the list is EINVAL, an unwritable list EFAULT.
func vkSysGetgroups(size int32, list uintptr) uintptr {
	if size < 0 {
		return vkErr(vkEINVAL)
	}
	n := vkCred.ngroups
	if size == 0 || n == 0 {
		return uintptr(n)
	}
	if n > size {
		return vkErr(vkEINVAL)
	}
	if list == 0 || !vkUserOK(list, 4*uintptr(n), true) {
		return vkErr(vkEFAULT)
	}
	for i := int32(0); i < n; i++ {
		*(*uint32)(unsafe.Pointer(list + 4*uintptr(i))) = vkCred.groups[i]
	}
	return uintptr(n)
}

// vkCapHeader checks a capget/capset header as Linux's cap_validate_magic
// does and returns how many 32-bit words of each set the data carries (1
// for version 1, 2 for versions 2 and 3) and the pid it names, or an
// errno: an unreadable header is EFAULT, an unknown version is EINVAL
// after the preferred version (3) is written back into the header.
func vkCapHeader(hdr uintptr) (words int, pid int32, errno int) {
	if hdr == 0 || !vkUserOK(hdr, 4, false) {
		return 0, 0, vkEFAULT
	}
	switch *(*uint32)(unsafe.Pointer(hdr)) {
	case vkCapVersion1:
		words = 1
	case vkCapVersion2, vkCapVersion3:
		words = 2
	default:
		if !vkUserOK(hdr, 4, true) {
			return 0, 0, vkEFAULT
		}
		*(*uint32)(unsafe.Pointer(hdr)) = vkCapVersion3
		return 0, 0, vkEINVAL
	}
	if !vkUserOK(hdr+4, 4, false) {
		return 0, 0, vkEFAULT
	}
	return words, *(*int32)(unsafe.Pointer(hdr + 4)), 0
}

// vkSysCapget reads the process's capability sets. As on Linux a NULL
// data pointer only probes the version (0 even for a bad one, which is
// still written back), a negative pid is EINVAL and a pid other than
// this process's (1) names no process (ESRCH).
func vkSysCapget(hdr, data uintptr) uintptr {
	vkCredInit()
	words, pid, errno := vkCapHeader(hdr)
	if data == 0 && (errno == 0 || errno == vkEINVAL) {
		return 0
	}
	if errno != 0 {
		return vkErr(errno)
	}
	if pid < 0 {
		return vkErr(vkEINVAL)
	}
	if pid != 0 && pid != 1 {
		return vkErr(vkESRCH)
	}
	if !vkUserOK(data, uintptr(12*words), true) {
		return vkErr(vkEFAULT)
	}
	for i := 0; i < words; i++ {
		p := data + uintptr(12*i)
		sh := uint(32 * i)
		*(*uint32)(unsafe.Pointer(p)) = uint32(vkCred.capEff >> sh)
		*(*uint32)(unsafe.Pointer(p + 4)) = uint32(vkCred.capPrm >> sh)
		*(*uint32)(unsafe.Pointer(p + 8)) = uint32(vkCred.capInh >> sh)
	}
	return 0
}

// vkSysCapset changes the process's capability sets with Linux's rules
// (cap_capset): another process's pid is EPERM, an unreadable data
// pointer EFAULT; the new permitted set must lie within the old one, the
// effective within the new permitted, and the inheritable within the old
// inheritable and bounding sets (and, without CAP_SETPCAP, within the
// old inheritable and permitted sets), else EPERM and nothing changes.
func vkSysCapset(hdr, data uintptr) uintptr {
	vkCredInit()
	words, pid, errno := vkCapHeader(hdr)
	if errno != 0 {
		return vkErr(errno)
	}
	if pid != 0 && pid != 1 {
		return vkErr(vkEPERM)
	}
	if data == 0 || !vkUserOK(data, uintptr(12*words), false) {
		return vkErr(vkEFAULT)
	}
	var eff, prm, inh uint64
	for i := 0; i < words; i++ {
		p := data + uintptr(12*i)
		sh := uint(32 * i)
		eff |= uint64(*(*uint32)(unsafe.Pointer(p))) << sh
		prm |= uint64(*(*uint32)(unsafe.Pointer(p + 4))) << sh
		inh |= uint64(*(*uint32)(unsafe.Pointer(p + 8))) << sh
	}
	eff, prm, inh = eff&vkCapAll, prm&vkCapAll, inh&vkCapAll
	c := &vkCred
	if !vkCapable(vkCapSetpcap) && inh&^(c.capInh|c.capPrm) != 0 {
		return vkErr(vkEPERM)
	}
	if inh&^(c.capInh|c.capBnd) != 0 || prm&^c.capPrm != 0 || eff&^prm != 0 {
		return vkErr(vkEPERM)
	}
	c.capEff, c.capPrm, c.capInh = eff, prm, inh
	return 0
}

// vkSysPrctl offers the options about credentials: PR_GET_KEEPCAPS and
// PR_SET_KEEPCAPS (0 or 1, else EINVAL), whether permitted capabilities
// survive the loss of uid 0, and PR_CAPBSET_READ (whether a capability is
// in the bounding set; EINVAL past the last one). Linux answers EINVAL to
// an option it does not know, and so does Velocity to every other one.
func vkSysPrctl(option int32, arg2 uintptr) uintptr {
	const (
		prGetKeepcaps = 7
		prSetKeepcaps = 8
		prCapbsetRead = 23
	)
	vkCredInit()
	switch option {
	case prGetKeepcaps:
		if vkCred.securebits&vkSecbitKeepCaps != 0 {
			return 1
		}
		return 0
	case prSetKeepcaps:
		if arg2 > 1 {
			return vkErr(vkEINVAL)
		}
		vkCred.securebits = vkCred.securebits&^vkSecbitKeepCaps | uint32(arg2)<<4
		return 0
	case prCapbsetRead:
		if arg2 > vkCapLast {
			return vkErr(vkEINVAL)
		}
		return uintptr(vkCred.capBnd >> arg2 & 1)
	}
	return vkErr(vkEINVAL)
}

// vkSysGetpgid: the one process (pid 1) leads its own process group, so
// pid 0 and 1 answer 1; any other pid names no process (ESRCH).
func vkSysGetpgid(pid int32) uintptr {
	if pid != 0 && pid != 1 {
		return vkErr(vkESRCH)
	}
	return 1
}

// vkSysSetfsid serves setfsuid (gid false) and setfsgid (gid true), which
// never fail: they return the old file-system id whether or not it
// changed. The new id is taken if it is the real, effective, saved or
// current file-system id, or with CAP_SETUID/CAP_SETGID; -1 only asks.
// As on Linux, a file-system uid leaving 0 drops CAP_FS_SET from the
// effective set and one coming back to 0 raises it from the permitted
// set. Linux keeps the file-system ids per thread; Velocity keeps every
// credential per process (see the file comment), so the change is the
// whole program's.
func vkSysSetfsid(gid bool, id uint32) uintptr {
	r, e, s, fs, capable := vkCredIDs(gid)
	old := *fs
	if id == ^uint32(0) {
		return uintptr(old)
	}
	if (id == *r || id == *e || id == *s || id == old || capable) && id != old {
		*fs = id
		if !gid {
			c := &vkCred
			if old == 0 && id != 0 {
				c.capEff &^= vkCapFSSet
			}
			if old != 0 && id == 0 {
				c.capEff |= c.capPrm & vkCapFSSet
			}
		}
	}
	return uintptr(old)
}
