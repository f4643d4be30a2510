package gpu

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"mdsm/core"
	"mdsm/nn"
)

// relErr is |a - b| / |b| over whole vectors.
func relErr(a []float32, b []float64) float64 {
	num, den := 0.0, 0.0
	for i := range b {
		d := float64(a[i]) - b[i]
		num += d * d
		den += b[i] * b[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// reference is the MDSM step computed by the CPU engine in float64: energies, dE/dx of the
// perturbed batch, the loss and the weight gradient (core.Objective's definition).
type reference struct {
	e, g, grad []float64
	loss       float64
}

func cpuReference(p *nn.Params[float32], x, noise []float32, sig []float64, sigma0 float64) reference {
	c := p.Config
	n, d := len(sig), c.Dim()
	m := nn.NewModel(nn.Convert[float64](p))
	xn := make([]float64, n*d)
	for b := 0; b < n; b++ {
		for j := 0; j < d; j++ {
			xn[b*d+j] = float64(x[b*d+j]) + float64(float32(sig[b]))*float64(noise[b*d+j])
		}
	}
	r := reference{e: make([]float64, n), g: make([]float64, n*d)}
	m.EnergyGrad(xn, n, r.e, r.g)
	v := make([]float64, n*d)
	inv0 := 1 / (sigma0 * sigma0)
	for b := 0; b < n; b++ {
		s := sig[b]
		w := 1 / (s * s) / float64(n)
		for j := 0; j < d; j++ {
			res := r.g[b*d+j] - s*float64(noise[b*d+j])*inv0
			r.loss += res * res * w
			v[b*d+j] = 2 * res * w
		}
	}
	grads := nn.NewParams[float64](c)
	m.DirectionalGrad(v, grads)
	r.grad = grads.Flat()
	return r
}

// batchFor draws a MNIST-like batch, noise and shuffled noise levels.
func batchFor(c nn.Config, n int, seed uint64) (x, noise []float32, sig []float64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	x = make([]float32, n*c.Dim())
	for i := range x {
		if rng.Float32() > 0.7 {
			x[i] = rng.Float32()
		}
	}
	noise = make([]float32, len(x))
	core.DrawNoise(rng, noise)
	sig = make([]float64, n)
	for i := range sig {
		sig[i] = 0.1 + 2.9*rng.Float64()
	}
	return x, noise, sig
}

// checkEngine compares a device's energy model and training engine with the CPU engine in
// float64 on one batch: E, dE/dx, the loss and the MDSM weight gradient within tol
// (relative), and one Adam step against core.Adam.
func checkEngine(t *testing.T, open func() device, c nn.Config, n, micro int, tol float64) {
	t.Helper()
	p := nn.InitParams[float32](c, rand.New(rand.NewPCG(3, 4)))
	x, noise, sig := batchFor(c, n, 5)
	ref := cpuReference(p, x, noise, sig, 0.1)

	em, err := newEnergyModel(open(), p)
	if err != nil {
		t.Fatal(err)
	}
	d := c.Dim()
	xn := make([]float32, n*d)
	for b := 0; b < n; b++ {
		for j := 0; j < d; j++ {
			xn[b*d+j] = x[b*d+j] + float32(sig[b])*noise[b*d+j]
		}
	}
	e, g := make([]float32, n), make([]float32, n*d)
	em.EnergyGrad(xn, n, e, g)
	if err := em.Err(); err != nil {
		t.Fatal(err)
	}
	em.Close()
	if r := relErr(e, ref.e); r > tol {
		t.Errorf("E: relative error %.2g > %g", r, tol)
	}
	if r := relErr(g, ref.g); r > tol {
		t.Errorf("dE/dx: relative error %.2g > %g", r, tol)
	}

	cfg := core.DefaultRunConfig()
	cfg.Model, cfg.BatchSize, cfg.MicroBatch, cfg.Sigma0 = c, n, micro, 0.1
	adam := core.NewAdam(c, 0.9, 0.95)
	te, err := newTrainEngine(open(), "test", 0, 0, cfg, p, adam)
	if err != nil {
		t.Fatal(err)
	}
	defer te.Close()
	loss, err := te.LossGrad(x, noise, n, sig)
	if err != nil {
		t.Fatal(err)
	}
	if r := math.Abs(loss-ref.loss) / ref.loss; r > tol {
		t.Errorf("loss %g, CPU float64 %g: relative error %.2g > %g", loss, ref.loss, r, tol)
	}
	grad := make([]float32, len(ref.grad))
	gb := te.Gradients()
	if gb.Host != nil {
		copy(grad, gb.Host)
	} else {
		te.d.do(func() error { te.d.download(grad, te.net.G); return nil })
	}
	if r := relErr(grad, ref.grad); r > tol {
		t.Errorf("MDSM weight gradient: relative error %.2g > %g", r, tol)
	}
	// Per tensor too: a wrong small tensor (a bias) hides in the whole vector's norm.
	g32 := nn.NewParams[float32](c)
	copy(g32.Flat(), grad)
	g64 := nn.NewParams[float64](c)
	copy(g64.Flat(), ref.grad)
	for _, name := range g32.Names {
		if name == nn.EnergyOffset {
			continue
		}
		if r := relErr(g32.T[name].Data, g64.T[name].Data); r > 10*tol {
			t.Errorf("gradient of %s: relative error %.2g > %g", name, r, 10*tol)
		}
	}

	// One Adam step against core.Adam on the engine's own gradient.
	if err := te.Step(1e-3); err != nil {
		t.Fatal(err)
	}
	want := p.Clone()
	ca := core.NewAdam(c, 0.9, 0.95)
	ca.Step(want, g32, 1e-3)
	got := nn.NewParams[float32](c)
	if err := te.ReadParams(got); err != nil {
		t.Fatal(err)
	}
	w64 := nn.Convert[float64](want)
	if r := relErr(got.Flat(), w64.Flat()); r > 1e-6 {
		t.Errorf("weights after one Adam step: relative error %.2g against core.Adam", r)
	}
	ra := core.NewAdam(c, 0, 0)
	if err := te.ReadAdam(ra); err != nil || ra.T != 1 || ra.Beta2 != 0.95 {
		t.Errorf("ReadAdam: T %d beta2 %g (%v)", ra.T, ra.Beta2, err)
	}
}

// small is a network with every block kind (a stem, two down blocks, same blocks) at a
// size the host device's direct convolutions run in milliseconds.
var small = nn.Config{Preset: "test", InChannels: 2, ImageSize: 8, Filters: 3, Stages: 2, ExtraBlocks: 1}

func TestHostEngineMatchesCPU(t *testing.T) {
	host := func() device { return &hostOps{} }
	t.Run("whole batch", func(t *testing.T) { checkEngine(t, host, small, 5, 0, 1e-5) })
	t.Run("micro-batches 2,2,1", func(t *testing.T) { checkEngine(t, host, small, 5, 2, 1e-5) })
	tiny, _ := nn.PresetConfig("tiny")
	t.Run("tiny preset", func(t *testing.T) { checkEngine(t, host, tiny, 3, 0, 1e-5) })
	flat := nn.Config{Preset: "no-blocks", InChannels: 1, ImageSize: 6, Filters: 2}
	t.Run("no blocks", func(t *testing.T) { checkEngine(t, host, flat, 2, 0, 1e-5) })
}

func TestHostEngineNonFinite(t *testing.T) {
	cfg := core.DefaultRunConfig()
	cfg.Model, cfg.BatchSize = small, 2
	p := nn.InitParams[float32](small, rand.New(rand.NewPCG(1, 1)))
	te, err := newTrainEngine(&hostOps{}, "host", 0, 0, cfg, p, core.NewAdam(small, 0.9, 0.95))
	if err != nil {
		t.Fatal(err)
	}
	defer te.Close()
	x, noise, sig := batchFor(small, 2, 1)
	x[3] = float32(math.NaN())
	if _, err := te.LossGrad(x, noise, 2, sig); !errors.Is(err, core.ErrNonFinite) {
		t.Fatalf("NaN pixel: %v", err)
	}
	x[3] = 0
	if _, err := te.LossGrad(x, noise, 2, sig); err != nil {
		t.Fatal(err)
	}
	te.net.G.H[7] = float32(math.Inf(1))
	err = te.Step(1e-3)
	if !errors.Is(err, core.ErrNonFinite) || err.Error() != "non-finite gradient: tensor stem.weight holds +Inf at index 7" {
		t.Fatalf("Inf gradient: %v", err)
	}
}

// gpuDevice opens GPU 0 for the GPU tests, or skips them when no driver is found
// (MDSM_REQUIRE_GPU=1 makes that a failure).
func gpuDevice(t *testing.T, tf32 bool) func() device {
	t.Helper()
	l, err := load()
	if err != nil {
		if os.Getenv("MDSM_REQUIRE_GPU") == "1" {
			t.Fatalf("MDSM_REQUIRE_GPU=1 but the CUDA backend cannot load: %v", err)
		}
		t.Skipf("no GPU: %v", err)
	}
	return func() device {
		o, err := openCUDA(l, 0, tf32)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
}

// TestGPUEngineMatchesCPU is the GPU check of scripts/gpu_check.sh: the paper nets on the
// GPU against the CPU engine in float64.
func TestGPUEngineMatchesCPU(t *testing.T) {
	open := gpuDevice(t, false)
	t.Run("small net", func(t *testing.T) { checkEngine(t, open, small, 5, 2, 1e-4) })
	for _, preset := range []string{"paper-mnist", "paper-cifar"} {
		c, _ := nn.PresetConfig(preset)
		t.Run(preset, func(t *testing.T) { checkEngine(t, open, c, 4, 0, 1e-4) })
	}
}

// TestGPURepeatable: two runs of the same step on one card give the same bits.
func TestGPURepeatable(t *testing.T) {
	open := gpuDevice(t, false)
	c, _ := nn.PresetConfig("paper-mnist")
	cfg := core.DefaultRunConfig()
	cfg.Model, cfg.BatchSize = c, 16
	x, noise, sig := batchFor(c, 16, 9)
	run := func() (float64, []float32) {
		p := nn.InitParams[float32](c, rand.New(rand.NewPCG(3, 4)))
		te, err := newTrainEngine(open(), "gpu", 0, 0, cfg, p, core.NewAdam(c, 0.9, 0.95))
		if err != nil {
			t.Fatal(err)
		}
		defer te.Close()
		var loss float64
		for i := 0; i < 3; i++ {
			if loss, err = te.LossGrad(x, noise, 16, sig); err != nil {
				t.Fatal(err)
			}
			if err := te.Step(1e-3); err != nil {
				t.Fatal(err)
			}
		}
		out := nn.NewParams[float32](c)
		te.ReadParams(out)
		return loss, out.Flat()
	}
	l1, w1 := run()
	l2, w2 := run()
	if l1 != l2 {
		t.Fatalf("losses %v and %v differ", l1, l2)
	}
	for i := range w1 {
		if math.Float32bits(w1[i]) != math.Float32bits(w2[i]) {
			t.Fatalf("weight %d: %v vs %v after 3 steps", i, w1[i], w2[i])
		}
	}
}
