// Package tui is the mdsm workbench: a bubbletea v2 program with one model per pane
// (Configure, Train, Samples, Schedule, Inpaint/Denoise) under one root model, a status
// bar, a key hint bar and a scrollable help overlay. The workbench talks to core only: a
// core.Run (a trainer in this process, or a run directory another process trains) gives
// it one event stream, and sampling jobs run in core from weight snapshots. Nothing runs
// on the UI goroutine that could block it: training, sampling, encoding and file I/O run
// in commands and goroutines that report back as messages. Images are drawn with sixel or
// kitty graphics out of band (the View leaves blank cells and the picture is sent with
// tea.Raw after the frame is drawn), or as Unicode half blocks inside the View.
package tui

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"

	"mdsm/core"
	"mdsm/sampling"
	"mdsm/tui/chart"
	"mdsm/tui/termimg"
)

// Options configure the workbench.
type Options struct {
	// Config is the run configuration the Configure pane starts from.
	Config core.RunConfig
	// RunDir is where a new run is written ("" = runs/DATE-TIME when training starts).
	RunDir string
	// Open reopens an existing run directory and resumes training it.
	Open string
	// Watch follows a run trained by another process (mdsm train): metrics, checkpoints
	// and sample grids, read-only.
	Watch string
	// Protocol is the image protocol, already resolved (see termimg.Resolve).
	Protocol termimg.Protocol
	// Caps are the terminal capabilities detected before the program started.
	Caps termimg.Caps
	// TTYCell reports the cell size in pixels from the terminal's window size (the tty's
	// pixel size divided by its columns and rows), for terminals that do not answer the
	// cell-size query; it is asked again after every resize. nil: Run reads the
	// controlling terminal; New (tests) asks nothing.
	TTYCell func() (termimg.CellSize, bool)
	// Detach continues a stopped run headless in a new session and says how to follow
	// it (the binary knows how to start itself); nil: quitting offers no such option.
	Detach func(runDir string) (string, error)
	// WatchInterval is how often a followed run's directory is polled (default 1 s).
	WatchInterval time.Duration
	// StartPane is the pane shown first: configure, train (default), samples, schedule
	// or inpaint.
	StartPane string
	// Charts is how charts are drawn: braille dots (default), quadrant blocks, or ASCII
	// for a font without those glyphs (which also makes the borders and marks ASCII).
	Charts chart.Marker
	// RunsRoot is the folder the Runs pane lists ("" = runs, or the watched run's parent
	// folder in watch mode).
	RunsRoot string
	// Mouse turns on mouse reporting: clicks on tabs and on the Runs pane's rows.
	Mouse bool
}

// App is the root model of the workbench.
type App struct {
	s      *session
	w, h   int
	active int

	configure configurePane
	train     trainPane
	samples   samplesPane
	schedule  schedulePane
	inpaint   inpaintPane
	runs      runsPane
	energy    energyPane

	help     helpOverlay
	showHelp bool
	quitAsk  bool
	quitting bool
	quitNote string // shown while quitting takes a moment
	exitMsg  string

	img imageState
}

