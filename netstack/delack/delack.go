// Package delack delays a TCP connection's pure acknowledgements for a
// moment, so that the segment the connection sends next carries them.
//
// gVisor's TCP acknowledges every batch of data it takes in at once, with
// a segment of its own (tcp.Endpoint.handleSegmentsLocked; TCP_QUICKACK is
// stored but nothing reads it). A server answering a request therefore
// sends two segments for every response: the bare ACK of the request, and
// the response a moment later, which carries the same acknowledgement
// again. Linux delays that ACK (RFC 1122 4.2.3.2, RFC 9293 3.8.6.3) and
// the response carries it. Over a virtio card the extra segment costs a
// descriptor, a notification and the host's processing of a frame; over
// loopback it costs a whole trip through the receiving stack, on both
// ends of every request.
//
// Endpoint sits between the stack and a link endpoint and does what a
// receiver's delayed ACK does, from below: a segment with only the ACK
// flag, no data and no SACK blocks waits up to Delay. If the connection
// sends anything else meanwhile that acknowledges at least as much, the
// waiting ACK is dropped, as it says nothing the later segment does not.
// A second pure ACK of the connection sends at once, replacing the first
// (acknowledging every other segment of a bulk transfer, as RFC 1122
// allows), unless both acknowledge the same byte with the same window:
// then it is a duplicate ACK, which the peer counts, and both go.
//
// A connection whose ACK waited the whole Delay does not answer quickly,
// and waiting only slows its peer, so its next QuickAcks pure ACKs go at
// once (Linux's quick-ACK mode). Sending data soon after one of those
// brings the connection back to waiting.
//
// The layer knows a connection only by its addresses and ports. It keeps
// a small record per connection that acknowledged lately and forgets those
// idle for a while; beyond MaxFlows records, new connections' ACKs go at
// once.
package delack

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

const (
	// QuickAcks is how many pure ACKs of a connection go at once after
	// one waited out its delay (Linux's TCP_MAX_QUICKACKS).
	QuickAcks = 16
	// MaxFlows bounds the records kept, so that a flood of connections
	// costs a bounded amount of memory.
	MaxFlows = 4096
	// idle is how long a record without a waiting ACK is kept.
	idle = 2 * time.Second
)

// Stats counts what the layer did with pure ACKs. Its fields change with
// sync/atomic's functions, so that the kernel can copy it out of the
// network driver's counters (netstack.NICStats, kernel.NICStats.Ack).
type Stats struct {
	// Delayed: pure ACKs that waited.
	Delayed uint64
	// Merged: waiting ACKs dropped because a later segment of their
	// connection carried the acknowledgement.
	Merged uint64
	// Replaced: waiting ACKs dropped for a newer pure ACK that went at
	// once.
	Replaced uint64
	// Expired: waiting ACKs sent when their delay ran out.
	Expired uint64
	// Immediate: pure ACKs sent at once: with SACK blocks, duplicates, in
	// quick-ACK mode, or with no record to spare.
	Immediate uint64
}

// flowKey names a connection as seen from this side: local address and
// port, remote address and port.
type flowKey struct {
	local, remote tcpip.Address
	lport, rport  uint16
}

// flow is what the layer remembers of a connection.
type flow struct {
	held    *stack.PacketBuffer // the waiting ACK, or nil
	ack     uint32              // held's acknowledgement number
	wnd     uint16              // held's window
	heldAt  int64               // when held was taken (nanotime)
	quick   int                 // pure ACKs still to send at once
	sent    uint32              // the acknowledgement number last sent
	sentOK  bool                // sent is set
	passed  int64               // when a pure ACK last went at once
	lastUse int64
}

// due is a waiting ACK's place in the expiry queue: since every ACK waits
// the same Delay, the queue is in expiry order.
type due struct {
	key flowKey
	at  int64 // heldAt of the ACK queued; stale if the flow's differs
}

// Endpoint is a stack.LinkEndpoint that delays pure ACKs on their way to
// the endpoint it wraps.
type Endpoint struct {
	nested.Endpoint
	delay int64 // nanoseconds
	Stats *Stats
	// maxAdvance is a full segment's payload on the link: an ACK of
	// more new data than this since the last one goes at once.
	maxAdvance uint32

	mu     sync.Mutex
	flows  map[flowKey]*flow
	queue  []due // held ACKs in expiry order
	timer  *time.Timer
	armed  bool
	lastGC int64
}

// now is a monotonic clock in nanoseconds.
var start = time.Now()

func now() int64 { return int64(time.Since(start)) }

