package tcp

// Run by internal/build's TestPatchedGvisor inside gVisor's package tcp,
// built with velocity's edits: the write list's checks
// (internal/build/netwritelist.go) still fire, with membership kept in
// the segment rather than in a map.

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

func mustPanic(t *testing.T, what, want string, f func()) {
	t.Helper()
	defer func() {
		if got := recover(); got != want {
			t.Errorf("%s: panic %v, want %q", what, got, want)
		}
	}()
	f()
}

func TestVelocityWriteListChecks(t *testing.T) {
	var wl protectedWriteList
	a, b := newSegment(), newSegment()
	a.pkt = stack.NewPacketBuffer(stack.PacketBufferOptions{})
	defer a.pkt.DecRef()
	if a.velocityInWriteList || b.velocityInWriteList {
		t.Fatal("a new segment is marked as on a write list")
	}
	wl.PushBack(a)
	mustPanic(t, "a segment pushed twice", "segment already in write list", func() { wl.PushBack(a) })
	wl.InsertAfter(a, b)
	mustPanic(t, "a segment inserted twice", "segment already in write list", func() { wl.InsertAfter(a, b) })
	if wl.Front() != a || wl.Back() != b {
		t.Fatal("the list's order is not push, then insert after")
	}
	c := a.clone()
	defer c.pkt.DecRef()
	if c.velocityInWriteList {
		t.Error("a clone of a segment on the list starts marked")
	}
	wl.Remove(a)
	mustPanic(t, "a segment removed twice", "segment not found write list", func() { wl.Remove(a) })
	wl.PushBack(a) // off the list, it may go back on
	wl.Remove(b)
	wl.Remove(a)
	if wl.Front() != nil {
		t.Fatal("the list is not empty after every segment was removed")
	}
	if wl.set != nil {
		t.Error("the map the edit replaced was made")
	}
}
