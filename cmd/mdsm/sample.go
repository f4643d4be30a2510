package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/term"

	"mdsm/core"
	"mdsm/data"
	"mdsm/dist"
	"mdsm/nn"
	"mdsm/sampling"
)

func init() {
	register(command{name: "sample", summary: "draw samples by annealed Langevin: PNG grid, .npy, energy trace", run: runSample, distributed: true})
}

// modelSource is what the sampling commands load: weights plus what the run knew.
type modelSource struct {
	params *nn.Params[float32]
	path   string // the weights file
	runDir string // "" when a bare .safetensors was given
	sigma0 float64
	data   string
	// sampler is the run's sampler (RUN/sampler.json, else its default; the paper's for a
	// bare checkpoint).
	sampler sampling.LangevinConfig
	device  core.Device // where the network runs (--device)
}

// loadModelSource loads RUN_DIR (newest checkpoint) or a checkpoint file.
func loadModelSource(path string) (*modelSource, error) {
	p, wpath, err := core.LoadWeights(path)
	if err != nil {
		return nil, err
	}
	src := &modelSource{params: p, path: wpath, sigma0: 0.1, data: "embedded", sampler: sampling.DefaultLangevinConfig()}
	runDir := path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		runDir = filepath.Dir(filepath.Dir(wpath)) // RUN/checkpoints/step-N.safetensors
	}
	if _, err := os.Lstat(filepath.Join(runDir, "config.json")); err != nil {
		src.sampler.Sigma0 = src.sigma0
		return src, nil // a checkpoint outside a run: the paper's sampler
	}
	// a run whose config.json or sampler.json cannot be read must not be sampled with
	// made-up settings
	cfg, err := core.ReadRunConfig(runDir)
	if err != nil {
		return nil, fmt.Errorf("%w (the run's sigma0 and sampler settings are in it: restore it)", err)
	}
	src.runDir, src.sigma0, src.data = runDir, cfg.Sigma0, cfg.Data
	if src.sampler, _, err = core.RunSampler(runDir, cfg); err != nil {
		return nil, err
	}
	return src, nil
}

// parseModelCommand parses the flags and the RUN_DIR|CHECKPOINT argument of a command that
// uses a trained model, joins the job (setting the GEMM threads) and loads the model:
// rank 0 reads it and hands it to the other ranks, which need not see the file. threads
// must point at the command's --threads value, read after parsing.
func parseModelCommand(fs *flag.FlagSet, args []string, threads *int) (*modelSource, error) {
	device := fs.String("device", "auto", core.DeviceFlagHelp)
	tf32 := fs.Bool("tf32", false, "let a GPU use TF32 tensor cores in float32 convolutions (faster, less exact)")
	if err := parseArgs(fs, args, "RUN_DIR|CHECKPOINT"); err != nil {
		return nil, err
	}
	if err := checkThreads(*threads); err != nil {
		return nil, err
	}
	comm, err := joinJob(*threads)
	if err != nil {
		return nil, err
	}
	var src *modelSource
	if leader() {
		src, err = loadModelSource(fs.Arg(0))
	}
	if src, err = shareModelSource(comm, src, err); err != nil {
		return nil, err
	}
	d, note, err := openCommandDevice(*device, *tf32)
	if err := dist.Agree(comm, err); err != nil {
		return nil, err
	}
	if !d.IsCPU() || *device != "auto" {
		fmt.Fprintf(os.Stderr, "%s: %s\n", errorPrefix(), note)
	}
	src.device = d
	return src, nil
}

// shareModelSource hands rank 0's model to every rank: what the run knew as JSON, then
// the weights.
func shareModelSource(comm dist.Comm, src *modelSource, err error) (*modelSource, error) {
	if comm.Size() == 1 {
		return src, err
	}
	var head struct {
		Path, RunDir, Data string
		Sigma0             float64
		Sampler            sampling.LangevinConfig
		Model              nn.Config
	}
	if src != nil {
		head.Path, head.RunDir, head.Data = src.path, src.runDir, src.data
		head.Sigma0, head.Sampler, head.Model = src.sigma0, src.sampler, src.params.Config
	}
	if err := dist.BcastJSON(comm, &head, err); err != nil {
		return nil, err
	}
	if src == nil {
		src = &modelSource{params: nn.NewParams[float32](head.Model), path: head.Path, runDir: head.RunDir, data: head.Data,
			sigma0: head.Sigma0, sampler: head.Sampler}
	}
	if w := src.params.Flat(); len(w) > 0 {
		if err := comm.Bcast(unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 4*len(w))); err != nil {
			return nil, fmt.Errorf("broadcasting the weights: %w", err)
		}
	}
	return src, nil
}

