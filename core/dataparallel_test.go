package core

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mdsm/data"
	"mdsm/dist"
	"mdsm/nn"
)

// rankResult is what one rank of an in-process data-parallel run ends with.
type rankResult struct {
	steps  []StepEvent
	params *nn.Params[float32]
	err    error
}

// runRanks runs a data-parallel training of w ranks in this process (dist.NewGroup), each
// rank made by start and run to its end. Rank r gets dirs[r] as its run directory.
func runRanks(t *testing.T, w int, start func(c dist.Comm, dir string) (*Trainer, error), dirs []string) []rankResult {
	t.Helper()
	comms := dist.NewGroup(w)
	out := make([]rankResult, w)
	var wg sync.WaitGroup
	for r := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr, err := start(comms[r], dirs[r])
			if err != nil {
				out[r].err = err
				return
			}
			tr.Start()
			for ev := range tr.Events() {
				if e, ok := ev.(StepEvent); ok {
					out[r].steps = append(out[r].steps, e)
				}
			}
			out[r].err = tr.Err()
			out[r].params, _ = tr.Snapshot()
		}()
	}
	wg.Wait()
	return out
}

// sameParams reports the first parameter whose bits differ.
func sameParams(a, b *nn.Params[float32]) error {
	for _, n := range a.Names {
		x, y := a.T[n].Data, b.T[n].Data
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				return errors.New(n + " differs")
			}
		}
	}
	return nil
}

func singleRun(t *testing.T, cfg RunConfig, ds *data.Dataset) rankResult {
	t.Helper()
	tr, err := NewTrainer(cfg, ds, filepath.Join(t.TempDir(), "single"))
	if err != nil {
		t.Fatal(err)
	}
	tr.Start()
	steps := drain(t, tr)
	p, _ := tr.Snapshot()
	return rankResult{steps: steps, params: p}
}

// TestDataParallelEqualsSingleProcess: W ranks at global batch B give, bit for bit, the
// losses and weights of one process at batch B with the same micro-batch, for slot counts
// that do and do not divide by W; only rank 0 writes.
func TestDataParallelEqualsSingleProcess(t *testing.T) {
	ds := testData(t)
	for _, tc := range []struct {
		name         string
		ranks, micro int
	}{
		{"2 ranks, one slot each", 2, 4},
		{"2 ranks, two slots each", 2, 2},
		{"3 ranks, 4 slots", 3, 2},
		{"4 ranks, micro 3 (slots of 3, 3, 2)", 4, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Steps, cfg.MicroBatch = 5, tc.micro
			want := singleRun(t, cfg, ds)
			root := t.TempDir()
			dirs := make([]string, tc.ranks)
			for r := range dirs {
				dirs[r] = filepath.Join(root, "rank", string(rune('0'+r)))
			}
			got := runRanks(t, tc.ranks, func(c dist.Comm, dir string) (*Trainer, error) { return NewTrainerOn(c, cfg, ds, dir) }, dirs)
			for r, g := range got {
				if g.err != nil {
					t.Fatalf("rank %d: %v", r, g.err)
				}
				if len(g.steps) != len(want.steps) {
					t.Fatalf("rank %d made %d steps, single process %d", r, len(g.steps), len(want.steps))
				}
				for i := range want.steps {
					if g.steps[i].Loss != want.steps[i].Loss {
						t.Fatalf("rank %d step %d: loss %.17g, single process %.17g", r, i+1, g.steps[i].Loss, want.steps[i].Loss)
					}
					// the loss per noise level is gathered from the ranks: the same bits
					if gs, ws := g.steps[i].SigmaLoss, want.steps[i].SigmaLoss; len(ws) == 0 || !slices.Equal(gs, ws) {
						t.Fatalf("rank %d step %d: loss per noise level %v, single process %v", r, i+1, gs, ws)
					}
				}
				if err := sameParams(g.params, want.params); err != nil {
					t.Fatalf("rank %d: weights after %d steps: %v", r, cfg.Steps, err)
				}
				if r > 0 {
					if _, err := os.Stat(dirs[r]); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("rank %d created its run directory (%v): only rank 0 writes", r, err)
					}
				}
			}
			recs, err := ReadMetrics(filepath.Join(dirs[0], "metrics.jsonl"))
			if err != nil || len(recs) != cfg.Steps {
				t.Fatalf("rank 0's metrics.jsonl: %d records, %v", len(recs), err)
			}
			last := recs[len(recs)-1]
			if last.WorldSize != tc.ranks || len(last.RankImagesPerSec) != tc.ranks {
				t.Errorf("metrics record world size %d with %d rank rates, want %d", last.WorldSize, len(last.RankImagesPerSec), tc.ranks)
			}
			ck, _, err := LoadLatestCheckpoint(dirs[0])
			if err != nil || ck.State.WorldSize != tc.ranks || ck.State.Step != cfg.Steps {
				t.Fatalf("final checkpoint: %+v, %v", ck, err)
			}
		})
	}
}

