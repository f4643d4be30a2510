package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"mdsm/core"
	"mdsm/sampling"
)

// TestSavedSamplerRoundTrip: a sampler saved the way the workbench saves it (w in the
// Schedule pane: core.SaveRunSampler, RUN/sampler.json) is what `mdsm sample RUN` uses by
// default and what `mdsm sample --schedule FILE` and `mdsm inpaint --schedule FILE` read:
// the same schedule, temperature for temperature, and the same eps.
func TestSavedSamplerRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny model")
	}
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	if out, err := mdsmCommand(t, trainArgs(run, 2)...).CombinedOutput(); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	sch, _, err := sampling.Schedule{Kind: sampling.KindExp, Steps: 30, T0: 6}.AddPoint(0.5, 3)
	if err != nil {
		t.Fatal(err)
	}
	lc := sampling.DefaultLangevinConfig()
	lc.Schedule, lc.Eps = sch, 0.031
	if err := core.SaveRunSampler(run, lc); err != nil {
		t.Fatal(err)
	}
	want, _ := sch.Temperatures(0)
	for i, args := range [][]string{
		{"sample", run, "--n", "2"},
		{"sample", run, "--n", "2", "--schedule", core.SamplerPath(run)},
	} {
		prefix := filepath.Join(dir, "s"+strconv.Itoa(i))
		out, err := mdsmCommand(t, append(args, "--out", prefix)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if !strings.Contains(string(out), "sampler: piecewise schedule, 30 steps from T 6, eps 0.031") {
			t.Errorf("%v did not use the saved sampler:\n%s", args, out)
		}
		temps := traceTemperatures(t, prefix+"-energy.csv")
		if len(temps) != len(want) {
			t.Fatalf("%v: %d steps, want %d", args, len(temps), len(want))
		}
		for k := range want {
			if temps[k] != want[k] {
				t.Errorf("%v: step %d at T %g, saved schedule says %g", args, k, temps[k], want[k])
				break
			}
		}
	}
	out, err := mdsmCommand(t, "inpaint", run, "--n", "1", "--schedule", core.SamplerPath(run), "--steps", "10", "--out", filepath.Join(dir, "i")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "masked-region MSE") {
		t.Errorf("inpaint with a saved sampler: %v\n%s", err, out)
	}
}

// traceTemperatures reads the temperature column of an energy trace CSV.
func traceTemperatures(t *testing.T, path string) []float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []float64
	for _, r := range rows[1:] {
		v, _ := strconv.ParseFloat(r[1], 64)
		out = append(out, v)
	}
	return out
}
