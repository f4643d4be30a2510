package gpu

import (
	"context"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"mdsm/core"
	"mdsm/internal/cuda"
	"mdsm/internal/cuda/cudatest"
	"mdsm/nn"
)

func TestMain(m *testing.M) {
	code := m.Run()
	cudatest.Remove()
	os.Exit(code)
}

// fakeCUDA loads the fake CUDA libraries (internal/cuda/cudatest): the real cudaOps code
// path, whose kernels the fake counts rather than runs.
func fakeCUDA(t *testing.T) (*libs, *cudatest.Record) {
	t.Helper()
	dir := cudatest.Libs(t)
	// The fake's "cubin" must never land in the real kernel cache (its key would match a
	// real NVRTC 13.0 on an sm_90 card).
	t.Setenv("MDSM_KERNEL_CACHE", t.TempDir())
	f := cuda.DefaultFinder()
	f.Env = func(k string) string {
		if k == "MDSM_CUDA_LIBS" {
			return dir
		}
		return ""
	}
	f.Cache = nil
	l, err := loadWith(f)
	if err != nil {
		t.Fatal(err)
	}
	return l, cudatest.Records(t, dir)
}

// counts is what the fake counted: kernel launches run one by one, launches recorded
// into graphs, captures begun and graph launches.
type counts struct{ direct, captured, captures, replays uint64 }

func countsOf(r *cudatest.Record) counts { return counts{r[33], r[32], r[34], r[13]} }

func (c counts) minus(d counts) counts {
	return counts{c.direct - d.direct, c.captured - d.captured, c.captures - d.captures, c.replays - d.replays}
}

// TestFakeGraphCalls checks the graph logic of the GPU code path through the driver's
// calls: with graphs on, a Langevin chain runs its first step's kernels one by one,
// captures its second step once (the launches go into the graph, not to the GPU) and
// replays the graph for every step after; a training engine does the same with its
// steps' gradient work; with graphs off nothing is captured.
func TestFakeGraphCalls(t *testing.T) {
	l, rec := fakeCUDA(t)
	p := nn.InitParams[float32](small, rand.New(rand.NewPCG(3, 4)))
	const steps = 10
	perStep := map[bool]uint64{}
	for _, graphs := range []bool{false, true} {
		m, err := newEnergyModel(mustOpen(t, l, graphs), p)
		if err != nil {
			t.Fatal(err)
		}
		ch := newTestChain(t, m, small, 2, testSampler(steps), false, 1)
		before := countsOf(rec)
		if err := ch.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := countsOf(rec).minus(before)
		if !graphs {
			if got.captured != 0 || got.captures != 0 || got.replays != 0 || got.direct%steps != 0 {
				t.Fatalf("graphs off: %+v", got)
			}
			perStep[false] = got.direct / steps
		} else {
			// step 1 directly, step 2 captured (its launches recorded once), steps 2..10 replayed
			k := perStep[false]
			if want := (counts{direct: k, captured: k, captures: 1, replays: steps - 1}); got != want {
				t.Fatalf("graphs on: %+v, want %+v (%d launches a step)", got, want, k)
			}
			if note := m.GraphsNote(); note != "on" {
				t.Fatalf("graphs note %q", note)
			}
		}
		t.Logf("graphs %v: %+v over %d Langevin steps", graphs, got, steps)
		if perStep[false] < 20 {
			t.Fatalf("%d kernel launches a Langevin step: the fake did not count them", perStep[false])
		}
		m.Close()

		cfg := core.DefaultRunConfig()
		cfg.Model, cfg.BatchSize, cfg.MicroBatch = small, 4, 2
		te, err := newTrainEngine(mustOpen(t, l, graphs), "fake", 0, 0, cfg, p, core.NewAdam(small, 0.9, 0.95))
		if err != nil {
			t.Fatal(err)
		}
		x, noise, sig := batchFor(small, 4, 1)
		before = countsOf(rec)
		for range 3 {
			if _, err := te.LossGrad(x, noise, 4, sig); err != nil {
				t.Fatal(err)
			}
		}
		got = countsOf(rec).minus(before)
		if graphs && (got.captures != 1 || got.replays != 2 || got.captured == 0 || got.direct != got.captured) {
			t.Fatalf("training with graphs: %+v", got)
		}
		if !graphs && (got.captures != 0 || got.replays != 0 || got.direct == 0) {
			t.Fatalf("training without graphs: %+v", got)
		}
		te.Close()
	}
}

// TestFakeGraphCaptureFails: when the driver refuses a capture, the step runs directly,
// graphs stay off for that piece of work, and the engine says why.
func TestFakeGraphCaptureFails(t *testing.T) {
	l, rec := fakeCUDA(t)
	t.Setenv("FAKE_CUDA_CAPTURE_FAIL", "1")
	p := nn.InitParams[float32](small, rand.New(rand.NewPCG(3, 4)))
	m, err := newEnergyModel(mustOpen(t, l, true), p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ch := newTestChain(t, m, small, 2, testSampler(6), false, 1)
	before := countsOf(rec)
	if err := ch.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := countsOf(rec).minus(before)
	if got.captures != 1 || got.replays != 0 || got.direct == 0 || got.direct%6 != 0 {
		t.Fatalf("a refused capture: %+v (want one capture, then every step run directly)", got)
	}
	if note := m.GraphsNote(); !strings.Contains(note, "failed") || !strings.Contains(note, "cuStreamEndCapture") {
		t.Fatalf("graphs note %q", note)
	}
}