// New builds the workbench. It does no I/O besides reading a reopened or watched run's
// config and saved sampler.
func New(opts Options) (*App, error) {
	if opts.WatchInterval <= 0 {
		opts.WatchInterval = time.Second
	}
	cfg := opts.Config
	if cfg.Steps == 0 {
		cfg = core.DefaultRunConfig()
	}
	s := &session{opts: opts, cfg: cfg, runDir: opts.RunDir, proto: opts.Protocol, caps: opts.Caps,
		st: newStyles(bgUnknown, colorprofile.TrueColor, opts.Charts), sampler: cfg.SamplerConfig()}
	if s.caps.Cell.W <= 0 || s.caps.Cell.H <= 0 {
		s.caps.Cell = termimg.DefaultCellSize
	}
	a := &App{s: s, active: paneTrain}
	if opts.StartPane != "" {
		found := false
		for i, n := range PaneNames() {
			if n == opts.StartPane {
				a.active, found = i, true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown pane %q (valid: %s)", opts.StartPane, strings.Join(PaneNames(), ", "))
		}
	}
	a.img = imageState{proto: s.proto, caps: s.caps}
	a.refreshCell()
	dir := opts.Open
	if opts.Watch != "" {
		dir = opts.Watch
	}
	if dir != "" {
		rc, err := core.ReadRunConfig(dir)
		if err != nil {
			return nil, fmt.Errorf("open run: %w", err)
		}
		s.cfg, s.runDir, s.total = rc, dir, rc.Steps
		lc, saved, err := core.RunSampler(dir, rc)
		if err != nil {
			s.log = append(s.log, logLine{at: time.Now(), level: "warn", text: err.Error() + ": using the run's default sampler"})
		}
		s.sampler, s.samplerSaved = lc, saved
		s.reopen = opts.Open != ""
		s.watch = opts.Watch != ""
	}
	a.configure = newConfigurePane(s.cfg, s.runDir)
	a.train = newTrainPane()
	a.samples = newSamplesPane()
	a.inpaint = newInpaintPane()
	a.energy = newEnergyPane()
	root := opts.RunsRoot
	if root == "" {
		root = "runs"
		if opts.Watch != "" {
			root = filepath.Dir(filepath.Clean(opts.Watch))
		}
	}
	a.runs = newRunsPane(root, 2*opts.WatchInterval)
	s.shown = a.active
	return a, nil
}

// ExitMessage is what the program wants printed after it exits (e.g. how to follow a
// run that keeps training headless).
func (a *App) ExitMessage() string { return a.exitMsg }

// Init asks for the background colour and opens a reopened or watched run.
func (a *App) Init() tea.Cmd {
	cmds := []tea.Cmd{tea.RequestBackgroundColor}
	switch {
	case a.s.watch:
		a.s.status = statusOpening
		cmds = append(cmds, followRunCmd(a.s.runDir, a.s.opts.WatchInterval))
	case a.s.reopen:
		cmds = append(cmds, a.control(runCtlMsg{op: opStart}))
	}
	if a.active == paneInpaint || a.active == paneRuns {
		cmds = append(cmds, a.toPane(a.active, activateMsg{}))
	}
	return tea.Batch(cmds...)
}

// logf appends a line to the event log.
func (a *App) logf(level, format string, args ...any) {
	s := a.s
	s.log = append(s.log, logLine{at: time.Now(), level: level, text: fmt.Sprintf(format, args...)})
	if len(s.log) > maxLog {
		s.log = s.log[len(s.log)-maxLog:]
	}
}

// pane returns pane i for reading.
func (a *App) pane(i int) paneView {
	switch i {
	case paneConfigure:
		return a.configure
	case paneTrain:
		return a.train
	case paneSamples:
		return a.samples
	case paneSchedule:
		return a.schedule
	case paneRuns:
		return a.runs
	case paneEnergy:
		return a.energy
	}
	return a.inpaint
}

// toPane routes a message to pane i and carries out what it asks.
func (a *App) toPane(i int, msg tea.Msg) tea.Cmd {
	var o out
	switch i {
	case paneConfigure:
		a.configure, o = a.configure.update(a.s, msg)
	case paneTrain:
		a.train, o = a.train.update(a.s, msg)
	case paneSamples:
		a.samples, o = a.samples.update(a.s, msg)
	case paneSchedule:
		a.schedule, o = a.schedule.update(a.s, msg)
	case paneInpaint:
		a.inpaint, o = a.inpaint.update(a.s, msg)
	case paneRuns:
		a.runs, o = a.runs.update(a.s, msg)
	case paneEnergy:
		a.energy, o = a.energy.update(a.s, msg)
	}
	cmds := []tea.Cmd{o.cmd}
	for _, m := range o.asks {
		cmds = append(cmds, a.update(m))
	}
	return tea.Batch(cmds...)
}

// toAll routes a message to every pane.
func (a *App) toAll(msg tea.Msg) tea.Cmd {
	cmds := make([]tea.Cmd, paneCount)
	for i := range paneCount {
		cmds[i] = a.toPane(i, msg)
	}
	return tea.Batch(cmds...)
}

// Update handles a message and then tells the image state what the frame shows.
func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := a.update(msg)
	return a, tea.Batch(append([]tea.Cmd{cmd}, a.syncImage()...)...)
}

