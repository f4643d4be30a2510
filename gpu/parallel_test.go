package gpu

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"mdsm/core"
	"mdsm/data"
	"mdsm/dist"
	"mdsm/nn"
)

// hostBackend is the CUDA backend made of host devices (hostOps), registered under the
// name "cuda" for a test, so that the trainer, the device choice of data-parallel ranks
// and the engines' exchange run their GPU code paths without a GPU.
type hostBackend struct{ graphs bool }

func (hostBackend) Name() string                      { return "cuda" }
func (hostBackend) Probe(ordinal int) (string, error) { return "host twin", nil }
func (hostBackend) Count() (int, error)               { return 2, nil }
func (b hostBackend) NewTrainEngine(d core.Device, cfg core.RunConfig, p *nn.Params[float32], a *core.Adam) (core.TrainEngine, error) {
	return newTrainEngine(&hostOps{graphs: b.graphs}, d.Name, d.Ordinal, 0, cfg, p, a)
}
func (b hostBackend) NewEnergy(d core.Device, p *nn.Params[float32]) (core.EnergyModel, error) {
	return newEnergyModel(&hostOps{graphs: b.graphs}, p)
}
func (hostBackend) Readings(d core.Device) (core.DeviceReadings, error) {
	return core.DeviceReadings{Name: "host twin"}, nil
}

// useHostBackend makes --device cuda the host twin until the test ends.
func useHostBackend(t *testing.T, graphs bool) {
	core.RegisterBackend(hostBackend{graphs: graphs})
	t.Cleanup(func() { core.RegisterBackend(backend{}) })
}

// tinyRun is a run small enough for the host device's direct convolutions.
func tinyRun(t *testing.T) (core.RunConfig, *data.Dataset) {
	cfg := core.DefaultRunConfig()
	cfg.Model = nn.Config{Preset: "test", InChannels: 1, ImageSize: 8, Filters: 3, Stages: 2, ExtraBlocks: 1}
	cfg.BatchSize, cfg.Steps, cfg.Warmup = 6, 4, 1
	cfg.CheckpointEvery, cfg.LogEvery, cfg.SampleEvery = 4, 1, 0
	cfg.Device = "cuda"
	rng := rand.New(rand.NewPCG(1, 2))
	ds := &data.Dataset{Name: "test", N: 48, C: 1, H: 8, W: 8, Pixels: make([]float32, 48*64)}
	for i := range ds.Pixels {
		ds.Pixels[i] = rng.Float32()
	}
	return cfg, ds
}

type trained struct {
	losses []float64
	params *nn.Params[float32]
	device string
	err    error
}

func train(tr *core.Trainer, err error) trained {
	if err != nil {
		return trained{err: err}
	}
	var out trained
	tr.Start()
	for ev := range tr.Events() {
		if e, ok := ev.(core.StepEvent); ok {
			out.losses = append(out.losses, e.Loss)
		}
	}
	out.err = tr.Err()
	out.params, _ = tr.Snapshot()
	out.device = tr.Device().Name
	return out
}

