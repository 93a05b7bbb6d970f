package netstack

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// ackFrame builds a TCP frame from 10.0.2.2:port to 10.0.2.15:80 (or the
// IPv6 equivalent) with valid checksums: flags, ack number, options and
// payload as given.
func ackFrame(v6 bool, port uint16, flags header.TCPFlags, ack uint32, opts, payload []byte) []byte {
	tcpLen := header.TCPMinimumSize + len(opts)
	tcp := make([]byte, tcpLen+len(payload))
	header.TCP(tcp).Encode(&header.TCPFields{SrcPort: port, DstPort: 80, SeqNum: 1000, AckNum: ack, DataOffset: uint8(tcpLen), Flags: flags, WindowSize: 65535})
	copy(tcp[header.TCPMinimumSize:], opts)
	copy(tcp[tcpLen:], payload)
	var ip []byte
	var src, dst tcpip.Address
	eth := make([]byte, header.EthernetMinimumSize)
	if v6 {
		src, dst = tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: 2}), tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: 1})
		ip = make([]byte, header.IPv6MinimumSize)
		header.IPv6(ip).Encode(&header.IPv6Fields{PayloadLength: uint16(len(tcp)), TransportProtocol: header.TCPProtocolNumber, HopLimit: 64, SrcAddr: src, DstAddr: dst})
		header.Ethernet(eth).Encode(&header.EthernetFields{Type: header.IPv6ProtocolNumber})
	} else {
		src, dst = tcpip.AddrFrom4([4]byte{10, 0, 2, 2}), tcpip.AddrFrom4([4]byte{10, 0, 2, 15})
		ip = make([]byte, header.IPv4MinimumSize)
		header.IPv4(ip).Encode(&header.IPv4Fields{TotalLength: uint16(header.IPv4MinimumSize + len(tcp)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber), SrcAddr: src, DstAddr: dst})
		header.IPv4(ip).SetChecksum(^header.IPv4(ip).CalculateChecksum())
		header.Ethernet(eth).Encode(&header.EthernetFields{Type: header.IPv4ProtocolNumber})
	}
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(tcp)))
	header.TCP(tcp).SetChecksum(^checksum.Checksum(tcp, xsum))
	f := append(append(eth, ip...), tcp...)
	if len(f) < 60 { // Ethernet pads short frames
		f = append(f, make([]byte, 60-len(f))...)
	}
	return f
}

// sinkRecorder records what the hold passes on.
type sinkRecorder struct{ got [][]byte }

func (r *sinkRecorder) inject(f []byte) { r.got = append(r.got, bytes.Clone(f)) }

var tsOpt = []byte{1, 1, header.TCPOptionTS, 10, 0, 0, 0, 5, 0, 0, 0, 6}

