package input

import "testing"

// FuzzMouse feeds arbitrary bytes: the decoder never panics, every event
// is in the 9-bit range, and the bytes are all accounted for (in packets,
// dropped, or pending).
func FuzzMouse(f *testing.F) {
	f.Add([]byte{0x08, 0x05, 0xfd})
	f.Add([]byte{0x00, 0x01, 0x39, 0x10, 0xf0, 0xc8, 0x01, 0x02})
	f.Add([]byte{0xfa, 0xaa, 0x00, 0x09, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		var d MouseDecoder
		var k KeyDecoder
		p := Pointer{W: 640, H: 480}
		for i, b := range data {
			k.Feed(b)
			ev, ok := d.Feed(b)
			if i%17 == 16 {
				d.Resync()
			}
			if !ok {
				continue
			}
			if ev.DX < -256 || ev.DX > 255 || ev.DY < -255 || ev.DY > 256 {
				t.Fatalf("event out of range: %+v", ev)
			}
			if ev.Overflow && (ev.DX != 0 || ev.DY != 0) {
				t.Fatalf("overflow with movement: %+v", ev)
			}
			p.Apply(ev)
			if p.X < 0 || p.X >= 640 || p.Y < 0 || p.Y >= 480 {
				t.Fatalf("pointer off screen: %+v", p)
			}
		}
		pending := uint64(0)
		if d.Pending() {
			pending = uint64(d.n)
		}
		if got := d.Packets*3 + d.Dropped + pending; got != uint64(len(data)) {
			t.Fatalf("%d bytes in, %d accounted for", len(data), got)
		}
	})
}
