package virtio

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"github.com/velocityos/velocity/drivers/pci"
)

// Descriptor flags.
const (
	DescNext  = 1
	DescWrite = 2 // the device writes this buffer
)

const (
	availNoInterrupt = 1 // avail flags: do not interrupt (without EVENT_IDX)
	usedNoNotify     = 1 // used flags: do not notify (without EVENT_IDX)
)

// Queue is a split virtqueue in one block of DMA memory, in the legacy
// layout (which the modern interface accepts too): n descriptors, the
// available ring with used_event after it, then on the next page the
// used ring with avail_event after it.
//
// A Queue is not safe for concurrent use; a driver serialises each
// queue's calls.
type Queue struct {
	Index, Size int
	// Bad counts used-ring entries the device wrote that were dropped: a
	// descriptor id past the ring, or a length beyond the buffer's.
	Bad uint64
	// Notifies counts the notifications sent; Suppressed those the
	// device said it did not need.
	Notifies, Suppressed uint64
	// Rescues counts notifications sent although avail_event said
	// none was needed, because the device had gone idle behind the
	// driver: it had completed every entry up to avail_event, and the
	// driver had published that entry without notifying
	// (lostHandshake).
	//
	// The EVENT_IDX handshake is a store-then-load on each side (the
	// driver publishes its index, then reads avail_event; the device
	// writes avail_event, then rereads the index), so it needs a full
	// barrier on both. QEMU's TCG leaves the guest's barriers out when
	// the machine has one CPU (no CF_PARALLEL: tcg_gen_mb emits nothing,
	// and a locked XCHG becomes a load and a store), yet the device runs
	// in QEMU's I/O thread, concurrently. The host may then let the
	// driver's read pass its own store: both sides miss the other,
	// avail_event stays behind for good, and every later kick is
	// suppressed. One-CPU guests lost their transmit queue this way
	// (tests/netboot, about one boot in fifty under load); the rescue
	// turns that into one notification at the next kick.
	Rescues uint64

	mem               pci.DMA
	ring              []byte
	availOff, usedOff int
	eventIdx          bool
	availIdx          uint16 // next free slot of the available ring
	kicked            uint16 // availIdx at the last Kick
	notifiedTo        uint16 // availIdx at the last notification
	lastUsed          uint16
	notify            func()
}

// ringLayout is the legacy layout's size for n entries.
func ringLayout(n int) (pages, availOff, usedOff int) {
	availOff = 16 * n
	a := availOff + 4 + 2*n + 2 // flags, idx, ring, used_event
	usedOff = (a + 4095) &^ 4095
	u := 4 + 8*n + 2 // flags, idx, ring, avail_event
	return (usedOff + u + 4095) / 4096, availOff, usedOff
}

func newQueue(index, n int, eventIdx bool) (*Queue, error) {
	pages, availOff, usedOff := ringLayout(n)
	mem, err := pci.AllocDMA(pages)
	if err != nil {
		return nil, err
	}
	return &Queue{Index: index, Size: n, mem: mem, ring: mem.Bytes(), availOff: availOff, usedOff: usedOff, eventIdx: eventIdx}, nil
}

// RingPA is the physical address of the available ring and of the used
// ring, for a diagnostic that reads the indexes the device sees.
func (q *Queue) RingPA() (avail, used uint64) {
	return q.mem.PA + uint64(q.availOff), q.mem.PA + uint64(q.usedOff)
}

// LastUsed is the used-ring index the driver takes next.
func (q *Queue) LastUsed() uint16 { return q.lastUsed }

func (q *Queue) word(off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&q.ring[off]))
}

// SetDesc fills descriptor i. next matters only with DescNext.
func (q *Queue) SetDesc(i int, addr uint64, n uint32, flags, next uint16) {
	d := q.ring[16*i : 16*i+16]
	binary.LittleEndian.PutUint64(d, addr)
	binary.LittleEndian.PutUint32(d[8:], n)
	binary.LittleEndian.PutUint16(d[12:], flags)
	binary.LittleEndian.PutUint16(d[14:], next)
}

// Push puts the chain starting at descriptor head in the available ring.
// The device sees it after the next Kick.
func (q *Queue) Push(head uint16) {
	binary.LittleEndian.PutUint16(q.ring[q.availOff+4+2*(int(q.availIdx)&(q.Size-1)):], head)
	q.availIdx++
}

