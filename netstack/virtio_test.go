package netstack

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	kernelpkg "github.com/velocityos/velocity/kernel"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// rxBuf is one receive buffer as the device fills it: a virtio header
// with num_buffers n (when hdrLen is 12), then payload.
func rxBuf(hdrLen, n int, payload []byte) []byte {
	b := make([]byte, hdrLen, hdrLen+len(payload))
	if hdrLen == 12 {
		binary.LittleEndian.PutUint16(b[10:], uint16(n))
	}
	return append(b, payload...)
}

func frameOf(n int) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = byte(i)
	}
	return f
}

func TestRxAssembler(t *testing.T) {
	var st NICStats
	a := rxAssembler{hdrLen: 12, mrg: true}
	if f := a.add(rxBuf(12, 1, frameOf(60)), &st); !bytes.Equal(f, frameOf(60)) {
		t.Fatalf("one-buffer frame: %v", f)
	}
	// A frame over two buffers: the second carries no header.
	whole := frameOf(1514)
	if f := a.add(rxBuf(12, 2, whole[:1000]), &st); f != nil {
		t.Fatalf("frame returned before its second buffer")
	}
	if f := a.add(whole[1000:], &st); !bytes.Equal(f, whole) {
		t.Fatalf("two-buffer frame: %d bytes", len(f))
	}
	// Malformed: shorter than the header, a runt frame, num_buffers 0 or
	// too many, a frame over the MTU (and its continuation swallowed).
	a.add(make([]byte, 5), &st)
	a.add(rxBuf(12, 1, frameOf(10)), &st)
	a.add(rxBuf(12, 0, frameOf(60)), &st)
	a.add(rxBuf(12, 40, frameOf(60)), &st)
	a.add(rxBuf(12, 2, frameOf(1500)), &st)
	if f := a.add(frameOf(500), &st); f != nil {
		t.Fatalf("oversized frame delivered")
	}
	if st.RxRunt != 2 || st.RxBadHeader != 2 || st.RxOversize != 1 {
		t.Fatalf("counters %+v", st)
	}
	// The assembler is back in step: the next frame is whole.
	if f := a.add(rxBuf(12, 1, frameOf(100)), &st); !bytes.Equal(f, frameOf(100)) {
		t.Fatalf("after errors: %v", f)
	}
	// Without MRG_RXBUF the legacy header is 10 bytes and has no count.
	l := rxAssembler{hdrLen: 10}
	if f := l.add(append(make([]byte, 10), frameOf(64)...), &st); !bytes.Equal(f, frameOf(64)) {
		t.Fatalf("legacy header: %v", f)
	}
}

// FuzzRxAssembler feeds buffers of any content and length to the
// assembler: it never panics, never returns a frame shorter than an
// Ethernet header or longer than maxFrame, and a frame of one buffer
// after the fuzzed ones still comes through whole once the assembler has
// finished (or dropped) what it was assembling.
func FuzzRxAssembler(f *testing.F) {
	f.Add(rxBuf(12, 1, frameOf(60)), uint8(1), true)
	f.Add(rxBuf(12, 2, frameOf(1000)), uint8(2), true)
	f.Add(rxBuf(12, 0, frameOf(60)), uint8(3), true)
	f.Add(rxBuf(10, 1, frameOf(1600)), uint8(1), false)
	f.Add([]byte{1, 2, 3}, uint8(4), true)
	f.Add(rxBuf(12, 3, frameOf(1000)), uint8(0x82), true) // receive offloads: three buffers are legitimate
	f.Fuzz(func(t *testing.T, data []byte, splits uint8, mrg bool) {
		hdr := 10
		if mrg {
			hdr = 12
		}
		// The top bit of splits turns receive offloads on (64 KiB frames
		// over up to 33 buffers), keeping the corpus's three values.
		a := rxAssembler{hdrLen: hdr, mrg: mrg, gso: mrg && splits&0x80 != 0}
		maxLen, maxBufs := a.limits()
		var st NICStats
		// Cut data into up to 8 buffers of at most bufSize bytes.
		k := int(splits%8) + 1
		for i := 0; i < k; i++ {
			lo, hi := len(data)*i/k, len(data)*(i+1)/k
			b := data[lo:hi]
			if len(b) > bufSize {
				b = b[:bufSize]
			}
			fr := a.add(b, &st)
			if fr != nil && (len(fr) < 14 || len(fr) > maxLen) {
				t.Fatalf("frame of %d bytes delivered", len(fr))
			}
		}
		// Finish a frame left half assembled with continuation buffers,
		// then one good frame must come out intact.
		for i := 0; a.left > 0 && i < maxBufs; i++ {
			a.add(frameOf(20), &st)
		}
		if a.left != 0 {
			t.Fatalf("assembler still waits for %d buffers", a.left)
		}
		if got := a.add(rxBuf(hdr, 1, frameOf(64)), &st); !bytes.Equal(got, frameOf(64)) {
			t.Fatalf("after fuzzed input a good frame came out as %v", got)
		}
	})
}

