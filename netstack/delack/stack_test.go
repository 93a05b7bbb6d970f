package delack

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	"gvisor.dev/gvisor/pkg/tcpip/link/pipe"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// counter counts the TCP segments that reach the wire: all of them, and
// the pure ACKs among them.
type counter struct {
	nested.Endpoint
	all, pure atomic.Int64
}

func (c *counter) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	for _, p := range pkts.AsSlice() {
		if s, ok := parse(p); ok {
			c.all.Add(1)
			if s.pure {
				c.pure.Add(1)
			}
		}
	}
	return c.Endpoint.WritePackets(pkts)
}

// pair is two TCP/IP stacks joined by a wire, each sending through the
// layer (when delay > 0) above a counter.
type pair struct {
	a, b   *stack.Stack
	ca, cb *counter
	la, lb stack.LinkEndpoint // the layers (the counters when delay is 0)
}

var addrA, addrB = tcpip.AddrFrom4([4]byte{10, 9, 0, 1}), tcpip.AddrFrom4([4]byte{10, 9, 0, 2})

func newPair(t *testing.T, delay time.Duration) *pair {
	wa, wb := pipe.New("\x02\x00\x00\x00\x00\x01", "\x02\x00\x00\x00\x00\x02", 1500)
	p := &pair{ca: &counter{}, cb: &counter{}}
	p.ca.Init(wa, p.ca)
	p.cb.Init(wb, p.cb)
	mk := func(link stack.LinkEndpoint, addr tcpip.Address, layer *stack.LinkEndpoint) *stack.Stack {
		s := stack.New(stack.Options{
			NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
			TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
		})
		sack := tcpip.TCPSACKEnabled(true)
		s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
		*layer = New(link, delay, nil)
		if err := s.CreateNIC(1, *layer); err != nil {
			t.Fatal(err)
		}
		s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
			AddressWithPrefix: addr.WithPrefix()}, stack.AddressProperties{})
		s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})
		t.Cleanup(func() { s.Close(); s.Wait() })
		return s
	}
	p.a, p.b = mk(p.ca, addrA, &p.la), mk(p.cb, addrB, &p.lb)
	return p
}

// connect gives a connected client (on a) and server (on b).
func (p *pair) connect(t *testing.T) (client, server net.Conn) {
	l, err := gonet.ListenTCP(p.b, tcpip.FullAddress{NIC: 1, Addr: addrB, Port: 8080}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		acc <- c
	}()
	client, err = gonet.DialTCP(p.a, tcpip.FullAddress{NIC: 1, Addr: addrB, Port: 8080}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	server = <-acc
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// pingPong runs n requests of 100 bytes, each answered with 100 bytes,
// and returns the pure ACKs both sides sent per request.
func pingPong(t *testing.T, delay time.Duration, n int) float64 {
	p := newPair(t, delay)
	client, server := p.connect(t)
	go func() {
		buf := make([]byte, 100)
		for {
			if _, err := io.ReadFull(server, buf); err != nil {
				return
			}
			if _, err := server.Write(buf); err != nil {
				return
			}
		}
	}()
	req, resp := bytes.Repeat([]byte{'q'}, 100), make([]byte, 100)
	pure0 := p.ca.pure.Load() + p.cb.pure.Load()
	for i := 0; i < n; i++ {
		if _, err := client.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, resp); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(resp, req) {
			t.Fatalf("request %d: answer %q", i, resp)
		}
	}
	return float64(p.ca.pure.Load()+p.cb.pure.Load()-pure0) / float64(n)
}

// TestRequestResponse: over real stacks, the answer carries the ACK of
// the request and the next request the ACK of the answer, so the pure
// ACKs of a ping-pong all but vanish; without the layer there are about
// two per request.
func TestRequestResponse(t *testing.T) {
	const n = 300
	without := pingPong(t, 0, n)
	with := pingPong(t, 50*time.Millisecond, n)
	t.Logf("pure ACKs per request: %.2f without the layer, %.2f with it", without, with)
	if without < 1 {
		t.Fatalf("without the layer only %.2f pure ACKs per request: the test no longer measures the layer", without)
	}
	if with > 0.25 {
		t.Fatalf("with the layer %.2f pure ACKs per request, want under 0.25", with)
	}
}

// TestBulk: 16 MiB one way arrive whole and in order, and the receiver's
// ACKs almost never wait out their delay: a bulk receiver's ACKs cover a
// full segment or more, or open the window, and go at once. (Before that
// rule, 16 MiB took 1.4 s here instead of 0.08 s: hundreds of ACKs at the
// end of the sender's bursts each stalled it for the whole delay.)
func TestBulk(t *testing.T) {
	p := newPair(t, 5*time.Millisecond)
	client, server := p.connect(t)
	data := make([]byte, 16<<20)
	for i := range data {
		data[i] = byte(i*31 + i>>11)
	}
	want := sha256.Sum256(data)
	done := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		io.Copy(h, server)
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		done <- sum
	}()
	start := time.Now()
	if _, err := client.Write(data); err != nil {
		t.Fatal(err)
	}
	client.Close()
	select {
	case got := <-done:
		if got != want {
			t.Fatal("the data arrived changed")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("16 MiB took over a minute")
	}
	t.Logf("16 MiB in %v; receiver sent %d pure ACKs, %d segments in all", time.Since(start), p.cb.pure.Load(), p.cb.all.Load())
	st := p.lb.(*Endpoint).Stats
	t.Logf("receiver's layer: %d delayed, %d merged, %d replaced, %d expired, %d at once",
		atomic.LoadUint64(&st.Delayed), atomic.LoadUint64(&st.Merged), atomic.LoadUint64(&st.Replaced), atomic.LoadUint64(&st.Expired), atomic.LoadUint64(&st.Immediate))
	if p.cb.pure.Load() == 0 {
		t.Fatal("the receiver sent no pure ACK at all")
	}
	if n := atomic.LoadUint64(&st.Expired); n > 8 {
		t.Fatalf("%d of the receiver's ACKs waited out the delay, stalling the sender", n)
	}
}
