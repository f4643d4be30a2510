package core

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"mdsm/data"
	"mdsm/dist"
	"mdsm/internal/safefile"
	"mdsm/nn"
)

// SampleFunc starts drawing a sample grid from a weight snapshot taken after the given step.
// The trainer calls it every SampleEvery steps (unless a grid is still being drawn) and runs
// the job between training steps, within the run's SampleShare of the wall time, and while
// it is paused.
type SampleFunc func(p *nn.Params[float32], step int, dir string) (SampleJob, error)

// SampleJob is a sample grid being drawn in slices. It runs on the training goroutine, so it
// may use every core (or the device) while it runs; a slice should take a fraction of a
// training step.
type SampleJob interface {
	// Step advances the grid by one slice of work and reports whether it is complete.
	Step(ctx context.Context) (done bool, err error)
	// Finish writes the grid's files and scores it.
	Finish() (SampleResult, error)
	// Close releases the job's model, finished or not.
	Close()
}

// Trainer runs MDSM training on a background goroutine. Control it with Start, Pause,
// Resume, Stop and CheckpointNow; read what happens from Events; read weights only through
// Snapshot (the live parameters are written by the optimiser during every step).
type Trainer struct {
	cfg  RunConfig
	dir  *RunDir // nil on the ranks of a distributed run other than rank 0
	path string  // the run directory
	ds   *data.Dataset
	// params and adam are the host copies of the weights and the optimiser state: the
	// engine's own on the CPU, refreshed from the engine before a checkpoint on a device.
	params *nn.Params[float32]
	adam   *Adam
	// ema is the moving average of the weights that sampling uses (RunConfig.EMA), kept by
	// rank 0 alone (the writer, which samples and checkpoints); nil when off.
	ema     *nn.Params[float32]
	engine  TrainEngine
	device  Device
	batcher *data.Batcher
	noise   *rand.PCG
	rng     *rand.Rand
	sigmas  []float64
	perm    []float64
	// order[b] is the index (in sigmas) of batch image b's noise level this step: perm is
	// sigmas in that order. binK is the number of noise-level bins of the loss per noise
	// level (0: not logged), sigmaLoss the last step's bin losses.
	order     []int
	binK      int
	sigmaLoss []float64
	batch     []float32
	noiseB    []float32 // the step's noise, drawn here so that every engine sees the same

	step      int
	elapsed   time.Duration // training time over all sessions of the run
	rate      float64       // smoothed images per second
	lrScale   float64       // multiplies the schedule; halved by each NaN rollback
	rollbacks int           // NaN rollbacks so far (persisted in checkpoints)
	savedStep int           // step of the newest checkpoint on disk (-1: none yet)
	// drawPending: the checkpoint this run resumed from says its last periodic grid was
	// interrupted by the stop; the trainer draws one as soon as it starts.
	drawPending bool
	// interrupted is the step of a periodic grid left unfinished by a stop (0: none),
	// recorded in the final checkpoint so that the resumed run draws it.
	interrupted int

	// comm is the group of a data-parallel run (dist.Single() for one process); dp
	// computes and combines the gradient over it (nil for one process). Rank 0 alone
	// writes the run directory.
	comm dist.Comm
	dp   *dataParallel
	// pendingErr is an error of rank 0's writing in a distributed run, kept until the
	// next control agreement so that every rank stops at the same step.
	pendingErr error
	rankRate   []float64 // smoothed images per second of compute, per rank

	events   chan Event
	evMu     sync.RWMutex // emit holds it for reading; closing the channel for writing
	evClosed bool
	dropped  atomic.Int64

	mu       sync.Mutex
	cond     *sync.Cond
	state    State
	stopReq  bool
	ckptReq  bool
	pauseReq bool
	// paused: this process paused the run (Pause); in a distributed run the other ranks
	// learn it from the control agreement and wait in the next one.
	paused bool
	// stepsReq is a new total step count asked for (SetSteps; 0: none).
	stepsReq int
	// ctl is the control channel (rank 0 of a run with a directory; nil otherwise).
	ctl      *controller
	started  bool
	done     chan struct{}
	err      error
	lastCkpt time.Time

	snapMu     sync.RWMutex
	snap       *nn.Params[float32]
	snapStep   int
	snapWanted atomic.Bool // a reader asked for newer weights (device engines)

	// beforeStep, when set (tests only), sees every batch before the step that uses it: the
	// race-free way to inject faults such as a NaN pixel.
	beforeStep func(step int, batch []float32)

	// StopAtStep, when set before Start, stops (with a checkpoint) once that many steps are
	// done, short of the configured total: a session of a longer run.
	StopAtStep int

	// Sampler, when set before Start, draws periodic sample grids into RUN/samples.
	Sampler  SampleFunc
	grid     *gridRun      // the grid being drawn, or nil
	gridTime time.Duration // time the grid took since the last step (counted in the next)
	// pending is the score of the last grid, waiting for the next metrics.jsonl line to
	// carry it (grids and lines are both made on the training goroutine).
	pending          *SampleScore
	lastLogged       int     // the step of the last metrics.jsonl line
	lastLoss, lastLR float64 // the loss and learning rate of the last step
	lastRankRates    []float64
}

// LoadTrainingData loads the training split named by a run config at the model's image
// size, checking that its channels fit the model. The dataset is loaded through
// LoadDataset: one that would not fit in memory is refused before anything is allocated
// (the run's own memory is checked when the trainer is made, on its device).
func LoadTrainingData(cfg RunConfig) (*data.Dataset, error) {
	ds, err := LoadDataset(cfg.Data, "train", cfg.DataDir, data.Options{Size: cfg.Model.ImageSize})
	if err != nil {
		return nil, err
	}
	if err := checkData(cfg, ds); err != nil {
		return nil, err
	}
	return ds, nil
}

func checkData(cfg RunConfig, ds *data.Dataset) error {
	if ds.C != cfg.Model.InChannels || ds.H != cfg.Model.ImageSize || ds.W != cfg.Model.ImageSize {
		return fmt.Errorf("dataset %s has %dx%dx%d images but the model expects %dx%dx%d: choose a preset for this dataset (e.g. paper-cifar for 3 channels) or set in_channels/image_size (--in-channels %d)",
			ds.Name, ds.C, ds.H, ds.W, cfg.Model.InChannels, cfg.Model.ImageSize, cfg.Model.ImageSize, ds.C)
	}
	return nil
}

// NewTrainer creates a run directory and a trainer for a fresh run on ds.
func NewTrainer(cfg RunConfig, ds *data.Dataset, runDir string) (*Trainer, error) {
	return NewTrainerOn(dist.Single(), cfg, ds, runDir)
}

