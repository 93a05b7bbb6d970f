package build

// A compact TIME-WAIT for gVisor's TCP, in kernels that link the network
// stack.
//
// A server that closes first leaves each connection in TIME-WAIT, and
// gVisor keeps the whole endpoint there: 6.1 KB and 51 objects in a host
// harness, two timers, and an entry in the demultiplexer's table, for the
// 5 s the stack waits (netstack/stack.go). At 1,300 new connections a
// second that is some 6,500 endpoints, every table the live ones sit in
// bigger and the heap five times the size. Linux keeps a small record
// (inet_timewait_sock) instead; so does this patch:
//
//   - timewait/tcp.go.txt is added to package tcp. When the processor
//     moves an endpoint the program has closed, and that a listener
//     accepted, to TIME-WAIT, the endpoint is replaced by a record of the
//     numbers TIME-WAIT needs and closed at once. The record takes over
//     the tuple's port reservation and answers segments as gVisor's
//     endpoint in TIME-WAIT does; one timer per stack reaps the records,
//     queued in order of expiry.
//   - timewait/stack.go.txt is added to package stack: the hook the
//     demultiplexer asks about a TCP segment that matched no connection
//     exactly, before a listener could take it.
//   - Four edits: the demultiplexer's lookup, a field in tcp.protocol,
//     the processor's entry to TIME-WAIT, and an accepted endpoint's
//     handshake dropped once it is over.
//
// VELOCITY_TWCOMPACT=0 on the kernel command line keeps gVisor's
// endpoint. TestPatchedGvisor (netgvisor_test.go) builds gVisor with these files on the host
// and checks both ways give the same answers on the wire.

import _ "embed"

var (
	//go:embed timewait/tcp.go.txt
	timeWaitTCPFile string
	//go:embed timewait/stack.go.txt
	timeWaitStackFile string
)

// timeWaitEdits are the compact TIME-WAIT's replacements in gVisor.
var timeWaitEdits = []gvisorEdit{
	{
		"pkg/tcpip/stack/transport_demuxer.go",
		"\teps.mu.RLock()\n\tep := eps.findEndpointLocked(id)\n\teps.mu.RUnlock()\n\tif ep == nil {\n\t\tif protocol == header.UDPProtocolNumber {",
		"\teps.mu.RLock()\n\tep, exact := eps.endpoints[id]\n\tif !exact {\n\t\tep = eps.findEndpointLocked(id)\n\t}\n\teps.mu.RUnlock()\n" +
			"\tif !exact && protocol == header.TCPProtocolNumber && VelocityTimeWait != nil && VelocityTimeWait(d.stack, id, pkt) {\n\t\treturn true\n\t}\n" +
			"\tif ep == nil {\n\t\tif protocol == header.UDPProtocolNumber {",
	},
	{
		"pkg/tcpip/transport/tcp/protocol.go",
		"type protocol struct {\n\tstack *stack.Stack\n",
		"type protocol struct {\n\tstack *stack.Stack\n\n\t// velocityTW: the stack's connections in TIME-WAIT, as records.\n\tvelocityTW velocityTimeWaits `state:\"nosave\"`\n",
	},
	{
		"pkg/tcpip/transport/tcp/dispatcher.go",
		"\tcase ep.EndpointState() == StateTimeWait:\n\t\tstartTimeWait(ep)\n\t}\n\tep.mu.Unlock()\n}",
		"\tcase ep.EndpointState() == StateTimeWait:\n\t\tif ep.velocityCompactTimeWait() {\n\t\t\treturn // it unlocked ep.mu\n\t\t}\n\t\tstartTimeWait(ep)\n\t}\n\tep.mu.Unlock()\n}",
	},
	// gVisor keeps an accepted endpoint's handshake for its whole life,
	// and every close then takes the listener's accept lock to delete
	// the endpoint from the listener's pending set, which it left when
	// deliverAccepted delivered it; the handshake's timer stopped at
	// ESTABLISHED. Its Forwarder path drops the handshake there; so does
	// this edit for the listener's path. Closing TIME-WAIT's endpoints on
	// the processor had made that lock contend with every SYN and accept
	// (sync.Mutex's spinning, whose PAUSE leaves QEMU's translated code at
	// each of its 30 iterations, went from 0.6% to 1.7% of the guest's
	// CPU).
	{
		"pkg/tcpip/transport/tcp/dispatcher.go",
		"\t\tif !deliverAccepted(ep) {\n\t\t\tep.resetConnectionLocked(&tcpip.ErrConnectionAborted{})\n\t\t\tcleanup()\n\t\t\treturn\n\t\t}\n",
		"\t\tif !deliverAccepted(ep) {\n\t\t\tep.resetConnectionLocked(&tcpip.ErrConnectionAborted{})\n\t\t\tcleanup()\n\t\t\treturn\n\t\t}\n\t\tep.h = nil // velocity: the handshake is over (internal/build/nettimewait.go)\n",
	},
}

// timeWaitFiles are the files the compact TIME-WAIT adds to gVisor, by
// path in its module.
func timeWaitFiles() map[string]string {
	return map[string]string{
		"pkg/tcpip/transport/tcp/zz_velocity_timewait.go": timeWaitTCPFile,
		"pkg/tcpip/stack/zz_velocity_timewait.go":         timeWaitStackFile,
	}
}
