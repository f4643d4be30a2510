package core

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"mdsm/internal/gemm"
	"mdsm/nn"
)

// TestSampleGridsLeaveTrainingAlone: periodic grids drawn between the steps change neither
// the weights nor the optimiser (bit for bit against a run without grids, on another thread
// count); a grid due while one is drawn is skipped, and the last one started is finished at
// the end. With 1% of the time, the grid of step 4 (30 Langevin steps) cannot finish in the
// 6 steps left, so it is the only grid, finished after the last step.
func TestSampleGridsLeaveTrainingAlone(t *testing.T) {
	ds := testData(t)
	run := func(sample bool, threads int) (*nn.Params[float32], []SampleEvent, string) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
		gemm.SetThreads(threads)
		defer gemm.SetThreads(0)
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
	plain, _, _ := run(false, 1)
	sampled, grids, dir := run(true, 3)
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

// sleepJob is a grid whose every slice takes d and which is done after n slices, or once
// until (when set) holds true.
type sleepJob struct {
	d      time.Duration
	n, ran int
	until  *atomic.Bool
}

func (j *sleepJob) Step(context.Context) (bool, error) {
	time.Sleep(j.d)
	j.ran++
	return j.ran >= j.n || (j.until != nil && j.until.Load()), nil
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

// TestGridDrawnWhilePaused: a paused run gives its time to the grid being drawn, which
// finishes while no training step is taken; the stop after it records no pending grid.
func TestGridDrawnWhilePaused(t *testing.T) {
	ds := testData(t)
	tr, dir := newTestTrainer(t, ds, func(c *RunConfig) { c.Steps, c.SampleEvery, c.SampleShare = 1000, 2, 0.01 })
	var finish atomic.Bool
	started := make(chan struct{}, 1)
	tr.Sampler = func(*nn.Params[float32], int, string) (SampleJob, error) {
		select {
		case started <- struct{}{}:
		default:
		}
		return &sleepJob{d: time.Millisecond, n: 1 << 30, until: &finish}, nil
	}
	tr.Start()
	<-started
	tr.Pause()
	readEvents(t, tr.Events(), "the pause", func(ev Event) bool {
		s, ok := ev.(StateEvent)
		return ok && s.State == Paused
	})
	finish.Store(true) // from now on only a paused run can finish the grid
	evs := readEvents(t, tr.Events(), "the grid drawn while paused", func(ev Event) bool {
		_, ok := ev.(SampleEvent)
		return ok
	})
	for _, ev := range evs {
		if s, ok := ev.(StepEvent); ok {
			t.Fatalf("step %d trained while paused", s.Step)
		}
	}
	if g, ok := evs[len(evs)-1].(SampleEvent); !ok || g.Err != nil {
		t.Fatalf("last event %#v, want the grid, drawn", evs[len(evs)-1])
	}
	if err := tr.Stop(); err != nil {
		t.Fatal(err)
	}
	ck, _, err := LoadLatestCheckpoint(dir)
	if err != nil || ck.State.SamplePending != 0 {
		t.Errorf("final checkpoint: pending %d (%v), want none", ck.State.SamplePending, err)
	}
}
