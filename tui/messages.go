package tui

import (
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
	opExtend                  // resume a finished run with more steps (runCtlMsg.steps)
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

// Messages from the root to the panes.

// activateMsg tells a pane it is now shown.
type activateMsg struct{}

// Results of commands.

// runOpenedMsg delivers a run opened off the UI goroutine (started, resumed or followed).
type runOpenedMsg struct {
	run     *core.Run
	resumed bool
	err     error
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
