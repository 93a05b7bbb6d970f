package kernel

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"unsafe"
)

// sysNetStats copies out the network driver's counters, which the driver
// (netstack's virtio-net) registered with the kernel (runtime/vk_dev.go).
const sysNetStats = 0x5637

// NICStats are the network card's counters, in the layout of netstack's
// NICStats (a host test keeps the two in step).
type NICStats struct {
	RxFrames, RxBytes, TxFrames, TxBytes uint64
	// Wake-ups of the driver's receive goroutine by the card's
	// interrupt (several interrupts may make one wake-up).
	Interrupts uint64
	// Frames dropped on receive: a bad used-ring entry (descriptor id
	// outside the ring, length beyond the buffer), a runt (shorter than
	// the virtio and Ethernet headers), a frame longer than the MTU, or
	// a virtio header naming an impossible buffer count.
	RxBadUsed, RxRunt, RxOversize, RxBadHeader uint64
	// Frames dropped on transmit: too big, or the ring stayed full.
	TxOversize, TxRingFull uint64
	// Notifications to the device, and those it said it did not need
	// (EVENT_IDX), for transmit; receive refills that notified.
	TxNotifies, TxSuppressed, RxNotifies uint64
	LinkChanges                          uint64
	// Frames put on the ring by the goroutine that sent them, not by
	// the driver's transmit goroutine.
	TxInline uint64
	// Frames handed to the device to cut into TCP segments (TSO, over a
	// back end that offers it).
	TxGSOFrames uint64
	// Frames received whose checksum the driver completed (the host
	// left it, receive offloads), and of them those longer than the MTU
	// (segments the host joined).
	RxCsumCompleted, RxGSOFrames uint64
	// Notifications sent although the device's avail_event said none
	// was needed, because it had gone idle behind the driver: a lost
	// handshake recovered (virtio.Queue.Rescues), per queue.
	TxRescues, RxRescues uint64
	// Receive completions the driver's watchdog found waiting without
	// their interrupt (the same lost handshake, on the interrupt side).
	MissedInterrupts uint64
	// Segments of more than one MSS the driver cut into frames itself,
	// over a back end without segmentation offload (user networking, a
	// stream link), and segments it dropped as malformed instead.
	TxSoftGSOFrames, TxBadGSO uint64
	// Received pure ACKs the driver dropped because the next frame, a
	// pure ACK of the same connection, acknowledged more; counted in
	// RxFrames, never delivered.
	RxAcksCoalesced uint64
}

// ErrNoNIC says no network driver registered its counters: no card, or
// the program does not use package net.
var ErrNoNIC = errors.New("kernel: no network card")

// NetStats reads the network card's counters.
func NetStats() (NICStats, error) {
	var s NICStats
	n, _, e := syscall.RawSyscall(sysNetStats, 1, uintptr(unsafe.Pointer(&s)), unsafe.Sizeof(s))
	switch {
	case e == syscall.ENOSYS:
		return s, ErrNotVelocity
	case e != 0:
		return s, e
	case n == 0:
		return s, ErrNoNIC
	}
	return s, nil
}

// Dropped is every frame dropped, either way.
func (s NICStats) Dropped() uint64 {
	return s.RxBadUsed + s.RxRunt + s.RxOversize + s.RxBadHeader + s.TxOversize + s.TxRingFull + s.TxBadGSO
}

// Write prints the counters in a /proc/net/dev-like form.
func (s NICStats) Write(w io.Writer) {
	fmt.Fprintf(w, "nic: rx %d frames %d bytes, tx %d frames %d bytes, %d interrupts\n",
		s.RxFrames, s.RxBytes, s.TxFrames, s.TxBytes, s.Interrupts)
	fmt.Fprintf(w, "nic: dropped rx bad-used %d runt %d oversize %d bad-header %d, tx oversize %d ring-full %d\n",
		s.RxBadUsed, s.RxRunt, s.RxOversize, s.RxBadHeader, s.TxOversize, s.TxRingFull)
	fmt.Fprintf(w, "nic: tx notifies %d suppressed %d, rx refill notifies %d, link changes %d, tx inline %d\n",
		s.TxNotifies, s.TxSuppressed, s.RxNotifies, s.LinkChanges, s.TxInline)
	fmt.Fprintf(w, "nic: tx segmentation offloaded %d frames, done by the driver %d (malformed %d); rx checksums completed %d, joined frames %d\n",
		s.TxGSOFrames, s.TxSoftGSOFrames, s.TxBadGSO, s.RxCsumCompleted, s.RxGSOFrames)
	fmt.Fprintf(w, "nic: notifies to a device idle behind the driver: tx %d, rx %d; missed interrupts %d; rx pure ACKs coalesced %d\n", s.TxRescues, s.RxRescues, s.MissedInterrupts, s.RxAcksCoalesced)
}
