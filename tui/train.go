package tui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"mdsm/core"
	"mdsm/tui/chart"
)

// trainPane shows a run: its state and progress, the loss over the whole run, learning
// rate, throughput, checkpoints and the event log. Its keys ask the root to control the
// run. Every step it shows comes from the run's event stream, live or followed alike.
type trainPane struct {
	loss, norm []chart.Point // the raw and the normalised loss per logged step
	lastLR     float64
	elapsed    time.Duration
	logY       bool
	raw        bool // show the raw loss instead of the normalised one
	smoothing  float64

	extend textField // asking for the new total of a finished run
}

func newTrainPane() trainPane {
	return trainPane{smoothing: 0.9, extend: newTextField(12)}
}

func (p trainPane) title(bool) string                    { return "Train" }
func (p trainPane) capturing() bool                      { return p.extend.active }
func (p trainPane) slot(*session, int, int) (slot, bool) { return slot{}, false }

func (p trainPane) keys(s *session) []key.Binding {
	switch {
	case p.extend.active:
		return []key.Binding{bind([]string{"enter"}, "enter", "extend"), bind([]string{"esc"}, "esc", "cancel")}
	case !s.controls():
		return tk.chartKeys()
	}
	return tk.list()
}

// addStep records a step. A step at or before the newest one means the run went back (a
// resume redoes steps after its checkpoint, a followed run's metrics were rewritten): what
// comes after it is dropped first.
func (p trainPane) addStep(e core.StepEvent) trainPane {
	x := float64(e.Step)
	if n := len(p.loss); n > 0 && x <= p.loss[n-1].X {
		i := n
		for i > 0 && p.loss[i-1].X >= x {
			i--
		}
		p.loss, p.norm = p.loss[:i:i], p.norm[:i:i]
	}
	p.loss = append(p.loss, chart.Point{X: x, Y: e.Loss})
	p.norm = append(p.norm, chart.Point{X: x, Y: e.NormLoss})
	p.lastLR, p.elapsed = e.LR, e.Elapsed
	return p
}

func (p trainPane) reset() trainPane {
	p.loss, p.norm, p.lastLR, p.elapsed, p.extend.active = nil, nil, 0, 0, false
	return p
}

func (p trainPane) update(s *session, msg tea.Msg) (trainPane, out) {
	switch m := msg.(type) {
	case runEventsMsg:
		for _, ev := range m.events {
			if e, ok := ev.(core.StepEvent); ok {
				p = p.addStep(e)
			}
		}
		return p, out{}
	case newRunMsg:
		return p.reset(), out{}
	case runOpenedMsg:
		if m.err == nil {
			p = p.reset() // the run's history comes with its events
		}
		return p, out{}
	case tea.KeyPressMsg:
		return p.key(s, m)
	}
	cmd := p.extend.update(msg) // before p is read
	return p, do(cmd)
}

func (p trainPane) key(s *session, k tea.KeyPressMsg) (trainPane, out) {
	extendTo := func(text string) out {
		n, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil || n <= s.step {
			return logf("error", fmt.Sprintf("extend: %q is not a step count above %d", text, s.step))
		}
		return ask(runCtlMsg{op: opExtend, steps: n})
	}
	if o, took := p.extend.take(k, extendTo); took {
		return p, o
	}
	switch {
	case key.Matches(k, tk.LogScale):
		p.logY = !p.logY
		return p, out{}
	case key.Matches(k, tk.Raw):
		p.raw = !p.raw
		return p, out{}
	case key.Matches(k, tk.Smooth):
		p.smoothing = math.Min(0.99, math.Max(p.smoothing+0.05, 0.5))
		return p, out{}
	case key.Matches(k, tk.Unsmooth):
		p.smoothing = math.Max(0, p.smoothing-0.05)
		if p.smoothing < 0.05 {
			p.smoothing = 0
		}
		return p, out{}
	}
	if !s.controls() {
		for _, b := range []key.Binding{tk.Start, tk.Pause, tk.Stop, tk.Checkpoint} {
			if key.Matches(k, b) {
				return p, logf("warn", "watching: the run is trained by another process (mdsm train); control it there")
			}
		}
		return p, out{}
	}
	switch {
	case key.Matches(k, tk.Start):
		if s.status == statusFinished {
			cmd := p.extend.open(strconv.Itoa(s.totalSteps() + s.cfg.Steps)) // before p is read
			return p, do(cmd)
		}
		return p, ask(runCtlMsg{op: opStart})
	case key.Matches(k, tk.Pause):
		return p, ask(runCtlMsg{op: opPause})
	case key.Matches(k, tk.Stop):
		return p, ask(runCtlMsg{op: opStop})
	case key.Matches(k, tk.Checkpoint):
		return p, ask(runCtlMsg{op: opCheckpoint})
	}
	return p, out{}
}