// TestNICStatsLayout: the kernel copies netstack's counters byte for byte
// into kernel.NICStats, so the two must have the same fields in the same
// order.
func TestNICStatsLayout(t *testing.T) {
	a, b := reflect.TypeOf(NICStats{}), reflect.TypeOf(kernelpkg.NICStats{})
	if a.Size() != b.Size() || a.NumField() != b.NumField() {
		t.Fatalf("netstack.NICStats is %d bytes in %d fields, kernel.NICStats %d in %d", a.Size(), a.NumField(), b.Size(), b.NumField())
	}
	for i := 0; i < a.NumField(); i++ {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || fa.Offset != fb.Offset || fa.Type != fb.Type {
			t.Errorf("field %d: %s at %d vs %s at %d", i, fa.Name, fa.Offset, fb.Name, fb.Offset)
		}
	}
}

// TestCompleteChecksum: a frame whose virtio header asks for its checksum
// (NEEDS_CSUM, receive offloads) gets the one a sender would have put
// there; one whose checksum position lies outside it is dropped and
// counted; without GUEST_CSUM the header is not looked at.
func TestCompleteChecksum(t *testing.T) {
	// Ethernet, IPv4, TCP and 100 bytes, with a correct checksum.
	frame := make([]byte, 14+20+20+100)
	ip := header.IPv4(frame[14:])
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(frame) - 14), TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
		SrcAddr: tcpip.AddrFrom4([4]byte{10, 0, 2, 2}), DstAddr: tcpip.AddrFrom4([4]byte{10, 0, 2, 15})})
	tcp := header.TCP(frame[34:])
	tcp.Encode(&header.TCPFields{SrcPort: 40000, DstPort: 80, SeqNum: 7, AckNum: 9, DataOffset: 20, Flags: header.TCPFlagAck, WindowSize: 512})
	for i := range frame[54:] {
		frame[54+i] = byte(i * 7)
	}
	pseudo := header.PseudoHeaderChecksum(header.TCPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(frame)-34))
	tcp.SetChecksum(^tcp.CalculateChecksum(checksum.Checksum(frame[54:], pseudo)))
	want := tcp.Checksum()

	n := &virtioNIC{guestCsum: true}
	n.rxAsm.hdr[0] = netHdrNeedsCsum
	binary.LittleEndian.PutUint16(n.rxAsm.hdr[6:], 34)
	binary.LittleEndian.PutUint16(n.rxAsm.hdr[8:], 16)
	tcp.SetChecksum(pseudo) // what the host leaves: the pseudo-header's sum
	before := nicStats
	if !n.completeChecksum(frame) || tcp.Checksum() != want {
		t.Fatalf("completed checksum %#04x, want %#04x", tcp.Checksum(), want)
	}
	if !tcp.IsChecksumValid(ip.SourceAddress(), ip.DestinationAddress(), checksum.Checksum(frame[54:], 0), uint16(len(frame)-54)) {
		t.Error("gVisor does not take the completed checksum")
	}
	binary.LittleEndian.PutUint16(n.rxAsm.hdr[8:], uint16(len(frame)))
	if n.completeChecksum(frame) {
		t.Error("a checksum position past the frame was taken")
	}
	if d := nicStats.RxBadHeader - before.RxBadHeader; d != 1 {
		t.Errorf("%d bad headers counted, want 1", d)
	}
	n.guestCsum = false
	tcp.SetChecksum(1)
	if !n.completeChecksum(frame) || tcp.Checksum() != 1 {
		t.Error("without GUEST_CSUM the frame was changed or dropped")
	}
}

// TestIRQWatch: the watchdog fires only after two looks in a row find
// the driver asleep behind the device without having taken anything.
func TestIRQWatch(t *testing.T) {
	type look struct {
		waiting          bool
		deviceUsed, last uint16
		fire             bool
	}
	for _, c := range []struct {
		name  string
		looks []look
	}{
		{"idle", []look{{true, 5, 5, false}, {true, 5, 5, false}, {true, 5, 5, false}}},
		{"lost interrupt", []look{{true, 7, 5, false}, {true, 9, 5, true}, {true, 9, 5, false}, {true, 9, 5, true}}},
		{"interrupt came between looks", []look{{true, 7, 5, false}, {true, 8, 7, false}, {true, 8, 8, false}}},
		{"driver busy", []look{{false, 7, 5, false}, {false, 9, 5, false}, {true, 9, 5, false}, {true, 9, 5, true}}},
		{"wraps", []look{{true, 2, 65534, false}, {true, 3, 65534, true}}},
	} {
		var w irqWatch
		for i, l := range c.looks {
			if got := w.check(l.waiting, l.deviceUsed, l.last); got != l.fire {
				t.Errorf("%s: look %d (%+v): fired %v", c.name, i, l, got)
			}
		}
	}
}