// TestHostDataParallelEqualsSingleDevice: W device ranks (host twins of GPUs, exchanging
// through the host collectives where NCCL would be) give the losses and weights of one
// device at the same batch and micro-batch, bit for bit, with and without graphs, for
// one and several slots per rank.
func TestHostDataParallelEqualsSingleDevice(t *testing.T) {
	for _, tc := range []struct {
		name         string
		ranks, micro int
		graphs       bool
	}{
		{"2 ranks, one slot each", 2, 3, false},
		{"2 ranks, 3 slots", 2, 2, false},
		{"3 ranks, slots of 4 and 2, graphs", 3, 4, true},
		{"3 ranks, one slot each", 3, 2, false},
		{"4 ranks, 6 slots in two rounds, graphs", 4, 1, true},
		{"2 ranks, 3 slots, graphs", 2, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			useHostBackend(t, tc.graphs)
			cfg, ds := tinyRun(t)
			cfg.MicroBatch = tc.micro
			want := train(core.NewTrainer(cfg, ds, filepath.Join(t.TempDir(), "single")))
			if want.err != nil {
				t.Fatal(want.err)
			}
			if len(want.losses) != cfg.Steps || want.device != "host twin" {
				t.Fatalf("single device: %d steps on %q", len(want.losses), want.device)
			}
			comms := dist.NewGroup(tc.ranks)
			got := make([]trained, tc.ranks)
			root := t.TempDir()
			var wg sync.WaitGroup
			for r := range tc.ranks {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[r] = train(core.NewTrainerOn(comms[r], cfg, ds, filepath.Join(root, string(rune('a'+r)))))
				}()
			}
			wg.Wait()
			for r, g := range got {
				if g.err != nil {
					t.Fatalf("rank %d: %v", r, g.err)
				}
				if g.device != "host twin" {
					t.Fatalf("rank %d trained on %q", r, g.device)
				}
				for i := range want.losses {
					if g.losses[i] != want.losses[i] {
						t.Fatalf("rank %d step %d: loss %.17g, one device %.17g", r, i+1, g.losses[i], want.losses[i])
					}
				}
				w, v := want.params.Flat(), g.params.Flat()
				for i := range w {
					if math.Float32bits(w[i]) != math.Float32bits(v[i]) {
						t.Fatalf("rank %d: weight %d is %v, one device %v", r, i, v[i], w[i])
					}
				}
			}
		})
	}
}

// TestHostGraphsRepeatTraining: a training engine whose steps replay captured graphs
// gives the losses and weights of one without, bit for bit, over steps with fresh data.
func TestHostGraphsRepeatTraining(t *testing.T) {
	c := small
	cfg := core.DefaultRunConfig()
	cfg.Model, cfg.BatchSize, cfg.MicroBatch, cfg.Sigma0 = c, 5, 2, 0.1
	p := nn.InitParams[float32](c, rand.New(rand.NewPCG(3, 4)))
	run := func(graphs bool) ([]float64, []float32, *hostOps) {
		h := &hostOps{graphs: graphs}
		te, err := newTrainEngine(h, "host", 0, 0, cfg, p, core.NewAdam(c, 0.9, 0.95))
		if err != nil {
			t.Fatal(err)
		}
		defer te.Close()
		var losses []float64
		for step := range 5 {
			x, noise, sig := batchFor(c, 5, uint64(step))
			l, err := te.LossGrad(x, noise, 5, sig)
			if err != nil {
				t.Fatal(err)
			}
			if err := te.Step(1e-3); err != nil {
				t.Fatal(err)
			}
			losses = append(losses, l)
		}
		out := nn.NewParams[float32](c)
		te.ReadParams(out)
		return losses, out.Flat(), h
	}
	l0, w0, _ := run(false)
	l1, w1, h := run(true)
	if h.replays != 4 || h.note != nil {
		t.Fatalf("%d graph launches in 5 steps (want 4: the first step runs directly), capture: %v", h.replays, h.note)
	}
	sameRun(t, "with graphs", l0, l1, w0, w1)
}

