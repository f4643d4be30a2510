package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"sort"

	"mdsm/sampling"
)

func init() {
	register(command{name: "energy", summary: "energies of a dataset split (outlier detection, AUROC vs another set)", run: runEnergy, distributed: true})
}

func runEnergy(args []string) error {
	fs := flag.NewFlagSet("mdsm energy", flag.ContinueOnError)
	dataName := fs.String("data", "", "in-distribution set (default: the run's dataset)")
	ood := fs.String("ood", "", "an out-of-distribution set to compare, e.g. fashion-mnist; prints the AUROC of energy as an OOD score")
	dataDir := fs.String("data-dir", "", "directory of downloaded datasets")
	n := fs.Int("n", 1000, "images per set")
	sigma0 := fs.Float64("noise", 0, "std of the noise added before scoring (default: the run's sigma0, as the paper does)")
	seed := fs.Uint64("seed", 1, "noise seed")
	out := fs.String("out", "", "CSV output (set,index,energy), or a directory ending in / (default energies-DATE-TIME.csv)")
	threads := fs.Int("threads", 0, "compute threads")
	force := bindForce(fs)
	bindSkipMemoryCheck(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mdsm energy [flags] RUN_DIR|CHECKPOINT.safetensors

Computes E(x + sigma0 n) for the test split of a dataset (and of an --ood set), writes them
as CSV for a histogram and prints quantiles; with --ood, prints the AUROC of the energy as
an outlier score (1 = perfect separation, 0.5 = chance).

Flags:
`)
		fs.PrintDefaults()
	}
	src, err := parseModelCommand(fs, args, threads)
	if err != nil {
		return err
	}
	if err := positive("n", *n); err != nil {
		return err
	}
	noise := src.sigma0
	if given(fs, "noise") {
		if !(*sigma0 >= 0) || math.IsInf(*sigma0, 0) {
			return fmt.Errorf("--noise %v: the noise level must be a finite number >= 0", *sigma0)
		}
		noise = *sigma0
	}
	path := outputPath(*out, "energies-"+stamp()+".csv")
	if err := checkOutputs(*force, path); err != nil {
		return err
	}
	name := *dataName
	if name == "" {
		name = src.data
	}
	sets := []string{name}
	if *ood != "" {
		sets = append(sets, *ood)
	}
	ctx, cancel := interruptible()
	defer cancel()
	var scores []sampling.ScoreSet
	for _, s := range sets {
		ds, err := loadTestImages(s, *dataDir, src.params.Config, *n)
		if err != nil {
			return err
		}
		e, err := sampling.EnergyScoresOn(ctx, job.comm, src.energyFactory(), ds.Pixels, ds.N, 100, noise, *seed)
		if err != nil {
			return fmt.Errorf("energies of %s under %s: %w", s, src.path, err)
		}
		if !leader() {
			continue
		}
		scores = append(scores, sampling.ScoreSet{Name: s, Scores: e})
		q := append([]float64(nil), e...)
		sort.Float64s(q)
		fmt.Printf("%-14s n=%-5d energy quantiles 5%% %.4g  50%% %.4g  95%% %.4g\n", s, len(q), q[len(q)/20], q[len(q)/2], q[len(q)*19/20])
	}
	if !leader() {
		return nil
	}
	if len(scores) == 2 {
		fmt.Printf("AUROC of energy as an outlier score (%s vs %s): %.4f\n", scores[1].Name, scores[0].Name, sampling.AUROC(scores[1].Scores, scores[0].Scores))
	}
	if err := writeOutput(path, *force, func(w io.Writer) error { return sampling.WriteScoresCSV(w, scores) }); err != nil {
		return fmt.Errorf("write energies: %w", err)
	}
	fmt.Printf("energies -> %s\n", path)
	return nil
}
