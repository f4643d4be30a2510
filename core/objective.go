package core

import (
	"fmt"
	"math"
	"math/rand/v2"

	"mdsm/nn"
)

// Objective evaluates the MDSM loss of REFERENCE.md on a batch and accumulates its weight
// gradient:
//
//	L = (1/B) sum_b |dE/dx(x~_b) - (x~_b - x_b)/sigma0^2|^2 / sigma_b^2,  x~ = x + sigma_b n,
//
// the paper's eq. 7 with l(sigma) = 1/sigma^2 (up to the constant sigma0^4, which the
// "normalised loss" restores). The weight gradient uses the tangent formulation: with
// v_b = 2 r_b / (B sigma_b^2) held fixed, dL/dtheta = d/dtheta sum_b v_b . dE/dx(x~_b).
type Objective struct {
	model  *nn.Model[float32]
	sigma0 float64
	micro  int
	dim    int

	noise, xn, g, v []float32
	e               []float32
	lastK           int                 // images in the last evaluated micro-batch
	scratch         *nn.Params[float32] // a slot's gradient before it is added (slots after the first)
}

// NewObjective prepares buffers for batches of up to batch images, evaluated micro images
// at a time (gradient accumulation keeps the result that of the whole batch).
func NewObjective(m *nn.Model[float32], sigma0 float64, batch, micro int) *Objective {
	d := m.Config().Dim()
	return &Objective{model: m, sigma0: sigma0, micro: micro, dim: d,
		noise: make([]float32, micro*d), xn: make([]float32, micro*d), g: make([]float32, micro*d),
		v: make([]float32, micro*d), e: make([]float32, micro)}
}

// LossGrad evaluates the loss of the batch x (n clean images, NCHW) with per-image noise
// levels sigmas and the noise of stream noiseSeed (ImageNoise), and writes its weight
// gradient into grads (overwriting it). Micro-batch k (images k*micro...) is a slot: each
// slot's gradient is computed from zero and the slots are added in order,
//
//	grads = ((g_0 + g_1) + g_2) + ...,   loss = ((0 + l_0) + l_1) + ...,
//
// which is exactly what a data-parallel run computes however its slots are spread over the
// ranks (dataParallel), so the two agree bit for bit.
func (o *Objective) LossGrad(x []float32, n int, sigmas []float64, noiseSeed uint64, grads *nn.Params[float32]) (float64, error) {
	grads.Zero()
	loss := 0.0
	for s, lo := 0, 0; lo < n; s, lo = s+1, lo+o.micro {
		k := min(o.micro, n-lo)
		dst := grads
		if s > 0 {
			if o.scratch == nil {
				o.scratch = nn.NewParams[float32](grads.Config)
			}
			o.scratch.Zero()
			dst = o.scratch
		}
		loss += o.SlotLossGrad(x[lo*o.dim:(lo+k)*o.dim], lo, k, n, sigmas, noiseSeed, dst)
		if s > 0 {
			addParams(grads, o.scratch)
		}
	}
	return loss, o.checkLoss(loss)
}

// checkLoss reports a non-finite batch loss with the energies of the last micro-batch.
func (o *Objective) checkLoss(loss float64) error {
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return fmt.Errorf("loss is %v (energies %v...)", loss, o.e[:min(o.lastK, 4)])
	}
	return nil
}

// SlotLossGrad evaluates the images at positions lo..lo+k-1 of a batch of n (x holds just
// those k images) and adds the weight gradient of their part of the batch loss to grads;
// it returns that part of the loss. Each image's noise comes from its own stream
// (ImageNoise(noiseSeed, position)), so neither the micro-batch size nor the number of
// ranks changes it.
func (o *Objective) SlotLossGrad(x []float32, lo, k, n int, sigmas []float64, noiseSeed uint64, grads *nn.Params[float32]) float64 {
	d := o.dim
	inv0 := 1 / (o.sigma0 * o.sigma0)
	noise, xn, g, v := o.noise[:k*d], o.xn[:k*d], o.g[:k*d], o.v[:k*d]
	for b := 0; b < k; b++ {
		rng := ImageNoise(noiseSeed, lo+b)
		s := float32(sigmas[lo+b])
		for j := 0; j < d; j++ {
			z := float32(rng.NormFloat64())
			noise[b*d+j] = z
			xn[b*d+j] = x[b*d+j] + s*z
		}
	}
	o.lastK = k
	o.model.EnergyGrad(xn, k, o.e[:k], g)
	loss := 0.0
	for b := 0; b < k; b++ {
		s := sigmas[lo+b]
		w := 1 / (s * s) / float64(n)
		sum := 0.0
		for j := 0; j < d; j++ {
			// target (x~ - x)/sigma0^2 = sigma n / sigma0^2
			r := float64(g[b*d+j]) - s*float64(noise[b*d+j])*inv0
			sum += r * r
			v[b*d+j] = float32(2 * r * w)
		}
		loss += sum * w
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss // no gradient from a diverged slot: the step fails anyway
	}
	o.model.DirectionalGrad(v, grads)
	return loss
}

// ImageNoise is the generator of the training noise of the image at batch position pos in
// the step whose noise seed is noiseSeed (drawn once per step from the run's noise stream):
// a stream per image, so that any rank can draw the noise of any image.
func ImageNoise(noiseSeed uint64, pos int) *rand.Rand {
	return rand.New(rand.NewPCG(splitmix64(noiseSeed^splitmix64(uint64(pos))), splitmix64(uint64(pos)+0x9e3779b97f4a7c15)))
}

// splitmix64 is the SplitMix64 finaliser, a bijective mixer for deriving seeds.
func splitmix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// addParams adds q to p element by element.
func addParams(p, q *nn.Params[float32]) {
	for _, name := range p.Names {
		a, b := p.T[name].Data, q.T[name].Data
		for i, v := range b {
			a[i] += v
		}
	}
}

// NormalisedLoss is loss * sigma0^4, the scale the authors' code logs.
func NormalisedLoss(loss, sigma0 float64) float64 { return loss * math.Pow(sigma0, 4) }
