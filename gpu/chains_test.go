package gpu

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"mdsm/internal/philox"
	"mdsm/nn"
	"mdsm/sampling"
)

// hostOnly hides a device model's ChainEnergy, so that a Chain over it steps on the host
// with the very same E and dE/dx: the reference of the device chains.
type hostOnly struct{ m *energyModel }

func (h hostOnly) Energy(x []float32, n int, e []float32)        { h.m.Energy(x, n, e) }
func (h hostOnly) EnergyGrad(x []float32, n int, e, g []float32) { h.m.EnergyGrad(x, n, e, g) }

// chainCase builds a plain or inpainting chain over e.
type chainCase struct {
	name    string
	inpaint bool
}

func newTestChain(t *testing.T, e sampling.Energy, c nn.Config, n int, cfg sampling.LangevinConfig, inpaint bool, seed uint64) *sampling.Chain {
	t.Helper()
	var ch *sampling.Chain
	var err error
	if inpaint {
		m, merr := sampling.HalfMask(c.ImageSize, c.ImageSize, "left")
		if merr != nil {
			t.Fatal(merr)
		}
		truth := make([]float32, n*c.Dim())
		rng := rand.New(rand.NewPCG(seed, 9))
		for i := range truth {
			truth[i] = rng.Float32()
		}
		ic := sampling.InpaintConfig{Langevin: cfg, ClampNoise: sampling.ClampNoiseSqrt}
		ch, err = sampling.NewInpaintChain(e, truth, n, c.InChannels, m, ic, seed)
	} else {
		ch, err = sampling.NewChain(e, n, c.Dim(), cfg, seed)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// testSampler is a short annealed schedule from T = 4.
func testSampler(steps int) sampling.LangevinConfig {
	cfg := sampling.DefaultLangevinConfig()
	cfg.Schedule = sampling.Schedule{Kind: sampling.KindExp, Steps: steps, T0: 4}
	return cfg
}

func sameBits(t *testing.T, what string, a, b []float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d values, want %d", what, len(a), len(b))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("%s: value %d is %v on the device, %v on the host", what, i, a[i], b[i])
		}
	}
}

// TestHostChainsMatchHostStepping: chains run by the device's kernels (their Go twins on
// the host device) equal, bit for bit, a Chain stepped on the host over the same model:
// state, trace, energies and denoised images, for plain and inpainting chains, with and
// without graphs, whether stepped one at a time or in stretches longer than the device's.
func TestHostChainsMatchHostStepping(t *testing.T) {
	p := nn.InitParams[float32](small, rand.New(rand.NewPCG(3, 4)))
	const n, steps = 2, chainStretch + 9
	for _, cc := range []chainCase{{"plain", false}, {"inpainting", true}} {
		for _, graphs := range []bool{false, true} {
			name := cc.name
			if graphs {
				name += " graphs"
			}
			t.Run(name, func(t *testing.T) {
				ref, err := newEnergyModel(&hostOps{}, p)
				if err != nil {
					t.Fatal(err)
				}
				defer ref.Close()
				host := &hostOps{graphs: graphs}
				dev, err := newEnergyModel(host, p)
				if err != nil {
					t.Fatal(err)
				}
				defer dev.Close()
				a := newTestChain(t, hostOnly{ref}, small, n, testSampler(steps), cc.inpaint, 11)
				b := newTestChain(t, dev, small, n, testSampler(steps), cc.inpaint, 11)
				ctx := context.Background()
				for _, k := range []int{1, 5, chainStretch + 3, steps} {
					if err := a.StepN(ctx, k); err != nil {
						t.Fatal(err)
					}
					if err := b.StepN(ctx, k); err != nil {
						t.Fatal(err)
					}
					if dev.chains == nil {
						t.Fatal("the chain did not run on the device")
					}
					sameBits(t, "state", b.Images(), a.Images())
					sameBits(t, "denoised", b.Denoised(), a.Denoised())
					sameBits(t, "energies", b.Energies(), a.Energies())
					ta, tb := a.Trace(), b.Trace()
					if len(ta) != len(tb) || a.StepIndex() != b.StepIndex() {
						t.Fatalf("trace of %d points at step %d, host %d at %d", len(tb), b.StepIndex(), len(ta), a.StepIndex())
					}
					for i := range ta {
						if ta[i] != tb[i] {
							t.Fatalf("trace point %d: %+v, host %+v", i, tb[i], ta[i])
						}
					}
				}
				if !b.Done() {
					t.Fatal("not done")
				}
				// Step 1 runs directly, step 2 is captured, and every later step replays it.
				if want := 0; graphs {
					want = steps - 1
					if host.note != nil || host.replays != want {
						t.Fatalf("%d graph launches for %d steps (capture: %v)", host.replays, steps, host.note)
					}
				} else if host.replays != want {
					t.Fatalf("%d graph launches with graphs off", host.replays)
				}
			})
		}
	}
}

