package sampling

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"
	"strings"

	"mdsm/internal/safefile"
)

// Mask marks, for each pixel of an H x W image, whether it is free (true: to be inpainted, moved
// by Langevin) or clamped to the truth (false). Row-major, len(Free) = H*W; one mask applies to
// every channel and every image of a batch.
type Mask struct {
	H, W int
	Free []bool
}

// Validate checks the mask's size.
func (m Mask) Validate() error {
	if m.H < 1 || m.W < 1 {
		return fmt.Errorf("sampling: mask size %dx%d must be positive", m.H, m.W)
	}
	if len(m.Free) != m.H*m.W {
		return fmt.Errorf("sampling: mask has %d entries, want %dx%d = %d", len(m.Free), m.H, m.W, m.H*m.W)
	}
	return nil
}

// FreeCount is the number of free pixels.
func (m Mask) FreeCount() int {
	k := 0
	for _, f := range m.Free {
		if f {
			k++
		}
	}
	return k
}

// Image renders the mask as a grey image, white = free, black = clamped (the same convention
// MaskFromImage reads).
func (m Mask) Image() *image.Gray {
	img := image.NewGray(image.Rect(0, 0, m.W, m.H))
	for i, f := range m.Free {
		if f {
			img.Pix[(i/m.W)*img.Stride+i%m.W] = 255
		}
	}
	return img
}

func newMask(h, w int) (Mask, error) {
	if h < 1 || w < 1 {
		return Mask{}, fmt.Errorf("sampling: mask size %dx%d must be positive", h, w)
	}
	return Mask{H: h, W: w, Free: make([]bool, h*w)}, nil
}

// CenterSquareMask frees a size x size square in the centre of an h x w image (offset
// ((h-size)/2, (w-size)/2), rounding towards the top left). 1 <= size <= min(h, w).
func CenterSquareMask(h, w, size int) (Mask, error) {
	m, err := newMask(h, w)
	if err != nil {
		return m, err
	}
	if size < 1 || size > min(h, w) {
		return Mask{}, fmt.Errorf("sampling: centre square size %d outside [1, %d]", size, min(h, w))
	}
	t, l := (h-size)/2, (w-size)/2
	for y := t; y < t+size; y++ {
		for x := l; x < l+size; x++ {
			m.Free[y*w+x] = true
		}
	}
	return m, nil
}

// HalfMask frees one half of an h x w image: side is "left", "right", "top" or "bottom", the
// half to be inpainted. For odd sizes the freed half is the smaller one (floor(w/2) columns or
// floor(h/2) rows).
func HalfMask(h, w int, side string) (Mask, error) {
	m, err := newMask(h, w)
	if err != nil {
		return m, err
	}
	var free func(y, x int) bool
	switch side {
	case "left":
		free = func(_, x int) bool { return x < w/2 }
	case "right":
		free = func(_, x int) bool { return x >= w-w/2 }
	case "top":
		free = func(y, _ int) bool { return y < h/2 }
	case "bottom":
		free = func(y, _ int) bool { return y >= h-h/2 }
	default:
		return Mask{}, fmt.Errorf("sampling: unknown half %q (want left, right, top or bottom)", side)
	}
	for y := range h {
		for x := range w {
			m.Free[y*w+x] = free(y, x)
		}
	}
	return m, nil
}

// RandomMask frees exactly round(frac*h*w) pixels chosen uniformly without replacement by a
// generator seeded with seed (a partial Fisher-Yates shuffle), 0 <= frac <= 1.
func RandomMask(h, w int, frac float64, seed uint64) (Mask, error) {
	m, err := newMask(h, w)
	if err != nil {
		return m, err
	}
	if math.IsNaN(frac) || frac < 0 || frac > 1 {
		return Mask{}, fmt.Errorf("sampling: random mask fraction %v outside [0,1]", frac)
	}
	k := int(math.Round(frac * float64(h*w)))
	perm := make([]int, h*w)
	for i := range perm {
		perm[i] = i
	}
	rng := newRand(seed)
	for i := range k {
		j := i + rng.IntN(len(perm)-i)
		perm[i], perm[j] = perm[j], perm[i]
		m.Free[perm[i]] = true
	}
	return m, nil
}

