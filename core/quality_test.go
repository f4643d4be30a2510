package core

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"mdsm/nn"
)

// TestPeriodicSamplerScores: the periodic grid of a run on MNIST data is scored (N = the
// grid's chains, against its floor), and a run on data without a classifier is not.
func TestPeriodicSamplerScores(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	cfg.SampleEvery, cfg.SampleCount, cfg.SampleSteps = 1, 12, 10
	tr, err := NewTrainer(cfg, ds, filepath.Join(t.TempDir(), "run"))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	p, _ := tr.Snapshot()
	res, err := drawGrid(PeriodicSampler(cfg), p, 7, tr.RunDir())
	if err != nil || res.ScoreErr != nil {
		t.Fatal(err, res.ScoreErr)
	}
	s := res.Score
	if s == nil || s.Step != 7 || s.N != 12 || !(s.FD > s.Floor) || !(s.Floor > 0) || s.Classes < 1 || s.MaxSoftmax <= 0 {
		t.Errorf("score of an untrained net's grid: %+v; want N 12, FD above a positive floor", s)
	}
	stacked := cfg
	stacked.Data, stacked.Model.InChannels = "stacked-mnist", 3
	ps := nn.InitParams[float32](stacked.Model, rand.New(rand.NewPCG(1, 1)))
	res, err = drawGrid(PeriodicSampler(stacked), ps, 3, tr.RunDir())
	if err != nil || res.ScoreErr != nil || res.Score == nil || res.Score.N != 12 || res.Score.Modes < 1 || res.Score.Modes > 12 {
		t.Errorf("stacked-MNIST grid: score %+v, errors %v, %v; want 1..12 modes of N=12", res.Score, err, res.ScoreErr)
	}
	cfg.Data = "cifar10"
	if res, err := drawGrid(GridSamplerOn(CPU, cfg.SamplerConfig(), 4, 1, newLiveScorer(cfg)), p, 7, tr.RunDir()); err != nil || res.Score != nil {
		t.Errorf("cifar10 run: score %+v, err %v; want no score", res.Score, err)
	}
}

// drawGrid runs a sample grid job to the end, as the trainer does.
func drawGrid(f SampleFunc, p *nn.Params[float32], step int, dir string) (SampleResult, error) {
	job, err := f(p, step, dir)
	if err != nil {
		return SampleResult{}, err
	}
	defer job.Close()
	for {
		done, err := job.Step(context.Background())
		if err != nil {
			return SampleResult{}, err
		}
		if done {
			return job.Finish()
		}
	}
}

// resultJob is a grid done after one slice, with a given result.
type resultJob struct {
	res      SampleResult
	finished func()
}

func (j *resultJob) Step(context.Context) (bool, error) { return true, nil }
func (j *resultJob) Finish() (SampleResult, error)      { j.finished(); return j.res, nil }
func (j *resultJob) Close()                             {}

// TestScoresReachMetrics: the score of every periodic grid reaches the SampleEvent and
// the next metrics.jsonl line, which names the grid's step.
func TestScoresReachMetrics(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	cfg.Steps, cfg.SampleEvery = 11, 3
	tr, err := NewTrainer(cfg, ds, filepath.Join(t.TempDir(), "run"))
	if err != nil {
		t.Fatal(err)
	}
	done := map[int]chan struct{}{3: make(chan struct{}), 6: make(chan struct{}), 9: make(chan struct{})}
	tr.Sampler = func(p *nn.Params[float32], step int, dir string) (SampleJob, error) {
		return &resultJob{res: SampleResult{Path: "grid", Score: &SampleScore{Step: step, N: 5, FD: float64(100 + step)}},
			finished: func() { close(done[step]) }}, nil
	}
	// The step after a grid waits for its score, so that the test knows which line carries it.
	tr.beforeStep = func(step int, _ []float32) {
		if ch, ok := done[step-1]; ok {
			<-ch
		}
	}
	tr.Start()
	scored := map[int]bool{}
	for ev := range tr.Events() {
		if e, ok := ev.(SampleEvent); ok && e.Score != nil && e.Score.FD == float64(100+e.Step) {
			scored[e.Step] = true
		}
	}
	if len(scored) != 3 {
		t.Errorf("sample events with scores for steps %v, want 3, 6, 9", scored)
	}
	recs, err := ReadMetrics(filepath.Join(tr.RunDir(), "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		switch {
		case r.Step == 4 || r.Step == 7 || r.Step == 10:
			if r.Score == nil || r.Score.Step != r.Step-1 || r.Score.FD != float64(100+r.Step-1) {
				t.Errorf("line of step %d: score %+v, want the grid of step %d", r.Step, r.Score, r.Step-1)
			}
		case r.Score != nil:
			t.Errorf("line of step %d carries a score %+v", r.Step, r.Score)
		}
	}
}

// TestTruncateKeepsEarlierScores: resuming from a checkpoint drops the lines after it, but
// not the score of a grid drawn before it that a dropped line carried.
func TestTruncateKeepsEarlierScores(t *testing.T) {
	recs := []MetricRecord{{Step: 4}, {Step: 5}, {Step: 6, Score: &SampleScore{Step: 5, FD: 1}}, {Step: 7, Score: &SampleScore{Step: 7, FD: 2}}}
	kept := keepMetrics(recs, 5)
	if len(kept) != 2 || kept[1].Score == nil || kept[1].Score.FD != 1 || kept[0].Score != nil {
		t.Errorf("kept %+v; want steps 4 and 5, the score of the grid at step 5 on the line of step 5", kept)
	}
	if kept := keepMetrics(recs, 7); len(kept) != 4 || kept[3].Score.FD != 2 {
		t.Errorf("nothing to drop: kept %+v", kept)
	}
}
