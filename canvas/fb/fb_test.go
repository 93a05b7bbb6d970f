package fb

import (
	"errors"
	"image/color"
	"testing"

	"github.com/velocityos/velocity/kernel"
)

func TestPresentAnyPitch(t *testing.T) {
	for _, c := range []struct{ w, h, pitch int }{{1, 1, 4}, {3, 2, 12}, {3, 2, 16}, {5, 3, 64}, {640, 480, 2560}, {641, 479, 4096}} {
		mem := make([]byte, c.pitch*c.h)
		for i := range mem {
			mem[i] = 0xee // padding must stay as it was
		}
		f, err := New(mem, c.w, c.h, c.pitch)
		if err != nil {
			t.Fatal(err)
		}
		for y := 0; y < c.h; y++ {
			for x := 0; x < c.w; x++ {
				f.Back.SetRGBA(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 0xff})
			}
		}
		f.Present()
		for y := 0; y < c.h; y++ {
			for x := 0; x < c.pitch/4; x++ {
				p := mem[y*c.pitch+4*x:]
				if x >= c.w {
					if p[0] != 0xee || p[1] != 0xee || p[2] != 0xee || p[3] != 0xee {
						t.Fatalf("%+v: padding at (%d,%d) overwritten", c, x, y)
					}
					continue
				}
				if p[0] != uint8(x+y) || p[1] != uint8(y) || p[2] != uint8(x) {
					t.Fatalf("%+v: pixel (%d,%d) = % x, want blue %d green %d red %d", c, x, y, p[:4], uint8(x+y), y, x)
				}
			}
		}
	}
}

func TestNewRejects(t *testing.T) {
	for _, c := range []struct{ n, w, h, pitch int }{
		{100, 0, 1, 4}, {100, 1, -1, 4}, {100, 5, 1, 16}, // pitch below 4×w
		{15, 2, 2, 8}, // one byte short
		{1 << 20, MaxSide + 1, 1, 4 * (MaxSide + 1)}, // too wide
	} {
		if _, err := New(make([]byte, c.n), c.w, c.h, c.pitch); err == nil {
			t.Errorf("New(%d bytes, %dx%d, pitch %d) accepted", c.n, c.w, c.h, c.pitch)
		}
	}
	// The last row needs only 4×w bytes, not a whole pitch.
	if _, err := New(make([]byte, 8+8), 2, 2, 8); err != nil {
		t.Error(err)
	}
}

func TestOpenOnHost(t *testing.T) {
	if kernel.OnVelocity() {
		t.Skip("tests/canvas opens the display inside the kernel")
	}
	if _, err := Open(640, 480); !errors.Is(err, ErrNoDisplay) || !errors.Is(err, kernel.ErrNotVelocity) {
		t.Errorf("Open on a host: %v", err)
	}
}

func BenchmarkPresent(b *testing.B) {
	f, _ := New(make([]byte, 1024*768*4), 1024, 768, 4096)
	for b.Loop() {
		f.Present()
	}
}

// Two pages: each Present writes the page not shown, then flips to it.
func TestPresentFlips(t *testing.T) {
	const w, h, pitch = 4, 3, 20
	mem := make([]byte, 2*h*pitch)
	var flips []int
	f, err := NewPaged(mem, w, h, pitch, func(p int) { flips = append(flips, p) })
	if err != nil {
		t.Fatal(err)
	}
	page := func(p int) []byte { return mem[p*h*pitch : (p+1)*h*pitch] }
	f.Back.SetRGBA(1, 1, color.RGBA{R: 9, A: 255})
	f.Present() // writes page 1, shows it
	if len(flips) != 1 || flips[0] != 1 || page(1)[pitch+4+2] != 9 || page(0)[pitch+4+2] != 0 {
		t.Fatalf("first present: flips %v, page 0 % x, page 1 % x", flips, page(0), page(1))
	}
	f.Back.SetRGBA(1, 1, color.RGBA{R: 7, A: 255})
	f.Present() // page 0 now; page 1 (shown until the flip) untouched
	if flips[1] != 0 || page(0)[pitch+4+2] != 7 || page(1)[pitch+4+2] != 9 {
		t.Fatalf("second present: flips %v", flips)
	}
	if _, err := NewPaged(make([]byte, h*pitch), w, h, pitch, func(int) {}); err == nil {
		t.Error("one page of memory accepted for two")
	}
	if f.Pages() != 2 {
		t.Error("Pages")
	}
}