func (a *App) update(msg tea.Msg) tea.Cmd {
	s := a.s
	switch m := msg.(type) {
	case tea.WindowSizeMsg:
		a.w, a.h = m.Width, m.Height
		a.refreshCell()
		a.img.invalidate()
		bw, bh := a.bodySize()
		sized := a.toAll(bodySizeMsg{w: bw, h: bh})
		if s.proto.IsGraphics() {
			return tea.Batch(tea.ClearScreen, sized)
		}
		return sized
	case tea.MouseMsg:
		return a.onMouse(m)
	case tea.BackgroundColorMsg:
		s.bg = backgroundOf(m.IsDark())
		s.st = newStyles(s.bg, s.st.profile, s.st.marker)
		return nil
	case tea.ColorProfileMsg:
		s.st = newStyles(s.bg, m.Profile, s.st.marker)
		return nil
	case tea.KeyPressMsg:
		return a.handleKey(m)
	case tea.BlurMsg: // another tmux window (or terminal tab) has the screen
		return tea.Batch(a.img.hide()...)
	case tea.FocusMsg: // back: tmux redrew the pane as text, the picture goes up again
		a.img.invalidate()
		if s.proto.IsGraphics() {
			return tea.ClearScreen
		}
		return nil
	case placeMsg:
		return a.img.handlePlace(m)
	case blocksMsg:
		s.blocks = a.img.keep(m, s.blocks)
		return nil
	case logMsg:
		a.logf(m.level, "%s", m.text)
		return nil
	case runCtlMsg:
		return a.control(m)
	case controlSentMsg:
		if m.err != nil {
			a.logf("error", "%v", m.err)
		}
		return nil
	case openRunMsg:
		return a.openRun(m)
	case markMsg:
		return a.setOverlays(m.runs)
	case curveMsg:
		return a.onCurve(m)
	case runsScannedMsg:
		return a.onRunsScanned(m)
	case runsTickMsg:
		return a.toPane(paneRuns, m)
	case gridListMsg, gridMsg, composedMsg:
		return a.toPane(paneSamples, m)
	case energyMsg:
		return a.toPane(paneEnergy, m)
	case shotMsg:
		return a.screenshot()
	case exportedMsg:
		if m.pane >= 0 {
			return a.toPane(m.pane, m)
		}
		if m.err != nil {
			a.logf("error", "%s: %v", m.what, m.err)
		} else {
			a.logf("ok", "%s written: %s", m.what, m.path)
		}
		return nil
	case configMsg:
		if s.run == nil && !s.watch {
			old := s.cfg
			s.cfg, s.runDir, s.formErrors = m.cfg, m.runDir, m.parseErrors
			if samplerEqual(s.sampler, old.SamplerConfig()) { // not edited: follow the config
				s.sampler = s.cfg.SamplerConfig()
			}
		}
		return nil
	case newRunMsg:
		if s.active() || s.watch || s.status == statusOpening {
			return nil
		}
		var closeOld tea.Cmd
		if old := s.run; old != nil {
			closeOld = func() tea.Msg { old.Close(); return nil }
		}
		s.run, s.status, s.runDir, s.reopen = nil, statusNoRun, "", false
		s.step, s.total, s.imagesPerSec, s.rankRates, s.eta, s.ckptAt, s.ckptStep, s.lastStepAt = 0, 0, 0, nil, 0, time.Time{}, 0, time.Time{}
		s.samplerSaved, s.gridStep, s.gridScored = false, 0, false
		return tea.Batch(closeOld, a.toAll(m))
	case samplerMsg:
		s.sampler, s.samplerSaved = m.lc, false
		return nil
	case samplerSavedMsg:
		if m.err == nil && samplerEqual(m.lc, s.sampler) {
			s.samplerSaved = true
		}
		return a.toPane(paneSchedule, m)
	case runOpenedMsg:
		return a.onRunOpened(m)
	case deviceMsg:
		return a.onDevice(m)
	case runEventsMsg:
		return a.onRunEvents(m)
	case runStoppedMsg:
		if m.err != nil {
			a.logf("error", "stop: %v", m.err)
		}
		return nil
	case jobMsg:
		return a.toPane(m.pane, m)
	case savedMsg:
		return a.toPane(m.pane, m)
	case testImagesMsg:
		return a.toPane(paneInpaint, m)
	case detachedMsg:
		if m.err != nil {
			a.quitNote, a.quitting = "", false
			a.logf("error", "keep training headless: %v", m.err)
			return nil
		}
		a.exitMsg = m.text
		return a.quit()
	case quitStoppedMsg:
		return a.quit()
	}
	// Anything else (a text field's cursor blink, say) belongs to the pane shown.
	return a.toPane(a.active, msg)
}

