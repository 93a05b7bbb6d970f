package delack

import (
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// seg describes a segment the tests hand to the layer.
type seg struct {
	port  uint16 // local port; the flow
	flags header.TCPFlags
	ack   uint32
	wnd   uint16
	data  int
	opts  []byte // TCP options, a multiple of 4 bytes
}

// build makes an IPv4 TCP segment as the stack hands one to its link.
func build(s seg) *stack.PacketBuffer {
	payload := make([]byte, s.data)
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{
		ReserveHeaderBytes: header.IPv4MinimumSize + header.TCPMinimumSize + len(s.opts),
		Payload:            buffer.MakeWithData(payload),
	})
	hl := header.TCPMinimumSize + len(s.opts)
	tcp := header.TCP(pkt.TransportHeader().Push(hl))
	tcp.Encode(&header.TCPFields{
		SrcPort: s.port, DstPort: 80, SeqNum: 1, AckNum: s.ack,
		DataOffset: uint8(hl), Flags: s.flags, WindowSize: s.wnd,
	})
	copy(tcp[header.TCPMinimumSize:], s.opts)
	pkt.TransportProtocolNumber = header.TCPProtocolNumber
	ip := header.IPv4(pkt.NetworkHeader().Push(header.IPv4MinimumSize))
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(pkt.Size()), TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
		SrcAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 1}), DstAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2}),
	})
	pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
	return pkt
}

// rig is the layer over a channel endpoint that records what went out.
type rig struct {
	t  *testing.T
	e  *Endpoint
	ch *channel.Endpoint
}

func newRig(t *testing.T, delay time.Duration) *rig {
	ch := channel.New(64, 1500, "")
	e := New(ch, delay, nil).(*Endpoint)
	t.Cleanup(e.Close)
	return &rig{t: t, e: e, ch: ch}
}

// write hands the segments to the layer in one call, which must take all.
func (r *rig) write(segs ...seg) {
	r.t.Helper()
	var l stack.PacketBufferList
	for _, s := range segs {
		l.PushBack(build(s))
	}
	n, err := r.e.WritePackets(l)
	if err != nil || n != len(segs) {
		r.t.Fatalf("WritePackets = %d, %v; want %d, nil", n, err, len(segs))
	}
	for _, p := range l.AsSlice() {
		p.DecRef()
	}
}

// sent is what reached the link since the last call: acknowledgement
// numbers, with data lengths, in order.
type out struct {
	ack  uint32
	data int
}

func (r *rig) sent() []out {
	var got []out
	for {
		p := r.ch.Read()
		if p == nil {
			return got
		}
		tcp := header.TCP(p.TransportHeader().Slice())
		got = append(got, out{tcp.AckNumber(), p.Data().Size()})
		p.DecRef()
	}
}

func (r *rig) expect(want ...out) {
	r.t.Helper()
	got := r.sent()
	if len(got) != len(want) {
		r.t.Fatalf("sent %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			r.t.Fatalf("sent %v, want %v", got, want)
		}
	}
}

const ack = header.TCPFlagAck

// open sends a segment of data on each port's flow acknowledging byte 50,
// as a connection does before it has anything to acknowledge late.
func (r *rig) open(ports ...uint16) {
	r.t.Helper()
	for _, p := range ports {
		r.write(seg{port: p, flags: ack | header.TCPFlagPsh, ack: 50, wnd: 10, data: 1})
	}
	if got := r.sent(); len(got) != len(ports) {
		r.t.Fatalf("opening: sent %v", got)
	}
}

func TestMergedIntoData(t *testing.T) {
	r := newRig(t, time.Hour)
	r.open(1)
	r.write(seg{port: 1, flags: ack, ack: 100, wnd: 10})
	r.expect() // waiting
	r.write(seg{port: 1, flags: ack | header.TCPFlagPsh, ack: 100, wnd: 10, data: 50})
	r.expect(out{100, 50})
	if atomic.LoadUint64(&r.e.Stats.Delayed) != 1 || atomic.LoadUint64(&r.e.Stats.Merged) != 1 {
		t.Fatalf("delayed %d merged %d", atomic.LoadUint64(&r.e.Stats.Delayed), atomic.LoadUint64(&r.e.Stats.Merged))
	}
}

