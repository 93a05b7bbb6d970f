package virtio

import (
	"encoding/binary"
	"testing"
	"unsafe"
)

// usedRing lays out a used ring of n entries with the given (id, len)
// pairs, as the device writes it.
func usedRing(n int, entries [][2]uint32) []byte {
	b := make([]byte, 4+8*n+2)
	for i, e := range entries {
		off := 4 + 8*(i%n)
		binary.LittleEndian.PutUint32(b[off:], e[0])
		binary.LittleEndian.PutUint32(b[off+4:], e[1])
	}
	return b
}

const bufSize = 2048

func TestTakeUsed(t *testing.T) {
	ring := usedRing(4, [][2]uint32{{0, 60}, {3, 1514}, {9, 60}, {1, 5000}})
	var last uint16
	var bad uint64
	got := takeUsed(nil, ring, 4, &last, 4, bufSize, &bad)
	if len(got) != 2 || got[0] != (Used{0, 60}) || got[1] != (Used{3, 1514}) {
		t.Errorf("entries %v", got)
	}
	if bad != 2 || last != 4 {
		t.Errorf("bad %d (want 2: an id past the ring, a length past the buffer), last %d", bad, last)
	}
	// The index wraps at 2^16 and the ring at n: 0xFFFF is slot 3 (the
	// oversized entry), 0 is slot 0.
	last, bad = 0xFFFF, 0
	got = takeUsed(nil, ring, 4, &last, 1, bufSize, &bad)
	if len(got) != 1 || got[0] != (Used{0, 60}) || bad != 1 || last != 1 {
		t.Errorf("wrap: %v, bad %d, last %d", got, bad, last)
	}
}

func TestNeedEvent(t *testing.T) {
	for _, c := range []struct {
		event, new, old uint16
		want            bool
	}{
		{0, 1, 0, true},           // the device waits for index 0 to be used: moving 0→1 passes it
		{5, 3, 0, false},          // not there yet
		{2, 3, 2, true},           // exactly
		{2, 3, 3, false},          // nothing new
		{0xFFFF, 1, 0xFFFE, true}, // across the wrap
		{10, 0xFFF0, 0xFFE0, false},
	} {
		if got := needEvent(c.event, c.new, c.old); got != c.want {
			t.Errorf("needEvent(%d, %d, %d) = %v", c.event, c.new, c.old, got)
		}
	}
}

func TestRingLayout(t *testing.T) {
	pages, avail, used := ringLayout(256)
	// 4096 descriptors bytes, avail 4+512+2, used on the next page,
	// 4+2048+2: three pages, as the legacy interface requires.
	if avail != 4096 || used != 8192 || pages != 3 {
		t.Errorf("layout(256) = %d pages, avail %d, used %d", pages, avail, used)
	}
	if p, a, u := ringLayout(2); a != 32 || u != 4096 || p != 2 {
		t.Errorf("layout(2) = %d, %d, %d", p, a, u)
	}
}

// FuzzTakeUsed: whatever the device (or a corrupted ring) writes, only
// descriptor ids inside the ring and lengths inside a buffer come out,
// and exactly the entries the index announces are consumed.
func FuzzTakeUsed(f *testing.F) {
	f.Add(usedRing(4, [][2]uint32{{0, 60}, {3, 1514}}), uint16(4), uint16(0), uint16(2))
	f.Add(usedRing(8, [][2]uint32{{7, 2048}, {8, 10}}), uint16(8), uint16(65535), uint16(1))
	f.Add([]byte{1, 2, 3}, uint16(256), uint16(0), uint16(5))
	f.Fuzz(func(t *testing.T, ring []byte, n, last, idx uint16) {
		if n == 0 || n&(n-1) != 0 || n > 1024 {
			n = 256
		}
		start := last
		var bad uint64
		got := takeUsed(nil, ring, int(n), &last, idx, bufSize, &bad)
		if last != idx {
			t.Fatalf("stopped at %d, index %d", last, idx)
		}
		if uint64(len(got))+bad != uint64(idx-start) {
			t.Fatalf("%d entries + %d bad != %d announced", len(got), bad, idx-start)
		}
		for _, e := range got {
			if e.ID >= uint32(n) || e.Len > bufSize {
				t.Fatalf("entry %+v escapes the ring or the buffer", e)
			}
		}
	})
}