// TestGPUDataParallelOneRank is the data-parallel check of scripts/gpu_check.sh that one
// GPU allows (NCCL refuses two ranks on one GPU): an engine joined to a job of one rank
// computes a step slot by slot through the exchange (NCCL's grouped all-to-all, kernel
// add_chunks, NCCL's all-gather) and must give the gradient and loss of LossGrad on the
// same GPU, bit for bit. It skips without a GPU or NCCL (MDSM_REQUIRE_NCCL=1 fails).
func TestGPUDataParallelOneRank(t *testing.T) {
	l := gpuLibs(t)
	c, _ := nn.PresetConfig("paper-mnist")
	cfg := core.DefaultRunConfig()
	cfg.Model, cfg.BatchSize, cfg.MicroBatch, cfg.Sigma0 = c, 12, 4, 0.1
	p := nn.InitParams[float32](c, rand.New(rand.NewPCG(3, 4)))
	x, noise, sig := batchFor(c, 12, 5)
	engine := func() *trainEngine {
		te, err := newTrainEngine(mustOpen(t, l, false), "gpu", 0, 0, cfg, p, core.NewAdam(c, 0.9, 0.95))
		if err != nil {
			t.Fatal(err)
		}
		return te
	}
	ref := engine()
	defer ref.Close()
	want, err := ref.LossGrad(x, noise, 12, sig)
	if err != nil {
		t.Fatal(err)
	}
	te := engine()
	defer te.Close()
	if err := te.JoinRanks(dist.Single(), dist.Launch{Launcher: dist.LaunchSingle, Size: 1, LocalSize: 1}); err != nil {
		if os.Getenv("MDSM_REQUIRE_NCCL") == "1" {
			t.Fatal(err)
		}
		t.Skipf("no NCCL: %v", err)
	}
	d := c.Dim()
	loss := 0.0
	for j := 0; j < 3; j++ {
		l, err := te.SlotLossGrad(x[4*j*d:4*(j+1)*d], noise[4*j*d:4*(j+1)*d], 4*j, 4, 12, sig)
		if err != nil {
			t.Fatal(err)
		}
		loss += l
		if err := te.ExchangeRound(j, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := te.FinishExchange(); err != nil {
		t.Fatal(err)
	}
	if loss != want {
		t.Errorf("loss through the exchange %.17g, LossGrad %.17g", loss, want)
	}
	g0, g1 := make([]float32, ref.G.N), make([]float32, te.G.N)
	ref.d.do(func() error { ref.d.download(g0, ref.G); return nil })
	te.d.do(func() error { te.d.download(g1, te.G); return nil })
	for i := range g0 {
		if math.Float32bits(g0[i]) != math.Float32bits(g1[i]) {
			t.Fatalf("gradient %d: %v through the exchange, %v from LossGrad", i, g1[i], g0[i])
		}
	}
}

// TestGPUGraphsRepeatTraining is a graphs check of scripts/gpu_check.sh: training steps of
// paper-mnist replayed as captured CUDA graphs (cuDNN's convolutions and the kernels)
// give the losses and weights of the same steps launched one by one, bit for bit.
func TestGPUGraphsRepeatTraining(t *testing.T) {
	l := gpuLibs(t)
	c, _ := nn.PresetConfig("paper-mnist")
	cfg := core.DefaultRunConfig()
	cfg.Model, cfg.BatchSize, cfg.MicroBatch, cfg.Sigma0 = c, 16, 8, 0.1
	p := nn.InitParams[float32](c, rand.New(rand.NewPCG(3, 4)))
	run := func(graphs bool) ([]float64, []float32, *cudaOps) {
		o := mustOpen(t, l, graphs)
		te, err := newTrainEngine(o, "gpu", 0, 0, cfg, p, core.NewAdam(c, 0.9, 0.95))
		if err != nil {
			t.Fatal(err)
		}
		defer te.Close()
		var losses []float64
		for step := range 4 {
			x, noise, sig := batchFor(c, 16, uint64(step))
			l, err := te.LossGrad(x, noise, 16, sig)
			if err != nil {
				t.Fatal(err)
			}
			if err := te.Step(1e-4); err != nil {
				t.Fatal(err)
			}
			losses = append(losses, l)
		}
		out := nn.NewParams[float32](c)
		if err := te.ReadParams(out); err != nil {
			t.Fatal(err)
		}
		return losses, out.Flat(), o
	}
	l0, w0, _ := run(false)
	l1, w1, o := run(true)
	if o.graphErr != nil {
		t.Fatalf("capturing a training step failed: %v", o.graphErr)
	}
	sameRun(t, "with graphs", l0, l1, w0, w1)
}
