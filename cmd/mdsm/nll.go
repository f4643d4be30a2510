package main

import (
	"flag"
	"fmt"
	"math"

	"mdsm/dist"

	"mdsm/sampling"
)

func init() {
	register(command{name: "nll", summary: "log-likelihood by AIS (estimate) and reverse AIS (upper bound), bits/dim", run: runNLL, distributed: true})
}

func runNLL(args []string) error {
	fs := flag.NewFlagSet("mdsm nll", flag.ContinueOnError)
	cfg := sampling.DefaultAISConfig()
	fs.IntVar(&cfg.Steps, "steps", 2000, "intermediate distributions (the paper used 10000)")
	fs.IntVar(&cfg.Chains, "chains", 64, "forward AIS chains")
	fs.IntVar(&cfg.Batch, "batch", 16, "chains per energy call")
	fs.IntVar(&cfg.Leapfrog, "leapfrog", 10, "leapfrog steps per HMC transition")
	fs.Float64Var(&cfg.StepSize, "step-size", cfg.StepSize, "initial leapfrog step size (adapted to 0.65 acceptance)")
	n := fs.Int("n", 32, "test images for the reverse-AIS upper bound (0 = skip it)")
	dataName := fs.String("data", "", "test set (default: the run's dataset)")
	dataDir := fs.String("data-dir", "", "directory of downloaded datasets")
	seed := fs.Uint64("seed", 1, "random seed")
	threads := fs.Int("threads", 0, "compute threads")
	bindSkipMemoryCheck(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mdsm nll [flags] RUN_DIR|CHECKPOINT.safetensors

Estimates log Z of exp(-E) by annealed importance sampling from N(0.5, I) with HMC
transitions, and the test-set negative log-likelihood E(x) + log Z, in nats and in bits/dim on
the [0,255] convention: (NLL + D ln 256) / (D ln 2). Reverse AIS started at test images gives
a stochastic upper bound on log Z, hence on bits/dim (the paper's reported kind of number).

Flags:
`)
		fs.PrintDefaults()
	}
	src, err := parseModelCommand(fs, args, threads)
	if err != nil {
		return err
	}
	if err := positive("steps", cfg.Steps, "chains", cfg.Chains, "batch", cfg.Batch, "leapfrog", cfg.Leapfrog); err != nil {
		return err
	}
	if *n < 0 {
		return fmt.Errorf("--n %d: must be 0 (no upper bound) or more test images", *n)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("AIS settings: %w", err)
	}
	if cfg.Steps > sampling.MaxScheduleSteps {
		return fmt.Errorf("--steps %d: at most %d intermediate distributions", cfg.Steps, sampling.MaxScheduleSteps)
	}
	if err := dist.Agree(job.comm, checkSamplingMemory(src.params.Config, max(cfg.Chains, *n), cfg.Batch, 0)); err != nil {
		return err
	}
	c := src.params.Config
	d := c.Dim()
	name := *dataName
	if name == "" {
		name = src.data
	}
	ds, err := loadTestImages(name, *dataDir, c, max(*n, 1))
	if err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	energies, err := sampling.EnergyScoresOn(ctx, job.comm, src.energyFactory(), ds.Pixels, ds.N, 100, 0, *seed)
	if err != nil {
		return fmt.Errorf("test energies under %s: %w", src.path, err)
	}
	cfg.Progress = progressPrinter("AIS steps")
	fwd, err := sampling.AISOn(ctx, job.comm, src.energyFactory(), d, cfg, *seed)
	if err != nil {
		return fmt.Errorf("AIS with %s: %w", src.path, err)
	}
	var rev sampling.AISResult
	if *n > 0 {
		rc := cfg
		rc.Progress = progressPrinter("reverse AIS steps")
		if rev, err = sampling.ReverseAISOn(ctx, job.comm, src.energyFactory(), ds.Pixels, ds.N, d, rc, *seed+1); err != nil {
			return fmt.Errorf("reverse AIS with %s: %w", src.path, err)
		}
	}
	if !leader() {
		return nil
	}
	for what, z := range map[string]float64{"forward": fwd.LogZ, "reverse": rev.LogZ} {
		if (what == "forward" || *n > 0) && (math.IsNaN(z) || math.IsInf(z, 0)) {
			return fmt.Errorf("%s AIS with %s gave log Z = %v: the chains diverged; lower --step-size or raise --steps", what, src.path, z)
		}
	}
	ll, err := sampling.NLL(energies, fwd.LogZ, d)
	if err != nil {
		return err
	}
	fmt.Printf("forward AIS: %d chains, %d steps: log Z = %.2f +- %.2f (ESS %.1f, accept %.2f)\n", cfg.Chains, cfg.Steps, fwd.LogZ, fwd.SE, fwd.ESS, fwd.AcceptRate)
	fmt.Printf("  %s test (%d images): NLL %.2f +- %.2f nats, %.3f bits/dim (forward AIS under-estimates log Z in expectation, so this NLL is optimistic)\n",
		name, ds.N, ll.MeanNats, ll.SENats, ll.BitsPerDim)
	if *n > 0 {
		ub, err := sampling.NLL(energies, rev.LogZ, d)
		if err != nil {
			return err
		}
		fmt.Printf("reverse AIS from %d test images: log Z <= %.2f +- %.2f; NLL <= %.2f nats, %.3f bits/dim (upper bound)\n",
			ds.N, rev.LogZ, rev.SE, ub.MeanNats, ub.BitsPerDim)
	}
	return nil
}
