package core

import (
	"math"

	"mdsm/nn"
)

// Adam is the Adam optimiser (Kingma & Ba) with bias correction. The energy offset is
// never updated: no score-matching loss depends on it.
type Adam struct {
	Beta1, Beta2, Eps float64
	T                 int // steps taken
	M, V              *nn.Params[float32]
}

// NewAdam creates an optimiser with zero moments for a configuration.
func NewAdam(cfg nn.Config, beta1, beta2 float64) *Adam {
	return &Adam{Beta1: beta1, Beta2: beta2, Eps: 1e-8, M: nn.NewParams[float32](cfg), V: nn.NewParams[float32](cfg)}
}

// Step applies one update p -= lr * mhat / (sqrt(vhat) + eps) with gradient g.
func (a *Adam) Step(p, g *nn.Params[float32], lr float64) {
	a.T++
	b1, b2 := float32(a.Beta1), float32(a.Beta2)
	c1 := 1 - math.Pow(a.Beta1, float64(a.T))
	c2 := 1 - math.Pow(a.Beta2, float64(a.T))
	// Fold the bias corrections into the step size: lr*sqrt(c2)/c1 and eps*sqrt(c2).
	step := float32(lr * math.Sqrt(c2) / c1)
	eps := float32(a.Eps * math.Sqrt(c2))
	for _, name := range p.Names {
		if name == nn.EnergyOffset {
			continue
		}
		w, gr, m, v := p.T[name].Data, g.T[name].Data, a.M.T[name].Data, a.V.T[name].Data
		for i, gi := range gr {
			mi := b1*m[i] + (1-b1)*gi
			vi := b2*v[i] + (1-b2)*gi*gi
			m[i], v[i] = mi, vi
			w[i] -= step * mi / (float32(math.Sqrt(float64(vi))) + eps)
		}
	}
}
