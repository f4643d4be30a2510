package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"mdsm/internal/isa/isatest"
	"testing"
)

// The finite-difference gradient checks: every analytic derivative the engine computes is
// compared with central differences in float64. They run in CI (they are the only guard
// against silently wrong gradients, docs/GORGONIA.md).

// gradCheckConfigs isolate the layer types: stem conv + head; a downsampling block (3x3
// and 1x1 convs, ELU, mean pool); a same-size block; and a multi-channel two-stage net.
var gradCheckConfigs = []struct {
	name string
	cfg  Config
}{
	{"stem+head", Config{InChannels: 1, ImageSize: 4, Filters: 2, Stages: 0, ExtraBlocks: 0}},
	{"down block", Config{InChannels: 1, ImageSize: 4, Filters: 2, Stages: 1, ExtraBlocks: 0}},
	{"down+same blocks", Config{InChannels: 1, ImageSize: 4, Filters: 2, Stages: 1, ExtraBlocks: 1}},
	{"rgb two stages", Config{InChannels: 3, ImageSize: 8, Filters: 2, Stages: 2, ExtraBlocks: 1}},
	{"odd sides", Config{InChannels: 2, ImageSize: 6, Filters: 2, Stages: 1, ExtraBlocks: 1}},
}

// convAlgorithms are the convolution algorithms every gradient check runs: the direct one
// and both Winograd tilings, forced on every 3x3 layer (the float64 default is direct).
var convAlgorithms = []ConvAlgorithm{ConvDirect, ConvWinograd2, ConvWinograd4}

// forEachAlgorithm runs f as a subtest per convolution algorithm.
func forEachAlgorithm(t *testing.T, f func(t *testing.T, a ConvAlgorithm)) {
	for _, a := range convAlgorithms {
		t.Run(a.String(), func(t *testing.T) { f(t, a) })
	}
}

// randomProblem draws weights, inputs and a direction; weights are scaled up from the
// default init so that ELUs see both signs and the head is not negligible.
func randomProblem(cfg Config, n int, seed uint64) (*Params[float64], []float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	p := InitParams[float64](cfg, rng)
	for _, name := range p.Names {
		for i := range p.T[name].Data {
			p.T[name].Data[i] *= 2
		}
	}
	x := make([]float64, n*cfg.Dim())
	for i := range x {
		x[i] = rng.Float64()*1.5 - 0.25
	}
	v := make([]float64, len(x))
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return p, x, v
}

func relErr(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(1e-6, math.Max(math.Abs(a), math.Abs(b)))
}

func sumEnergy(m *Model[float64], x []float64, n int) float64 {
	e := make([]float64, n)
	m.Energy(x, n, e)
	s := 0.0
	for _, v := range e {
		s += v
	}
	return s
}

// TestInputGradientFD checks dE/dx against central differences of E for every input scalar,
// with every convolution algorithm.
func TestInputGradientFD(t *testing.T) { forEachAlgorithm(t, testInputGradientFD) }

func testInputGradientFD(t *testing.T, algo ConvAlgorithm) {
	for _, tc := range gradCheckConfigs {
		t.Run(tc.name, func(t *testing.T) {
			const n = 3
			p, x, _ := randomProblem(tc.cfg, n, 1)
			m := NewModel(p)
			m.SetConvAlgorithm(algo)
			e, g := make([]float64, n), make([]float64, len(x))
			m.EnergyGrad(x, n, e, g)
			// Entries below a thousandth of the largest are compared at that scale: the
			// differences' rounding noise (about 1e-10 here, from E's rounding over 2h)
			// is more than 1e-6 of them.
			floor := 0.0
			for _, v := range g {
				floor = math.Max(floor, 1e-3*math.Abs(v))
			}
			worst := 0.0
			const h = 1e-5
			for i := range x {
				orig := x[i]
				x[i] = orig + h
				ep := sumEnergy(m, x, n)
				x[i] = orig - h
				em := sumEnergy(m, x, n)
				x[i] = orig
				fd := (ep - em) / (2 * h)
				worst = math.Max(worst, math.Abs(g[i]-fd)/math.Max(floor, math.Max(math.Abs(g[i]), math.Abs(fd))))
			}
			t.Logf("%s: dE/dx over %d inputs, max relative error %.2e", tc.name, len(x), worst)
			if worst > 1e-6 {
				t.Errorf("dE/dx disagrees with finite differences: max relative error %.3e", worst)
			}
		})
	}
}

// mdsmLoss is the training loss of docs/REFERENCE.md "Training" for fixed noisy inputs xn, targets
// (xn - x)/sigma0^2 and per-sample weights 1/sigma^2, computed from EnergyGrad only.
func mdsmLoss(m *Model[float64], xn, target, weight []float64, n int) (float64, []float64) {
	e, g := make([]float64, n), make([]float64, len(xn))
	m.EnergyGrad(xn, n, e, g)
	d := len(xn) / n
	loss := 0.0
	v := make([]float64, len(xn))
	for b := 0; b < n; b++ {
		for j := 0; j < d; j++ {
			r := g[b*d+j] - target[b*d+j]
			loss += r * r * weight[b] / float64(n)
			v[b*d+j] = 2 * r * weight[b] / float64(n)
		}
	}
	return loss, v
}

// TestTrainingGradientFD checks the MDSM weight gradient (tangent formulation, via
// DirectionalGrad) against central differences of the loss for every parameter tensor, with
// every convolution algorithm.
func TestTrainingGradientFD(t *testing.T) { forEachAlgorithm(t, testTrainingGradientFD) }