// samplerEqual compares two sampler settings.
func samplerEqual(a, b sampling.LangevinConfig) bool {
	if a.Eps != b.Eps || a.Sigma0 != b.Sigma0 || a.InitMean != b.InitMean || a.InitStd != b.InitStd {
		return false
	}
	x, y := a.Schedule, b.Schedule
	if x.Kind != y.Kind || x.Steps != y.Steps || x.T0 != y.T0 || x.Interp != y.Interp || len(x.Points) != len(y.Points) {
		return false
	}
	for i := range x.Points {
		if x.Points[i] != y.Points[i] {
			return false
		}
	}
	return true
}

// control carries out a run control a pane asked for: on this process's trainer, or sent
// to the process training a followed run.
func (a *App) control(m runCtlMsg) tea.Cmd {
	s := a.s
	if s.status == statusOpening || s.status == statusStopping {
		return nil
	}
	if s.watch {
		return a.controlFollowed(m)
	}
	switch m.op {
	case opStart:
		switch {
		case s.active():
			if s.status == statusPaused {
				s.run.Resume()
			}
			return nil
		case s.run != nil || s.reopen:
			s.status = statusOpening
			a.logf("info", "resuming %s from its newest checkpoint…", s.runDir)
			return resumeRunCmd(s.runDir, 0)
		}
		if s.formErrors > 0 {
			a.logf("error", "%d field(s) of the Configure pane do not parse: fix them first (key 1)", s.formErrors)
			return nil
		}
		if p := s.cfg.Problems(); len(p) > 0 {
			a.logf("error", "the configuration is invalid (see the Configure pane, key 1): %s", p[0].Msg)
			return nil
		}
		dir := s.runDir
		if dir == "" {
			dir = "runs/" + time.Now().Format("20060102-150405")
		}
		s.runDir, s.status = dir, statusOpening
		a.logf("info", "loading %s and creating %s…", s.cfg.Data, dir)
		return startRunCmd(s.cfg, dir)
	case opExtend:
		switch {
		case s.run == nil:
			a.logf("info", "no run yet: press s to start")
			return nil
		case s.active():
			if err := s.run.SetSteps(m.steps); err != nil {
				a.logf("error", "total steps: %v", err)
			} else {
				a.logf("info", "total steps %d from the next step on", m.steps)
			}
			return nil
		}
		s.status = statusOpening
		a.logf("info", "extending %s to %d steps…", s.runDir, m.steps)
		return resumeRunCmd(s.runDir, m.steps)
	}
	if !s.active() {
		if s.run == nil {
			a.logf("info", "no training yet: press s to start")
		}
		return nil
	}
	switch m.op {
	case opPause:
		if s.status == statusPaused {
			s.run.Resume()
			a.logf("info", "resumed")
		} else {
			s.run.Pause()
			a.logf("info", "pausing after step %d", s.step)
		}
	case opStop:
		s.status = statusStopping
		a.logf("info", "stopping: finishing the step and writing a checkpoint…")
		return stopRunCmd(s.run, s.gen)
	case opCheckpoint:
		s.run.CheckpointNow()
		a.logf("info", "checkpoint requested (kept: the rotation never deletes it)")
	}
	return nil
}

// onRunOpened adopts a run opened off the UI goroutine and starts reading its events.
func (a *App) onRunOpened(m runOpenedMsg) tea.Cmd {
	s := a.s
	if m.err != nil {
		s.status = statusNoRun
		if s.run != nil {
			s.status = statusOf(s.run.State())
		}
		if errors.Is(m.err, core.ErrLocked) && s.runDir != "" {
			a.logf("warn", "%v: watching it instead", m.err)
			s.watch, s.status, s.reopen = true, statusOpening, false
			return followRunCmd(s.runDir, s.opts.WatchInterval)
		}
		a.logf("error", "%v", m.err)
		return nil
	}
	var cmds []tea.Cmd
	if old := s.run; old != nil && old != m.run {
		cmds = append(cmds, func() tea.Msg { old.Close(); return nil })
	}
	r := m.run
	s.run, s.reopen = r, false
	s.gen++
	if m.sampler != nil {
		s.sampler, s.samplerSaved = *m.sampler, m.samplerSaved
	}
	if m.samplerErr != nil {
		a.logf("warn", "%v: using the run's default sampler", m.samplerErr)
	}
	s.cfg, s.runDir, s.total, s.step, s.rankRates = r.Config(), r.Dir(), r.Config().Steps, 0, nil
	s.status = statusOf(r.State())
	switch {
	case s.watch:
		a.logf("info", "watching %s: another process trains it (p, c, x and T in the Train pane steer it; n in the Samples pane samples from its newest checkpoint)", s.runDir)
	case m.resumed:
		a.logf("ok", "resumed %s at step %d of %d", s.runDir, r.Step(), s.total)
	default:
		a.logf("ok", "training %s (%s, batch %d, %d steps) in %s", s.cfg.Model.Preset, s.cfg.Data, s.cfg.BatchSize, s.cfg.Steps, s.runDir)
	}
	s.device = core.DeviceReadings{}
	cmds = append(cmds, a.toAll(m), waitRun(r, s.gen), readDeviceCmd(r, s.gen, 0))
	return tea.Batch(cmds...)
}

