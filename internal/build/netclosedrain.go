package build

// A close takes in what the peer already sent, in kernels that link the
// network stack.
//
// Under a new connection per request the client's FIN usually reaches
// the server before the program's close does (net/http closes a
// "Connection: close" connection a few hundred microseconds after its
// response; wrk closes as soon as it has read it). gVisor queues each
// segment for its TCP processor goroutine, and under load the FIN was
// often still queued when the close came: the server's FIN then went out
// without acknowledging the client's (captures over tap, 2026-12-06), the
// connection went through CLOSING to TIME-WAIT as if the server had closed
// first, and the client's FIN cost a pure ACK of its own once processed.
// Linux processes a segment when it arrives, so its close sees the
// client's FIN. The edit makes gVisor's Close do what its processor would
// have done next, on an established connection with segments queued:
// handle them (as handleConnected does, errors included) before the
// close decides what to send. The FIN then carries the ACK of the
// client's, whose own ACK is delayed for it (netdelack.go, "The ACK of a
// FIN"), and the connection ends through LAST-ACK, with no TIME-WAIT
// record to keep. testdata/gvisortest/closedrain_test.go checks the
// segments a close sends with a FIN queued.

// closeDrainFile is added to gVisor's package tcp.
const closeDrainFile = `// Added by velocity (internal/build/netclosedrain.go) to kernels that
// link the network stack: a close takes in what the peer already sent.

package tcp

import "os"

// velocityCloseDrainOn: VELOCITY_CLOSEDRAIN=0 on the kernel command line
// leaves queued segments to the processor, as gVisor does.
var velocityCloseDrainOn = os.Getenv("VELOCITY_CLOSEDRAIN") != "0"

// velocityTakeQueued handles the segments queued for an established
// endpoint that is being closed, as its processor would (handleConnected),
// so that what the close sends answers them.
//
// +checklocks:e.mu
func (e *Endpoint) velocityTakeQueued() {
	if !velocityCloseDrainOn || e.EndpointState() != StateEstablished || e.segmentQueue.empty() {
		return
	}
	if err := e.handleSegmentsLocked(); err != nil {
		e.resetConnectionLocked(err)
	}
}
`

// closeDrainEdits are the replacements in gVisor's endpoint.go.
var closeDrainEdits = []gvisorEdit{
	{
		"pkg/tcpip/transport/tcp/endpoint.go",
		"\te.LockUser()\n\tif e.closed {\n\t\te.UnlockUser()\n\t\treturn\n\t}\n\n\t// We always want to purge the read queue, but do so after the checks in\n\t// shutdownLocked.\n\te.closeLocked()\n",
		"\te.LockUser()\n\tif e.closed {\n\t\te.UnlockUser()\n\t\treturn\n\t}\n\n" +
			"\t// velocity (internal/build/netclosedrain.go): what the peer sent\n" +
			"\t// first is taken in before the close answers it.\n" +
			"\te.velocityTakeQueued()\n\n" +
			"\t// We always want to purge the read queue, but do so after the checks in\n\t// shutdownLocked.\n\te.closeLocked()\n",
	},
}
