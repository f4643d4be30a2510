// Command qualitysweep trains mdsm configurations for a fixed wall-clock budget each and
// scores them at N = 256, unattended, for the research on the default preset (issue 13,
// part 2; docs/SCORE.md "Sweeping for quality"). It drives the real binary, as a user
// would: for every config and seed it
//
//  1. calibrates: trains CALIBRATION steps without sample grids and reads the seconds
//     per step from metrics.jsonl (after the first steps, which warm up);
//  2. trains a fresh run of floor(budget * fill / seconds-per-step) steps, so that its
//     cosine learning-rate schedule ends where the budget does, and times it;
//  3. scores it: mdsm score RUN --n 256 --json (the run's sampler defaults, or the score
//     flags of a "sample" line), and appends one JSON line to OUT/results.jsonl.
//
// Finished (name, seed) pairs are skipped, so an interrupted sweep resumes where it
// stopped. At the end it writes OUT/results.md: every result, the mean over seeds, and the
// goal line (the floor of a perfect 14x14 model at N = 256).
//
// The sweep file has one line per experiment ('#' starts a comment):
//
//	train NAME | TRAIN FLAGS            a config: flags for mdsm train
//	sample NAME | TRAINED NAME | FLAGS  re-score a trained config with other sampler flags
//
// Example (run on a quiet machine; each train line takes budget x seeds):
//
//	go build -o mdsm ./cmd/mdsm
//	go run ./scripts/qualitysweep --mdsm ./mdsm --budget 20m --seeds 1,2 \
//	    --data-dir ~/.cache/mdsm/data --out sweep scripts/qualitysweep/part2.sweep
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"mdsm/classifier"
	"mdsm/core"
	"mdsm/score"
)

// result is one line of results.jsonl.
type result struct {
	Name       string  `json:"name"`
	Seed       int     `json:"seed"`
	Train      string  `json:"train_flags"`
	Score      string  `json:"score_flags,omitempty"`
	SecPerStep float64 `json:"s_per_step"`
	Steps      int     `json:"steps"`
	WallS      float64 `json:"wall_s"` // the training's wall time, sample grids included
	N          int     `json:"n"`
	FD         float64 `json:"fd"`
	Floor      float64 `json:"floor"` // real test images at the run's size and back
	Classes5   int     `json:"classes_5pct"`
	MinShare   float64 `json:"min_class_share"`
	MaxSoftmax float64 `json:"mean_max_softmax"`
	Size       int     `json:"size"`
	When       string  `json:"time"`
}

type experiment struct {
	kind, name, from, flags string
}

func main() {
	mdsm := flag.String("mdsm", "./mdsm", "the mdsm binary")
	budget := flag.Duration("budget", 20*time.Minute, "wall-clock training budget per run")
	fill := flag.Float64("fill", 0.95, "share of the budget the step count aims at (the rest absorbs speed noise and sample grids)")
	seeds := flag.String("seeds", "1,2", "comma-separated seeds")
	out := flag.String("out", "sweep", "output folder: runs, results.jsonl, results.md")
	dataDir := flag.String("data-dir", "", "passed to mdsm train and mdsm score")
	calib := flag.Int("calibration", 60, "steps of the speed calibration (the first fifth are not timed)")
	n := flag.Int("n", 256, "samples scored per run")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: qualitysweep [flags] SWEEP_FILE (go doc ./scripts/qualitysweep)")
		os.Exit(2)
	}
	exps, err := readSweep(flag.Arg(0))
	check(err)
	check(os.MkdirAll(*out, 0o755))
	resPath := filepath.Join(*out, "results.jsonl")
	done := map[string]bool{}
	for _, r := range readResults(resPath) {
		done[fmt.Sprintf("%s/%d", r.Name, r.Seed)] = true
	}
	trainFlags := map[string]string{}
	for _, e := range exps {
		if e.kind == "train" {
			trainFlags[e.name] = e.flags
		}
	}
	for _, e := range exps {
		for _, s := range strings.Split(*seeds, ",") {
			seed, err := strconv.Atoi(strings.TrimSpace(s))
			check(err)
			key := fmt.Sprintf("%s/%d", e.name, seed)
			if done[key] {
				continue
			}
			var r result
			switch e.kind {
			case "train":
				r = trainAndScore(*mdsm, *out, e, seed, *budget, *fill, *calib, *n, *dataDir)
			case "sample":
				tf, ok := trainFlags[e.from]
				if !ok {
					check(fmt.Errorf("sample line %s: no train line named %s", e.name, e.from))
				}
				r = rescore(*mdsm, *out, e, tf, seed, *n, *dataDir)
			}
			appendResult(resPath, r)
			fmt.Printf("%-24s seed %d: FD %.2f (floor %.2f) at N=%d, %d classes >= 5%%, %d steps in %s\n",
				r.Name, r.Seed, r.FD, r.Floor, r.N, r.Classes5, r.Steps, time.Duration(r.WallS*float64(time.Second)).Round(time.Second))
		}
	}
	check(writeTable(filepath.Join(*out, "results.md"), readResults(resPath), *n, *dataDir, *budget))
	fmt.Println("results:", filepath.Join(*out, "results.md"))
}

