package gvisortest

import (
	"bufio"
	"net"
	"os"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// closeDrainOn is the patch's switch (VELOCITY_CLOSEDRAIN=0 turns it off).
var closeDrainOn = os.Getenv("VELOCITY_CLOSEDRAIN") != "0"

// The client's FIN is still queued for gVisor's TCP processor (the stack
// is paused, as a busy processor would leave it) when the program
// answers and closes. The close takes the FIN in first, so the server's
// FIN acknowledges it, and the connection ends through LAST-ACK: the
// client's ACK of the server's FIN closes it, and it leaves no TIME-WAIT
// record behind.
func TestCloseTakesInQueuedFin(t *testing.T) {
	got, closeNow := make(chan struct{}), make(chan struct{})
	h := newHarnessServing(t, timeWait, func(c net.Conn) {
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			t.Errorf("server read: %v", err)
		}
		close(got)
		<-closeNow
		c.Write([]byte("ok"))
		c.Close()
	})
	const port, iss = 44000, 7000
	srvNxt, srvTS := h.handshake(port, iss)
	h.send(port, seg{flags: header.TCPFlagAck | header.TCPFlagPsh, seq: iss + 1, ack: srvNxt, ts: true, tsVal: 102, tsEcr: srvTS, data: []byte("hi\n")})
	select {
	case <-got:
	case <-time.After(2 * time.Second):
		t.Fatal("the server never read the request")
	}
	var before uint64
	if compact {
		_, before, _, _, _ = h.stats()
	}
	h.s.Pause()
	resumed := false
	defer func() {
		if !resumed {
			h.s.Resume()
		}
	}()
	h.send(port, seg{flags: header.TCPFlagAck | header.TCPFlagFin, seq: iss + 4, ack: srvNxt, ts: true, tsVal: 103, tsEcr: srvTS})
	close(closeNow)
	finAcked := uint32(iss + 5)
	var fin seg
	for {
		s, ok := h.recv(port, 2*time.Second)
		if !ok {
			t.Fatal("no FIN from the server")
		}
		if s.flags.Contains(header.TCPFlagFin) {
			fin = s
			break
		}
	}
	h.s.Resume()
	resumed = true
	if !closeDrainOn {
		if fin.ack != iss+4 {
			t.Fatalf("with the patch off the server's FIN acknowledges %d, want %d (the FIN still queued)", fin.ack, iss+4)
		}
		return
	}
	if fin.ack != finAcked {
		t.Fatalf("the server's FIN acknowledges %d, want %d: the client's FIN, queued before the close", fin.ack, finAcked)
	}
	// The client acknowledges it: LAST-ACK to closed, nothing more sent,
	// and no TIME-WAIT.
	h.send(port, seg{flags: header.TCPFlagAck, seq: finAcked, ack: fin.seq + uint32(len(fin.data)) + 1, ts: true, tsVal: 104, tsEcr: fin.tsVal})
	h.quiet(port, "after the client's ACK of the server's FIN")
	if compact {
		if _, compacted, _, _, _ := h.stats(); compacted != before {
			t.Fatalf("%d TIME-WAIT records made, want none: the server closed second", compacted-before)
		}
	}
}
