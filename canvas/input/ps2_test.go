package input

import "testing"

func packet(dx, dy int, b Buttons) []byte {
	h := byte(alwaysOne) | byte(b)
	if dx < 0 {
		h |= xSign
	}
	if dy < 0 {
		h |= ySign
	}
	return []byte{h, byte(dx), byte(dy)}
}

func feed(d *MouseDecoder, bs []byte) []MouseEvent {
	var out []MouseEvent
	for _, b := range bs {
		if ev, ok := d.Feed(b); ok {
			out = append(out, ev)
		}
	}
	return out
}

func TestMousePackets(t *testing.T) {
	var d MouseDecoder
	var in []byte
	in = append(in, packet(5, -3, Left)...)
	in = append(in, packet(-200, 100, 0)...)
	in = append(in, packet(0, 0, Right|Middle)...)
	evs := feed(&d, in)
	want := []MouseEvent{{DX: 5, DY: 3, Buttons: Left}, {DX: -200, DY: -100}, {Buttons: Right | Middle}}
	if len(evs) != len(want) {
		t.Fatalf("%d events", len(evs))
	}
	for i := range want {
		if evs[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, evs[i], want[i])
		}
	}
	evs = feed(&d, []byte{alwaysOne | xOverflow | byte(Left), 0x7f, 0x7f})
	if len(evs) != 1 || !evs[0].Overflow || evs[0].DX != 0 || evs[0].Buttons != Left {
		t.Errorf("overflow packet: %+v", evs)
	}
}

// A stream that lost a byte comes back in step.
func TestMouseResync(t *testing.T) {
	var d MouseDecoder
	// Garbage with bit 3 clear is dropped before the first packet.
	evs := feed(&d, append([]byte{0x00, 0x01, 0x02}, packet(1, 1, 0)...))
	if len(evs) != 1 || evs[0].DX != 1 || d.Dropped != 3 {
		t.Fatalf("events %+v dropped %d", evs, d.Dropped)
	}
	// Lose the first byte of a packet whose movement bytes have bit 3
	// clear: those bytes are dropped and the next packet decodes.
	p := packet(2, 4, 0)
	evs = feed(&d, append(p[1:], packet(7, -7, Left)...))
	if len(evs) != 1 || evs[0] != (MouseEvent{DX: 7, DY: 7, Buttons: Left}) {
		t.Errorf("after a lost byte: %+v", evs)
	}
	// Resync drops a partial packet.
	d.Feed(packet(1, 1, 0)[0])
	if !d.Pending() {
		t.Fatal("no partial packet")
	}
	d.Resync()
	evs = feed(&d, packet(3, 0, 0))
	if len(evs) != 1 || evs[0].DX != 3 {
		t.Errorf("after Resync: %+v", evs)
	}
}

func TestPointer(t *testing.T) {
	p := Pointer{X: 10, Y: 10, W: 100, H: 50}
	down, up := p.Apply(MouseEvent{DX: -30, DY: 100, Buttons: Left})
	if p.X != 0 || p.Y != 49 || down != Left || up != 0 {
		t.Errorf("pointer %+v down %v up %v", p, down, up)
	}
	down, up = p.Apply(MouseEvent{DX: 500})
	if p.X != 99 || down != 0 || up != Left {
		t.Errorf("pointer %+v down %v up %v", p, down, up)
	}
	z := Pointer{}
	z.Apply(MouseEvent{DX: 5, DY: 5})
	if z.X != 0 || z.Y != 0 {
		t.Errorf("empty screen: %+v", z)
	}
}

func TestKeys(t *testing.T) {
	var k KeyDecoder
	seq := []byte{0x0f, 0x8f, 0xe0, 0x48, 0xe0, 0xc8, 0x03, 0x83, 0x1e, 0x01}
	var got []Key
	for _, b := range seq {
		if key := k.Feed(b); key != KeyNone {
			got = append(got, key)
		}
	}
	want := []Key{KeyTab, Key2, KeyEsc}
	if len(got) != len(want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("keys %v, want %v", got, want)
		}
	}
}
