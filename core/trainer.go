package core

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"mdsm/data"
	"mdsm/nn"
)

// SampleFunc draws a sample grid from a weight snapshot and returns the file it wrote. The
// trainer calls it every SampleEvery steps on its own goroutine, so training goes on.
type SampleFunc func(ctx context.Context, p *nn.Params[float32], step int, dir string) (string, error)

// Trainer runs MDSM training on a background goroutine. Control it with Start, Pause,
// Resume, Stop and CheckpointNow; read what happens from Events; read weights only through
// Snapshot (the live parameters are written by the optimiser during every step).
type Trainer struct {
	cfg     RunConfig
	dir     *RunDir
	ds      *data.Dataset
	params  *nn.Params[float32]
	grads   *nn.Params[float32]
	model   *nn.Model[float32]
	obj     *Objective
	adam    *Adam
	batcher *data.Batcher
	noise   *rand.PCG
	rng     *rand.Rand
	sigmas  []float64
	perm    []float64
	batch   []float32

	step    int
	elapsed time.Duration // training time over all sessions of the run
	rate    float64       // smoothed images per second

	events  chan Event
	dropped int

	mu       sync.Mutex
	cond     *sync.Cond
	state    State
	stopReq  bool
	ckptReq  bool
	started  bool
	done     chan struct{}
	err      error
	lastCkpt time.Time

	snapMu   sync.RWMutex
	snap     *nn.Params[float32]
	snapStep int

	// beforeStep, when set (tests only), sees every batch before the step that uses it: the
	// race-free way to inject faults such as a NaN pixel.
	beforeStep func(step int, batch []float32)

	// StopAtStep, when set before Start, stops (with a checkpoint) once that many steps are
	// done, short of the configured total: a session of a longer run.
	StopAtStep int

	// Sampler, when set before Start, draws periodic sample grids into RUN/samples.
	Sampler    SampleFunc
	sampling   sync.Mutex
	sampleCtx  context.Context
	sampleStop context.CancelFunc
	sampleWG   sync.WaitGroup
}

// LoadTrainingData loads the training split named by a run config at the model's image
// size, checking that its channels fit the model.
func LoadTrainingData(cfg RunConfig) (*data.Dataset, error) {
	ds, err := data.LoadWith(cfg.Data, "train", cfg.DataDir, data.Options{Size: cfg.Model.ImageSize})
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
		return fmt.Errorf("dataset %s has %dx%dx%d images but the model expects %dx%dx%d: choose a preset for this dataset (e.g. paper-cifar for 3 channels) or set in_channels/image_size",
			ds.Name, ds.C, ds.H, ds.W, cfg.Model.InChannels, cfg.Model.ImageSize, cfg.Model.ImageSize)
	}
	return nil
}

// NewTrainer creates a run directory and a trainer for a fresh run on ds.
func NewTrainer(cfg RunConfig, ds *data.Dataset, runDir string) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid run config: %w", err)
	}
	if err := checkData(cfg, ds); err != nil {
		return nil, err
	}
	dir, err := CreateRunDir(runDir, cfg)
	if err != nil {
		return nil, err
	}
	params := nn.InitParams[float32](cfg.Model, rand.New(rand.NewPCG(cfg.Seed, 1)))
	batcher, err := data.NewBatcher(ds, cfg.BatchSize, cfg.Seed, 2)
	if err != nil {
		dir.Close()
		return nil, err
	}
	t := newTrainer(cfg, dir, ds, params, NewAdam(cfg.Model, cfg.Beta1, cfg.Beta2), batcher, rand.NewPCG(cfg.Seed, 3))
	return t, nil
}

// ResumeOptions adjusts a resumed run.
type ResumeOptions struct {
	Steps int // a new total step count (0 keeps the configured one)
}

// ResumeTrainer reopens a run directory at its newest readable checkpoint, so training
// continues exactly where it stopped (same batches, noise and optimiser state). A run with
// no checkpoint yet restarts from step 0 with its saved config.
func ResumeTrainer(runDir string, ds *data.Dataset, opt ResumeOptions) (*Trainer, error) {
	dir, cfg, err := OpenRunDir(runDir)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Trainer, error) { dir.Close(); return nil, err }
	if err := checkData(cfg, ds); err != nil {
		return fail(err)
	}
	ck, skipped, err := LoadLatestCheckpoint(runDir)
	var t *Trainer
	if err != nil && len(skipped) == 0 { // no checkpoint at all: start over
		params := nn.InitParams[float32](cfg.Model, rand.New(rand.NewPCG(cfg.Seed, 1)))
		batcher, err := data.NewBatcher(ds, cfg.BatchSize, cfg.Seed, 2)
		if err != nil {
			return fail(err)
		}
		t = newTrainer(cfg, dir, ds, params, NewAdam(cfg.Model, cfg.Beta1, cfg.Beta2), batcher, rand.NewPCG(cfg.Seed, 3))
	} else if err != nil {
		return fail(err)
	} else {
		batcher, err := data.NewBatcher(ds, cfg.BatchSize, cfg.Seed, 2)
		if err != nil {
			return fail(err)
		}
		if err := batcher.Restore(ck.State.Batcher); err != nil {
			return fail(fmt.Errorf("resume %s: %w", runDir, err))
		}
		noise := new(rand.PCG)
		if err := noise.UnmarshalBinary(ck.State.NoiseRNG); err != nil {
			return fail(fmt.Errorf("resume %s: noise generator state: %w", runDir, err))
		}
		t = newTrainer(cfg, dir, ds, ck.Params, ck.Adam, batcher, noise)
		t.step = ck.State.Step
		t.elapsed = time.Duration(ck.State.Elapsed * float64(time.Second))
		t.snapStep = t.step
		for _, e := range skipped {
			t.emit(LogEvent{At: time.Now(), Level: "warn", Msg: "skipped damaged checkpoint: " + e.Error()})
		}
		t.emit(LogEvent{At: time.Now(), Level: "info", Msg: fmt.Sprintf("resumed from %s at step %d", ck.Path, t.step)})
	}
	if opt.Steps > 0 && opt.Steps != cfg.Steps {
		t.cfg.Steps = opt.Steps
		if err := writeJSONAtomic(runDir+"/config.json", t.cfg); err != nil {
			return fail(err)
		}
	}
	if err := dir.TruncateMetrics(t.step); err != nil {
		return fail(err)
	}
	return t, nil
}