// onDevice keeps a reading of the run's device and asks for the next one: every
// deviceEvery on a GPU, never on the CPU (it has none); a failed reading is logged once
// and retried slowly.
func (a *App) onDevice(m deviceMsg) tea.Cmd {
	s := a.s
	if m.gen != s.gen || s.run == nil {
		return nil
	}
	if m.err != nil {
		s.device = core.DeviceReadings{}
		if !s.deviceWarned {
			s.deviceWarned = true
			a.logf("warn", "no GPU readings for the header: %v", m.err)
		}
		return readDeviceCmd(s.run, s.gen, 15*deviceEvery)
	}
	s.device = m.r
	if !m.r.HasGPUReading {
		return nil
	}
	return readDeviceCmd(s.run, s.gen, deviceEvery)
}

// onRunEvents applies a batch of run events to the session and the panes.
func (a *App) onRunEvents(m runEventsMsg) tea.Cmd {
	s := a.s
	if m.gen != s.gen || s.run == nil {
		return nil
	}
	for _, ev := range m.events {
		switch e := ev.(type) {
		case core.StepEvent:
			s.step, s.total, s.imagesPerSec, s.rankRates, s.eta, s.lastStepAt = e.Step, e.Total, e.ImagesPerSec, e.RankImagesPerSec, e.ETA, e.At
		case core.CheckpointEvent:
			if e.Err != nil {
				a.logf("error", "%v", e.Err)
				continue
			}
			s.ckptStep, s.ckptAt = e.Step, e.At
			kept := ""
			if e.Kept {
				kept = " (kept)"
			}
			a.logf("ok", "checkpoint at step %d%s: %s", e.Step, kept, baseName(e.Path))
		case core.SampleEvent:
			switch {
			case e.Err != nil:
				a.logf("warn", "sample grid at step %d: %v", e.Step, e.Err)
			case e.Image != nil:
				s.gridStep, s.gridScored = e.Step, e.Score != nil
				if sc := e.Score.Summary(); sc != "" {
					a.logf("info", "sample grid at step %d: %s; %s", e.Step, baseName(e.Path), sc)
				} else {
					a.logf("info", "sample grid at step %d: %s", e.Step, baseName(e.Path))
				}
			case e.Score != nil && e.Step == s.gridStep && !s.gridScored:
				// a followed run's score arrives on a metrics line after its grid
				s.gridScored = true
				a.logf("info", "sample grid at step %d: %s", e.Step, e.Score.Summary())
			}
		case core.LogEvent:
			a.logf(e.Level, "%s", e.Msg)
		case core.StateEvent:
			s.status = statusOf(e.State)
			if e.Total > 0 { // a new total (SetSteps): the run's config says so too
				s.total, s.cfg.Steps = e.Total, e.Total
			}
		case core.DoneEvent:
			switch {
			case e.Err != nil:
				a.logf("error", "training stopped at step %d: %v", e.Step, e.Err)
			case s.run.State() == core.Finished:
				a.logf("ok", "finished at step %d; s extends the run", e.Step)
			default:
				a.logf("ok", "training stopped at step %d; s resumes it", e.Step)
			}
		}
	}
	cmds := []tea.Cmd{a.toPane(paneTrain, m), a.toPane(paneSamples, m)}
	if m.closed {
		s.status = statusOf(s.run.State())
	} else {
		cmds = append(cmds, waitRun(s.run, s.gen))
	}
	return tea.Batch(cmds...)
}

