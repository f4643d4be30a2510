package sampling

import (
	"errors"
	"fmt"
	"math"

	"mdsm/dist"
)

// Denoise applies the single-step denoising jump (paper eq. 9, REFERENCE: Annealed Langevin
// sampling) to the n images in noisy:
//
//	x_clean = x_noisy - sigma0^2 dE/dx(x_noisy).
//
// For an MDSM model the gradient has the right magnitude to denoise any noise level (the
// empirical Bayes / Tweedie estimate under sigma0 noise; for larger noise it is still the
// trained direction). One EnergyGrad call on all n images: chunk large sets yourself.
func Denoise(e Energy, noisy []float32, n int, sigma0 float64) ([]float32, error) {
	if e == nil {
		return nil, errors.New("sampling: nil energy")
	}
	if _, err := imageDim(noisy, n); err != nil {
		return nil, err
	}
	if !finite(sigma0) || sigma0 < 0 {
		return nil, fmt.Errorf("sampling: sigma0 = %v must be finite and >= 0", sigma0)
	}
	en := make([]float32, n)
	g := make([]float32, len(noisy))
	e.EnergyGrad(noisy, n, en, g)
	s2 := sigma0 * sigma0
	out := make([]float32, len(noisy))
	for i, v := range noisy {
		out[i] = float32(float64(v) - s2*float64(g[i]))
	}
	if err := CheckFinite("sampling: denoised images", out); err != nil {
		return nil, fmt.Errorf("%w: the model's gradient overflowed on this input", err)
	}
	return out, nil
}

// DenoiseOn applies Denoise to the n images of noisy in batches of batch images, the
// batches shared by the ranks of c (see "Sharded work"): every rank passes all n images,
// runs its own batches with e, and rank 0 returns all n denoised images (nil elsewhere).
func DenoiseOn(c dist.Comm, e Energy, noisy []float32, n, batch int, sigma0 float64) ([]float32, error) {
	c = orSingle(c)
	dim, err := imageDim(noisy, n)
	if err != nil {
		return nil, err
	}
	if batch < 1 {
		return nil, fmt.Errorf("sampling: batch size %d must be >= 1", batch)
	}
	nb := (n + batch - 1) / batch
	blo, bhi := dist.Span(nb, c.Rank(), c.Size())
	var out []float32
	for b := blo; b < bhi && err == nil; b++ {
		lo, hi := b*batch, min(n, (b+1)*batch)
		var den []float32
		den, err = Denoise(e, noisy[lo*dim:hi*dim], hi-lo, sigma0)
		out = append(out, den...)
	}
	if err := dist.Agree(c, err); err != nil {
		return nil, err
	}
	return gatherPieces(c, nb, func(b int) int { return min(batch, n-b*batch) * dim }, out)
}

// AddNoise returns x + sigma z, z ~ N(0, I) from a generator seeded with seed (x is unchanged).
// No clipping: the models are trained on unclipped noisy images.
func AddNoise(x []float32, sigma float64, seed uint64) []float32 {
	rng := newRand(seed)
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(float64(v) + sigma*rng.NormFloat64())
	}
	return out
}

// PSNR returns the peak signal-to-noise ratio 10 log10(peak^2 / MSE) in dB of each of the n
// image pairs in a and b, and the mean of those values (the usual "mean PSNR" of denoising
// tables, not the PSNR of the mean MSE). Pixels in [0,1] use peak = 1. Identical images give
// +Inf (and then the mean is +Inf); an image holding NaN or Inf is an error.
func PSNR(a, b []float32, n int, peak float64) ([]float64, float64, error) {
	dim, err := imageDim(a, n)
	if err != nil {
		return nil, 0, err
	}
	if len(b) != len(a) {
		return nil, 0, fmt.Errorf("sampling: psnr: lengths differ (%d, %d)", len(a), len(b))
	}
	if !finite(peak) || peak <= 0 {
		return nil, 0, fmt.Errorf("sampling: psnr peak %v must be finite and > 0", peak)
	}
	per := make([]float64, n)
	mean := 0.0
	for i := range n {
		s := 0.0
		for j := i * dim; j < (i+1)*dim; j++ {
			d := float64(a[j]) - float64(b[j])
			s += d * d
		}
		mse := s / float64(dim)
		if math.IsNaN(mse) || math.IsInf(mse, 0) {
			return nil, 0, fmt.Errorf("sampling: psnr of image %d: its squared error is %v (an image holds NaN or Inf)", i, mse)
		}
		per[i] = 10 * math.Log10(peak*peak/mse)
		mean += per[i]
	}
	return per, mean / float64(n), nil
}