func newTrainer(cfg RunConfig, dir *RunDir, ds *data.Dataset, p *nn.Params[float32], adam *Adam, b *data.Batcher, noise *rand.PCG) *Trainer {
	sig, _ := NoiseLevels(cfg)
	m := nn.NewModel(p)
	t := &Trainer{cfg: cfg, dir: dir, ds: ds, params: p, grads: nn.NewParams[float32](cfg.Model), model: m,
		obj: NewObjective(m, cfg.Sigma0, cfg.BatchSize, cfg.microBatch()), adam: adam, batcher: b,
		noise: noise, rng: rand.New(noise), sigmas: sig, perm: make([]float64, len(sig)),
		batch: make([]float32, cfg.BatchSize*ds.Dim()), events: make(chan Event, 4096), done: make(chan struct{}),
		snap: p.Clone()}
	t.cond = sync.NewCond(&t.mu)
	t.sampleCtx, t.sampleStop = context.WithCancel(context.Background())
	return t
}

// Config is the run's configuration.
func (t *Trainer) Config() RunConfig { return t.cfg }

// RunDir is the path of the run directory.
func (t *Trainer) RunDir() string { return t.dir.Path }

// Events is the event stream. It is buffered; when a reader falls far behind, step events
// are dropped rather than slowing training (metrics.jsonl keeps every logged step).
func (t *Trainer) Events() <-chan Event { return t.events }

// Snapshot returns a private copy of the weights after the last completed step, and that
// step: the only way for other goroutines to read weights.
func (t *Trainer) Snapshot() (*nn.Params[float32], int) {
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
	go t.run()
}

// Pause stops stepping after the current step; Resume continues.
func (t *Trainer) Pause() { t.setState(Running, Paused) }

// Resume continues a paused trainer.
func (t *Trainer) Resume() { t.setState(Paused, Running) }

func (t *Trainer) setState(from, to State) {
	t.mu.Lock()
	if t.state != from {
		t.mu.Unlock()
		return
	}
	t.state = to
	t.cond.Broadcast()
	t.mu.Unlock()
	t.emit(StateEvent{At: time.Now(), State: to})
}

// CheckpointNow asks for a checkpoint after the current step.
func (t *Trainer) CheckpointNow() {
	t.mu.Lock()
	t.ckptReq = true
	t.cond.Broadcast()
	t.mu.Unlock()
}

// Stop finishes the current step, writes a checkpoint and waits for the goroutine to exit.
// It returns the error that ended training, if any. Stop on a trainer never started only
// releases the run directory.
func (t *Trainer) Stop() error {
	t.mu.Lock()
	if !t.started {
		t.mu.Unlock()
		t.dir.Close()
		return nil
	}
	t.stopReq = true
	if t.state == Running || t.state == Paused {
		t.state = Stopping
	}
	t.cond.Broadcast()
	t.mu.Unlock()
	<-t.done
	return t.Err()
}

func (t *Trainer) emit(e Event) {
	select {
	case t.events <- e:
	default:
		// A full buffer means nobody reads; step events can be lost, others we keep trying
		// briefly so that the reader sees checkpoints and the end.
		if _, isStep := e.(StepEvent); isStep {
			t.dropped++
			return
		}
		select {
		case t.events <- e:
		case <-time.After(100 * time.Millisecond):
			t.dropped++
		}
	}
}