// baseName is the last element of a path.
func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// handleKey routes a key press: quit dialog, help overlay, global keys, active pane.
func (a *App) handleKey(k tea.KeyPressMsg) tea.Cmd {
	s := a.s
	if a.quitting {
		if k.String() == "ctrl+c" {
			return a.quit() // second ctrl+c while stopping: leave now; the last checkpoint is intact
		}
		return nil
	}
	if a.quitAsk {
		switch {
		case key.Matches(k, qk.Stop):
			a.quitAsk, a.quitting = false, true
			a.quitNote = "stopping training: finishing the step and writing a checkpoint…"
			r := s.run
			return func() tea.Msg { _ = r.Stop(); return quitStoppedMsg{} }
		case key.Matches(k, qk.Keep) && s.opts.Detach != nil:
			a.quitAsk, a.quitting = false, true
			a.quitNote = "stopping with a checkpoint, then training continues headless: mdsm train --resume " + s.runDir
			r, dir, detach := s.run, s.runDir, s.opts.Detach
			return func() tea.Msg {
				if err := r.Stop(); err != nil {
					return detachedMsg{err: fmt.Errorf("stop before detaching: %w", err)}
				}
				text, err := detach(dir)
				return detachedMsg{text: text, err: err}
			}
		case key.Matches(k, qk.Cancel):
			a.quitAsk = false
		}
		return nil
	}
	if a.showHelp {
		if k.String() == "ctrl+c" {
			return a.requestQuit()
		}
		if key.Matches(k, hk.Close) {
			a.showHelp = false
			return nil
		}
		a.help = a.help.scroll(k)
		return nil
	}
	p := a.pane(a.active)
	if p.capturing() {
		if k.String() == "ctrl+c" {
			return a.requestQuit()
		}
		return a.toPane(a.active, k)
	}
	switch {
	case key.Matches(k, gk.Quit):
		return a.requestQuit()
	case key.Matches(k, gk.Help):
		a.showHelp = true
		a.help = newHelpOverlay(a.helpGroups(), a.active+1)
		return nil
	case key.Matches(k, gk.Shot):
		return a.screenshot()
	}
	for i, b := range gk.panes() {
		if key.Matches(k, b) {
			return a.showPane(i)
		}
	}
	return a.toPane(a.active, k)
}

// showPane puts pane i on screen.
func (a *App) showPane(i int) tea.Cmd {
	a.active, a.s.shown = i, i
	return a.toPane(i, activateMsg{})
}

// requestQuit quits, or asks first when this process is training.
func (a *App) requestQuit() tea.Cmd {
	if a.s.active() {
		a.quitAsk = true
		return nil
	}
	a.stopJobs()
	return a.quit()
}

// quit ends the program. Kitty images are deleted first, while the program still has the
// alternate screen: inside tmux a delete sent just after leaving it is lost (tmux is
// redrawing the pane; measured with kitty 0.26 and tmux 3.3a) and the picture would stay
// over the shell. Raw output goes out with the next frame, so the quit waits for that.
func (a *App) quit() tea.Cmd {
	a.img.closed = true // no picture goes up once the program is leaving
	if a.s.proto != termimg.ProtoKitty {
		return tea.Quit
	}
	return tea.Sequence(tea.Raw(string(termimg.ForTmux(termimg.KittyDeleteAll(), a.s.caps.Tmux))),
		func() tea.Msg { time.Sleep(quitFlush); return tea.QuitMsg{} })
}

// quitFlush is a few frames of the renderer (60 per second): long enough for raw output
// sent before quitting to reach the terminal first.
const quitFlush = 80 * time.Millisecond

// stopJobs cancels the panes' sampling jobs.
func (a *App) stopJobs() {
	a.samples.cancel()
	a.inpaint.cancel()
}

// Layout: row 0 tabs, row 1 rule, body, status row, key hint row.
const headerRows, footerRows = 2, 2

func (a *App) bodySize() (int, int) { return max(a.w, 1), max(a.h-headerRows-footerRows, 1) }

// syncImage tells the image state which picture the current frame shows, and where.
func (a *App) syncImage() []tea.Cmd {
	if a.w == 0 || a.h == 0 {
		return nil
	}
	var want placement
	var pic picture
	if !a.showHelp && !a.quitAsk && !a.quitting {
		bw, bh := a.bodySize()
		if sl, ok := a.pane(a.active).slot(a.s, bw, bh); ok && sl.pic.ok() && sl.r.w > 0 && sl.r.h > 0 {
			want = placement{id: sl.pic.id, r: rect{x: sl.r.x, y: sl.r.y + headerRows, w: sl.r.w, h: sl.r.h}}
			pic = sl.pic
			if a.s.proto == termimg.ProtoBlocks {
				want.r = sl.r // blocks are keyed by size only
			}
		}
	}
	return a.img.sync(want, pic, a.h)
}