// NewTrainerOn is NewTrainer for one rank of a data-parallel run over comm: every rank
// calls it with the same cfg (rank 0's, see dist.BcastJSON) and its own copy of the
// data; rank 0 alone creates the run directory. A run config without a micro-batch gets
// batch/W (rounded up), so that each rank computes one slot per step.
func NewTrainerOn(comm dist.Comm, cfg RunConfig, ds *data.Dataset, runDir string) (*Trainer, error) {
	if comm.Size() > 1 && cfg.MicroBatch == 0 {
		cfg.MicroBatch = (cfg.BatchSize + comm.Size() - 1) / comm.Size()
	}
	var (
		dir     *RunDir
		dev     Device
		note    string
		batcher *data.Batcher
	)
	err := cfg.Validate()
	if err != nil {
		err = fmt.Errorf("invalid run config: %w", err)
	}
	if err == nil {
		err = checkData(cfg, ds)
	}
	if err == nil {
		dev, note, err = openRankDevice(comm, cfg)
	}
	if err == nil {
		err = checkMemoryOn(dev, cfg, comm.Size())
	}
	if err == nil && comm.Rank() == 0 {
		dir, err = CreateRunDir(runDir, cfg)
	}
	if err == nil {
		batcher, err = data.NewBatcher(ds, cfg.BatchSize, cfg.Seed, 2)
	}
	if err := dist.Agree(comm, err); err != nil {
		dir.Close()
		return nil, err
	}
	if dev, note, err = agreeDevice(comm, dev, note); err != nil {
		dir.Close()
		return nil, err
	}
	params := nn.InitParams[float32](cfg.Model, rand.New(rand.NewPCG(cfg.Seed, 1)))
	t, err := newTrainer(comm, cfg, dev, dir, runDir, ds, params, NewAdam(cfg.Model, cfg.Beta1, cfg.Beta2), batcher, rand.NewPCG(cfg.Seed, 3))
	if err := dist.Agree(comm, err); err != nil {
		dir.Close()
		return nil, err
	}
	t.initEMA(nil)
	t.emit(LogEvent{At: time.Now(), Level: "info", Msg: note})
	t.warnDiskSpace()
	t.warnSlots()
	return t, nil
}

// openRankDevice opens the run's device on this rank, without collectives (every rank
// then agrees through agreeDevice). In a data-parallel run each rank takes a GPU of its
// own: "cuda" and "auto" mean GPU LOCAL_RANK, modulo the GPUs the process sees (so that
// launchers which give each task one GPU through CUDA_VISIBLE_DEVICES work too), and
// "cuda:N" means GPU N as given.
func openRankDevice(comm dist.Comm, cfg RunConfig) (Device, string, error) {
	if comm.Size() == 1 {
		return OpenDevice(cfg.Device, cfg.TF32)
	}
	kind, _, err := ParseDevice(cfg.Device)
	if err != nil {
		return CPU, "", err
	}
	if kind == "cpu" {
		return CPU, fmt.Sprintf("device: cpu (data-parallel on %d ranks)", comm.Size()), nil
	}
	spec := cfg.Device
	if kind == "auto" || !strings.Contains(spec, ":") {
		l, _ := dist.Detect(os.Getenv)
		if n, err := DeviceCount("cuda"); err == nil && n > 0 {
			ord := l.LocalRank % n
			if kind == "auto" {
				d, note, err := OpenDevice(fmt.Sprintf("cuda:%d", ord), cfg.TF32)
				if err != nil {
					return CPU, "device auto: cpu (no usable GPU: " + err.Error() + ")", nil
				}
				return d, strings.Replace(note, "device:", "device auto:", 1), nil
			}
			spec = fmt.Sprintf("cuda:%d", ord)
		}
	}
	d, note, err := OpenDevice(spec, cfg.TF32)
	if err == nil && !d.IsCPU() {
		note += fmt.Sprintf(" (rank %d of %d)", comm.Rank(), comm.Size())
	}
	return d, note, err
}

// agreeDevice is a collective after openRankDevice: the ranks of a data-parallel run
// must all train on the same kind of device, so when some found a GPU for --device auto
// and others did not, all use the CPU.
func agreeDevice(comm dist.Comm, d Device, note string) (Device, string, error) {
	if comm.Size() == 1 {
		return d, note, nil
	}
	mine := []float64{0}
	if !d.IsCPU() {
		mine[0] = 1
	}
	all := make([]float64, comm.Size())
	if err := comm.AllgatherF64(mine, all); err != nil {
		return d, note, err
	}
	for q, v := range all {
		if v == 0 && !d.IsCPU() {
			return CPU, fmt.Sprintf("device auto: cpu (data-parallel on %d ranks; rank %d has no usable GPU)", comm.Size(), q), nil
		}
	}
	return d, note, nil
}

// checkMemoryOn is CheckMemory for a run (one rank of ranks) on the CPU; a device engine
// checks its device's memory when it allocates.
func checkMemoryOn(d Device, cfg RunConfig, ranks int) error {
	if !d.IsCPU() {
		return nil
	}
	return checkMemory(cfg, ranks)
}

// ResumeOptions adjusts a resumed run.
type ResumeOptions struct {
	Steps int // a new total step count (0 keeps the configured one)
	// MicroBatch sets a new micro-batch (0 keeps the configured one): gradient accumulation
	// gives the same results up to rounding, with less memory (a run moved to a smaller
	// machine).
	MicroBatch int
	// NaNRollback turns on RunConfig.NaNRollback for the rest of the run.
	NaNRollback bool
	// Device moves the run to another device (--device syntax; "" keeps the configured
	// one): checkpoints are device-independent float32, so a run started on a GPU goes on
	// on the CPU and back.
	Device string
	// TF32, when set, switches TF32 arithmetic on or off for the rest of the run.
	TF32 *bool
	// SampleShare, when set, is the share of wall time periodic grids take from now on
	// (RunConfig.SampleShare; grids never change the training).
	SampleShare *float64
	// DataDir sets where the run's dataset lives ("" keeps the configured one): a run moved
	// to another machine finds its data there. The caller loads the data from it.
	DataDir string
	// Comm is the group of a data-parallel run (nil: one process). Every rank calls
	// ResumeTrainer with the same options; rank 0 alone reads and writes the run
	// directory and hands the checkpoint to the others, which need not see it. The world
	// size may differ from the one the run was started with: the result does not depend
	// on it.
	Comm dist.Comm
}

