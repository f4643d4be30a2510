package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"

	"mdsm/core"
	"mdsm/internal/gemm"
)

func init() {
	register(command{name: "train", summary: "train headless, writing a run directory (resumable)", run: runTrain})
}

func runTrain(args []string) error {
	fs := flag.NewFlagSet("mdsm train", flag.ContinueOnError)
	configPath := fs.String("config", "", "read the run configuration from this JSON file (flags override it)")
	resume := fs.String("resume", "", "continue the run in this run directory from its newest checkpoint")
	runDir := fs.String("run-dir", "", "where to write the run (default runs/DATE-TIME)")
	threads := fs.Int("threads", 0, "compute threads (default GOMAXPROCS)")
	quiet := fs.Bool("quiet", false, "print only checkpoints and the end")
	cfg := core.DefaultRunConfig()
	rf := bindRunFlags(fs, &cfg)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mdsm train [flags]
       mdsm train --resume RUN_DIR [--steps N]

Trains an energy network with MDSM on a background goroutine and writes RUN_DIR/config.json,
metrics.jsonl, checkpoints/ and samples/. SIGINT, SIGTERM and SIGHUP (a dropped SSH session)
write a checkpoint and exit; a second SIGINT exits at once (the last checkpoint is intact).

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configPath != "" { // the file first, then the flags given on the command line
		fileCfg, err := core.LoadRunConfig(*configPath)
		if err != nil {
			return err
		}
		cfg = fileCfg
		fs = flag.NewFlagSet("mdsm train", flag.ContinueOnError)
		fs.String("config", "", "")
		fs.String("resume", "", "")
		fs.String("run-dir", "", "")
		fs.Int("threads", 0, "")
		fs.Bool("quiet", false, "")
		rf = bindRunFlags(fs, &cfg)
		if err := fs.Parse(args); err != nil {
			return err
		}
	}
	gemm.SetThreads(*threads)

	var tr *core.Trainer
	if *resume != "" {
		rc, err := core.ReadRunConfig(*resume)
		if err != nil {
			return err
		}
		ds, err := core.LoadTrainingData(rc)
		if err != nil {
			return err
		}
		steps := 0
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "steps" {
				steps = cfg.Steps
			}
		})
		if tr, err = core.ResumeTrainer(*resume, ds, core.ResumeOptions{Steps: steps}); err != nil {
			return err
		}
	} else {
		if err := rf.apply(); err != nil {
			return fmt.Errorf("invalid configuration: %w", err)
		}
		ds, err := core.LoadTrainingData(cfg)
		if err != nil {
			return err
		}
		if *runDir == "" {
			*runDir = defaultRunDir()
		}
		if tr, err = core.NewTrainer(cfg, ds, *runDir); err != nil {
			return err
		}
	}
	tr.Sampler = core.PeriodicSampler(tr.Config())
	c := tr.Config()
	fmt.Fprintf(os.Stderr, "mdsm train: %s (%d parameters) on %s, batch %d, %d steps -> %s\n",
		c.Model.Preset, paramCount(c), c.Data, c.BatchSize, c.Steps, tr.RunDir())

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "\nmdsm train: %v: finishing the step and writing a checkpoint (Ctrl-C again to quit at once)\n", s)
		go tr.Stop()
		<-sigs
		fmt.Fprintln(os.Stderr, "mdsm train: quitting without a new checkpoint; the last one is intact")
		os.Exit(130)
	}()

	tr.Start()
	tty := term.IsTerminal(int(os.Stderr.Fd()))
	last := time.Time{}
	for ev := range tr.Events() {
		switch e := ev.(type) {
		case core.StepEvent:
			if *quiet || (time.Since(last) < time.Second && e.Step != e.Total) {
				continue
			}
			last = time.Now()
			line := fmt.Sprintf("step %d/%d  loss %.4g  norm %.4g  lr %.2e  %.0f img/s  elapsed %s  eta %s",
				e.Step, e.Total, e.Loss, e.NormLoss, e.LR, e.ImagesPerSec, e.Elapsed.Round(time.Second), e.ETA.Round(time.Second))
			if tty {
				fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(os.Stderr, line)
			}
		case core.CheckpointEvent:
			if e.Err != nil {
				fmt.Fprintf(os.Stderr, "\nmdsm train: %v\n", e.Err)
			} else if !*quiet || tty {
				fmt.Fprintf(os.Stderr, "\ncheckpoint step %d: %s\n", e.Step, e.Path)
			}
		case core.SampleEvent:
			if e.Err != nil {
				fmt.Fprintf(os.Stderr, "\nsample grid failed: %v\n", e.Err)
			} else {
				fmt.Fprintf(os.Stderr, "\nsamples step %d: %s\n", e.Step, e.Path)
			}
		case core.LogEvent:
			fmt.Fprintf(os.Stderr, "\n%s: %s\n", e.Level, e.Msg)
		case core.DoneEvent:
			fmt.Fprintln(os.Stderr)
			if e.Err != nil {
				return fmt.Errorf("training stopped at step %d: %w", e.Step, e.Err)
			}
			fmt.Fprintf(os.Stderr, "mdsm train: done at step %d; resume with: mdsm train --resume %s --steps N\n", e.Step, tr.RunDir())
		}
	}
	if err := tr.Err(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

func paramCount(c core.RunConfig) int {
	n := 0
	for _, s := range c.Model.ParamSpecs() {
		k := 1
		for _, d := range s.Shape {
			k *= d
		}
		n += k
	}
	return n
}
