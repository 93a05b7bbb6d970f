package semantics

import (
	"runtime"
	"syscall"
	"testing"
	"unsafe"
)

func prlimit(pid int, res uintptr, newp, oldp *syscall.Rlimit) syscall.Errno {
	_, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), res,
		uintptr(unsafe.Pointer(newp)), uintptr(unsafe.Pointer(oldp)), 0, 0)
	return e
}

func getrlimit(t *testing.T, res uintptr) syscall.Rlimit {
	t.Helper()
	var l syscall.Rlimit
	if e := prlimit(0, res, nil, &l); e != 0 {
		t.Fatalf("prlimit(0, %d, nil, &old): %v", res, e)
	}
	return l
}

// capSet sets the calling thread's effective, permitted and inheritable
// capability sets (Linux: this thread's; Velocity: the process's).
func capSet(t *testing.T, eff, prm, inh uint64) {
	t.Helper()
	hdr := [2]uint32{0x20080522, 0}
	data := [6]uint32{uint32(eff), uint32(prm), uint32(inh), uint32(eff >> 32), uint32(prm >> 32), uint32(inh >> 32)}
	if e := rawErr(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data))); e != 0 {
		t.Fatalf("capset: %v", e)
	}
}

// TestPrlimit sets and reads back limits with Linux's rules: the old
// value comes back, soft above hard and a resource past the last are
// EINVAL, an RLIMIT_NOFILE hard limit past nr_open and raising a hard
// limit without CAP_SYS_RESOURCE are EPERM, a bad new pointer is EFAULT
// before anything changes and a bad old one EFAULT after the change.
func TestPrlimit(t *testing.T) {
	const nofile, core = syscall.RLIMIT_NOFILE, 4
	lim0 := getrlimit(t, nofile)
	core0 := getrlimit(t, core)
	defer func() {
		if e := prlimit(0, nofile, &lim0, nil); e != 0 {
			t.Errorf("restoring RLIMIT_NOFILE %v: %v", lim0, e)
		}
	}()
	if lim0.Cur < 64 || lim0.Cur > lim0.Max {
		t.Fatalf("RLIMIT_NOFILE = %+v", lim0)
	}

	// Set, read back (by 0, the pid and this thread's tid), old value.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lower := syscall.Rlimit{Cur: lim0.Cur - 1, Max: lim0.Max}
	var old syscall.Rlimit
	if e := prlimit(0, nofile, &lower, &old); e != 0 {
		t.Fatalf("prlimit(soft %d): %v", lower.Cur, e)
	}
	if old != lim0 {
		t.Fatalf("old value %+v, want %+v", old, lim0)
	}
	for _, pid := range []int{0, syscall.Getpid(), syscall.Gettid()} {
		var got syscall.Rlimit
		if e := prlimit(pid, nofile, nil, &got); e != 0 || got != lower {
			t.Fatalf("prlimit(pid %d) read %+v, %v; want %+v", pid, got, e, lower)
		}
	}
	var got syscall.Rlimit
	if err := syscall.Getrlimit(nofile, &got); err != nil || got != lower {
		t.Fatalf("getrlimit read %+v, %v; want %+v", got, err, lower)
	}
	if err := syscall.Setrlimit(nofile, &lim0); err != nil {
		t.Fatalf("setrlimit back to %+v: %v", lim0, err)
	}
	if got := getrlimit(t, nofile); got != lim0 {
		t.Fatalf("after setrlimit: %+v, want %+v", got, lim0)
	}

	// EINVAL and EPERM, nothing changed.
	bad := []struct {
		name string
		res  uintptr
		lim  syscall.Rlimit
		want syscall.Errno
	}{
		{"resource 16", 16, lim0, syscall.EINVAL},
		{"resource -1", ^uintptr(0), lim0, syscall.EINVAL},
		{"soft above hard", nofile, syscall.Rlimit{Cur: lim0.Max, Max: lim0.Max - 1}, syscall.EINVAL},
		{"nofile past nr_open", nofile, syscall.Rlimit{Cur: lim0.Cur, Max: 1 << 40}, syscall.EPERM},
	}
	for _, c := range bad {
		l := c.lim
		if e := prlimit(0, c.res, &l, nil); e != c.want {
			t.Errorf("prlimit(%s): %v, want %v", c.name, e, c.want)
		}
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETRLIMIT, c.res, uintptr(unsafe.Pointer(&l)), 0); e != c.want {
			t.Errorf("setrlimit(%s): %v, want %v", c.name, e, c.want)
		}
	}
	if e := prlimit(0, 16, nil, &got); e != syscall.EINVAL {
		t.Errorf("prlimit(resource 16, read): %v, want EINVAL", e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_GETRLIMIT, 16, 0, 0); e != syscall.EINVAL {
		t.Errorf("getrlimit(resource 16, NULL): %v, want EINVAL (the resource first)", e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_GETRLIMIT, nofile, 0, 0); e != syscall.EFAULT {
		t.Errorf("getrlimit(NULL): %v, want EFAULT", e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRLIMIT, nofile, 0, 0); e != syscall.EFAULT {
		t.Errorf("setrlimit(NULL): %v, want EFAULT", e)
	}
	if e := prlimit(0x3fffffff, nofile, nil, &got); e != syscall.ESRCH {
		t.Errorf("prlimit(no such pid): %v, want ESRCH", e)
	}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, 0, nofile, 8, 0, 0, 0); e != syscall.EFAULT {
		t.Errorf("prlimit(new = 8): %v, want EFAULT", e)
	}
	if got := getrlimit(t, nofile); got != lim0 {
		t.Fatalf("failed calls changed the limit: %+v, want %+v", got, lim0)
	}
	// A bad old pointer: EFAULT, but the new limit is set (Linux copies
	// the old value out last).
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, 0, nofile, uintptr(unsafe.Pointer(&lower)), 8, 0, 0); e != syscall.EFAULT {
		t.Errorf("prlimit(old = 8): %v, want EFAULT", e)
	}
	if got := getrlimit(t, nofile); got != lower {
		t.Errorf("after prlimit(new, old = 8): %+v, want %+v (set before the copy out)", got, lower)
	}
	if e := prlimit(0, nofile, &lim0, nil); e != 0 {
		t.Fatal(e)
	}

	// Raising a hard limit needs CAP_SYS_RESOURCE (24) in the effective
	// set. RLIMIT_CORE's hard limit is lowered to have room to raise it;
	// without the capability that cannot be undone, which is harmless.
	const capSysResource = 24
	eff, prm := capSets(t)
	ceiling := core0.Max
	if ceiling == ^uint64(0) || eff&(1<<capSysResource) != 0 {
		ceiling = 1 << 30
		if core0.Max != ^uint64(0) && core0.Max < ceiling {
			ceiling = core0.Max
		}
		l := syscall.Rlimit{Cur: min(core0.Cur, ceiling-1), Max: ceiling - 1}
		if e := prlimit(0, core, &l, nil); e != 0 {
			t.Fatalf("lowering RLIMIT_CORE to %+v: %v", l, e)
		}
		ceiling--
	}
	raise := syscall.Rlimit{Cur: 0, Max: ceiling + 1}
	if eff&(1<<capSysResource) != 0 {
		capSet(t, eff&^(1<<capSysResource), prm, 0)
		e := prlimit(0, core, &raise, nil)
		capSet(t, eff, prm, 0)
		if e != syscall.EPERM {
			t.Errorf("raising RLIMIT_CORE's hard limit without CAP_SYS_RESOURCE: %v, want EPERM", e)
		}
		// With it: allowed, and back as it was.
		if e := prlimit(0, core, &core0, nil); e != 0 {
			t.Errorf("restoring RLIMIT_CORE %+v with CAP_SYS_RESOURCE: %v", core0, e)
		}
	} else if e := prlimit(0, core, &raise, nil); e != syscall.EPERM {
		t.Errorf("raising RLIMIT_CORE's hard limit without CAP_SYS_RESOURCE: %v, want EPERM", e)
	}
	// Lowering is always allowed, and the soft limit may go up to the hard.
	if e := prlimit(0, nofile, &syscall.Rlimit{Cur: 8, Max: lim0.Max}, nil); e != 0 {
		t.Errorf("lowering the soft limit: %v", e)
	}
	if e := prlimit(0, nofile, &syscall.Rlimit{Cur: lim0.Max, Max: lim0.Max}, nil); e != 0 {
		t.Errorf("raising the soft limit to the hard one: %v", e)
	}
}

