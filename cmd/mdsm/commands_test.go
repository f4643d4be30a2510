package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestModelCommands trains a tiny run with the real binary, then runs every command that
// reads a model on it and checks what each writes and prints.
func TestModelCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny model and runs every subcommand")
	}
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	mdsm := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "MDSM_TEST_AS_MAIN=1")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mdsm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	mdsm(trainArgs(run, 6)...)
	samples := filepath.Join(run, "samples")
	for _, tc := range []struct {
		args  []string
		files []string
		says  string
	}{
		{[]string{"sample", run, "--n", "4", "--steps", "20", "--out", filepath.Join(dir, "s")},
			[]string{"s.png", "s.npy", "s-energy.csv"}, "4 samples"},
		{[]string{"denoise", run, "--n", "8", "--sigmas", "0.3,0.6"},
			[]string{filepath.Join(samples, "denoise-*.png")}, "noisy dB"},
		{[]string{"inpaint", run, "--n", "2", "--steps", "20", "--mask", "left"},
			[]string{filepath.Join(samples, "inpaint-left-*.png")}, "masked-region MSE"},
		{[]string{"energy", run, "--n", "20", "--out", filepath.Join(dir, "e.csv")},
			[]string{"e.csv"}, "energy quantiles"},
		{[]string{"nll", run, "--steps", "20", "--chains", "4", "--batch", "4", "--n", "4"},
			nil, "bits/dim"},
		{[]string{"neighbors", run, "--n", "2", "--k", "3", "--steps", "20"},
			[]string{filepath.Join(samples, "neighbors-*.png")}, "nearest L2 distance"},
	} {
		out := mdsm(tc.args...)
		if !strings.Contains(out, tc.says) {
			t.Errorf("mdsm %s: output lacks %q:\n%s", tc.args[0], tc.says, out)
		}
		for _, f := range tc.files {
			if !filepath.IsAbs(f) {
				f = filepath.Join(dir, f)
			}
			m, _ := filepath.Glob(f) // default names carry the date and time
			if len(m) != 1 {
				t.Errorf("mdsm %s: %s not written (found %v)", tc.args[0], f, m)
				continue
			}
			if st, err := os.Stat(m[0]); err != nil || st.Size() == 0 {
				t.Errorf("mdsm %s: %s not written: %v", tc.args[0], m[0], err)
			}
		}
	}
}

// TestHelpDocumentsCommands: `mdsm --help` lists every command and each has its own --help.
func TestHelpDocumentsCommands(t *testing.T) {
	cmd := exec.Command(os.Args[0], "--help")
	cmd.Env = append(os.Environ(), "MDSM_TEST_AS_MAIN=1")
	out, _ := cmd.CombinedOutput()
	for name := range commands {
		if !strings.Contains(string(out), name) {
			t.Errorf("mdsm --help does not list %s", name)
		}
		c := exec.Command(os.Args[0], name, "--help")
		c.Env = cmd.Env
		o, _ := c.CombinedOutput()
		if !strings.Contains(string(o), "Usage: mdsm "+name) {
			t.Errorf("mdsm %s --help: no usage text:\n%s", name, o)
		}
	}
}
