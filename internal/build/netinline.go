package build

// The segments that end a connection's handshake can be handled by the
// goroutine that received them from the card, in kernels that link the
// network stack, when the kernel command line asks for it:
// VELOCITY_TCPINLINE=1 (or another mode below). By default it is off and
// every segment goes to gVisor's processor goroutines.
//
// It is off because it stopped paying once SYNs and closing segments had
// gone back to the processors (below). Against gVisor's hand-off for the
// handshake's end too (bench/netbench -against VELOCITY_TCPINLINE=0, a
// new connection per request over tap, 2026-12-07), the edit's
// requests/s were 0.979x, 0.960x, 0.939x and 0.977x with two CPUs (four
// runs of 12 to 16 pairs; host CPU per request level to 4% dearer), and
// 1.049x then 0.947x with one CPU (12 and 16 pairs), where no processor
// can run beside the receive goroutine and the hand-off should cost the
// most. Over user networking the hand-off measured 1.055x against the
// edit (12 pairs, host CPU per request 1.027x lower). What follows is
// what the edit does when asked.
//
// gVisor hands every received TCP segment to one of its processor
// goroutines: the receive path queues the segment on its endpoint, queues
// the endpoint on a processor and wakes that goroutine, which takes the
// endpoint's lock and handles the segment. Linux handles a segment in the
// softirq that received it, and defers it only when a system call holds
// the socket (its backlog). Under a new connection per request each
// connection's five or six frames in cost a goroutine hand-off each, and
// with two Ps a hand-off may move the work to the other CPU, where under
// TCG every crossing costs host time.
//
// The edit gives the card's receive goroutine Linux's order for the
// segments that end a handshake: the ACK that completes it, and the data
// that came with it. Between VelocityInlineBegin and
// VelocityInlineEnd (netstack/virtio.go, around a burst of frames) an
// endpoint that such a segment from that NIC was queued on is recorded
// instead of handed over, and End handles each recorded endpoint as its
// processor would have (the same handlers, under the same TryLock), once
// the burst is in, after gVisor's demultiplexer has let go of the locks
// that a handler closing the connection takes again. A handshake that
// ends there takes the segments that came in the same burst as its last
// ACK too, most often the client's first request: the connection is only
// now in the listener's queue, so no processor could have run beside
// this goroutine for it, and the program that accepts it finds the
// request already there. Against handing those to the processor
// (VELOCITY_TCPINLINE=handshake, bench/netbench -against, a new
// connection per request over tap, 2026-12-07): 1.039x and 1.031x
// requests/s in two runs of 16 pairs, host CPU per request 1.068x and
// 1.059x lower. Whatever End cannot take (the endpoint's lock is held,
// or segments are left) goes to the processor as before, as does
// everything from other NICs (loopback) and every segment queued while a
// system call owns the endpoint (gVisor's UnlockUser hands those over).
//
// A listener's SYN goes to its processor, though, and so does whatever
// reaches a connection that is closing or in TIME-WAIT. The SYN is the
// costliest segment of a connection (gVisor makes the connection's
// endpoint, registers it and sends the SYN-ACK), and a connection's end
// (its FIN and last ACK, its cleanup and TIME-WAIT record) is the next;
// a processor on the other CPU takes them while this goroutine takes in
// the next frames. The receive goroutine, which waited for the card a
// third of the time, was the serial part. Measured on 2026-12-07 with a
// new connection per request over tap (bench/netbench -against, each
// twice in 16 pairs): the SYN to the processor against taking it here
// too (then VELOCITY_TCPINLINE=syn) 1.054x and 1.029x requests/s, at
// 1.027x and 1.045x the host CPU per request; then the closing segments
// to the processor too, against taking them here (now
// VELOCITY_TCPINLINE=closing) 1.049x and 1.031x, at 0.975x and 0.995x the
// host CPU per request.
//
// Established connections keep their processors: with 16 kept-alive
// connections a burst carries several connections' requests, which two
// processors handle on two CPUs at once and one receive goroutine would
// handle one after the other. Handling every segment inline
// (VELOCITY_TCPINLINE=all) measured 0.91x requests/s there (3 rounds over
// tap, host CPU per request 0.94x), where a new connection per request
// gained no more than with this edit. VELOCITY_TCPINLINE=0 keeps gVisor's
// hand-off for every segment, to compare. testdata/gvisortest
// inline_test.go checks, with the processors paused, that a handshake
// completes through the burst's end alone once its SYN-ACK is out, that
// the data that came with its last ACK reaches the program, and that
// SYNs, a closing connection's segments, other NICs' segments, segments
// outside a burst and established connections' segments wait for the
// processors.

