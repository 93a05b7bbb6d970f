package netstack

// Segmentation in the driver, for a card that cannot cut TCP segments.
//
// Over a back end without offloads (QEMU's user networking, a stream link
// between guests) every 1,460-byte segment used to go down gVisor's whole
// send path on its own: the TCP header, the route, IP's header and
// hooks, the queueing discipline, the link: over user networking the
// sending CPU put out one segment every 40 to 75 us, and QEMU
// acknowledged each before the next was ready (captured with QEMU's
// filter-dump, 2026-12-06). 64 KiB responses were bound by that; a bulk
// download, which one ACK per segment clocks out, also needed the ACKs
// thinned (ackcoalesce.go). Linux does the same work
// once per 64 KiB (GSO) and cuts the segments just before its driver. So
// does this driver now: the card reports host GSO to gVisor whatever the
// device offers, gVisor's TCP hands over segments of up to 64 KiB with
// their checksum left to "the device" (GSOOptions.NeedsCsum, Linux's
// CHECKSUM_PARTIAL), and when the device cannot, send cuts them here:
// each piece gets the headers again, its own sequence number, IP length,
// IPv4 ID and checksums, as Linux's tcp_gso_segment and inet_gso_segment
// make them. VELOCITY_SOFTGSO=0 on the kernel command line turns it off,
// to compare.

import (
	"encoding/binary"
	"os"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// softGSOWanted is VELOCITY_SOFTGSO: "0" leaves gVisor cutting its own
// segments over a card without offloads.
func softGSOWanted() bool { return os.Getenv("VELOCITY_SOFTGSO") != "0" }

// tcpCut is one TCP segment, as gVisor built it, longer than its MSS, to
// be sent in pieces of at most mss payload bytes, each a complete frame.
type tcpCut struct {
	hdr    []byte // Ethernet, IP and TCP headers, as built
	ipOff  int    // where the IP header starts in hdr
	tcpOff int    // where the TCP header starts in hdr
	v6     bool
	mss    int
	total  int // payload bytes in the whole segment
}

// tcpFIN, tcpPSH and tcpCWR are the flags only some pieces keep: FIN and
// PSH the last, CWR the first (Linux's tcp_gso_segment).
const (
	tcpFIN = 0x01
	tcpPSH = 0x08
	tcpCWR = 0x80
)

// newTCPCut checks what gVisor handed over and describes it; ok is false
// for anything that is not Ethernet, then IPv4 or IPv6 without options or
// extension headers as gVisor's TCP builds them, then TCP with its header
// length in range, and a usable MSS. Nothing is trusted: the headers are
// read from the packet, not from the options alone.
func newTCPCut(hdr []byte, ipOff, tcpOff int, g stack.GSO, total int) (c tcpCut, ok bool) {
	c = tcpCut{hdr: hdr, ipOff: ipOff, tcpOff: tcpOff, mss: int(g.MSS), total: total}
	if ipOff != header.EthernetMinimumSize || total < 0 || c.mss <= 0 || c.mss > 0xffff {
		return c, false
	}
	switch g.Type {
	case stack.GSOTCPv4:
		if tcpOff-ipOff != header.IPv4MinimumSize || len(hdr) < tcpOff {
			return c, false
		}
		ip := header.IPv4(hdr[ipOff:])
		if header.IPVersion(ip) != header.IPv4Version || int(ip.HeaderLength()) != header.IPv4MinimumSize ||
			ip.Protocol() != uint8(header.TCPProtocolNumber) {
			return c, false
		}
	case stack.GSOTCPv6:
		c.v6 = true
		if tcpOff-ipOff != header.IPv6MinimumSize || len(hdr) < tcpOff || header.IPVersion(hdr[ipOff:]) != header.IPv6Version ||
			header.IPv6(hdr[ipOff:]).NextHeader() != uint8(header.TCPProtocolNumber) {
			return c, false
		}
	default:
		return c, false
	}
	tcp := header.TCP(hdr[tcpOff:])
	if len(tcp) < header.TCPMinimumSize || int(tcp.DataOffset()) != len(tcp) {
		return c, false
	}
	// Each piece must fit the link's MTU (and so one transmit buffer).
	if len(hdr)-ipOff+min(c.mss, total) > mtu {
		return c, false
	}
	return c, true
}

// pieces is how many frames the segment becomes (at least one: a bare ACK
// or FIN carries no payload).
func (c *tcpCut) pieces() int {
	if c.total <= c.mss {
		return 1
	}
	return (c.total + c.mss - 1) / c.mss
}

// frameLen is piece k's length with its headers.
func (c *tcpCut) frameLen(k int) int {
	n := c.mss
	if rest := c.total - k*c.mss; rest < n {
		n = rest
	}
	return len(c.hdr) + n
}

// finish turns dst, which holds piece k's frame (the headers as built,
// then its payload), into a piece of its own: lengths, sequence number,
// flags, the IPv4 ID, and both checksums computed in full.
func (c *tcpCut) finish(dst []byte, k int) {
	tcpLen := len(dst) - c.tcpOff
	var src, dstAddr tcpip.Address
	if c.v6 {
		ip := header.IPv6(dst[c.ipOff:])
		ip.SetPayloadLength(uint16(tcpLen))
		src, dstAddr = ip.SourceAddress(), ip.DestinationAddress()
	} else {
		ip := header.IPv4(dst[c.ipOff:])
		ip.SetTotalLength(uint16(len(dst) - c.ipOff))
		ip.SetID(ip.ID() + uint16(k))
		ip.SetChecksum(0)
		ip.SetChecksum(^ip.CalculateChecksum())
		src, dstAddr = ip.SourceAddress(), ip.DestinationAddress()
	}
	tcp := header.TCP(dst[c.tcpOff:])
	tcp.SetSequenceNumber(tcp.SequenceNumber() + uint32(k*c.mss))
	flags := tcp.Flags()
	if k != c.pieces()-1 {
		flags &^= tcpFIN | tcpPSH
	}
	if k != 0 {
		flags &^= tcpCWR
	}
	tcp.SetFlags(uint8(flags))
	tcp.SetChecksum(0)
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dstAddr, uint16(tcpLen))
	tcp.SetChecksum(^checksum.Checksum(dst[c.tcpOff:], xsum))
}

