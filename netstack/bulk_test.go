package netstack

import (
	"bytes"
	"encoding/binary"
	"syscall"
	"testing"
	"time"
)

// TestBulkEdgeTriggered moves 4 MiB the way Go's netpoller does: write
// and read until EAGAIN, then wait for the kernel's readiness level (fed
// only by replies and event callbacks) to say the fd is ready again.
func TestBulkEdgeTriggered(t *testing.T) {
	h := newHarness(t)
	const lfd, cfd, afd = 40, 41, 42
	h.call(41, lfd, false, afInet, sockStream|sockNonblock, 0)
	h.call(49, -1, true, lfd, bptr(sockaddr4([4]byte{127, 0, 0, 1}, 0)), 16)
	h.call(50, -1, true, lfd, 16)
	sa := make([]byte, 16)
	n := int32(16)
	h.call(51, -1, true, lfd, bptr(sa), ptr(&n))
	port := binary.BigEndian.Uint16(sa[2:])
	h.call(41, cfd, false, afInet, sockStream|sockNonblock, 0)
	h.call(42, -1, true, cfd, bptr(sockaddr4([4]byte{127, 0, 0, 1}, port)), 16)
	h.waitReady(lfd, epollIn)
	if r := h.call(288, afd, true, lfd, 0, 0, sockNonblock); r != afd {
		t.Fatalf("accept4 = %d", r)
	}
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	got := make([]byte, 0, len(data))
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for len(got) < len(data) {
			r := h.call(0, -1, true, afd, bptr(buf), uint64(len(buf)))
			if r == -int64(syscall.EAGAIN) {
				h.waitReady(afd, epollIn)
				continue
			}
			if r <= 0 {
				t.Errorf("read = %d after %d bytes", r, len(got))
				return
			}
			got = append(got, buf[:r]...)
		}
	}()
	off := 0
	deadline := time.Now().Add(30 * time.Second)
	for off < len(data) {
		if time.Now().After(deadline) {
			t.Fatalf("stuck writing at %d of %d (level %#x)", off, len(data), h.k.level(cfd))
		}
		end := off + 1<<20
		if end > len(data) {
			end = len(data)
		}
		r := h.call(1, -1, true, cfd, bptr(data[off:end]), uint64(end-off))
		if r == -int64(syscall.EAGAIN) {
			h.waitReady(cfd, epollOut)
			continue
		}
		if r <= 0 {
			t.Fatalf("write = %d at %d", r, off)
		}
		off += int(r)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("reader stuck at %d of %d (level %#x)", len(got), len(data), h.k.level(afd))
	}
	if !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
}
