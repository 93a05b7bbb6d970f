// Package fb is a double-buffered 32-bit framebuffer: the canvas draws
// into an off-screen image.RGBA (Back) at its own pace, and Present copies
// it to the display memory in one pass on the frame tick, so the display
// never shows a half-drawn frame for long and drawing never reads the
// (uncached) device memory.
//
// Open finds a display on Velocity: the framebuffer the boot loader set up
// (multiboot2 tag: GRUB with gfxpayload, or UEFI GOP), else QEMU's Bochs
// display (drivers/bga) set to the size asked for. New wraps any byte
// slice, so everything but the hardware is tested on the host.
package fb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"

	"github.com/velocityos/velocity/drivers/bga"
	"github.com/velocityos/velocity/kernel"
)

// FB is a display and its back buffer.
type FB struct {
	Width, Height int
	Pitch         int    // bytes per row of the display memory
	Source        string // where the display came from, for the log line
	Back          *image.RGBA
	mem           []byte
	Frames        uint64
	// With two pages, Present writes the page not shown and then flips
	// to it, so the display (and a screendump) never sees a frame half
	// written; with one, the copy is in place.
	pages int
	shown int
	flip  func(page int)
}

// MaxSide bounds the width and height New accepts: the back buffer is
// allocated from them (at most 256 MiB), and no display is larger.
const MaxSide = 8192

// New wraps display memory mem of a w×h, 32 bits per pixel display with
// pitch bytes per row (pixels in x8r8g8b8 order: blue in the first byte).
func New(mem []byte, w, h, pitch int) (*FB, error) {
	if w <= 0 || h <= 0 || w > MaxSide || h > MaxSide {
		return nil, fmt.Errorf("fb: bad size %dx%d", w, h)
	}
	if pitch < 4*w {
		return nil, fmt.Errorf("fb: pitch %d is less than 4×width (%d)", pitch, 4*w)
	}
	if need := pitch*(h-1) + 4*w; len(mem) < need {
		return nil, fmt.Errorf("fb: %dx%d with pitch %d needs %d bytes, have %d", w, h, pitch, need, len(mem))
	}
	return &FB{Width: w, Height: h, Pitch: pitch, mem: mem, Back: image.NewRGBA(image.Rect(0, 0, w, h)), pages: 1}, nil
}

// NewPaged is New for display memory holding two pages of h rows, one
// after the other; flip(p) must make page p the one displayed.
func NewPaged(mem []byte, w, h, pitch int, flip func(page int)) (*FB, error) {
	if need := pitch*(2*h-1) + 4*w; h > 0 && len(mem) < need {
		return nil, fmt.Errorf("fb: two pages of %dx%d with pitch %d need %d bytes, have %d", w, h, pitch, need, len(mem))
	}
	f, err := New(mem, w, h, pitch)
	if err != nil {
		return nil, err
	}
	f.pages, f.flip = 2, flip
	return f, nil
}

// Pages is 2 for a page-flipped display, else 1.
func (f *FB) Pages() int { return f.pages }

// Present copies the back buffer to the display, converting RGBA to the
// display's x8r8g8b8.
func (f *FB) Present() {
	page := 0
	if f.pages == 2 {
		page = 1 - f.shown
	}
	base := page * f.Height * f.Pitch
	w4 := 4 * f.Width
	for y := 0; y < f.Height; y++ {
		src := f.Back.Pix[y*f.Back.Stride : y*f.Back.Stride+w4]
		dst := f.mem[base+y*f.Pitch : base+y*f.Pitch+w4]
		for i := 0; i < w4; i += 4 {
			v := binary.LittleEndian.Uint32(src[i:]) // R | G<<8 | B<<16 | A<<24
			binary.LittleEndian.PutUint32(dst[i:], v&0x0000ff00|v>>16&0xff|v&0xff<<16)
		}
	}
	if f.pages == 2 {
		f.flip(page)
		f.shown = page
	}
	f.Frames++
}

// ErrNoDisplay means neither the boot loader nor a Bochs display gave a
// 32-bit framebuffer.
var ErrNoDisplay = errors.New("fb: no framebuffer")

// Open returns the display: the boot framebuffer if it is 32 bits per
// pixel, else a Bochs display set to w×h. The error says why neither
// worked (on a Linux host: kernel.ErrNotVelocity).
func Open(w, h int) (*FB, error) {
	if !kernel.OnVelocity() {
		return nil, fmt.Errorf("%w: %w", ErrNoDisplay, kernel.ErrNotVelocity)
	}
	boot, err := kernel.BootFramebuffer()
	switch {
	case err == nil && boot.BPP == 32:
		mem, err := kernel.MapDevice(boot.Phys, boot.Pitch*boot.Height)
		if err != nil {
			return nil, fmt.Errorf("fb: mapping the boot framebuffer: %w", err)
		}
		f, err := New(mem, boot.Width, boot.Height, boot.Pitch)
		if err == nil {
			f.Source = fmt.Sprintf("boot loader framebuffer at %#x", boot.Phys)
		}
		return f, err
	case err == nil:
		err = fmt.Errorf("boot framebuffer is %d bits per pixel, not 32", boot.BPP)
	}
	dev, berr := bga.Find()
	if berr != nil {
		return nil, fmt.Errorf("%w (%v; %v)", ErrNoDisplay, err, berr)
	}
	m, err := dev.SetMode(w, h)
	if err != nil {
		return nil, err
	}
	mem, err := kernel.MapDevice(dev.LFB, m.Pages*m.Pitch*m.Height)
	if err != nil {
		return nil, fmt.Errorf("fb: mapping the Bochs display's framebuffer: %w", err)
	}
	var f *FB
	if m.Pages == 2 {
		f, err = NewPaged(mem, m.Width, m.Height, m.Pitch, func(p int) { dev.Flip(p, m.Height) })
	} else {
		f, err = New(mem, m.Width, m.Height, m.Pitch)
	}
	if err == nil {
		f.Source = fmt.Sprintf("Bochs display %s (registers by %s), framebuffer at %#x, %d page(s)", dev.PCI, dev.Regs, dev.LFB, m.Pages)
	}
	return f, err
}

// BackBuffer is where frames are drawn (compositor.Display).
func (f *FB) BackBuffer() *image.RGBA { return f.Back }