// inlineFile is added to gVisor's package tcp.
const inlineFile = `// Added by velocity (internal/build/netinline.go) to kernels that link
// the network stack: the segments of connections that are not
// established, received from the card, are handled by the goroutine that
// received them.

package tcp

import (
	"os"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/sync"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// velocityInlineMode is VELOCITY_TCPINLINE from the kernel command line.
var velocityInlineMode = os.Getenv("VELOCITY_TCPINLINE")

// velocityInlineOn: the edit runs only when VELOCITY_TCPINLINE names a
// mode (1, handshake, closing, syn or all); unset or 0, every segment
// goes to a processor goroutine, as in gVisor.
var velocityInlineOn = velocityInlineMode != "" && velocityInlineMode != "0"

// velocityInlineAll: VELOCITY_TCPINLINE=all handles established
// connections' segments inline too.
var velocityInlineAll = velocityInlineMode == "all"

// velocityInlineSYN: VELOCITY_TCPINLINE=syn handles a listener's SYNs
// and closing connections' segments inline too, the rule of 2026-12-06
// (and so does all).
var velocityInlineSYN = velocityInlineMode == "syn" || velocityInlineAll

// velocityInlineClosing: VELOCITY_TCPINLINE=closing handles closing
// connections' segments (and TIME-WAIT's) inline too (and so do syn and
// all).
var velocityInlineClosing = velocityInlineMode == "closing" || velocityInlineSYN

// velocityInlineFirst: a handshake completed at a burst's end takes the
// segments that came with its last ACK too (velocityHandle);
// VELOCITY_TCPINLINE=handshake leaves them to the processor.
var velocityInlineFirst = velocityInlineMode != "handshake"

// velocityInline records, between VelocityInlineBegin and
// VelocityInlineEnd, the endpoints that segments received on nic were
// queued on.
type velocityInline struct {
	// nic is the NIC whose burst is being received, 0 outside one. It
	// is read without mu first, so that segments from other NICs pay
	// one load.
	nic atomic.Int32

	mu sync.Mutex
	// eps are the endpoints recorded in this burst, the last one
	// at most once in a row.
	// +checklocks:mu
	eps []*Endpoint
	// spare is the previous burst's list, reused; only the goroutine
	// in VelocityInlineEnd touches it.
	spare []*Endpoint
}

// take records ep, which a segment of pkt was just queued on, when pkt
// came from the NIC whose burst is being received and ep is in its
// handshake, and reports whether it did (then the caller hands ep to no
// processor).
func (v *velocityInline) take(pkt *stack.PacketBuffer, ep *Endpoint) bool {
	// pkt.NICID is never 0 (the NIC that delivered it), so outside a
	// burst this one load turns every segment away.
	if !velocityInlineOn || tcpip.NICID(v.nic.Load()) != pkt.NICID {
		return false
	}
	// Work handed to a processor runs on the other CPU, beside this
	// goroutine.
	switch st := ep.EndpointState(); {
	case st.connecting():
	case st == StateEstablished:
		if !velocityInlineAll {
			return false
		}
	case st == StateListen:
		if !velocityInlineSYN {
			return false
		}
	default: // closing, TIME-WAIT
		if !velocityInlineClosing {
			return false
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if tcpip.NICID(v.nic.Load()) != pkt.NICID {
		return false // the burst ended meanwhile
	}
	if n := len(v.eps); n == 0 || v.eps[n-1] != ep {
		v.eps = append(v.eps, ep)
	}
	return true
}

// VelocityInlineBegin starts a burst of frames received on nic, which the
// calling goroutine delivers and then ends with VelocityInlineEnd. One
// goroutine at a time may hold a burst open.
func (p *protocol) VelocityInlineBegin(nic tcpip.NICID) {
	if velocityInlineOn {
		p.velocityInline.nic.Store(int32(nic))
	}
}

// VelocityInlineEnd ends the burst and handles the endpoints its segments
// were queued on.
func (p *protocol) VelocityInlineEnd() {
	v := &p.velocityInline
	if v.nic.Load() == 0 {
		return
	}
	v.mu.Lock()
	v.nic.Store(0)
	eps := v.eps
	v.eps = v.spare[:0]
	v.mu.Unlock()
	for i, ep := range eps {
		velocityHandle(ep)
		eps[i] = nil
	}
	v.spare = eps[:0]
}

// velocityHandle handles ep's queued segments as its processor goroutine
// would (processor.start), and hands ep to that processor if some are
// left: its lock was held, or the handler stopped after
// maxSegmentsPerWake.
func velocityHandle(ep *Endpoint) {
	if ep.segmentQueue.empty() {
		return
	}
	switch state := ep.EndpointState(); {
	case state.connecting():
		handleConnecting(ep)
		// A handshake that ended here leaves the segments that came
		// in the same burst as its last ACK, most often the client's
		// first request: handled here too, before the program that
		// accepts the connection first reads it, rather than by a
		// processor woken for them.
		if velocityInlineFirst && ep.EndpointState() == StateEstablished && !ep.segmentQueue.empty() {
			handleConnected(ep)
		}
	case state.connected() && state != StateTimeWait:
		handleConnected(ep)
	case state == StateTimeWait:
		handleTimeWait(ep)
	case state == StateListen:
		handleListen(ep)
	}
	// Any other state (closed, or an error) drains in the processor,
	// which waits for the lock there.
	if !ep.segmentQueue.empty() && !ep.isOwnedByUser() {
		ep.protocol.dispatcher.selectProcessor(ep.ID).queueEndpoint(ep)
	}
}
`

// inlineEdits are the replacements in gVisor's protocol.go and
// dispatcher.go.
var inlineEdits = []gvisorEdit{
	{
		"pkg/tcpip/transport/tcp/protocol.go",
		"\tdispatcher dispatcher\n",
		"\tdispatcher dispatcher\n\n\t// velocityInline: the endpoints a burst of received frames\n\t// queued segments on (velocity, internal/build/netinline.go).\n\tvelocityInline velocityInline `state:\"nosave\"`\n",
	},
	{
		"pkg/tcpip/transport/tcp/dispatcher.go",
		"\tif !ep.isOwnedByUser() {\n\t\td.selectProcessor(id).queueEndpoint(ep)\n\t}\n}\n",
		"\tif !ep.isOwnedByUser() {\n\t\tif ep.protocol.velocityInline.take(pkt, ep) {\n\t\t\treturn // handled at the burst's end (velocity)\n\t\t}\n\t\td.selectProcessor(id).queueEndpoint(ep)\n\t}\n}\n",
	},
}
