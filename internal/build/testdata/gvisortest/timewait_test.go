// Package gvisortest holds TestPatchedGvisor's harnesses
// (internal/build/netgvisor_test.go), which run on the host against gVisor
// built with velocity's patches, once with the compact TIME-WAIT and once
// without (VELOCITY_TWCOMPACT=0). This one checks that a connection in
// TIME-WAIT answers the wire the same way both times.
package gvisortest

import (
	"bytes"
	"context"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

var (
	ours   = tcpip.AddrFrom4([4]byte{10, 0, 0, 1})
	theirs = tcpip.AddrFrom4([4]byte{10, 0, 0, 2})
)

const (
	serverPort = 80
	timeWait   = time.Second
)

var compact = os.Getenv("VELOCITY_TWCOMPACT") != "0"

// twStats is the patch's counters (tcp.(*protocol).VelocityTimeWaits).
type twStats interface {
	VelocityTimeWaits() (live int, compacted, acks, reopened, expired uint64)
	// The same counters where they are, for the kernel's statistics.
	VelocityTimeWaitCounters() (live *atomic.Int64, compacted, expired, reopened *atomic.Uint64)
}

// harness is a stack on a channel link serving "hello" and closing, and
// a peer that speaks TCP to it segment by segment.
type harness struct {
	t  *testing.T
	s  *stack.Stack
	ch *channel.Endpoint
}

func newHarness(t *testing.T, timeWait time.Duration) *harness {
	return newHarnessServing(t, timeWait, func(c net.Conn) {
		c.Write([]byte("hello"))
		c.Close()
	})
}

// newHarnessServing is newHarness with serve run on each connection the
// listener accepts, in a goroutine of its own.
func newHarnessServing(t *testing.T, timeWait time.Duration, serve func(net.Conn)) *harness {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	t.Cleanup(s.Close)
	ch := channel.New(256, 1500, "")
	if err := s.CreateNIC(1, ch); err != nil {
		t.Fatal(err)
	}
	if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: ours.WithPrefix()}, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})
	tw := tcpip.TCPTimeWaitTimeoutOption(timeWait)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &tw); err != nil {
		t.Fatal(err)
	}
	l, err := gonet.ListenTCP(s, tcpip.FullAddress{NIC: 1, Addr: ours, Port: serverPort}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return &harness{t: t, s: s, ch: ch}
}

func (h *harness) stats() (live int, compacted, acks, reopened, expired uint64) {
	st, ok := h.s.TransportProtocolInstance(tcp.ProtocolNumber).(twStats)
	if !ok {
		h.t.Fatal("gVisor's tcp.protocol has no VelocityTimeWaits: not built with the patch")
	}
	live, compacted, acks, reopened, expired = st.VelocityTimeWaits()
	// What the kernel reads (netstack/stackstats.go) must be the same.
	l, c, e, r := st.VelocityTimeWaitCounters()
	if l.Load() != int64(live) || c.Load() != compacted || e.Load() != expired || r.Load() != reopened {
		h.t.Fatalf("VelocityTimeWaitCounters (%d %d %d %d) disagree with VelocityTimeWaits (%d %d %d %d)",
			l.Load(), c.Load(), e.Load(), r.Load(), live, compacted, expired, reopened)
	}
	return live, compacted, acks, reopened, expired
}

// seg is a segment either way.
type seg struct {
	flags        header.TCPFlags
	seq, ack     uint32
	ts           bool
	tsVal, tsEcr uint32
	data         []byte
}

// send injects s from the peer's port.
func (h *harness) send(port uint16, s seg) {
	opts := []byte{}
	if s.ts {
		opts = make([]byte, 12)
		header.EncodeNOP(opts)
		header.EncodeNOP(opts[1:])
		header.EncodeTSOption(s.tsVal, s.tsEcr, opts[2:])
	}
	tcpLen := header.TCPMinimumSize + len(opts) + len(s.data)
	b := make([]byte, header.IPv4MinimumSize+tcpLen)
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: uint8(tcp.ProtocolNumber), SrcAddr: theirs, DstAddr: ours})
	ip.SetChecksum(^ip.CalculateChecksum())
	th := header.TCP(b[header.IPv4MinimumSize:])
	th.Encode(&header.TCPFields{SrcPort: port, DstPort: serverPort, SeqNum: s.seq, AckNum: s.ack,
		DataOffset: uint8(header.TCPMinimumSize + len(opts)), Flags: s.flags, WindowSize: 65535})
	copy(th[header.TCPMinimumSize:], opts)
	copy(th[header.TCPMinimumSize+len(opts):], s.data)
	xsum := header.PseudoHeaderChecksum(tcp.ProtocolNumber, theirs, ours, uint16(tcpLen))
	th.SetChecksum(^checksum.Checksum(th, xsum))
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	h.ch.InjectInbound(ipv4.ProtocolNumber, pkt)
	pkt.DecRef()
}

