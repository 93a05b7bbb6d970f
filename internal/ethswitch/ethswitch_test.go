package ethswitch

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

func dial(t *testing.T, s *Switch) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func frame(dst, src byte, payload string) []byte {
	f := make([]byte, 4+14+len(payload))
	binary.BigEndian.PutUint32(f, uint32(14+len(payload)))
	copy(f[4:], []byte{0x52, 0x54, 0, 0x56, 0, dst})
	if dst == 0xff {
		copy(f[4:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	}
	copy(f[10:], []byte{0x52, 0x54, 0, 0x56, 0, src})
	copy(f[18:], payload)
	return f
}

// recv reads one frame's payload, or "" if none arrives soon.
func recv(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return ""
	}
	f := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(c, f); err != nil {
		t.Fatal(err)
	}
	return string(f[14:])
}

// TestLearnsAndFloods: a broadcast reaches every other port; once the
// switch has seen a source address, frames to it reach only its port.
func TestLearnsAndFloods(t *testing.T) {
	s, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b, c := dial(t, s), dial(t, s), dial(t, s)
	time.Sleep(100 * time.Millisecond) // let the switch accept all three
	a.Write(frame(0xff, 1, "who has"))
	if recv(t, b) != "who has" || recv(t, c) != "who has" {
		t.Fatal("broadcast not flooded")
	}
	if got := recv(t, a); got != "" {
		t.Fatalf("sender got its own frame back: %q", got)
	}
	b.Write(frame(1, 2, "reply"))
	if got := recv(t, a); got != "reply" {
		t.Fatalf("a got %q", got)
	}
	if got := recv(t, c); got != "" {
		t.Fatalf("a frame to a learnt address reached another port: %q", got)
	}
}

// TestRefusesBadLength: a port announcing a frame beyond MaxFrame is
// disconnected; the others keep working.
func TestRefusesBadLength(t *testing.T) {
	s, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b := dial(t, s), dial(t, s)
	time.Sleep(100 * time.Millisecond)
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 1<<31)
	a.Write(hdr[:])
	a.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := a.Read(make([]byte, 1)); err == nil {
		t.Fatal("bad port not disconnected")
	}
	c := dial(t, s)
	time.Sleep(100 * time.Millisecond)
	c.Write(frame(0xff, 3, "still up"))
	if got := recv(t, b); got != "still up" {
		t.Fatalf("b got %q", got)
	}
}

// FuzzReadFrames: whatever a guest sends, every frame handed on is a
// whole Ethernet frame within bounds with its own length in front, the
// frames are the stream's bytes in order, and the reader stops at the
// first bad length or the end.
func FuzzReadFrames(f *testing.F) {
	f.Add(frame(0xff, 1, "who has")[:])
	f.Add(append(frame(1, 2, "a"), frame(2, 1, "b")...))
	f.Add([]byte{0x80, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 13, 1, 2})
	f.Fuzz(func(t *testing.T, in []byte) {
		var got []byte
		readFrames(bytes.NewReader(in), func(fr []byte) {
			n := binary.BigEndian.Uint32(fr)
			if int(n) != len(fr)-4 || n < 14 || n > MaxFrame {
				t.Fatalf("frame of %d bytes announced as %d", len(fr)-4, n)
			}
			got = append(got, fr...)
		})
		if !bytes.HasPrefix(in, got) {
			t.Fatal("frames are not the stream's bytes in order")
		}
	})
}
