package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
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
	rf := bindRunFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mdsm train [flags]
       mdsm train --resume RUN_DIR [--steps N] [--micro-batch N] [--nan-rollback]

Trains an energy network with MDSM on a background goroutine and writes RUN_DIR/config.json,
metrics.jsonl, checkpoints/ and samples/. SIGINT, SIGTERM and SIGHUP (a dropped SSH session)
finish the step, write a checkpoint and exit with status 0; a second SIGINT exits at once with
status 130 (the last checkpoint is intact, the run resumes from it). Killed any other way
(kill -9, out of memory, power), the run resumes from its newest complete checkpoint.
Before starting, the memory the run needs is compared with the memory available; a run that
would not fit is refused with the --micro-batch that would fit.

Exit status: 0 finished or stopped by a signal after a checkpoint; 1 an error (bad flags,
data, disk full, NaN): the message says what to do, the last good checkpoint is kept;
130 a second SIGINT.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := core.DefaultRunConfig()
	if *configPath != "" { // the file first, then the flags given on the command line
		fileCfg, err := core.LoadRunConfig(*configPath)
		if err != nil {
			return err
		}
		cfg = fileCfg
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
		// A resumed run keeps its config; steps, micro-batch, NaN rollback, device and TF32
		// may change.
		c := rc
		if err := rf.apply(&c); err != nil {
			return fmt.Errorf("invalid configuration: %w", err)
		}
		given := rf.given()
		var opt core.ResumeOptions
		if _, ok := given["steps"]; ok {
			opt.Steps = c.Steps
		}
		if _, ok := given["micro-batch"]; ok {
			opt.MicroBatch = c.MicroBatch
		}
		opt.NaNRollback = c.NaNRollback && !rc.NaNRollback
		if _, ok := given["device"]; ok {
			opt.Device = c.Device
		}
		if _, ok := given["tf32"]; ok {
			opt.TF32 = &c.TF32
		}
		if tr, err = core.ResumeTrainer(*resume, ds, opt); err != nil {
			return err
		}
	} else {
		if err := rf.apply(&cfg); err != nil {
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
		c.Model.Preset, c.Model.ParamCount(), c.Data, c.BatchSize, c.Steps, tr.RunDir())

	// A dropped SSH session closes the terminal or the pipe stderr goes to: writing there
	// must fail quietly, not kill the process (Go's default for SIGPIPE on fd 1 and 2)
	// before the checkpoint is written.
	signal.Ignore(syscall.SIGPIPE)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	var stoppedBy atomic.Value // the signal that stopped training
	go func() {
		s := <-sigs
		stoppedBy.Store(s)
		fmt.Fprintf(os.Stderr, "\nmdsm train: %v: finishing the step and writing a checkpoint (Ctrl-C again to quit at once)\n", s)
		go tr.Stop()
		// Only a second SIGINT (a user pressing Ctrl-C again) quits at once; SIGTERM and
		// SIGHUP repeat the request being carried out (a closing session often sends both).
		for s := range sigs {
			if s == syscall.SIGINT {
				fmt.Fprintln(os.Stderr, "mdsm train: quitting without a new checkpoint; the last one is intact")
				os.Exit(130)
			}
		}
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
				if sc := e.Score.Summary(); sc != "" {
					fmt.Fprintf(os.Stderr, "score of the grid of step %d: %s\n", e.Step, sc)
				}
			}
		case core.LogEvent:
			fmt.Fprintf(os.Stderr, "\n%s: %s\n", e.Level, e.Msg)
		case core.DoneEvent:
			fmt.Fprintln(os.Stderr)
			if e.Err != nil {
				return fmt.Errorf("training stopped at step %d: %w", e.Step, e.Err)
			}
			if s, ok := stoppedBy.Load().(os.Signal); ok {
				fmt.Fprintf(os.Stderr, "mdsm train: stopped by %v at step %d with a checkpoint; resume with: mdsm train --resume %s\n", s, e.Step, tr.RunDir())
			} else {
				fmt.Fprintf(os.Stderr, "mdsm train: done at step %d; resume with: mdsm train --resume %s --steps N\n", e.Step, tr.RunDir())
			}
		}
	}
	if err := tr.Err(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}
