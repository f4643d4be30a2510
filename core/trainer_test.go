package core

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mdsm/data"
	"mdsm/nn"
)

// testConfig is a very small network on the embedded data, fast enough for unit tests.
func testConfig() RunConfig {
	c := DefaultRunConfig()
	c.Model = nn.Config{Preset: "test", InChannels: 1, ImageSize: 28, Filters: 4, Stages: 2, ExtraBlocks: 0}
	c.BatchSize, c.MicroBatch = 8, 4
	c.Steps, c.Warmup = 12, 2
	c.CheckpointEvery, c.LogEvery, c.SampleEvery = 4, 1, 0
	return c
}

func testData(t *testing.T) *data.Dataset {
	t.Helper()
	ds, err := data.LoadWith("embedded", "train", "", data.Options{Size: 28})
	if err != nil {
		t.Fatal(err)
	}
	return ds.Slice(0, 256)
}

func drain(t *testing.T, tr *Trainer) []StepEvent {
	t.Helper()
	var steps []StepEvent
	for _, ev := range events(t, tr) {
		switch e := ev.(type) {
		case StepEvent:
			steps = append(steps, e)
		case DoneEvent:
			if e.Err != nil {
				t.Fatalf("training failed: %v", e.Err)
			}
		}
	}
	return steps
}

// events collects every event of a trainer until its stream closes.
func events(t *testing.T, tr *Trainer) []Event {
	t.Helper()
	return readEvents(t, tr.Events(), "the trainer to finish", func(Event) bool { return false })
}

// readEvents reads events until stop says so or the stream closes, failing after a minute.
func readEvents(t *testing.T, ch <-chan Event, what string, stop func(ev Event) bool) []Event {
	t.Helper()
	var out []Event
	timeout := time.After(time.Minute)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, ev)
			if stop(ev) {
				return out
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s; got %d events", what, len(out))
		}
	}
}

// TestResumeIsExact: N steps straight give the same loss sequence as N/2, stop, resume,
// N/2 more (same seed).
func TestResumeIsExact(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	dir := t.TempDir()

	straight, err := NewTrainer(cfg, ds, filepath.Join(dir, "straight"))
	if err != nil {
		t.Fatal(err)
	}
	straight.Start()
	want := drain(t, straight)
	if len(want) != cfg.Steps {
		t.Fatalf("%d step events, want %d", len(want), cfg.Steps)
	}

	first, err := NewTrainer(cfg, ds, filepath.Join(dir, "split"))
	if err != nil {
		t.Fatal(err)
	}
	first.StopAtStep = cfg.Steps/2 + 1 // between two periodic checkpoints
	first.Start()
	got := drain(t, first)
	second, err := ResumeTrainer(filepath.Join(dir, "split"), ds, ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	second.Start()
	got = append(got, drain(t, second)...)
	if len(got) != len(want) {
		t.Fatalf("resumed run made %d steps, straight %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Loss != want[i].Loss {
			t.Fatalf("step %d: loss %.9g after resume, %.9g straight", i+1, got[i].Loss, want[i].Loss)
		}
	}
	recs, err := ReadMetrics(filepath.Join(dir, "split", "metrics.jsonl"))
	if err != nil || len(recs) != cfg.Steps {
		t.Fatalf("metrics.jsonl: %d records, %v", len(recs), err)
	}
}

// TestMicroBatchMatchesBatch: gradient accumulation over micro-batches gives the loss of
// the whole batch.
func TestMicroBatchMatchesBatch(t *testing.T) {
	ds := testData(t)
	var losses [2][]StepEvent
	for i, micro := range []int{0, 2} {
		cfg := testConfig()
		cfg.Steps, cfg.MicroBatch = 3, micro
		tr, err := NewTrainer(cfg, ds, filepath.Join(t.TempDir(), "r"))
		if err != nil {
			t.Fatal(err)
		}
		tr.Start()
		losses[i] = drain(t, tr)
	}
	for s := range losses[0] {
		a, b := losses[0][s].Loss, losses[1][s].Loss
		if math.Abs(a-b) > 1e-4*math.Abs(a) {
			t.Errorf("step %d: loss %g with the whole batch, %g with micro-batches of 2", s+1, a, b)
		}
	}
}

// TestNaNStopsAndKeepsCheckpoint: a NaN loss stops training with a message naming the
// step, and the last good checkpoint survives.
func TestNaNStopsAndKeepsCheckpoint(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	cfg.Steps = 100
	dir := filepath.Join(t.TempDir(), "r")
	tr, err := NewTrainer(cfg, ds, dir)
	if err != nil {
		t.Fatal(err)
	}
	// From step 6 on every batch holds a NaN pixel.
	tr.beforeStep = func(step int, batch []float32) {
		if step >= 6 {
			batch[0] = float32(math.NaN())
		}
	}
	tr.Start()
	<-tr.Done()
	err = tr.Err()
	if err == nil || !strings.Contains(err.Error(), "step") || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("want an error naming the step and NaN, got %v", err)
	}
	ck, _, err := LoadLatestCheckpoint(dir)
	if err != nil {
		t.Fatalf("last good checkpoint lost: %v", err)
	}
	if ck.Params.CheckFinite() != nil || ck.State.Step < 4 {
		t.Fatalf("checkpoint at step %d is not the last good one", ck.State.Step)
	}
}

func TestSecondTrainerRefused(t *testing.T) {
	ds := testData(t)
	dir := filepath.Join(t.TempDir(), "r")
	cfg := testConfig()
	tr, err := NewTrainer(cfg, ds, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	if _, err := ResumeTrainer(dir, ds, ResumeOptions{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second trainer on a locked run: %v", err)
	}
	if _, err := NewTrainer(cfg, ds, dir); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("new run in an existing run directory: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	c := DefaultRunConfig()
	c.BatchSize, c.Sigma0, c.NoiseSpacing = 0, -1, "cubic"
	err := c.Validate()
	for _, want := range []string{"batch_size", "sigma0", "noise_spacing"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v should name %s", err, want)
		}
	}
	path := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(path, []byte(`{"batch_sise": 3}`), 0o644)
	if _, err := LoadRunConfig(path); err == nil || !strings.Contains(err.Error(), "batch_sise") {
		t.Errorf("a misspelt field must be an error naming it, got %v", err)
	}
}

func TestNoiseLevelsAndLR(t *testing.T) {
	c := DefaultRunConfig()
	c.BatchSize, c.SigmaMin, c.SigmaMax, c.NoiseSpacing = 5, 0.1, 3, "geometric"
	s, _ := NoiseLevels(c)
	if math.Abs(s[0]-0.1) > 1e-12 || math.Abs(s[4]-3) > 1e-12 || math.Abs(s[2]-math.Sqrt(0.3)) > 1e-12 {
		t.Errorf("geometric levels %v", s)
	}
	c.NoiseSpacing = "linear"
	s, _ = NoiseLevels(c)
	if math.Abs(s[2]-1.55) > 1e-12 {
		t.Errorf("linear levels %v", s)
	}
	c.Steps, c.Warmup, c.LR, c.LRMin = 101, 0, 1e-3, 1e-6
	if lr := LearningRate(c, 0); lr != 1e-3 {
		t.Errorf("cosine starts at %g", lr)
	}
	if lr := LearningRate(c, 100); math.Abs(lr-1e-6) > 1e-15 {
		t.Errorf("cosine ends at %g, want 1e-6", lr)
	}
}
