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

// Ungrid reads back the n images (NCHW float32 in [0,1], c = 1 or 3, h x w) of a picture
// that Grid laid out with cols columns (<= 0: ceil(sqrt(n))) and pad pixels: the 8-bit
// pixels of a saved grid, such as a run's periodic sample grid. A picture of another size
// is an error that says which size a grid of n such images has.
func Ungrid(img image.Image, n, c, h, w, cols, pad int) ([]float32, error) {
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("sampling: grid needs 1 or 3 channels (got %d)", c)
	}
	if n < 1 || h < 1 || w < 1 || pad < 0 {
		return nil, fmt.Errorf("sampling: %d images of %dx%d, pad %d: nothing to read", n, h, w, pad)
	}
	if cols <= 0 {
		cols = int(math.Ceil(math.Sqrt(float64(n))))
	}
	cols = min(cols, n)
	rows := (n + cols - 1) / cols
	W, H := cols*w+(cols+1)*pad, rows*h+(rows+1)*pad
	b := img.Bounds()
	if b.Dx() != W || b.Dy() != H {
		return nil, fmt.Errorf("sampling: the picture is %dx%d; a grid of %d images of %dx%d is %dx%d", b.Dx(), b.Dy(), n, w, h, W, H)
	}
	hw := h * w
	out := make([]float32, n*c*hw)
	for i := range n {
		x0, y0 := b.Min.X+pad+(i%cols)*(w+pad), b.Min.Y+pad+(i/cols)*(h+pad)
		for y := range h {
			for x := range w {
				r, g, bl, _ := img.At(x0+x, y0+y).RGBA()
				px := [3]uint32{r, g, bl}
				for ch := range c {
					out[i*c*hw+ch*hw+y*w+x] = float32(px[ch]>>8) / 255
				}
			}
		}
	}
	return out, nil
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

// UngridImage cuts a grid written by Grid (pad pixels of GridPadGrey between and around
// square cells) back into its images, NCHW float32 in [0,1] (8-bit, as the PNG stored
// them). cell is the cell side, or 0 to find it: the smallest side s >= 4 for which every
// pixel of the pad lines at multiples of s+pad is GridPadGrey. Cells that are all pad grey
// (the unused end of the last row) are skipped. c is 3 when any pixel has unequal red,
// green and blue, else 1.
func UngridImage(img image.Image, cell, pad int) (imgs []float32, n, c, side int, err error) {
	b := img.Bounds()
	W, H := b.Dx(), b.Dy()
	at := func(x, y int) (uint8, uint8, uint8) {
		r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
		return uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)
	}
	grey := func(x, y int) bool {
		r, g, bl := at(x, y)
		return r == GridPadGrey && g == GridPadGrey && bl == GridPadGrey
	}
	fits := func(s int) bool {
		step := s + pad
		if s < 1 || (W-pad)%step != 0 || (H-pad)%step != 0 {
			return false
		}
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				if (x%step < pad || y%step < pad) && !grey(x, y) {
					return false
				}
			}
		}
		// No line inside the first cell is all grey: that would be a gap, and s a wrong
		// guess that happens to fit the gaps at its multiples.
		for i := pad; i < pad+s; i++ {
			colGrey, rowGrey := true, true
			for j := pad; j < pad+s; j++ {
				colGrey = colGrey && grey(i, j)
				rowGrey = rowGrey && grey(j, i)
			}
			if colGrey || rowGrey {
				return false
			}
		}
		return true
	}
	if cell > 0 {
		if !fits(cell) {
			return nil, 0, 0, 0, fmt.Errorf("sampling: a %dx%d image is not a grid of %d-pixel cells with %d-pixel grey (%d) gaps", W, H, cell, pad, GridPadGrey)
		}
	} else {
		for s := 4; s+2*pad <= min(W, H); s++ {
			if fits(s) {
				cell = s
				break
			}
		}
		if cell == 0 {
			return nil, 0, 0, 0, fmt.Errorf("sampling: a %dx%d image is not a sample grid (square cells with %d-pixel grey (%d) gaps, as mdsm writes them); give the cell size if it is one", W, H, pad, GridPadGrey)
		}
	}
	step := cell + pad
	cols, rows := (W-pad)/step, (H-pad)/step
	type box struct{ x0, y0 int }
	var cells []box
	c = 1
	for r := range rows {
		for k := range cols {
			x0, y0 := pad+k*step, pad+r*step
			empty := true
			for y := y0; y < y0+cell; y++ {
				for x := x0; x < x0+cell; x++ {
					red, g, bl := at(x, y)
					if red != GridPadGrey || g != GridPadGrey || bl != GridPadGrey {
						empty = false
					}
					if red != g || g != bl {
						c = 3
					}
				}
			}
			if !empty {
				cells = append(cells, box{x0, y0})
			}
		}
	}
	plane := cell * cell
	imgs = make([]float32, len(cells)*c*plane)
	for i, bx := range cells {
		for y := range cell {
			for x := range cell {
				rgb := [3]uint8{}
				rgb[0], rgb[1], rgb[2] = at(bx.x0+x, bx.y0+y)
				for ch := range c {
					imgs[(i*c+ch)*plane+y*cell+x] = float32(rgb[ch]) / 255
				}
			}
		}
	}
	return imgs, len(cells), c, cell, nil
}