// TestDataParallelResumeAtAnotherWorldSize: 2 ranks to step 6, then 3 ranks, then one
// process to the end give the weights of one process straight through.
func TestDataParallelResumeAtAnotherWorldSize(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	cfg.Steps, cfg.MicroBatch = 10, 2
	want := singleRun(t, cfg, ds)
	dir := filepath.Join(t.TempDir(), "run")
	dirs := []string{dir, dir, dir}
	first := runRanks(t, 2, func(c dist.Comm, d string) (*Trainer, error) {
		tr, err := NewTrainerOn(c, cfg, ds, d)
		if err == nil {
			tr.StopAtStep = 6
		}
		return tr, err
	}, dirs)
	second := runRanks(t, 3, func(c dist.Comm, d string) (*Trainer, error) {
		tr, err := ResumeTrainer(d, ds, ResumeOptions{Comm: c})
		if err == nil {
			tr.StopAtStep = 8
		}
		return tr, err
	}, dirs)
	for r, g := range append(first, second...) {
		if g.err != nil {
			t.Fatalf("rank %d: %v", r%3, g.err)
		}
	}
	tr, err := ResumeTrainer(dir, ds, ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr.Start()
	last := drain(t, tr)
	p, _ := tr.Snapshot()
	if err := sameParams(p, want.params); err != nil {
		t.Fatalf("2 ranks, then 3, then 1: %v", err)
	}
	steps := append(append(first[0].steps, second[0].steps...), last...)
	if len(steps) != cfg.Steps {
		t.Fatalf("%d steps in all, want %d", len(steps), cfg.Steps)
	}
	for i := range steps {
		if steps[i].Loss != want.steps[i].Loss {
			t.Fatalf("step %d: loss %.17g, straight %.17g", i+1, steps[i].Loss, want.steps[i].Loss)
		}
	}
}

// TestDataParallelStopFromOneRank: a stop asked of one rank stops all at the same step,
// with rank 0's checkpoint.
func TestDataParallelStopFromOneRank(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	cfg.Steps = 1000
	dir := filepath.Join(t.TempDir(), "run")
	var trs [2]*Trainer
	var mu sync.Mutex
	got := runRanks(t, 2, func(c dist.Comm, d string) (*Trainer, error) {
		tr, err := NewTrainerOn(c, cfg, ds, d)
		if err == nil && c.Rank() == 1 {
			tr.beforeStep = func(step int, _ []float32) {
				if step == 3 {
					go tr.Stop()
				}
			}
		}
		mu.Lock()
		trs[c.Rank()] = tr
		mu.Unlock()
		return tr, err
	}, []string{dir, dir})
	for r, g := range got {
		if g.err != nil {
			t.Fatalf("rank %d: %v", r, g.err)
		}
	}
	if trs[0].Step() != trs[1].Step() || trs[0].Step() >= cfg.Steps || trs[0].Step() < 3 {
		t.Fatalf("ranks stopped at steps %d and %d", trs[0].Step(), trs[1].Step())
	}
	ck, _, err := LoadLatestCheckpoint(dir)
	if err != nil || ck.State.Step != trs[0].Step() {
		t.Fatalf("checkpoint at the stop: %v, %v", ck, err)
	}
}

// TestDataParallelWriteFailureStopsAll: when rank 0 cannot write (disk full), every rank
// stops at the same step with an error, and the last good checkpoint stays.
func TestDataParallelWriteFailureStopsAll(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	cfg.Steps = 1000
	dir := filepath.Join(t.TempDir(), "run")
	var once sync.Once
	got := runRanks(t, 2, func(c dist.Comm, d string) (*Trainer, error) {
		tr, err := NewTrainerOn(c, cfg, ds, d)
		if err == nil && c.Rank() == 0 {
			tr.beforeStep = func(step int, _ []float32) {
				if step == 6 { // the metrics line of step 6 will fail
					once.Do(func() { injectDiskFull(t, -1, syscall.ENOSPC) })
				}
			}
		}
		return tr, err
	}, []string{dir, dir})
	if got[0].err == nil || !strings.Contains(got[0].err.Error(), "space") {
		t.Fatalf("rank 0: want a disk-full error, got %v", got[0].err)
	}
	if !errors.Is(got[1].err, dist.ErrPeer) {
		t.Fatalf("rank 1: want a PeerError, got %v", got[1].err)
	}
	if n0, n1 := len(got[0].steps), len(got[1].steps); n0 != n1 {
		t.Fatalf("ranks made %d and %d steps", n0, n1)
	}
	wrapWrite = nil
	if ck, _, err := LoadLatestCheckpoint(dir); err != nil || ck.State.Step != 4 {
		t.Fatalf("last good checkpoint: %v, %v", ck, err)
	}
}

// TestDataParallelKeptCheckpoint: a checkpoint asked of rank 1 at a step rank 0 has just
// checkpointed marks rank 0's checkpoint kept (only rank 0 knows it saved that step: its
// answer is every rank's, or the ranks would run different collectives and hang), and a
// finished run resumed on 2 ranks ends without writing its last checkpoint again.
func TestDataParallelKeptCheckpoint(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	cfg.Steps, cfg.CheckpointEvery, cfg.KeepCheckpoints = 12, 4, 1
	dir := filepath.Join(t.TempDir(), "run")
	within := func(what string, f func() []rankResult) []rankResult {
		t.Helper()
		ch := make(chan []rankResult, 1)
		go func() { ch <- f() }()
		select {
		case got := <-ch:
			for r, g := range got {
				if g.err != nil {
					t.Fatalf("%s: rank %d: %v", what, r, g.err)
				}
			}
			return got
		case <-time.After(2 * time.Minute):
			t.Fatalf("%s: the ranks did not finish (a collective called by some ranks only)", what)
			return nil
		}
	}
	within("training", func() []rankResult {
		return runRanks(t, 2, func(c dist.Comm, d string) (*Trainer, error) {
			tr, err := NewTrainerOn(c, cfg, ds, d)
			if err == nil && c.Rank() == 1 {
				tr.beforeStep = func(step int, _ []float32) {
					if step == 4 { // the periodic checkpoint of step 4 comes first
						tr.CheckpointNow()
					}
				}
			}
			return tr, err
		}, []string{dir, dir})
	})
	steps, err := checkpointSteps(dir)
	if err != nil || len(steps) != 2 || steps[0] != 4 || steps[1] != 12 {
		t.Fatalf("checkpoints %v (%v), want the kept step 4 and the final 12", steps, err)
	}
	if !isKept(checkpointBase(dir, 4) + ".json") {
		t.Errorf("the checkpoint of step 4 is not marked kept")
	}
	final := checkpointBase(dir, 12) + ".json"
	before, err := os.Stat(final)
	if err != nil {
		t.Fatal(err)
	}
	within("resumed at its end", func() []rankResult {
		return runRanks(t, 2, func(c dist.Comm, d string) (*Trainer, error) {
			return ResumeTrainer(d, ds, ResumeOptions{Comm: c})
		}, []string{dir, dir})
	})
	if after, err := os.Stat(final); err != nil || !os.SameFile(before, after) {
		t.Errorf("the final checkpoint was written again by a run with nothing new (%v)", err)
	}
}
