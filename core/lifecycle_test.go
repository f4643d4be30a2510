package core

import (
	"path/filepath"
	"testing"
	"time"

	"mdsm/data"
	"mdsm/nn"
)

// newTestTrainer creates a fresh run of testConfig, changed by edit, in a temporary
// directory.
func newTestTrainer(t *testing.T, ds *data.Dataset, edit func(c *RunConfig)) (*Trainer, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	cfg := testConfig()
	edit(&cfg)
	tr, err := NewTrainer(cfg, ds, dir)
	if err != nil {
		t.Fatal(err)
	}
	return tr, dir
}

// eventsDone collects the events of a trainer and waits until it has released its run.
func eventsDone(t *testing.T, tr *Trainer) []Event {
	t.Helper()
	out := events(t, tr)
	select {
	case <-tr.Done():
		return out
	case <-time.After(time.Minute):
		t.Fatal("trainer did not end")
	}
	return nil
}

// TestFinishedRunIsFinished: a run that did all its steps ends Finished, not Stopped;
// resuming it without more steps writes no checkpoint again; with more steps it goes on.
func TestFinishedRunIsFinished(t *testing.T) {
	ds := testData(t)
	tr, dir := newTestTrainer(t, ds, func(c *RunConfig) { c.Steps = 5 })
	tr.Start()
	evs := eventsDone(t, tr)
	if tr.State() != Finished {
		t.Fatalf("state %v after the last step, want finished", tr.State())
	}
	if st, ok := evs[len(evs)-2].(StateEvent); !ok || st.State != Finished {
		t.Errorf("last state event %#v", evs[len(evs)-2])
	}
	again, err := ResumeTrainer(dir, ds, ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again.Start()
	for _, ev := range eventsDone(t, again) {
		if c, ok := ev.(CheckpointEvent); ok {
			t.Errorf("resuming a finished run wrote %+v again", c)
		}
	}
	if again.State() != Finished || again.Step() != 5 {
		t.Errorf("resumed finished run: %v at step %d", again.State(), again.Step())
	}
	longer, err := ResumeTrainer(dir, ds, ResumeOptions{Steps: 7})
	if err != nil {
		t.Fatal(err)
	}
	longer.Start()
	events(t, longer)
	if longer.State() != Finished || longer.Step() != 7 {
		t.Errorf("extended run: %v at step %d, want finished at 7", longer.State(), longer.Step())
	}
}

// TestKeptCheckpointSurvivesRotation: a checkpoint asked for by the user is never deleted
// by the keep-N rotation, and asking twice at one step (or at the step of a periodic
// checkpoint) marks that checkpoint instead of writing it again.
func TestKeptCheckpointSurvivesRotation(t *testing.T) {
	ds := testData(t)
	edit := func(c *RunConfig) { c.Steps, c.CheckpointEvery, c.KeepCheckpoints = 12, 4, 1 }
	tr, dir := newTestTrainer(t, ds, edit)
	tr.beforeStep = func(step int, _ []float32) {
		if step == 3 || step == 6 { // served once that step is done
			tr.CheckpointNow()
		}
	}
	tr.Start()
	var kept []CheckpointEvent
	for _, ev := range events(t, tr) {
		if c, ok := ev.(CheckpointEvent); ok && c.Kept {
			kept = append(kept, c)
		}
	}
	if len(kept) != 2 || kept[0].Step != 3 || kept[1].Step != 6 {
		t.Fatalf("kept checkpoint events %+v, want steps 3 and 6", kept)
	}
	steps, _ := checkpointSteps(dir)
	if len(steps) != 3 || steps[0] != 3 || steps[1] != 6 || steps[2] != 12 {
		t.Errorf("checkpoints on disk %v, want [3 6 12] (kept 3 and 6, the newest periodic 12)", steps)
	}
	for _, s := range []int{3, 6} {
		if _, err := LoadCheckpoint(checkpointBase(dir, s) + ".json"); err != nil {
			t.Errorf("kept checkpoint %d: %v", s, err)
		}
	}

	// At the step of a periodic checkpoint, the request marks it.
	tr2, dir2 := newTestTrainer(t, ds, edit)
	tr2.beforeStep = func(step int, _ []float32) {
		if step == 4 { // served after step 4, which checkpoints periodically
			tr2.CheckpointNow()
		}
	}
	tr2.Start()
	var at4 []CheckpointEvent
	for _, ev := range events(t, tr2) {
		if c, ok := ev.(CheckpointEvent); ok && c.Step == 4 {
			at4 = append(at4, c)
		}
	}
	if len(at4) != 2 || at4[0].Kept || !at4[1].Kept || at4[1].Err != nil {
		t.Errorf("step 4: %+v, want the periodic checkpoint, then it marked kept", at4)
	}
	if !isKept(checkpointBase(dir2, 4) + ".json") {
		t.Error("the periodic checkpoint of step 4 is not marked kept")
	}
}

// TestInterruptedGridIsDrawnOnResume: stopping while a periodic grid is drawn leaves it
// unfinished, the final checkpoint records it, and the resumed run draws a grid first.
func TestInterruptedGridIsDrawnOnResume(t *testing.T) {
	ds := testData(t)
	tr, dir := newTestTrainer(t, ds, func(c *RunConfig) { c.Steps, c.SampleEvery, c.CheckpointEvery = 1000, 2, 1000 })
	started := make(chan int, 1)
	tr.Sampler = func(_ *nn.Params[float32], step int, _ string) (SampleJob, error) {
		select {
		case started <- step:
		default:
		}
		return &sleepJob{d: time.Millisecond, n: 1 << 30}, nil // a grid that takes longer than the session
	}
	tr.Start()
	step := <-started
	if err := tr.Stop(); err != nil {
		t.Fatal(err)
	}
	ck, _, err := LoadLatestCheckpoint(dir)
	if err != nil || ck.State.SamplePending != step {
		t.Fatalf("final checkpoint: pending %d, want %d (%v)", ck.State.SamplePending, step, err)
	}
	again, err := ResumeTrainer(dir, ds, ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	drawn := make(chan int, 1)
	again.Sampler = func(_ *nn.Params[float32], step int, dir string) (SampleJob, error) {
		p := filepath.Join(dir, "samples", "x.png")
		return &resultJob{res: SampleResult{Path: p}, finished: func() {
			select {
			case drawn <- step:
			default:
			}
		}}, nil
	}
	again.Start()
	select {
	case s := <-drawn:
		if s != ck.State.Step {
			t.Errorf("first grid of the resumed run at step %d, want %d", s, ck.State.Step)
		}
	case <-time.After(time.Minute):
		t.Fatal("the resumed run drew no grid")
	}
	again.Stop()
	ck, _, err = LoadLatestCheckpoint(dir)
	if err != nil || ck.State.SamplePending != 0 {
		t.Errorf("after the grid was drawn the checkpoint still says pending %d (%v)", ck.State.SamplePending, err)
	}
}

// TestLastGridOfAFinishedRun: a run that reaches its last step finishes the grid of that
// step instead of leaving it unfinished.
func TestLastGridOfAFinishedRun(t *testing.T) {
	ds := testData(t)
	tr, _ := newTestTrainer(t, ds, func(c *RunConfig) { c.Steps, c.SampleEvery = 4, 4 })
	tr.Sampler = func(*nn.Params[float32], int, string) (SampleJob, error) {
		return &sleepJob{d: 10 * time.Millisecond, n: 30}, nil // longer than the rest of the run
	}
	tr.Start()
	var grids []SampleEvent
	for _, ev := range events(t, tr) {
		if s, ok := ev.(SampleEvent); ok {
			grids = append(grids, s)
		}
	}
	if len(grids) != 1 || grids[0].Step != 4 || grids[0].Err != nil || tr.interrupted != 0 {
		t.Errorf("grids %+v, interrupted %d: want the grid of step 4", grids, tr.interrupted)
	}
}
