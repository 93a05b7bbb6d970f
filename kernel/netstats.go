package kernel

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"
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
	// Nanoseconds the driver's receive goroutine spent waiting for the
	// card: from finding its ring empty until it ran again (the wait for
	// a CPU after the interrupt included). Under load, wall time less
	// this is the time the receive path was busy with frames.
	RxWaitNs uint64
}

// ErrNoNIC says no network driver registered its counters: no card, or
// the program does not use package net.
var ErrNoNIC = errors.New("kernel: no network card")

// NetStats reads the network card's counters.
func NetStats() (NICStats, error) {
	var s NICStats
	err := readNetStats(1, unsafe.Pointer(&s), unsafe.Sizeof(s), ErrNoNIC) // before s is read for the return
	return s, err
}

// readNetStats copies counters out with sysNetStats op into the n bytes at
// p: ErrNotVelocity off Velocity, none when nothing registered them.
func readNetStats(op uintptr, p unsafe.Pointer, n uintptr, none error) error {
	r, _, e := syscall.RawSyscall(sysNetStats, op, uintptr(p), n)
	switch {
	case e == syscall.ENOSYS:
		return ErrNotVelocity
	case e != 0:
		return e
	case r == 0:
		return none
	}
	return nil
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
	fmt.Fprintf(w, "nic: receive goroutine waited for the card %v\n", time.Duration(s.RxWaitNs))
}

// StackStats are the network stack's counters (gVisor's, netstack/
// stackstats.go): what IP, TCP and UDP received, sent and dropped, and
// why. A frame the card delivered can still be dropped here: a bad IP
// header or checksum is a good frame to the card. Fields are in the order
// of netstack's stackCounterNames (a host test keeps the two in step).
type StackStats struct {
	// IP, both versions: packets received; of them malformed (a bad
	// header, length or checksum) and malformed fragments; addressed to
	// none of this node's addresses; from a source no packet may have;
	// delivered to a transport protocol. Packets sent, and sends that
	// failed.
	IPPacketsReceived, IPMalformed, IPMalformedFragments, IPBadDestination, IPBadSource uint64
	IPDelivered, IPSent, IPSendErrors                                                   uint64
	// TCP: connections opened by connect and by a listener, established
	// now, reset while established, and connection attempts that
	// failed; segments received, invalid ones (a bad checksum among
	// them), and sent; resets sent and received; segments sent again,
	// retransmission timeouts; SYNs and handshake ACKs a full listen
	// queue dropped. Connections over loopback are joined and never
	// reach gVisor's TCP (docs/net.md, "Joined loopback connections"):
	// TCPJoinedLoopback counts them, and nothing above does.
	TCPActiveOpens, TCPPassiveOpens, TCPEstablished, TCPEstablishedResets, TCPFailedAttempts uint64
	TCPSegmentsReceived, TCPInvalidSegments, TCPChecksumErrors, TCPSegmentsSent              uint64
	TCPResetsSent, TCPResetsReceived, TCPRetransmits, TCPTimeouts                            uint64
	TCPListenSynDrops, TCPListenAckDrops, TCPJoinedLoopback                                  uint64
	// UDP: datagrams received, those for a port nobody had bound, those
	// a full receive buffer dropped, malformed ones, bad checksums;
	// datagrams sent, and sends that failed.
	UDPPacketsReceived, UDPUnknownPort, UDPReceiveBufferErrors, UDPMalformed, UDPChecksumErrors uint64
	UDPPacketsSent, UDPSendErrors                                                               uint64
	// Packets the transport layer dropped, and packets whose transport
	// header was malformed.
	TransportDropped, TransportMalformed uint64
	// Connections waiting in TIME-WAIT as a compact record now, records
	// made since boot, records that expired, and records a new SYN ended
	// (internal/build/nettimewait.go).
	TimeWaitRecords, TimeWaitCompacted, TimeWaitExpired, TimeWaitReopened uint64
}

// ErrNoStack says no network stack registered its counters: the program
// does not use package net.
var ErrNoStack = errors.New("kernel: no network stack")

// NetStackStats reads the network stack's counters as they are now.
func NetStackStats() (StackStats, error) {
	var s StackStats
	err := readNetStats(4, unsafe.Pointer(&s), unsafe.Sizeof(s), ErrNoStack)
	return s, err
}

// Write prints the counters, a line per protocol, as netstat -s groups
// them.
func (s StackStats) Write(w io.Writer) {
	fmt.Fprintf(w, "ip: received %d (malformed %d, malformed fragments %d, not for us %d, bad source %d), delivered %d, sent %d (errors %d)\n",
		s.IPPacketsReceived, s.IPMalformed, s.IPMalformedFragments, s.IPBadDestination, s.IPBadSource, s.IPDelivered, s.IPSent, s.IPSendErrors)
	fmt.Fprintf(w, "tcp: opens active %d passive %d, established %d, resets while established %d, failed attempts %d; loopback connections joined %d\n",
		s.TCPActiveOpens, s.TCPPassiveOpens, s.TCPEstablished, s.TCPEstablishedResets, s.TCPFailedAttempts, s.TCPJoinedLoopback)
	fmt.Fprintf(w, "tcp: segments received %d (invalid %d, bad checksum %d), sent %d, resets sent %d received %d, retransmitted %d, timeouts %d, listen queue drops syn %d ack %d\n",
		s.TCPSegmentsReceived, s.TCPInvalidSegments, s.TCPChecksumErrors, s.TCPSegmentsSent, s.TCPResetsSent, s.TCPResetsReceived,
		s.TCPRetransmits, s.TCPTimeouts, s.TCPListenSynDrops, s.TCPListenAckDrops)
	fmt.Fprintf(w, "tcp: TIME-WAIT records %d (made %d, expired %d, ended by a SYN %d)\n",
		s.TimeWaitRecords, s.TimeWaitCompacted, s.TimeWaitExpired, s.TimeWaitReopened)
	fmt.Fprintf(w, "udp: received %d (unknown port %d, buffer full %d, malformed %d, bad checksum %d), sent %d (errors %d)\n",
		s.UDPPacketsReceived, s.UDPUnknownPort, s.UDPReceiveBufferErrors, s.UDPMalformed, s.UDPChecksumErrors, s.UDPPacketsSent, s.UDPSendErrors)
	fmt.Fprintf(w, "transport: dropped %d, malformed headers %d\n", s.TransportDropped, s.TransportMalformed)
}