// ResumeTrainer reopens a run directory at its newest readable checkpoint, so training
// continues exactly where it stopped (same batches, noise and optimiser state). A run with
// no checkpoint yet restarts from step 0 with its saved config.
func ResumeTrainer(runDir string, ds *data.Dataset, opt ResumeOptions) (*Trainer, error) {
	comm := opt.Comm
	if comm == nil {
		comm = dist.Single()
	}
	var (
		dir     *RunDir
		cfg     RunConfig
		changed bool
		ck      *Checkpoint
		skipped []error
	)
	// Rank 0 opens the run, applies the options and loads the newest checkpoint.
	err := func() error {
		if comm.Rank() != 0 {
			return nil
		}
		var err error
		if dir, cfg, err = OpenRunDir(runDir); err != nil {
			return err
		}
		if opt.Steps > 0 && opt.Steps != cfg.Steps {
			cfg.Steps, changed = opt.Steps, true
		}
		if opt.MicroBatch > 0 && opt.MicroBatch != cfg.MicroBatch {
			cfg.MicroBatch, changed = opt.MicroBatch, true
		}
		if comm.Size() > 1 && cfg.MicroBatch == 0 { // one slot per rank (see NewTrainerOn)
			cfg.MicroBatch, changed = (cfg.BatchSize+comm.Size()-1)/comm.Size(), true
		}
		if opt.NaNRollback && !cfg.NaNRollback {
			cfg.NaNRollback, changed = true, true
		}
		if opt.Device != "" && opt.Device != cfg.Device {
			cfg.Device, changed = opt.Device, true
		}
		if opt.TF32 != nil && *opt.TF32 != cfg.TF32 {
			cfg.TF32, changed = *opt.TF32, true
		}
		if opt.DataDir != "" && opt.DataDir != cfg.DataDir {
			cfg.DataDir, changed = opt.DataDir, true
		}
		if opt.SampleShare != nil && *opt.SampleShare != cfg.SampleShare {
			cfg.SampleShare, changed = *opt.SampleShare, true
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("resume %s: %w", runDir, err)
		}
		ck, skipped, err = LoadLatestCheckpoint(runDir)
		if err != nil && len(skipped) == 0 { // no checkpoint at all: start over
			ck, err = nil, nil
		}
		if err != nil {
			return err
		}
		if ck != nil {
			if pc, mc := ck.Params.Config, cfg.Model; pc.InChannels != mc.InChannels || pc.ImageSize != mc.ImageSize ||
				pc.Filters != mc.Filters || pc.Stages != mc.Stages || pc.ExtraBlocks != mc.ExtraBlocks {
				return fmt.Errorf("resume %s: checkpoint %s holds a %+v network but config.json says %+v (was config.json edited?)", runDir, ck.Path, pc, mc)
			}
			if diff := ConfigChanges(ck.State.Config, cfg); len(diff) > 0 {
				return fmt.Errorf("resume %s: config.json differs from the configuration checkpoint %s was trained with in %s, which cannot change during a run (was config.json edited? restore it, or start a new run)",
					runDir, ck.Path, strings.Join(diff, ", "))
			}
		}
		return nil
	}()
	fail := func(err error) (*Trainer, error) { dir.Close(); return nil, err }
	if err := dist.BcastJSON(comm, &cfg, err); err != nil {
		return fail(err)
	}
	// Every rank checks its own data, device and memory.
	var (
		dev     Device
		note    string
		batcher *data.Batcher
	)
	err = checkData(cfg, ds)
	if err == nil {
		dev, note, err = openRankDevice(comm, cfg)
	}
	if err == nil {
		err = checkMemoryOn(dev, cfg, comm.Size())
	}
	if err == nil {
		batcher, err = data.NewBatcher(ds, cfg.BatchSize, cfg.Seed, 2)
	}
	if err := dist.Agree(comm, err); err != nil {
		return fail(err)
	}
	if dev, note, err = agreeDevice(comm, dev, note); err != nil {
		return fail(err)
	}
	if ck, err = shareCheckpoint(comm, ck, nil, cfg.Model); err != nil {
		return fail(err)
	}
	var t *Trainer
	if ck == nil {
		params := nn.InitParams[float32](cfg.Model, rand.New(rand.NewPCG(cfg.Seed, 1)))
		t, err = newTrainer(comm, cfg, dev, dir, runDir, ds, params, NewAdam(cfg.Model, cfg.Beta1, cfg.Beta2), batcher, rand.NewPCG(cfg.Seed, 3))
		if err := dist.Agree(comm, err); err != nil {
			return fail(err)
		}
	} else {
		noise := new(rand.PCG)
		err := batcher.Restore(ck.State.Batcher)
		if err != nil {
			err = fmt.Errorf("resume %s: %w", runDir, err)
		} else if err = noise.UnmarshalBinary(ck.State.NoiseRNG); err != nil {
			err = fmt.Errorf("resume %s: noise generator state: %w", runDir, err)
		}
		if err == nil {
			t, err = newTrainer(comm, cfg, dev, dir, runDir, ds, ck.Params, ck.Adam, batcher, noise)
		}
		if err := dist.Agree(comm, err); err != nil {
			if t != nil {
				t.engine.Close()
			}
			return fail(err)
		}
		t.step = ck.State.Step
		t.elapsed = time.Duration(ck.State.Elapsed * float64(time.Second))
		t.snapStep = t.step
		if ck.State.LRScale > 0 {
			t.lrScale = ck.State.LRScale
		}
		t.rollbacks = ck.State.Rollbacks
		t.savedStep = t.step
		t.initEMA(ck.EMA)
		t.drawPending = ck.State.SamplePending > 0
		if t.writer() {
			for _, e := range skipped {
				t.emit(LogEvent{At: time.Now(), Level: "warn", Msg: "skipped damaged checkpoint: " + e.Error()})
			}
			if len(skipped) > 0 {
				setAsideDamaged(runDir, t.step)
			}
		}
		msg := fmt.Sprintf("resumed from %s at step %d", ck.Path, t.step)
		if w := ck.State.WorldSize; max(w, 1) != comm.Size() {
			msg += fmt.Sprintf(" (saved by %d ranks, now %d)", max(w, 1), comm.Size())
		}
		t.emit(LogEvent{At: time.Now(), Level: "info", Msg: msg})
	}
	t.emit(LogEvent{At: time.Now(), Level: "info", Msg: note})
	fail = func(err error) (*Trainer, error) { t.engine.Close(); dir.Close(); return nil, err }
	// Rank 0 rewrites config.json and metrics.jsonl; the others learn whether it could.
	// Nothing is written before every write can be: config.json must be replaceable, and
	// metrics go first, so a resume that fails leaves config.json as it was.
	err = nil
	if t.writer() {
		if changed {
			err = safefile.CheckNew(filepath.Join(runDir, "config.json"), true)
		}
		if err == nil {
			damaged, terr := dir.TruncateMetrics(t.step)
			err = terr
			if damaged > 0 {
				t.emit(LogEvent{At: time.Now(), Level: "warn", Msg: fmt.Sprintf("dropped %d damaged lines of %s", damaged, filepath.Join(runDir, "metrics.jsonl"))})
			}
		}
		if err == nil && changed {
			if werr := writeJSONAtomic(filepath.Join(runDir, "config.json"), t.cfg); werr != nil {
				err = storageError(werr, runDir)
			}
		}
	}
	if err := dist.Agree(comm, err); err != nil {
		return fail(err)
	}
	t.warnDiskSpace()
	t.warnSlots()
	return t, nil
}

// writer reports whether this process writes the run directory (rank 0).
func (t *Trainer) writer() bool { return t.comm.Rank() == 0 }

