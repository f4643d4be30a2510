package nn

import (
	"math/rand/v2"
	"testing"
)

// TestGradientsAreDeterministic: the same inputs give bit-identical gradients on repeated calls
// and on a fresh model (threaded GEMM reductions must not depend on scheduling); exact resume
// relies on it.
func TestGradientsAreDeterministic(t *testing.T) {
	c := Config{InChannels: 1, ImageSize: 28, Filters: 4, Stages: 2}
	p := InitParams[float32](c, rand.New(rand.NewPCG(1, 2)))
	x := make([]float32, 4*c.Dim())
	for i := range x {
		x[i] = float32(i%7) / 7
	}
	run := func(m *Model[float32]) ([]float32, *Params[float32]) {
		e, g := make([]float32, 4), make([]float32, len(x))
		m.EnergyGrad(x, 4, e, g)
		gr := NewParams[float32](c)
		m.DirectionalGrad(g, gr)
		return g, gr
	}
	m1 := NewModel(p)
	g1, gr1 := run(m1)
	g2, gr2 := run(m1)
	g3, gr3 := run(NewModel(p))
	for i := range g1 {
		if g1[i] != g2[i] || g1[i] != g3[i] {
			t.Fatalf("grad differs at %d: %v %v %v", i, g1[i], g2[i], g3[i])
		}
	}
	for _, n := range p.Names {
		for i := range gr1.T[n].Data {
			a, b, cc := gr1.T[n].Data[i], gr2.T[n].Data[i], gr3.T[n].Data[i]
			if a != b || a != cc {
				t.Fatalf("%s[%d]: %v %v %v", n, i, a, b, cc)
			}
		}
	}
}