// payloadCursor reads a packet's payload from its slices in order,
// after the headers.
type payloadCursor struct {
	s [][]byte
}

// skip drops n bytes from the front (the headers).
func (p *payloadCursor) skip(n int) {
	for n > 0 && len(p.s) > 0 {
		if len(p.s[0]) > n {
			p.s[0] = p.s[0][n:]
			return
		}
		n -= len(p.s[0])
		p.s = p.s[1:]
	}
}

// read fills dst, and reports how much it could.
func (p *payloadCursor) read(dst []byte) int {
	n := 0
	for n < len(dst) && len(p.s) > 0 {
		c := copy(dst[n:], p.s[0])
		n += c
		if c == len(p.s[0]) {
			p.s = p.s[1:]
		} else {
			p.s[0] = p.s[0][c:]
		}
	}
	return n
}

// softGSO reports whether pkt is a segment gVisor left for the device to
// finish (host GSO) that this driver must finish itself.
func (n *virtioNIC) softGSO(pkt *stack.PacketBuffer) bool {
	g := pkt.GSOOptions
	return n.softSeg && g.NeedsCsum && (g.Type == stack.GSOTCPv4 || g.Type == stack.GSOTCPv6)
}

// softCut reports whether pkt must also be cut: longer than its MSS. A
// segment of one MSS or less (most of a stream that each ACK clocks out,
// every ACK and FIN) is copied as any frame and only its checksum is
// completed (finishChecksum): going through the cut cost a bulk download
// over user networking 8% of its throughput.
func (n *virtioNIC) softCut(pkt *stack.PacketBuffer) bool {
	return n.softGSO(pkt) && pkt.GSOOptions.MSS > 0 && pkt.Data().Size() > int(pkt.GSOOptions.MSS)
}