// TestHostChainsMatchCPU: the device chains against a Chain on the CPU engine (nn.Model):
// the same noise, E and dE/dx equal to rounding, so the chains stay together.
func TestHostChainsMatchCPU(t *testing.T) {
	p := nn.InitParams[float32](small, rand.New(rand.NewPCG(3, 4)))
	dev, err := newEnergyModel(&hostOps{}, p)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	const n = 4
	a := newTestChain(t, nn.NewModel(p), small, n, testSampler(60), false, 5)
	b := newTestChain(t, dev, small, n, testSampler(60), false, 5)
	if err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	x := a.Denoised()
	x64 := make([]float64, len(x))
	for i, v := range x {
		x64[i] = float64(v)
	}
	r := relErr(b.Denoised(), x64)
	if r > 1e-5 {
		t.Fatalf("denoised samples: relative difference %.2g from the CPU chain", r)
	}
	t.Logf("denoised samples after %d steps: relative difference %.2g from the CPU chain", a.StepIndex(), r)
}

// TestHostChainsDiverge: a step length that blows the state up stops the device chain at
// the step, with the message, trace and state count of the host chain.
func TestHostChainsDiverge(t *testing.T) {
	p := nn.InitParams[float32](small, rand.New(rand.NewPCG(3, 4)))
	cfg := testSampler(3 * chainStretch)
	cfg.Eps = 1e18
	ref, _ := newEnergyModel(&hostOps{}, p)
	dev, _ := newEnergyModel(&hostOps{}, p)
	defer ref.Close()
	defer dev.Close()
	a := newTestChain(t, hostOnly{ref}, small, 2, cfg, false, 3)
	b := newTestChain(t, dev, small, 2, cfg, false, 3)
	ea := a.Run(context.Background())
	eb := b.Run(context.Background())
	if !errors.Is(ea, sampling.ErrDiverged) || eb == nil || ea.Error() != eb.Error() {
		t.Fatalf("divergence on the device: %v\non the host: %v", eb, ea)
	}
	if len(a.Trace()) != len(b.Trace()) || a.StepIndex() != b.StepIndex() {
		t.Fatalf("after divergence: trace %d step %d, host %d %d", len(b.Trace()), b.StepIndex(), len(a.Trace()), a.StepIndex())
	}
	if err := b.Step(context.Background()); err == nil || err.Error() != eb.Error() {
		t.Fatalf("a diverged chain stepped again: %v", err)
	}
}

// TestHostChainsCancel: a cancelled context stops the device chain before its next
// stretch; the chain goes on from there when stepped again.
func TestHostChainsCancel(t *testing.T) {
	p := nn.InitParams[float32](small, rand.New(rand.NewPCG(3, 4)))
	dev, _ := newEnergyModel(&hostOps{}, p)
	defer dev.Close()
	b := newTestChain(t, dev, small, 2, testSampler(40), false, 3)
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.StepN(ctx, 3); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := b.StepN(ctx, 10); !errors.Is(err, context.Canceled) || b.StepIndex() != 3 {
		t.Fatalf("cancelled: %v at step %d", err, b.StepIndex())
	}
	if err := b.Run(context.Background()); err != nil || !b.Done() {
		t.Fatalf("after the cancel: %v", err)
	}
}