// MaskFromImage reads a mask from img: a pixel is free when its luminance is at least half of
// full scale (white = free, black = clamped). If img is not h x w it is resampled to h x w by
// nearest neighbour, so one drawn mask serves any resolution.
func MaskFromImage(img image.Image, h, w int) (Mask, error) {
	m, err := newMask(h, w)
	if err != nil {
		return m, err
	}
	if img == nil {
		return Mask{}, errors.New("sampling: nil mask image")
	}
	b := img.Bounds()
	if b.Empty() {
		return Mask{}, errors.New("sampling: empty mask image")
	}
	for y := range h {
		sy := b.Min.Y + (2*y+1)*b.Dy()/(2*h)
		for x := range w {
			sx := b.Min.X + (2*x+1)*b.Dx()/(2*w)
			g := color.Gray16Model.Convert(img.At(sx, sy)).(color.Gray16)
			m.Free[y*w+x] = g.Y >= 0x8000
		}
	}
	return m, nil
}

// MaskFromPNG reads a PNG mask file (white = free) and resamples it to h x w; see MaskFromImage.
func MaskFromPNG(path string, h, w int) (Mask, error) {
	img, err := safefile.ReadImage(path, 0)
	if err != nil {
		return Mask{}, fmt.Errorf("sampling: mask png: %w", err)
	}
	return MaskFromImage(img, h, w)
}

// ParseMask builds a mask from a command-line style spec: "center" or "center:SIZE" (default
// size half the smaller side), "left", "right", "top", "bottom", "random" or "random:FRAC"
// (default 0.5, seeded by seed), or "png:PATH".
func ParseMask(spec string, h, w int, seed uint64) (Mask, error) {
	name, arg, hasArg := strings.Cut(spec, ":")
	switch name {
	case "center", "centre":
		size := max(1, min(h, w)/2)
		if hasArg {
			v, err := strconv.Atoi(arg)
			if err != nil {
				return Mask{}, fmt.Errorf("sampling: mask %q: size: %w", spec, err)
			}
			size = v
		}
		return CenterSquareMask(h, w, size)
	case "left", "right", "top", "bottom":
		if hasArg {
			return Mask{}, fmt.Errorf("sampling: mask %q takes no argument", spec)
		}
		return HalfMask(h, w, name)
	case "random":
		frac := 0.5
		if hasArg {
			v, err := strconv.ParseFloat(arg, 64)
			if err != nil {
				return Mask{}, fmt.Errorf("sampling: mask %q: fraction: %w", spec, err)
			}
			frac = v
		}
		return RandomMask(h, w, frac, seed)
	case "png":
		if arg == "" {
			return Mask{}, fmt.Errorf("sampling: mask %q needs a path", spec)
		}
		return MaskFromPNG(arg, h, w)
	}
	return Mask{}, fmt.Errorf("sampling: unknown mask %q (want center[:size], left, right, top, bottom, random[:frac] or png:path)", spec)
}

// MaskedMSE returns the mean squared error between a and b (n images of c channels on the
// mask's grid) over the free pixels of m only, per image and averaged over images: the
// inpainting error. A mask without free pixels is an error.
func MaskedMSE(a, b []float32, n, c int, m Mask) ([]float64, float64, error) {
	if err := m.Validate(); err != nil {
		return nil, 0, err
	}
	if c < 1 {
		return nil, 0, fmt.Errorf("sampling: channels %d must be >= 1", c)
	}
	dim := c * m.H * m.W
	if err := checkImages(a, n, dim); err != nil {
		return nil, 0, err
	}
	if len(b) != len(a) {
		return nil, 0, fmt.Errorf("sampling: masked mse: lengths differ (%d, %d)", len(a), len(b))
	}
	k := m.FreeCount()
	if k == 0 {
		return nil, 0, errors.New("sampling: masked mse: mask has no free pixels")
	}
	hw := m.H * m.W
	per := make([]float64, n)
	mean := 0.0
	for i := range n {
		s := 0.0
		for j := range dim {
			if m.Free[j%hw] {
				d := float64(a[i*dim+j]) - float64(b[i*dim+j])
				s += d * d
			}
		}
		per[i] = s / float64(k*c)
		mean += per[i] / float64(n)
	}
	return per, mean, nil
}
