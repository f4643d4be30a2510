package data

import (
	"fmt"
	"math"
)

// Downsample returns a copy of d with every image reduced to size x size by area averaging
// (each output pixel is the mean of the input pixels it covers, fractional overlaps weighted),
// the resampling that keeps stroke intensity for digits. It returns d itself when the images
// already have that size and an error when size is larger or not positive.
func (d *Dataset) Downsample(size int) (*Dataset, error) {
	if d.H == size && d.W == size {
		return d, nil
	}
	if size < 1 || size > d.H || size > d.W {
		return nil, fmt.Errorf("dataset %q: cannot downsample %dx%d images to %dx%d", d.Name, d.H, d.W, size, size)
	}
	ty, tx := areaTaps(d.H, size), areaTaps(d.W, size)
	out := &Dataset{Name: d.Name, N: d.N, C: d.C, H: size, W: size, Labels: d.Labels,
		Pixels: make([]float32, d.N*d.C*size*size)}
	for p := 0; p < d.N*d.C; p++ {
		src := d.Pixels[p*d.H*d.W : (p+1)*d.H*d.W]
		dst := out.Pixels[p*size*size : (p+1)*size*size]
		for y, ry := range ty {
			for x, rx := range tx {
				var s float32
				for _, a := range ry {
					for _, b := range rx {
						s += a.w * b.w * src[a.i*d.W+b.i]
					}
				}
				dst[y*size+x] = clamp01(s)
			}
		}
	}
	return out, nil
}

// Upsample returns a copy of d with every image enlarged to size x size by bilinear
// interpolation between pixel centres (output pixel o samples the input at
// (o+0.5)*in/size - 0.5, clamped to the image), the inverse direction of Downsample. It
// returns d itself when the images already have that size and an error when size is
// smaller.
func (d *Dataset) Upsample(size int) (*Dataset, error) {
	if d.H == size && d.W == size {
		return d, nil
	}
	if size < d.H || size < d.W {
		return nil, fmt.Errorf("dataset %q: cannot upsample %dx%d images to %dx%d", d.Name, d.H, d.W, size, size)
	}
	ty, tx := bilinearTaps(d.H, size), bilinearTaps(d.W, size)
	out := &Dataset{Name: d.Name, N: d.N, C: d.C, H: size, W: size, Labels: d.Labels,
		Pixels: make([]float32, d.N*d.C*size*size)}
	for p := 0; p < d.N*d.C; p++ {
		src := d.Pixels[p*d.H*d.W : (p+1)*d.H*d.W]
		dst := out.Pixels[p*size*size : (p+1)*size*size]
		for y, ry := range ty {
			for x, rx := range tx {
				var s float32
				for _, a := range ry {
					for _, b := range rx {
						s += a.w * b.w * src[a.i*d.W+b.i]
					}
				}
				dst[y*size+x] = clamp01(s)
			}
		}
	}
	return out, nil
}

// bilinearTaps returns, for each of dst output samples, the two source samples (of src)
// it interpolates between and their weights.
func bilinearTaps(src, dst int) [][]tap {
	taps := make([][]tap, dst)
	for o := range taps {
		c := (float64(o)+0.5)*float64(src)/float64(dst) - 0.5
		c = math.Max(0, math.Min(c, float64(src-1)))
		i := int(math.Floor(c))
		f := c - float64(i)
		taps[o] = []tap{{i, float32(1 - f)}}
		if f > 0 && i+1 < src {
			taps[o] = append(taps[o], tap{i + 1, float32(f)})
		}
	}
	return taps
}

// Crop returns a copy of d with every image cut to its centre size x size, the inverse of
// Pad. It returns d itself when the images already have that size and an error when size
// is larger.
func (d *Dataset) Crop(size int) (*Dataset, error) {
	if d.H == size && d.W == size {
		return d, nil
	}
	if size < 1 || size > d.H || size > d.W {
		return nil, fmt.Errorf("dataset %q: cannot crop %dx%d images to %dx%d", d.Name, d.H, d.W, size, size)
	}
	top, left := (d.H-size)/2, (d.W-size)/2
	out := &Dataset{Name: d.Name, N: d.N, C: d.C, H: size, W: size, Labels: d.Labels,
		Pixels: make([]float32, d.N*d.C*size*size)}
	for p := 0; p < d.N*d.C; p++ {
		src := d.Pixels[p*d.H*d.W:]
		dst := out.Pixels[p*size*size:]
		for y := 0; y < size; y++ {
			copy(dst[y*size:(y+1)*size], src[(y+top)*d.W+left:(y+top)*d.W+left+size])
		}
	}
	return out, nil
}

// Resize brings images of MNIST's native 28x28 (or any size) to size x size the way the
// IDX readers do: zero-padded when size is larger, area-downsampled when smaller.
func (d *Dataset) Resize(size int) (*Dataset, error) {
	if size >= d.H && size >= d.W {
		return d.Pad(size)
	}
	return d.Downsample(size)
}
