package gvisortest

import (
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// inliner is what internal/build/netinline.go adds to gVisor's TCP
// protocol.
type inliner interface {
	VelocityInlineBegin(nic tcpip.NICID)
	VelocityInlineEnd()
}

func inlineOf(h *harness) inliner {
	in, ok := h.s.TransportProtocolInstance(tcp.ProtocolNumber).(inliner)
	if !ok {
		h.t.Fatal("gVisor's tcp.protocol has no VelocityInlineBegin: not built with the patch")
	}
	return in
}

// needInline skips a test of what the edit does when it is off: it runs
// only when VELOCITY_TCPINLINE names a mode (TestInlineDefault).
func needInline(t *testing.T) {
	t.Helper()
	if m := os.Getenv("VELOCITY_TCPINLINE"); m == "" || m == "0" {
		t.Skipf("the inline edit is off (VELOCITY_TCPINLINE=%q)", m)
	}
}

// pause stops gVisor's TCP processor goroutines until the test ends, so
// that a segment is handled only if the inline path handles it.
func pause(h *harness) { pauseFor(h) }

// pauseFor stops the processors, as pause does, and returns the function
// that lets them run again; the test's end resumes them if it did not.
func pauseFor(h *harness) (resume func()) {
	h.s.Pause()
	var once sync.Once
	resume = func() { once.Do(h.s.Resume) }
	h.t.Cleanup(resume)
	return resume
}

// synAck opens a connection on port the way the card's receive goroutine
// delivers a SYN, inside a burst, and returns the listener's SYN-ACK. The
// processors must be running: the SYN is one of theirs
// (TestInlineLeavesSYN), unless VELOCITY_TCPINLINE is syn or all.
func synAck(h *harness, in inliner, port uint16, iss uint32) seg {
	h.t.Helper()
	in.VelocityInlineBegin(1)
	h.send(port, seg{flags: header.TCPFlagSyn, seq: iss, ts: true, tsVal: 100})
	in.VelocityInlineEnd()
	sa := h.expect(port, header.TCPFlagSyn|header.TCPFlagAck, "the SYN-ACK")
	if sa.ack != iss+1 {
		h.t.Fatalf("SYN-ACK ack %d, want %d", sa.ack, iss+1)
	}
	return sa
}

// A listener's SYN goes to its processor even inside a burst: the SYN's
// work (the new endpoint, its registration, the SYN-ACK) runs on another
// CPU while the receive goroutine takes in the next frames. With the
// processors paused no SYN-ACK comes until they resume.
func TestInlineLeavesSYN(t *testing.T) {
	needInline(t)
	if m := os.Getenv("VELOCITY_TCPINLINE"); m == "syn" || m == "all" {
		t.Skip("VELOCITY_TCPINLINE=" + m + " handles SYNs inline")
	}
	h := newHarness(t, time.Second)
	in := inlineOf(h)
	resume := pauseFor(h)
	const port, iss = 45005, 500
	in.VelocityInlineBegin(1)
	h.send(port, seg{flags: header.TCPFlagSyn, seq: iss, ts: true, tsVal: 100})
	in.VelocityInlineEnd()
	if s, ok := h.recv(port, 100*time.Millisecond); ok {
		t.Fatalf("%s sent with the processors paused: the SYN was handled inline", s.flags)
	}
	resume()
	h.expect(port, header.TCPFlagSyn|header.TCPFlagAck, "the SYN-ACK after the processors resumed")
}

// The ACK that ends a handshake, delivered inside a burst on the NIC, is
// handled by the goroutine that ends the burst, before VelocityInlineEnd
// returns: with every processor paused, it makes the connection the
// listener accepts, whose greeting then comes.
func TestInlineHandshake(t *testing.T) {
	needInline(t)
	h := newHarness(t, time.Second)
	in := inlineOf(h)
	const port, iss = 45000, 9000
	sa := synAck(h, in, port, iss)
	pause(h)
	in.VelocityInlineBegin(1)
	h.send(port, seg{flags: header.TCPFlagAck, seq: iss + 1, ack: sa.seq + 1, ts: true, tsVal: 101, tsEcr: sa.tsVal})
	in.VelocityInlineEnd()
	// The server writes "hello" from its own goroutine once Accept
	// returns, which only the handled ACK allows.
	got := h.expect(port, header.TCPFlagAck|header.TCPFlagPsh, "the greeting")
	if string(got.data) != "hello" {
		t.Fatalf("greeting %q, want hello", got.data)
	}
}

// With VELOCITY_TCPINLINE unset the edit is off
// (internal/build/netinline.go, velocityInlineOn): the ACK that ends a
// handshake inside a burst makes no connection while the processors are
// paused, and makes it once they resume. TestPatchedGvisor runs this
// test with the variable unset.
func TestInlineDefault(t *testing.T) {
	if m := os.Getenv("VELOCITY_TCPINLINE"); m != "" {
		t.Skip("VELOCITY_TCPINLINE=" + m + " names the mode")
	}
	h := newHarness(t, time.Second)
	ackWaits(h, inlineOf(h), 45007, 700, 1)
}

// ackWaits delivers the ACK that ends a handshake on port, inside a
// burst on NIC burst (0: outside any burst), with the processors paused,
// and checks that it makes no connection until they resume, and then
// the connection whose greeting comes.
func ackWaits(h *harness, in inliner, port uint16, iss uint32, burst tcpip.NICID) {
	h.t.Helper()
	sa := synAck(h, in, port, iss)
	resume := pauseFor(h)
	if burst != 0 {
		in.VelocityInlineBegin(burst)
	}
	h.send(port, seg{flags: header.TCPFlagAck, seq: iss + 1, ack: sa.seq + 1, ts: true, tsVal: 101, tsEcr: sa.tsVal})
	if burst != 0 {
		in.VelocityInlineEnd()
	}
	if s, ok := h.recv(port, 100*time.Millisecond); ok {
		h.t.Fatalf("port %d: %s sent with the processors paused: the ACK was handled inline", port, s.flags)
	}
	resume()
	if got := h.expect(port, header.TCPFlagAck|header.TCPFlagPsh, "the greeting after the processors resumed"); string(got.data) != "hello" {
		h.t.Fatalf("port %d: greeting %q, want hello", port, got.data)
	}
}

// Segments outside a burst, or from another NIC than the burst's, go to
// the processors as in gVisor: with them paused, the ACK that ends a
// handshake makes no connection until they resume. One connection at a
// time: recv drops what comes for other ports, so two connections resumed
// at once could lose one's greeting while the other's is read.
func TestInlineOnlyTheBurstsNIC(t *testing.T) {
	needInline(t)
	h := newHarness(t, time.Second)
	in := inlineOf(h)
	ackWaits(h, in, 45001, 100, 2) // the segment comes from NIC 1
	ackWaits(h, in, 45002, 200, 0)
}

// newHarnessReading is a harness whose server reads once from each
// connection it accepts and sends what it read on the channel.
func newHarnessReading(t *testing.T) (*harness, <-chan string) {
	got := make(chan string, 1)
	h := newHarnessServing(t, time.Second, func(c net.Conn) {
		b := make([]byte, 16)
		n, _ := c.Read(b)
		got <- string(b[:n])
	})
	return h, got
}

// programReads waits up to 2 s for what newHarnessReading's program
// read, which must be want; without it the test fails with never.
func programReads(t *testing.T, got <-chan string, want, never string) {
	t.Helper()
	select {
	case s := <-got:
		if s != want {
			t.Fatalf("the program read %q, want %q", s, want)
		}
	case <-time.After(2 * time.Second):
		t.Fatal(never)
	}
}

// An established connection's segments stay with its processor even
// inside a burst (VELOCITY_TCPINLINE=all handles them too): with the
// processors paused, the peer's data does not reach the program until
// they resume.
func TestInlineLeavesEstablished(t *testing.T) {
	needInline(t)
	if os.Getenv("VELOCITY_TCPINLINE") == "all" {
		t.Skip("VELOCITY_TCPINLINE=all handles established connections inline")
	}
	h, got := newHarnessReading(t)
	in := inlineOf(h)
	const port, iss = 45003, 300
	srvNxt, srvTS := h.handshake(port, iss)
	resume := pauseFor(h)
	in.VelocityInlineBegin(1)
	h.send(port, seg{flags: header.TCPFlagAck | header.TCPFlagPsh, seq: iss + 1, ack: srvNxt, ts: true, tsVal: 101, tsEcr: srvTS, data: []byte("hi")})
	in.VelocityInlineEnd()
	select {
	case s := <-got:
		t.Fatalf("the program read %q with the processors paused: handled inline", s)
	case <-time.After(100 * time.Millisecond):
	}
	resume()
	programReads(t, got, "hi", "the program never read the data after the processors resumed")
}

// A handshake that ends inside a burst takes the segments that came with
// its last ACK too (the client's first request, most often): with the
// processors paused, the program that accepts the connection reads the
// data the burst carried (VELOCITY_TCPINLINE=handshake leaves it to the
// processor).
func TestInlineFirstData(t *testing.T) {
	needInline(t)
	if os.Getenv("VELOCITY_TCPINLINE") == "handshake" {
		t.Skip("VELOCITY_TCPINLINE=handshake leaves the first data to the processor")
	}
	h, got := newHarnessReading(t)
	in := inlineOf(h)
	const port, iss = 45004, 400
	sa := synAck(h, in, port, iss)
	pause(h)
	in.VelocityInlineBegin(1)
	h.send(port, seg{flags: header.TCPFlagAck, seq: iss + 1, ack: sa.seq + 1, ts: true, tsVal: 101, tsEcr: sa.tsVal})
	h.send(port, seg{flags: header.TCPFlagAck | header.TCPFlagPsh, seq: iss + 1, ack: sa.seq + 1, ts: true, tsVal: 101, tsEcr: sa.tsVal, data: []byte("first")})
	in.VelocityInlineEnd()
	programReads(t, got, "first", "the program never read the data that came with the handshake's last ACK: it waits for a paused processor")
}

// A closing connection's segments go to its processor even inside a
// burst (VELOCITY_TCPINLINE=closing, syn and all take them inline): with
// the processors paused, the peer's FIN gets no ACK until they resume.
func TestInlineLeavesClosing(t *testing.T) {
	needInline(t)
	if m := os.Getenv("VELOCITY_TCPINLINE"); m == "closing" || m == "syn" || m == "all" {
		t.Skip("VELOCITY_TCPINLINE=" + m + " handles closing connections inline")
	}
	h := newHarness(t, time.Second)
	in := inlineOf(h)
	c := h.open(45006, 600) // the server has sent hello and its FIN
	resume := pauseFor(h)
	in.VelocityInlineBegin(1)
	h.send(c.port, seg{flags: header.TCPFlagAck | header.TCPFlagFin, seq: c.iss + 1, ack: c.serverNxt, ts: true, tsVal: 102, tsEcr: c.serverTS})
	in.VelocityInlineEnd()
	if s, ok := h.recv(c.port, 100*time.Millisecond); ok {
		t.Fatalf("%s sent with the processors paused: the closing segment was handled inline", s.flags)
	}
	resume()
	if a := h.expect(c.port, header.TCPFlagAck, "the ACK of the peer's FIN after the processors resumed"); a.ack != c.iss+2 {
		t.Fatalf("ACK %d, want %d", a.ack, c.iss+2)
	}
}
