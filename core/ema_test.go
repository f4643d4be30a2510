package core

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mdsm/nn"
)

// TestEMAOfWeights: a run with a weight average keeps it beside the weights: after one step
// it is the initial weights moved toward the trained ones by 1 - min(ema, 2/11); it is
// saved with every checkpoint, it is what LoadWeights, the snapshot and Run.Weights give,
// and a run without one saves none and samples its trained weights.
func TestEMAOfWeights(t *testing.T) {
	ds := testData(t)
	for _, ema := range []float64{0, 0.9} {
		cfg := testConfig()
		cfg.EMA, cfg.Steps, cfg.CheckpointEvery = ema, 1, 1
		dir := filepath.Join(t.TempDir(), "run")
		tr, err := NewTrainer(cfg, ds, dir)
		if err != nil {
			t.Fatal(err)
		}
		tr.Start()
		drain(t, tr)
		ck, _, err := LoadLatestCheckpoint(dir)
		if err != nil {
			t.Fatal(err)
		}
		snap, _ := tr.Snapshot()
		got, path, err := LoadWeights(dir)
		if err != nil {
			t.Fatal(err)
		}
		if ema == 0 {
			if ck.EMA != nil || ck.State.EMA != "" {
				t.Fatalf("ema 0: the checkpoint has a weight average (%q)", ck.State.EMA)
			}
			if _, err := os.Stat(filepath.Join(dir, "checkpoints", "step-00000001.ema.safetensors")); err == nil {
				t.Fatal("ema 0: an .ema.safetensors file was written")
			}
			if !slices.Equal(got.Flat(), ck.Params.Flat()) || path != ck.Path || !slices.Equal(snap.Flat(), ck.Params.Flat()) {
				t.Fatal("ema 0: LoadWeights or the snapshot are not the trained weights")
			}
			continue
		}
		if ck.EMA == nil || ck.State.EMA != "step-00000001.ema.safetensors" {
			t.Fatalf("ema %g: the checkpoint has no weight average (%q)", ema, ck.State.EMA)
		}
		init := nn.InitParams[float32](cfg.Model, rand.New(rand.NewPCG(cfg.Seed, 1)))
		c := float32(1 - min(ema, 2.0/11))
		w, a, i0 := ck.Params.Flat(), ck.EMA.Flat(), init.Flat()
		moved := 0
		for i := range a {
			if want := i0[i] + c*(w[i]-i0[i]); a[i] != want {
				t.Fatalf("average[%d] = %g, want %g (initial %g, trained %g)", i, a[i], want, i0[i], w[i])
			}
			if a[i] != w[i] {
				moved++
			}
		}
		if moved == 0 {
			t.Fatal("the average equals the trained weights: the test shows nothing")
		}
		if !slices.Equal(got.Flat(), a) || path != ck.EMAPath || filepath.Base(path) != ck.State.EMA {
			t.Fatalf("LoadWeights(run) gave %s, not the weight average", path)
		}
		if !slices.Equal(snap.Flat(), a) {
			t.Fatal("the trainer's snapshot is not the weight average")
		}
		// the sidecar gives the average too, and the average's file loads as weights
		for _, p := range []string{filepath.Join(dir, "checkpoints", "step-00000001.json"), ck.EMAPath} {
			if got, _, err := LoadWeights(p); err != nil || !slices.Equal(got.Flat(), a) {
				t.Fatalf("LoadWeights(%s): %v or not the average", p, err)
			}
		}
		r, err := FollowRun(dir, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		wts, err := r.Weights()
		r.Close()
		if err != nil || !slices.Equal(wts.params.Flat(), a) {
			t.Fatalf("Run.Weights of a followed run: %v or not the average", err)
		}
	}
}

// TestEMAResumeIsExact: the weight average of a run stopped and resumed is the one of the
// run trained straight through, bit for bit.
func TestEMAResumeIsExact(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	cfg.EMA = 0.8
	dir := t.TempDir()
	straight, err := NewTrainer(cfg, ds, filepath.Join(dir, "straight"))
	if err != nil {
		t.Fatal(err)
	}
	straight.Start()
	drain(t, straight)
	first, err := NewTrainer(cfg, ds, filepath.Join(dir, "split"))
	if err != nil {
		t.Fatal(err)
	}
	first.StopAtStep = cfg.Steps/2 + 1 // between two periodic checkpoints
	first.Start()
	drain(t, first)
	second, err := ResumeTrainer(filepath.Join(dir, "split"), ds, ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	second.Start()
	drain(t, second)
	want, _, err := LoadWeights(filepath.Join(dir, "straight"))
	if err != nil {
		t.Fatal(err)
	}
	got, path, err := LoadWeights(filepath.Join(dir, "split"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, ".ema.safetensors") {
		t.Fatalf("LoadWeights gave %s, not the weight average", path)
	}
	if !slices.Equal(got.Flat(), want.Flat()) {
		t.Fatal("the weight average after a resume differs from the straight run's")
	}
}

// TestEMAField: the setting is one row of the field table, validated.
func TestEMAField(t *testing.T) {
	f, ok := FieldByName("ema")
	if !ok || f.Flag != "ema" || f.Default() != "0" || f.Resume {
		t.Fatalf("ema field: %+v, found %v", f, ok)
	}
	for v, valid := range map[string]bool{"0": true, "0.999": true, "1": false, "-0.1": false, "NaN": false} {
		c := DefaultRunConfig()
		if err := f.Set(&c, v); err != nil {
			t.Fatalf("set %s: %v", v, err)
		}
		if err := c.Validate(); (err == nil) != valid {
			t.Errorf("ema = %s: Validate() = %v, want valid %v", v, err, valid)
		}
	}
}
