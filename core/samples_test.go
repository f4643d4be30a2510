package core

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mdsm/nn"
)

// TestSampleGridsLeaveTrainingAlone: periodic grids drawn between the steps change neither
// the weights nor the optimiser (bit for bit against a run without grids); a grid due while
// one is drawn is skipped, and the last one started is finished at the end. With 1% of the
// time, the grid of step 4 (30 Langevin steps) cannot finish in the 6 steps left, so it is
// the only grid, finished after the last step.
func TestSampleGridsLeaveTrainingAlone(t *testing.T) {
	ds := testData(t)
	run := func(sample bool) (*nn.Params[float32], []SampleEvent, string) {
		cfg := testConfig()
		cfg.Steps = 10
		if sample {
			cfg.SampleEvery, cfg.SampleCount, cfg.SampleSteps, cfg.SampleShare = 4, 4, 30, 0.01
		}
		dir := filepath.Join(t.TempDir(), "r")
		tr, err := NewTrainer(cfg, ds, dir)
		if err != nil {
			t.Fatal(err)
		}
		if sample {
			tr.Sampler = PeriodicSampler(cfg)
		}
		tr.Start()
		var grids []SampleEvent
		for ev := range tr.Events() {
			if s, ok := ev.(SampleEvent); ok {
				grids = append(grids, s)
			}
		}
		if err := tr.Err(); err != nil {
			t.Fatal(err)
		}
		p, _ := tr.Snapshot()
		return p, grids, dir
	}
	plain, _, _ := run(false)
	sampled, grids, dir := run(true)
	for _, name := range plain.Names {
		a, b := plain.T[name].Data, sampled.T[name].Data
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s[%d]: %v without grids, %v with", name, i, a[i], b[i])
			}
		}
	}
	if len(grids) == 0 {
		t.Fatal("no sample grid was drawn")
	}
	for _, g := range grids {
		if g.Err != nil {
			t.Fatalf("grid of step %d: %v", g.Step, g.Err)
		}
		if _, err := os.Stat(g.Path); err != nil {
			t.Fatalf("grid of step %d: %v", g.Step, err)
		}
		if g.Step%4 != 0 {
			t.Fatalf("a grid of step %d, not a multiple of sample_every", g.Step)
		}
	}
	if len(grids) != 1 || grids[0].Step != 4 {
		t.Errorf("grids %+v, want one, of step 4 (the one of step 8 skipped, the one of step 4 finished after training)", grids)
	}
	if _, err := os.Stat(filepath.Join(dir, "samples", "step-00000004-energy.csv")); err != nil {
		t.Error(err)
	}
}

// sleepJob is a grid whose every slice takes d and which is done after n slices.
type sleepJob struct {
	d      time.Duration
	n, ran int
}

func (j *sleepJob) Step(context.Context) (bool, error) {
	time.Sleep(j.d)
	j.ran++
	return j.ran >= j.n, nil
}

func (j *sleepJob) Finish() (SampleResult, error) { return SampleResult{Path: "grid.png"}, nil }
func (j *sleepJob) Close()                        {}

// TestSampleShareBound: after each training step a grid gets slices until it has had
// share/(1-share) of the training time since it began, and none once it has.
func TestSampleShareBound(t *testing.T) {
	for _, share := range []float64{0.1, 0.5} {
		cfg := testConfig()
		cfg.SampleShare = share
		tr := &Trainer{cfg: cfg, events: make(chan Event, 64)}
		job := &sleepJob{d: time.Millisecond, n: 1 << 30}
		tr.grid = &gridRun{job: job}
		for step := 0; step < 5; step++ {
			tr.advanceGrid(20 * time.Millisecond)
			g := tr.grid
			budget := time.Duration(float64(g.train) * share / (1 - share))
			if g.spent < budget {
				t.Fatalf("share %g, step %d: the grid had %v of its %v budget", share, step, g.spent, budget)
			}
			// Every slice takes at least d, and slices stop once the budget is reached.
			if most := int((budget + job.d - 1) / job.d); job.ran > most {
				t.Fatalf("share %g, step %d: %d slices of at least %v for a budget of %v", share, step, job.ran, job.d, budget)
			}
		}
	}
}