func testTrainingGradientFD(t *testing.T, algo ConvAlgorithm) {
	for _, tc := range gradCheckConfigs {
		t.Run(tc.name, func(t *testing.T) {
			const n = 3
			p, x, noise := randomProblem(tc.cfg, n, 2)
			d := tc.cfg.Dim()
			sigmas := []float64{0.1, 0.5, 1.3}
			xn, target, weight := make([]float64, len(x)), make([]float64, len(x)), make([]float64, n)
			const sigma0 = 0.3
			for b := 0; b < n; b++ {
				weight[b] = 1 / (sigmas[b] * sigmas[b])
				for j := 0; j < d; j++ {
					k := b*d + j
					xn[k] = x[k] + sigmas[b]*noise[k]
					target[k] = (xn[k] - x[k]) / (sigma0 * sigma0)
				}
			}
			m := NewModel(p)
			m.SetConvAlgorithm(algo)
			_, v := mdsmLoss(m, xn, target, weight, n)
			grads := NewParams[float64](tc.cfg)
			m.DirectionalGrad(v, grads)

			rng := rand.New(rand.NewPCG(3, 3))
			const h = 1e-5
			for _, name := range p.Names {
				tensor := p.T[name].Data
				idx := sampleIndices(len(tensor), 12, rng)
				worst, worstAbs := 0.0, 0.0
				for _, i := range idx {
					orig := tensor[i]
					tensor[i] = orig + h
					lp, _ := mdsmLoss(m, xn, target, weight, n)
					tensor[i] = orig - h
					lm, _ := mdsmLoss(m, xn, target, weight, n)
					tensor[i] = orig
					fd := (lp - lm) / (2 * h)
					an := grads.T[name].Data[i]
					worst = math.Max(worst, relErr(an, fd))
					worstAbs = math.Max(worstAbs, math.Abs(an-fd))
				}
				t.Logf("%-22s %5d values, %2d checked, max relative error %.2e (abs %.1e)", name, len(tensor), len(idx), worst, worstAbs)
				if name == EnergyOffset {
					if grads.T[name].Data[0] != 0 || worstAbs > 1e-6 {
						t.Errorf("%s: the energy offset must have zero gradient", name)
					}
					continue
				}
				if worst > 1e-5 {
					t.Errorf("%s: training gradient disagrees with finite differences: max relative error %.3e", name, worst)
				}
			}
		})
	}
}

// sampleIndices returns all indices of a small tensor, or k random ones of a large one.
func sampleIndices(size, k int, rng *rand.Rand) []int {
	if size <= k {
		idx := make([]int, size)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	idx := make([]int, k)
	for i := range idx {
		idx[i] = rng.IntN(size)
	}
	return idx
}

// TestFloat32MatchesFloat64 runs the training gradient in both precisions on the same
// weights: the float32 engine used for training, with each convolution algorithm, must agree
// with the float64 direct engine to float32 accuracy, at every instruction-set level.
func TestFloat32MatchesFloat64(t *testing.T) {
	isatest.ForEachLevel(t, func(t *testing.T) { forEachAlgorithm(t, testFloat32MatchesFloat64) })
}

func testFloat32MatchesFloat64(t *testing.T, algo ConvAlgorithm) {
	for _, tc := range gradCheckConfigs[3:] {
		const n = 4
		p64, x64, v64 := randomProblem(tc.cfg, n, 4)
		pr := float32VsFloat64(p64, x64, v64, n, algo)
		t.Logf("%s: worst |float32 - float64| / max|float64|: energy %.1e, dE/dx %.1e, gradients %.1e", tc.name, pr.energy, pr.grad, pr.weights)
		if pr.energy > 1e-4 || pr.grad > 1e-4 || pr.weights > 1e-4 {
			t.Errorf("%s: float32 differs from float64 by more than 1e-4 of a tensor's largest value: %+v", tc.name, pr)
		}
	}
}

// TestBatchIndependence: an image's energy and gradient do not depend on its batch mates
// or on the batch size the buffers were first sized for.
func TestBatchIndependence(t *testing.T) {
	cfg := gradCheckConfigs[3].cfg
	p, x, _ := randomProblem(cfg, 5, 5)
	m := NewModel(p)
	e5, g5 := make([]float64, 5), make([]float64, len(x))
	m.EnergyGrad(x, 5, e5, g5)
	d := cfg.Dim()
	for b := 0; b < 5; b++ {
		e1, g1 := make([]float64, 1), make([]float64, d)
		m.EnergyGrad(x[b*d:(b+1)*d], 1, e1, g1)
		if relErr(e1[0], e5[b]) > 1e-12 {
			t.Fatalf("image %d: energy %g alone vs %g in a batch", b, e1[0], e5[b])
		}
		for j := range g1 {
			if relErr(g1[j], g5[b*d+j]) > 1e-10 {
				t.Fatalf("image %d: gradient differs alone vs in a batch", b)
			}
		}
	}
}

func ExampleConfig_ParamSpecs() {
	c, _ := PresetConfig("paper-mnist")
	specs := c.ParamSpecs()
	fmt.Println(len(specs), specs[0].Name, specs[0].Shape, specs[len(specs)-1].Name)
	// Output: 38 stem.weight [64 1 3 3] head.lq.bias
}
