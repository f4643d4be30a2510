package core

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"mdsm/nn"
)

// Run is one training run as its readers (the workbench) see it: a Trainer in this process
// (live), or a run directory that another process trains (followed: `mdsm watch` of a
// headless `mdsm train`). Both give one event stream, which begins with the run's history
// (its logged steps as StepEvents, its newest checkpoint and sample grid) and goes on with
// what happens, so that everything above core is the same for both. Control methods act
// on a live run's trainer, or send a followed run's trainer a request through its control
// channel (SendControl), which the follower reports the answer to.
type Run struct {
	dir string
	cfg RunConfig
	tr  *Trainer // nil when followed

	events chan Event
	quit   chan struct{}
	once   sync.Once
	done   chan struct{} // closed when the event goroutine has ended

	mu    sync.Mutex
	state State // a followed run's state, as last polled
	step  int   // a followed run's newest logged step

	devOnce sync.Once
	dev     Device // a followed run's device, opened by the first job or reading
}

// runEvents is the buffer of a Run's event stream.
const runEvents = 4096

// StartRun loads cfg's training data, creates the run directory dir (see NewTrainer) and
// starts training, with periodic sample grids as cfg asks. It reads data and writes files:
// call it off the UI goroutine.
func StartRun(cfg RunConfig, dir string) (*Run, error) {
	ds, err := LoadTrainingData(cfg)
	if err != nil {
		return nil, fmt.Errorf("load training data: %w", err)
	}
	tr, err := NewTrainer(cfg, ds, dir)
	if err != nil {
		return nil, fmt.Errorf("create run: %w", err)
	}
	return liveRun(tr, false), nil
}

// ResumeRun reopens the run in dir at its newest checkpoint (see ResumeTrainer; opt.Steps
// extends a finished run) and starts training; its events begin with the run's history.
// Call it off the UI goroutine.
func ResumeRun(dir string, opt ResumeOptions) (*Run, error) {
	cfg, err := ReadRunConfig(dir)
	if err != nil {
		return nil, err
	}
	if opt.DataDir != "" {
		cfg.DataDir = opt.DataDir
	}
	ds, err := LoadTrainingData(cfg)
	if err != nil {
		return nil, fmt.Errorf("load training data: %w", err)
	}
	tr, err := ResumeTrainer(dir, ds, opt)
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", dir, err)
	}
	return liveRun(tr, true), nil
}

// liveRun wraps a trainer that has not started: it sets the periodic sampler the config
// asks for and starts it, and forwards its events after the history (when history).
func liveRun(tr *Trainer, history bool) *Run {
	r := &Run{dir: tr.RunDir(), cfg: tr.Config(), tr: tr, events: make(chan Event, runEvents),
		quit: make(chan struct{}), done: make(chan struct{})}
	tr.Sampler = PeriodicSampler(tr.Config())
	var past []Event // read before the trainer appends to the files
	if history {
		newFollower(r.dir, r.cfg).history(func(e Event) bool { past = append(past, e); return true })
	}
	tr.Start()
	go func() {
		defer close(r.done)
		defer close(r.events)
		for _, e := range past {
			r.send(e)
		}
		for ev := range tr.Events() {
			if s, ok := ev.(SampleEvent); ok && s.Err == nil && s.Path != "" {
				s.Image, s.Err = readGrid(s.Path)
				ev = s
			}
			r.send(ev) // after Close it drops; the trainer's stream is still drained
		}
		<-tr.Done()
	}()
	return r
}

// FollowRun follows the run in dir, trained by another process (or not at all: a stopped
// run shows its history and state), polling its files every interval: new metrics lines
// become StepEvents, a new checkpoint a CheckpointEvent, a new sample grid a SampleEvent,
// and whether a process holds the run's lock (and how far it got) a StateEvent.
func FollowRun(dir string, interval time.Duration) (*Run, error) {
	cfg, err := ReadRunConfig(dir)
	if err != nil {
		return nil, err
	}
	if interval <= 0 {
		interval = time.Second
	}
	r := &Run{dir: dir, cfg: cfg, events: make(chan Event, runEvents), quit: make(chan struct{}),
		done: make(chan struct{}), state: -1}
	f := newFollower(dir, cfg)
	go func() {
		defer close(r.done)
		defer close(r.events)
		// The state and step a reader sees through State and Step are set before the event
		// that announces them is sent.
		emit := func(e Event) bool {
			r.mu.Lock()
			switch ev := e.(type) {
			case StateEvent:
				r.state = ev.State
			case StepEvent:
				r.step = ev.Step
			}
			r.mu.Unlock()
			return r.send(e)
		}
		for {
			f.poll(emit)
			select {
			case <-r.quit:
				return
			case <-time.After(interval):
			}
		}
	}()
	return r, nil
}

// send delivers an event unless the run was closed; it reports whether it did.
func (r *Run) send(e Event) bool {
	select {
	case <-r.quit:
		return false
	default:
	}
	select {
	case r.events <- e:
		return true
	case <-r.quit:
		return false
	}
}

