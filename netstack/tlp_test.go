package netstack

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// TestNoSpuriousTailLossProbe is why newStack turns RACK off. A server
// that answers with several segments while its peer's ACKs come late (a
// busy guest's own receive path does that) must not send them twice.
// gVisor schedules its tail-loss probe 2*SRTT after a send, with no
// floor (Linux adds at least two jiffies), so on a link of tens of
// microseconds the probe fires long before the ACK is processed: over
// tap, one new connection in five, and one 64 KiB response in fourteen,
// was sent twice. The second subtest shows the probe firing with RACK on
// (VELOCITY_TCPRACK=1); should gVisor grow a floor, it fails, and RACK
// can come back.
func TestNoSpuriousTailLossProbe(t *testing.T) {
	for _, c := range []struct {
		name    string
		rack    string
		resends bool
	}{{"default", "", false}, {"rack", "1", true}} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("VELOCITY_TCPRACK", c.rack)
			got := lateAckResends(t)
			t.Logf("%d segments sent again", got)
			if got > 0 != c.resends {
				t.Errorf("the server sent %d segments again; want resends: %v", got, c.resends)
			}
		})
	}
}

// lateAckResends runs 20 quick exchanges between two stacks joined by a
// link (to learn a short RTT), then 5 in which the server's 3-segment
// answers are acknowledged 60 ms late, well under gVisor's 200 ms
// minimum retransmission timeout. It returns how many segments the
// server retransmitted.
func lateAckResends(t *testing.T) uint64 {
	srv, cli := linkedStacks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var late atomic.Int64 // the delay of frames towards the server
	forward := func(from *channel.Endpoint, to *channel.Endpoint, delay *atomic.Int64) {
		for {
			pkt := from.ReadContext(ctx)
			if pkt == nil {
				return
			}
			b := pkt.ToView().ToSlice()
			pkt.DecRef()
			if delay != nil {
				time.Sleep(time.Duration(delay.Load()))
			}
			in := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
			to.InjectInbound(ipv4.ProtocolNumber, in)
			in.DecRef()
		}
	}
	go forward(srv.link, cli.link, nil)
	go forward(cli.link, srv.link, &late)

	ln, err := gonet.ListenTCP(srv.s, tcpip.FullAddress{NIC: 2, Addr: srv.addr, Port: 80}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	answer := make([]byte, 3*1400) // three segments at a 1,500-byte MTU
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req := make([]byte, 1)
		for {
			if _, err := io.ReadFull(c, req); err != nil {
				return
			}
			if _, err := c.Write(answer); err != nil {
				return
			}
		}
	}()
	c, err := gonet.DialContextTCP(ctx, cli.s, tcpip.FullAddress{NIC: 2, Addr: srv.addr, Port: 80}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make([]byte, len(answer))
	exchange := func() {
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		exchange()
	}
	before := srv.s.Stats().TCP.Retransmits.Value()
	late.Store(int64(60 * time.Millisecond))
	for range 5 {
		exchange()
	}
	return srv.s.Stats().TCP.Retransmits.Value() - before
}

type linkedStack struct {
	s    *stack.Stack
	link *channel.Endpoint
	addr tcpip.Address
}

// linkedStacks makes two stacks as the kernel's (newStack), each with a
// channel link at 10.9.0.1 and 10.9.0.2, which the caller joins.
func linkedStacks(t *testing.T) (srv, cli linkedStack) {
	mk := func(last byte) linkedStack {
		s, err := newStack()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		l := channel.New(256, 1500, "")
		if err := s.CreateNIC(2, l); err != nil {
			t.Fatal(err)
		}
		a := tcpip.AddrFrom4([4]byte{10, 9, 0, last})
		pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: a.WithPrefix()}
		pa.AddressWithPrefix.PrefixLen = 24
		if err := s.AddProtocolAddress(2, pa, stack.AddressProperties{}); err != nil {
			t.Fatal(err)
		}
		s.AddRoute(tcpip.Route{Destination: pa.AddressWithPrefix.Subnet(), NIC: 2})
		return linkedStack{s: s, link: l, addr: a}
	}
	return mk(1), mk(2)
}
