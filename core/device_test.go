package core

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"mdsm/nn"
)

// standInBackend is a device backend made of the CPU engine, registered as "cuda" for a
// test: it counts the energy models it makes and closes, and reads a fixed GPU.
type standInBackend struct{ made, closed, grads *atomic.Int64 }

func (standInBackend) Name() string                      { return "cuda" }
func (standInBackend) Probe(ordinal int) (string, error) { return "cuda:0 (stand-in)", nil }
func (standInBackend) Count() (int, error)               { return 1, nil }
func (standInBackend) NewTrainEngine(d Device, cfg RunConfig, p *nn.Params[float32], a *Adam) (TrainEngine, error) {
	return NewCPUEngine(cfg, p, a), nil
}
func (b standInBackend) NewEnergy(d Device, p *nn.Params[float32]) (EnergyModel, error) {
	b.made.Add(1)
	return &countingEnergy{cpuEnergy{nn.NewModel(p)}, b}, nil
}
func (standInBackend) Readings(d Device) (DeviceReadings, error) {
	return DeviceReadings{Name: "Stand-in GPU", MemUsed: 3 << 30, MemTotal: 80 << 30, UtilPercent: 42, HasGPUReading: true}, nil
}

type countingEnergy struct {
	cpuEnergy
	b standInBackend
}

func (c *countingEnergy) EnergyGrad(x []float32, n int, e, g []float32) {
	c.b.grads.Add(1)
	c.cpuEnergy.EnergyGrad(x, n, e, g)
}
func (c *countingEnergy) Close() error { c.b.closed.Add(1); return nil }

// useStandInBackend registers the stand-in as "cuda" until the test ends.
func useStandInBackend(t *testing.T) standInBackend {
	b := standInBackend{new(atomic.Int64), new(atomic.Int64), new(atomic.Int64)}
	RegisterBackend(b)
	t.Cleanup(func() {
		backendsMu.Lock()
		delete(backends, "cuda")
		backendsMu.Unlock()
	})
	return b
}

// TestJobsRunOnTheRunsDevice: the workbench's jobs (live chains, inpainting, denoising)
// and its header readings use the run's device, live or followed; each job closes its
// model when it ends.
func TestJobsRunOnTheRunsDevice(t *testing.T) {
	b := useStandInBackend(t)
	cfg := testConfig()
	cfg.Steps, cfg.Device = 2, "cuda"
	dir := t.TempDir() + "/run"
	live, err := StartRun(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	for range live.Events() {
	}
	followed, err := FollowRun(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer followed.Close()
	lc := cfg.SamplerConfig()
	lc.Schedule = lc.Schedule.Rescaled(6, 5)
	for _, r := range []*Run{live, followed} {
		if d := r.Device(); d.String() != "cuda:0" {
			t.Fatalf("run device %s", d)
		}
		rd, err := r.Readings()
		if err != nil || !rd.HasGPUReading || rd.Name != "Stand-in GPU" || rd.UtilPercent != 42 {
			t.Fatalf("readings %+v, %v", rd, err)
		}
		made, grads := b.made.Load(), b.grads.Load()
		var last JobUpdate
		for u := range StartSampling(context.Background(), r, SampleSpec{Sampler: lc, N: 2, Seed: 1, Every: func() int { return 3 }}) {
			if u.Err != nil {
				t.Fatal(u.Err)
			}
			last = u
		}
		if !last.Done || !strings.HasSuffix(last.Weights, " on cuda:0") {
			t.Fatalf("last update %+v", last)
		}
		imgs, err := LoadTestImages(cfg, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"left", ModeDenoise} {
			for u := range StartRestoring(context.Background(), r, imgs, RestoreSpec{Mode: mode, Rows: 2, Sigma: 0.3, Sampler: lc, Seed: 1}) {
				if u.Err != nil {
					t.Fatal(u.Err)
				}
			}
		}
		if m := b.made.Load() - made; m != 3 || b.grads.Load()-grads < 6+6+1 {
			t.Fatalf("%d models made on the device, %d gradients: the jobs did not run there", m, b.grads.Load()-grads)
		}
	}
	if b.made.Load() != b.closed.Load() {
		t.Fatalf("%d models made on the device, %d closed", b.made.Load(), b.closed.Load())
	}
}