// New wraps lower, counting in stats (or counters of its own if nil).
// With delay 0 or less, lower is returned unwrapped.
func New(lower stack.LinkEndpoint, delay time.Duration, stats *Stats) stack.LinkEndpoint {
	if delay <= 0 {
		return lower
	}
	if stats == nil {
		stats = new(Stats)
	}
	e := &Endpoint{delay: int64(delay), Stats: stats, flows: make(map[flowKey]*flow)}
	e.Endpoint.Init(lower, e)
	e.maxAdvance = max(lower.MTU(), header.IPv4MinimumSize+header.TCPMinimumSize+1) - header.IPv4MinimumSize - header.TCPMinimumSize
	e.timer = time.AfterFunc(time.Hour, e.expire)
	e.timer.Stop()
	return e
}

// segment is what the layer reads of an outgoing TCP segment.
type segment struct {
	key  flowKey
	pure bool // ACK alone, no data, no SACK blocks
	hasA bool // the ACK flag is set
	ack  uint32
	wnd  uint16
}

// parse reads pkt's addresses and TCP header; ok is false for anything
// that is not a well-formed TCP segment, which passes untouched.
func parse(pkt *stack.PacketBuffer) (s segment, ok bool) {
	if pkt.TransportProtocolNumber != header.TCPProtocolNumber {
		return s, false
	}
	nh := pkt.NetworkHeader().Slice()
	switch pkt.NetworkProtocolNumber {
	case header.IPv4ProtocolNumber:
		if len(nh) < header.IPv4MinimumSize {
			return s, false
		}
		ip := header.IPv4(nh)
		s.key.local, s.key.remote = ip.SourceAddress(), ip.DestinationAddress()
	case header.IPv6ProtocolNumber:
		if len(nh) < header.IPv6MinimumSize {
			return s, false
		}
		ip := header.IPv6(nh)
		s.key.local, s.key.remote = ip.SourceAddress(), ip.DestinationAddress()
	default:
		return s, false
	}
	th := pkt.TransportHeader().Slice()
	if len(th) < header.TCPMinimumSize {
		return s, false
	}
	tcp := header.TCP(th)
	off := int(tcp.DataOffset())
	if off < header.TCPMinimumSize || off > len(th) {
		return s, false
	}
	s.key.lport, s.key.rport = tcp.SourcePort(), tcp.DestinationPort()
	flags := tcp.Flags()
	s.hasA = flags.Contains(header.TCPFlagAck)
	s.ack, s.wnd = tcp.AckNumber(), tcp.WindowSize()
	s.pure = flags == header.TCPFlagAck && pkt.Data().Size() == 0 && !hasSACK(th[header.TCPMinimumSize:off])
	return s, true
}

// hasSACK says whether TCP options carry SACK blocks (kind 5), which tell
// the peer what to retransmit and must not wait. Malformed options count
// as SACK: such a segment is sent as it is.
func hasSACK(opts []byte) bool {
	for len(opts) > 0 {
		switch opts[0] {
		case header.TCPOptionEOL:
			return false
		case header.TCPOptionNOP:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return true
		}
		if opts[0] == header.TCPOptionSACK {
			return true
		}
		opts = opts[opts[1]:]
	}
	return false
}

// seqGE says a >= b in sequence-number space.
func seqGE(a, b uint32) bool { return int32(a-b) >= 0 }