// warnSlots warns when the ranks of a distributed run get unequal work: the batch makes
// batch/micro-batch slots, shared in turn by the ranks.
func (t *Trainer) warnSlots() {
	w := t.comm.Size()
	if w == 1 {
		return
	}
	slots := (t.cfg.BatchSize + t.cfg.microBatch() - 1) / t.cfg.microBatch()
	if slots%w != 0 {
		t.emit(LogEvent{At: time.Now(), Level: "warn", Msg: fmt.Sprintf("batch %d in micro-batches of %d makes %d slots for %d ranks: some ranks wait each step; --micro-batch %d gives each rank one slot (results then equal the single process at that micro-batch)",
			t.cfg.BatchSize, t.cfg.microBatch(), slots, w, (t.cfg.BatchSize+w-1)/w)})
	}
}

// warnDiskSpace warns when the run directory's file system has room for fewer than two
// more checkpoints.
func (t *Trainer) warnDiskSpace() {
	if !t.writer() {
		return
	}
	var fs syscall.Statfs_t
	if syscall.Statfs(t.dir.Path, &fs) != nil {
		return
	}
	free := int64(fs.Bavail) * int64(fs.Bsize)
	if msg := diskSpaceWarning(free, int64(3*t.params.Count()*4)+64<<10, t.dir.Path); msg != "" {
		t.emit(LogEvent{At: time.Now(), Level: "warn", Msg: msg})
	}
}

// diskSpaceWarning is the warning for free bytes left where checkpoints of ckpt bytes go,
// or "" when two more fit.
func diskSpaceWarning(free, ckpt int64, dir string) string {
	if free >= 2*ckpt {
		return ""
	}
	return fmt.Sprintf("only %s free in %s, a checkpoint takes %s: free disk space before the next checkpoint", humanBytes(free), dir, humanBytes(ckpt))
}

func newTrainer(comm dist.Comm, cfg RunConfig, dev Device, dir *RunDir, path string, ds *data.Dataset, p *nn.Params[float32], adam *Adam, b *data.Batcher, noise *rand.PCG) (*Trainer, error) {
	sig, _ := NoiseLevels(cfg)
	eng, err := dev.NewTrainEngine(cfg, p, adam)
	if err != nil {
		err = fmt.Errorf("device %s: %w", dev.Name, err)
	}
	var se SlotEngine
	if comm.Size() > 1 {
		// Joining the ranks is a collective: every rank must have its engine first.
		if err := dist.Agree(comm, err); err != nil {
			if eng != nil {
				eng.Close()
			}
			return nil, err
		}
		var ok bool
		if se, ok = eng.(SlotEngine); !ok {
			err = fmt.Errorf("device %s: data-parallel training needs an engine that computes micro-batch slots alone", dev.Name)
		} else {
			l, lerr := dist.Detect(os.Getenv)
			if lerr != nil {
				l = dist.Launch{Launcher: dist.LaunchSingle, Rank: comm.Rank(), Size: comm.Size()}
			}
			if err = se.JoinRanks(comm, l); err != nil {
				err = fmt.Errorf("device %s: join the %d ranks: %w", dev.Name, comm.Size(), err)
			}
		}
	}
	if err != nil {
		if eng != nil {
			eng.Close()
		}
		return nil, err
	}
	t := &Trainer{cfg: cfg, dir: dir, path: path, comm: comm, ds: ds, params: p, adam: adam, engine: eng, device: dev, batcher: b,
		noise: noise, rng: rand.New(noise), sigmas: sig, perm: make([]float64, len(sig)), order: make([]int, len(sig)), binK: sigmaBinCount(cfg),
		batch: make([]float32, cfg.BatchSize*ds.Dim()), noiseB: make([]float32, cfg.BatchSize*ds.Dim()),
		events: make(chan Event, 4096), done: make(chan struct{}), snap: p.Clone(), lrScale: 1, savedStep: -1}
	if se != nil {
		t.dp = newDataParallel(comm, se)
	}
	t.cond = sync.NewCond(&t.mu)
	return t, nil
}

// Device is the device the trainer's engine runs on.
func (t *Trainer) Device() Device { return t.device }

// Config is the run's configuration (its Steps changes with SetSteps).
func (t *Trainer) Config() RunConfig {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cfg
}

// total is the run's total step count.
func (t *Trainer) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cfg.Steps
}

// RunDir is the path of the run directory.
func (t *Trainer) RunDir() string { return t.path }

// Comm is the group of processes training this run (one, unless it is data-parallel).
func (t *Trainer) Comm() dist.Comm { return t.comm }

// Events is the event stream. It is buffered; when a reader falls far behind, step events
// are dropped rather than slowing training (metrics.jsonl keeps every logged step).
func (t *Trainer) Events() <-chan Event { return t.events }

// Snapshot returns a private copy of the weights after the last completed step, and that
// step: the only way for other goroutines to read weights. They are the weights sampling
// uses: the moving average when the run keeps one (RunConfig.EMA). On a device engine the copy is
// refreshed after the step following a call (weights cross to the host only at the rate
// they are read), so a reader polling at its preview rate sees weights one poll old at
// most; checkpoints, periodic samples and the end of training refresh it too.
func (t *Trainer) Snapshot() (*nn.Params[float32], int) {
	t.snapWanted.Store(true)
	t.snapMu.RLock()
	defer t.snapMu.RUnlock()
	return t.snap.Clone(), t.snapStep
}

// State is the current state.
func (t *Trainer) State() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state
}

// Step is the number of completed steps.
func (t *Trainer) Step() int {
	t.snapMu.RLock()
	defer t.snapMu.RUnlock()
	return t.snapStep
}

// Err is the error that ended training, once Done is closed.
func (t *Trainer) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Done is closed when the training goroutine has exited.
func (t *Trainer) Done() <-chan struct{} { return t.done }

// Start launches the training goroutine. It is a no-op after the first call.
func (t *Trainer) Start() {
	t.mu.Lock()
	if t.started {
		t.mu.Unlock()
		return
	}
	t.started = true
	t.state = Running
	t.mu.Unlock()
	t.emit(StateEvent{At: time.Now(), State: Running})
	if t.writer() && t.dir != nil {
		t.ctl = startController(t)
	}
	go t.run()
}

// refreshSnapshot copies the weights sampling uses into the snapshot: the engine's, or
// their moving average when the run keeps one (training goroutine only).
func (t *Trainer) refreshSnapshot() error {
	t.snapWanted.Store(false)
	t.snapMu.Lock()
	defer t.snapMu.Unlock()
	if t.ema != nil {
		t.snap.CopyFrom(t.ema)
	} else if err := t.engine.ReadParams(t.snap); err != nil {
		return fmt.Errorf("copy the weights from %s: %w", t.device.Name, err)
	}
	t.snapStep = t.step
	return nil
}

