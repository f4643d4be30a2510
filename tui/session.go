package tui

import (
	"time"

	"mdsm/core"
	"mdsm/sampling"
	"mdsm/tui/termimg"
)

// runStatus is where the session's run is: before any run, being opened, or the state of
// the open run (its core.State).
type runStatus int

const (
	statusNoRun   runStatus = iota // nothing open: configure, then s
	statusOpening                  // loading data, creating, resuming or following a run
	statusIdle                     // open, nothing written yet
	statusRunning                  // training (here, or in another process when watching)
	statusPaused
	statusStopping
	statusStopped
	statusFailed
	statusFinished // every configured step done: s extends it
)

// statusOf is the status of an open run in core state st.
func statusOf(st core.State) runStatus {
	switch st {
	case core.Running:
		return statusRunning
	case core.Paused:
		return statusPaused
	case core.Stopping:
		return statusStopping
	case core.Stopped:
		return statusStopped
	case core.Failed:
		return statusFailed
	case core.Finished:
		return statusFinished
	}
	return statusIdle
}

func (st runStatus) String() string {
	return [...]string{"no run", "opening", "idle", "running", "paused", "stopping", "stopped", "failed", "finished"}[st]
}

// logLine is one line of the event log.
type logLine struct {
	at          time.Time
	level, text string
}

// maxLog is how many event log lines the session keeps.
const maxLog = 500

// session is the workbench's shared state, what the panes read to draw themselves and to
// start their work. The root model owns it and changes it in answer to messages (run
// events, the panes' requests); panes never write it.
type session struct {
	st   *styles
	opts Options
	bg   background

	// cfg is the open run's configuration, or the Configure form's draft; runDir the open
	// run's directory, or the form's choice ("" = runs/DATE-TIME); formErrors counts the
	// form's fields whose text does not parse.
	cfg        core.RunConfig
	runDir     string
	formErrors int

	run    *core.Run // nil until a run is open
	gen    int       // increments with every run, tags its messages
	status runStatus
	watch  bool // the run is followed: another process trains it
	reopen bool // Options.Open: the first s resumes that run

	step, total  int
	imagesPerSec float64
	rankRates    []float64 // per-rank images/s of a distributed run (nil for one process)
	eta          time.Duration
	lastStepAt   time.Time
	ckptStep     int
	ckptAt       time.Time
	// gridStep is the step of the newest periodic grid, gridScored whether its score was
	// shown.
	gridStep   int
	gridScored bool

	// sampler is what the next sampling or inpainting job uses (the Schedule pane edits
	// it); samplerSaved says it equals the run's RUN/sampler.json.
	sampler      sampling.LangevinConfig
	samplerSaved bool

	proto termimg.Protocol
	caps  termimg.Caps
	// cell is the cell size in pixels that pictures are laid out and scaled for (see
	// pictureCell), and cellSource where it came from.
	cell       termimg.CellSize
	cellSource string
	// blocks are the half-block renderings of pictures, made off the UI goroutine.
	blocks map[blockKey]string

	// device is the newest reading of the run's device (a GPU's name, memory and
	// utilisation for the header); deviceWarned says a failed reading was logged.
	device       core.DeviceReadings
	deviceWarned bool

	log []logLine

	// overlays are the runs marked in the Runs pane, whose loss curves the Train pane lays
	// over the open run's, in mark order.
	overlays []*overlay
	// shown is the pane on screen.
	shown int
}

// active reports whether this process trains right now (running, paused or stopping):
// quitting must then stop the run or hand it over.
func (s *session) active() bool { return s.run != nil && s.run.Active() }

// controls reports whether the open run (or the one to start) is this process's to
// control: not a followed run.
func (s *session) controls() bool { return !s.watch }

// statusLabel names the run's state for the status bar and the Train pane.
func (s *session) statusLabel() string {
	if s.watch && s.status != statusOpening {
		return "watch: " + s.status.String()
	}
	return s.status.String()
}

// totalSteps is the run's total, never below the configured one.
func (s *session) totalSteps() int { return max(s.total, s.cfg.Steps, 1) }