// Kick publishes what Push added and notifies the device unless it said
// it does not need to know (EVENT_IDX's avail_event, or the used ring's
// NO_NOTIFY flag). It reports whether it notified.
func (q *Queue) Kick() bool {
	old := q.kicked
	if old == q.availIdx {
		return false
	}
	q.kicked = q.availIdx
	// flags (low half) and idx (high half) in one store, after the ring
	// entries; atomic.Store is a full barrier on amd64, so the reads of
	// the device's hints below see what the device wrote after it.
	w := atomic.LoadUint32(q.word(q.availOff))
	atomic.StoreUint32(q.word(q.availOff), uint32(q.availIdx)<<16|w&0xFFFF)
	var need bool
	if q.eventIdx {
		ev := uint16(atomic.LoadUint32(q.word(q.usedOff + 4 + 8*q.Size)))
		need = needEvent(ev, q.availIdx, old)
		if !need && q.lostHandshake(ev) {
			q.Rescues++
			need = true
		}
	} else {
		need = atomic.LoadUint32(q.word(q.usedOff))&usedNoNotify == 0
	}
	if !need {
		q.Suppressed++
		return false
	}
	q.Notifies++
	q.notifiedTo = q.availIdx
	q.notify()
	return true
}

// lostHandshake reports, for a kick that avail_event (ev) says needs no
// notification, whether the device is instead idle behind the driver
// (see Rescues). The device wrote ev as the index it had read, and it
// has completed everything before ev; yet the driver published entry ev
// without a notification: its last one (notifiedTo) did not reach past
// ev. Had the handshake held, the kick that published entry ev would
// have read ev and notified. A device merely busy (a notification
// received and not yet acted on, or completions still to come) fails
// one of the two tests.
func (q *Queue) lostHandshake(ev uint16) bool {
	used := uint16(atomic.LoadUint32(q.word(q.usedOff)) >> 16)
	return used == ev && ev-q.notifiedTo < 0x8000
}

// needEvent is virtio's vring_need_event: whether moving an index from
// old to new passed the event index.
func needEvent(event, new, old uint16) bool {
	return new-event-1 < new-old
}

// Used is one completed chain: its head descriptor and the bytes the
// device wrote.
type Used struct {
	ID, Len uint32
}

// Pending reports whether the device has completed chains not yet taken.
func (q *Queue) Pending() bool {
	return uint16(atomic.LoadUint32(q.word(q.usedOff))>>16) != q.lastUsed
}

// DeviceUsed is the used index the device has published. Unlike the
// other methods it may be called from any goroutine (a watchdog's): it
// reads only the ring, atomically.
func (q *Queue) DeviceUsed() uint16 {
	return uint16(atomic.LoadUint32(q.word(q.usedOff)) >> 16)
}

// TakeUsed appends the chains completed since the last call to out.
// Entries naming a descriptor the ring does not have, or a length beyond
// maxLen, are counted in Bad and dropped, never used to index.
func (q *Queue) TakeUsed(out []Used, maxLen uint32) []Used {
	idx := uint16(atomic.LoadUint32(q.word(q.usedOff)) >> 16)
	return takeUsed(out, q.ring[q.usedOff:q.usedOff+4+8*q.Size], q.Size, &q.lastUsed, idx, maxLen, &q.Bad)
}

func takeUsed(out []Used, ring []byte, n int, last *uint16, idx uint16, maxLen uint32, bad *uint64) []Used {
	for *last != idx {
		off := 4 + 8*(int(*last)%n)
		*last++
		if off+8 > len(ring) {
			*bad++
			continue
		}
		e := Used{binary.LittleEndian.Uint32(ring[off:]), binary.LittleEndian.Uint32(ring[off+4:])}
		if e.ID >= uint32(n) || e.Len > maxLen {
			*bad++
			continue
		}
		out = append(out, e)
	}
	return out
}

// DisableInterrupts asks the device not to interrupt for completions
// (a hint: it may still). A driver busy draining the queue calls it, so
// a burst costs one interrupt rather than one per frame.
func (q *Queue) DisableInterrupts() {
	if q.eventIdx {
		// used_event half a ring behind: not reached before the
		// driver re-enables.
		q.setUsedEvent(q.lastUsed - uint16(q.Size/2) - 1)
		return
	}
	w := atomic.LoadUint32(q.word(q.availOff))
	atomic.StoreUint32(q.word(q.availOff), w|availNoInterrupt)
}

// EnableInterrupts asks for an interrupt at the next completion, and
// reports whether completions arrived meanwhile (then the driver must
// take them rather than sleep: their interrupt may not come).
func (q *Queue) EnableInterrupts() bool {
	if q.eventIdx {
		q.setUsedEvent(q.lastUsed)
	} else {
		w := atomic.LoadUint32(q.word(q.availOff))
		atomic.StoreUint32(q.word(q.availOff), w&^availNoInterrupt)
	}
	return q.Pending()
}

func (q *Queue) setUsedEvent(v uint16) {
	off := q.availOff + 4 + 2*q.Size // 4-byte aligned: Size is a power of two ≥ 2
	w := atomic.LoadUint32(q.word(off))
	atomic.StoreUint32(q.word(off), w&0xFFFF0000|uint32(v))
}
