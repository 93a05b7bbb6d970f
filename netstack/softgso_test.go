package netstack

import (
	"bytes"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// gsoSegment builds what gVisor's TCP hands a link with host GSO: the
// headers of one segment of len(payload) bytes (with a timestamp option)
// and its payload, the checksum field holding only the pseudo-header's
// sum, as for CHECKSUM_PARTIAL.
func gsoSegment(t *testing.T, v6 bool, flags header.TCPFlags, payload []byte) (hdr []byte, g stack.GSO) {
	t.Helper()
	src4, dst4 := tcpip.AddrFrom4([4]byte{10, 0, 2, 15}), tcpip.AddrFrom4([4]byte{10, 0, 2, 2})
	src6 := tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: 1})
	dst6 := tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: 2})
	opts := []byte{1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9} // NOP NOP timestamps
	tcpLen := header.TCPMinimumSize + len(opts)
	eth := make([]byte, header.EthernetMinimumSize)
	header.Ethernet(eth).Encode(&header.EthernetFields{SrcAddr: "\x52\x54\x00\x12\x34\x56", DstAddr: "\x52\x55\x0a\x00\x02\x02", Type: header.IPv4ProtocolNumber})
	var ip []byte
	var src, dst tcpip.Address
	if v6 {
		header.Ethernet(eth).Encode(&header.EthernetFields{Type: header.IPv6ProtocolNumber})
		ip = make([]byte, header.IPv6MinimumSize)
		header.IPv6(ip).Encode(&header.IPv6Fields{PayloadLength: uint16(tcpLen + len(payload)), TransportProtocol: header.TCPProtocolNumber, HopLimit: 64, SrcAddr: src6, DstAddr: dst6})
		src, dst = src6, dst6
		g = stack.GSO{Type: stack.GSOTCPv6, L3HdrLen: header.IPv6MinimumSize}
	} else {
		ip = make([]byte, header.IPv4MinimumSize)
		header.IPv4(ip).Encode(&header.IPv4Fields{TotalLength: uint16(header.IPv4MinimumSize + tcpLen + len(payload)), ID: 0xfffe, Flags: header.IPv4FlagDontFragment, TTL: 64, Protocol: uint8(header.TCPProtocolNumber), SrcAddr: src4, DstAddr: dst4})
		header.IPv4(ip).SetChecksum(^header.IPv4(ip).CalculateChecksum())
		src, dst = src4, dst4
		g = stack.GSO{Type: stack.GSOTCPv4, L3HdrLen: header.IPv4MinimumSize}
	}
	tcp := make([]byte, tcpLen)
	header.TCP(tcp).Encode(&header.TCPFields{SrcPort: 80, DstPort: 40000, SeqNum: 0xffffff00, AckNum: 77, DataOffset: uint8(tcpLen), Flags: flags, WindowSize: 512})
	copy(tcp[header.TCPMinimumSize:], opts)
	header.TCP(tcp).SetChecksum(header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(tcpLen+len(payload))))
	// The MSS gVisor derives from a 1,500-byte MTU with these headers.
	g.NeedsCsum, g.CsumOffset, g.MSS = true, header.TCPChecksumOffset, uint16(mtu-len(ip)-tcpLen)
	return append(append(eth, ip...), tcp...), g
}

// cutAll cuts the segment as sendCut does and returns its frames.
func cutAll(t *testing.T, c *tcpCut, payload []byte) [][]byte {
	t.Helper()
	cur := payloadCursor{s: [][]byte{payload[:len(payload)/3], payload[len(payload)/3:]}}
	var frames [][]byte
	for k := 0; k < c.pieces(); k++ {
		f := make([]byte, c.frameLen(k))
		copy(f, c.hdr)
		if n := cur.read(f[len(c.hdr):]); n != len(f)-len(c.hdr) {
			t.Fatalf("piece %d: payload short by %d bytes", k, len(f)-len(c.hdr)-n)
		}
		c.finish(f, k)
		frames = append(frames, f)
	}
	if n := cur.read(make([]byte, 1)); n != 0 {
		t.Fatal("payload left over after the last piece")
	}
	return frames
}

