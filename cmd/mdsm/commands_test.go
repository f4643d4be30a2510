package main

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mdsm/data"
	"mdsm/sampling"
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
		{[]string{"score", run, "--n", "8", "--steps", "20"}, nil, "real test images taken to 14x14 and back"},
		{[]string{"score", filepath.Join(dir, "s.npy")}, nil, "4 images of 14x14, bilinear 14x14 -> 28x28"},
		{[]string{"score", filepath.Join(dir, "s.png"), "--json"}, nil, `"classes": `},
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

// TestModesCommand: mdsm modes counts the modes of real stacked digits (a .npy of them)
// and prints the real-data line beside them; one-channel images are refused.
func TestModesCommand(t *testing.T) {
	dir := t.TempDir()
	digits, err := data.LoadWith(data.Embedded, "test", "", data.Options{Size: 28})
	if err != nil {
		t.Fatal(err)
	}
	st, err := data.Stack(digits, 300)
	if err != nil {
		t.Fatal(err)
	}
	npy := filepath.Join(dir, "stacked.npy")
	if err := sampling.WriteNPY(npy, st.Pixels, []int{st.N, 3, 28, 28}); err != nil {
		t.Fatal(err)
	}
	distinct := map[int]bool{}
	for _, l := range st.Labels {
		distinct[l] = true
	}
	cmd := exec.Command(os.Args[0], "modes", npy, "--json")
	cmd.Env = append(os.Environ(), "MDSM_TEST_AS_MAIN=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mdsm modes: %v\n%s", err, out)
	}
	var rep modesReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("mdsm modes --json: %v\n%s", err, out)
	}
	if rep.Modes.N != 300 || rep.Modes.Total != 1000 || rep.Real == nil || rep.Real.N != 300 ||
		math.Abs(float64(rep.Modes.Covered-len(distinct))) > 6 {
		t.Errorf("mdsm modes: %s; want about %d modes covered of 1000, and a real line", out, len(distinct))
	}
	one := filepath.Join(dir, "one.npy")
	sampling.WriteNPY(one, digits.Pixels[:4*784], []int{4, 1, 28, 28})
	cmd = exec.Command(os.Args[0], "modes", one)
	cmd.Env = append(os.Environ(), "MDSM_TEST_AS_MAIN=1")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "stacked-mnist") {
		t.Errorf("mdsm modes on one-channel images: %v\n%s", err, out)
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

// TestBadKernelEnv: a malformed MDSM_ISA or MDSM_CONV stops mdsm with exit status 2 and a
// message naming the variable, its value and the valid ones.
func TestBadKernelEnv(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"MDSM_ISA=avx9", "avx512"},
		{"MDSM_CONV=fast", "winograd4"},
	} {
		cmd := exec.Command(os.Args[0], "bench", "--config", "tiny", "--steps", "1")
		cmd.Env = append(os.Environ(), "MDSM_TEST_AS_MAIN=1", tc.env)
		out, err := cmd.CombinedOutput()
		name, value, _ := strings.Cut(tc.env, "=")
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 ||
			!strings.Contains(string(out), name) || !strings.Contains(string(out), value) || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: err %v, output %q; want exit 2 naming %s, %q and the choices", tc.env, err, out, name, value)
		}
	}
}