// hostQueue is a Queue over ordinary memory, for the ring logic alone.
func hostQueue(n int, eventIdx bool, notified *int) *Queue {
	pages, availOff, usedOff := ringLayout(n)
	// 8-byte aligned backing, as DMA memory is page-aligned.
	words := make([]uint64, pages*4096/8)
	ring := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), pages*4096)
	return &Queue{Size: n, ring: ring, availOff: availOff, usedOff: usedOff, eventIdx: eventIdx,
		notify: func() { *notified++ }}
}

func (q *Queue) u16(off int) uint16 { return binary.LittleEndian.Uint16(q.ring[off:]) }

func TestKickSuppression(t *testing.T) {
	var notified int
	q := hostQueue(8, true, &notified)
	// The device wants to hear when entry 0 is made available
	// (avail_event 0): the first kick notifies.
	q.SetDesc(0, 0x1000, 64, 0, 0)
	q.Push(0)
	if !q.Kick() || notified != 1 {
		t.Fatalf("first kick: notified %d", notified)
	}
	if q.u16(q.availOff+2) != 1 || q.u16(q.availOff+4) != 0 {
		t.Fatalf("avail idx %d, ring[0] %d", q.u16(q.availOff+2), q.u16(q.availOff+4))
	}
	// It took the notification and asked to hear about entry 1 (as
	// QEMU does on a kick: avail_event is the index it read), so the
	// next kick notifies too.
	setAvailEvent(q, 1)
	q.Push(1)
	if !q.Kick() || notified != 2 {
		t.Fatalf("kick at avail_event: notified %d", notified)
	}
	// Still busy with entries 0 and 1 (nothing completed, avail_event
	// stays 1): entry 2 needs no notification.
	q.Push(2)
	if q.Kick() || notified != 2 || q.Suppressed != 1 {
		t.Fatalf("kick while the device is busy: notified %d, suppressed %d", notified, q.Suppressed)
	}
	// Now it asks to hear about entry 3.
	setAvailEvent(q, 3)
	q.Push(3)
	if !q.Kick() || notified != 3 {
		t.Fatalf("kick past avail_event: notified %d", notified)
	}
	// Nothing new: no kick at all.
	if q.Kick() || notified != 3 {
		t.Fatalf("empty kick notified")
	}
	if q.Rescues != 0 {
		t.Fatalf("%d rescues with the device never idle", q.Rescues)
	}

	// Without EVENT_IDX the used ring's NO_NOTIFY flag decides.
	notified = 0
	q = hostQueue(8, false, &notified)
	q.Push(0)
	q.Kick()
	q.ring[q.usedOff] = usedNoNotify
	q.Push(1)
	q.Kick()
	if notified != 1 || q.Suppressed != 1 {
		t.Fatalf("NO_NOTIFY: notified %d, suppressed %d", notified, q.Suppressed)
	}
}

func setAvailEvent(q *Queue, v uint16) {
	binary.LittleEndian.PutUint16(q.ring[q.usedOff+4+8*q.Size:], v)
}

func setUsedIdx(q *Queue, v uint16) {
	binary.LittleEndian.PutUint16(q.ring[q.usedOff+2:], v)
}