func (p trainPane) view(s *session, w, h int) string {
	st := s.st
	head := flow(p.header(s, w), w, 3)
	if p.extend.active {
		head = append(head, st.key.Render("extend the finished run to")+" "+p.extend.view()+" "+st.dim.Render("steps (enter, esc cancels)"))
	}
	logH := min(8, max(3, h/5))
	chartH := max(3, h-len(head)-logH-3)
	series, label := p.norm, "normalised loss"
	if p.raw {
		series, label = p.loss, "raw loss"
	}
	yFrom := 0.0
	if n := len(series); n > 20 {
		first, last := series[0].X, series[n-1].X
		yFrom = first + 0.1*(last-first)
	}
	scale := "linear"
	if p.logY {
		scale = "log"
	}
	note := fmt.Sprintf("  %s · %s y (l) · smoothing %.2f (+/-) · r raw/normalised", label, scale, p.smoothing)
	if yFrom > 0 {
		note += fmt.Sprintf(" · y fits steps ≥ %d", int(yFrom))
	}
	title := st.heading.Render("Loss") + st.dim.Render(note)
	var body string
	if len(series) == 0 {
		body = lipgloss.Place(w, chartH, lipgloss.Center, lipgloss.Center, st.placeholder.Render(truncate(p.emptyHint(s), w)))
	} else {
		c := chart.LineChart{Series: []chart.Series{{Name: label, Points: series, Color: st.series}}, Smoothing: p.smoothing,
			LogY: p.logY, YFrom: yFrom, XLabel: "step", AxisColor: st.axis, Marker: st.marker}
		body = c.Render(w, chartH)
	}
	lines := append(head, "", clip(title, w), body, st.heading.Render("Events"))
	lines = append(lines, p.events(s, w, logH)...)
	return strings.Join(lines, "\n")
}

// header is the run's state, progress and numbers, as parts for flow.
func (p trainPane) header(s *session, w int) []string {
	st := s.st
	total := s.totalSteps()
	frac := math.Min(1, float64(s.step)/float64(total))
	eta := "–"
	if s.eta > 0 && s.status == statusRunning {
		eta = s.eta.Round(time.Second).String()
	}
	value := func(label, v string) string { return st.label.Render(label+" ") + st.value.Render(v) }
	parts := []string{
		st.stateBadge(s.status, s.statusLabel()),
		value("step", fmt.Sprintf("%d/%d", s.step, total)),
		progressBar(st, frac, max(10, min(30, w/4))) + st.dim.Render(fmt.Sprintf(" %3.0f%%", 100*frac)),
		value("ETA", eta),
		value("img/s", fmt.Sprintf("%.0f", s.imagesPerSec)),
	}
	if n := len(p.norm); n > 0 {
		parts = append(parts, value("loss", chart.FormatSI(p.norm[n-1].Y))+st.dim.Render(" (raw "+chart.FormatSI(p.loss[n-1].Y)+")"))
	}
	parts = append(parts, value("lr", fmt.Sprintf("%.2e", p.lastLR)), value("elapsed", p.elapsed.Round(time.Second).String()))
	ckpt := "none yet"
	if !s.ckptAt.IsZero() {
		ckpt = fmt.Sprintf("step %d, %s ago", s.ckptStep, time.Since(s.ckptAt).Round(time.Second))
	}
	parts = append(parts, value("checkpoint", ckpt))
	if s.watch && !s.lastStepAt.IsZero() {
		parts = append(parts, value("last step logged", time.Since(s.lastStepAt).Round(time.Second).String()+" ago"))
	}
	// a distributed run: the ranks' images/s beside the model
	parts = append(parts, st.label.Render("model ")+st.status.Render(fmt.Sprintf("%s on %s, batch %d", s.cfg.Model.Preset, s.cfg.Data, s.cfg.BatchSize))+
		st.dim.Render(core.RankRatesText(s.rankRates)))
	return parts
}

// events is the newest event log lines, wrapped to the width, in at most n rows.
func (p trainPane) events(s *session, w, n int) []string {
	st := s.st
	var rows []string
	for i := len(s.log) - 1; i >= 0 && len(rows) < n; i-- {
		l := s.log[i]
		stamp := l.at.Format("15:04:05 ")
		wrapped := wrap(l.text, max(10, w-len(stamp)))
		for j := len(wrapped) - 1; j >= 0 && len(rows) < n; j-- {
			prefix := spaces(len(stamp))
			if j == 0 {
				prefix = st.dim.Render(stamp)
			}
			rows = append(rows, prefix+st.logStyle(l.level).Render(wrapped[j]))
		}
	}
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	return rows
}

func (p trainPane) emptyHint(s *session) string {
	switch {
	case s.watch:
		return "waiting for metrics.jsonl…"
	case s.status == statusOpening:
		return "loading data…"
	case s.run == nil && s.reopen:
		return "press s to resume " + s.runDir
	case s.run == nil:
		return "press s to start training (settings: 1 Configure)"
	}
	return "waiting for the first step…"
}

// progressBar draws frac of w cells, without gaps, in the accent colour.
func progressBar(st *styles, frac float64, w int) string {
	full := int(math.Round(frac * float64(w)))
	full = min(max(full, 0), w)
	var bar string
	if full > 0 {
		bar = lipgloss.NewStyle().Foreground(st.accent).Render(strings.Repeat(st.g.barFull, full))
	}
	if full < w {
		bar += st.dim.Render(strings.Repeat(st.g.barEmpty, w-full))
	}
	return bar
}
