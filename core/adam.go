package core

import (
	"mdsm/internal/optim"
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
	step, eps := optim.AdamScales(a.Beta1, a.Beta2, lr, a.Eps, a.T)
	for _, name := range p.Names {
		if name == nn.EnergyOffset {
			continue
		}
		optim.AdamUpdate(p.T[name].Data, g.T[name].Data, a.M.T[name].Data, a.V.T[name].Data, float32(a.Beta1), float32(a.Beta2), step, eps)
	}
}
