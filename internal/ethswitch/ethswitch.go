// Package ethswitch is a small Ethernet switch for QEMU guests on this
// machine: each guest's card uses QEMU's stream back end in client mode
// (-netdev stream,server=off,addr.host=127.0.0.1,addr.port=PORT), so the
// guests share one LAN without multicast, taps or root. It is how several
// Velocity nodes (velocity run -cluster, tests/biosphere) reach one
// another directly: QEMU's point-to-point stream links join only two
// guests, and user networking with restrict=on lets a guest reach no
// address of the host.
//
// A stream carries frames as a 4-byte big-endian length and the frame.
// The switch learns which port each source MAC address is behind and
// sends a unicast frame only there; broadcast, multicast and frames to an
// unknown address go to every other port. Each guest therefore needs its
// own MAC address (NetArgs sets one).
package ethswitch

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// MaxFrame is the largest frame accepted: a virtio-net frame without
// offloads is at most 1514 bytes, and the bound leaves room for a jumbo
// one. A port that announces a longer frame is disconnected (the length
// is read from the guest, so it never sizes an allocation beyond this).
const MaxFrame = 16 << 10

// queue is how many frames wait for a slow port before new ones to it
// are dropped, as a congested switch does (TCP retransmits).
const queue = 512

// Switch is a learning Ethernet switch listening on 127.0.0.1.
type Switch struct {
	ln net.Listener

	mu    sync.Mutex
	ports map[*port]bool
	macs  map[[6]byte]*port
	wg    sync.WaitGroup

	// Frames and Dropped count frames forwarded (per destination port)
	// and dropped because a port's queue was full.
	Frames, Dropped atomic.Int64
}

type port struct {
	conn net.Conn
	out  chan []byte
}

// Listen starts a switch on 127.0.0.1 at an ephemeral port.
func Listen() (*Switch, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Switch{ln: ln, ports: map[*port]bool{}, macs: map[[6]byte]*port{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Port is the TCP port guests connect to.
func (s *Switch) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// NetArgs are the QEMU arguments that put a guest on the switch with MAC
// address 52:54:00:56:00:nn (a locally administered range QEMU uses).
func (s *Switch) NetArgs(nn byte) []string {
	return []string{
		"-netdev", fmt.Sprintf("stream,id=net0,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=%d", s.Port()),
		"-device", fmt.Sprintf("virtio-net-pci,netdev=net0,disable-modern=on,mac=52:54:00:56:00:%02x", nn),
	}
}

// Close stops the switch and disconnects every port.
func (s *Switch) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for p := range s.ports {
		p.conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Switch) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		p := &port{conn: c, out: make(chan []byte, queue)}
		s.mu.Lock()
		s.ports[p] = true
		s.mu.Unlock()
		s.wg.Add(2)
		go s.read(p)
		go s.write(p)
	}
}

// read forwards p's frames until its guest goes away or sends a frame
// the switch refuses.
func (s *Switch) read(p *port) {
	defer s.wg.Done()
	defer s.drop(p)
	readFrames(bufio.NewReader(p.conn), func(f []byte) { s.forward(p, f) })
}

// readFrames reads a QEMU stream (4-byte big-endian length, frame) and
// calls fn with each frame, its length prefix included, until the stream
// ends or announces a length that is not an Ethernet frame's (under 14
// bytes or over MaxFrame): the stream is then out of step and is given
// up. A length read from the guest is checked before it sizes anything.
func readFrames(r io.Reader, fn func([]byte)) error {
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n < 14 || n > MaxFrame {
			return fmt.Errorf("ethswitch: frame length %d out of range", n)
		}
		f := make([]byte, 4+n)
		copy(f, hdr[:])
		if _, err := io.ReadFull(r, f[4:]); err != nil {
			return err
		}
		fn(f)
	}
}

func (s *Switch) forward(from *port, f []byte) {
	var dst, src [6]byte
	copy(dst[:], f[4:10])
	copy(src[:], f[10:16])
	s.mu.Lock()
	defer s.mu.Unlock()
	if src[0]&1 == 0 {
		s.macs[src] = from
	}
	if to := s.macs[dst]; to != nil && dst[0]&1 == 0 {
		if to != from {
			s.send(to, f)
		}
		return
	}
	for p := range s.ports {
		if p != from {
			s.send(p, f)
		}
	}
}

func (s *Switch) send(p *port, f []byte) {
	select {
	case p.out <- f:
		s.Frames.Add(1)
	default:
		s.Dropped.Add(1)
	}
}

func (s *Switch) write(p *port) {
	defer s.wg.Done()
	for f := range p.out {
		if _, err := p.conn.Write(f); err != nil {
			p.conn.Close()
			for range p.out { // drain until read's drop closes it
			}
			return
		}
	}
}

// drop disconnects p and forgets the addresses learnt behind it.
func (s *Switch) drop(p *port) {
	p.conn.Close()
	s.mu.Lock()
	delete(s.ports, p)
	for m, q := range s.macs {
		if q == p {
			delete(s.macs, m)
		}
	}
	close(p.out)
	s.mu.Unlock()
}