// View renders the whole screen.
func (a *App) View() tea.View {
	v := tea.NewView(a.render())
	v.AltScreen = true
	v.ReportFocus = a.s.proto.IsGraphics() // pictures drawn out of band go while the pane is hidden
	v.WindowTitle = "mdsm workbench"
	if a.s.opts.Mouse {
		v.MouseMode = tea.MouseModeCellMotion
	}
	return v
}

func (a *App) render() string {
	if a.w == 0 || a.h == 0 {
		return "starting mdsm…"
	}
	st := a.s.st
	bw, bh := a.bodySize()
	var body string
	switch {
	case a.quitAsk || a.quitting:
		body = a.quitView(bw, bh)
	case a.showHelp:
		body = a.help.view(st, bw, bh)
	default:
		body = a.pane(a.active).view(a.s, bw, bh)
	}
	lines := []string{a.tabsView(), st.rule.Render(strings.Repeat(st.g.rule, a.w)), fit(body, bw, bh), a.statusView(), a.hintView()}
	return strings.Join(lines, "\n")
}

// tabsView is the tab row: the panes, the run's GPU (name, memory in use, utilisation)
// and "? help  q quit" when they fit. Narrower screens get the shorter GPU reading, short
// labels, no title, the active pane's name alone beside the numbers, and last no GPU
// reading.
func (a *App) tabsView() string {
	parts, _ := a.tabLayout()
	return parts
}

// tabLayout is the tab row and the columns each pane's tab spans (for mouse clicks).
func (a *App) tabLayout() (string, [][2]int) {
	st := a.s.st
	keys := st.key.Render("?") + st.keyDesc.Render(" help  ") + st.key.Render("q") + st.keyDesc.Render(" quit ")
	var left string
	var spans [][2]int
	// The panes' names come before the GPU reading's length: every reading is tried with
	// full and short labels first, the numbers alone (the shown pane named) last.
	views := a.deviceViews()
	for _, bare := range []bool{false, true} {
		for gi, g := range views {
			if bare && gi < len(views)-2 {
				continue // beside the numbers alone, the shortest reading (a narrow screen)
			}
			right := g + keys
			for level := range 5 {
				if (level == 4) != bare {
					continue
				}
				short, title := level >= 2, level%2 == 0 && level < 4
				var parts []string
				x := 0
				spans = spans[:0]
				if title {
					parts = append(parts, st.title.Render(" mdsm "))
					x += lipgloss.Width(parts[0]) + 1
				}
				for i := range paneCount {
					label := fmt.Sprintf("%d %s", i+1, a.pane(i).title(short))
					if bare && i != a.active {
						label = fmt.Sprint(i + 1)
					}
					var tab string
					if i == a.active && !a.showHelp {
						tab = st.tabActive.Render(label)
					} else {
						tab = st.tab.Render(label)
					}
					parts = append(parts, tab)
					spans = append(spans, [2]int{x, x + lipgloss.Width(tab)})
					x += lipgloss.Width(tab) + 1
				}
				left = strings.Join(parts, " ")
				if lipgloss.Width(left)+1+lipgloss.Width(right) <= a.w {
					return left + spaces(a.w-lipgloss.Width(left)-lipgloss.Width(right)) + right, spans
				}
			}
		}
	}
	return clip(left, a.w), spans
}

// deviceViews are the renderings of the run's GPU reading for the tab row, longest
// first, ending with "" (none): "NVIDIA H200 12.3/139.8 GiB 87%", "GPU 12.3/139.8G 87%",
// "12G 87%" or "0.3G 87%" (memory in use and utilisation only, for 80 columns).
func (a *App) deviceViews() []string {
	d, st := a.s.device, a.s.st
	if !d.HasGPUReading {
		return []string{""}
	}
	gib := func(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<30)) }
	mem := gib(d.MemUsed) + "/" + gib(d.MemTotal)
	util := fmt.Sprintf("%d%%", d.UtilPercent)
	long := st.label.Render(d.Name+" ") + st.value.Render(mem) + st.label.Render(" GiB ") + st.value.Render(util) + "  "
	short := st.label.Render("GPU ") + st.value.Render(mem+"G "+util) + "  "
	used := float64(d.MemUsed) / (1 << 30)
	usedText := fmt.Sprintf("%.0fG", used)
	if used < 9.95 {
		usedText = fmt.Sprintf("%.1fG", used)
	}
	tiny := st.value.Render(usedText+" "+util) + "  "
	return []string{long, short, tiny, ""}
}

