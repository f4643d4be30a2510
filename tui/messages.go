package tui

import (
	"image"
	"time"

	"mdsm/core"
	"mdsm/sampling"
)

// Requests from panes to the root. A pane's update returns them in its out value; the root
// carries them out at once and in order, before the next message, so that a key typed
// right after an edit sees it.

// logMsg adds a line to the event log.
type logMsg struct{ level, text string }

// runOp is a run control a pane asks for.
type runOp int

const (
	opStart      runOp = iota // start a new run, or resume the stopped one
	opExtend                  // a new total (runCtlMsg.steps): a running run's, or a finished one resumed with it
	opPause                   // pause or resume
	opStop                    // stop with a checkpoint
	opCheckpoint              // checkpoint now (kept)
)

// runCtlMsg asks the root to control the run.
type runCtlMsg struct {
	op    runOp
	steps int
}

// configMsg carries the Configure form's draft: the configuration, the run directory typed
// and how many fields do not parse.
type configMsg struct {
	cfg         core.RunConfig
	runDir      string
	parseErrors int
}

// newRunMsg forgets a stopped run so that the next start creates a new one; the root
// passes it on to the panes, which clear what they showed of the old run.
type newRunMsg struct{}

// samplerMsg carries the sampler the Schedule pane set.
type samplerMsg struct{ lc sampling.LangevinConfig }

// openRunMsg asks the root to open another run: watch it (follow), or resume training it
// in this process.
type openRunMsg struct {
	dir    string
	resume bool
}

// markMsg sets the runs whose loss curves the Train pane lays over the open run's (the
// Runs pane's marks), in mark order.
type markMsg struct{ runs []core.RunSummary }

// shotMsg asks the root to save the screen as a PNG.
type shotMsg struct{}

// Messages from the root to the panes.

// activateMsg tells a pane it is now shown.
type activateMsg struct{}

// bodySizeMsg tells the panes the size of their box (after a resize).
type bodySizeMsg struct{ w, h int }

// Results of commands.

// runOpenedMsg delivers a run opened off the UI goroutine (started, resumed or followed).
type runOpenedMsg struct {
	run     *core.Run
	resumed bool
	err     error
	// sampler is the run's saved sampler (or its default) for a run opened from the Runs
	// pane (nil: keep the session's), samplerErr why RUN/sampler.json could not be read.
	sampler      *sampling.LangevinConfig
	samplerSaved bool
	samplerErr   error
}

// runEventsMsg is a batch of a run's events, read off the UI goroutine.
type runEventsMsg struct {
	gen    int
	events []core.Event
	closed bool
}

// runStoppedMsg reports that stopping the run returned (its last checkpoint is written).
type runStoppedMsg struct {
	gen int
	err error
}

// jobMsg is an update of a sampling job a pane started.
type jobMsg struct {
	pane, id int
	u        core.JobUpdate
	closed   bool
}

// savedMsg reports a picture a pane saved.
type savedMsg struct {
	pane int
	path string
	err  error
}

// samplerSavedMsg reports RUN/sampler.json written with lc.
type samplerSavedMsg struct {
	lc   sampling.LangevinConfig
	path string
	err  error
}

// testImagesMsg delivers the test images the Inpaint pane loaded.
type testImagesMsg struct {
	imgs *core.TestImages
	err  error
}

// controlSentMsg reports a control request sent to the process training a followed run.
type controlSentMsg struct {
	op  runOp
	err error
}

// runsScannedMsg is a scan of the runs root.
type runsScannedMsg struct {
	gen  int
	runs []core.RunSummary
	err  error
	took time.Duration
}

// curveMsg is what was appended to an overlaid run's metrics since the last read.
type curveMsg struct {
	dir       string
	recs      []core.MetricRecord
	restarted bool
	err       error
}

// gridListMsg is the sample history of a run: the steps of its periodic grids.
type gridListMsg struct {
	dir   string
	steps []int
}

// gridMsg is a periodic grid read from the sample history (and, for a side-by-side, the
// composite of two).
type gridMsg struct {
	dir  string
	step int
	img  image.Image
	err  error
}

// composedMsg is the side-by-side picture of two grids.
type composedMsg struct {
	a, b int
	img  image.Image
}

// energyMsg is an update of the Energy pane's job.
type energyMsg struct {
	id     int
	u      core.EnergyUpdate
	closed bool
}

// exportedMsg reports an export written (a chart's CSV, the screen's PNG).
type exportedMsg struct {
	pane int // the pane that asked (-1: the root)
	what string
	path string
	err  error
}

// deviceMsg is a reading of the run's device (the header's GPU name, memory and
// utilisation), made off the UI goroutine.
type deviceMsg struct {
	gen int
	r   core.DeviceReadings
	err error
}

// quitStoppedMsg says the run stopped for quitting.
type quitStoppedMsg struct{}

// detachedMsg reports the headless continuation of a run.
type detachedMsg struct {
	text string
	err  error
}