func TestSameCallMerge(t *testing.T) {
	r := newRig(t, time.Hour)
	r.open(1)
	r.write(seg{port: 1, flags: ack, ack: 100}, seg{port: 1, flags: ack, ack: 100, data: 9})
	r.expect(out{100, 9})
}

func TestOtherFlowsUntouched(t *testing.T) {
	r := newRig(t, time.Hour)
	r.open(1)
	r.write(seg{port: 1, flags: ack, ack: 100})
	r.write(seg{port: 2, flags: ack, ack: 7, data: 5})
	r.expect(out{7, 5})
	r.write(seg{port: 1, flags: ack | header.TCPFlagFin, ack: 100})
	r.expect(out{100, 0}) // the FIN carries port 1's acknowledgement
}

func TestOlderAckGoesFirst(t *testing.T) {
	// A segment that acknowledges less than the waiting ACK (or not at
	// all) does not replace it: the ACK goes first, order kept.
	r := newRig(t, time.Hour)
	r.open(1)
	r.write(seg{port: 1, flags: ack, ack: 100})
	r.write(seg{port: 1, flags: header.TCPFlagRst, ack: 0})
	r.expect(out{100, 0}, out{0, 0})
	r.write(seg{port: 1, flags: ack, ack: 200})
	r.write(seg{port: 1, flags: ack, ack: 150, data: 1})
	r.expect(out{200, 0}, out{150, 1})
}

func TestSecondAckReplaces(t *testing.T) {
	r := newRig(t, time.Hour)
	r.open(1)
	r.write(seg{port: 1, flags: ack, ack: 100, wnd: 10})
	r.write(seg{port: 1, flags: ack, ack: 200, wnd: 10})
	r.expect(out{200, 0})
	// A window update replaces too.
	r.write(seg{port: 1, flags: ack, ack: 300, wnd: 10})
	r.write(seg{port: 1, flags: ack, ack: 300, wnd: 99})
	r.expect(out{300, 0})
	if atomic.LoadUint64(&r.e.Stats.Replaced) != 2 {
		t.Fatalf("replaced %d", atomic.LoadUint64(&r.e.Stats.Replaced))
	}
}

func TestDuplicateAcksBothGo(t *testing.T) {
	r := newRig(t, time.Hour)
	r.open(1)
	r.write(seg{port: 1, flags: ack, ack: 100, wnd: 10})
	r.write(seg{port: 1, flags: ack, ack: 100, wnd: 10})
	r.expect(out{100, 0}, out{100, 0})
}

func TestWhatGoesAtOnce(t *testing.T) {
	r := newRig(t, time.Hour)
	// A connection's first ACK (the handshake's last) goes at once.
	r.write(seg{port: 1, flags: ack, ack: 50, wnd: 10})
	r.expect(out{50, 0})
	// A window update acknowledges nothing new: at once.
	r.write(seg{port: 1, flags: ack, ack: 50, wnd: 20})
	r.expect(out{50, 0})
	// More than a full segment since the last ACK: at once.
	full := 50 + r.e.maxAdvance
	r.write(seg{port: 1, flags: ack, ack: full + 1, wnd: 20})
	r.expect(out{full + 1, 0})
	// An ACK going backwards: at once.
	r.write(seg{port: 1, flags: ack, ack: 10, wnd: 20})
	r.expect(out{10, 0})
	// Up to a full segment: waits.
	r.write(seg{port: 1, flags: ack, ack: 10 + r.e.maxAdvance, wnd: 20})
	r.expect()
	if r.e.maxAdvance != 1500-40 {
		t.Fatalf("maxAdvance = %d over a 1500-byte MTU", r.e.maxAdvance)
	}
}

func TestSACKGoesAtOnce(t *testing.T) {
	r := newRig(t, time.Hour)
	r.open(1)
	sack := []byte{header.TCPOptionNOP, header.TCPOptionNOP, header.TCPOptionSACK, 10, 0, 0, 0, 1, 0, 0, 0, 2}
	r.write(seg{port: 1, flags: ack, ack: 100, opts: sack})
	r.expect(out{100, 0})
	ts := []byte{header.TCPOptionNOP, header.TCPOptionNOP, header.TCPOptionTS, 10, 0, 0, 0, 1, 0, 0, 0, 2}
	r.write(seg{port: 1, flags: ack, ack: 150, opts: ts})
	r.expect() // timestamps alone wait
}

