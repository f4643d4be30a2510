package sampling

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"mdsm/internal/safefile"
)

// GridPadGrey is the grey level (0-255) of the padding between and around grid cells: mid grey,
// so that the black backgrounds of MNIST-like images stay distinguishable from the gaps.
const GridPadGrey = 128

// Grid lays out n images (NCHW float32, c = 1 grey or 3 RGB, h x w) in a grid of cols columns
// (cols <= 0: ceil(sqrt(n))) and as many rows as needed, row-major, with pad pixels of
// GridPadGrey between cells and around the border. Image i sits at column i%cols, row i/cols,
// its top-left pixel at (pad + col*(w+pad), pad + row*(h+pad)). Pixel values are clamped to
// [0,1] and rounded to 8 bits for display only (NaN shows as 0); the data are not changed.
func Grid(images []float32, n, c, h, w, cols, pad int) (*image.RGBA, error) {
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("sampling: grid needs 1 or 3 channels (got %d)", c)
	}
	if h < 1 || w < 1 || pad < 0 {
		return nil, fmt.Errorf("sampling: grid image size %dx%d, pad %d invalid", h, w, pad)
	}
	if err := checkImages(images, n, c*h*w); err != nil {
		return nil, fmt.Errorf("sampling: grid: %w", err)
	}
	if cols <= 0 {
		cols = int(math.Ceil(math.Sqrt(float64(n))))
	}
	cols = min(cols, n)
	rows := (n + cols - 1) / cols
	W, H := cols*w+(cols+1)*pad, rows*h+(rows+1)*pad
	if W > 1<<15 || H > 1<<15 {
		return nil, fmt.Errorf("sampling: grid of %dx%d pixels is too large", W, H)
	}
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = GridPadGrey, GridPadGrey, GridPadGrey, 255
	}
	hw := h * w
	for i := range n {
		x0, y0 := pad+(i%cols)*(w+pad), pad+(i/cols)*(h+pad)
		base := i * c * hw
		for y := range h {
			for x := range w {
				o := img.PixOffset(x0+x, y0+y)
				for ch := range 3 {
					src := ch
					if c == 1 {
						src = 0
					}
					img.Pix[o+ch] = to8(images[base+src*hw+y*w+x])
				}
			}
		}
	}
	return img, nil
}

// to8 maps [0,1] to 0..255 with clamping; NaN maps to 0.
func to8(v float32) uint8 {
	if !(v > 0) {
		return 0
	}
	if v >= 1 {
		return 255
	}
	return uint8(math.Round(float64(v) * 255))
}

// WritePNG encodes img as PNG to path atomically: it writes a temporary file in the same
// directory, syncs it and renames it over path, so readers (a watching viewer, a TUI refresh)
// never see a half-written file.
func WritePNG(path string, img image.Image) error {
	if img == nil {
		return errors.New("sampling: write png: nil image")
	}
	return safefile.WriteAtomic(path, func(w io.Writer) error { return png.Encode(w, img) })
}
