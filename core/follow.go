package core

import (
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"time"

	"mdsm/internal/safefile"
)

// follower reads a run directory incrementally: what a Run that follows another process
// emits, and the history a resumed live Run starts with. It is used by one goroutine.
type follower struct {
	dir      string
	cfg      RunConfig
	cfgMod   time.Time
	tail     *MetricsTail // metrics.jsonl
	lastStep int          // newest logged step
	lastAt   time.Time
	ckpt     int    // newest checkpoint step seen (-1: none)
	sample   string // newest sample grid seen
	state    State  // last reported (-1: none yet)
	// score is the newest grid score read from metrics.jsonl (a grid's score rides on the
	// first line logged after it was scored).
	score *SampleScore
	// warned is the last warning emitted about a file: polling repeats it only when it
	// changes.
	warned string
	// answers holds the ids of the trainer's control answers seen (status.json), and
	// statusSeen whether it was read once: answers already there then are history.
	answers    map[string]bool
	statusSeen bool
	total      int // the total last reported
}

func newFollower(dir string, cfg RunConfig) *follower {
	f := &follower{dir: dir, cfg: cfg, tail: NewMetricsTail(dir), ckpt: -1, state: -1, answers: map[string]bool{}, total: cfg.Steps}
	if fi, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		f.cfgMod = fi.ModTime()
	}
	return f
}

// history emits what the run directory holds: its logged steps, newest checkpoint and
// newest sample grid.
func (f *follower) history(emit func(Event) bool) {
	f.metrics(emit)
	f.checkpoint(emit)
	f.sampleGrid(emit)
}

// poll emits what is new since the last poll, and the state when it changed.
func (f *follower) poll(emit func(Event) bool) {
	if fi, err := os.Stat(filepath.Join(f.dir, "config.json")); err == nil && !fi.ModTime().Equal(f.cfgMod) {
		f.cfgMod = fi.ModTime()
		if cfg, err := ReadRunConfig(f.dir); err == nil {
			f.cfg = cfg // a resume with --steps changes the total
		}
	}
	f.history(emit)
	st := f.currentState(emit)
	if st != f.state || f.cfg.Steps != f.total {
		f.state, f.total = st, f.cfg.Steps
		emit(StateEvent{At: time.Now(), State: st, Total: f.cfg.Steps})
	}
}

// currentState is the state of the process that holds the run's lock (Running, or Paused
// and Stopping as its control status says; its new control answers are emitted), else
// Finished once the last step is logged, Idle before anything is, and Stopped in between.
func (f *follower) currentState(emit func(Event) bool) State {
	if pid, ok := LockHolder(f.dir); ok {
		st, err := ReadControlStatus(f.dir)
		if err != nil || st.PID != pid {
			return Running
		}
		for _, a := range st.Answers {
			if f.answers[a.ID] {
				continue
			}
			f.answers[a.ID] = true
			if f.statusSeen {
				level := "ok"
				if !a.OK {
					level = "warn"
				}
				emit(LogEvent{At: time.Now(), Level: level, Msg: fmt.Sprintf("trainer (pid %d): %s: %s", pid, a.Op, a.Msg)})
			}
		}
		f.statusSeen = true
		if s, ok := ParseState(st.State); ok && (s == Paused || s == Stopping) {
			return s
		}
		return Running
	}
	switch {
	case f.lastStep >= f.cfg.Steps:
		return Finished
	case f.lastStep == 0 && f.ckpt < 0:
		return Idle
	}
	return Stopped
}

// metrics emits the complete lines appended to metrics.jsonl since the last read. When
// the file was rewritten (a resume) it is read again from the start: the steps then go
// back, which readers take as "drop what comes after".
func (f *follower) metrics(emit func(Event) bool) {
	recs, damaged, restarted, err := f.tail.Read()
	if err != nil {
		f.warn(emit, err.Error())
	}
	if restarted {
		emit(LogEvent{At: time.Now(), Level: "info", Msg: "metrics.jsonl was rewritten (the run was resumed): reloading"})
	}
	if damaged > 0 {
		emit(LogEvent{At: time.Now(), Level: "warn", Msg: fmt.Sprintf("skipped %d damaged lines of %s", damaged, f.tail.Path())})
	}
	for _, rec := range recs {
		at, _ := time.Parse(time.RFC3339Nano, rec.Time)
		f.lastStep, f.lastAt = rec.Step, at
		if !emit(stepEvent(rec, f.cfg, at)) {
			return
		}
		if sc := rec.Score; sc != nil { // a grid's score, read back: a SampleEvent without an image
			f.score = sc
			if !emit(SampleEvent{At: at, Step: sc.Step, Path: filepath.Join(f.dir, "samples", gridName(sc.Step)), Score: sc}) {
				return
			}
		}
	}
}