// outputPrefix is --out (see outputPath), by default RUN/samples/NAME-DATE-TIME
// (./NAME-DATE-TIME for a bare checkpoint).
func (s *modelSource) outputPrefix(out, name string) string {
	def := name + "-" + stamp()
	if s.runDir != "" {
		def = filepath.Join(s.runDir, "samples", def)
	}
	return outputPath(out, def)
}

// energyFactory gives each sampling worker its own model over its own copy of the weights,
// on the command's device. A device model that cannot be made (out of GPU memory) falls
// back to the CPU with a warning rather than stopping the command.
func (s *modelSource) energyFactory() func() sampling.Energy {
	return func() sampling.Energy { return s.energy() }
}

// energy is one model over a copy of the weights on the command's device.
func (s *modelSource) energy() sampling.Energy {
	m, err := s.device.NewEnergy(s.params.Clone())
	if err != nil {
		fmt.Fprintf(os.Stderr, "mdsm: %s: %v; this worker uses the CPU\n", s.device, err)
		return nn.NewModel(s.params.Clone())
	}
	return m
}

// scheduleFlags binds the sampler flags shared by sample and inpaint.
type scheduleFlags struct {
	fs                    *flag.FlagSet
	kind                  string
	steps                 int
	t0, eps, initMean, sd float64
}

func bindScheduleFlags(fs *flag.FlagSet) *scheduleFlags {
	s := &scheduleFlags{fs: fs}
	fs.StringVar(&s.kind, "schedule", "", "temperature schedule: exp, lin, const, or a sampler file saved by the workbench (w in the Schedule pane); default: the run's sampler (RUN/sampler.json if saved, else exp)")
	fs.IntVar(&s.steps, "steps", 0, "Langevin steps, the schedule rescaled to it (default: the sampler's; a run's sample_steps, 2700 for a bare checkpoint)")
	fs.Float64Var(&s.t0, "t0", 0, "start temperature, the schedule rescaled to it (default: the sampler's; a run's sample_t0, the paper's 100 for a bare checkpoint)")
	fs.Float64Var(&s.eps, "eps", 0.02, "Langevin step length epsilon (default: the sampler's)")
	fs.Float64Var(&s.initMean, "init-mean", 0.5, "chains start at init-mean + init-std * N(0, I) (default: the sampler's)")
	fs.Float64Var(&s.sd, "init-std", 1, "see --init-mean")
	return s
}

// config is the sampler to use: the run's, or the one --schedule names (a kind or a saved
// file), with the flags given on the command line applied over it as given (a zero or
// negative --steps or --t0 is an error, never the sampler's value), and the result
// validated (sampling.LangevinConfig.Validate).
func (s *scheduleFlags) config(src *modelSource) (sampling.LangevinConfig, error) {
	lc := src.sampler
	switch s.kind {
	case "":
	case sampling.KindExp, sampling.KindLin, sampling.KindConst:
		lc.Schedule = sampling.Schedule{Kind: s.kind, Steps: lc.Schedule.Steps, T0: lc.Schedule.Peak()}
	default:
		file, err := sampling.ReadSamplerFile(s.kind)
		if err != nil {
			return lc, fmt.Errorf("--schedule %q is not exp, lin or const: %w", s.kind, err)
		}
		lc = file
	}
	lc.Sigma0 = src.sigma0
	steps, t0 := -1, -1.0
	if given(s.fs, "steps") {
		if s.steps < 1 {
			return lc, fmt.Errorf("--steps %d: the sampler needs at least 1 step", s.steps)
		}
		steps = s.steps
	}
	if given(s.fs, "t0") {
		if !(s.t0 > 0) || math.IsInf(s.t0, 0) {
			return lc, fmt.Errorf("--t0: start temperature t0 = %v must be finite and > 0", s.t0)
		}
		t0 = s.t0
	}
	lc.Schedule = lc.Schedule.Rescaled(steps, t0)
	if given(s.fs, "eps") {
		lc.Eps = s.eps
	}
	if given(s.fs, "init-mean") {
		lc.InitMean = s.initMean
	}
	if given(s.fs, "init-std") {
		lc.InitStd = s.sd
	}
	if err := lc.Validate(); err != nil {
		return lc, fmt.Errorf("sampler settings (--schedule, --steps, --t0, --eps, --init-mean, --init-std): %w", err)
	}
	return lc, nil
}

// describeSampler is one line naming a sampler's settings.
func describeSampler(lc sampling.LangevinConfig) string {
	return fmt.Sprintf("sampler: %s schedule, %d steps from T %.4g, eps %.4g", lc.Schedule.Kind, lc.Schedule.Steps, lc.Schedule.Peak(), lc.Eps)
}

