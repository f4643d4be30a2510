package data

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// quadrantImage returns a w x h image whose centred square (side min(w,h)) has four coloured
// quadrants (red, green, blue, white clockwise from top left) and whose cropped-away margins are
// magenta, so both the crop and the resize can be checked.
func quadrantImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	s := min(w, h)
	x0, y0 := (w-s)/2, (h-s)/2
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{255, 0, 255, 255}
			if x >= x0 && x < x0+s && y >= y0 && y < y0+s {
				right, bottom := x-x0 >= s/2, y-y0 >= s/2
				switch {
				case !right && !bottom:
					c = color.NRGBA{255, 0, 0, 255}
				case right && !bottom:
					c = color.NRGBA{0, 255, 0, 255}
				case right && bottom:
					c = color.NRGBA{0, 0, 255, 255}
				default:
					c = color.NRGBA{255, 255, 255, 255}
				}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rgbAt returns the (r,g,b) of output pixel (y,x) of image i.
func rgbAt(ds *Dataset, i, y, x int) [3]float32 {
	img := ds.Image(i)
	p := ds.H * ds.W
	k := y*ds.W + x
	return [3]float32{img[k], img[p+k], img[2*p+k]}
}

func TestReadImageFolderCropResize(t *testing.T) {
	dir := t.TempDir()
	// Landscape 40x30 (crop 5 columns each side), portrait 30x60 (crop 15 rows each side), both
	// with a 30x30 centre: at size 10 each output pixel averages exactly a 3x3 block, and the
	// quadrant edge (15) falls on output pixel boundary 5.
	writeFile(t, dir, "b-landscape.png", encodePNG(t, quadrantImage(40, 30)))
	writeFile(t, dir, "a-portrait.PNG", encodePNG(t, quadrantImage(30, 60)))
	writeFile(t, dir, "c-jpeg.jpg", encodeJPEG(t, quadrantImage(48, 32)))
	writeFile(t, dir, "notes.txt", []byte("not an image"))
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	writeFile(t, dir, "sub/zzz.png", encodePNG(t, quadrantImage(8, 8)))

	ds, err := ReadImageFolder(dir, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ds.N != 3 || ds.C != 3 || ds.H != 10 || ds.W != 10 || ds.Labels != nil {
		t.Fatalf("shape N=%d C=%d H=%d W=%d", ds.N, ds.C, ds.H, ds.W)
	}
	if err := ds.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[[2]int][3]float32{{0, 0}: {1, 0, 0}, {4, 4}: {1, 0, 0}, {0, 9}: {0, 1, 0}, {4, 5}: {0, 1, 0},
		{9, 9}: {0, 0, 1}, {5, 5}: {0, 0, 1}, {9, 0}: {1, 1, 1}, {5, 4}: {1, 1, 1}}
	for i := 0; i < 2; i++ { // PNGs are exact: no magenta from the cropped margins anywhere
		for yx, c := range want {
			if got := rgbAt(ds, i, yx[0], yx[1]); got != c {
				t.Errorf("image %d pixel %v = %v, want %v", i, yx, got, c)
			}
		}
	}
	// The JPEG (32x32 centre -> 10: non-integer area weights) is lossy: compare loosely, away
	// from the quadrant edges.
	for yx, c := range map[[2]int][3]float32{{1, 1}: {1, 0, 0}, {1, 8}: {0, 1, 0}, {8, 8}: {0, 0, 1}, {8, 1}: {1, 1, 1}} {
		got := rgbAt(ds, 2, yx[0], yx[1])
		for ch := range 3 {
			if math.Abs(float64(got[ch]-c[ch])) > 0.08 {
				t.Errorf("jpeg pixel %v = %v, want about %v", yx, got, c)
			}
		}
	}
	// Limit keeps the first files in sorted order.
	first, err := ReadImageFolder(dir, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	if first.N != 1 || !equal(first.Image(0), ds.Image(0)) {
		t.Error("limit 1 did not return the first sorted image")
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadImageFolderAreaAverage(t *testing.T) {
	tests := []struct {
		name     string
		src, dst int
	}{{"down by 4", 64, 16}, {"down non-integer", 50, 32}, {"up", 16, 32}, {"same", 32, 32}, {"to 64", 100, 64}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Grey vertical stripes 0/255 of width 1: any area average over whole stripes is 0.5,
			// and the overall mean must be preserved whatever the scale.
			g := image.NewGray(image.Rect(0, 0, tc.src, tc.src))
			for y := 0; y < tc.src; y++ {
				for x := 0; x < tc.src; x++ {
					g.SetGray(x, y, color.Gray{uint8(255 * (x % 2))})
				}
			}
			dir := t.TempDir()
			writeFile(t, dir, "g.png", encodePNG(t, g))
			ds, err := ReadImageFolder(dir, tc.dst, 0)
			if err != nil {
				t.Fatal(err)
			}
			p := tc.dst * tc.dst
			var sum float64
			for k := 0; k < p; k++ {
				r, gg, b := ds.Pixels[k], ds.Pixels[p+k], ds.Pixels[2*p+k]
				if r != gg || gg != b {
					t.Fatalf("grey image gave unequal channels %v %v %v", r, gg, b)
				}
				sum += float64(r)
			}
			if mean := sum / float64(p); math.Abs(mean-0.5) > 1e-3 {
				t.Errorf("mean %v, want 0.5 (area averaging preserves the mean)", mean)
			}
			if tc.src%tc.dst == 0 && tc.src/tc.dst%2 == 0 {
				for k := 0; k < p; k++ {
					if math.Abs(float64(ds.Pixels[k])-0.5) > 1e-6 {
						t.Fatalf("pixel %d = %v, want exactly 0.5", k, ds.Pixels[k])
					}
				}
			}
		})
	}
}

func TestReadImageFolderErrors(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "readme.txt", []byte("x"))
		_, err := ReadImageFolder(dir, 32, 0)
		wantFileErr(t, err, ErrNotFound, dir, "no .png")
	})
	t.Run("undecodable", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "a.png", encodePNG(t, quadrantImage(8, 8)))
		bad := writeFile(t, dir, "b.jpg", []byte("\xff\xd8\xff garbage"))
		_, err := ReadImageFolder(dir, 32, 0)
		wantFileErr(t, err, ErrCorrupt, bad)
	})
	t.Run("truncated png", func(t *testing.T) {
		dir := t.TempDir()
		b := encodePNG(t, quadrantImage(64, 64))
		bad := writeFile(t, dir, "t.png", b[:len(b)/2])
		_, err := ReadImageFolder(dir, 32, 0)
		wantFileErr(t, err, ErrCorrupt, bad)
	})
	t.Run("lying png header", func(t *testing.T) {
		// A valid tiny PNG whose IHDR (CRC fixed up) claims 100000 x 100000 pixels.
		b := encodePNG(t, quadrantImage(4, 4))
		ihdr := b[8+8 : 8+8+13] // after signature, length and "IHDR"
		binary.BigEndian.PutUint32(ihdr[0:], 100000)
		binary.BigEndian.PutUint32(ihdr[4:], 100000)
		binary.BigEndian.PutUint32(b[8+8+13:], crc32.ChecksumIEEE(b[8+4:8+8+13]))
		dir := t.TempDir()
		bad := writeFile(t, dir, "huge.png", b)
		_, err := ReadImageFolder(dir, 32, 0)
		wantFileErr(t, err, ErrCorrupt, bad, "refusing")
	})
	t.Run("bad size", func(t *testing.T) {
		if _, err := ReadImageFolder(t.TempDir(), 0, 0); err == nil {
			t.Error("size 0: want an error")
		}
	})
}