// TestGPUNoiseMatchesTwin is a check of scripts/gpu_check.sh: the device's counter-based
// normals against internal/philox. The words are integer arithmetic and must match bit
// for bit; the normals go through the two libraries' log and sin/cos in double and may
// differ in the last float32 bit where a value lies at a rounding boundary.
func TestGPUNoiseMatchesTwin(t *testing.T) {
	open := gpuDevice(t, false)
	d := open()
	defer d.close()
	const n = 1 << 20
	got := make([]float32, n)
	err := d.do(func() error {
		z, err := d.alloc(n)
		if err != nil {
			return err
		}
		defer d.free(z)
		d.philoxNormals(z, philox.KeyOf(42), 7)
		d.download(got, z)
		return d.err()
	})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, n)
	philox.Normals(philox.KeyOf(42), 7, want)
	diff, worst := 0, 0
	for i := range want {
		if a, b := math.Float32bits(got[i]), math.Float32bits(want[i]); a != b {
			diff++
			u := int(int32(a) - int32(b))
			if u < 0 {
				u = -u
			}
			worst = max(worst, u)
		}
	}
	t.Logf("%d of %d normals differ from the twin, by at most %d ulp", diff, n, worst)
	if worst > 1 || diff > n/10000 {
		t.Fatalf("%d normals differ, by up to %d ulp", diff, worst)
	}
}

// TestGPUChains is the on-device sampling check of scripts/gpu_check.sh, on the
// paper-mnist net: chains on the GPU against (1) the same chains stepped on the host
// over the GPU's E and dE/dx (the chain arithmetic: equal up to the noise's last bits)
// and (2) chains on the CPU engine from the same seed (equal up to the network's
// rounding), with graphs off and on.
func TestGPUChains(t *testing.T) {
	l := gpuLibs(t)
	c, _ := nn.PresetConfig("paper-mnist")
	p := nn.InitParams[float32](c, rand.New(rand.NewPCG(3, 4)))
	const n, steps = 16, 200
	cfg := sampling.DefaultLangevinConfig()
	cfg.Schedule = cfg.Schedule.Rescaled(steps, -1)
	cpu := newTestChain(t, nn.NewModel(p), c, n, cfg, false, 7)
	if err := cpu.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	cpuDen := cpu.Denoised()
	toF64 := func(x []float32) []float64 {
		out := make([]float64, len(x))
		for i, v := range x {
			out[i] = float64(v)
		}
		return out
	}
	for _, graphs := range []bool{false, true} {
		o := mustOpen(t, l, graphs)
		m, err := newEnergyModel(o, p)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := newEnergyModel(mustOpen(t, l, false), p)
		if err != nil {
			t.Fatal(err)
		}
		gpu := newTestChain(t, m, c, n, cfg, false, 7)
		host := newTestChain(t, hostOnly{ref}, c, n, cfg, false, 7)
		for _, ch := range []*sampling.Chain{gpu, host} {
			if err := ch.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		den := gpu.Denoised()
		rHost := relErr(den, toF64(host.Denoised()))
		rCPU := relErr(den, toF64(cpuDen))
		t.Logf("graphs %v: %d chains x %d steps on the GPU: relative difference %.2g from host stepping over the GPU's network, %.2g from the CPU engine's chains (capture: %v)",
			graphs, n, steps, rHost, rCPU, o.graphErr)
		// Against the CPU the chains differ by the network's rounding, amplified over the
		// steps; a wrong noise stream or update would differ by O(1).
		if rHost > 1e-5 || rCPU > 1e-2 {
			t.Errorf("graphs %v: the GPU chains differ: %.2g from host stepping, %.2g from the CPU", graphs, rHost, rCPU)
		}
		if graphs && o.graphErr != nil {
			t.Errorf("capturing a Langevin step failed: %v", o.graphErr)
		}
		m.Close()
		ref.Close()
	}
}

// mustOpen opens GPU 0 with the libraries l, graphs on or off.
func mustOpen(t *testing.T, l *libs, graphs bool) *cudaOps {
	t.Helper()
	o, err := openCUDA(l, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	o.graphs = graphs
	return o
}

// gpuLibs loads the CUDA libraries for a GPU test, or skips it (see gpuDevice).
func gpuLibs(t *testing.T) *libs {
	t.Helper()
	gpuDevice(t, false)
	l, _ := load()
	return l
}

// sameRun fails unless two runs' losses and weights are equal bit for bit.
func sameRun(t *testing.T, what string, l0, l1 []float64, w0, w1 []float32) {
	t.Helper()
	for i := range l0 {
		if l0[i] != l1[i] {
			t.Fatalf("step %d: loss %v %s, %v without", i+1, l1[i], what, l0[i])
		}
	}
	for i := range w0 {
		if math.Float32bits(w0[i]) != math.Float32bits(w1[i]) {
			t.Fatalf("weight %d: %v %s, %v without", i, w1[i], what, w0[i])
		}
	}
}
