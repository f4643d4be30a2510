package termimg

import (
	"image"
	"image/color"
	"testing"
)

func TestScaleSize(t *testing.T) {
	tests := []struct {
		w, h, bw, bh int
		ww, wh       int
	}{
		{32, 32, 526, 526, 526, 526},
		{32, 32, 100, 50, 50, 50},
		{64, 32, 100, 100, 100, 50},
		{32, 64, 100, 100, 50, 100},
		{1000, 10, 50, 50, 50, 1}, // never 0 high
		{10, 10, 0, 10, 0, 0},
		{0, 10, 10, 10, 0, 0},
	}
	for _, tt := range tests {
		for _, src := range []image.Image{
			image.NewGray(image.Rect(0, 0, tt.w, tt.h)),
			image.NewNRGBA(image.Rect(5, 7, 5+tt.w, 7+tt.h)),
		} {
			got := Scale(src, tt.bw, tt.bh).Bounds()
			if got.Dx() != tt.ww || got.Dy() != tt.wh {
				t.Errorf("Scale(%T %dx%d, %d,%d) = %dx%d, want %dx%d", src, tt.w, tt.h, tt.bw, tt.bh, got.Dx(), got.Dy(), tt.ww, tt.wh)
			}
		}
	}
	if Scale(nil, 10, 10).Bounds().Dx() != 0 {
		t.Error("nil image should scale to empty")
	}
}

func TestScalePixels(t *testing.T) {
	// A 2x2 checker scaled x3 keeps each source pixel as a 3x3 block, also
	// for a sub-image whose bounds do not start at 0,0.
	big := image.NewGray(image.Rect(0, 0, 4, 4))
	big.SetGray(1, 1, color.Gray{200})
	big.SetGray(2, 2, color.Gray{100})
	src := big.SubImage(image.Rect(1, 1, 3, 3))
	out := Scale(src, 6, 6).(*image.Gray)
	for y := range 6 {
		for x := range 6 {
			want := src.(*image.Gray).GrayAt(1+x/3, 1+y/3).Y
			if got := out.GrayAt(x, y).Y; got != want {
				t.Fatalf("pixel %d,%d = %d want %d", x, y, got, want)
			}
		}
	}
	// Colour images keep colour.
	c := image.NewRGBA(image.Rect(0, 0, 1, 1))
	c.Set(0, 0, color.RGBA{255, 0, 0, 255})
	if got := Scale(c, 4, 4).At(3, 3); got != (color.RGBA{255, 0, 0, 255}) {
		t.Errorf("scaled colour = %v", got)
	}
}