// initEMA starts the moving average of the weights when the run keeps one: from saved (a
// checkpoint's average) when given, else from the current weights (a fresh run, or a run
// resumed from a checkpoint written before the average was kept). It makes the snapshot
// the average.
func (t *Trainer) initEMA(saved *nn.Params[float32]) {
	t.ema = nil
	if t.cfg.EMA <= 0 || !t.writer() {
		return
	}
	if saved != nil {
		t.ema = saved.Clone()
	} else {
		t.ema = t.params.Clone()
	}
	t.snapMu.Lock()
	t.snap.CopyFrom(t.ema)
	t.snapMu.Unlock()
}

// updateEMA moves the average toward the weights after step t.step by 1 - d, with
// d = min(EMA, (1+t)/(10+t)): the lower decay of the first steps lets the average forget
// the random initial weights in a short run (the warm-up of TensorFlow's
// ExponentialMovingAverage with num_updates).
func (t *Trainer) updateEMA() error {
	if !t.engine.HostResident() {
		if err := t.engine.ReadParams(t.params); err != nil {
			return fmt.Errorf("step %d: copy the weights from %s for their average: %w", t.step, t.device.Name, err)
		}
	}
	d := min(t.cfg.EMA, float64(1+t.step)/float64(10+t.step))
	c := float32(1 - d)
	w, a := t.params.Flat(), t.ema.Flat()
	for i := range a {
		a[i] += c * (w[i] - a[i])
	}
	return nil
}

// Pause stops stepping after the current step. The Paused state (and its event) comes when
// that step has finished, so a reader that sees Paused sees no further step until Resume.
func (t *Trainer) Pause() {
	t.mu.Lock()
	if t.state == Running && !t.paused {
		t.pauseReq = true
		t.cond.Broadcast()
	}
	t.mu.Unlock()
}

// Resume continues a paused trainer (or cancels a pause that has not taken effect yet).
func (t *Trainer) Resume() {
	t.mu.Lock()
	t.pauseReq = false
	if !t.paused {
		t.mu.Unlock()
		return
	}
	t.paused = false
	resumed := t.state == Paused
	if resumed {
		t.state = Running
	}
	t.cond.Broadcast()
	t.mu.Unlock()
	if resumed {
		t.emit(StateEvent{At: time.Now(), State: Running})
	}
}

// SetSteps changes the run's total step count after the current step (a running run
// extended, or ended sooner): n must be above the steps done. The new total is written to
// config.json, and the learning-rate schedule follows it from there on, as a resume with
// --steps would. A distributed run applies it on every rank at the same step.
func (t *Trainer) SetSteps(n int) error {
	cfg := t.Config()
	cfg.Steps = n
	if err := cfg.Validate(); err != nil {
		return err
	}
	done := t.Step()
	t.mu.Lock()
	defer t.mu.Unlock()
	if n <= done {
		return fmt.Errorf("steps %d: the run has done %d steps already; a new total must be above that", n, done)
	}
	if t.state.Ended() || t.state == Stopping {
		return fmt.Errorf("steps %d: the run has %s; resume it with --steps %d", n, t.state, n)
	}
	t.stepsReq = n
	t.cond.Broadcast()
	return nil
}

// applySteps makes n the total (every rank at the same step; rank 0 writes config.json).
func (t *Trainer) applySteps(n int) {
	if n <= t.step {
		t.emit(LogEvent{At: time.Now(), Level: "warn", Msg: fmt.Sprintf("a total of %d steps asked for, but %d are done: unchanged", n, t.step)})
		return
	}
	cfg := t.cfg
	cfg.Steps = n
	var err error
	if t.writer() {
		if werr := writeJSONAtomic(filepath.Join(t.path, "config.json"), cfg); werr != nil {
			err = storageError(werr, t.path)
		}
	}
	if t.dp != nil {
		err = dist.Agree(t.comm, err)
	}
	if err != nil {
		t.emit(LogEvent{At: time.Now(), Level: "error", Msg: fmt.Sprintf("total steps stay %d: %v", t.cfg.Steps, err)})
		return
	}
	t.mu.Lock()
	old := t.cfg.Steps
	t.cfg.Steps = n
	st := t.state
	t.mu.Unlock()
	t.emit(LogEvent{At: time.Now(), Level: "info", Msg: fmt.Sprintf("total steps %d -> %d (config.json updated)", old, n)})
	t.emit(StateEvent{At: time.Now(), State: st, Total: n})
}

// CheckpointNow asks for a checkpoint after the current step.
func (t *Trainer) CheckpointNow() {
	t.mu.Lock()
	t.ckptReq = true
	t.cond.Broadcast()
	t.mu.Unlock()
}

// Stop finishes the current step, writes a checkpoint and waits for the goroutine to exit.
// It returns the error that ended training, if any. Stop on a trainer never started
// releases the run directory, ends the event stream (a DoneEvent, then close) and makes a
// later Start a no-op. Stop is safe to call from any goroutine, more than once.
func (t *Trainer) Stop() error {
	t.mu.Lock()
	if !t.started {
		t.started = true
		t.state = Stopped
		t.mu.Unlock()
		t.engine.Close()
		t.dir.Close()
		t.emit(DoneEvent{At: time.Now(), Step: t.step})
		t.closeEvents()
		close(t.done)
		return nil
	}
	t.mu.Unlock()
	t.requestStop()
	<-t.done
	return t.Err()
}

// requestStop asks a started trainer to stop after the current step, with a checkpoint,
// without waiting for it (Stop waits).
func (t *Trainer) requestStop() {
	t.mu.Lock()
	t.stopReq = true
	if t.state == Running || t.state == Paused {
		t.state = Stopping
	}
	t.cond.Broadcast()
	t.mu.Unlock()
}

// emit sends an event without blocking training for long. It is called from the training
// goroutine, the sampler and the control methods (Pause, Resume); after the stream is
// closed it drops the event.
func (t *Trainer) emit(e Event) {
	t.evMu.RLock()
	defer t.evMu.RUnlock()
	if t.evClosed {
		return
	}
	select {
	case t.events <- e:
	default:
		// A full buffer means nobody reads; step events can be lost, others we keep trying
		// briefly so that the reader sees checkpoints and the end.
		if _, isStep := e.(StepEvent); isStep {
			t.dropped.Add(1)
			return
		}
		select {
		case t.events <- e:
		case <-time.After(100 * time.Millisecond):
			t.dropped.Add(1)
		}
	}
}

// closeEvents ends the event stream once every emit in flight is done.
func (t *Trainer) closeEvents() {
	t.evMu.Lock()
	defer t.evMu.Unlock()
	if !t.evClosed {
		t.evClosed = true
		close(t.events)
	}
}

