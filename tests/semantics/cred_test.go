package semantics

import (
	"runtime"
	"syscall"
	"testing"
	"unsafe"
)

// capSets reads the calling thread's capability sets (version 3: 64 bits
// each).
func capSets(t *testing.T) (eff, prm uint64) {
	t.Helper()
	hdr := [2]uint32{0x20080522, 0}
	var data [6]uint32
	if _, _, e := syscall.RawSyscall(syscall.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data)), 0); e != 0 {
		t.Fatalf("capget: %v", e)
	}
	return uint64(data[0]) | uint64(data[3])<<32, uint64(data[1]) | uint64(data[4])<<32
}

func resuid(t *testing.T) [3]uint32 {
	t.Helper()
	var ids [3]uint32
	if _, _, e := syscall.RawSyscall(syscall.SYS_GETRESUID, uintptr(unsafe.Pointer(&ids[0])), uintptr(unsafe.Pointer(&ids[1])), uintptr(unsafe.Pointer(&ids[2]))); e != 0 {
		t.Fatalf("getresuid: %v", e)
	}
	return ids
}

func rawErr(nr uintptr, a ...uintptr) syscall.Errno {
	var x [3]uintptr
	copy(x[:], a)
	_, _, e := syscall.RawSyscall(nr, x[0], x[1], x[2])
	return e
}

