package sampling

import (
	"fmt"
	"math"
)

// GaussianEnergy is the diagonal Gaussian energy
//
//	E(x) = sum_j (x_j - Mu_j)^2 / (2 Sigma_j^2) + Offset,
//
// whose Boltzmann density exp(-E) is N(Mu, diag(Sigma^2)) scaled by exp(-Offset), so its
// partition function is known in closed form (LogZ). It is the test double of this package
// (Langevin, denoising and AIS are checked against it) and is exported so that other packages
// (the CLI's self-checks, benchmarks) can run the samplers without a trained network.
// It is safe for concurrent use (it has no buffers); it panics if slice lengths do not match n
// and Dim, which is a programming error, not user input.
type GaussianEnergy struct {
	Mu     []float64
	Sigma  []float64
	Offset float64
}

// NewGaussianEnergy returns the diagonal Gaussian energy with means mu, standard deviations
// sigma (same length, all > 0) and additive offset.
func NewGaussianEnergy(mu, sigma []float64, offset float64) (*GaussianEnergy, error) {
	if len(mu) == 0 || len(mu) != len(sigma) {
		return nil, fmt.Errorf("sampling: gaussian energy needs equal, non-zero numbers of means and sigmas (%d, %d)", len(mu), len(sigma))
	}
	for j, s := range sigma {
		if !finite(s) || s <= 0 || !finite(mu[j]) {
			return nil, fmt.Errorf("sampling: gaussian energy dimension %d: mu = %v, sigma = %v (need finite, sigma > 0)", j, mu[j], s)
		}
	}
	if !finite(offset) {
		return nil, fmt.Errorf("sampling: gaussian energy offset %v is not finite", offset)
	}
	return &GaussianEnergy{Mu: append([]float64(nil), mu...), Sigma: append([]float64(nil), sigma...), Offset: offset}, nil
}

// NewIsotropicGaussianEnergy returns E(x) = |x - mu|^2/(2 sigma^2) + offset in dim dimensions.
func NewIsotropicGaussianEnergy(dim int, mu, sigma, offset float64) (*GaussianEnergy, error) {
	if dim < 1 {
		return nil, fmt.Errorf("sampling: gaussian energy dimension %d must be >= 1", dim)
	}
	m, s := make([]float64, dim), make([]float64, dim)
	for j := range m {
		m[j], s[j] = mu, sigma
	}
	return NewGaussianEnergy(m, s, offset)
}

// Dim is the number of scalars per image.
func (g *GaussianEnergy) Dim() int { return len(g.Mu) }

func (g *GaussianEnergy) check(x []float32, n int) {
	if n < 0 || len(x) != n*len(g.Mu) {
		panic(fmt.Sprintf("sampling: GaussianEnergy: len(x) = %d, want n*D = %d*%d", len(x), n, len(g.Mu)))
	}
}

// Energy writes E(x_i) into e for the n images in x.
func (g *GaussianEnergy) Energy(x []float32, n int, e []float32) {
	g.check(x, n)
	d := len(g.Mu)
	for i := range n {
		s := 0.0
		for j, v := range x[i*d : (i+1)*d] {
			z := (float64(v) - g.Mu[j]) / g.Sigma[j]
			s += z * z
		}
		e[i] = float32(s/2 + g.Offset)
	}
}

// EnergyGrad writes E(x_i) into e and dE/dx = (x - Mu)/Sigma^2 into grad.
func (g *GaussianEnergy) EnergyGrad(x []float32, n int, e, grad []float32) {
	g.check(x, n)
	d := len(g.Mu)
	for i := range n {
		s := 0.0
		for j, v := range x[i*d : (i+1)*d] {
			r := float64(v) - g.Mu[j]
			s += r * r / (g.Sigma[j] * g.Sigma[j])
			grad[i*d+j] = float32(r / (g.Sigma[j] * g.Sigma[j]))
		}
		e[i] = float32(s/2 + g.Offset)
	}
}

// LogZ returns log of the partition function Z = integral exp(-E(x)) dx
// = exp(-Offset) prod_j sqrt(2 pi Sigma_j^2).
func (g *GaussianEnergy) LogZ() float64 {
	s := -g.Offset
	for _, sd := range g.Sigma {
		s += 0.5 * math.Log(2*math.Pi*sd*sd)
	}
	return s
}

// Sample returns n exact draws from exp(-E)/Z (NCHW, n*Dim values), seeded.
func (g *GaussianEnergy) Sample(n int, seed uint64) []float32 {
	rng := newRand(seed)
	d := len(g.Mu)
	x := make([]float32, max(n, 0)*d)
	for i := range x {
		j := i % d
		x[i] = float32(g.Mu[j] + g.Sigma[j]*rng.NormFloat64())
	}
	return x
}