func (t *Trainer) run() {
	defer close(t.done)
	if t.drawPending && t.writer() && t.Sampler != nil && t.cfg.SampleEvery > 0 {
		t.emit(LogEvent{At: time.Now(), Level: "info", Msg: fmt.Sprintf("drawing the sample grid the last session did not finish, from the weights of step %d", t.step)})
		t.startGrid()
	}
	var runErr error
	stoppedEarly := false
	commFailed := false // a collective failed: no more collectives (the launcher ends the job)
	announced := false  // the pause in force was agreed by the ranks
	for {
		t.mu.Lock()
		if t.pauseReq && !t.stopReq {
			t.pauseReq, t.paused = false, true
			t.state = Paused
			t.mu.Unlock()
			t.emit(StateEvent{At: time.Now(), State: Paused})
			t.mu.Lock()
		}
		// A pause waits here, once the ranks know of it (announced: after one agreement),
		// for what can end or interrupt it: a resume, a stop, a checkpoint or a new total
		// (the last two are done without a step).
		for t.paused && announced && !t.stopReq && !t.ckptReq && t.stepsReq == 0 {
			if t.grid != nil {
				// A paused run lends its cores to the grid being drawn, a slice at a time
				// (not counted against sample_share: training is not waiting).
				t.mu.Unlock()
				if done, err := t.grid.job.Step(context.Background()); err != nil || done {
					t.endGrid(err)
				}
				t.mu.Lock()
				continue
			}
			t.cond.Wait()
		}
		f := controlFlags{stop: t.stopReq, checkpoint: t.ckptReq, pause: t.paused, steps: t.stepsReq}
		t.ckptReq, t.stepsReq = false, 0
		t.mu.Unlock()
		if t.dp != nil { // the ranks act together: any rank's request is everyone's
			f.failed = t.pendingErr != nil
			var err error
			if f, err = agreeFlags(t.comm, f); err != nil {
				runErr, commFailed = fmt.Errorf("step %d: %w", t.step+1, err), true
				break
			}
			if f.failed {
				runErr = t.pendingErr
				if runErr == nil {
					runErr = fmt.Errorf("%w: rank 0 could not write the run directory", &dist.PeerError{Ranks: []int{0}})
				}
				break
			}
			t.followPause(f.pause)
		}
		announced = f.pause
		stop, ck := f.stop, f.checkpoint
		if f.steps > 0 {
			t.applySteps(f.steps)
		}
		if ck {
			t.checkpointKept()
		}
		if stop || t.step >= t.cfg.Steps || (t.StopAtStep > 0 && t.step >= t.StopAtStep) {
			stoppedEarly = stop && t.step < t.cfg.Steps
			break
		}
		if f.pause {
			continue // woken for a checkpoint or a new total: no step while paused
		}
		if err := t.trainStep(); err != nil {
			commFailed = errors.Is(err, errCollective)
			if errors.Is(err, ErrNonFinite) && t.cfg.NaNRollback {
				if err = t.rollback(err); err == nil {
					continue
				}
			}
			runErr = err
			break
		}
	}
	// The grid being drawn is finished unless the run failed or was told to stop: a stop
	// (also during the last grid) records it in the final checkpoint, and the resumed run
	// draws it (decision 21).
	if runErr == nil {
		t.finishGrid()
	}
	if t.grid != nil {
		if runErr == nil {
			t.interrupted = t.grid.step
		}
		t.grid.job.Close()
		t.grid = nil
	}
	if t.snapStep != t.step {
		if err := t.refreshSnapshot(); err != nil && runErr == nil {
			runErr = err
		}
	}
	if t.pending != nil && t.lastLogged < t.step && runErr == nil {
		// a grid scored after the last logged step: its score goes on a last line
		if err := t.logMetrics(time.Now()); err != nil {
			runErr = err
		}
	}
	if t.dp != nil && !commFailed { // whether the final checkpoint (a collective) is written
		if err := dist.Agree(t.comm, runErr); err != nil && runErr == nil {
			runErr = err
		}
	}
	final := Stopped
	if t.step >= t.cfg.Steps {
		final = Finished
	}
	interrupted := t.interrupted
	if interrupted > 0 && runErr == nil {
		t.emit(LogEvent{At: time.Now(), Level: "info", Msg: fmt.Sprintf("the sample grid of step %d was interrupted by the stop: the run draws one when it resumes", interrupted)})
	}
	if runErr != nil {
		final = Failed
		t.emit(LogEvent{At: time.Now(), Level: "error", Msg: runErr.Error() + "; the last good checkpoint is kept"})
	} else {
		// A run resumed at its last step and stopped again has nothing new to save, unless
		// its checkpoint's note of an interrupted grid must be cleared (or kept). Rank 0
		// alone knows what it saved and drew; its answer is every rank's, for the
		// checkpoint is a collective.
		need := t.step != t.savedStep || interrupted > 0 || t.drawPending
		err := dist.BcastJSON(t.comm, &need, nil)
		if err == nil && need {
			_, err = t.checkpoint(false)
		}
		if err != nil {
			runErr = err
			final = Failed
		}
	}
	// Release the engine and the run directory before the end is announced: a reader that
	// sees it may resume the run at once. The control channel ends first, with the final
	// state, so that nothing is written after the release.
	t.ctl.stop(final)
	t.engine.Close()
	t.dir.Close()
	t.mu.Lock()
	t.state, t.err = final, runErr
	t.mu.Unlock()
	t.emit(StateEvent{At: time.Now(), State: final})
	t.emit(DoneEvent{At: time.Now(), Step: t.step, Err: runErr, Stopped: stoppedEarly})
	t.closeEvents()
}

// followPause applies the agreed pause of a distributed run to a rank that did not ask for
// it: its state says Paused while rank 0 is paused (it waits in the next agreement).
func (t *Trainer) followPause(paused bool) {
	t.mu.Lock()
	changed := false
	switch {
	case paused && t.state == Running:
		t.state, changed = Paused, true
	case !paused && t.state == Paused && !t.paused:
		t.state, changed = Running, true
	}
	st := t.state
	t.mu.Unlock()
	if changed {
		t.emit(StateEvent{At: time.Now(), State: st})
	}
}

