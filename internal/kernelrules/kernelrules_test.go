package kernelrules

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/velocityos/velocity/internal/build"
)

// readKernel returns the files a kernel build overlays into package
// runtime, exactly as internal/build selects them, so a new kernel
// directory is checked without editing this test.
func readKernel(t *testing.T) []Source {
	t.Helper()
	files, err := build.KernelFiles(os.DirFS("../.."))
	if err != nil {
		t.Fatal(err)
	}
	var srcs []Source
	for _, f := range files {
		srcs = append(srcs, Source{Name: f.Src, Data: f.Data})
	}
	if len(srcs) < 40 {
		t.Fatalf("only %d kernel files found", len(srcs))
	}
	return srcs
}

// TestKernelKeepsTrapRules runs the checker on the kernel itself.
func TestKernelKeepsTrapRules(t *testing.T) {
	srcs := readKernel(t)
	entries := Entries(srcs)
	for _, want := range []string{"vkBoot", "vkAPMain", "vkTrap", "vkSyscallTrap", "vkThreadBegin", "vkIdleLoop"} {
		if !contains(entries, want) {
			t.Errorf("entry %s not found in the assembly (found %v): the checker would see nothing below it", want, entries)
		}
	}
	reached, err := Reachable(srcs)
	if err != nil {
		t.Fatal(err)
	}
	// Handlers are reached only through the system call table, the fault
	// report only through vkTrap's callees, gdbproto through the stub.
	for _, want := range []string{"vkCallRead", "vkSysRead", "vkCallVelocityInfo", "vkFault", "vkSysMmap", "vkGdbTrap"} {
		if !contains(reached, want) {
			t.Errorf("%s is not reached from the entries: the call graph is incomplete", want)
		}
	}
	t.Logf("%d kernel functions are trap or boot context", len(reached))
	vs, err := Check(srcs)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, v := range vs {
		key := v.Func + ": " + v.Rule
		if _, ok := allowed[key]; ok {
			used[key] = true
			continue
		}
		t.Error(v)
	}
	for key := range allowed {
		if !used[key] {
			t.Errorf("allowed exception %q no longer occurs: remove it", key)
		}
	}
}

// allowed lists the exceptions, each with why it is safe. Keep it short:
// prefer changing the kernel code.
var allowed = map[string]string{
	"vkSysGetdents64: closure (func literal) that is not a local helper": "emit is passed to " +
		"vkTmpChildren and vkArchiveChildren, which only call it; the compiler reports " +
		"\"func literal does not escape\" (-gcflags=runtime=-m), so it lives on the stack.",
}

// TestCheckerCatchesViolations feeds the checker a bad kernel: every rule
// must fire in the function reached from the entry, and nothing in an
// unreachable one.
func TestCheckerCatchesViolations(t *testing.T) {
	asm := Source{Name: "entry.s", Data: []byte("TEXT ·vkEntry(SB),0,$0\n\tCALL\truntime·vkTrap(SB)\n\tCALL\truntime·vkUnmarked(SB)\n\tRET\n")}
	goSrc := Source{Name: "bad.go", Data: []byte(`package runtime

type vkT struct{ a int }

var vkTable = [2]func(){0: vkViaTable}

//go:nowritebarrierrec
func vkTrap(x int) {
	vkHelper(x)
	vkTable[0]()
	var t vkT
	t.vkMethod()
	var ok [4]int = [4]int{1, 2, 3, 4} // an array by value is fine
	put := func(i int) { ok[i] = i }  // a local helper, only called, is fine
	put(1)
	_ = ok
}

func vkUnmarked() {}

func vkHelper(x int) {
	defer vkUnmarked()
	go vkUnmarked()
	b := make([]byte, x)
	p := new(vkT)
	b = append(b, 1)
	q := &vkT{a: 1}
	s := []int{1, 2}
	m := map[int]int{}
	f := func() {}
	msg := "x=" + string(b)
	msg += "!"
	var i any = any(x)
	j := interface{}(x)
	_, _, _, _, _, _, _, _, _ = p, q, s, m, f, msg, i, j, b
}

func vkViaTable() { _ = new(int) }

func (t *vkT) vkMethod() { defer vkUnmarked() }

func vkNeverCalled() { _ = make([]int, 1); defer vkUnmarked() }
`)}
	vs, err := Check([]Source{asm, goSrc})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, v := range vs {
		got[v.Func+": "+v.Rule]++
		if v.Func == "vkNeverCalled" {
			t.Errorf("unreachable function reported: %v", v)
		}
	}
	want := []string{
		"vkUnmarked: entry from assembly without //go:nowritebarrierrec",
		"vkHelper: defer",
		"vkHelper: go statement",
		"vkHelper: allocation: make",
		"vkHelper: allocation: new",
		"vkHelper: allocation: append",
		"vkHelper: allocation: &T{...} may escape to the heap",
		"vkHelper: allocation: slice literal",
		"vkHelper: map type",
		"vkHelper: closure (func literal) that is not a local helper",
		"vkHelper: allocation: string concatenation",
		"vkHelper: conversion to interface: any(...)",
		"vkHelper: conversion to interface",
		"vkViaTable: allocation: new",
		"vkT.vkMethod: defer",
	}
	for _, w := range want {
		if got[w] == 0 {
			t.Errorf("not caught: %s", w)
		}
		delete(got, w)
	}
	if got["vkHelper: allocation: string concatenation"] < 0 {
		t.Error("unreachable")
	}
	for k := range got {
		if strings.HasPrefix(k, "vkTrap:") {
			t.Errorf("vkTrap itself is clean, got %q", k)
		}
	}
}