// TestTCPCut cuts a 5,000-byte segment into pieces of one MSS and checks
// each as the receiving host would: valid IP and TCP checksums computed
// from scratch, lengths, consecutive sequence numbers (wrapping), IPv4
// IDs, FIN and PSH on the last piece only, CWR on the first only, and the
// payload back whole.
func TestTCPCut(t *testing.T) {
	payload := make([]byte, 5000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for _, v6 := range []bool{false, true} {
		flags := header.TCPFlagAck | header.TCPFlagPsh | header.TCPFlagFin | header.TCPFlagCwr
		hdr, g := gsoSegment(t, v6, flags, payload)
		tcpOff := len(hdr) - 32
		c, ok := newTCPCut(hdr, header.EthernetMinimumSize, tcpOff, g, len(payload))
		if !ok {
			t.Fatalf("v6 %v: a segment as gVisor builds it was refused", v6)
		}
		if c.pieces() != 4 {
			t.Fatalf("v6 %v: %d pieces, want 4", v6, c.pieces())
		}
		var got []byte
		for k, f := range cutAll(t, &c, payload) {
			var src, dst tcpip.Address
			ipLen := 0
			if v6 {
				ip := header.IPv6(f[header.EthernetMinimumSize:])
				src, dst = ip.SourceAddress(), ip.DestinationAddress()
				if int(ip.PayloadLength()) != len(f)-tcpOff {
					t.Errorf("piece %d: IPv6 payload length %d, want %d", k, ip.PayloadLength(), len(f)-tcpOff)
				}
			} else {
				ip := header.IPv4(f[header.EthernetMinimumSize:])
				src, dst = ip.SourceAddress(), ip.DestinationAddress()
				if !ip.IsChecksumValid() {
					t.Errorf("piece %d: bad IPv4 header checksum", k)
				}
				if want := uint16(0xfffe + k); ip.ID() != want {
					t.Errorf("piece %d: IPv4 ID %#x, want %#x", k, ip.ID(), want)
				}
				ipLen = int(ip.TotalLength())
				if ipLen != len(f)-header.EthernetMinimumSize {
					t.Errorf("piece %d: IPv4 total length %d, want %d", k, ipLen, len(f)-header.EthernetMinimumSize)
				}
			}
			seg := f[tcpOff:]
			if s := checksum.Checksum(seg, header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(seg)))); s != 0xffff {
				t.Errorf("piece %d: TCP checksum does not verify (sum %#x)", k, s)
			}
			tcp := header.TCP(seg)
			if want := uint32(0xffffff00) + uint32(k*int(g.MSS)); tcp.SequenceNumber() != want {
				t.Errorf("piece %d: seq %#x, want %#x", k, tcp.SequenceNumber(), want)
			}
			wantFlags := header.TCPFlagAck
			if k == 0 {
				wantFlags |= header.TCPFlagCwr
			}
			if k == c.pieces()-1 {
				wantFlags |= header.TCPFlagPsh | header.TCPFlagFin
			}
			if tcp.Flags() != wantFlags {
				t.Errorf("piece %d: flags %v, want %v", k, tcp.Flags(), wantFlags)
			}
			if !bytes.Equal(f[:header.EthernetMinimumSize], hdr[:header.EthernetMinimumSize]) || !bytes.Equal(seg[header.TCPMinimumSize:32], hdr[tcpOff+header.TCPMinimumSize:]) {
				t.Errorf("piece %d: Ethernet header or TCP options not repeated", k)
			}
			if len(f)-len(hdr) > int(g.MSS) {
				t.Errorf("piece %d: %d payload bytes, more than the MSS", k, len(f)-len(hdr))
			}
			got = append(got, f[len(hdr):]...)
		}
		if !bytes.Equal(got, payload) {
			t.Errorf("v6 %v: payload not the same after the cut", v6)
		}
	}
}

// TestTCPCutOne finishes a segment that needs no cut (a bare ACK, and one
// of exactly one MSS): one frame, flags as they were, checksum complete.
func TestTCPCutOne(t *testing.T) {
	for _, n := range []int{0, 1436} { // 1,436: one MSS with the timestamps
		payload := bytes.Repeat([]byte{0xab}, n)
		hdr, g := gsoSegment(t, false, header.TCPFlagAck|header.TCPFlagPsh|header.TCPFlagFin, payload)
		c, ok := newTCPCut(hdr, header.EthernetMinimumSize, len(hdr)-32, g, n)
		if !ok || c.pieces() != 1 {
			t.Fatalf("%d bytes: ok %v, %d pieces", n, ok, c.pieces())
		}
		f := cutAll(t, &c, payload)[0]
		ip := header.IPv4(f[header.EthernetMinimumSize:])
		seg := f[len(hdr)-32:]
		if s := checksum.Checksum(seg, header.PseudoHeaderChecksum(header.TCPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(seg)))); s != 0xffff || !ip.IsChecksumValid() {
			t.Errorf("%d bytes: checksums do not verify", n)
		}
		if fl := header.TCP(seg).Flags(); fl != header.TCPFlagAck|header.TCPFlagPsh|header.TCPFlagFin || ip.ID() != 0xfffe {
			t.Errorf("%d bytes: flags %v, ID %#x changed", n, fl, ip.ID())
		}
	}
}