// recv returns the stack's next segment to port, or false after wait.
func (h *harness) recv(port uint16, wait time.Duration) (seg, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		pkt := h.ch.ReadContext(ctx)
		if pkt == nil {
			return seg{}, false
		}
		v := pkt.ToView()
		pkt.DecRef()
		ip := header.IPv4(v.AsSlice())
		th := header.TCP(ip.Payload())
		if th.DestinationPort() != port {
			continue
		}
		s := seg{flags: th.Flags(), seq: th.SequenceNumber(), ack: th.AckNumber(), data: bytes.Clone(th.Payload())}
		if o := header.ParseTCPOptions(th.Options()); o.TS {
			s.ts, s.tsVal, s.tsEcr = true, o.TSVal, o.TSEcr
		}
		return s, true
	}
}

// expect waits for the stack's segment to port and checks its flags.
func (h *harness) expect(port uint16, flags header.TCPFlags, what string) seg {
	h.t.Helper()
	s, ok := h.recv(port, 2*time.Second)
	if !ok {
		h.t.Fatalf("%s: no segment", what)
	}
	if s.flags != flags {
		h.t.Fatalf("%s: flags %s, want %s", what, s.flags, flags)
	}
	return s
}

// quiet checks the stack sends nothing to port for a while.
func (h *harness) quiet(port uint16, what string) {
	h.t.Helper()
	if s, ok := h.recv(port, 200*time.Millisecond); ok {
		h.t.Fatalf("%s: got %s seq %d ack %d, want nothing", what, s.flags, s.seq, s.ack)
	}
}

// conn is the peer's side of one connection.
type conn struct {
	port      uint16
	iss       uint32 // ours
	serverNxt uint32 // past the server's FIN once closed
	serverTS  uint32
}

// open does the handshake from port with initial sequence number iss and
// reads "hello" and the server's FIN.
func (h *harness) open(port uint16, iss uint32) conn {
	h.t.Helper()
	c := conn{port: port, iss: iss}
	c.serverNxt, c.serverTS = h.handshake(port, iss)
	var got []byte
	for fin := false; !fin; {
		s, ok := h.recv(port, 2*time.Second)
		if !ok {
			h.t.Fatalf("after %q: no more from the server", got)
		}
		got = append(got, s.data...)
		c.serverNxt = s.seq + uint32(len(s.data))
		if s.flags.Contains(header.TCPFlagFin) {
			fin = true
			c.serverNxt++
		}
	}
	if string(got) != "hello" {
		h.t.Fatalf("read %q, want hello", got)
	}
	return c
}

// handshake opens a connection from port with initial sequence number iss
// and returns the server's next sequence number and timestamp.
func (h *harness) handshake(port uint16, iss uint32) (serverNxt, serverTS uint32) {
	h.t.Helper()
	h.send(port, seg{flags: header.TCPFlagSyn, seq: iss, ts: true, tsVal: 100})
	sa := h.expect(port, header.TCPFlagSyn|header.TCPFlagAck, "SYN-ACK")
	if sa.ack != iss+1 || !sa.ts {
		h.t.Fatalf("SYN-ACK acknowledges %d (want %d), timestamps %v", sa.ack, iss+1, sa.ts)
	}
	h.send(port, seg{flags: header.TCPFlagAck, seq: iss + 1, ack: sa.seq + 1, ts: true, tsVal: 101, tsEcr: sa.tsVal})
	return sa.seq + 1, sa.tsVal
}

// closeToTimeWait acknowledges the server's FIN with the peer's own, so
// the server goes to TIME-WAIT, and checks the server's last ACK.
func (h *harness) closeToTimeWait(c conn) {
	h.t.Helper()
	var before uint64
	if compact {
		_, before, _, _, _ = h.stats()
	}
	h.send(c.port, seg{flags: header.TCPFlagAck | header.TCPFlagFin, seq: c.iss + 1, ack: c.serverNxt, ts: true, tsVal: 102, tsEcr: c.serverTS})
	a := h.expect(c.port, header.TCPFlagAck, "the ACK of the peer's FIN")
	if a.ack != c.iss+2 || a.seq != c.serverNxt {
		h.t.Fatalf("final ACK: seq %d ack %d, want %d %d", a.seq, a.ack, c.serverNxt, c.iss+2)
	}
	if compact {
		h.awaitRecord(before, "the connection in TIME-WAIT never became a record")
	}
}

