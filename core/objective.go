package core

import (
	"fmt"
	"math"
	"math/rand/v2"

	"mdsm/nn"
)

// Objective evaluates the MDSM loss of docs/REFERENCE.md "Training" on a batch and accumulates its weight
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
}

// NewObjective prepares buffers for batches of up to batch images, evaluated micro images
// at a time (gradient accumulation keeps the result that of the whole batch).
func NewObjective(m *nn.Model[float32], sigma0 float64, batch, micro int) *Objective {
	d := m.Config().Dim()
	return &Objective{model: m, sigma0: sigma0, micro: micro, dim: d,
		noise: make([]float32, batch*d), xn: make([]float32, micro*d), g: make([]float32, micro*d),
		v: make([]float32, micro*d), e: make([]float32, micro)}
}

// LossGrad draws the noise from rng, evaluates the loss on clean images x (n of them, NCHW)
// with per-image noise levels sigmas, and adds the weight gradient to grads. The noise is
// drawn for the whole batch first, so the micro-batch size does not change the result.
func (o *Objective) LossGrad(x []float32, n int, sigmas []float64, rng *rand.Rand, grads *nn.Params[float32]) (float64, error) {
	noise := o.noise[:n*o.dim]
	DrawNoise(rng, noise)
	return o.LossGradNoise(x, noise, n, sigmas, grads)
}

// DrawNoise fills noise with standard normal draws from rng, in order: the one noise
// stream of training on every device, so a run resumed on another device goes on with the
// same noise.
func DrawNoise(rng *rand.Rand, noise []float32) {
	for i := range noise {
		noise[i] = float32(rng.NormFloat64())
	}
}

// LossGradNoise is LossGrad with the noise given (n*Dim standard normal values, as
// DrawNoise draws them).
func (o *Objective) LossGradNoise(x, noise []float32, n int, sigmas []float64, grads *nn.Params[float32]) (float64, error) {
	d := o.dim
	inv0 := 1 / (o.sigma0 * o.sigma0)
	loss := 0.0
	for lo := 0; lo < n; lo += o.micro {
		k := min(o.micro, n-lo)
		xn, g, v := o.xn[:k*d], o.g[:k*d], o.v[:k*d]
		for b := 0; b < k; b++ {
			s := float32(sigmas[lo+b])
			for j := 0; j < d; j++ {
				xn[b*d+j] = x[(lo+b)*d+j] + s*noise[(lo+b)*d+j]
			}
		}
		o.model.EnergyGrad(xn, k, o.e[:k], g)
		for b := 0; b < k; b++ {
			s := sigmas[lo+b]
			w := 1 / (s * s) / float64(n)
			sum := 0.0
			for j := 0; j < d; j++ {
				// target (x~ - x)/sigma0^2 = sigma n / sigma0^2
				r := float64(g[b*d+j]) - s*float64(noise[(lo+b)*d+j])*inv0
				sum += r * r
				v[b*d+j] = float32(2 * r * w)
			}
			loss += sum * w
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return loss, fmt.Errorf("loss is %v (energies %v...)", loss, o.e[:min(k, 4)])
		}
		o.model.DirectionalGrad(v, grads)
	}
	return loss, nil
}

// NormalisedLoss is loss * sigma0^4, the scale the authors' code logs.
func NormalisedLoss(loss, sigma0 float64) float64 { return loss * math.Pow(sigma0, 4) }
