package core

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"mdsm/sampling"
)

// TestEnergyJob scores a run's test images, its newest periodic grid (read back from the
// picture) and an OOD set; a dataset that is not on disk stands down for the inverted test
// images, and the job says so; a cancelled job ends with the cancellation.
func TestEnergyJob(t *testing.T) {
	dir, live := finishedRun(t, 4)
	defer live.Close()
	cfg, err := ReadRunConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir() // nothing downloaded there
	c := cfg.Model
	imgs := make([]float32, cfg.SampleCount*c.Dim())
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range imgs {
		imgs[i] = rng.Float32()
	}
	g, err := sampling.Grid(imgs, cfg.SampleCount, c.InChannels, c.ImageSize, c.ImageSize, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := sampling.WritePNG(GridPath(dir, 4), g); err != nil {
		t.Fatal(err)
	}
	f, err := FollowRun(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var last EnergyUpdate
	for u := range StartEnergies(context.Background(), f, cfg, dir, EnergySpec{N: 40, OOD: "fashion-mnist", Sigma0: cfg.Sigma0, Seed: 1}) {
		last = u
	}
	if last.Err != nil || !last.Done || last.Step != 4 {
		t.Fatalf("last update %+v", last)
	}
	if len(last.Sets) != 3 {
		t.Fatalf("%d sets, want test, samples and OOD", len(last.Sets))
	}
	for i, want := range []struct {
		name string
		n    int
		note string
	}{{"test", 40, "40 images"}, {"samples", cfg.SampleCount, "grid of step 4"}, {OODInverted, 40, "not downloaded"}} {
		s := last.Sets[i]
		if s.Name != want.name || len(s.Energies) != want.n || !strings.Contains(s.Note, want.note) {
			t.Errorf("set %d: %s, %d energies, note %q; want %s, %d, %q", i, s.Name, len(s.Energies), s.Note, want.name, want.n, want.note)
		}
	}
	if math.IsNaN(last.AUROC) || last.AUROC < 0 || last.AUROC > 1 {
		t.Errorf("AUROC %v", last.AUROC)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for u := range StartEnergies(ctx, f, cfg, dir, EnergySpec{N: 40, OOD: OODNoise}) {
		last = u
	}
	if last.Err == nil || !last.Done {
		t.Errorf("a cancelled job ended with %+v", last)
	}
}