// TestNofileLimit: new fds stay below RLIMIT_NOFILE's soft limit. Every
// call that makes one says EMFILE at the limit (a pipe needs two, and
// leaves none behind when it fails), dup2 and dup3 to the limit are
// EBADF and F_DUPFD from it EINVAL; fds already above a lowered limit
// stay usable. Only raw system calls run while the limit is low: the
// runtime and other goroutines open nothing meanwhile.
func TestNofileLimit(t *testing.T) {
	const nofile = syscall.RLIMIT_NOFILE
	lim0 := getrlimit(t, nofile)
	devnull := []byte("/dev/null\x00")
	open := func() (int, syscall.Errno) {
		r, _, e := syscall.RawSyscall6(syscall.SYS_OPENAT, ^uintptr(99), uintptr(unsafe.Pointer(&devnull[0])),
			syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
		return int(r), e
	}
	closeFD := func(fd int) { syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0) }
	// The lowest free fd, and one high above it that stays open.
	low, e := open()
	if e != 0 {
		t.Fatal(e)
	}
	closeFD(low)
	high, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, 0, syscall.F_DUPFD_CLOEXEC, uintptr(low+50))
	if e != 0 {
		t.Fatalf("F_DUPFD: %v", e)
	}
	defer closeFD(int(high))

	soft := uint64(low + 2)
	opened := make([]int, 0, 16) // no allocation while the limit is low
	var got [4]syscall.Errno
	var over [4]syscall.Errno
	var pipeFD [2]int32
	var readHigh syscall.Errno
	func() {
		if e := prlimit(0, nofile, &syscall.Rlimit{Cur: soft, Max: lim0.Max}, nil); e != 0 {
			t.Fatalf("setting soft limit %d: %v", soft, e)
		}
		defer prlimit(0, nofile, &lim0, nil)
		for len(opened) < 10 {
			fd, e := open()
			if e != 0 {
				got[0] = e
				break
			}
			opened = append(opened, fd)
		}
		// One fd free below the limit: a pipe fails, and frees it again.
		if len(opened) > 0 {
			closeFD(opened[len(opened)-1])
			opened = opened[:len(opened)-1]
		}
		_, _, got[1] = syscall.RawSyscall(syscall.SYS_PIPE2, uintptr(unsafe.Pointer(&pipeFD)), syscall.O_CLOEXEC, 0)
		if fd, e := open(); e == 0 {
			opened = append(opened, fd)
		} else {
			got[2] = e
		}
		// Full: an eventfd, an epoll instance and a dup fail too.
		r, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC, 0)
		if e == 0 {
			closeFD(int(r))
		}
		got[3] = e
		r, _, e = syscall.RawSyscall(syscall.SYS_EPOLL_CREATE1, syscall.EPOLL_CLOEXEC, 0, 0)
		if e == 0 {
			closeFD(int(r))
		}
		over[0] = e
		r, _, e = syscall.RawSyscall(syscall.SYS_DUP, high, 0, 0)
		if e == 0 {
			closeFD(int(r))
		}
		over[1] = e
		_, _, over[2] = syscall.RawSyscall(syscall.SYS_DUP2, high, uintptr(soft), 0)
		_, _, over[3] = syscall.RawSyscall(syscall.SYS_FCNTL, high, syscall.F_DUPFD, uintptr(soft))
		var st syscall.Stat_t
		_, _, readHigh = syscall.RawSyscall(syscall.SYS_FSTAT, high, uintptr(unsafe.Pointer(&st)), 0)
	}()
	for _, fd := range opened {
		closeFD(fd)
		if uint64(fd) >= soft {
			t.Errorf("open gave fd %d at or above the soft limit %d", fd, soft)
		}
	}
	if got := getrlimit(t, nofile); got != lim0 {
		t.Fatalf("limit not restored: %+v, want %+v", got, lim0)
	}
	if got[0] != syscall.EMFILE {
		t.Errorf("open past the limit: %v, want EMFILE", got[0])
	}
	if got[1] != syscall.EMFILE {
		t.Errorf("pipe2 with one fd free: %v, want EMFILE", got[1])
	}
	if got[2] != 0 {
		t.Errorf("open of the one free fd after the failed pipe2: %v", got[2])
	}
	if got[3] != syscall.EMFILE {
		t.Errorf("eventfd2 at the limit: %v, want EMFILE", got[3])
	}
	for i, want := range []syscall.Errno{syscall.EMFILE, syscall.EMFILE, syscall.EBADF, syscall.EINVAL} {
		if over[i] != want {
			t.Errorf("%s: %v, want %v", [...]string{"epoll_create1", "dup", "dup2 to the limit", "F_DUPFD from the limit"}[i], over[i], want)
		}
	}
	if readHigh != 0 {
		t.Errorf("fstat of fd %d above the lowered limit: %v", high, readHigh)
	}
}