// WritePackets implements stack.LinkEndpoint. Pure ACKs that wait are
// kept (with a reference of their own) and not passed on; waiting ACKs a
// segment makes stale are dropped; one that must go before a segment goes
// in front of it, so a connection's segments keep their order.
func (e *Endpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	var out stack.PacketBufferList
	var drop []*stack.PacketBuffer
	var ours []*stack.PacketBuffer // references this call owns in out
	t := now()
	kept := 0
	e.mu.Lock()
	for _, pkt := range pkts.AsSlice() {
		s, ok := parse(pkt)
		if !ok {
			out.PushBack(pkt)
			continue
		}
		f := e.flowLocked(s.key, t)
		if f == nil {
			if s.pure {
				atomic.AddUint64(&e.Stats.Immediate, 1)
			}
			out.PushBack(pkt)
			continue
		}
		f.lastUse = t
		if !s.pure {
			if f.held != nil {
				if s.hasA && seqGE(s.ack, f.ack) {
					drop = append(drop, f.held)
					atomic.AddUint64(&e.Stats.Merged, 1)
				} else {
					out.PushBack(f.held)
					ours = append(ours, f.held)
				}
				f.held = nil
			} else if f.quick > 0 && t-f.passed < e.delay {
				// Data right after an ACK that went at once: the
				// connection answers, so its ACKs may wait again.
				f.quick = 0
			}
			if s.hasA {
				f.sent, f.sentOK = s.ack, true
			}
			out.PushBack(pkt)
			continue
		}
		if f.held != nil {
			if f.ack == s.ack && f.wnd == s.wnd {
				out.PushBack(f.held) // a duplicate ACK: both go
				ours = append(ours, f.held)
			} else {
				drop = append(drop, f.held)
				atomic.AddUint64(&e.Stats.Replaced, 1)
			}
			f.held = nil
			f.sent = s.ack
			atomic.AddUint64(&e.Stats.Immediate, 1)
			out.PushBack(pkt)
			continue
		}
		adv := s.ack - f.sent
		if f.quick > 0 || !f.sentOK || adv == 0 || adv > e.maxAdvance {
			// In quick-ACK mode; the first ACK of a connection (the
			// handshake's last); a window update or duplicate, which
			// acknowledges nothing new; or more than a full segment
			// since the last acknowledgement (RFC 1122: at least every
			// second full-sized segment), or an ACK going backwards.
			if f.quick > 0 {
				f.quick--
				f.passed = t
			}
			f.sent, f.sentOK = s.ack, true
			atomic.AddUint64(&e.Stats.Immediate, 1)
			out.PushBack(pkt)
			continue
		}
		pkt.IncRef()
		f.held, f.ack, f.wnd, f.heldAt = pkt, s.ack, s.wnd, t
		f.sent = s.ack
		e.queue = append(e.queue, due{key: s.key, at: t})
		atomic.AddUint64(&e.Stats.Delayed, 1)
		kept++
		if !e.armed {
			e.armed = true
			e.timer.Reset(time.Duration(e.delay))
		}
	}
	e.mu.Unlock()
	for _, p := range drop {
		p.DecRef()
	}
	n, err := 0, tcpip.Error(nil)
	if out.Len() > 0 {
		n, err = e.Endpoint.WritePackets(out)
	}
	// The caller's packets taken: those kept, and those of out the link
	// took, except the waiting ACKs of earlier calls sent with them.
	written := kept
	for i, p := range out.AsSlice() {
		if i >= n {
			break
		}
		if !slices.Contains(ours, p) {
			written++
		}
	}
	for _, p := range ours {
		p.DecRef()
	}
	return written, err
}

// flowLocked finds or makes key's record; nil when MaxFlows records are
// all in use.
func (e *Endpoint) flowLocked(key flowKey, t int64) *flow {
	if f := e.flows[key]; f != nil {
		return f
	}
	if len(e.flows) >= MaxFlows {
		e.gcLocked(t)
		if len(e.flows) >= MaxFlows {
			return nil
		}
	}
	f := &flow{}
	e.flows[key] = f
	return f
}

// expire sends the ACKs whose delay ran out and puts their connections in
// quick-ACK mode. It runs on the timer's goroutine.
func (e *Endpoint) expire() {
	var out stack.PacketBufferList
	t := now()
	e.mu.Lock()
	i := 0
	for ; i < len(e.queue); i++ {
		d := e.queue[i]
		if d.at+e.delay > t {
			break
		}
		f := e.flows[d.key]
		if f == nil || f.held == nil || f.heldAt != d.at {
			continue // merged or replaced since
		}
		out.PushBack(f.held)
		f.held = nil
		f.quick = QuickAcks
		f.passed = t
		atomic.AddUint64(&e.Stats.Expired, 1)
	}
	e.queue = append(e.queue[:0], e.queue[i:]...)
	if t-e.lastGC > int64(idle) {
		e.gcLocked(t)
	}
	e.armed = len(e.queue) > 0
	if e.armed {
		e.timer.Reset(time.Duration(e.queue[0].at + e.delay - t))
	}
	e.mu.Unlock()
	if out.Len() > 0 {
		e.Endpoint.WritePackets(out)
		for _, p := range out.AsSlice() {
			p.DecRef()
		}
	}
}

// gcLocked forgets connections idle for a while with no ACK waiting.
func (e *Endpoint) gcLocked(t int64) {
	e.lastGC = t
	for k, f := range e.flows {
		if f.held == nil && t-f.lastUse > int64(idle) {
			delete(e.flows, k)
		}
	}
}

// Close drops what waits (the link is going away) and closes the wrapped
// endpoint.
func (e *Endpoint) Close() {
	e.mu.Lock()
	for _, f := range e.flows {
		if f.held != nil {
			f.held.DecRef()
			f.held = nil
		}
	}
	e.queue = nil
	e.timer.Stop()
	e.armed = false
	e.mu.Unlock()
	e.Endpoint.Close()
}
