package core

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mdsm/dist"
)

// stateIs is a stop condition of runEventsUntil: a StateEvent with state st.
func stateIs(st State) func(Event) bool {
	return func(ev Event) bool { e, ok := ev.(StateEvent); return ok && e.State == st }
}

// logHas is a stop condition: a LogEvent containing text.
func logHas(text string) func(Event) bool {
	return func(ev Event) bool { e, ok := ev.(LogEvent); return ok && strings.Contains(e.Msg, text) }
}

// TestControlFromAFollower drives a trainer (as `mdsm train` runs it) through every
// control from a follower of its run directory (as `mdsm watch` follows it): pause (the
// steps stop), a kept checkpoint while paused (no step is made), a new total (config.json
// and the follower's total change), a refused total, resume (the steps go on) and stop
// (with a checkpoint). A request for an earlier trainer session is never acted on.
func TestControlFromAFollower(t *testing.T) {
	ds := testData(t)
	tr, dir := newTestTrainer(t, ds, func(c *RunConfig) { c.Steps, c.CheckpointEvery = 100000, 100000 })
	tr.Start()
	trainerDone := make(chan struct{})
	go func() {
		defer close(trainerDone)
		for range tr.Events() {
		}
	}()
	f, err := FollowRun(dir, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runEventsUntil(t, f, "a few steps", func(ev Event) bool { e, ok := ev.(StepEvent); return ok && e.Step >= 3 })

	// a request left by an earlier session of the run is not acted on
	stale := ControlRequest{ID: "0-1", Session: "an-ended-trainer", Op: CtlStop, Time: time.Now().UTC().Format(time.RFC3339Nano)}
	b, _ := json.Marshal(stale)
	if err := os.WriteFile(filepath.Join(dir, "control", "request-0-1.json"), b, 0o666); err != nil {
		t.Fatal(err)
	}

	if err := f.Pause(); err != nil {
		t.Fatal(err)
	}
	runEventsUntil(t, f, "paused", stateIs(Paused))
	if _, err := os.Stat(filepath.Join(dir, "control", "request-0-1.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale request is still there: %v", err)
	}
	paused := tr.Step()
	if err := f.CheckpointNow(); err != nil {
		t.Fatal(err)
	}
	evs := runEventsUntil(t, f, "the kept checkpoint", func(ev Event) bool { e, ok := ev.(CheckpointEvent); return ok && e.Kept })
	if ck := evs[len(evs)-1].(CheckpointEvent); ck.Step != paused {
		t.Errorf("checkpoint at step %d while paused at %d", ck.Step, paused)
	}
	if err := f.SetSteps(paused + 5000); err != nil {
		t.Fatal(err)
	}
	evs = runEventsUntil(t, f, "the new total", func(ev Event) bool { e, ok := ev.(StateEvent); return ok && e.Total == paused+5000 })
	if st := evs[len(evs)-1].(StateEvent).State; st != Paused {
		t.Errorf("state %v after a new total while paused", st)
	}
	if cfg, err := ReadRunConfig(dir); err != nil || cfg.Steps != paused+5000 {
		t.Errorf("config.json steps %d (%v), want %d", cfg.Steps, err, paused+5000)
	}
	if err := f.SetSteps(1); err != nil {
		t.Fatal(err)
	}
	runEventsUntil(t, f, "the refusal", logHas("a new total must be above"))
	time.Sleep(3 * ControlPoll / 2)
	if s := tr.Step(); s != paused {
		t.Fatalf("steps moved while paused: %d -> %d", paused, s)
	}
	if err := f.Resume(); err != nil {
		t.Fatal(err)
	}
	runEventsUntil(t, f, "running again", stateIs(Running))
	runEventsUntil(t, f, "a step after the pause", func(ev Event) bool { e, ok := ev.(StepEvent); return ok && e.Step > paused })
	if err := f.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-trainerDone:
	case <-time.After(time.Minute):
		t.Fatal("the trainer did not stop")
	}
	if tr.State() != Stopped {
		t.Errorf("trainer state %v, want stopped", tr.State())
	}
	ck, _, err := LoadLatestCheckpoint(dir)
	if err != nil || ck.State.Step != tr.Step() {
		t.Errorf("final checkpoint %v, %v; trainer at step %d", ck, err, tr.Step())
	}
	runEventsUntil(t, f, "stopped", stateIs(Stopped))
	if _, err := SendControl(dir, CtlPause, 0, "test"); !errors.Is(err, ErrNotTraining) {
		t.Errorf("a control for a run nobody trains: %v", err)
	}
	st, err := ReadControlStatus(dir)
	if err != nil || st.State != "stopped" || len(st.Answers) != 6 {
		t.Errorf("final status %+v, %v; want stopped with 6 answers", st, err)
	}
}

// TestControlDistributed: a control sent to rank 0 of a distributed run acts on every rank
// at the same step: they pause together, take the new total together and stop together.
func TestControlDistributed(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	cfg.Steps, cfg.CheckpointEvery = 100000, 100000
	dir := filepath.Join(t.TempDir(), "run")
	comms := dist.NewGroup(2)
	trs := make([]*Trainer, 2)
	steps := make([][]StepEvent, 2)
	var wg, made sync.WaitGroup
	made.Add(2)
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr, err := NewTrainerOn(comms[r], cfg, ds, dir)
			trs[r] = tr
			made.Done()
			if err != nil {
				t.Error(err)
				return
			}
			tr.Start()
			for ev := range tr.Events() {
				if e, ok := ev.(StepEvent); ok {
					steps[r] = append(steps[r], e)
				}
			}
		}()
	}
	made.Wait()
	if trs[0] == nil || trs[1] == nil {
		t.Fatal("no trainers")
	}
	f, err := FollowRun(dir, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runEventsUntil(t, f, "steps", func(ev Event) bool { e, ok := ev.(StepEvent); return ok && e.Step >= 2 })
	if err := f.Pause(); err != nil {
		t.Fatal(err)
	}
	runEventsUntil(t, f, "paused", stateIs(Paused))
	deadline := time.Now().Add(10 * time.Second)
	for trs[1].State() != Paused && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := trs[1].State(); s != Paused {
		t.Errorf("rank 1 is %v while rank 0 is paused", s)
	}
	at := trs[0].Step()
	if err := f.SetSteps(at + 3); err != nil {
		t.Fatal(err)
	}
	runEventsUntil(t, f, "the new total", func(ev Event) bool { e, ok := ev.(StateEvent); return ok && e.Total == at+3 })
	if err := f.Resume(); err != nil {
		t.Fatal(err)
	}
	wg.Wait() // both ranks run to the new total and finish
	for r, tr := range trs {
		if tr.State() != Finished || tr.Step() != at+3 || len(steps[r]) != at+3 {
			t.Errorf("rank %d: %v at step %d after %d steps, want finished at %d", r, tr.State(), tr.Step(), len(steps[r]), at+3)
		}
	}
}
