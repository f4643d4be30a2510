package data

import "fmt"

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
