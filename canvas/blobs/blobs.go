// Package blobs finds connected regions of chosen colours in an image: the
// canvas tests count the nodes of a drawn graph (on the host, and in QEMU
// screendumps) as the 4-connected blobs of node colours.
package blobs

import (
	"image"
	"image/color"
)

// Blob is one connected region.
type Blob struct {
	Area   int             // pixels
	Bounds image.Rectangle // bounding box
	Color  color.RGBA      // colour of its first pixel
}

// Centre is the middle of the blob's bounding box.
func (b Blob) Centre() image.Point {
	return image.Pt((b.Bounds.Min.X+b.Bounds.Max.X)/2, (b.Bounds.Min.Y+b.Bounds.Max.Y)/2)
}

// Find returns the 4-connected regions of pixels inside r for which match
// is true; neighbouring pixels join only if they have the same colour.
func Find(img image.Image, r image.Rectangle, match func(color.RGBA) bool) []Blob {
	r = r.Intersect(img.Bounds())
	w, h := r.Dx(), r.Dy()
	if w <= 0 || h <= 0 {
		return nil
	}
	px := make([]color.RGBA, w*h)
	ok := make([]bool, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBAModel.Convert(img.At(r.Min.X+x, r.Min.Y+y)).(color.RGBA)
			px[y*w+x] = c
			ok[y*w+x] = match(c)
		}
	}
	seen := make([]bool, w*h)
	var out []Blob
	var stack []int
	for start := range px {
		if !ok[start] || seen[start] {
			continue
		}
		b := Blob{Color: px[start], Bounds: image.Rectangle{Min: image.Pt(w, h), Max: image.Pt(-1, -1)}}
		seen[start] = true
		stack = append(stack[:0], start)
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			x, y := i%w, i/w
			b.Area++
			b.Bounds.Min.X, b.Bounds.Min.Y = min(b.Bounds.Min.X, x), min(b.Bounds.Min.Y, y)
			b.Bounds.Max.X, b.Bounds.Max.Y = max(b.Bounds.Max.X, x+1), max(b.Bounds.Max.Y, y+1)
			for _, n := range [4][2]int{{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}} {
				if n[0] < 0 || n[1] < 0 || n[0] >= w || n[1] >= h {
					continue
				}
				j := n[1]*w + n[0]
				if ok[j] && !seen[j] && px[j] == px[i] {
					seen[j] = true
					stack = append(stack, j)
				}
			}
		}
		b.Bounds = b.Bounds.Add(r.Min)
		out = append(out, b)
	}
	return out
}

// Count returns how many pixels inside r match.
func Count(img image.Image, r image.Rectangle, match func(color.RGBA) bool) int {
	r = r.Intersect(img.Bounds())
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if match(color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)) {
				n++
			}
		}
	}
	return n
}

// Is returns a matcher for exactly the colours cs.
func Is(cs ...color.RGBA) func(color.RGBA) bool {
	return func(c color.RGBA) bool {
		for _, x := range cs {
			if c.R == x.R && c.G == x.G && c.B == x.B {
				return true
			}
		}
		return false
	}
}