func (t *Trainer) run() {
	defer close(t.done)
	defer t.dir.Close()
	var runErr error
	for {
		t.mu.Lock()
		for t.state == Paused && !t.stopReq && !t.ckptReq {
			t.cond.Wait()
		}
		stop, ck := t.stopReq, t.ckptReq
		t.ckptReq = false
		t.mu.Unlock()
		if ck {
			t.checkpoint()
		}
		if stop || t.step >= t.cfg.Steps || (t.StopAtStep > 0 && t.step >= t.StopAtStep) {
			break
		}
		if err := t.trainStep(); err != nil {
			runErr = err
			break
		}
	}
	t.sampleStop()
	t.sampleWG.Wait()
	final := Stopped
	if runErr != nil {
		final = Failed
		t.emit(LogEvent{At: time.Now(), Level: "error", Msg: runErr.Error() + "; the last good checkpoint is kept"})
	} else if _, err := t.checkpoint(); err != nil {
		runErr = err
		final = Failed
	}
	t.mu.Lock()
	t.state, t.err = final, runErr
	t.mu.Unlock()
	t.emit(StateEvent{At: time.Now(), State: final})
	t.emit(DoneEvent{At: time.Now(), Step: t.step, Err: runErr})
	close(t.events)
}

// trainStep does one optimisation step and publishes its results.
func (t *Trainer) trainStep() error {
	start := time.Now()
	cfg := t.cfg
	t.batcher.Next(t.batch)
	if t.beforeStep != nil {
		t.beforeStep(t.step+1, t.batch)
	}
	// One sigma per batch index, the fixed set shuffled over the batch each step.
	copy(t.perm, t.sigmas)
	t.rng.Shuffle(len(t.perm), func(i, j int) { t.perm[i], t.perm[j] = t.perm[j], t.perm[i] })
	t.grads.Zero()
	loss, err := t.obj.LossGrad(t.batch, cfg.BatchSize, t.perm, t.rng, t.grads)
	if err != nil {
		return fmt.Errorf("step %d: %w", t.step+1, err)
	}
	if err := t.grads.CheckFinite(); err != nil {
		return fmt.Errorf("step %d: non-finite gradient: %w", t.step+1, err)
	}
	lr := LearningRate(cfg, t.step)
	t.adam.Step(t.params, t.grads, lr)
	if err := t.params.CheckFinite(); err != nil {
		return fmt.Errorf("step %d: non-finite weights after the update: %w", t.step+1, err)
	}
	t.step++
	dt := time.Since(start)
	t.elapsed += dt
	ips := float64(cfg.BatchSize) / dt.Seconds()
	if t.rate == 0 {
		t.rate = ips
	} else {
		t.rate = 0.9*t.rate + 0.1*ips
	}
	t.snapMu.Lock()
	t.snap.CopyFrom(t.params)
	t.snapStep = t.step
	t.snapMu.Unlock()

	eta := time.Duration(float64(cfg.Steps-t.step) * float64(cfg.BatchSize) / t.rate * float64(time.Second))
	ev := StepEvent{At: time.Now(), Step: t.step, Total: cfg.Steps, Loss: loss, NormLoss: NormalisedLoss(loss, cfg.Sigma0),
		LR: lr, ImagesPerSec: t.rate, Elapsed: t.elapsed, ETA: eta}
	t.emit(ev)
	if t.step%cfg.LogEvery == 0 || t.step == cfg.Steps {
		rec := MetricRecord{Step: t.step, Loss: loss, NormLoss: ev.NormLoss, LR: lr, ImagesPerSec: t.rate,
			Elapsed: t.elapsed.Seconds(), Time: ev.At.UTC().Format(time.RFC3339Nano)}
		if err := t.dir.AppendMetrics(rec); err != nil {
			return err
		}
	}
	if t.step%cfg.CheckpointEvery == 0 && t.step < cfg.Steps {
		if _, err := t.checkpoint(); err != nil {
			return err
		}
	}
	if t.Sampler != nil && cfg.SampleEvery > 0 && t.step%cfg.SampleEvery == 0 {
		t.sampleAsync()
	}
	return nil
}

// checkpoint writes a checkpoint of the current state.
func (t *Trainer) checkpoint() (string, error) {
	rng, _ := t.noise.MarshalBinary()
	st := TrainState{Step: t.step, Config: t.cfg, NoiseRNG: rng, Batcher: t.batcher.State(), Elapsed: t.elapsed.Seconds()}
	path, err := t.dir.SaveCheckpoint(st, t.params, t.adam, t.cfg.KeepCheckpoints)
	if err != nil {
		err = fmt.Errorf("checkpoint at step %d failed: %w", t.step, err)
		if errors.Is(err, os.ErrPermission) || isNoSpace(err) {
			err = fmt.Errorf("%w (free disk space or fix permissions of %s; the previous checkpoint is intact)", err, t.dir.Path)
		}
	}
	t.emit(CheckpointEvent{At: time.Now(), Step: t.step, Path: path, Err: err})
	return path, err
}

// sampleAsync draws a sample grid from the current snapshot unless one is still running.
func (t *Trainer) sampleAsync() {
	if !t.sampling.TryLock() {
		return
	}
	p, step := t.Snapshot()
	t.sampleWG.Add(1)
	go func() {
		defer t.sampleWG.Done()
		defer t.sampling.Unlock()
		path, err := t.Sampler(t.sampleCtx, p, step, t.dir.Path)
		if errors.Is(err, context.Canceled) {
			return
		}
		t.emit(SampleEvent{At: time.Now(), Step: step, Path: path, Err: err})
	}()
}