func readSweep(path string) ([]experiment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var exps []experiment
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if i := strings.Index(s, "#"); i >= 0 {
			s = strings.TrimSpace(s[:i])
		}
		if s == "" {
			continue
		}
		kind, rest, _ := strings.Cut(s, " ")
		parts := strings.Split(rest, "|")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		switch {
		case kind == "train" && len(parts) == 2 && parts[0] != "":
			exps = append(exps, experiment{kind: kind, name: parts[0], flags: parts[1]})
		case kind == "sample" && len(parts) == 3 && parts[0] != "":
			exps = append(exps, experiment{kind: kind, name: parts[0], from: parts[1], flags: parts[2]})
		default:
			return nil, fmt.Errorf("%s:%d: want 'train NAME | FLAGS' or 'sample NAME | TRAINED NAME | FLAGS'", path, line)
		}
	}
	return exps, sc.Err()
}

// run executes mdsm with args and returns its standard output.
func run(mdsm string, args ...string) []byte {
	cmd := exec.Command(mdsm, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		check(fmt.Errorf("%s %s: %w", mdsm, strings.Join(args, " "), err))
	}
	return out
}

func trainAndScore(mdsm, out string, e experiment, seed int, budget time.Duration, fill float64, calib, n int, dataDir string) result {
	flags := strings.Fields(e.flags)
	common := append([]string{"--seed", strconv.Itoa(seed), "--quiet"}, flags...)
	if dataDir != "" {
		common = append(common, "--data-dir", dataDir)
	}
	// A line with its own --steps is trained for exactly that many steps (a budget set from
	// quiet-machine speeds, for a machine whose wall clock is not the target's): no calibration.
	if hasFlag(flags, "steps") {
		dir := filepath.Join(out, "runs", fmt.Sprintf("%s-s%d", e.name, seed))
		os.RemoveAll(dir)
		start := time.Now()
		run(mdsm, append([]string{"train", "--run-dir", dir}, common...)...)
		wall := time.Since(start)
		r := scoreRun(mdsm, dir, nil, n, dataDir)
		cfg, err := core.ReadRunConfig(dir)
		check(err)
		r.Name, r.Seed, r.Train, r.Steps, r.WallS = e.name, seed, e.flags, cfg.Steps, wall.Seconds()
		return r
	}
	// 1. calibration
	cal := filepath.Join(out, "calibration", fmt.Sprintf("%s-s%d", e.name, seed))
	os.RemoveAll(cal)
	run(mdsm, append([]string{"train", "--run-dir", cal, "--steps", strconv.Itoa(calib), "--sample-every", "0",
		"--log-every", "1", "--checkpoint-every", strconv.Itoa(calib)}, common...)...)
	recs, err := core.ReadMetrics(filepath.Join(cal, "metrics.jsonl"))
	check(err)
	skip := calib / 5
	if len(recs) < skip+2 {
		check(fmt.Errorf("calibration of %s wrote %d metrics lines", e.name, len(recs)))
	}
	last := recs[len(recs)-1]
	sps := (last.Elapsed - recs[skip].Elapsed) / float64(last.Step-recs[skip].Step)
	os.RemoveAll(cal)
	// 2. the run
	steps := int(budget.Seconds() * fill / sps)
	dir := filepath.Join(out, "runs", fmt.Sprintf("%s-s%d", e.name, seed))
	os.RemoveAll(dir) // an interrupted earlier attempt
	start := time.Now()
	run(mdsm, append([]string{"train", "--run-dir", dir, "--steps", strconv.Itoa(steps)}, common...)...)
	wall := time.Since(start)
	r := scoreRun(mdsm, dir, nil, n, dataDir)
	r.Name, r.Seed, r.Train, r.SecPerStep, r.Steps, r.WallS = e.name, seed, e.flags, sps, steps, wall.Seconds()
	return r
}

// hasFlag reports whether args set the flag name (-name, --name, with or without =value).
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		a = strings.TrimLeft(a, "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

func rescore(mdsm, out string, e experiment, trainFlags string, seed, n int, dataDir string) result {
	dir := filepath.Join(out, "runs", fmt.Sprintf("%s-s%d", e.from, seed))
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		check(fmt.Errorf("sample line %s: run %s is not trained yet (put its train line first)", e.name, dir))
	}
	r := scoreRun(mdsm, dir, strings.Fields(e.flags), n, dataDir)
	r.Name, r.Seed, r.Train, r.Score = e.name, seed, trainFlags, e.flags
	for _, p := range readResults(filepath.Join(out, "results.jsonl")) {
		if p.Name == e.from && p.Seed == seed {
			r.SecPerStep, r.Steps, r.WallS = p.SecPerStep, p.Steps, p.WallS
		}
	}
	return r
}

