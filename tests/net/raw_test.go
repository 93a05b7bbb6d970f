package net

import (
	"encoding/binary"
	gonet "net"
	"os"
	"reflect"
	"syscall"
	"testing"
	"time"
)

// icmpEcho builds an ICMP echo request (type 8) with its checksum.
func icmpEcho(id, seq uint16, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	b[0] = 8
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], payload)
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(b[2:], ^uint16(sum))
	return b
}

// TestRawICMP: a raw IPv4 socket for ICMP (SOCK_RAW, needs CAP_NET_RAW:
// root here and in the kernel) sends an echo request to 127.0.0.1 and
// receives the stack's echo reply, its IP header stripped by Go.
func TestRawICMP(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("raw sockets need root")
	}
	c, err := gonet.ListenIP("ip4:icmp", &gonet.IPAddr{IP: gonet.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("ListenIP ip4:icmp: %v", err)
	}
	defer c.Close()
	if la, ok := c.LocalAddr().(*gonet.IPAddr); !ok || !la.IP.Equal(gonet.IPv4(127, 0, 0, 1)) {
		t.Errorf("LocalAddr %v, want 127.0.0.1", c.LocalAddr())
	}
	id := uint16(os.Getpid()) ^ 0x5a5a
	payload := []byte("velocity raw socket")
	if _, err := c.WriteTo(icmpEcho(id, 1, payload), &gonet.IPAddr{IP: gonet.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no echo reply: %v", err)
		}
		m := buf[:n]
		// The request itself comes by too (raw sockets see every ICMP
		// packet); the reply is type 0 with our id and payload.
		if n >= 8 && m[0] == 0 && binary.BigEndian.Uint16(m[4:]) == id {
			if string(m[8:]) != string(payload) {
				t.Errorf("echo reply payload %q", m[8:])
			}
			if a, ok := from.(*gonet.IPAddr); !ok || !a.IP.Equal(gonet.IPv4(127, 0, 0, 1)) {
				t.Errorf("reply from %v", from)
			}
			return
		}
	}
}

// TestRawConnected: a raw socket connected with DialIP reports its peer,
// and socket(2) checks the protocol as Linux does.
func TestRawConnected(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("raw sockets need root")
	}
	raddr := &gonet.IPAddr{IP: gonet.IPv4(127, 0, 0, 1).To4()}
	c, err := gonet.DialIP("ip4:tcp", &gonet.IPAddr{IP: gonet.IPv4(127, 0, 0, 1)}, raddr)
	if err != nil {
		t.Fatalf("DialIP ip4:tcp: %v", err)
	}
	defer c.Close()
	if !reflect.DeepEqual(c.RemoteAddr(), raddr) {
		t.Errorf("RemoteAddr %#v, want %#v", c.RemoteAddr(), raddr)
	}
	for _, tc := range []struct {
		proto int
		want  error
	}{{0, syscall.EPROTONOSUPPORT}, {263, syscall.EINVAL}} {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, tc.proto)
		if err == nil {
			syscall.Close(fd)
		}
		if err != tc.want {
			t.Errorf("socket(AF_INET, SOCK_RAW, %d): %v, want %v", tc.proto, err, tc.want)
		}
	}
}