// trainStep does one optimisation step and publishes its results.
func (t *Trainer) trainStep() error {
	start := time.Now()
	cfg := t.cfg
	t.batcher.Next(t.batch)
	if t.beforeStep != nil {
		t.beforeStep(t.step+1, t.batch)
	}
	// One sigma per batch index, the fixed set shuffled over the batch each step; then
	// the noise of the whole batch.
	// The levels' indices are shuffled (the same draws as shuffling the levels) so that
	// each image's level is known for the loss per noise level.
	for i := range t.order {
		t.order[i] = i
	}
	t.rng.Shuffle(len(t.order), func(i, j int) { t.order[i], t.order[j] = t.order[j], t.order[i] })
	for i, o := range t.order {
		t.perm[i] = t.sigmas[o]
	}
	DrawNoise(t.rng, t.noiseB)
	var loss float64
	var err error
	if t.dp != nil { // each rank its slots, the gradients added in slot order (dataParallel)
		loss, err = t.dp.lossGrad(t.batch, t.noiseB, cfg.BatchSize, t.perm)
		if err == nil {
			if lerr := t.dp.eng.CheckLoss(loss); lerr != nil {
				err = nonFinite{fmt.Errorf("non-finite loss: %w", lerr)}
			}
		}
	} else {
		loss, err = t.engine.LossGrad(t.batch, t.noiseB, cfg.BatchSize, t.perm)
	}
	if err != nil {
		return fmt.Errorf("step %d: %w", t.step+1, err)
	}
	t.sigmaLoss = t.binStepLosses()
	lr := LearningRate(cfg, t.step) * t.lrScale
	if err := t.engine.Step(lr); err != nil {
		return fmt.Errorf("step %d: %w", t.step+1, err)
	}
	t.step++
	if t.ema != nil {
		if err := t.updateEMA(); err != nil {
			return err
		}
	}
	// The step's time includes the grid slices run since the last step, so that the rate
	// and the ETA are those of the wall clock.
	trainDur := time.Since(start)
	dt := trainDur + t.gridTime
	t.gridTime = 0
	t.elapsed += dt
	ips := float64(cfg.BatchSize) / dt.Seconds()
	if t.rate == 0 {
		t.rate = ips
	} else {
		t.rate = 0.9*t.rate + 0.1*ips
	}
	if t.engine.HostResident() || t.snapWanted.Load() {
		if err := t.refreshSnapshot(); err != nil {
			return err
		}
	}

	var rankRates []float64
	if t.dp != nil { // smoothed like the overall rate
		now := t.dp.rankRates(cfg.BatchSize, cfg.microBatch())
		if t.rankRate == nil {
			t.rankRate = now
		}
		for q, v := range now {
			t.rankRate[q] = 0.9*t.rankRate[q] + 0.1*v
		}
		rankRates = append([]float64(nil), t.rankRate...)
	}

	eta := ETA(cfg.Steps, t.step, cfg.BatchSize, t.rate)
	ev := StepEvent{At: time.Now(), Step: t.step, Total: cfg.Steps, Loss: loss, NormLoss: NormalisedLoss(loss, cfg.Sigma0),
		LR: lr, ImagesPerSec: t.rate, Elapsed: t.elapsed, ETA: eta, WorldSize: t.comm.Size(), RankImagesPerSec: rankRates,
		SigmaLoss: append([]float64(nil), t.sigmaLoss...)}
	t.emit(ev)
	t.lastLoss, t.lastLR, t.lastRankRates = loss, lr, rankRates
	// Rank 0 writes; in a distributed run an error of its writing stops every rank at the
	// next agreement (run), not here, where the others would wait for it forever.
	fail := func(err error) error {
		if t.dp == nil {
			return err
		}
		if t.pendingErr == nil {
			t.pendingErr = err
		}
		return nil
	}
	if t.writer() && (t.step%cfg.LogEvery == 0 || t.step == cfg.Steps) {
		if err := t.logMetrics(ev.At); err != nil {
			return fail(err)
		}
	}
	if t.step%cfg.CheckpointEvery == 0 && t.step < cfg.Steps {
		if _, err := t.checkpoint(false); err != nil {
			return fail(err)
		}
	}
	if t.writer() && t.Sampler != nil && cfg.SampleEvery > 0 && t.step%cfg.SampleEvery == 0 {
		t.startGrid()
	}
	t.gridTime = t.advanceGrid(trainDur)
	return nil
}

// binStepLosses is the loss per noise-level bin of the step just computed: the images'
// loss terms (gathered from the ranks in a distributed run, so that it equals the single
// process's) averaged per bin; nil when the engine does not report them.
func (t *Trainer) binStepLosses() []float64 {
	if t.binK == 0 {
		return nil
	}
	var img []float64
	if t.dp != nil {
		img = t.dp.imgLoss
	} else if r, ok := t.engine.(ImageLossReporter); ok {
		img = r.ImageLosses()
	}
	return binLosses(img, t.order, t.binK, t.sigmaLoss)
}

// ETA is the time left to step total from step at imagesPerSec images per second and
// batch images per step (0 when the rate is unknown).
func ETA(total, step, batch int, imagesPerSec float64) time.Duration {
	if !(imagesPerSec > 0) || step >= total {
		return 0
	}
	return time.Duration(float64(total-step) * float64(batch) / imagesPerSec * float64(time.Second))
}

// logMetrics appends the metrics.jsonl line of the current step, carrying the score of
// the last periodic grid if one has arrived since the previous line.
func (t *Trainer) logMetrics(at time.Time) error {
	sc := t.pending
	t.pending = nil
	rec := MetricRecord{Step: t.step, Loss: t.lastLoss, NormLoss: NormalisedLoss(t.lastLoss, t.cfg.Sigma0),
		LR: t.lastLR, ImagesPerSec: t.rate, Elapsed: t.elapsed.Seconds(),
		Time: at.UTC().Format(time.RFC3339Nano), Score: sc, SigmaLoss: t.sigmaLoss}
	if t.dp != nil {
		rec.WorldSize, rec.RankImagesPerSec = t.comm.Size(), t.lastRankRates
	}
	if err := t.dir.AppendMetrics(rec); err != nil {
		return fmt.Errorf("step %d: %w", t.step, err)
	}
	t.lastLogged = t.step
	return nil
}

// checkpoint writes a checkpoint of the current state; kept ones (asked for by the user)
// are left out of the keep-N rotation. In a distributed run it is a collective (every rank
// calls it at the same step): the ranks first check that their weights agree, then rank 0
// writes.
func (t *Trainer) checkpoint(kept bool) (string, error) {
	if err := t.engine.ReadParams(t.params); err != nil {
		return "", fmt.Errorf("checkpoint at step %d: copy the weights from %s: %w", t.step, t.device.Name, err)
	}
	if err := t.engine.ReadAdam(t.adam); err != nil {
		return "", fmt.Errorf("checkpoint at step %d: copy the optimiser state from %s: %w", t.step, t.device.Name, err)
	}
	if t.dp != nil {
		if err := checkSameWeights(t.comm, t.params, t.step); err != nil {
			t.emit(CheckpointEvent{At: time.Now(), Step: t.step, Err: err})
			return "", err
		}
	}
	if !t.writer() {
		return "", nil
	}
	rng, _ := t.noise.MarshalBinary()
	st := TrainState{Step: t.step, Config: t.cfg, NoiseRNG: rng, Batcher: t.batcher.State(), Elapsed: t.elapsed.Seconds(),
		Rollbacks: t.rollbacks, Device: t.device.Name, Kept: kept, SamplePending: t.interrupted, WorldSize: t.comm.Size()}
	if t.lrScale != 1 {
		st.LRScale = t.lrScale
	}
	path, err := t.dir.SaveCheckpoint(st, t.params, t.adam, t.ema, t.cfg.KeepCheckpoints)
	if err != nil {
		err = storageError(fmt.Errorf("checkpoint at step %d failed: %w", t.step, err), t.dir.Path)
	} else {
		t.savedStep = t.step
	}
	t.emit(CheckpointEvent{At: time.Now(), Step: t.step, Path: path, Kept: kept, Err: err})
	return path, err
}

