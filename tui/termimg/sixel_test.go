package termimg

import (
	"bytes"
	"image"
	"image/color"
	"math/rand/v2"
	"testing"

	"github.com/mattn/go-sixel"
)

// greyGrid is a deterministic greyscale test image: a ramp with noise.
func greyGrid(w, h int) *image.Gray {
	rng := rand.New(rand.NewPCG(1, 2))
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := (x*255/max(w-1, 1) + rng.IntN(40)) % 256
			img.SetGray(x, y, color.Gray{uint8(v)})
		}
	}
	return img
}

func decodeSixel(t *testing.T, b []byte) image.Image {
	t.Helper()
	var img image.Image
	if err := sixel.NewDecoder(bytes.NewReader(b)).Decode(&img); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return img
}

func channelDiff(a, b color.Color) int {
	ar, ag, ab, _ := a.RGBA()
	br, bg, bb, _ := b.RGBA()
	return max(abs(int(ar>>8)-int(br>>8)), abs(int(ag>>8)-int(bg>>8)), abs(int(ab>>8)-int(bb>>8)))
}

func TestEncodeSixelRoundTrip(t *testing.T) {
	rgbaGrey := image.NewRGBA(image.Rect(0, 0, 13, 11))
	marked := image.NewNRGBA(image.Rect(0, 0, 20, 14))
	colourful := image.NewRGBA(image.Rect(0, 0, 24, 24))
	g := greyGrid(13, 11)
	for y := range 11 {
		for x := range 13 {
			rgbaGrey.Set(x, y, g.At(x, y))
		}
	}
	for y := range 14 {
		for x := range 20 {
			marked.Set(x, y, color.Gray{uint8(x * 12)})
			if x >= 5 && x < 10 && y >= 3 && y < 9 {
				marked.Set(x, y, color.NRGBA{255, 0, 0, 255})
			}
		}
	}
	for y := range 24 {
		for x := range 24 { // 576 distinct colours: adaptive palette
			colourful.Set(x, y, color.RGBA{uint8(x * 10), uint8(y * 10), 128, 255})
		}
	}
	tests := []struct {
		name    string
		img     image.Image
		maxDiff int
		fixed   bool
	}{
		{"gray", greyGrid(17, 13), 2, true},
		{"gray subimage", greyGrid(30, 30).SubImage(image.Rect(3, 4, 20, 19)), 2, true},
		{"rgba grey", rgbaGrey, 2, true},
		{"grey with red marker", marked, 2, true},
		{"adaptive colour", colourful, 40, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := toGreyPaletted(tt.img) != nil; got != tt.fixed {
				t.Errorf("fixed palette path = %t, want %t", got, tt.fixed)
			}
			b, err := EncodeSixel(tt.img)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("\x1bP")) || !bytes.HasSuffix(b, []byte("\x1b\\")) {
				t.Fatalf("not a DCS ... ST sequence: %q...%q", b[:min(10, len(b))], b[max(0, len(b)-4):])
			}
			out := decodeSixel(t, b)
			sb := tt.img.Bounds()
			if out.Bounds().Dx() != sb.Dx() || out.Bounds().Dy() != sb.Dy() {
				t.Fatalf("decoded %v, want %dx%d", out.Bounds(), sb.Dx(), sb.Dy())
			}
			worst := 0
			for y := range sb.Dy() {
				for x := range sb.Dx() {
					worst = max(worst, channelDiff(tt.img.At(sb.Min.X+x, sb.Min.Y+y), out.At(x, y)))
				}
			}
			if worst > tt.maxDiff {
				t.Errorf("max channel error %d > %d", worst, tt.maxDiff)
			}
		})
	}
}

func TestEncodeSixelGreyPalette(t *testing.T) {
	// Every sixel percentage register k must decode back to a distinct grey
	// close to the input, so the palette has no duplicate registers.
	for k, c := range greyPalette {
		y := c.(color.Gray).Y
		if pct := int(y) * 100 / 255; pct != k {
			t.Fatalf("palette %d has register %d%%", k, pct)
		}
		if greyIndex[y] != uint8(k) {
			t.Fatalf("greyIndex[%d] = %d, want %d", y, greyIndex[y], k)
		}
	}
}

func TestEncodeSixelErrors(t *testing.T) {
	for _, img := range []image.Image{nil, image.NewGray(image.Rectangle{})} {
		if _, err := EncodeSixel(img); err == nil {
			t.Errorf("EncodeSixel(%v) gave no error", img)
		}
	}
}

func TestEncodeSixelConcurrent(t *testing.T) {
	img := greyGrid(40, 40)
	want, err := EncodeSixel(img)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte)
	for range 4 {
		go func() {
			b, _ := EncodeSixel(img)
			done <- b
		}()
	}
	for range 4 {
		if got := <-done; !bytes.Equal(got, want) {
			t.Error("concurrent encode differs")
		}
	}
}

// BenchmarkEncodeSixel compares the fixed grey palette with go-sixel's
// adaptive palette on a 526 px grid (the size of the samples pane).
func BenchmarkEncodeSixel(b *testing.B) {
	grey := greyGrid(526, 526)
	rgba := image.NewRGBA(grey.Bounds())
	for i, v := range grey.Pix {
		rgba.Pix[4*i], rgba.Pix[4*i+1], rgba.Pix[4*i+2], rgba.Pix[4*i+3] = v, v, v, 255
	}
	rgba.Pix[0] = 255 // one non-grey pixel: grey+extras path
	b.Run("grey526_fixed", func(b *testing.B) {
		for b.Loop() {
			if _, err := EncodeSixel(grey); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rgba526_grey_plus_marker", func(b *testing.B) {
		for b.Loop() {
			if _, err := EncodeSixel(rgba); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("grey526_gosixel_adaptive", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			if err := sixel.NewEncoder(&buf).Encode(grey); err != nil {
				b.Fatal(err)
			}
		}
	})
}
