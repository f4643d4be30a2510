// Package tui is the mdsm workbench: a bubbletea v2 program with one model per pane
// (Configure, Train, Samples, Schedule, Inpaint/Denoise) under one root model, a status
// bar and a help overlay. Training, sampling, encoding and file I/O never run on the UI
// goroutine: they run in commands and goroutines that report back as messages. Images are
// drawn with sixel or kitty graphics out of band (the View leaves blank cells and the
// picture is sent with tea.Raw after the frame is drawn), or as Unicode half blocks inside
// the View.
package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"mdsm/core"
	"mdsm/sampling"
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
	// it; nil uses DetachTraining.
	Detach func(runDir string) (string, error)
	// WatchInterval is how often watch mode polls the run directory (default 1 s).
	WatchInterval time.Duration
	// StartPane is the pane shown first: configure, train (default), samples, schedule
	// or inpaint.
	StartPane string
}

// PaneNames lists the values of Options.StartPane.
func PaneNames() []string { return []string{"configure", "train", "samples", "schedule", "inpaint"} }

// Pane indices, in tab order.
const (
	paneConfigure = iota
	paneTrain
	paneSamples
	paneSchedule
	paneInpaint
	paneCount
)

// pane is one tab of the workbench. Panes are pointers updated on the UI goroutine.
type pane interface {
	title() string
	update(msg tea.Msg) tea.Cmd
	view(w, h int) string
	// slot returns the pane's picture and where it goes in a w x h pane.
	slot(w, h int) (slot, bool)
	keys() []key.Binding
	// capturing is true while a text field takes every key.
	capturing() bool
}

// App is the root model of the workbench.
type App struct {
	s      *session
	w, h   int
	active int
	panes  [paneCount]pane

	configure *configurePane
	train     *trainPane
	samples   *samplesPane
	schedule  *schedulePane
	inpaint   *inpaintPane

	help     help.Model
	showHelp bool
	quitAsk  bool
	quitNote string // shown while quitting takes a moment
	exitMsg  string
	quitting bool
	reopen   bool // Options.Open: the first s resumes that run

	log   []logLine
	img   imageState
	watch *watchState
}

// New builds the workbench. It does no I/O besides reading a reopened run's config.
func New(opts Options) (*App, error) {
	if opts.Detach == nil {
		opts.Detach = DetachTraining
	}
	if opts.WatchInterval <= 0 {
		opts.WatchInterval = time.Second
	}
	cfg := opts.Config
	if cfg.Steps == 0 {
		cfg = core.DefaultRunConfig()
	}
	s := &session{st: newStyles(bgUnknown), opts: opts, cfg: cfg, state: "idle",
		proto: opts.Protocol, caps: opts.Caps, eps: sampling.DefaultLangevinConfig().Eps}
	if s.caps.Cell.W <= 0 || s.caps.Cell.H <= 0 {
		s.caps.Cell = termimg.DefaultCellSize
	}
	s.schedule = defaultSampleSchedule(cfg)
	a := &App{s: s, active: paneTrain, help: help.New()}
	a.help.Styles = helpStyles(bgUnknown)
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
		s.schedule = defaultSampleSchedule(rc)
		if sch, eps, err := loadSchedule(dir); err == nil {
			s.schedule, s.eps = sch, eps
		}
		a.reopen = opts.Open != ""
	}
	a.configure = newConfigurePane(s, opts.RunDir)
	a.train = newTrainPane(s, a)
	a.samples = newSamplesPane(s, a)
	a.schedule = newSchedulePane(s, a)
	a.inpaint = newInpaintPane(s, a)
	a.panes = [paneCount]pane{a.configure, a.train, a.samples, a.schedule, a.inpaint}
	if dir != "" {
		a.configure.load(s.cfg, dir)
	}
	return a, nil
}

// defaultSampleSchedule is the schedule the Samples pane starts with: the run's sampler
// (the paper's exp schedule at the run's length and start temperature).
func defaultSampleSchedule(cfg core.RunConfig) sampling.Schedule {
	if cfg.SampleSteps > 0 && cfg.SampleT0 > 0 {
		return cfg.SamplerConfig().Schedule
	}
	return sampling.DefaultSchedule()
}

// ExitMessage is what the program wants printed after it exits (e.g. how to follow a
// run that keeps training headless).
func (a *App) ExitMessage() string { return a.exitMsg }

// Trainer returns the trainer this workbench runs, if any.
func (a *App) Trainer() *core.Trainer { return a.s.trainer }

// Init starts the background-colour query and, for reopened or watched runs, loading.
func (a *App) Init() tea.Cmd {
	cmds := []tea.Cmd{tea.RequestBackgroundColor}
	switch {
	case a.s.opts.Watch != "":
		cmds = append(cmds, a.startWatch(a.s.opts.Watch))
	case a.reopen:
		cmds = append(cmds, a.loadHistoryCmd(a.s.runDir), a.startTraining())
	}
	return tea.Batch(cmds...)
}

// logf appends a line to the event log.
func (a *App) logf(level, format string, args ...any) {
	a.log = append(a.log, logLine{at: time.Now(), level: level, text: fmt.Sprintf(format, args...)})
	if len(a.log) > 500 {
		a.log = a.log[len(a.log)-500:]
	}
}