// interruptible returns a context cancelled by SIGINT/SIGTERM/SIGHUP, so that long jobs
// stop and write what they have.
func interruptible() (context.Context, func()) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	return ctx, cancel
}

// progressPrinter reports progress on one rewritten line of a terminal, or once at the end
// when stderr is a file (a log of nohup'd jobs stays readable).
func progressPrinter(what string) func(done, total int) {
	if !leader() {
		return nil
	}
	if job.comm.Size() > 1 {
		what += " (rank 0's share)"
	}
	start := time.Now()
	tty := term.IsTerminal(int(os.Stderr.Fd()))
	return func(done, total int) {
		switch {
		case tty:
			fmt.Fprintf(os.Stderr, "\r\033[K%s %d/%d  %s", what, done, total, time.Since(start).Round(time.Second))
			if done == total {
				fmt.Fprintln(os.Stderr)
			}
		case done == total:
			fmt.Fprintf(os.Stderr, "%s %d/%d  %s\n", what, done, total, time.Since(start).Round(time.Second))
		}
	}
}

func runSample(args []string) error {
	fs := flag.NewFlagSet("mdsm sample", flag.ContinueOnError)
	n := fs.Int("n", 64, "number of samples")
	batch := fs.Int("batch", 64, "chains per batch (batches run in parallel on all cores)")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "", "output prefix, or a directory ending in / (default RUN_DIR/samples/sample-DATE-TIME)")
	cols := fs.Int("cols", 0, "grid columns (default sqrt(n))")
	threads := fs.Int("threads", 0, "compute threads per GEMM (default GOMAXPROCS)")
	force := bindForce(fs)
	bindSkipMemoryCheck(fs)
	sf := bindScheduleFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mdsm sample [flags] RUN_DIR|CHECKPOINT.safetensors

Draws samples by annealed Langevin dynamics, x <- x - eps^2/2 dE/dx + eps sqrt(T) N(0,I),
from x0 = 0.5 + N(0,I), then applies the denoising jump x - sigma0^2 dE/dx. Writes
PREFIX.png (grid), PREFIX.npy (float32 [n,C,H,W]) and PREFIX-energy.csv (mean energy and
temperature per step). Ctrl-C writes the batches already done. Under mpirun/srun the
batches are shared by the ranks and rank 0 writes the same files a single process would.
Existing files are not overwritten without --force; chains that diverge (NaN) are an
error, and nothing is written.

Flags:
`)
		fs.PrintDefaults()
	}
	src, err := parseModelCommand(fs, args, threads)
	if err != nil {
		return err
	}
	if err := positive("n", *n, "batch", *batch); err != nil {
		return err
	}
	if *cols < 0 || *cols > *n {
		return fmt.Errorf("--cols %d: must be 0 (square grid) or 1..--n (%d)", *cols, *n)
	}
	cfg, err := sf.config(src)
	if err != nil {
		return err
	}
	prefix := src.outputPrefix(*out, "sample")
	err = checkSamplingMemory(src.params.Config, *n, *batch, *n)
	if err == nil && leader() {
		err = checkOutputs(*force, prefix+".png", prefix+".npy", prefix+"-energy.csv")
	}
	if err := dist.Agree(job.comm, err); err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	c := src.params.Config
	imgs, trace, err := sampling.SampleBatchesOn(ctx, job.comm, src.energyFactory(), *n, min(*batch, *n), c.Dim(), cfg, *seed, progressPrinter("samples"))
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("sampling from %s: %w; nothing written", src.path, err)
	}
	if !leader() {
		return nil
	}
	got := len(imgs) / c.Dim()
	if got == 0 {
		return fmt.Errorf("interrupted before any batch finished; nothing written")
	}
	if err := writeImageSet(prefix, imgs, got, c, *cols, *force); err != nil {
		return err
	}
	if err := writeOutput(prefix+"-energy.csv", *force, func(w io.Writer) error { return sampling.WriteTraceCSV(w, trace) }); err != nil {
		return fmt.Errorf("write energy trace: %w", err)
	}
	fmt.Println(describeSampler(cfg))
	fmt.Printf("%d samples from %s -> %s.png, %s.npy, %s-energy.csv\n", got, src.path, prefix, prefix, prefix)
	return nil
}

// loadTestImages loads n test images of the dataset a model was trained on, at its size,
// after checking that the dataset fits in memory.
func loadTestImages(name, dataDir string, c nn.Config, n int) (*data.Dataset, error) {
	ds, err := core.LoadDataset(name, "test", dataDir, data.Options{Size: c.ImageSize, Limit: n})
	if err != nil {
		return nil, err
	}
	if ds.C != c.InChannels {
		return nil, fmt.Errorf("dataset %s has %d channels, the model %d", ds.Name, ds.C, c.InChannels)
	}
	return ds, nil
}