// awaitRecord waits until more than before connections have become
// TIME-WAIT records, and fails with msg after 2 s.
func (h *harness) awaitRecord(before uint64, msg string) {
	h.t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, compacted, _, _, _ := h.stats(); compacted > before {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatal(msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTimeWait(t *testing.T) {
	h := newHarness(t, timeWait)
	const port = 40000
	c := h.open(port, 1000)
	h.closeToTimeWait(c)
	rcvNxt := c.iss + 2

	// A retransmitted FIN is acknowledged again, with a timestamp that
	// echoes the FIN's.
	h.send(port, seg{flags: header.TCPFlagAck | header.TCPFlagFin, seq: c.iss + 1, ack: c.serverNxt, ts: true, tsVal: 200, tsEcr: c.serverTS})
	a := h.expect(port, header.TCPFlagAck, "ACK of a retransmitted FIN")
	if a.seq != c.serverNxt || a.ack != rcvNxt || !a.ts || a.tsEcr != 200 {
		t.Fatalf("ACK of a retransmitted FIN: seq %d ack %d ts %v echo %d, want %d %d true 200", a.seq, a.ack, a.ts, a.tsEcr, c.serverNxt, rcvNxt)
	}
	// An ACK in sequence, a RST and an old SYN get nothing.
	h.send(port, seg{flags: header.TCPFlagAck, seq: rcvNxt, ack: c.serverNxt, ts: true, tsVal: 201, tsEcr: c.serverTS})
	h.quiet(port, "an ACK in sequence")
	h.send(port, seg{flags: header.TCPFlagRst, seq: rcvNxt})
	h.quiet(port, "a RST (RFC 1337)")
	h.send(port, seg{flags: header.TCPFlagSyn, seq: rcvNxt - 5, ts: true, tsVal: 202})
	h.quiet(port, "a SYN below what was received")
	// Out of sequence, or with data: an ACK.
	h.send(port, seg{flags: header.TCPFlagAck, seq: rcvNxt + 5000, ack: c.serverNxt, ts: true, tsVal: 203, tsEcr: c.serverTS})
	if a := h.expect(port, header.TCPFlagAck, "ACK of a segment out of sequence"); a.ack != rcvNxt {
		t.Fatalf("ACK of a segment out of sequence acknowledges %d, want %d", a.ack, rcvNxt)
	}
	h.send(port, seg{flags: header.TCPFlagAck | header.TCPFlagPsh, seq: rcvNxt, ack: c.serverNxt, ts: true, tsVal: 204, tsEcr: c.serverTS, data: []byte("x")})
	if a := h.expect(port, header.TCPFlagAck, "ACK of data"); a.ack != rcvNxt {
		t.Fatalf("ACK of data acknowledges %d, want %d", a.ack, rcvNxt)
	}
	if compact {
		live, compacted, acks, _, _ := h.stats()
		if live != 1 || compacted != 1 || acks != 3 {
			t.Fatalf("records %d, compacted %d, ACKs %d: want 1, 1, 3", live, compacted, acks)
		}
	}

	// A SYN beyond the old connection opens a new one on the same tuple,
	// which the listener accepts and serves.
	c2 := h.open(port, rcvNxt+100000)
	h.closeToTimeWait(c2)
	if compact {
		if live, compacted, _, reopened, _ := h.stats(); live != 1 || compacted != 2 || reopened != 1 {
			t.Fatalf("after reopening: records %d, compacted %d, reopened %d; want 1, 2, 1", live, compacted, reopened)
		}
	}

	// When TIME-WAIT is over, the tuple is nobody's: the listener answers
	// a stray ACK with a RST.
	time.Sleep(timeWait + timeWait/2)
	h.send(port, seg{flags: header.TCPFlagAck, seq: c2.iss + 2, ack: c2.serverNxt, ts: true, tsVal: 300, tsEcr: c2.serverTS})
	h.expect(port, header.TCPFlagRst, "RST after TIME-WAIT")
	if compact {
		if live, _, _, _, expired := h.stats(); live != 0 || expired != 1 {
			t.Fatalf("after TIME-WAIT: records %d, expired %d; want 0, 1", live, expired)
		}
	}
	// And a connection can be made on it again.
	h.open(port, 7)
}

// TestTimeWaitFootprint measures the heap a connection in TIME-WAIT
// keeps. With the record it must be small; gVisor's endpoint keeps about
// 5 KB.
func TestTimeWaitFootprint(t *testing.T) {
	h := newHarness(t, time.Minute)
	const n = 400
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	h.closeToTimeWait(h.open(41000, 1000)) // the first connection's one-time costs
	before := heap()
	for i := range n {
		h.closeToTimeWait(h.open(uint16(41001+i), 1000))
	}
	per := float64(int64(heap())-int64(before)) / n
	t.Logf("compact %v: %.0f bytes of heap per connection in TIME-WAIT", compact, per)
	if compact && per > 1024 {
		t.Errorf("%.0f bytes of heap per connection in TIME-WAIT, want at most 1024", per)
	}
	if !compact && per < 2048 {
		t.Errorf("gVisor's endpoint in TIME-WAIT kept only %.0f bytes: is the harness measuring it?", per)
	}
}