// Update handles a message: global keys and app-level messages first, then the active
// pane (or the pane a result is addressed to).
func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := a.update(msg)
	cmds := []tea.Cmd{cmd}
	cmds = append(cmds, a.syncImage()...)
	return a, tea.Batch(cmds...)
}

func (a *App) update(msg tea.Msg) tea.Cmd {
	switch m := msg.(type) {
	case tea.WindowSizeMsg:
		a.w, a.h = m.Width, m.Height
		a.help.SetWidth(m.Width)
		a.refreshCell()
		a.img.invalidate()
		if a.s.proto.IsGraphics() {
			return tea.ClearScreen
		}
		return nil
	case tea.BackgroundColorMsg:
		bg := backgroundOf(m.IsDark())
		a.s.st = newStyles(bg)
		a.help.Styles = helpStyles(bg)
		return nil
	case tea.KeyPressMsg:
		return a.handleKey(m)
	case placeMsg:
		return a.img.handlePlace(m)
	case blocksMsg:
		if a.img.blocksWant[m.key] {
			a.img.blocks[m.key] = m.s
		}
		return nil
	case logMsg:
		a.logf(m.level, "%s", m.text)
		return nil
	case trainerReadyMsg:
		return a.onTrainerReady(m)
	case trainerEventsMsg:
		return a.onTrainerEvents(m)
	case trainerStoppedMsg:
		if m.err != nil {
			a.logf("error", "stop: %v", m.err)
		}
		return nil
	case historyMsg:
		a.train.setHistory(m)
		if m.samplePath != "" {
			return loadPNGCmd("samples", m.samplePath)
		}
		return nil
	case watchMsg:
		return a.onWatch(m)
	case detachedMsg:
		if m.err != nil {
			a.quitNote = ""
			a.quitting = false
			a.logf("error", "keep training headless: %v", m.err)
			return nil
		}
		a.exitMsg = m.text
		return tea.Quit
	case quitStoppedMsg:
		return tea.Quit
	case pictureLoadedMsg:
		if m.err != nil {
			a.logf("warn", "%v", m.err)
			return nil
		}
		switch m.target {
		case "samples":
			return a.samples.update(m)
		case "inpaint":
			return a.inpaint.update(m)
		}
		return nil
	case chainMsg:
		switch m.target {
		case "samples":
			return a.samples.update(m)
		case "inpaint":
			return a.inpaint.update(m)
		}
		return nil
	case scheduleChangedMsg:
		return nil
	}
	// Results addressed to panes by type.
	var cmds []tea.Cmd
	for _, p := range a.panes {
		cmds = append(cmds, p.update(msg))
	}
	return tea.Batch(cmds...)
}

