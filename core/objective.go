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
	lastK           int                 // images in the last evaluated micro-batch
	scratch         *nn.Params[float32] // a slot's gradient before it is added (slots after the first)
	// imgLoss[b] is image b's term |r_b|^2 / sigma_b^2 of the last batch (the batch loss
	// is their mean), filled by SlotLossGrad at the image's position in the batch: what
	// the loss per noise level is made of (Trainer, SigmaBins). lastN is that batch's size.
	imgLoss []float64
	lastN   int
}

// NewObjective prepares buffers for batches of up to batch images, evaluated micro images
// at a time (gradient accumulation keeps the result that of the whole batch).
func NewObjective(m *nn.Model[float32], sigma0 float64, batch, micro int) *Objective {
	d := m.Config().Dim()
	return &Objective{model: m, sigma0: sigma0, micro: micro, dim: d,
		noise: make([]float32, batch*d), xn: make([]float32, micro*d), g: make([]float32, micro*d),
		v: make([]float32, micro*d), e: make([]float32, micro), imgLoss: make([]float64, batch)}
}

// ImageLosses is each image's loss term |r_b|^2 / sigma_b^2 of the last batch evaluated
// (LossGradNoise), in batch order; the batch loss is their mean. The slice is the
// objective's own, overwritten by the next batch.
func (o *Objective) ImageLosses() []float64 { return o.imgLoss[:o.lastN] }

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
// DrawNoise draws them). Micro-batch k (images k*micro...) is a slot: the first slot's
// gradient is added to grads, every later slot's is computed from zero on its own and then
// added, and so are the slots' losses,
//
//	grads += ((g_0 + g_1) + g_2) + ...,   loss = ((0 + l_0) + l_1) + ...,
//
// which is exactly what a data-parallel run computes however its slots are spread over the
// ranks (dataParallel), so that the two agree bit for bit.
func (o *Objective) LossGradNoise(x, noise []float32, n int, sigmas []float64, grads *nn.Params[float32]) (float64, error) {
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
		loss += o.SlotLossGrad(x[lo*o.dim:(lo+k)*o.dim], noise[lo*o.dim:(lo+k)*o.dim], lo, k, n, sigmas, dst)
		if s > 0 {
			addFlat(grads.Flat(), o.scratch.Flat())
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

// SlotLossGrad evaluates the k images at positions lo..lo+k-1 of a batch of n (x and noise
// hold just those k images) and adds the weight gradient of their part of the batch loss to
// grads; it returns that part of the loss (no gradient when it is not finite: the step
// fails anyway).
func (o *Objective) SlotLossGrad(x, noise []float32, lo, k, n int, sigmas []float64, grads *nn.Params[float32]) float64 {
	d := o.dim
	inv0 := 1 / (o.sigma0 * o.sigma0)
	xn, g, v := o.xn[:k*d], o.g[:k*d], o.v[:k*d]
	for b := 0; b < k; b++ {
		s := float32(sigmas[lo+b])
		for j := 0; j < d; j++ {
			xn[b*d+j] = x[b*d+j] + s*noise[b*d+j]
		}
	}
	o.lastK, o.lastN = k, n
	if len(o.imgLoss) < n {
		o.imgLoss = append(o.imgLoss, make([]float64, n-len(o.imgLoss))...)
	}
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
		o.imgLoss[lo+b] = sum / (s * s) // one division per image: nothing beside the pass
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss
	}
	o.model.DirectionalGrad(v, grads)
	return loss
}

// addFlat adds b to a element by element.
func addFlat(a, b []float32) {
	for i, v := range b {
		a[i] += v
	}
}

// NormalisedLoss is loss * sigma0^4, the scale the authors' code logs.
func NormalisedLoss(loss, sigma0 float64) float64 { return loss * math.Pow(sigma0, 4) }
