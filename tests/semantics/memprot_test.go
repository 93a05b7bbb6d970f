//go:build linux && amd64

package semantics

import (
	"reflect"
	"runtime/debug"
	"syscall"
	"testing"
	"unsafe"

	"github.com/velocityos/velocity/kernel"
)

// Memory protection as Linux gives it: the page tables, not convention,
// keep code and read-only data from being written and data from being
// executed. Each test provokes the fault and recovers it as a Go panic
// (debug.SetPanicOnFault), so it fails, rather than crashes, when a
// protection is missing. On Velocity an instruction fetch from a
// no-execute page also prints the kernel's exception report on the
// console before Go's panic; that output is expected here.

// faultAt runs f and reports the address of the memory fault it caused,
// or ok=false when it ran to the end without one.
func faultAt(f func()) (addr uintptr, ok bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			a, isFault := r.(interface{ Addr() uintptr })
			if !isFault {
				panic(r)
			}
			addr, ok = a.Addr(), true
		}
	}()
	f()
	return 0, false
}

// callAt calls the machine code at pc as a Go func() int (ABIInternal:
// the result comes back in AX).
func callAt(pc uintptr) int {
	fv := &pc
	return (*(*func() int)(unsafe.Pointer(&fv)))()
}

// sinkByte keeps a load from being optimised away.
var sinkByte byte

// ret42 is "MOV EAX, 42; RET".
var ret42 = []byte{0xb8, 42, 0, 0, 0, 0xc3}

const roString = "bytes of a string constant live in read-only data"

// TestReadOnlyDataIsReadOnly writes into a string constant's bytes, which
// the linker puts in the read-only segment: the write must fault.
func TestReadOnlyDataIsReadOnly(t *testing.T) {
	s := roString
	p := unsafe.StringData(s)
	addr, ok := faultAt(func() { *p = 'B' })
	if !ok {
		t.Fatalf("writing a string constant's bytes did not fault (the string is now %q)", s)
	}
	if addr != uintptr(unsafe.Pointer(p)) {
		t.Errorf("fault address %#x, want the string's %#x", addr, uintptr(unsafe.Pointer(p)))
	}
	if s != roString {
		t.Errorf("the string changed to %q", s)
	}
}

// TestTextIsReadOnly writes a function's first byte back unchanged: even
// that must fault, since text is mapped read-only.
func TestTextIsReadOnly(t *testing.T) {
	pc := reflect.ValueOf(callAt).Pointer()
	p := *(**byte)(unsafe.Pointer(&pc)) // the address of code, not Go memory
	b := *p
	if addr, ok := faultAt(func() { *p = b }); !ok || addr != pc {
		t.Fatalf("writing text at %#x: fault %v at %#x", pc, ok, addr)
	}
}

// TestTextHasNoWritableAlias: on Velocity the kernel's direct map
// (0xffff800000000000 + physical; the image is identity-mapped) reaches
// every byte of RAM, the text included. There the text reads the same and
// is read-only too, so nothing but the patcher's temporary alias can
// write code.
func TestTextHasNoWritableAlias(t *testing.T) {
	if !kernel.OnVelocity() {
		t.Skip("Velocity's direct map: not on this system")
	}
	const directMap = 0xffff800000000000
	pc := reflect.ValueOf(callAt).Pointer()
	alias := directMap + pc
	p := *(**byte)(unsafe.Pointer(&alias))
	text := *(**byte)(unsafe.Pointer(&pc))
	if *p != *text {
		t.Fatalf("the direct map at %#x reads %#x, the text at %#x reads %#x", alias, *p, pc, *text)
	}
	b := *p
	if addr, ok := faultAt(func() { *p = b }); !ok || addr != alias {
		t.Fatalf("writing the text's direct-map alias at %#x: fault %v at %#x", alias, ok, addr)
	}
}

// TestHeapIsNoExecute calls code placed in the Go heap: the fetch must
// fault (the heap is no-execute), not run the code.
func TestHeapIsNoExecute(t *testing.T) {
	code := make([]byte, 64)
	copy(code, ret42)
	pc := uintptr(unsafe.Pointer(&code[0]))
	got := 0
	addr, ok := faultAt(func() { got = callAt(pc) })
	if !ok {
		t.Fatalf("code in the heap ran (returned %d)", got)
	}
	if addr != pc {
		t.Errorf("fault address %#x, want the code's %#x", addr, pc)
	}
}

// TestMprotectHonoursProt: an anonymous mapping is executable only with
// PROT_EXEC and writable only with PROT_WRITE, and mprotect changes both
// for pages already present.
func TestMprotectHonoursProt(t *testing.T) {
	mem, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	pc := uintptr(unsafe.Pointer(&mem[0]))
	write := func() bool { _, ok := faultAt(func() { copy(mem, ret42) }); return !ok }
	exec := func() bool {
		got := 0
		_, ok := faultAt(func() { got = callAt(pc) })
		if !ok && got != 42 {
			t.Fatalf("the code returned %d, want 42", got)
		}
		return !ok
	}
	read := func() bool { _, ok := faultAt(func() { sinkByte = mem[100] }); return !ok }
	protect := func(prot int) {
		t.Helper()
		if err := syscall.Mprotect(mem, prot); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, wantRead, wantWrite, wantExec bool) {
		t.Helper()
		// Execute before write: a failed write must not leave old code.
		if got := exec(); got != wantExec {
			t.Errorf("%s: executing worked=%v, want %v", name, got, wantExec)
		}
		if got := read(); got != wantRead {
			t.Errorf("%s: reading worked=%v, want %v", name, got, wantRead)
		}
		if got := write(); got != wantWrite {
			t.Errorf("%s: writing worked=%v, want %v", name, got, wantWrite)
		}
	}
	if !write() {
		t.Fatal("a fresh PROT_READ|PROT_WRITE mapping is not writable")
	}
	check("PROT_READ|PROT_WRITE", true, true, false)
	protect(syscall.PROT_READ | syscall.PROT_EXEC)
	check("PROT_READ|PROT_EXEC", true, false, true)
	protect(syscall.PROT_READ)
	check("PROT_READ", true, false, false)
	protect(syscall.PROT_NONE)
	check("PROT_NONE", false, false, false)
	protect(syscall.PROT_READ | syscall.PROT_WRITE | syscall.PROT_EXEC)
	check("PROT_READ|PROT_WRITE|PROT_EXEC", true, true, true)
	protect(syscall.PROT_READ | syscall.PROT_WRITE)
	check("PROT_READ|PROT_WRITE again", true, true, false)
}

// TestMmapExecIsExecutable: PROT_EXEC given to mmap itself (not only to
// mprotect) makes the pages executable once they are faulted in.
func TestMmapExecIsExecutable(t *testing.T) {
	mem, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE|syscall.PROT_EXEC, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	copy(mem, ret42)
	if got := callAt(uintptr(unsafe.Pointer(&mem[0]))); got != 42 {
		t.Fatalf("code in a PROT_EXEC mapping returned %d, want 42", got)
	}
}
