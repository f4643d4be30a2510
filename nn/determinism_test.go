package nn

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"mdsm/internal/gemm"
	"mdsm/internal/isa/isatest"
)

// TestGradientsAreDeterministic: the same inputs give bit-identical gradients on repeated calls
// and on a fresh model (threaded GEMM reductions must not depend on scheduling); exact resume
// relies on it. The model that is compared first trains on another batch of another
// size, so adjoints kept from an earlier EnergyGrad (backward.go) must not leak into a
// later step.
func TestGradientsAreDeterministic(t *testing.T) {
	isatest.ForEachLevel(t, func(t *testing.T) { forEachAlgorithm(t, testGradientsAreDeterministic) })
}

func testGradientsAreDeterministic(t *testing.T, algo ConvAlgorithm) {
	c := Config{InChannels: 1, ImageSize: 28, Filters: 4, Stages: 2}
	p := InitParams[float32](c, rand.New(rand.NewPCG(1, 2)))
	x := make([]float32, 4*c.Dim())
	for i := range x {
		x[i] = float32(i%7) / 7
	}
	newModel := func() *Model[float32] {
		m := NewModel(p)
		m.SetConvAlgorithm(algo)
		return m
	}
	step := func(m *Model[float32], x []float32, n int) ([]float32, *Params[float32]) {
		e, g := make([]float32, n), make([]float32, len(x))
		m.EnergyGrad(x, n, e, g)
		gr := NewParams[float32](c)
		m.DirectionalGrad(g, gr)
		return g, gr
	}
	run := func(m *Model[float32]) ([]float32, *Params[float32]) { return step(m, x, 4) }
	m1 := newModel()
	other := make([]float32, 5*c.Dim())
	for i := range other {
		other[i] = float32(i%5)/5 - 0.3
	}
	step(m1, other, 5)
	g1, gr1 := run(m1)
	g2, gr2 := run(m1)
	g3, gr3 := run(newModel())
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

// TestThreadCountIndependence: a training step (EnergyGrad and DirectionalGrad) gives the
// same bits on 1, 2, 3 and 5 threads, with every convolution algorithm and at every
// instruction-set level: the basis of exact resume on another core count.
func TestThreadCountIndependence(t *testing.T) {
	isatest.ForEachLevel(t, func(t *testing.T) { forEachAlgorithm(t, testThreadCountIndependence) })
}

func testThreadCountIndependence(t *testing.T, algo ConvAlgorithm) {
	c := Config{InChannels: 1, ImageSize: 14, Filters: 16, Stages: 1, ExtraBlocks: 1}
	p := InitParams[float32](c, rand.New(rand.NewPCG(3, 4)))
	const n = 9
	x := make([]float32, n*c.Dim())
	for i := range x {
		x[i] = float32(i%11)/11 - 0.2
	}
	var want []float32
	for _, threads := range []int{1, 2, 3, 5} {
		old := runtime.GOMAXPROCS(threads)
		gemm.SetThreads(threads)
		m := NewModel(p)
		m.SetConvAlgorithm(algo)
		e, g := make([]float32, n), make([]float32, len(x))
		m.EnergyGrad(x, n, e, g)
		gr := NewParams[float32](c)
		m.DirectionalGrad(g, gr)
		got := append(append([]float32(nil), e...), g...)
		for _, name := range gr.Names {
			got = append(got, gr.T[name].Data...)
		}
		runtime.GOMAXPROCS(old)
		gemm.SetThreads(0)
		if want == nil {
			want = got
			continue
		}
		for i := range want {
			if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
				t.Fatalf("%d threads: value %d is %v, on 1 thread %v", threads, i, got[i], want[i])
			}
		}
	}
}
