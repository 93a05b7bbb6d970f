package semantics

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// readStatus reads a status file into its fields: name → value, as
// Linux writes them ("Name:\tvalue"), and checks every line has that form.
func readStatus(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		k, v, ok := strings.Cut(line, ":\t")
		if !ok {
			t.Fatalf("%s: line %q is not \"Name:\\tvalue\"", path, line)
		}
		m[k] = v
	}
	return m
}

// TestProcStatus reads the status files of the process and of this
// thread (/proc/self/status, /proc/<pid>/status, /proc/<tid>/status,
// /proc/<pid>/task/<tid>/status, /proc/self/task/<tid>/status) and checks
// the fields Go's syscall tests and tools read: the ids, the groups and
// the capability sets after set*id calls (made raw on this locked thread,
// since Linux keeps credentials per thread; then put back), Pid and Tgid,
// Umask, the thread count and list, and ENOENT for a tid that is not live.
func TestProcStatus(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, tid := syscall.Getpid(), syscall.Gettid()
	self := readStatus(t, "/proc/self/status")
	for _, k := range []string{"Name", "Umask", "State", "Tgid", "Pid", "PPid", "Uid", "Gid", "Groups", "Threads",
		"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Cpus_allowed_list"} {
		if _, ok := self[k]; !ok {
			t.Errorf("/proc/self/status has no %s line", k)
		}
	}
	if self["Pid"] != strconv.Itoa(pid) || self["Tgid"] != strconv.Itoa(pid) {
		t.Errorf("/proc/self/status: Pid %q, Tgid %q; want %d", self["Pid"], self["Tgid"], pid)
	}
	name := filepath.Base(os.Args[0])
	if len(name) > 15 {
		name = name[:15]
	}
	if self["Name"] != name {
		t.Errorf("Name %q, want %q", self["Name"], name)
	}
	um := syscall.Umask(0o027)
	syscall.Umask(um)
	if got := readStatus(t, "/proc/self/status")["Umask"]; got != fmt.Sprintf("%04o", um) {
		t.Errorf("Umask %q, want %04o", got, um)
	}
	if n, err := strconv.Atoi(self["Threads"]); err != nil || n < 1 {
		t.Errorf("Threads %q", self["Threads"])
	}
	if self["Cpus_allowed_list"] == "" {
		t.Errorf("empty Cpus_allowed_list")
	}

	// This thread, by every name.
	paths := []string{
		fmt.Sprintf("/proc/%d/status", tid),
		fmt.Sprintf("/proc/%d/task/%d/status", pid, tid),
		fmt.Sprintf("/proc/self/task/%d/status", tid),
	}
	for _, p := range paths {
		if st := readStatus(t, p); st["Pid"] != strconv.Itoa(tid) || st["Tgid"] != strconv.Itoa(pid) {
			t.Errorf("%s: Pid %q, Tgid %q; want %d, %d", p, st["Pid"], st["Tgid"], tid, pid)
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ents, func(e os.DirEntry) bool { return e.Name() == strconv.Itoa(tid) && e.IsDir() }) {
		t.Errorf("/proc/%d/task does not list this thread, %d: %v", pid, tid, ents)
	}
	for _, p := range []string{"/proc/self/task/4194305/status", "/proc/4194305/status", "/proc/self/task/4194305"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("stat %s (no such thread): %v, want ENOENT", p, err)
		}
	}
	if fi, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d", pid, tid)); err != nil || !fi.IsDir() {
		t.Errorf("stat of this thread's task directory: %v, %v", fi, err)
	}

	// Ids and groups after changes, read from this thread's file.
	if syscall.Getuid() != 0 || syscall.Geteuid() != 0 {
		t.Skip("not root: the id changes below need CAP_SETUID")
	}
	eff0, prm0 := capSets(t)
	oldGroups, err := syscall.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Put everything back even if a check below failed (Velocity's
		// credentials are the process's: later tests would run with them).
		rawErr(syscall.SYS_SETRESUID, 0, 0, 0)
		rawErr(syscall.SYS_SETRESGID, 0, 0, 0)
		restore := make([]uint32, len(oldGroups)+1)
		for i, g := range oldGroups {
			restore[i] = uint32(g)
		}
		if e := rawErr(syscall.SYS_SETGROUPS, uintptr(len(oldGroups)), uintptr(unsafe.Pointer(&restore[0]))); e != 0 {
			t.Errorf("setgroups(restore): %v", e)
		}
	}()
	mine := paths[1]
	check := func(field, want string) {
		t.Helper()
		if got := readStatus(t, mine)[field]; got != want {
			t.Errorf("%s: %s %q, want %q", mine, field, got, want)
		}
	}
	check("Uid", "0\t0\t0\t0")
	check("CapEff", fmt.Sprintf("%016x", eff0))
	check("CapPrm", fmt.Sprintf("%016x", prm0))
	if e := rawErr(syscall.SYS_SETRESGID, 101, 0, 102); e != 0 {
		t.Fatalf("setresgid(101, 0, 102): %v", e)
	}
	check("Gid", "101\t0\t102\t0")
	if e := rawErr(syscall.SYS_SETRESGID, 0, 102, 101); e != 0 {
		t.Fatalf("setresgid(0, 102, 101): %v", e)
	}
	check("Gid", "0\t102\t101\t102")
	if e := rawErr(syscall.SYS_SETRESGID, 0, 0, 0); e != 0 {
		t.Fatalf("setresgid(0, 0, 0): %v", e)
	}
	check("Gid", "0\t0\t0\t0")
	list := []uint32{3, 0, 2, 1}
	if e := rawErr(syscall.SYS_SETGROUPS, uintptr(len(list)), uintptr(unsafe.Pointer(&list[0]))); e != 0 {
		t.Fatalf("setgroups: %v", e)
	}
	check("Groups", "0 1 2 3 ")
	if e := rawErr(syscall.SYS_SETGROUPS, 0, 0); e != 0 {
		t.Fatalf("setgroups(none): %v", e)
	}
	check("Groups", " ")
	if e := rawErr(syscall.SYS_SETRESUID, 1, 0, 2); e != 0 {
		t.Fatalf("setresuid(1, 0, 2): %v", e)
	}
	check("Uid", "1\t0\t2\t0")
	// Effective uid 2: the effective capabilities go (and the fs uid
	// follows the effective one).
	if e := rawErr(syscall.SYS_SETRESUID, 0, 2, 1); e != 0 {
		t.Fatalf("setresuid(0, 2, 1): %v", e)
	}
	check("Uid", "0\t2\t1\t2")
	check("CapEff", "0000000000000000")
	if e := rawErr(syscall.SYS_SETRESUID, 0, 0, 0); e != 0 {
		t.Fatalf("setresuid(0, 0, 0): %v", e)
	}
	check("Uid", "0\t0\t0\t0")
	check("CapEff", fmt.Sprintf("%016x", eff0))
	if eff, prm := capSets(t); eff != eff0 || prm != prm0 {
		t.Fatalf("capabilities not restored: effective %#x, permitted %#x", eff, prm)
	}
}