// statusView is the status bar: run, state, step, throughput and image protocol. When it
// does not fit, the image protocol goes first, then the throughput; the run directory is
// shortened from the left.
func (a *App) statusView() string {
	s := a.s
	st := s.st
	sep := st.statusSep.Render(" " + st.g.sep + " ")
	run := s.runDir
	if run == "" {
		run = "(new run)"
	}
	fixed := []string{
		st.stateBadge(s.status, s.statusLabel()),
		st.label.Render("step ") + st.value.Render(fmt.Sprintf("%d/%d", s.step, s.totalSteps())),
		st.label.Render("img/s ") + st.value.Render(fmt.Sprintf("%.0f", s.imagesPerSec)),
		st.label.Render("images ") + st.status.Render(s.proto.String()),
	}
	for n := len(fixed); n >= 2; n-- {
		rest := strings.Join(fixed[:n], sep)
		room := a.w - lipgloss.Width(rest) - lipgloss.Width(sep) - len("run ")
		if room >= min(12, len(run)) {
			return st.label.Render("run ") + st.status.Render(truncateLeft(run, room)) + sep + rest
		}
	}
	return clip(strings.Join(fixed[:2], sep), a.w)
}

// hintView is the key hint bar: the keys of what has the screen, as many as fit, the most
// useful first, and always "? help" and "q quit" at the end.
func (a *App) hintView() string {
	var bs []key.Binding
	tail := []key.Binding{bind([]string{"?"}, "?", "help"), bind([]string{"q"}, "q", "quit")}
	switch {
	case a.quitAsk:
		bs, tail = []key.Binding{qk.Stop, qk.Keep, qk.Cancel}, nil
		if a.s.opts.Detach == nil {
			bs = []key.Binding{qk.Stop, qk.Cancel}
		}
	case a.showHelp:
		bs, tail = hk.list(), nil
	default:
		bs = a.pane(a.active).keys(a.s)
	}
	return hintLine(a.s.st, bs, tail, a.w)
}

// hintLine renders bindings as "key desc" items separated by " · ": as many of bs as fit
// in w cells, then all of tail.
func hintLine(st *styles, bs, tail []key.Binding, w int) string {
	item := func(b key.Binding) string {
		return st.key.Render(b.Help().Key) + " " + st.keyDesc.Render(b.Help().Desc)
	}
	sep := st.keyDesc.Render(" " + st.g.dot + " ")
	var tailItems []string
	for _, b := range tail {
		tailItems = append(tailItems, item(b))
	}
	tailStr := strings.Join(tailItems, sep)
	room := w - lipgloss.Width(tailStr)
	if tailStr != "" {
		room -= lipgloss.Width(sep)
	}
	var items []string
	used := 0
	for _, b := range bs {
		it := item(b)
		iw := lipgloss.Width(it)
		if len(items) > 0 {
			iw += lipgloss.Width(sep)
		}
		if used+iw > room {
			continue
		}
		items, used = append(items, it), used+iw
	}
	if tailStr != "" {
		items = append(items, tailStr)
	}
	return clip(strings.Join(items, sep), w)
}

func (a *App) quitView(w, h int) string {
	s := a.s
	st := s.st
	var b strings.Builder
	if a.quitting {
		b.WriteString(st.heading.Render("Quitting") + "\n\n" + a.quitNote + "\n\n" + st.dim.Render("ctrl+c again leaves at once (the last checkpoint is intact)"))
	} else {
		b.WriteString(st.heading.Render("Training is running") + "\n\n")
		fmt.Fprintf(&b, "Run %s is at step %d of %d.\n\n", s.runDir, s.step, s.totalSteps())
		b.WriteString(st.key.Render("s") + "  stop training (checkpoint first) and quit\n")
		if s.opts.Detach != nil {
			b.WriteString(st.key.Render("k") + "  keep training headless: checkpoint, quit, and continue as\n")
			b.WriteString("   " + st.dim.Render("mdsm train --resume "+s.runDir) + " in the background\n")
			b.WriteString("   " + st.dim.Render("(follow it later with: mdsm watch "+s.runDir+")") + "\n")
		}
		b.WriteString(st.key.Render("esc") + " back to the workbench")
	}
	inner := max(10, w-2-4-2) // border, padding
	text := strings.Join(wrap(b.String(), inner), "\n")
	return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, st.dialog.Render(text))
}
