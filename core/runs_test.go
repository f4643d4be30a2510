package core

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeRun writes a run directory of cfg with metrics lines for steps 1..logged (none when
// 0), as a trainer would leave it, without training.
func fakeRun(t testing.TB, dir string, cfg RunConfig, logged int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := writeJSONAtomic(filepath.Join(dir, "config.json"), cfg); err != nil {
		t.Fatal(err)
	}
	if logged == 0 {
		return
	}
	var b strings.Builder
	for s := 1; s <= logged; s++ {
		rec := MetricRecord{Step: s, Loss: 100 / float64(s), NormLoss: 10 / float64(s), LR: 1e-3, ImagesPerSec: 1000 + float64(s),
			Elapsed: float64(s), Time: time.Now().UTC().Format(time.RFC3339Nano), SigmaLoss: []float64{1, 2, 3, 4, 5, 6, 7, 8}}
		line, _ := json.Marshal(rec)
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(b.String()), 0o666); err != nil {
		t.Fatal(err)
	}
}

// TestRunScanner: every kind of run directory gets its state, step and numbers, from its
// files; a folder that is no run is not listed; a change is seen by the next scan.
func TestRunScanner(t *testing.T) {
	root := t.TempDir()
	cfg := testConfig()
	cfg.Steps = 50
	fakeRun(t, filepath.Join(root, "finished"), cfg, 50)
	fakeRun(t, filepath.Join(root, "stopped"), cfg, 20)
	fakeRun(t, filepath.Join(root, "new"), cfg, 0)
	fakeRun(t, filepath.Join(root, "training"), cfg, 30)
	fakeRun(t, filepath.Join(root, "paused"), cfg, 31)
	os.MkdirAll(filepath.Join(root, "damaged"), 0o777)
	os.WriteFile(filepath.Join(root, "damaged", "config.json"), []byte("{not json"), 0o666)
	os.MkdirAll(filepath.Join(root, "not-a-run", "x"), 0o777)
	os.WriteFile(filepath.Join(root, "stray.txt"), nil, 0o666)
	// a live process (this one) holds two of them; one says it is paused
	for _, n := range []string{"training", "paused"} {
		os.WriteFile(filepath.Join(root, n, ".lock"), []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o666)
	}
	os.MkdirAll(filepath.Join(root, "paused", "control"), 0o777)
	st, _ := json.Marshal(ControlStatus{PID: os.Getpid(), Session: "s", State: "paused", Total: 80})
	os.WriteFile(filepath.Join(root, "paused", "control", "status.json"), st, 0o666)

	sc := NewRunScanner(root)
	runs, err := sc.Scan()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]RunSummary{}
	var names []string
	for _, r := range runs {
		got[r.Name] = r
		names = append(names, r.Name)
	}
	if want := "damaged finished new paused stopped training"; strings.Join(names, " ") != want {
		t.Fatalf("runs %q, want %q", names, want)
	}
	for _, tc := range []struct {
		name        string
		state       State
		step, total int
	}{
		{"finished", Finished, 50, 50}, {"stopped", Stopped, 20, 50}, {"new", Idle, 0, 50},
		{"training", Running, 30, 50}, {"paused", Paused, 31, 80},
	} {
		r := got[tc.name]
		if r.State != tc.state || r.Step != tc.step || r.Total != tc.total || r.Damaged != "" {
			t.Errorf("%s: %v at %d/%d (damaged %q), want %v at %d/%d", tc.name, r.State, r.Step, r.Total, r.Damaged, tc.state, tc.step, tc.total)
		}
	}
	if r := got["finished"]; r.NormLoss != 10.0/50 || r.ImagesPerSec != 1050 || r.Config.Model.Filters != cfg.Model.Filters {
		t.Errorf("finished run's numbers: %+v", r)
	}
	if r := got["training"]; !r.Training() || r.PID != os.Getpid() {
		t.Errorf("training run: pid %d", r.PID)
	}
	if r := got["damaged"]; !strings.Contains(r.Damaged, "config.json") {
		t.Errorf("damaged run: %q", r.Damaged)
	}
	// the stopped run goes on: the next scan sees its new step (and the lock released)
	f, _ := os.OpenFile(filepath.Join(root, "stopped", "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"step":21,"loss":1,"norm_loss":0.5,"lr":0.001,"images_per_s":7,"elapsed_s":1,"time":"x"}` + "\n")
	f.Close()
	os.WriteFile(filepath.Join(root, "training", ".lock"), nil, 0o666)
	runs, _ = sc.Scan()
	for _, r := range runs {
		switch r.Name {
		case "stopped":
			if r.Step != 21 || r.NormLoss != 0.5 {
				t.Errorf("after a new line: step %d, loss %g", r.Step, r.NormLoss)
			}
		case "training":
			if r.State != Stopped || r.Training() {
				t.Errorf("after the lock was released: %v, pid %d", r.State, r.PID)
			}
		}
	}
	if _, err := NewRunScanner(filepath.Join(root, "nope")).Scan(); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("a missing root: %v", err)
	}
}

// BenchmarkScanRuns lists 200 run directories of 2,000 logged steps each: the first scan
// (cold: every config and metrics tail read) and the next ones (warm: unchanged runs are
// not read again).
func BenchmarkScanRuns(b *testing.B) {
	root := b.TempDir()
	cfg := DefaultRunConfig()
	for i := range 200 {
		fakeRun(b, filepath.Join(root, fmt.Sprintf("run-%03d", i)), cfg, 2000)
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			if runs, err := NewRunScanner(root).Scan(); err != nil || len(runs) != 200 {
				b.Fatal(len(runs), err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		sc := NewRunScanner(root)
		sc.Scan()
		for b.Loop() {
			if runs, err := sc.Scan(); err != nil || len(runs) != 200 {
				b.Fatal(len(runs), err)
			}
		}
	})
}
