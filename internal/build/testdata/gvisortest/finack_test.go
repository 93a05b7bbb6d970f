package gvisortest

import (
	"io"
	"net"
	"os"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// finAckWaits is the patch's switch (VELOCITY_FINACK=0 turns it off).
var finAckWaits = os.Getenv("VELOCITY_FINACK") != "0" && os.Getenv("VELOCITY_DELACK") != "0"

// A FIN that arrives on an established connection whose program answers
// it with data and its own close is acknowledged by that data: the
// server's first segment after the FIN carries "bye" and the ACK of the
// FIN, with no pure ACK before it (gVisor alone sends one at once; so
// does this test's run with VELOCITY_FINACK=0, and it then checks that).
func TestFinAckRidesOnTheAnswer(t *testing.T) {
	h := newHarnessServing(t, timeWait, func(c net.Conn) {
		io.Copy(io.Discard, c) // until the peer's FIN
		c.Write([]byte("bye"))
		c.Close()
	})
	const port, iss = 42000, 5000
	srvNxt, srvTS := h.handshake(port, iss)
	h.send(port, seg{flags: header.TCPFlagAck | header.TCPFlagPsh | header.TCPFlagFin, seq: iss + 1, ack: srvNxt, ts: true, tsVal: 102, tsEcr: srvTS, data: []byte("hi")})
	finAcked := uint32(iss + 1 + 2 + 1)
	first, ok := h.recv(port, 2*time.Second)
	if !ok {
		t.Fatal("nothing from the server after the peer's FIN")
	}
	if first.ack != finAcked {
		t.Fatalf("first segment after the FIN acknowledges %d, want %d", first.ack, finAcked)
	}
	if !finAckWaits {
		if len(first.data) != 0 || first.flags != header.TCPFlagAck {
			t.Fatalf("with the patch off, first segment after the FIN: %s with %q, want a pure ACK", first.flags, first.data)
		}
		return
	}
	if string(first.data) != "bye" && !first.flags.Contains(header.TCPFlagFin) {
		t.Fatalf("first segment after the FIN: %s with %q, want the answer or the server's FIN carrying the ACK", first.flags, first.data)
	}
	// The rest of the answer and the server's FIN follow; nothing in
	// between is a pure ACK.
	got, s := first.data, first
	for !s.flags.Contains(header.TCPFlagFin) {
		if s, ok = h.recv(port, 2*time.Second); !ok {
			t.Fatalf("after %q: no FIN from the server", got)
		}
		if len(s.data) == 0 && !s.flags.Contains(header.TCPFlagFin) {
			t.Fatalf("a pure ACK (ack %d) after the answer began", s.ack)
		}
		got = append(got, s.data...)
	}
	if string(got) != "bye" || s.ack != finAcked {
		t.Fatalf("answer %q with the FIN acknowledging %d, want \"bye\" and %d", got, s.ack, finAcked)
	}
	h.send(port, seg{flags: header.TCPFlagAck, seq: finAcked, ack: s.seq + uint32(len(s.data)) + 1, ts: true, tsVal: 103, tsEcr: s.tsVal})
	h.quiet(port, "the peer's ACK of the server's FIN")
}

// A program that keeps a connection open after the peer's FIN still has
// the FIN acknowledged, by the delayed ACK's timer, well before the peer
// would send it again (200 ms and more).
func TestFinAckWithoutAnAnswer(t *testing.T) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	h := newHarnessServing(t, timeWait, func(c net.Conn) {
		io.Copy(io.Discard, c)
		<-done
		c.Close()
	})
	const port, iss = 42001, 9000
	srvNxt, srvTS := h.handshake(port, iss)
	start := time.Now()
	h.send(port, seg{flags: header.TCPFlagAck | header.TCPFlagFin, seq: iss + 1, ack: srvNxt, ts: true, tsVal: 102, tsEcr: srvTS})
	a := h.expect(port, header.TCPFlagAck, "the ACK of the peer's FIN")
	if a.ack != iss+2 || len(a.data) != 0 {
		t.Fatalf("ACK of the FIN: ack %d with %q, want %d and nothing", a.ack, a.data, iss+2)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("the FIN was acknowledged after %v, want well under the peer's 200 ms", d)
	}
	h.quiet(port, "after the ACK of the FIN")
}
