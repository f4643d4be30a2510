// Package optim holds the Adam update shared by the energy trainer (core) and the
// classifier trainer (classifier): one definition of the arithmetic, so that both optimise
// the same way and round the same way.
package optim

import "math"

// AdamScales returns the step size and epsilon of Adam step t (t >= 1) with the bias
// corrections folded in: step = lr*sqrt(1-beta2^t)/(1-beta1^t), eps' = eps*sqrt(1-beta2^t),
// so that w -= step * m / (sqrt(v) + eps') equals the textbook lr * mhat / (sqrt(vhat) + eps).
func AdamScales(beta1, beta2, lr, eps float64, t int) (step, epsHat float32) {
	c1 := 1 - math.Pow(beta1, float64(t))
	c2 := 1 - math.Pow(beta2, float64(t))
	return float32(lr * math.Sqrt(c2) / c1), float32(eps * math.Sqrt(c2))
}

// AdamUpdate applies one Adam update to the weights w with gradient g, updating the
// moments m and v in place (all four the same length); step and eps come from AdamScales.
func AdamUpdate(w, g, m, v []float32, beta1, beta2, step, eps float32) {
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	for i, gi := range g {
		mi := beta1*m[i] + (1-beta1)*gi
		vi := beta2*v[i] + (1-beta2)*gi*gi
		m[i], v[i] = mi, vi
		w[i] -= step * mi / (float32(math.Sqrt(float64(vi))) + eps)
	}
}