// warn emits a warning about the run's files, unless it is the one emitted last: a damaged
// file is reported once, not at every poll.
func (f *follower) warn(emit func(Event) bool, msg string) {
	if msg == f.warned {
		return
	}
	f.warned = msg
	emit(LogEvent{At: time.Now(), Level: "warn", Msg: msg})
}

// stepEvent is the StepEvent of a logged step.
func stepEvent(rec MetricRecord, cfg RunConfig, at time.Time) StepEvent {
	return StepEvent{At: at, Step: rec.Step, Total: cfg.Steps, Loss: rec.Loss, NormLoss: rec.NormLoss, LR: rec.LR,
		ImagesPerSec: rec.ImagesPerSec, Elapsed: time.Duration(rec.Elapsed * float64(time.Second)),
		ETA: ETA(cfg.Steps, rec.Step, cfg.BatchSize, rec.ImagesPerSec), WorldSize: max(rec.WorldSize, 1), RankImagesPerSec: rec.RankImagesPerSec,
		SigmaLoss: rec.SigmaLoss}
}

// checkpoint emits the newest complete checkpoint when it is new.
func (f *follower) checkpoint(emit func(Event) bool) {
	steps, _ := checkpointSteps(f.dir)
	if len(steps) == 0 || steps[len(steps)-1] == f.ckpt {
		return
	}
	s := steps[len(steps)-1]
	base := checkpointBase(f.dir, s)
	fi, err := os.Stat(base + ".json")
	if err != nil {
		return
	}
	f.ckpt = s
	emit(CheckpointEvent{At: fi.ModTime(), Step: s, Path: base + ".safetensors", Kept: isKept(base + ".json")})
}

// sampleGrid emits the newest periodic sample grid, decoded, when it is new.
func (f *follower) sampleGrid(emit func(Event) bool) {
	path, step := newestGrid(f.dir)
	if path == "" || path == f.sample {
		return
	}
	f.sample = path
	img, err := readGrid(path)
	at := time.Now()
	if fi, serr := os.Stat(path); serr == nil {
		at = fi.ModTime()
	}
	ev := SampleEvent{At: at, Step: step, Path: path, Image: img, Err: err}
	if f.score != nil && f.score.Step == step {
		ev.Score = f.score
	}
	emit(ev)
}

// gridName is the file of the periodic sample grid of a step, under RUN/samples.
func gridName(step int) string { return fmt.Sprintf("step-%08d.png", step) }

// newestGrid finds the newest periodic sample grid RUN/samples/step-N.png and its step.
func newestGrid(dir string) (string, int) {
	steps := GridSteps(dir)
	if len(steps) == 0 {
		return "", -1
	}
	s := steps[len(steps)-1]
	return GridPath(dir, s), s
}

// GridSteps lists the steps of a run's periodic sample grids (RUN/samples/step-N.png),
// ascending: the sample history. Other pictures there (saved chains) are not grids.
func GridSteps(dir string) []int {
	files, _ := filepath.Glob(filepath.Join(dir, "samples", "step-*.png"))
	var steps []int
	for _, p := range files {
		var s int
		if _, err := fmt.Sscanf(filepath.Base(p), "step-%08d.png", &s); err == nil && filepath.Base(p) == gridName(s) {
			steps = append(steps, s)
		}
	}
	slices.Sort(steps)
	return steps
}

// GridPath is the file of the periodic sample grid of a step.
func GridPath(dir string, step int) string { return filepath.Join(dir, "samples", gridName(step)) }

// ReadGrid decodes the periodic sample grid of a step with the checked reader (it reads
// a file: call it off the UI goroutine).
func ReadGrid(dir string, step int) (image.Image, error) { return readGrid(GridPath(dir, step)) }

// readGrid decodes a sample grid PNG with the checked reader (a regular file, its declared
// size checked before it is decoded); errors name the file.
func readGrid(path string) (image.Image, error) {
	img, err := safefile.ReadImage(path, 0)
	if err != nil {
		return nil, fmt.Errorf("sample grid: %w", err)
	}
	return img, nil
}
