package core

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

// TestSigmaBins: the run's noise levels are cut into consecutive bins of equal size that
// cover them in order; single-noise runs and impossible bin counts have none.
func TestSigmaBins(t *testing.T) {
	c := DefaultRunConfig()
	c.BatchSize, c.SigmaMin, c.SigmaMax, c.NoiseSpacing = 64, 0.05, 1.2, SpacingLinear
	bins := SigmaBins(c, sigmaBinCount(c))
	if len(bins) != SigmaBinCount {
		t.Fatalf("%d bins, want %d", len(bins), SigmaBinCount)
	}
	if bins[0].Lo != 0.05 || math.Abs(bins[len(bins)-1].Hi-1.2) > 1e-12 {
		t.Errorf("bins span %g..%g, want 0.05..1.2", bins[0].Lo, bins[len(bins)-1].Hi)
	}
	levels, _ := NoiseLevels(c)
	for i, b := range bins {
		if n := countIn(levels, b); n != 8 {
			t.Errorf("bin %d (%g..%g) holds %d levels, want 8", i, b.Lo, b.Hi, n)
		}
		if i > 0 && !(b.Lo > bins[i-1].Hi) {
			t.Errorf("bin %d starts at %g, not after bin %d's end %g", i, b.Lo, i-1, bins[i-1].Hi)
		}
	}
	single := c
	single.NoiseMode = NoiseSingle
	if k := sigmaBinCount(single); k != 0 {
		t.Errorf("single-noise training logs %d bins, want none", k)
	}
	if SigmaBins(c, 65) != nil || SigmaBins(c, 0) != nil {
		t.Error("more bins than levels, or none, must give nil")
	}
}

func countIn(levels []float64, b SigmaBin) int {
	n := 0
	for _, s := range levels {
		if s >= b.Lo && s <= b.Hi {
			n++
		}
	}
	return n
}

// TestLossPerNoiseLevel: every step reports its loss per noise-level bin; with equal bins
// their mean is the step's loss, metrics.jsonl carries the same numbers, and training is
// unchanged by knowing each image's level (the weights equal a run without the bins).
func TestLossPerNoiseLevel(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	cfg.Steps, cfg.BatchSize, cfg.MicroBatch = 4, 16, 8 // 8 bins of 2 images
	dir := filepath.Join(t.TempDir(), "run")
	tr, err := NewTrainer(cfg, ds, dir)
	if err != nil {
		t.Fatal(err)
	}
	tr.Start()
	steps := drain(t, tr)
	recs, err := ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
	if err != nil || len(recs) != len(steps) {
		t.Fatalf("metrics: %d records for %d steps, %v", len(recs), len(steps), err)
	}
	for i, e := range steps {
		if len(e.SigmaLoss) != SigmaBinCount {
			t.Fatalf("step %d: %d bin losses, want %d", e.Step, len(e.SigmaLoss), SigmaBinCount)
		}
		mean := 0.0
		for _, v := range e.SigmaLoss {
			if !(v > 0) {
				t.Errorf("step %d: bin loss %g", e.Step, v)
			}
			mean += v / float64(len(e.SigmaLoss))
		}
		if math.Abs(mean-e.Loss) > 1e-9*e.Loss {
			t.Errorf("step %d: mean of the bins %.12g, loss %.12g", e.Step, mean, e.Loss)
		}
		if !slices.Equal(recs[i].SigmaLoss, e.SigmaLoss) {
			t.Errorf("step %d: metrics.jsonl has %v, the event %v", e.Step, recs[i].SigmaLoss, e.SigmaLoss)
		}
	}
	if first := steps[0].SigmaLoss; slices.Min(first) == slices.Max(first) {
		t.Errorf("every bin has the same loss %v", first)
	}
	// the levels' order is the one shuffling the levels themselves gives (the noise
	// stream of older runs): resumed old runs go on unchanged
	tr2, err := NewTrainer(cfg, ds, filepath.Join(t.TempDir(), "run2"))
	if err != nil {
		t.Fatal(err)
	}
	tr2.StopAtStep = 1
	tr2.Start()
	drain(t, tr2)
	want := append([]float64(nil), tr2.sigmas...)
	rng := rand.New(rand.NewPCG(cfg.Seed, 3))
	rng.Shuffle(len(want), func(i, j int) { want[i], want[j] = want[j], want[i] })
	if !slices.Equal(tr2.perm, want) {
		t.Errorf("step 1's noise levels %v, shuffling the levels gives %v", tr2.perm, want)
	}
}
