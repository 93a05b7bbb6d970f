package netstack

// Pure ACKs thinned out in the driver.
//
// QEMU's user networking acknowledges every segment it takes, at once,
// so a guest sending a stream gets as many ACKs as it sends segments,
// and they arrive in bursts: each wake-up of the receive goroutine
// brought 19 frames on average during a 64 MiB download. Each went
// through gVisor's whole receive path
// (IP's checks and hooks, the demultiplexer, a hand-off to the TCP
// processor, the sender's bookkeeping), a third of the guest's CPU in
// that download, and each ACK then clocked out one segment. An ACK that
// acknowledges nothing beyond a later one in the same burst carries no
// news: the later one acknowledges the same bytes and more, with a newer
// window. So receive holds back a pure ACK and drops it if the next
// frame is a pure ACK of the same connection with a higher acknowledgment
// number; anything else sends the held one on first, so no frame
// overtakes another.
//
// What is never dropped, because TCP counts or reads it: duplicate ACKs
// (the same acknowledgment number: fast retransmit counts them), ACKs
// with SACK blocks or any option but timestamps, anything carrying data
// or another flag (SYN, FIN, RST, URG, PSH, ECE, CWR), fragments, and an
// ACK whose successor fails its checksums. Losing the dropped ACKs is
// what any network may do; gVisor's congestion window grows by the
// packets acknowledged, not by ACKs counted, so it grows as before.
// FreeBSD's LRO compresses ACKs the same way. VELOCITY_ACKCOALESCE=0 on
// the kernel command line turns it off, to compare.

import (
	"encoding/binary"
	"os"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// ackCoalesceWanted is VELOCITY_ACKCOALESCE: "0" delivers every ACK.
func ackCoalesceWanted() bool { return os.Getenv("VELOCITY_ACKCOALESCE") != "0" }

// maxHeldAck bounds a pure ACK's frame: Ethernet, IPv6 and TCP with the
// timestamp option (86 bytes), or a short frame's padding to 60.
const maxHeldAck = 96

// ackKey identifies a pure ACK's connection and says what it
// acknowledges.
type ackKey struct {
	v6       bool
	src, dst [16]byte
	ports    uint32 // source and destination port
	ack      uint32
}

// pureACK reports whether frame is a pure ACK that may be held back or
// dropped (see above), and its key. Frames shorter than their headers
// say, or with anything unexpected, are not: gVisor judges them.
func pureACK(frame []byte) (k ackKey, ok bool) {
	if len(frame) < header.EthernetMinimumSize || len(frame) > maxHeldAck {
		return k, false
	}
	var tcp []byte
	switch header.Ethernet(frame).Type() {
	case header.IPv4ProtocolNumber:
		ip := header.IPv4(frame[header.EthernetMinimumSize:])
		if len(ip) < header.IPv4MinimumSize || header.IPVersion(ip) != header.IPv4Version ||
			ip.HeaderLength() != header.IPv4MinimumSize || ip.Protocol() != uint8(header.TCPProtocolNumber) ||
			ip.More() || ip.FragmentOffset() != 0 || int(ip.TotalLength()) > len(ip) || int(ip.TotalLength()) < header.IPv4MinimumSize {
			return k, false
		}
		tcp = ip[header.IPv4MinimumSize:ip.TotalLength()]
		copy(k.src[:], ip[12:16])
		copy(k.dst[:], ip[16:20])
	case header.IPv6ProtocolNumber:
		ip := header.IPv6(frame[header.EthernetMinimumSize:])
		if len(ip) < header.IPv6MinimumSize || header.IPVersion(ip) != header.IPv6Version ||
			ip.NextHeader() != uint8(header.TCPProtocolNumber) || int(ip.PayloadLength()) > len(ip)-header.IPv6MinimumSize {
			return k, false
		}
		tcp = ip[header.IPv6MinimumSize : header.IPv6MinimumSize+int(ip.PayloadLength())]
		k.v6 = true
		copy(k.src[:], ip[8:24])
		copy(k.dst[:], ip[24:40])
	default:
		return k, false
	}
	if len(tcp) < header.TCPMinimumSize {
		return k, false
	}
	t := header.TCP(tcp)
	// No payload: the header is the whole segment.
	if int(t.DataOffset()) != len(tcp) || t.Flags() != header.TCPFlagAck {
		return k, false
	}
	switch opts := tcp[header.TCPMinimumSize:]; len(opts) {
	case 0:
	case 12: // NOP, NOP, timestamps: what Linux and gVisor send
		if opts[0] != 1 || opts[1] != 1 || opts[2] != header.TCPOptionTS || opts[3] != 10 {
			return k, false
		}
	default:
		return k, false
	}
	k.ports = binary.BigEndian.Uint32(tcp[0:4])
	k.ack = t.AckNumber()
	return k, true
}

// supersedes reports whether an ACK with key b makes one with key a
// redundant: the same connection, and more acknowledged.
func (b ackKey) supersedes(a ackKey) bool {
	return a.v6 == b.v6 && a.src == b.src && a.dst == b.dst && a.ports == b.ports && int32(b.ack-a.ack) > 0
}

// ackChecksumsOK verifies a pure ACK's IPv4 header checksum and its TCP
// checksum (pureACK accepted it, so the offsets hold), before the ACK it
// replaces is dropped for it.
func ackChecksumsOK(frame []byte, k ackKey) bool {
	ipb := frame[header.EthernetMinimumSize:]
	var tcp []byte
	var src, dst tcpip.Address
	if k.v6 {
		ip := header.IPv6(ipb)
		tcp = ipb[header.IPv6MinimumSize : header.IPv6MinimumSize+int(ip.PayloadLength())]
		src, dst = ip.SourceAddress(), ip.DestinationAddress()
	} else {
		ip := header.IPv4(ipb)
		if !ip.IsChecksumValid() {
			return false
		}
		tcp = ipb[header.IPv4MinimumSize:ip.TotalLength()]
		src, dst = ip.SourceAddress(), ip.DestinationAddress()
	}
	return checksum.Checksum(tcp, header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(tcp)))) == 0xffff
}

