package gvisortest

import (
	"os"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// finRetxOn is the patch's switch (VELOCITY_FINRETX=0 turns it off).
var finRetxOn = os.Getenv("VELOCITY_FINRETX") != "0"

// The server's FIN and the peer's cross; the peer then acknowledges the
// server's FIN with a segment that carries its own FIN again, as
// libslirp (QEMU's user networking) does. That segment is also an ACK:
// the server answers it with an ACK and goes to TIME-WAIT, and does not
// send its FIN again when its retransmission timer would have fired.
func TestFinSentAgainAcknowledges(t *testing.T) {
	h := newHarness(t, timeWait)
	const port, iss = 43000, 3000
	// "hello" and the server's FIN; srvNxt is the FIN's own number.
	c := h.open(port, iss)
	srvNxt, srvTS := c.serverNxt-1, c.serverTS
	// The peer's FIN, sent before it saw the server's: it acknowledges
	// the data only. The server, in FIN-WAIT-1, goes to CLOSING and
	// acknowledges it.
	h.send(port, seg{flags: header.TCPFlagAck | header.TCPFlagFin, seq: iss + 1, ack: srvNxt, ts: true, tsVal: 102, tsEcr: srvTS})
	if a := h.expect(port, header.TCPFlagAck, "the ACK of the peer's FIN"); a.ack != iss+2 {
		t.Fatalf("the ACK of the peer's FIN acknowledges %d, want %d", a.ack, iss+2)
	}
	var before uint64
	if compact {
		_, before, _, _, _ = h.stats()
	}
	// libslirp's answer to the server's FIN: its own FIN again, with the
	// ACK of the server's.
	h.send(port, seg{flags: header.TCPFlagAck | header.TCPFlagFin, seq: iss + 1, ack: srvNxt + 1, ts: true, tsVal: 103, tsEcr: srvTS})
	if a := h.expect(port, header.TCPFlagAck, "the ACK of the FIN sent again"); a.ack != iss+2 || a.seq != srvNxt+1 {
		t.Fatalf("the ACK of the FIN sent again: seq %d ack %d, want %d %d", a.seq, a.ack, srvNxt+1, iss+2)
	}
	// The server's retransmission timeout is 200 ms at least; its FIN
	// must not come again.
	if s, ok := h.recv(port, 700*time.Millisecond); ok {
		if finRetxOn {
			t.Fatalf("after the peer acknowledged the server's FIN: %s seq %d ack %d, want nothing", s.flags, s.seq, s.ack)
		}
		if !s.flags.Contains(header.TCPFlagFin) {
			t.Fatalf("with the patch off: %s, want the server's FIN sent again", s.flags)
		}
		return
	}
	if !finRetxOn {
		t.Fatal("with the patch off the server's FIN was not sent again: this test no longer shows the patch's effect")
	}
	if compact {
		h.awaitRecord(before, "the connection never reached TIME-WAIT")
	}
}
