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
	"mdsm/dist"
)

func init() {
	register(command{name: "train", summary: "train headless, writing a run directory (resumable); data-parallel under mpirun/srun", run: runTrain, distributed: true})
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
       mdsm train --resume RUN_DIR [--steps N] [--micro-batch N] [--nan-rollback] [--data-dir DIR] [--device D] [--tf32]

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

Data-parallel: started by mpirun -np N or srun (one process per rank), every rank takes its
share of each batch and the gradients are summed in a fixed order, so the run equals the
single-process run with the same batch and micro-batch, bit for bit (the micro-batch
defaults to batch/N). Rank 0 alone writes RUN_DIR; --resume works at any number of ranks.
SIGUSR1 (which mpirun forwards to every rank) or SIGTERM to any one rank stops all of them
after the same step with a checkpoint. If a rank dies, the launcher ends the others; resume
from the last checkpoint.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *resume != "" {
		if err := refuseOnResume(fs, "--resume "+*resume, trainResumeFlags); err != nil {
			return err
		}
	}
	cfg := core.DefaultRunConfig()
	if *configPath != "" { // the file first, then the flags given on the command line
		fileCfg, err := core.LoadRunConfig(*configPath)
		if err != nil {
			return err
		}
		cfg = fileCfg
	}
	if err := checkThreads(*threads); err != nil {
		return err
	}
	comm, err := joinJob(*threads)
	if err != nil {
		return err
	}

	var tr *core.Trainer
	if *resume != "" {
		// Rank 0 reads the run (the others may not see its directory), applies the flags
		// over it and hands both configs to every rank, which loads its own copy of the data
		// (from the data directory asked for). A resumed run keeps its config; the settings
		// core.ResumeChangeable names (steps, micro-batch, NaN rollback, data directory,
		// device, TF32, sample share) may change: refuseOnResume refused the others.
		var shared struct {
			Run   core.RunConfig `json:"run"`
			Asked core.RunConfig `json:"asked"`
		}
		err := error(nil)
		if leader() {
			if shared.Run, err = core.ReadRunConfig(*resume); err == nil {
				shared.Asked = shared.Run
				if err = rf.apply(&shared.Asked); err != nil {
					err = fmt.Errorf("invalid configuration: %w", err)
				}
			}
		}
		if err := dist.BcastJSON(comm, &shared, err); err != nil {
			return err
		}
		rc, c := shared.Run, shared.Asked
		ds, err := core.LoadTrainingData(c)
		if err := dist.Agree(comm, err); err != nil {
			return err
		}
		opt := core.ResumeOptions{Comm: comm}
		if given(fs, "steps") {
			opt.Steps = c.Steps
		}
		if given(fs, "micro-batch") {
			opt.MicroBatch = c.MicroBatch
		}
		opt.NaNRollback = c.NaNRollback && !rc.NaNRollback
		if given(fs, "device") {
			opt.Device = c.Device
		}
		if given(fs, "tf32") {
			opt.TF32 = &c.TF32
		}
		if given(fs, "data-dir") {
			opt.DataDir = c.DataDir
		}
		if given(fs, "sample-share") {
			opt.SampleShare = &c.SampleShare
		}
		if tr, err = core.ResumeTrainer(*resume, ds, opt); err != nil {
			return err
		}
	} else {
		err := rf.apply(&cfg)
		if err != nil {
			err = fmt.Errorf("invalid configuration: %w", err)
		}
		if *runDir == "" {
			*runDir = defaultRunDir()
		}
		// Every rank parsed the same command line; rank 0's config and run directory
		// (named after its clock) are the ones used.
		shared := struct {
			Cfg    core.RunConfig `json:"cfg"`
			RunDir string         `json:"run_dir"`
		}{cfg, *runDir}
		if err := dist.BcastJSON(comm, &shared, err); err != nil {
			return err
		}
		cfg, *runDir = shared.Cfg, shared.RunDir
		ds, err := core.LoadTrainingData(cfg)
		if err := dist.Agree(comm, err); err != nil {
			return err
		}
		if tr, err = core.NewTrainerOn(comm, cfg, ds, *runDir); err != nil {
			return err
		}
	}
	if leader() {
		tr.Sampler = core.PeriodicSampler(tr.Config())
	}
	c := tr.Config()
	if leader() {
		par := ""
		if comm.Size() > 1 {
			par = fmt.Sprintf(" on %d ranks (%s, micro-batch %d)", comm.Size(), comm.Name(), c.MicroBatch)
		}
		fmt.Fprintf(os.Stderr, "mdsm train: %s (%d parameters) on %s, batch %d, %d steps%s -> %s\n",
			c.Model.Preset, c.Model.ParamCount(), c.Data, c.BatchSize, c.Steps, par, tr.RunDir())
	}

	// A dropped SSH session closes the terminal or the pipe stderr goes to: writing there
	// must fail quietly, not kill the process (Go's default for SIGPIPE on fd 1 and 2)
	// before the checkpoint is written.
	signal.Ignore(syscall.SIGPIPE)
	sigs := make(chan os.Signal, 4)
	// SIGUSR1 is how a distributed run is stopped through mpirun, which forwards it to
	// every rank (SIGINT and SIGTERM to mpirun become SIGKILL after a second).
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	var stoppedBy atomic.Value // the signal that stopped training
	go func() {
		s := <-sigs
		stoppedBy.Store(s)
		if leader() || comm.Size() == 1 {
			fmt.Fprintf(os.Stderr, "\nmdsm train: %v: finishing the step and writing a checkpoint (Ctrl-C again to quit at once)\n", s)
		} else {
			fmt.Fprintf(os.Stderr, "\n%s: %v: stopping all ranks after this step (rank 0 writes the checkpoint)\n", errorPrefix(), s)
		}
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
	// Rank 0 reports; the other ranks print only errors.
	if !leader() {
		for ev := range tr.Events() {
			if e, ok := ev.(core.LogEvent); ok && e.Level == "error" {
				fmt.Fprintf(os.Stderr, "%s: %s\n", errorPrefix(), e.Msg)
			}
		}
		return tr.Err()
	}
	tty := term.IsTerminal(int(os.Stderr.Fd()))
	last := time.Time{}
	for ev := range tr.Events() {
		switch e := ev.(type) {
		case core.StepEvent:
			if *quiet || (time.Since(last) < time.Second && e.Step != e.Total) {
				continue
			}
			last = time.Now()
			line := fmt.Sprintf("step %d/%d  loss %.4g  norm %.4g  lr %.2e  %.0f img/s%s  elapsed %s  eta %s",
				e.Step, e.Total, e.Loss, e.NormLoss, e.LR, e.ImagesPerSec, core.RankRatesText(e.RankImagesPerSec), e.Elapsed.Round(time.Second), e.ETA.Round(time.Second))
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
			} else if e.Stopped {
				fmt.Fprintf(os.Stderr, "mdsm train: stopped at step %d with a checkpoint (another rank was asked to stop); resume with: mdsm train --resume %s\n", e.Step, tr.RunDir())
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

// trainResumeFlags are the flags `mdsm train --resume` accepts: those of the settings a run
// may change between sessions (core.Field.Resume) and of the process itself.
var trainResumeFlags = resumeFlags("resume", "threads", "quiet", "skip-memory-check")