// TestCredentials: root may change its ids, the getters report what was
// set, and the capability sets follow Linux's rules: leaving effective uid
// 0 empties the effective set (so another uid is then refused), regaining
// it restores the set, losing uid 0 everywhere empties the permitted set
// too unless PR_SET_KEEPCAPS was set. The calls are made raw on one
// locked thread (Linux keeps credentials per thread; Velocity per
// process), and everything is put back; a failure leaves the thread
// locked, so it ends with the test instead of serving other goroutines.
func TestCredentials(t *testing.T) {
	if syscall.Getuid() != 0 || syscall.Geteuid() != 0 {
		t.Skip("not root: the id changes below need CAP_SETUID")
	}
	runtime.LockOSThread()
	eff0, prm0 := capSets(t)
	if eff0 != prm0 || eff0&(1<<7) == 0 {
		t.Skipf("root without CAP_SETUID in effective (eff %#x, prm %#x)", eff0, prm0)
	}

	// seteuid(1): effective id 1, the effective capabilities gone.
	if e := rawErr(syscall.SYS_SETRESUID, ^uintptr(0), 1, ^uintptr(0)); e != 0 {
		t.Fatalf("setresuid(-1, 1, -1): %v", e)
	}
	if ids := resuid(t); ids != [3]uint32{0, 1, 0} {
		t.Fatalf("after seteuid(1): getresuid %v, want [0 1 0]", ids)
	}
	if r, _, _ := syscall.RawSyscall(syscall.SYS_GETEUID, 0, 0, 0); r != 1 {
		t.Fatalf("geteuid = %d, want 1", r)
	}
	if eff, prm := capSets(t); eff != 0 || prm != prm0 {
		t.Fatalf("after seteuid(1): effective %#x (want 0), permitted %#x (want %#x)", eff, prm, prm0)
	}
	if e := rawErr(syscall.SYS_SETUID, 2); e != syscall.EPERM {
		t.Fatalf("setuid(2) without CAP_SETUID: %v, want EPERM", e)
	}
	// setuid(0) is allowed (0 is the real id) and restores the effective set.
	if e := rawErr(syscall.SYS_SETUID, 0); e != 0 {
		t.Fatalf("setuid(0) with real uid 0: %v", e)
	}
	if eff, _ := capSets(t); eff != prm0 {
		t.Fatalf("after setuid(0): effective %#x, want %#x", eff, prm0)
	}

	// setreuid(1, 0) then (0, 2): the saved id follows the effective one.
	if e := rawErr(syscall.SYS_SETREUID, 1, 0); e != 0 {
		t.Fatal(e)
	}
	if ids := resuid(t); ids != [3]uint32{1, 0, 0} {
		t.Fatalf("after setreuid(1, 0): %v", ids)
	}
	if e := rawErr(syscall.SYS_SETREUID, 0, 2); e != 0 {
		t.Fatal(e)
	}
	if ids := resuid(t); ids != [3]uint32{0, 2, 2} {
		t.Fatalf("after setreuid(0, 2): %v", ids)
	}
	if e := rawErr(syscall.SYS_SETRESUID, 0, 0, 0); e != 0 {
		t.Fatalf("setresuid(0, 0, 0) with real uid 0: %v", e)
	}

	// Keep-caps: with it, losing uid 0 everywhere keeps the permitted set.
	const prGetKeepcaps, prSetKeepcaps = 7, 8
	if e := rawErr(syscall.SYS_PRCTL, prSetKeepcaps, 1); e != 0 {
		t.Fatalf("prctl(PR_SET_KEEPCAPS, 1): %v", e)
	}
	if r, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prGetKeepcaps, 0, 0); e != 0 || r != 1 {
		t.Fatalf("prctl(PR_GET_KEEPCAPS) = %d, %v; want 1", r, e)
	}
	if e := rawErr(syscall.SYS_PRCTL, prSetKeepcaps, 2); e != syscall.EINVAL {
		t.Fatalf("prctl(PR_SET_KEEPCAPS, 2): %v, want EINVAL", e)
	}
	if e := rawErr(syscall.SYS_SETRESUID, 1, 2, 3); e != 0 {
		t.Fatal(e)
	}
	if ids := resuid(t); ids != [3]uint32{1, 2, 3} {
		t.Fatalf("after setresuid(1, 2, 3): %v", ids)
	}
	if eff, prm := capSets(t); eff != 0 || prm != prm0 {
		t.Fatalf("keep-caps, no uid 0 left: effective %#x (want 0), permitted %#x (want %#x)", eff, prm, prm0)
	}
	if e := rawErr(syscall.SYS_SETRESUID, 0, 0, 0); e != syscall.EPERM {
		t.Fatalf("setresuid(0, 0, 0) with ids 1, 2, 3 and no effective capability: %v, want EPERM", e)
	}
	// Raise the effective set from the permitted one, then become root.
	hdr := [2]uint32{0x20080522, 0}
	data := [6]uint32{uint32(prm0), uint32(prm0), 0, uint32(prm0 >> 32), uint32(prm0 >> 32), 0}
	if e := rawErr(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data))); e != 0 {
		t.Fatalf("capset(effective = permitted): %v", e)
	}
	if e := rawErr(syscall.SYS_SETRESUID, 0, 0, 0); e != 0 {
		t.Fatalf("setresuid(0, 0, 0) with CAP_SETUID: %v", e)
	}
	if e := rawErr(syscall.SYS_PRCTL, prSetKeepcaps, 0); e != 0 {
		t.Fatal(e)
	}
	if ids := resuid(t); ids != [3]uint32{0, 0, 0} {
		t.Fatalf("not root again: %v", ids)
	}

	// Groups: setgroups keeps a list, getgroups returns it sorted.
	old, err := syscall.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	list := []uint32{3, 1, 2}
	if e := rawErr(syscall.SYS_SETGROUPS, 3, uintptr(unsafe.Pointer(&list[0]))); e != 0 {
		t.Fatalf("setgroups: %v", e)
	}
	got, err := syscall.Getgroups()
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("getgroups after setgroups(3, 1, 2) = %v, %v; want [1 2 3]", got, err)
	}
	restore := make([]uint32, len(old)+1)
	for i, g := range old {
		restore[i] = uint32(g)
	}
	if e := rawErr(syscall.SYS_SETGROUPS, uintptr(len(old)), uintptr(unsafe.Pointer(&restore[0]))); e != 0 {
		t.Fatalf("setgroups(restore): %v", e)
	}
	if eff, prm := capSets(t); eff != eff0 || prm != prm0 {
		t.Fatalf("capabilities not restored: effective %#x, permitted %#x", eff, prm)
	}
	runtime.UnlockOSThread()

	// getpgid: the caller's group by 0 or by its own pid; no such pid is ESRCH.
	pg0, err0 := syscall.Getpgid(0)
	pg, err := syscall.Getpgid(syscall.Getpid())
	if err0 != nil || err != nil || pg0 != pg {
		t.Fatalf("getpgid(0) = %d, %v; getpgid(getpid()) = %d, %v", pg0, err0, pg, err)
	}
	if _, err := syscall.Getpgid(0x3fffffff); err != syscall.ESRCH {
		t.Fatalf("getpgid(no such pid): %v, want ESRCH", err)
	}
}