// TestSyscallTableNames checks that the name in the comment of each entry
// of the system call table is the Linux name of its number (from the
// generated vk_sysnames.go), so the table can be read by name.
func TestSyscallTableNames(t *testing.T) {
	names := map[int]string{}
	data, err := os.ReadFile("../../runtime/vk_sysnames.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*(\d+):\s*"(\w+)",`).FindAllSubmatch(data, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		names[n] = string(m[2])
	}
	if names[0] != "read" || names[231] != "exit_group" {
		t.Fatalf("vk_sysnames.go not understood: %v...", names[0])
	}
	table, err := os.ReadFile("../../runtime/vk_syscall.go")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(table), "var vkSysLinux = ")
	if start < 0 {
		t.Fatal("no vkSysLinux table in vk_syscall.go")
	}
	body := string(table[start:])
	body = body[:strings.Index(body, "\n}\n")]
	entries := regexp.MustCompile(`(?m)^\s*(\d+):\s*(\w+),\s*(?://\s*(\w+))?`).FindAllStringSubmatch(body, -1)
	if len(entries) < 50 {
		t.Fatalf("only %d entries found in vkSysLinux", len(entries))
	}
	for _, e := range entries {
		n, _ := strconv.Atoi(e[1])
		if e[3] == "" {
			t.Errorf("vkSysLinux[%d] = %s has no // name comment", n, e[2])
		} else if e[3] != names[n] {
			t.Errorf("vkSysLinux[%d] = %s says // %s, but %d is %s", n, e[2], e[3], n, names[n])
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestOwnSyscallsNamed checks that every entry of vkSysOwn, the table of
// Velocity's own system calls, has a name in vkSysOwnNames for fault
// reports, and that no name is left without a handler.
func TestOwnSyscallsNamed(t *testing.T) {
	data, err := os.ReadFile("../../runtime/vk_syscall.go")
	if err != nil {
		t.Fatal(err)
	}
	keys := func(decl string) map[string]bool {
		s := string(data)
		i := strings.Index(s, decl)
		if i < 0 {
			t.Fatalf("no %q in vk_syscall.go", decl)
		}
		body := s[i:]
		body = body[:strings.Index(body, "\n}\n")]
		out := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^\s*(\w+) - vkSysOwnBase:`).FindAllStringSubmatch(body, -1) {
			out[m[1]] = true
		}
		return out
	}
	fns, names := keys("var vkSysOwn = "), keys("var vkSysOwnNames = ")
	if len(fns) < 10 {
		t.Fatalf("only %d entries found in vkSysOwn", len(fns))
	}
	for k := range fns {
		if !names[k] {
			t.Errorf("vkSysOwn has %s, vkSysOwnNames does not name it", k)
		}
	}
	for k := range names {
		if !fns[k] {
			t.Errorf("vkSysOwnNames names %s, which has no handler in vkSysOwn", k)
		}
	}
}
