package termimg

import (
	"image"
	"image/draw"
)

// FitSize returns the largest size with the aspect ratio of a w x h image
// that fits in a wBox x hBox pixel box (at least 1x1 for a non-empty image
// and box; 0, 0 otherwise).
func FitSize(w, h, wBox, hBox int) (int, int) {
	if w <= 0 || h <= 0 || wBox <= 0 || hBox <= 0 {
		return 0, 0
	}
	// Compare wBox/w with hBox/h without floating point.
	var fw, fh int
	if int64(wBox)*int64(h) <= int64(hBox)*int64(w) {
		fw, fh = wBox, int(int64(h)*int64(wBox)/int64(w))
	} else {
		fw, fh = int(int64(w)*int64(hBox)/int64(h)), hBox
	}
	return max(fw, 1), max(fh, 1)
}

// Scale resizes img with nearest-neighbour sampling to the largest size
// that fits in a wPx x hPx box keeping its aspect ratio, up or down
// (go-sixel crops rather than scales, so images are scaled first). Nearest
// neighbour keeps digit pixels crisp. A *image.Gray stays *image.Gray (the
// fast grey sixel path); anything else becomes *image.RGBA. An image that
// already has the target size is returned as is. An empty image or box
// gives an empty image, never a panic.
func Scale(img image.Image, wPx, hPx int) image.Image {
	if img == nil {
		return image.NewGray(image.Rectangle{})
	}
	b := img.Bounds()
	tw, th := FitSize(b.Dx(), b.Dy(), wPx, hPx)
	if tw == 0 {
		return image.NewGray(image.Rectangle{})
	}
	if tw == b.Dx() && th == b.Dy() {
		return img
	}
	xs := make([]int, tw)
	for x := range xs {
		xs[x] = x * b.Dx() / tw
	}
	switch src := img.(type) {
	case *image.Gray:
		dst := image.NewGray(image.Rect(0, 0, tw, th))
		for y := 0; y < th; y++ {
			sy := y * b.Dy() / th
			srow := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+sy):]
			drow := dst.Pix[y*dst.Stride : y*dst.Stride+tw]
			for x, sx := range xs {
				drow[x] = srow[sx]
			}
		}
		return dst
	default:
		rgba, ok := img.(*image.RGBA)
		if !ok {
			rgba = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
			draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
		}
		rb := rgba.Bounds()
		dst := image.NewRGBA(image.Rect(0, 0, tw, th))
		for y := 0; y < th; y++ {
			sy := y * rb.Dy() / th
			srow := rgba.Pix[rgba.PixOffset(rb.Min.X, rb.Min.Y+sy):]
			drow := dst.Pix[y*dst.Stride : y*dst.Stride+4*tw]
			for x, sx := range xs {
				copy(drow[4*x:4*x+4], srow[4*sx:4*sx+4])
			}
		}
		return dst
	}
}
