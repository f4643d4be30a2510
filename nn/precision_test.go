package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// precision is the worst difference between the float32 engine (one algorithm) and the
// float64 direct engine on one preset, per pass, each relative to the largest magnitude of
// its tensor: the energy, dE/dx (forward and data adjoints) and the MDSM weight gradient
// (the tangent and weight-gradient passes), the worst over the parameter tensors.
type precision struct{ energy, grad, weights float64 }

// measurePrecision runs float32VsFloat64 on n random images in [0, 1) of configuration c at
// its default init (weights and images rounded to float32 for both precisions).
func measurePrecision(c Config, n int, a ConvAlgorithm, seed uint64) precision {
	rng := rand.New(rand.NewPCG(seed, 9))
	p64 := Convert[float64](Convert[float32](InitParams[float64](c, rng)))
	x64 := make([]float64, n*c.Dim())
	v64 := make([]float64, len(x64))
	for i := range x64 {
		x64[i] = float64(float32(rng.Float64()))
		v64[i] = float64(float32(rng.NormFloat64()))
	}
	return float32VsFloat64(p64, x64, v64, n, a)
}

// float32VsFloat64 runs EnergyGrad and DirectionalGrad (along v) on x with the weights p in
// float64 (direct) and in float32 with algorithm a, and returns their differences.
func float32VsFloat64(p64 *Params[float64], x64, v64 []float64, n int, a ConvAlgorithm) precision {
	c := p64.Config
	p32 := Convert[float32](p64)
	x32, v32 := make([]float32, len(x64)), make([]float32, len(v64))
	for i := range x64 {
		x32[i], v32[i] = float32(x64[i]), float32(v64[i])
	}
	m64, m32 := NewModel(p64), NewModel(p32)
	m64.SetConvAlgorithm(ConvDirect)
	m32.SetConvAlgorithm(a)
	e64, g64 := make([]float64, n), make([]float64, len(x64))
	e32, g32 := make([]float32, n), make([]float32, len(x32))
	m64.EnergyGrad(x64, n, e64, g64)
	m32.EnergyGrad(x32, n, e32, g32)
	gr64, gr32 := NewParams[float64](c), NewParams[float32](c)
	m64.DirectionalGrad(v64, gr64)
	m32.DirectionalGrad(v32, gr32)
	rel := func(a []float64, b []float32) float64 {
		d, scale := 0.0, 0.0
		for i := range a {
			d = math.Max(d, math.Abs(a[i]-float64(b[i])))
			scale = math.Max(scale, math.Abs(a[i]))
		}
		if scale == 0 {
			return d
		}
		return d / scale
	}
	pr := precision{energy: rel(e64, e32), grad: rel(g64, g32)}
	for _, name := range gr64.Names {
		if name != EnergyOffset {
			pr.weights = math.Max(pr.weights, rel(gr64.T[name].Data, gr32.T[name].Data))
		}
	}
	return pr
}

// TestPrecisionPerPreset bounds the float32 engine against the float64 direct engine on the
// CPU presets, per pass and algorithm (BENCHMARKS.md, "Precision", lists the measured
// values, the paper presets included). The bound, 1e-4 of a tensor's largest magnitude, is
// that of TestFloat32MatchesFloat64.
func TestPrecisionPerPreset(t *testing.T) {
	for _, name := range []string{"tiny", "small", "medium"} {
		c, _ := PresetConfig(name)
		for _, a := range []ConvAlgorithm{ConvDirect, ConvWinograd2, ConvWinograd4, ConvAuto} {
			pr := measurePrecision(c, 2, a, 1)
			t.Logf("%-7s %-9v energy %.1e  dE/dx %.1e  weight gradient %.1e", name, a, pr.energy, pr.grad, pr.weights)
			if pr.energy > 1e-4 || pr.grad > 1e-4 || pr.weights > 1e-4 {
				t.Errorf("%s %v: float32 vs float64 %+v, over 1e-4", name, a, pr)
			}
		}
	}
}

// BenchmarkPrecision reports the same measure for every preset, paper-mnist included (too
// slow in float64 for the tests under the race detector), as metrics: go test -run X
// -bench Precision -benchtime 1x ./nn/
func BenchmarkPrecision(b *testing.B) {
	for _, name := range []string{"tiny", "small", "medium", "paper-mnist"} {
		c, _ := PresetConfig(name)
		for _, a := range []ConvAlgorithm{ConvDirect, ConvWinograd2, ConvWinograd4, ConvAuto} {
			b.Run(fmt.Sprintf("%s/%v", name, a), func(b *testing.B) {
				var pr precision
				for i := 0; i < b.N; i++ {
					pr = measurePrecision(c, 2, a, 1)
				}
				b.ReportMetric(pr.energy, "energy-rel")
				b.ReportMetric(pr.grad, "dEdx-rel")
				b.ReportMetric(pr.weights, "wgrad-rel")
			})
		}
	}
}
