package netboot

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// wire is the far end of a guest's network cable: the test accepts the
// guest's QEMU stream link (4-byte big-endian length, then the frame),
// runs a TCP/IP stack of its own on it (gVisor's, as a second machine on
// the LAN) and can also write raw frames into the link.
type wire struct {
	conn net.Conn
	wmu  sync.Mutex
	st   *stack.Stack
	ch   *channel.Endpoint
	ip   tcpip.Address
	mac  tcpip.LinkAddress
}

var (
	guestIP  = tcpip.AddrFrom4([4]byte{10, 0, 5, 1})
	peerIP   = tcpip.AddrFrom4([4]byte{10, 0, 5, 2})
	peerMAC  = tcpip.LinkAddress("\x52\x54\x00\xaa\xbb\xcc")
	guestMAC = tcpip.LinkAddress("\x52\x54\x00\x12\x34\x56")
)

func newWire(t *testing.T, conn net.Conn) *wire {
	w := &wire{conn: conn, ip: peerIP, mac: peerMAC}
	w.st = stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	w.ch = channel.New(1024, 1500, peerMAC)
	if err := w.st.CreateNIC(1, ethernet.New(w.ch)); err != nil {
		t.Fatal(err)
	}
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: peerIP, PrefixLen: 24}}
	if err := w.st.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	w.st.SetRouteTable([]tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); conn.Close(); w.st.Close() })
	go func() { // stack → cable
		for {
			pkt := w.ch.ReadContext(ctx)
			if pkt == nil {
				return
			}
			b := pkt.ToView().AsSlice()
			pkt.DecRef()
			if w.send(b) != nil {
				return
			}
		}
	}()
	go func() { // cable → stack
		r := bufio.NewReader(conn)
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return
			}
			n := binary.BigEndian.Uint32(hdr[:])
			if n > 65536 {
				return
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(r, b); err != nil {
				return
			}
			pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
			w.ch.InjectInbound(0, pkt)
			pkt.DecRef()
		}
	}()
	return w
}

func (w *wire) send(frame []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(frame)))
	if _, err := w.conn.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.conn.Write(frame)
	return err
}

// syn builds a TCP SYN to the guest's port 80 from src:port, as a flood
// sends them: spoofed sources that never answer.
func syn(src tcpip.Address, port uint16, seq uint32) []byte {
	b := make([]byte, header.EthernetMinimumSize+header.IPv4MinimumSize+header.TCPMinimumSize)
	header.Ethernet(b).Encode(&header.EthernetFields{SrcAddr: peerMAC, DstAddr: guestMAC, Type: header.IPv4ProtocolNumber})
	ip := header.IPv4(b[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b) - header.EthernetMinimumSize), TTL: 64,
		Protocol: uint8(header.TCPProtocolNumber), SrcAddr: src, DstAddr: guestIP})
	ip.SetChecksum(^ip.CalculateChecksum())
	tc := header.TCP(ip.Payload())
	tc.Encode(&header.TCPFields{SrcPort: port, DstPort: 80, SeqNum: seq, DataOffset: header.TCPMinimumSize,
		Flags: header.TCPFlagSyn, WindowSize: 65535})
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, guestIP, uint16(len(tc)))
	tc.SetChecksum(^tc.CalculateChecksum(xsum))
	return b
}

// get fetches path from the guest's HTTP server over the wire's stack.
func (w *wire) get(ctx context.Context, path string) (string, error) {
	c, err := gonet.DialContextTCP(ctx, w.st, tcpip.FullAddress{NIC: 1, Addr: guestIP, Port: 80}, ipv4.ProtocolNumber)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: guest\r\n\r\n", path)
	b, err := io.ReadAll(c)
	return string(b), err
}

// TestSYNFlood: 20,000 SYNs from spoofed addresses on the guest's LAN,
// as fast as the link takes them, do not stall the kernel: during and
// after the flood the guest's HTTP server answers a real client on the
// same cable, and the program keeps running.
func TestSYNFlood(t *testing.T) {
	testenv.Need(t, "qemu")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	g := startGuest(t, qemu.Net{Connect: port}, []string{"ip=10.0.5.1/24"})
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	w := newWire(t, conn)
	waitSerial(t, g, "httpd: serving on :80")

	// httpd prints its line just before it listens: retry until it does.
	var page string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		page, err = w.get(ctx, "/")
		cancel()
		if err == nil && strings.Contains(page, "200 OK") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("before the flood: %v\n%s\n%s", err, page, g.serial)
		}
	}

	const floodN = 20000
	rng := rand.New(rand.NewSource(1))
	start := time.Now()
	during := make(chan error, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		page, err := w.get(ctx, "/")
		if err == nil && !strings.Contains(page, "200 OK") {
			err = fmt.Errorf("page %q", page)
		}
		during <- err
	}()
	for i := 0; i < floodN; i++ {
		src := tcpip.AddrFrom4([4]byte{10, 0, 5, byte(3 + rng.Intn(250))})
		if err := w.send(syn(src, uint16(1024+rng.Intn(60000)), rng.Uint32())); err != nil {
			t.Fatalf("flood frame %d: %v", i, err)
		}
	}
	sent := time.Since(start)
	if err := <-during; err != nil {
		t.Fatalf("a client during the flood: %v\n%s", err, g.serial)
	}
	// QEMU stops reading the link while the card's receive ring is full,
	// so the client's SYN waits behind the flood: the time is how long
	// the guest took to work through it.
	took := time.Since(start)
	t.Logf("%d SYNs written in %v; a client's request during the flood answered after %v (the guest took %.0f SYNs/s)",
		floodN, sent.Round(time.Millisecond), took.Round(time.Millisecond), floodN/took.Seconds())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	page, err = w.get(ctx, "/quit")
	cancel()
	if err != nil || !strings.Contains(page, "bye") {
		t.Fatalf("after the flood: %v %q\n%s", err, page, g.serial)
	}
	g.wait(t)
}
