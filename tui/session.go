package tui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"mdsm/core"
	"mdsm/internal/safefile"
	"mdsm/nn"
	"mdsm/sampling"
	"mdsm/tui/termimg"
)

// session is the state the panes share: the run configuration, the trainer (or the run
// being watched), the sampling schedule and the image protocol. It lives on the UI
// goroutine; work elsewhere receives copies.
type session struct {
	st   *styles
	opts Options

	cfg    core.RunConfig
	runDir string // "" until a run exists

	trainer *core.Trainer
	gen     int // increments with every trainer, tags its messages
	state   string
	watch   bool // the run is trained by another process

	step, total   int
	imagesPerSec  float64
	rankRates     []float64 // per-rank images/s of a distributed run (nil for one process)
	eta           time.Duration
	lastCkptStep  int
	lastCkptAt    time.Time
	lastCkptPath  string
	hasWeightsDir bool // a checkpoint exists on disk (watch / reopened runs)

	schedule sampling.Schedule
	eps      float64

	proto termimg.Protocol
	caps  termimg.Caps
	// cell is the cell size in pixels that pictures are laid out and scaled for (see
	// pictureCell), and cellSource where it came from.
	cell       termimg.CellSize
	cellSource string
}

// trainerActive reports whether this process trains right now (running or paused).
func (s *session) trainerActive() bool {
	if s.trainer == nil {
		return false
	}
	switch s.trainer.State() {
	case core.Running, core.Paused, core.Stopping:
		return true
	}
	return false
}

// langevin is the sampler configuration the Schedule pane set.
func (s *session) langevin() sampling.LangevinConfig {
	lc := sampling.DefaultLangevinConfig()
	lc.Schedule = s.schedule
	lc.Eps = s.eps
	lc.Sigma0 = s.cfg.Sigma0
	return lc
}

// weightsFunc returns a function, to be called off the UI goroutine, that yields a private
// copy of the newest weights: a trainer snapshot, or the newest checkpoint of the run.
func (s *session) weightsFunc() (func() (*nn.Params[float32], string, error), error) {
	if tr := s.trainer; tr != nil {
		return func() (*nn.Params[float32], string, error) {
			p, step := tr.Snapshot()
			return p, fmt.Sprintf("weights of step %d", step), nil
		}, nil
	}
	if dir := s.runDir; dir != "" {
		return func() (*nn.Params[float32], string, error) {
			p, path, err := core.LoadWeights(dir)
			if err != nil {
				return nil, "", fmt.Errorf("load the newest checkpoint: %w", err)
			}
			return p, filepath.Base(path), nil
		}, nil
	}
	return nil, errors.New("no model yet: start training in the Train pane (2, then s)")
}

// scheduleFile is where the Schedule pane saves the schedule of a run.
func scheduleFile(runDir string) string { return filepath.Join(runDir, "schedule.json") }

// savedSchedule is the JSON of RUN/schedule.json.
type savedSchedule struct {
	Schedule sampling.Schedule `json:"schedule"`
	Eps      float64           `json:"eps"`
}

// loadSchedule reads RUN/schedule.json.
func loadSchedule(runDir string) (sampling.Schedule, float64, error) {
	b, err := safefile.ReadFile(scheduleFile(runDir), "saved schedule", 16<<20)
	if err != nil {
		return sampling.Schedule{}, 0, fmt.Errorf("read schedule: %w", err)
	}
	var ss savedSchedule
	if err := json.Unmarshal(b, &ss); err != nil {
		return sampling.Schedule{}, 0, fmt.Errorf("schedule %s: %w", scheduleFile(runDir), err)
	}
	if err := ss.Schedule.Validate(); err != nil {
		return sampling.Schedule{}, 0, fmt.Errorf("schedule %s: %w", scheduleFile(runDir), err)
	}
	if !(ss.Eps > 0) {
		ss.Eps = sampling.DefaultLangevinConfig().Eps
	}
	return ss.Schedule, ss.Eps, nil
}

// writeSchedule writes RUN/schedule.json atomically.
func writeSchedule(runDir string, sch sampling.Schedule, eps float64) error {
	b, err := json.MarshalIndent(savedSchedule{Schedule: sch, Eps: eps}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode schedule: %w", err)
	}
	if err := safefile.WriteAtomic(scheduleFile(runDir), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}); err != nil {
		return fmt.Errorf("write schedule: %w", err)
	}
	return nil
}
