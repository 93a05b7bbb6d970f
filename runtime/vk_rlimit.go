//go:build velocity

// Velocity kernel: resource limits, getrlimit, setrlimit and prlimit64,
// with Linux's rules (kernel/sys.c: do_prlimit, check_prlimit_permission).
//
// The process keeps one soft and one hard limit per resource (0 to
// RLIMIT_NLIMITS-1), as Linux keeps them in the thread group's signal
// struct: every thread's tid names the same process, so prlimit64 of any
// live tid reads and changes the one table. Trap context with the kernel
// lock held, which serialises every reader and writer.
//
// Rules of a change (Linux's, in its order): an unreadable new limit is
// EFAULT; a pid that names no live thread (and is not 1, the process
// itself) is ESRCH; another thread's limits need matching ids or
// CAP_SYS_RESOURCE (EPERM), which is only ever a question here after the
// program changed its ids; a resource past the last is EINVAL, a soft
// limit above the hard one EINVAL, an RLIMIT_NOFILE hard limit above the
// fd table's size (Linux's fs.nr_open; vkMaxFDs here) EPERM, and raising
// any hard limit without CAP_SYS_RESOURCE in the effective set EPERM.
// Then the old value is taken and the new one stored; the old value is
// copied out last, so a bad old pointer is EFAULT after the change is
// made, as on Linux.
//
// What the limits do. Enforced: RLIMIT_NOFILE's soft limit bounds every
// new fd (vkFDInstall, through which open, dup, F_DUPFD, pipe, socket,
// accept, epoll_create, eventfd and SCM_RIGHTS all allocate: EMFILE at
// the limit; dup2 and dup3 to a target at or above it are EBADF, F_DUPFD
// from one EINVAL); fds already open above a lowered limit stay open and
// usable, as on Linux. Stored and reported but not enforced: RLIMIT_CPU
// (no SIGXCPU), RLIMIT_FSIZE, RLIMIT_DATA, RLIMIT_STACK, RLIMIT_CORE
// (nothing dumps core), RLIMIT_RSS, RLIMIT_NPROC (threads are bounded by
// vkMaxThreads instead), RLIMIT_MEMLOCK, RLIMIT_AS, RLIMIT_LOCKS,
// RLIMIT_SIGPENDING (POSIX timers are bounded by vkMaxPTimers),
// RLIMIT_MSGQUEUE, RLIMIT_NICE, RLIMIT_RTPRIO and RLIMIT_RTTIME.

package runtime

import "unsafe"

const (
	vkRlimitStack    = 3
	vkRlimitNofile   = 7
	vkRlimNLimits    = 16 // RLIM_NLIMITS
	vkRlimInfinity   = ^uint64(0)
	vkCapSysResource = 24
)

// vkRlimits holds each resource's soft ([0]) and hard ([1]) limit. They
// start as Velocity always reported them: no limit but an 8 MiB soft
// stack limit, and RLIMIT_NOFILE at the fd table's size, soft and hard
// (so Go's os package, which raises the soft limit towards the hard one
// at start-up, finds nothing to raise).
var vkRlimits = [vkRlimNLimits][2]uint64{
	0: {vkRlimInfinity, vkRlimInfinity}, 1: {vkRlimInfinity, vkRlimInfinity},
	2: {vkRlimInfinity, vkRlimInfinity}, vkRlimitStack: {8 << 20, vkRlimInfinity},
	4: {vkRlimInfinity, vkRlimInfinity}, 5: {vkRlimInfinity, vkRlimInfinity},
	6: {vkRlimInfinity, vkRlimInfinity}, vkRlimitNofile: {vkMaxFDs, vkMaxFDs},
	8: {vkRlimInfinity, vkRlimInfinity}, 9: {vkRlimInfinity, vkRlimInfinity},
	10: {vkRlimInfinity, vkRlimInfinity}, 11: {vkRlimInfinity, vkRlimInfinity},
	12: {vkRlimInfinity, vkRlimInfinity}, 13: {vkRlimInfinity, vkRlimInfinity},
	14: {vkRlimInfinity, vkRlimInfinity}, 15: {vkRlimInfinity, vkRlimInfinity},
}

// vkFDLimit is RLIMIT_NOFILE's soft limit: new fds are below it. It never
// exceeds the fd table, since the hard limit may not.
func vkFDLimit() uint32 {
	if l := vkRlimits[vkRlimitNofile][0]; l < vkMaxFDs {
		return uint32(l)
	}
	return vkMaxFDs
}

// vkSysPrlimit serves prlimit64 (pid 0 is the caller), and setrlimit and
// getrlimit through it: newp and oldp are struct rlimit64 pointers, 0 if
// absent. See the file comment for the order of the checks.
func vkSysPrlimit(pid int32, res uint32, newp, oldp uintptr) uintptr {
	var lim [2]uint64
	if newp != 0 {
		if !vkUserOK(newp, 16, false) {
			return vkErr(vkEFAULT)
		}
		lim = *(*[2]uint64)(unsafe.Pointer(newp))
	}
	if pid != 0 && pid != vkCur().tid {
		if pid != 1 && vkThreadByTID(pid) == nil {
			return vkErr(vkESRCH)
		}
		// Another thread: Linux's check_prlimit_permission compares the
		// caller's real ids with the target's real, effective and saved
		// ones. Credentials are the process's here, so both are one set.
		c := &vkCred
		same := c.uid == c.euid && c.uid == c.suid && c.gid == c.egid && c.gid == c.sgid
		if !same && !vkCapable(vkCapSysResource) {
			return vkErr(vkEPERM)
		}
	}
	if res >= vkRlimNLimits {
		return vkErr(vkEINVAL)
	}
	cur := &vkRlimits[res]
	if newp != 0 {
		if lim[0] > lim[1] {
			return vkErr(vkEINVAL)
		}
		if res == vkRlimitNofile && lim[1] > vkMaxFDs {
			return vkErr(vkEPERM) // above nr_open
		}
		if lim[1] > cur[1] && !vkCapable(vkCapSysResource) {
			return vkErr(vkEPERM)
		}
	}
	old := *cur
	if newp != 0 {
		*cur = lim
	}
	if oldp != 0 {
		if !vkUserOK(oldp, 16, true) {
			return vkErr(vkEFAULT)
		}
		*(*[2]uint64)(unsafe.Pointer(oldp)) = old
	}
	return 0
}

// vkSysGetrlimit: Linux checks the resource (EINVAL) before it copies
// the limit out (EFAULT, a NULL pointer too).
func vkSysGetrlimit(res uint32, p uintptr) uintptr {
	if res >= vkRlimNLimits {
		return vkErr(vkEINVAL)
	}
	if !vkUserOK(p, 16, true) {
		return vkErr(vkEFAULT)
	}
	return vkSysPrlimit(0, res, 0, p)
}

// vkSysSetrlimit: Linux reads the new limit (EFAULT, a NULL pointer too)
// before anything else.
func vkSysSetrlimit(res uint32, p uintptr) uintptr {
	if !vkUserOK(p, 16, false) {
		return vkErr(vkEFAULT)
	}
	return vkSysPrlimit(0, res, p, 0)
}