func TestExpiryThenQuickMode(t *testing.T) {
	const delay = 20 * time.Millisecond
	r := newRig(t, delay)
	r.open(1)
	start := time.Now()
	r.write(seg{port: 1, flags: ack, ack: 100})
	r.expect()
	deadline := time.Now().Add(5 * time.Second)
	var got []out
	for len(got) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		got = r.sent()
	}
	if len(got) != 1 || got[0] != (out{100, 0}) {
		t.Fatalf("after the delay: sent %v", got)
	}
	if waited := time.Since(start); waited < delay {
		t.Fatalf("sent after %v, before the %v delay", waited, delay)
	}
	if atomic.LoadUint64(&r.e.Stats.Expired) != 1 {
		t.Fatalf("expired %d", atomic.LoadUint64(&r.e.Stats.Expired))
	}
	// Quick-ACK mode: the next QuickAcks pure ACKs go at once...
	for i := range QuickAcks {
		r.write(seg{port: 1, flags: ack, ack: 200 + uint32(i)})
		r.expect(out{200 + uint32(i), 0})
	}
	// ...and then they wait again.
	r.write(seg{port: 1, flags: ack, ack: 999})
	r.expect()
}

func TestAnswerEndsQuickMode(t *testing.T) {
	const delay = 20 * time.Millisecond
	r := newRig(t, delay)
	r.open(1)
	r.write(seg{port: 1, flags: ack, ack: 100})
	for deadline := time.Now().Add(5 * time.Second); atomic.LoadUint64(&r.e.Stats.Expired) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the ACK never expired")
		}
		time.Sleep(time.Millisecond)
	}
	r.sent()
	r.write(seg{port: 1, flags: ack, ack: 200}) // quick: goes at once
	r.write(seg{port: 1, flags: ack, ack: 200, data: 10})
	r.expect(out{200, 0}, out{200, 10})
	r.write(seg{port: 1, flags: ack, ack: 300}) // the answer came at once: waits
	r.expect()
}

func TestFlowLimit(t *testing.T) {
	ch := channel.New(MaxFlows+8, 1500, "")
	e := New(ch, time.Hour, nil).(*Endpoint)
	t.Cleanup(e.Close)
	r := &rig{t: t, e: e, ch: ch}
	for i := range MaxFlows + 1 {
		r.open(uint16(i + 1))
	}
	r.write(seg{port: 1, flags: ack, ack: 100})
	r.expect() // a flow with a record waits
	r.write(seg{port: MaxFlows + 1, flags: ack, ack: 100})
	r.expect(out{100, 0}) // no record to spare: at once
	if atomic.LoadUint64(&r.e.Stats.Immediate) != 1 {
		t.Fatalf("immediate %d", atomic.LoadUint64(&r.e.Stats.Immediate))
	}
	if len(e.flows) != MaxFlows {
		t.Fatalf("%d records, want the limit %d", len(e.flows), MaxFlows)
	}
}

func TestCloseDropsWaiting(t *testing.T) {
	ch := channel.New(8, 1500, "")
	e := New(ch, 10*time.Millisecond, nil).(*Endpoint)
	(&rig{t: t, e: e, ch: ch}).open(1)
	var l stack.PacketBufferList
	p := build(seg{port: 1, flags: ack, ack: 142})
	l.PushBack(p)
	e.WritePackets(l)
	p.DecRef()
	if r := p.ReadRefs(); r != 1 {
		t.Fatalf("the waiting ACK has %d references, want the layer's 1", r)
	}
	e.Close()
	if r := p.ReadRefs(); r != 0 {
		t.Fatalf("Close left the waiting ACK %d references", r)
	}
	time.Sleep(30 * time.Millisecond)
	if n := atomic.LoadUint64(&e.Stats.Expired); n != 0 {
		t.Fatalf("%d ACKs expired after Close", n)
	}
}

func TestNotTCPPasses(t *testing.T) {
	r := newRig(t, time.Hour)
	p := build(seg{port: 1, flags: ack, ack: 1})
	p.TransportProtocolNumber = header.UDPProtocolNumber
	var l stack.PacketBufferList
	l.PushBack(p)
	if n, err := r.e.WritePackets(l); n != 1 || err != nil {
		t.Fatalf("WritePackets = %d, %v", n, err)
	}
	p.DecRef()
	if len(r.sent()) != 1 {
		t.Fatal("a UDP datagram was held")
	}
}

