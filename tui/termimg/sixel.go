package termimg

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"sync"

	"github.com/mattn/go-sixel"
)

// Sixel colour registers hold percentages, so 101 grey levels are all a
// terminal can show; the fixed grey palette has exactly those.
const greyLevels = 101

// maxRegisters is the number of colour registers an encoded image uses at
// most (xterm -ti vt340 needs numColorRegisters: 256 for more than 16).
const maxRegisters = 255

var (
	// greyPalette[k] is the grey whose sixel register is exactly k percent
	// (go-sixel writes floor(Y*100/255), so Y = ceil(k*255/100)).
	greyPalette color.Palette
	// greyIndex maps an 8-bit grey to the nearest greyPalette index.
	greyIndex [256]uint8
)

func init() {
	greyPalette = make(color.Palette, greyLevels)
	for k := range greyLevels {
		greyPalette[k] = color.Gray{Y: uint8((k*255 + 99) / 100)}
	}
	for v := range 256 {
		greyIndex[v] = uint8((v*100 + 127) / 255)
	}
}

// sixelEncoder is a pooled go-sixel encoder with its output buffer: go-sixel
// keeps scratch buffers in the Encoder, so reuse saves allocations.
type sixelEncoder struct {
	buf bytes.Buffer
	enc *sixel.Encoder
}

var sixelPool = sync.Pool{New: func() any {
	e := &sixelEncoder{}
	e.enc = sixel.NewEncoder(&e.buf)
	return e
}}

// EncodeSixel encodes img as a DEC sixel sequence (DCS ... ST) at its own
// size; scale it with [Scale] first. Greyscale images (*image.Gray, or
// RGBA/NRGBA whose opaque pixels all have r == g == b) use a fixed palette
// of the 101 greys a sixel register can hold, and images that are grey
// except for a few colours (markers, highlight borders; up to 154 distinct)
// add those colours exactly: both skip go-sixel's adaptive median-cut
// palette, which is ~10x slower. Other images, and images with transparent
// pixels, use go-sixel's adaptive 255-colour palette.
func EncodeSixel(img image.Image) ([]byte, error) {
	if img == nil {
		return nil, errors.New("termimg: encode sixel: nil image")
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, fmt.Errorf("termimg: encode sixel: empty image (%dx%d)", b.Dx(), b.Dy())
	}
	var src image.Image = img
	pal := toGreyPaletted(img)
	if pal != nil {
		src = pal
	}
	e := sixelPool.Get().(*sixelEncoder)
	defer sixelPool.Put(e)
	e.buf.Reset()
	if err := e.enc.Encode(src); err != nil {
		return nil, fmt.Errorf("termimg: encode sixel: %w", err)
	}
	return bytes.Clone(e.buf.Bytes()), nil
}

// toGreyPaletted maps img onto the fixed grey palette plus up to
// maxRegisters-greyLevels exact extra colours. It returns nil when img
// needs the adaptive path (too many colours or transparency).
func toGreyPaletted(img image.Image) *image.Paletted {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dst := image.NewPaletted(image.Rect(0, 0, w, h), greyPalette)
	if g, ok := img.(*image.Gray); ok {
		for y := range h {
			srow := g.Pix[g.PixOffset(b.Min.X, b.Min.Y+y):]
			drow := dst.Pix[y*dst.Stride : y*dst.Stride+w]
			for x := range drow {
				drow[x] = greyIndex[srow[x]]
			}
		}
		return dst
	}
	var pix []byte
	var stride int
	switch s := img.(type) {
	case *image.RGBA:
		pix, stride = s.Pix[s.PixOffset(b.Min.X, b.Min.Y):], s.Stride
	case *image.NRGBA:
		pix, stride = s.Pix[s.PixOffset(b.Min.X, b.Min.Y):], s.Stride
	default:
		rgba := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
		pix, stride = rgba.Pix, rgba.Stride
	}
	var extra map[uint32]uint8
	for y := range h {
		row := pix[y*stride : y*stride+4*w]
		drow := dst.Pix[y*dst.Stride : y*dst.Stride+w]
		for x := range drow {
			r, g, bl, a := row[4*x], row[4*x+1], row[4*x+2], row[4*x+3]
			if a != 0xff {
				return nil
			}
			if r == g && g == bl {
				drow[x] = greyIndex[r]
				continue
			}
			key := uint32(r)<<16 | uint32(g)<<8 | uint32(bl)
			idx, ok := extra[key]
			if !ok {
				if len(dst.Palette) >= maxRegisters {
					return nil
				}
				if extra == nil {
					extra = make(map[uint32]uint8)
					// Copy so the shared grey palette is never appended to.
					dst.Palette = append(make(color.Palette, 0, maxRegisters), greyPalette...)
				}
				idx = uint8(len(dst.Palette))
				dst.Palette = append(dst.Palette, color.RGBA{R: r, G: g, B: bl, A: 0xff})
				extra[key] = idx
			}
			drow[x] = idx
		}
	}
	return dst
}
