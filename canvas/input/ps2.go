// Package input decodes what the PS/2 controller delivers: 3-byte mouse
// packets and keyboard scan codes (set 1, as the controller translates
// them by default), and keeps a pointer position from the mouse's
// relative movements. It touches no hardware (package canvas/ps2 reads
// the ports), so it is tested, and fuzzed, on the host.
package input

// Mouse packet byte 0.
const (
	btnLeft   = 1 << 0
	btnRight  = 1 << 1
	btnMiddle = 1 << 2
	alwaysOne = 1 << 3 // set in every first byte: how the decoder finds packet starts
	xSign     = 1 << 4
	ySign     = 1 << 5
	xOverflow = 1 << 6
	yOverflow = 1 << 7
)

// Buttons is a mask of mouse buttons.
type Buttons uint8

const (
	Left   Buttons = btnLeft
	Right  Buttons = btnRight
	Middle Buttons = btnMiddle
)

// MouseEvent is one decoded packet. DY grows downwards (screen
// coordinates; the mouse reports upwards).
type MouseEvent struct {
	DX, DY   int
	Buttons  Buttons
	Overflow bool // the mouse moved too far to count; DX, DY are 0
}

// MouseDecoder assembles packets from bytes. A byte that cannot start a
// packet (bit 3 clear) is dropped, which brings a stream that lost a byte
// back in step within a packet or two; Resync drops a partial packet (call
// it when the bytes stop arriving mid-packet). Its counters say how often
// that happened.
type MouseDecoder struct {
	buf     [3]byte
	n       int
	Dropped uint64 // bytes dropped while looking for a packet start
	Packets uint64
}

// Feed adds one byte; it returns an event when the byte completes a packet.
func (d *MouseDecoder) Feed(b byte) (MouseEvent, bool) {
	if d.n == 0 && b&alwaysOne == 0 {
		d.Dropped++
		return MouseEvent{}, false
	}
	d.buf[d.n] = b
	d.n++
	if d.n < 3 {
		return MouseEvent{}, false
	}
	d.n = 0
	d.Packets++
	h := d.buf[0]
	ev := MouseEvent{Buttons: Buttons(h & (btnLeft | btnRight | btnMiddle))}
	if h&(xOverflow|yOverflow) != 0 {
		ev.Overflow = true
		return ev, true
	}
	// 9-bit two's complement: the sign bit is in byte 0.
	dx, dy := int(d.buf[1]), int(d.buf[2])
	if h&xSign != 0 {
		dx -= 256
	}
	if h&ySign != 0 {
		dy -= 256
	}
	ev.DX, ev.DY = dx, -dy
	return ev, true
}

// Resync forgets a partial packet.
func (d *MouseDecoder) Resync() {
	if d.n > 0 {
		d.Dropped += uint64(d.n)
		d.n = 0
	}
}

// Pending reports whether a packet is partly received.
func (d *MouseDecoder) Pending() bool { return d.n > 0 }

// Pointer is a pointer position on a W×H screen moved by mouse events,
// with the buttons' state.
type Pointer struct {
	X, Y, W, H int
	Buttons    Buttons
}

// Apply moves the pointer (clamped to the screen) and returns the buttons
// that went down and up with this event.
func (p *Pointer) Apply(ev MouseEvent) (down, up Buttons) {
	p.X = min(max(p.X+ev.DX, 0), max(p.W-1, 0))
	p.Y = min(max(p.Y+ev.DY, 0), max(p.H-1, 0))
	down = ev.Buttons &^ p.Buttons
	up = p.Buttons &^ ev.Buttons
	p.Buttons = ev.Buttons
	return down, up
}

// Key is a decoded key press.
type Key int

const (
	KeyNone Key = iota
	KeyTab
	KeyEsc
	Key1
	Key2
	Key3
	KeyQ
	KeySpace
)

// KeyDecoder turns set-1 scan codes into key presses. Releases (bit 7)
// and extended keys (0xE0 prefix) are consumed and ignored; so are keys
// the canvas has no use for.
type KeyDecoder struct {
	ext bool
}

// Feed adds one byte and returns a key press if it completes one.
func (k *KeyDecoder) Feed(b byte) Key {
	if b == 0xe0 {
		k.ext = true
		return KeyNone
	}
	if k.ext || b&0x80 != 0 {
		k.ext = false
		return KeyNone
	}
	switch b {
	case 0x01:
		return KeyEsc
	case 0x0f:
		return KeyTab
	case 0x02:
		return Key1
	case 0x03:
		return Key2
	case 0x04:
		return Key3
	case 0x10:
		return KeyQ
	case 0x39:
		return KeySpace
	}
	return KeyNone
}