func TestZeroDelayIsNoLayer(t *testing.T) {
	ch := channel.New(1, 1500, "")
	if New(ch, 0, nil) != stack.LinkEndpoint(ch) {
		t.Fatal("New(lower, 0, nil) wrapped lower")
	}
}

func TestHasSACK(t *testing.T) {
	for _, c := range []struct {
		opts []byte
		want bool
	}{
		{nil, false},
		{[]byte{header.TCPOptionEOL, header.TCPOptionSACK}, false},
		{[]byte{header.TCPOptionNOP, header.TCPOptionSACK, 10, 0, 0, 0, 0, 0, 0, 0, 0}, true},
		{[]byte{header.TCPOptionMSS, 4, 5, 0xb4}, false},
		{[]byte{header.TCPOptionMSS, 4, 5}, true}, // runs past the end: malformed
		{[]byte{header.TCPOptionMSS, 0}, true},    // length 0 would loop
		{[]byte{header.TCPOptionMSS}, true},       // no length byte
	} {
		if got := hasSACK(c.opts); got != c.want {
			t.Errorf("hasSACK(% x) = %v, want %v", c.opts, got, c.want)
		}
	}
}

// FuzzHasSACK runs the options walk on anything: it must end, and say
// SACK for any option list with a kind-5 option before EOL.
func FuzzHasSACK(f *testing.F) {
	f.Add([]byte{header.TCPOptionNOP, header.TCPOptionNOP, header.TCPOptionTS, 10, 0, 0, 0, 1, 0, 0, 0, 2})
	f.Add([]byte{header.TCPOptionSACK, 10, 0, 0, 0, 1, 0, 0, 0, 2})
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, opts []byte) {
		got := hasSACK(opts)
		// Walk again, the simple way, to check the answer.
		want := false
		for i := 0; i < len(opts); {
			k := opts[i]
			if k == header.TCPOptionEOL {
				break
			}
			if k == header.TCPOptionNOP {
				i++
				continue
			}
			if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) || k == header.TCPOptionSACK {
				want = true
				break
			}
			i += int(opts[i+1])
		}
		if got != want {
			t.Fatalf("hasSACK(% x) = %v, want %v", opts, got, want)
		}
	})
}

// FuzzParse hands the layer segments with any headers: whatever it makes
// of them, every packet it takes must come out or be counted, and nothing
// may panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2},
		[]byte{0, 1, 0, 80, 0, 0, 0, 1, 0, 0, 0, 100, 0x50, 0x10, 0, 10, 0, 0, 0, 0}, 0)
	f.Add([]byte{0x45}, []byte{0, 1, 0, 80, 0, 0, 0, 1, 0, 0, 0, 100, 0xf0, 0x10}, 3)
	f.Fuzz(func(t *testing.T, nh, th []byte, data int) {
		data &= 0xff
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{
			ReserveHeaderBytes: len(nh) + len(th),
			Payload:            buffer.MakeWithData(make([]byte, data)),
		})
		copy(pkt.TransportHeader().Push(len(th)), th)
		copy(pkt.NetworkHeader().Push(len(nh)), nh)
		pkt.TransportProtocolNumber = header.TCPProtocolNumber
		pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
		if len(nh) > 0 && nh[0]>>4 == 6 {
			pkt.NetworkProtocolNumber = header.IPv6ProtocolNumber
		}
		ch := channel.New(4, 1500, "")
		e := New(ch, time.Hour, nil).(*Endpoint)
		var l stack.PacketBufferList
		l.PushBack(pkt)
		if n, err := e.WritePackets(l); n != 1 || err != nil {
			t.Fatalf("WritePackets = %d, %v", n, err)
		}
		pkt.DecRef()
		if ch.NumQueued()+int(atomic.LoadUint64(&e.Stats.Delayed)) != 1 {
			t.Fatalf("%d sent, %d waiting", ch.NumQueued(), atomic.LoadUint64(&e.Stats.Delayed))
		}
		e.Close()
	})
}