// checkpointKept answers CheckpointNow: a checkpoint of this step that the rotation keeps.
// When this step was just checkpointed (the periodic one, or a second request), that
// checkpoint is marked kept instead of written again.
func (t *Trainer) checkpointKept() {
	// Rank 0 alone knows what it saved; its answer is every rank's, for a new checkpoint
	// is a collective.
	fresh := t.savedStep != t.step
	if err := dist.BcastJSON(t.comm, &fresh, nil); err != nil {
		t.emit(CheckpointEvent{At: time.Now(), Step: t.step, Kept: true, Err: err})
		return
	}
	if fresh {
		t.checkpoint(true)
		return
	}
	if !t.writer() {
		return
	}
	path, err := t.dir.KeepCheckpoint(t.step)
	if err != nil {
		err = storageError(fmt.Errorf("keep the checkpoint of step %d: %w", t.step, err), t.dir.Path)
	}
	t.emit(CheckpointEvent{At: time.Now(), Step: t.step, Path: path, Kept: true, Err: err})
}

// gridRun is a periodic sample grid in progress and the time accounts that bound its share.
type gridRun struct {
	job   SampleJob
	step  int           // the training step of its weights
	train time.Duration // training time since it began
	spent time.Duration // time spent drawing it
}

// startGrid starts a sample grid from the weights after this step, unless one is still
// being drawn.
func (t *Trainer) startGrid() {
	if t.grid != nil {
		return
	}
	if t.snapStep != t.step {
		if err := t.refreshSnapshot(); err != nil {
			t.emit(SampleEvent{At: time.Now(), Step: t.step, Err: err})
			return
		}
	}
	p, step := t.Snapshot()
	job, err := t.Sampler(p, step, t.dir.Path)
	if err != nil {
		t.emit(SampleEvent{At: time.Now(), Step: step, Err: err})
		return
	}
	t.grid = &gridRun{job: job, step: step}
}

// advanceGrid gives the grid in progress its share of the time after a training step of
// length dt: it runs slices while the grid has had less than share/(1-share) of the training
// time since it began, so that it takes at most that share of the wall time. It returns the
// time the slices took.
func (t *Trainer) advanceGrid(dt time.Duration) time.Duration {
	g := t.grid
	if g == nil {
		return 0
	}
	g.train += dt
	share := t.cfg.sampleShare()
	budget := time.Duration(float64(g.train) * share / (1 - share))
	start := time.Now()
	for g.spent < budget {
		s := time.Now()
		done, err := g.job.Step(context.Background())
		g.spent += time.Since(s)
		if err != nil || done {
			t.endGrid(err)
			break
		}
	}
	return time.Since(start)
}

// finishGrid completes the grid in progress at full speed when training ends without a
// stop request (its last step, or StopAtStep), so that the last grid started is not lost;
// a stop request, also one made while it runs, leaves it unfinished (the caller records it).
func (t *Trainer) finishGrid() {
	for t.grid != nil {
		t.mu.Lock()
		stop := t.stopReq
		t.mu.Unlock()
		if stop {
			return
		}
		done, err := t.grid.job.Step(context.Background())
		if err != nil || done {
			t.endGrid(err)
		}
	}
}

// endGrid writes and scores the finished grid (unless it failed) and reports it.
func (t *Trainer) endGrid(err error) {
	g := t.grid
	t.grid = nil
	defer g.job.Close()
	var res SampleResult
	if err == nil {
		res, err = g.job.Finish()
	}
	if res.ScoreErr != nil {
		t.emit(LogEvent{At: time.Now(), Level: "warn", Msg: fmt.Sprintf("sample grid at step %d not scored: %v", g.step, res.ScoreErr)})
	}
	if res.Score != nil {
		t.pending = res.Score
	}
	t.emit(SampleEvent{At: time.Now(), Step: g.step, Path: res.Path, Score: res.Score, Err: err})
}

// ErrNonFinite marks a training step stopped by a NaN or an infinity in the loss, the
// gradients or the weights.
var ErrNonFinite = errors.New("non-finite values in training")

type nonFinite struct{ error }

func (e nonFinite) Is(target error) bool { return target == ErrNonFinite }
func (e nonFinite) Unwrap() error        { return e.error }

// MaxNaNRollbacks is how often a run with NaNRollback rolls back before it fails.
const MaxNaNRollbacks = 3

// rollback answers a non-finite step (cause) of a run with NaNRollback: it restores weights
// and optimiser from the newest good checkpoint, halves the learning rate for the rest of
// the run and writes a checkpoint at once so the halving survives a crash. The data and
// noise streams go on (the batch that diverged is not replayed). After MaxNaNRollbacks it
// gives up and returns the failure.
func (t *Trainer) rollback(cause error) error {
	if t.rollbacks >= MaxNaNRollbacks {
		return fmt.Errorf("%w; gave up after %d rollbacks, each halving the learning rate (lower --lr, raise --sigma-min or check the data)", cause, t.rollbacks)
	}
	var ck *Checkpoint
	var err error
	if t.writer() {
		ck, _, err = LoadLatestCheckpoint(t.path)
	}
	if ck, err = shareCheckpoint(t.comm, ck, err, t.cfg.Model); err != nil || ck == nil {
		return fmt.Errorf("%w; no checkpoint to roll back to: %v", cause, err)
	}
	if pc, mc := ck.Params.Config, t.cfg.Model; pc.InChannels != mc.InChannels || pc.ImageSize != mc.ImageSize ||
		pc.Filters != mc.Filters || pc.Stages != mc.Stages || pc.ExtraBlocks != mc.ExtraBlocks {
		return fmt.Errorf("%w; cannot roll back: checkpoint %s is for another network", cause, ck.Path)
	}
	if t.writer() {
		setAsideDamaged(t.path, ck.State.Step)
	}
	t.params.CopyFrom(ck.Params)
	t.adam.M.CopyFrom(ck.Adam.M)
	t.adam.V.CopyFrom(ck.Adam.V)
	t.adam.T = ck.Adam.T
	if err := t.engine.Load(t.params, t.adam); err != nil {
		return fmt.Errorf("%w; cannot roll back: load the checkpoint onto %s: %v", cause, t.device.Name, err)
	}
	t.step = ck.State.Step
	t.rollbacks++
	t.lrScale /= 2
	t.snapMu.Lock()
	t.snap.CopyFrom(t.params)
	t.snapStep = t.step
	t.snapMu.Unlock()
	t.initEMA(ck.EMA)
	t.emit(LogEvent{At: time.Now(), Level: "warn", Msg: fmt.Sprintf("%v; rolled back to the checkpoint at step %d with the learning rate halved (now %g x the schedule; rollback %d of %d)",
		cause, t.step, t.lrScale, t.rollbacks, MaxNaNRollbacks)})
	var terr error
	if t.writer() {
		_, terr = t.dir.TruncateMetrics(t.step)
	}
	if err := dist.Agree(t.comm, terr); err != nil {
		return err
	}
	if _, err := t.checkpoint(false); err != nil {
		return err
	}
	return nil
}