// finishChecksum completes the TCP checksum of frame, one whole segment
// gVisor left for the device (its checksum field holds the pseudo-header's
// sum, length included), as the device would from virtio's csum_start and
// csum_offset: the sum of everything from the TCP header on. It reports
// false, and the frame must be dropped, if the TCP header is not where the
// options say.
func finishChecksum(frame []byte, g stack.GSO) bool {
	start := header.EthernetMinimumSize + int(g.L3HdrLen)
	at := start + header.TCPChecksumOffset
	if g.L3HdrLen == 0 || at+2 > len(frame) || start+header.TCPMinimumSize > len(frame) {
		return false
	}
	binary.BigEndian.PutUint16(frame[at:], ^checksum.Checksum(frame[start:], 0))
	return true
}

// cutOf describes pkt for sendCut, with hdr as scratch for its headers.
func cutOf(pkt *stack.PacketBuffer, hdr []byte) (tcpCut, bool) {
	l, nw, tr := pkt.LinkHeader().Slice(), pkt.NetworkHeader().Slice(), pkt.TransportHeader().Slice()
	if len(l)+len(nw)+len(tr) > len(hdr) {
		return tcpCut{}, false
	}
	h := hdr[:0]
	h = append(h, l...)
	h = append(h, nw...)
	h = append(h, tr...)
	return newTCPCut(h, len(l), len(l)+len(nw), pkt.GSOOptions, pkt.Data().Size())
}

// maxCutHeaders bounds the headers a cut repeats: Ethernet, IPv6 and TCP
// with the most options.
const maxCutHeaders = header.EthernetMinimumSize + header.IPv6MinimumSize + header.TCPHeaderMaximumSize

// sendCut puts pkt on the ring as c.pieces() frames, one buffer each,
// behind a zero virtio header (nothing is left to the device). The caller
// holds txMu and checked that the buffers are free, or maxTxDescs of
// them for more pieces than that (a peer's tiny MSS): the rest wait for
// the device to free buffers (waitTxSpace), and if it frees none they
// are dropped and counted, as a full ring's frames are.
func (n *virtioNIC) sendCut(pkt *stack.PacketBuffer, c *tcpCut) {
	buf := n.txBufs.Bytes()
	cur := payloadCursor{s: pkt.AsSlices()}
	cur.skip(len(c.hdr))
	for k := 0; k < c.pieces(); k++ {
		if len(n.txFree) == 0 {
			n.waitTxSpace(1)
			if len(n.txFree) == 0 {
				atomic.AddUint64(&nicStats.TxRingFull, uint64(c.pieces()-k))
				return
			}
		}
		i := n.txFree[len(n.txFree)-1]
		n.txFree = n.txFree[:len(n.txFree)-1]
		b := buf[int(i)*bufSize : int(i+1)*bufSize]
		clear(b[:n.hdrLen])
		frame := b[n.hdrLen : n.hdrLen+c.frameLen(k)]
		copy(frame, c.hdr)
		cur.read(frame[len(c.hdr):])
		c.finish(frame, k)
		n.txNext[i] = txEnd
		n.tx.SetDesc(int(i), n.txBufs.PA+uint64(int(i)*bufSize), uint32(n.hdrLen+len(frame)), 0, 0)
		n.txHead[i] = true
		n.tx.Push(i)
		atomic.AddUint64(&nicStats.TxFrames, 1)
		atomic.AddUint64(&nicStats.TxBytes, uint64(len(frame)))
	}
	if c.pieces() > 1 {
		atomic.AddUint64(&nicStats.TxSoftGSOFrames, 1)
	}
}