// TestTCPCutRefuses: what the driver cannot cut correctly is dropped and
// counted, not sent wrong.
func TestTCPCutRefuses(t *testing.T) {
	payload := make([]byte, 3000)
	hdr, g := gsoSegment(t, false, header.TCPFlagAck, payload)
	tcpOff := len(hdr) - 32
	for name, f := range map[string]func(h []byte, g *stack.GSO) (ipOff, tcpOff int){
		"no MSS":         func(h []byte, g *stack.GSO) (int, int) { g.MSS = 0; return 14, tcpOff },
		"MSS past MTU":   func(h []byte, g *stack.GSO) (int, int) { g.MSS = 1500; return 14, tcpOff },
		"not TCP GSO":    func(h []byte, g *stack.GSO) (int, int) { g.Type = stack.GSOGvisor; return 14, tcpOff },
		"IPv4 options":   func(h []byte, g *stack.GSO) (int, int) { h[14] = 0x46; return 14, tcpOff },
		"UDP":            func(h []byte, g *stack.GSO) (int, int) { h[14+9] = 17; return 14, tcpOff },
		"TCP offset":     func(h []byte, g *stack.GSO) (int, int) { h[tcpOff+12] = 5 << 4; return 14, tcpOff },
		"headers short":  func(h []byte, g *stack.GSO) (int, int) { return 14, len(h) },
		"no Ethernet":    func(h []byte, g *stack.GSO) (int, int) { return 0, tcpOff },
		"IPv6 as IPv4":   func(h []byte, g *stack.GSO) (int, int) { g.Type = stack.GSOTCPv6; return 14, tcpOff },
		"IPv4 too short": func(h []byte, g *stack.GSO) (int, int) { return 14, 14 + 10 },
	} {
		h := bytes.Clone(hdr)
		gg := g
		ipOff, to := f(h, &gg)
		if _, ok := newTCPCut(h, ipOff, to, gg, len(payload)); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzTCPCut: any headers and options the driver might be handed either
// are refused or give frames whose checksums verify and whose payloads
// add up, without a panic.
func FuzzTCPCut(f *testing.F) {
	f.Add(make([]byte, 66), uint16(1448), uint32(4000), false)
	f.Add(make([]byte, 86), uint16(1428), uint32(100), true)
	f.Fuzz(func(t *testing.T, hdr []byte, mss uint16, total uint32, v6 bool) {
		if total > 1<<16 || len(hdr) > maxCutHeaders {
			return
		}
		g := stack.GSO{Type: stack.GSOTCPv4, NeedsCsum: true, MSS: mss}
		ipLen := header.IPv4MinimumSize
		if v6 {
			g.Type, ipLen = stack.GSOTCPv6, header.IPv6MinimumSize
		}
		c, ok := newTCPCut(hdr, header.EthernetMinimumSize, header.EthernetMinimumSize+ipLen, g, int(total))
		if !ok {
			return
		}
		payload := make([]byte, total)
		sum := 0
		for _, fr := range cutAll(t, &c, payload) {
			if len(fr)-header.EthernetMinimumSize > mtu {
				t.Fatalf("a %d-byte frame passes the MTU", len(fr))
			}
			sum += len(fr) - len(c.hdr)
		}
		if sum != int(total) {
			t.Fatalf("pieces carry %d bytes of %d", sum, total)
		}
	})
}

// TestFinishChecksum completes the checksum of a segment of one MSS or
// less in place, as the device would: it must verify as the host checks
// it, and a header the options misplace is refused.
func TestFinishChecksum(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		payload := bytes.Repeat([]byte{0x5a, 0x01, 0xff}, 333)
		hdr, g := gsoSegment(t, v6, header.TCPFlagAck|header.TCPFlagPsh, payload)
		frame := append(bytes.Clone(hdr), payload...)
		if !finishChecksum(frame, g) {
			t.Fatalf("v6 %v: refused", v6)
		}
		start := header.EthernetMinimumSize + int(g.L3HdrLen)
		var src, dst tcpip.Address
		if v6 {
			ip := header.IPv6(frame[header.EthernetMinimumSize:])
			src, dst = ip.SourceAddress(), ip.DestinationAddress()
		} else {
			ip := header.IPv4(frame[header.EthernetMinimumSize:])
			src, dst = ip.SourceAddress(), ip.DestinationAddress()
		}
		seg := frame[start:]
		if s := checksum.Checksum(seg, header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(seg)))); s != 0xffff {
			t.Errorf("v6 %v: completed checksum does not verify (sum %#x)", v6, s)
		}
		if !bytes.Equal(frame[:start], hdr[:start]) || !bytes.Equal(frame[len(hdr):], payload) {
			t.Errorf("v6 %v: bytes other than the checksum changed", v6)
		}
	}
	hdr, g := gsoSegment(t, false, header.TCPFlagAck, nil)
	for name, gg := range map[string]stack.GSO{
		"no L3 length":   {Type: g.Type, NeedsCsum: true},
		"past the frame": {Type: g.Type, NeedsCsum: true, L3HdrLen: uint16(len(hdr))},
	} {
		if finishChecksum(bytes.Clone(hdr), gg) {
			t.Errorf("%s: accepted", name)
		}
	}
}
