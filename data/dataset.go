// Package data holds image datasets in memory and everything needed to get them there:
// readers for IDX (MNIST, Fashion-MNIST), CIFAR-10 binary batches and folders of PNG/JPEG
// images, a small real MNIST subset compiled into the binary (so the program trains with no
// download), a resumable checksummed downloader, and a seeded, restorable mini-batch sampler.
//
// Every reader produces a *Dataset: float32 pixels in [0,1], NCHW order. MNIST-style 28x28
// images are zero-padded to 32x32 by default, because the energy network halves the image size
// at every stage and wants a power of two.
//
// Readers never panic on bad input and never trust a header to size an allocation: a corrupt
// or truncated file is an error that names the file and says how to fix it (errors.Is(err,
// ErrCorrupt)); a missing one names the path and the download command (errors.Is(err,
// ErrNotFound)).
package data

import (
	"errors"
	"fmt"
)

// ErrCorrupt is wrapped by every error about a dataset file whose contents are wrong (bad magic,
// bad dimensions, truncated data, label count mismatch), so callers can tell "re-download" from
// other failures with errors.Is.
var ErrCorrupt = errors.New("corrupt dataset file")

// ErrNotFound is wrapped by every error about a dataset that is not on disk, so the CLI can offer
// to download it.
var ErrNotFound = errors.New("dataset not found")

// DefaultSize is the side length images are brought to when Options.Size is zero: 28x28 IDX
// images are zero-padded (2 pixels each side) to it and image folders are resized to it.
const DefaultSize = 32

// Dataset is a set of equally sized images held in memory as float32 NCHW pixels in [0,1],
// with optional integer class labels. It is the one type every reader returns and every
// consumer (training, sampling, nearest neighbours) takes.
type Dataset struct {
	// Name says where the images came from, e.g. "mnist/train" or "celeba/train".
	Name string
	// N is the number of images; C, H, W are channels, height and width of each.
	N, C, H, W int
	// Pixels holds N*C*H*W values in NCHW order, each in [0,1].
	Pixels []float32
	// Labels holds one class label per image (len N), or is nil when the source has none.
	Labels []int
}

// Dim returns the number of values in one image (C*H*W): the stride between images in Pixels.
func (d *Dataset) Dim() int { return d.C * d.H * d.W }

// Image returns image i as a slice of Pixels (CHW order). It shares memory with the dataset:
// copy it before modifying. It panics if i is out of range, like any slice index.
func (d *Dataset) Image(i int) []float32 {
	dim := d.Dim()
	return d.Pixels[i*dim : (i+1)*dim : (i+1)*dim]
}

// Label returns the class label of image i, or -1 when the dataset has no labels.
func (d *Dataset) Label(i int) int {
	if d.Labels == nil {
		return -1
	}
	return d.Labels[i]
}

// Slice returns images lo..hi-1 as a new Dataset header that shares Pixels and Labels with d
// (no copy), for cheap train/validation splits and previews. It panics if the range is invalid,
// like a slice expression.
func (d *Dataset) Slice(lo, hi int) *Dataset {
	dim := d.Dim()
	s := &Dataset{Name: d.Name, N: hi - lo, C: d.C, H: d.H, W: d.W,
		Pixels: d.Pixels[lo*dim : hi*dim : hi*dim]}
	if d.Labels != nil {
		s.Labels = d.Labels[lo:hi:hi]
	}
	return s
}

// Subset returns a new Dataset holding copies of the images (and labels) at the given indices,
// in that order; indices may repeat. It panics if an index is out of range.
func (d *Dataset) Subset(idx []int) *Dataset {
	dim := d.Dim()
	s := &Dataset{Name: d.Name, N: len(idx), C: d.C, H: d.H, W: d.W,
		Pixels: make([]float32, len(idx)*dim)}
	if d.Labels != nil {
		s.Labels = make([]int, len(idx))
	}
	for k, i := range idx {
		copy(s.Pixels[k*dim:(k+1)*dim], d.Image(i))
		if d.Labels != nil {
			s.Labels[k] = d.Labels[i]
		}
	}
	return s
}

// Validate checks that the shape fields agree with the slice lengths and that every pixel is in
// [0,1], so code that builds a Dataset by hand fails early instead of deep inside training.
func (d *Dataset) Validate() error {
	if d.N < 0 || d.C <= 0 || d.H <= 0 || d.W <= 0 {
		return fmt.Errorf("dataset %q: bad shape N=%d C=%d H=%d W=%d", d.Name, d.N, d.C, d.H, d.W)
	}
	if len(d.Pixels) != d.N*d.Dim() {
		return fmt.Errorf("dataset %q: %d pixels, want N*C*H*W = %d", d.Name, len(d.Pixels), d.N*d.Dim())
	}
	if d.Labels != nil && len(d.Labels) != d.N {
		return fmt.Errorf("dataset %q: %d labels for %d images", d.Name, len(d.Labels), d.N)
	}
	for i, v := range d.Pixels {
		if !(v >= 0 && v <= 1) { // also catches NaN
			return fmt.Errorf("dataset %q: pixel %d = %v is outside [0,1]", d.Name, i, v)
		}
	}
	return nil
}

// Pad returns a copy of d with every image zero-padded to size x size, centred (for 28 -> 32:
// two pixels on each side). It returns d itself when the images already have that size, and an
// error when they are larger.
func (d *Dataset) Pad(size int) (*Dataset, error) {
	if d.H == size && d.W == size {
		return d, nil
	}
	if size < d.H || size < d.W {
		return nil, fmt.Errorf("dataset %q: cannot pad %dx%d images to %dx%d: target is smaller", d.Name, d.H, d.W, size, size)
	}
	top, left := (size-d.H)/2, (size-d.W)/2
	out := &Dataset{Name: d.Name, N: d.N, C: d.C, H: size, W: size, Labels: d.Labels,
		Pixels: make([]float32, d.N*d.C*size*size)}
	for n := 0; n < d.N; n++ {
		for c := 0; c < d.C; c++ {
			src := d.Pixels[(n*d.C+c)*d.H*d.W:]
			dst := out.Pixels[(n*d.C+c)*size*size:]
			for y := 0; y < d.H; y++ {
				copy(dst[(y+top)*size+left:(y+top)*size+left+d.W], src[y*d.W:(y+1)*d.W])
			}
		}
	}
	return out, nil
}