// handleKey routes a key press: quit dialog, help overlay, global keys, active pane.
func (a *App) handleKey(k tea.KeyPressMsg) tea.Cmd {
	if a.quitting {
		if k.String() == "ctrl+c" {
			return tea.Quit // second ctrl+c while stopping: leave now; the last checkpoint is intact
		}
		return nil
	}
	if a.quitAsk {
		switch {
		case key.Matches(k, qk.Stop):
			a.quitAsk, a.quitting = false, true
			a.quitNote = "stopping training: finishing the step and writing a checkpoint…"
			tr := a.s.trainer
			return func() tea.Msg { _ = tr.Stop(); return quitStoppedMsg{} }
		case key.Matches(k, qk.Keep):
			a.quitAsk, a.quitting = false, true
			a.quitNote = "stopping with a checkpoint, then training continues headless: mdsm train --resume " + a.s.runDir
			tr, dir, detach := a.s.trainer, a.s.runDir, a.s.opts.Detach
			return func() tea.Msg {
				if err := tr.Stop(); err != nil {
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
		switch k.String() {
		case "?", "esc", "q":
			a.showHelp = false
		case "ctrl+c":
			return a.requestQuit()
		}
		return nil
	}
	p := a.panes[a.active]
	if p.capturing() {
		if k.String() == "ctrl+c" {
			return a.requestQuit()
		}
		return p.update(k)
	}
	switch {
	case key.Matches(k, gk.Quit):
		return a.requestQuit()
	case key.Matches(k, gk.Help):
		a.showHelp = true
		return nil
	case key.Matches(k, gk.Configure):
		a.active = paneConfigure
		return nil
	case key.Matches(k, gk.Train):
		a.active = paneTrain
		return nil
	case key.Matches(k, gk.Samples):
		a.active = paneSamples
		return nil
	case key.Matches(k, gk.Schedule):
		a.active = paneSchedule
		return nil
	case key.Matches(k, gk.Inpaint):
		a.active = paneInpaint
		return a.inpaint.activate()
	}
	return p.update(k)
}

// quitStoppedMsg says the trainer stopped for quitting.
type quitStoppedMsg struct{}

// detachedMsg reports the headless continuation of a run.
type detachedMsg struct {
	text string
	err  error
}

// requestQuit quits, or asks first when this process is training.
func (a *App) requestQuit() tea.Cmd {
	if a.s.trainerActive() && !a.s.watch {
		a.quitAsk = true
		return nil
	}
	a.stopChains()
	return tea.Quit
}

// stopChains cancels running chains.
func (a *App) stopChains() {
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
		if sl, ok := a.panes[a.active].slot(bw, bh); ok && sl.pic.ok() && sl.r.w > 0 && sl.r.h > 0 {
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
	v.WindowTitle = "mdsm workbench"
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
		body = a.helpView(bw, bh)
	default:
		body = a.panes[a.active].view(bw, bh)
	}
	body = fit(body, bw, bh)
	lines := []string{a.tabsView(), st.rule.Render(strings.Repeat("─", a.w)), body, a.statusView(), a.hintView()}
	return strings.Join(lines, "\n")
}

// fit pads or cuts s to exactly h lines of at most w cells.
func fit(s string, w, h int) string {
	return lipgloss.NewStyle().Width(w).Height(h).MaxWidth(w).MaxHeight(h).Render(s)
}

func (a *App) tabsView() string {
	st := a.s.st
	parts := []string{st.title.Render(" mdsm ")}
	for i, p := range a.panes {
		label := fmt.Sprintf("%d %s", i+1, p.title())
		if i == a.active && !a.showHelp {
			parts = append(parts, st.tabActive.Render(label))
		} else {
			parts = append(parts, st.tab.Render(label))
		}
	}
	left := strings.Join(parts, " ")
	right := st.dim.Render("? help  q quit ")
	gap := a.w - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return left
	}
	return left + strings.Repeat(" ", gap) + right
}

func (a *App) statusView() string {
	s := a.s
	st := s.st
	sep := st.statusSep.Render(" │ ")
	run := s.runDir
	if run == "" {
		run = "(new run)"
	}
	state := s.state
	if s.watch {
		state = "watch: " + state
	}
	parts := []string{
		st.label.Render("run ") + st.status.Render(run),
		st.stateBadge(state),
		st.label.Render("step ") + st.value.Render(fmt.Sprintf("%d/%d", s.step, max(s.total, s.cfg.Steps))),
		st.label.Render("img/s ") + st.value.Render(fmt.Sprintf("%.0f", s.imagesPerSec)),
		st.label.Render("images ") + st.status.Render(s.proto.String()),
	}
	line := strings.Join(parts, sep)
	return lipgloss.NewStyle().MaxWidth(a.w).Render(line)
}

func (a *App) hintView() string {
	var bs []key.Binding
	switch {
	case a.quitAsk:
		bs = []key.Binding{qk.Stop, qk.Keep, qk.Cancel}
	case a.showHelp:
		bs = []key.Binding{bind([]string{"?"}, "?/esc", "close help")}
	default:
		bs = append(a.panes[a.active].keys(), gk.Help, gk.Quit)
	}
	return a.help.ShortHelpView(bs)
}

func (a *App) quitView(w, h int) string {
	st := a.s.st
	var b strings.Builder
	if a.quitting {
		b.WriteString(st.heading.Render("Quitting") + "\n\n" + a.quitNote + "\n\n" + st.dim.Render("ctrl+c again leaves at once (the last checkpoint is intact)"))
	} else {
		b.WriteString(st.heading.Render("Training is running") + "\n\n")
		fmt.Fprintf(&b, "Run %s is at step %d of %d.\n\n", a.s.runDir, a.s.step, a.s.total)
		b.WriteString(st.keyHint.Render("s") + "  stop training (checkpoint first) and quit\n")
		b.WriteString(st.keyHint.Render("k") + "  keep training headless: checkpoint, quit, and continue as\n")
		b.WriteString("   " + st.dim.Render("mdsm train --resume "+a.s.runDir) + " in the background\n")
		b.WriteString("   " + st.dim.Render("(follow it later with: mdsm watch "+a.s.runDir+")") + "\n")
		b.WriteString(st.keyHint.Render("esc") + " back to the workbench")
	}
	return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, st.dialog.Render(b.String()))
}

func (a *App) helpView(w, h int) string {
	st := a.s.st
	groups := []struct {
		name string
		keys []key.Binding
	}{
		{"Everywhere", gk.list()},
		{"1 Configure", ck.list()},
		{"2 Train", tk.list()},
		{"3 Samples", sk.list()},
		{"4 Schedule", shk.list()},
		{"5 Inpaint / Denoise", ik.list()},
	}
	var cols []string
	for _, g := range groups {
		cols = append(cols, st.heading.Render(g.name)+"\n"+a.help.FullHelpView([][]key.Binding{g.keys}))
	}
	colW := 0
	for _, c := range cols {
		colW = max(colW, lipgloss.Width(c))
	}
	perRow := max(1, (w-4)/(colW+3))
	var rows []string
	for i := 0; i < len(cols); i += perRow {
		var row []string
		for j := i; j < min(i+perRow, len(cols)); j++ {
			row = append(row, lipgloss.NewStyle().Width(colW+3).Render(cols[j]))
		}
		rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
	}
	content := st.title.Render("Keys") + "\n\n" + strings.Join(rows, "\n\n")
	return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Top, st.box.Render(content))
}
