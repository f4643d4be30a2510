package safefile

import (
	"fmt"
	"image"
	_ "image/jpeg" // register the JPEG decoder for image.Decode
	_ "image/png"  // register the PNG decoder for image.Decode
	"io"
)

// MaxImagePixels is the largest width*height ReadImage decodes (64 Mpixel, 256 MiB as
// RGBA): far beyond any image mdsm reads, far below what a lying header could ask for.
const MaxImagePixels = 64 << 20

// ReadImage decodes a PNG or JPEG file after checking, from its header, that it declares
// between 1 and maxPixels pixels (MaxImagePixels when maxPixels <= 0): a small file that
// claims an enormous size is refused instead of allocated. Errors name path.
func ReadImage(path string, maxPixels int64) (image.Image, error) {
	f, _, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := DecodeImage(f, maxPixels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// DecodeImageConfig reads an image header and checks that it declares between 1 and
// maxPixels pixels (MaxImagePixels when maxPixels <= 0).
func DecodeImageConfig(r io.Reader, maxPixels int64) (image.Config, error) {
	if maxPixels <= 0 {
		maxPixels = MaxImagePixels
	}
	cfg, _, err := image.DecodeConfig(r)
	if err != nil {
		return cfg, fmt.Errorf("cannot read the image header (not a PNG or JPEG, or damaged): %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return cfg, fmt.Errorf("image claims %dx%d pixels (limit %d): refusing to decode it", cfg.Width, cfg.Height, maxPixels)
	}
	return cfg, nil
}

// DecodeImage is ReadImage on an open file (or any seekable reader); its errors do not
// name the file.
func DecodeImage(r io.ReadSeeker, maxPixels int64) (image.Image, error) {
	if _, err := DecodeImageConfig(r, maxPixels); err != nil {
		return nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("cannot decode the image: %w", err)
	}
	return img, nil
}
