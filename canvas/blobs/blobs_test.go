package blobs

import (
	"image"
	"image/color"
	"testing"
)

func TestFind(t *testing.T) {
	red := color.RGBA{255, 0, 0, 255}
	blue := color.RGBA{0, 0, 255, 255}
	img := image.NewRGBA(image.Rect(0, 0, 10, 10))
	img.SetRGBA(1, 1, red)
	img.SetRGBA(2, 1, red)
	img.SetRGBA(3, 1, blue) // touches red but another colour: another blob
	img.SetRGBA(4, 2, blue) // diagonal only: another blob
	img.SetRGBA(9, 9, red)
	bs := Find(img, img.Bounds(), Is(red, blue))
	if len(bs) != 4 {
		t.Fatalf("%d blobs, want 4: %+v", len(bs), bs)
	}
	if bs[0].Area != 2 || bs[0].Bounds != image.Rect(1, 1, 3, 2) {
		t.Errorf("first blob %+v", bs[0])
	}
	if n := len(Find(img, image.Rect(5, 5, 20, 20), Is(red))); n != 1 {
		t.Errorf("%d red blobs in the corner", n)
	}
	if Count(img, img.Bounds(), Is(blue)) != 2 || Find(img, image.Rectangle{}, Is(red)) != nil {
		t.Error("Count or empty rectangle wrong")
	}
}