// TestAckCoalesce feeds bursts through the hold and checks which frames
// reach the stack, in which order.
func TestAckCoalesce(t *testing.T) {
	ack := func(port uint16, n uint32) []byte { return ackFrame(false, port, header.TCPFlagAck, n, nil, nil) }
	sack := []byte{1, 1, header.TCPOptionSACK, 10, 0, 0, 0, 1, 0, 0, 0, 2}
	data := ackFrame(false, 1, header.TCPFlagAck|header.TCPFlagPsh, 200, nil, []byte("GET /"))
	bad := ack(1, 400)
	bad[len(bad)-1] ^= 0xff // the padding: checksums still hold
	corrupt := ack(1, 400)
	corrupt[header.EthernetMinimumSize+header.IPv4MinimumSize+4] ^= 1 // the sequence number: TCP checksum fails
	cases := []struct {
		name  string
		in    [][]byte
		want  []int // indexes into in, in order
		saved int
	}{
		{"rising ACKs: the last", [][]byte{ack(1, 100), ack(1, 200), ack(1, 300)}, []int{2}, 2},
		{"duplicates kept", [][]byte{ack(1, 100), ack(1, 100), ack(1, 100)}, []int{0, 1, 2}, 0},
		{"older ACK kept", [][]byte{ack(1, 300), ack(1, 200)}, []int{0, 1}, 0},
		{"other connections", [][]byte{ack(1, 100), ack(2, 200), ack(1, 300)}, []int{0, 1, 2}, 0},
		{"data goes after the held ACK", [][]byte{ack(1, 100), data, ack(1, 300)}, []int{0, 1, 2}, 0},
		{"SACK never dropped", [][]byte{ackFrame(false, 1, header.TCPFlagAck, 100, sack, nil), ack(1, 200)}, []int{0, 1}, 0},
		{"timestamps dropped", [][]byte{ackFrame(false, 1, header.TCPFlagAck, 100, tsOpt, nil), ackFrame(false, 1, header.TCPFlagAck, 200, tsOpt, nil)}, []int{1}, 1},
		{"FIN never dropped", [][]byte{ackFrame(false, 1, header.TCPFlagAck|header.TCPFlagFin, 100, nil, nil), ack(1, 200)}, []int{0, 1}, 0},
		{"ECE never dropped", [][]byte{ackFrame(false, 1, header.TCPFlagAck|header.TCPFlagEce, 100, nil, nil), ack(1, 200)}, []int{0, 1}, 0},
		{"padding changes nothing", [][]byte{ack(1, 100), bad}, []int{1}, 1},
		{"corrupt successor: both on", [][]byte{ack(1, 100), corrupt}, []int{0, 1}, 0},
		{"wraps", [][]byte{ack(1, 0xfffffff0), ack(1, 0x10)}, []int{1}, 1},
		{"IPv6", [][]byte{ackFrame(true, 1, header.TCPFlagAck, 100, tsOpt, nil), ackFrame(true, 1, header.TCPFlagAck, 200, tsOpt, nil)}, []int{1}, 1},
		{"IPv4 then IPv6", [][]byte{ack(1, 100), ackFrame(true, 1, header.TCPFlagAck, 200, nil, nil)}, []int{0, 1}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := ackHold{on: true}
			var r sinkRecorder
			before := atomic.LoadUint64(&nicStats.RxAcksCoalesced)
			for i, f := range c.in {
				h.deliver(f, i < len(c.in)-1, &r)
			}
			h.flush(&r)
			var want [][]byte
			for _, i := range c.want {
				want = append(want, c.in[i])
			}
			if fmt.Sprint(r.got) != fmt.Sprint(want) {
				t.Errorf("delivered %d frames, want frames %v", len(r.got), c.want)
			}
			if saved := int(atomic.LoadUint64(&nicStats.RxAcksCoalesced) - before); saved != c.saved {
				t.Errorf("counted %d coalesced, want %d", saved, c.saved)
			}
		})
	}
	// The last frame of a burst is never held: a burst of one reaches
	// the stack before deliver returns.
	h1, r1 := ackHold{on: true}, sinkRecorder{}
	h1.deliver(ack(1, 100), false, &r1)
	if len(r1.got) != 1 || h1.held {
		t.Errorf("a burst of one ACK: %d delivered, held %v", len(r1.got), h1.held)
	}
	// Off: everything goes through as it comes.
	h, r := ackHold{}, sinkRecorder{}
	for _, f := range [][]byte{ack(1, 100), ack(1, 200)} {
		h.deliver(f, true, &r)
	}
	if len(r.got) != 2 {
		t.Errorf("with coalescing off, %d of 2 frames delivered", len(r.got))
	}
}

// FuzzPureACK: any frame is either not a pure ACK or one whose headers
// pureACK read within the frame; nothing panics.
func FuzzPureACK(f *testing.F) {
	f.Add(ackFrame(false, 1, header.TCPFlagAck, 100, nil, nil))
	f.Add(ackFrame(true, 1, header.TCPFlagAck, 100, tsOpt, nil))
	f.Add(ackFrame(false, 1, header.TCPFlagAck|header.TCPFlagPsh, 100, nil, []byte("x")))
	f.Fuzz(func(t *testing.T, frame []byte) {
		k, ok := pureACK(frame)
		if !ok {
			return
		}
		ackChecksumsOK(frame, k)
		if k.supersedes(k) {
			t.Fatal("an ACK supersedes itself")
		}
	})
}