// ackHold is the pure ACK receive holds back, if any.
type ackHold struct {
	on   bool // coalescing wanted (ackCoalesceWanted)
	held bool
	key  ackKey
	n    int
	buf  [maxHeldAck]byte
}

// frameSink takes frames on to the stack.
type frameSink interface{ inject(frame []byte) }

// deliver passes frame to the stack, or holds it back if it is a pure ACK
// and more frames follow in the burst, dropping the one held before if
// frame supersedes it. The last frame of a burst is never held: nothing
// could replace it, and a burst of one frame, the common case for small
// requests, costs no parse and no copy.
func (h *ackHold) deliver(frame []byte, more bool, to frameSink) {
	if !h.on || (!more && !h.held) {
		to.inject(frame)
		return
	}
	k, ok := pureACK(frame)
	if !ok {
		h.flush(to)
		to.inject(frame)
		return
	}
	if h.held && k.supersedes(h.key) && ackChecksumsOK(frame, k) {
		h.held = false
		atomic.AddUint64(&nicStats.RxAcksCoalesced, 1)
	} else {
		h.flush(to)
	}
	if !more {
		to.inject(frame)
		return
	}
	h.held, h.key, h.n = true, k, copy(h.buf[:], frame)
}

// flush passes the held ACK on, if there is one: at the end of a burst,
// and before any frame that does not replace it.
func (h *ackHold) flush(to frameSink) {
	if h.held {
		h.held = false
		to.inject(h.buf[:h.n])
	}
}

// inject hands one frame to the stack (which copies it).
func (n *virtioNIC) inject(frame []byte) {
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
	n.ch.InjectInbound(0, pkt)
	pkt.DecRef()
}