// scoreRun runs mdsm score --json on a run and reads the numbers the table needs.
func scoreRun(mdsm, dir string, extra []string, n int, dataDir string) result {
	args := append([]string{"score", dir, "--n", strconv.Itoa(n), "--json"}, extra...)
	if dataDir != "" {
		args = append(args, "--data-dir", dataDir)
	}
	var rep struct {
		Samples score.Result  `json:"samples"`
		Floor   *score.Result `json:"floor"`
	}
	check(json.Unmarshal(run(mdsm, args...), &rep))
	s := rep.Samples
	r := result{N: s.N, FD: s.FD, Floor: math.NaN(), MaxSoftmax: s.MeanMaxSoftmax, Size: s.Size, MinShare: 1,
		When: time.Now().UTC().Format(time.RFC3339)}
	if rep.Floor != nil {
		r.Floor = rep.Floor.FD
	}
	for _, c := range s.Hist {
		share := float64(c) / float64(s.N)
		r.MinShare = min(r.MinShare, share)
		if share >= 0.05 {
			r.Classes5++
		}
	}
	return r
}

func readResults(path string) []result {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var rs []result
	for _, line := range strings.Split(string(b), "\n") {
		var r result
		if json.Unmarshal([]byte(line), &r) == nil && r.Name != "" {
			rs = append(rs, r)
		}
	}
	return rs
}

func appendResult(path string, r result) {
	b, err := json.Marshal(r)
	check(err)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	check(err)
	_, err = f.Write(append(b, '\n'))
	check(err)
	check(f.Close())
}

// writeTable writes the results as markdown: the goal, every run, and means over seeds.
func writeTable(path string, rs []result, n int, dataDir string, budget time.Duration) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Quality sweep: %s training budget, FD at N = %d\n\n", budget, n)
	if goal, err := goalFloor(n, dataDir); err == nil {
		fmt.Fprintf(&b, "Goal (issue 13): FD <= %.2f, the floor of a perfect 14x14 model (%d real MNIST test digits taken to 14x14 and back), with all 10 classes >= 5%%, in <= 20 minutes.\n\n", goal, n)
	} else {
		fmt.Fprintf(&b, "Goal floor not computed: %v\n\n", err)
	}
	b.WriteString("| name | seed | size | steps | s/step | wall | FD | floor | classes >= 5% | min class | max-softmax | train flags | score flags |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	code := func(s string) string {
		if s == "" {
			return "-"
		}
		return "`" + s + "`"
	}
	for _, r := range rs {
		wall := time.Duration(r.WallS * float64(time.Second)).Round(time.Second).String()
		if r.WallS > 1.05*budget.Seconds() {
			wall += " (over)"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %.3f | %s | %.2f | %.2f | %d | %.1f%% | %.3f | %s | %s |\n", r.Name, r.Seed, r.Size, r.Steps, r.SecPerStep,
			wall, r.FD, r.Floor, r.Classes5, 100*r.MinShare, r.MaxSoftmax, code(r.Train), code(r.Score))
	}
	byName := map[string][]result{}
	var names []string
	for _, r := range rs {
		if byName[r.Name] == nil {
			names = append(names, r.Name)
		}
		byName[r.Name] = append(byName[r.Name], r)
	}
	sort.SliceStable(names, func(i, j int) bool { return mean(byName[names[i]]) < mean(byName[names[j]]) })
	b.WriteString("\nMean FD over seeds, best first:\n\n| name | seeds | mean FD | spread |\n|---|---|---|---|\n")
	for _, name := range names {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, r := range byName[name] {
			lo, hi = min(lo, r.FD), max(hi, r.FD)
		}
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f..%.2f |\n", name, len(byName[name]), mean(byName[name]), lo, hi)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func mean(rs []result) float64 {
	s := 0.0
	for _, r := range rs {
		s += r.FD
	}
	return s / float64(len(rs))
}

// goalFloor is the FD of n real MNIST test digits taken to 14x14 and back.
func goalFloor(n int, dataDir string) (float64, error) {
	c, err := classifier.Builtin("mnist")
	if err != nil {
		return 0, err
	}
	test, _, err := core.ScoreTestSet("mnist", dataDir)
	if err != nil {
		return 0, err
	}
	r, err := score.New(c).Floor(test, 14, n, 1)
	return r.FD, err
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "qualitysweep:", err)
		os.Exit(1)
	}
}
