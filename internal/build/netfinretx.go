package build

// A FIN sent again is also an ACK, in kernels that link the network stack.
//
// Under QEMU's user networking half the connections of a new connection
// per request ended with the server's FIN sent twice, the second time
// after a 200 ms retransmission timeout (a capture with QEMU's
// filter-dump, 2026-12-06): the two FINs crossed, and libslirp, a BSD
// stack, acknowledged ours with a segment that carries its own FIN again
// (seq one below what we expect next, FIN set, no data). gVisor finds
// that segment out of the window, answers it with an ACK and drops it
// whole, ACK field included, so the connection stays in CLOSING until
// its FIN is resent and acknowledged again. Linux accepts a segment that
// ends where the receiver is (tcp_sequence: end_seq not before rcv_wup),
// answers the retransmission with an immediate ACK (tcp_data_queue) and
// processes its acknowledgment, which takes it to TIME-WAIT. The edit
// does the same for exactly this segment: a FIN already received, sent
// again with nothing else, is answered as before and then processed as
// the pure ACK at RcvNxt it also is.
// testdata/gvisortest/finretx_test.go plays libslirp's side.

// finRetxFile is added to gVisor's package tcp.
const finRetxFile = `// Added by velocity (internal/build/netfinretx.go) to kernels that link
// the network stack: a FIN sent again is also an ACK.

package tcp

import (
	"os"

	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// velocityFinRetxOn: VELOCITY_FINRETX=0 on the kernel command line drops
// such a segment whole, as gVisor does.
var velocityFinRetxOn = os.Getenv("VELOCITY_FINRETX") != "0"

// velocityRetransmittedFin reports whether s is the peer's FIN sent again
// with nothing else in it, one below RcvNxt, after this receiver took the
// first; if so it answers it as gVisor answered it before (an ACK, within
// the limit on ACKs to segments out of the window, which keeps two stacks
// from trading them forever) and turns s into the pure ACK at RcvNxt that
// the rest of handleRcvdSegment processes.
//
// +checklocks:r.ep.mu
func (r *receiver) velocityRetransmittedFin(s *segment, segSeq seqnum.Value, segLen seqnum.Size) bool {
	if !velocityFinRetxOn || segLen != 0 || !r.closed || !s.flags.Contains(header.TCPFlagFin) || segSeq.Add(1) != r.RcvNxt {
		return false
	}
	r.ep.snd.maybeSendOutOfWindowAck(s)
	s.flags &^= header.TCPFlagFin
	s.sequenceNumber = r.RcvNxt
	return true
}
`

// finRetxEdits are the replacements in gVisor's rcv.go.
var finRetxEdits = []gvisorEdit{
	{
		"pkg/tcpip/transport/tcp/rcv.go",
		"\tsegLen := seqnum.Size(s.payloadSize())\n\tsegSeq := s.sequenceNumber\n\n\t// If the sequence number range is outside the acceptable range, just\n",
		"\tsegLen := seqnum.Size(s.payloadSize())\n\tsegSeq := s.sequenceNumber\n\n" +
			"\t// velocity (internal/build/netfinretx.go): a FIN sent again still\n" +
			"\t// acknowledges, as on Linux.\n" +
			"\tif r.velocityRetransmittedFin(s, segSeq, segLen) {\n\t\tsegSeq = s.sequenceNumber\n\t}\n\n" +
			"\t// If the sequence number range is outside the acceptable range, just\n",
	},
}
