package patch

import (
	"errors"
	"syscall"
	"testing"
)

// TestRetarget: a redirected NOP pad is moved from one variant to
// another with one rewrite (never back to the original bytes), refused
// once reverted, and Revert then restores the pad.
func TestRetarget(t *testing.T) {
	if onVelocity() {
		t.Skip("host mapping test")
	}
	mem, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	// f: pad; mov eax, k; ret at 0 (k=1), 32 (k=2) and 48 (k=3).
	for i := range mem[:64] {
		mem[i] = 0xcc
	}
	for k, off := range []int{0, 32, 48} {
		copy(mem[off:], []byte{0x0f, 0x1f, 0x44, 0x00, 0x00, 0xb8, byte(k + 1), 0, 0, 0, 0xc3})
	}
	if err := syscall.Mprotect(mem, syscall.PROT_READ|syscall.PROT_EXEC); err != nil {
		t.Fatal(err)
	}
	lo := ptrOf(mem)
	p, err := Redirect(lo, lo+32, Region{lo, lo + 64})
	if err != nil {
		t.Fatal(err)
	}
	n0, _ := HostPause()
	if err := p.Retarget(lo + 48); err != nil {
		t.Fatal(err)
	}
	if n1, _ := HostPause(); n1 != n0+1 {
		t.Fatalf("Retarget made %d rewrites, want 1", n1-n0)
	}
	if to, ok := jmpTarget(lo, read5(lo)); !ok || to != lo+48 || p.Target() != lo+48 {
		t.Fatalf("entry now % x (Target %#x), want a JMP to %#x", read5(lo), p.Target(), lo+48)
	}
	if err := p.Retarget(lo); err == nil {
		t.Fatal("Retarget to the entry itself accepted")
	}
	if err := p.Revert(); err != nil {
		t.Fatal(err)
	}
	if read5(lo) != [5]byte{0x0f, 0x1f, 0x44, 0x00, 0x00} {
		t.Fatalf("entry after Revert: % x", read5(lo))
	}
	if err := p.Retarget(lo + 32); !errors.Is(err, ErrReverted) {
		t.Fatalf("Retarget after Revert: %v", err)
	}
}
