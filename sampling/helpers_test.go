package sampling

import (
	"context"
	"sync"
)

// quadEnergy is E(x) = a/2 |x|^2 + b.x per image (b has length D): dE/dx = a x + b.
type quadEnergy struct {
	a float64
	b []float64
}

func (q quadEnergy) Energy(x []float32, n int, e []float32) {
	g := make([]float32, len(x))
	q.EnergyGrad(x, n, e, g)
}

func (q quadEnergy) EnergyGrad(x []float32, n int, e, g []float32) {
	d := len(q.b)
	for i := range n {
		s := 0.0
		for j := range d {
			v := float64(x[i*d+j])
			s += q.a/2*v*v + q.b[j]*v
			g[i*d+j] = float32(q.a*v + q.b[j])
		}
		e[i] = float32(s)
	}
}

// hookEnergy wraps an Energy and calls hook before every evaluation with the input and the
// 1-based call count. It lets tests cancel contexts mid-chain and record network inputs.
type hookEnergy struct {
	inner Energy
	mu    sync.Mutex
	calls int
	hook  func(x []float32, call int)
}

func (h *hookEnergy) before(x []float32) {
	h.mu.Lock()
	h.calls++
	c := h.calls
	h.mu.Unlock()
	if h.hook != nil {
		h.hook(x, c)
	}
}

func (h *hookEnergy) Energy(x []float32, n int, e []float32) {
	h.before(x)
	h.inner.Energy(x, n, e)
}

func (h *hookEnergy) EnergyGrad(x []float32, n int, e, g []float32) {
	h.before(x)
	h.inner.EnergyGrad(x, n, e, g)
}

// cancelAfter returns an energy that cancels the returned context at its k-th evaluation.
func cancelAfter(e Energy, k int) (*hookEnergy, context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	h := &hookEnergy{inner: e}
	h.hook = func(_ []float32, call int) {
		if call == k {
			cancel()
		}
	}
	return h, ctx, cancel
}

func mustGaussian(t interface{ Fatal(...any) }, dim int, mu, sigma, offset float64) *GaussianEnergy {
	g, err := NewIsotropicGaussianEnergy(dim, mu, sigma, offset)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func meanVar(x []float32) (float64, float64) {
	m := 0.0
	for _, v := range x {
		m += float64(v)
	}
	m /= float64(len(x))
	s := 0.0
	for _, v := range x {
		s += (float64(v) - m) * (float64(v) - m)
	}
	return m, s / float64(len(x)-1)
}