// TestKickRescuesIdleDevice replays the lost handshake of a one-CPU TCG
// guest: the device went idle having seen entries up to 4 (avail_event
// 4, every entry before it completed), while the driver had already
// published entry 4 and read an older avail_event, so it did not notify.
// Every later kick starts past avail_event; without the rescue none
// would notify again and the queue would stay stuck.
func TestKickRescuesIdleDevice(t *testing.T) {
	var notified int
	q := hostQueue(8, true, &notified)
	for i := 0; i < 4; i++ {
		q.Push(uint16(i))
	}
	if !q.Kick() || notified != 1 {
		t.Fatalf("first kick: notified %d", notified)
	}
	// Busy with entries 0 to 3 (one completed), avail_event 2: the
	// driver publishes entry 4 and reads that stale value.
	setAvailEvent(q, 2)
	setUsedIdx(q, 1)
	q.Push(4)
	if q.Kick() || q.Rescues != 0 {
		t.Fatalf("kick to a busy device notified (rescues %d)", q.Rescues)
	}
	// The device, not having seen entry 4, catches up to it and
	// sleeps: used 4, avail_event 4.
	setAvailEvent(q, 4)
	setUsedIdx(q, 4)
	q.Push(5)
	if !q.Kick() || notified != 2 || q.Rescues != 1 {
		t.Fatalf("kick to an idle device behind the driver: notified %d, rescues %d", notified, q.Rescues)
	}
	// Busy again with entries 4 and 5 (used 4, avail_event 6 from the
	// notification): a kick past avail_event notifies as usual, and
	// one within the busy range is suppressed, not rescued.
	setAvailEvent(q, 6)
	q.Push(6)
	if !q.Kick() || notified != 3 || q.Rescues != 1 {
		t.Fatalf("kick at avail_event: notified %d, rescues %d", notified, q.Rescues)
	}
	q.Push(7)
	if q.Kick() || notified != 3 || q.Rescues != 1 {
		t.Fatalf("kick while busy: notified %d, rescues %d", notified, q.Rescues)
	}
	// It has completed entries 4 and 5 (used 6 = avail_event), but the
	// driver told it of entry 6: busy, not idle behind. QEMU's transmit
	// path sits here between a notification and its bottom half.
	setUsedIdx(q, 6)
	q.Push(8)
	if q.Kick() || notified != 3 || q.Rescues != 1 {
		t.Fatalf("kick to a device told of what it has not completed: notified %d, rescues %d", notified, q.Rescues)
	}
}

func TestInterruptSuppression(t *testing.T) {
	var n int
	q := hostQueue(8, true, &n)
	usedEvent := func() uint16 { return q.u16(q.availOff + 4 + 2*q.Size) }
	// The device completes two entries.
	binary.LittleEndian.PutUint32(q.ring[q.usedOff+4:], 5)
	binary.LittleEndian.PutUint32(q.ring[q.usedOff+8:], 60)
	binary.LittleEndian.PutUint32(q.ring[q.usedOff+12:], 6)
	binary.LittleEndian.PutUint32(q.ring[q.usedOff+16:], 70)
	binary.LittleEndian.PutUint16(q.ring[q.usedOff+2:], 2)
	q.DisableInterrupts()
	// used_event far behind: the device's next completions (index 2, 3)
	// do not reach it.
	if ev := usedEvent(); needEvent(ev, 3, 2) {
		t.Fatalf("interrupts disabled, but used_event %d asks for one", ev)
	}
	if !q.Pending() {
		t.Fatal("two completions not pending")
	}
	// Re-enabling with completions waiting says so (take them first).
	if !q.EnableInterrupts() {
		t.Fatal("EnableInterrupts hid waiting completions")
	}
	got := q.TakeUsed(nil, 2048)
	if len(got) != 2 || got[0] != (Used{5, 60}) || got[1] != (Used{6, 70}) {
		t.Fatalf("used %v", got)
	}
	// Drained: enabling asks for an interrupt at the very next
	// completion and reports nothing pending.
	if q.EnableInterrupts() {
		t.Fatal("nothing pending, but EnableInterrupts says otherwise")
	}
	if ev := usedEvent(); ev != 2 || !needEvent(ev, 3, 2) {
		t.Fatalf("used_event %d after draining to 2", ev)
	}
	// Without EVENT_IDX: the avail ring's NO_INTERRUPT flag.
	q = hostQueue(8, false, &n)
	q.DisableInterrupts()
	if q.u16(q.availOff)&availNoInterrupt == 0 {
		t.Fatal("NO_INTERRUPT not set")
	}
	q.EnableInterrupts()
	if q.u16(q.availOff)&availNoInterrupt != 0 {
		t.Fatal("NO_INTERRUPT still set")
	}
}