// Events is the run's event stream: the history, then what happens. It closes when a live
// trainer has ended (and released the run directory) or the run is closed.
func (r *Run) Events() <-chan Event { return r.events }

// Close stops following (or forwarding a live trainer's events) and waits for that to end.
// A live trainer is not stopped: Stop it first.
func (r *Run) Close() {
	r.once.Do(func() { close(r.quit) })
	<-r.done
}

// Dir is the run directory.
func (r *Run) Dir() string { return r.dir }

// Config is the run's configuration as it was opened.
func (r *Run) Config() RunConfig { return r.cfg }

// Live reports whether this process trains the run.
func (r *Run) Live() bool { return r.tr != nil }

// State is the run's state: the trainer's, or for a followed run the one last polled
// (Running while another process holds the run's lock).
func (r *Run) State() State {
	if r.tr != nil {
		return r.tr.State()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state < 0 {
		return Idle
	}
	return r.state
}

// Active reports whether this process trains the run right now (running, paused or
// stopping): quitting must then stop it or hand it over.
func (r *Run) Active() bool {
	if r.tr == nil {
		return false
	}
	switch r.tr.State() {
	case Running, Paused, Stopping:
		return true
	}
	return false
}

// Step is the number of steps done (a followed run: the newest logged one).
func (r *Run) Step() int {
	if r.tr != nil {
		return r.tr.Step()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.step
}

// control applies a control to a live run's trainer, or sends it to the process training
// a followed run (writing a request file: call it off the UI goroutine).
func (r *Run) control(f func(*Trainer), op string, steps int) error {
	if r.tr == nil {
		_, err := SendControl(r.dir, op, steps, fmt.Sprintf("mdsm watch (pid %d)", os.Getpid()))
		return err
	}
	f(r.tr)
	return nil
}

// Pause pauses the run after its current step.
func (r *Run) Pause() error { return r.control((*Trainer).Pause, CtlPause, 0) }

// Resume continues a paused run.
func (r *Run) Resume() error { return r.control((*Trainer).Resume, CtlResume, 0) }

// CheckpointNow asks for a checkpoint that the rotation keeps.
func (r *Run) CheckpointNow() error { return r.control((*Trainer).CheckpointNow, CtlCheckpoint, 0) }

// SetSteps changes the total step count of a running run (Trainer.SetSteps): a live one at
// once (an error says why not), a followed one by request (its answer comes as a
// LogEvent).
func (r *Run) SetSteps(n int) error {
	if r.tr == nil {
		return r.control(nil, CtlSteps, n)
	}
	return r.tr.SetSteps(n)
}

// Stop stops the run, finishing the step and checkpointing. For a live run it returns
// when the trainer has ended; for a followed run when the request is sent (the stop shows
// in the events). It blocks: call it off the UI goroutine.
func (r *Run) Stop() error {
	if r.tr == nil {
		return r.control(nil, CtlStop, 0)
	}
	return r.tr.Stop()
}

// Weights is a private copy of a network's weights and where they came from: what a
// sampling job starts from.
type Weights struct {
	params *nn.Params[float32]
	// Step is the training step the weights are from.
	Step int
	// Source says where they came from, for captions ("trainer snapshot" or a checkpoint
	// file).
	Source string
}

// WeightSource yields the newest weights of a model. Jobs call it on their own goroutine.
type WeightSource interface {
	Weights() (Weights, error)
}

// Weights returns the newest weights to sample with (the weight average when the run keeps
// one): a live run's snapshot after its last step, or a followed run's newest checkpoint
// (read from disk: call it off the UI goroutine).
func (r *Run) Weights() (Weights, error) {
	if r.tr != nil {
		p, step := r.tr.Snapshot()
		return Weights{params: p, Step: step, Source: fmt.Sprintf("trainer snapshot, step %d", step)}, nil
	}
	ck, _, err := LoadLatestCheckpoint(r.dir)
	if err != nil {
		return Weights{}, fmt.Errorf("load the newest checkpoint: %w", err)
	}
	p, path := ck.Sampling()
	return Weights{params: p, Step: ck.State.Step, Source: "checkpoint " + filepath.Base(path)}, nil
}

// Device is where the run's jobs (live chains, inpainting, denoising) and readings are
// made: a live run's training device, or for a followed run the device its configuration
// names, opened on first use (the CPU when it cannot be used here). Opening loads the
// device's libraries: call it off the UI goroutine.
func (r *Run) Device() Device {
	if r.tr != nil {
		return r.tr.Device()
	}
	r.devOnce.Do(func() {
		d, _, err := OpenDevice(r.cfg.Device, r.cfg.TF32)
		if err != nil {
			d = CPU
		}
		r.dev = d
	})
	return r.dev
}

// Readings reads the run's device for the workbench header: a GPU's name, memory in use
// and utilisation (NVML, every process on the GPU, as nvitop shows them); the CPU has
// none (HasGPUReading false). It calls into the driver: call it off the UI goroutine.
func (r *Run) Readings() (DeviceReadings, error) { return r.Device().Readings() }
