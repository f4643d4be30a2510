package tui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/progress"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"mdsm/core"
	"mdsm/tui/chart"
)

// trainPane shows a run: progress, the loss over the whole run, learning rate,
// throughput, checkpoints and the event log; its keys control the trainer.
type trainPane struct {
	s   *session
	app *App

	loss      []chart.Point
	lastLoss  float64
	lastLR    float64
	elapsed   time.Duration
	logY      bool
	smoothing float64
	bar       progress.Model
}

func newTrainPane(s *session, a *App) *trainPane {
	return &trainPane{s: s, app: a, smoothing: 0.9,
		bar: progress.New(progress.WithDefaultBlend(), progress.WithoutPercentage())}
}

func (p *trainPane) title() string              { return "Train" }
func (p *trainPane) keys() []key.Binding        { return tk.list() }
func (p *trainPane) capturing() bool            { return false }
func (p *trainPane) slot(int, int) (slot, bool) { return slot{}, false }

// addStep records a step event.
func (p *trainPane) addStep(e core.StepEvent) {
	p.loss = append(p.loss, chart.Point{X: float64(e.Step), Y: e.Loss})
	p.lastLoss, p.lastLR, p.elapsed = e.Loss, e.LR, e.Elapsed
}

// addRecord records a metrics.jsonl line (watch mode and reopened runs).
func (p *trainPane) addRecord(r core.MetricRecord) {
	if n := len(p.loss); n > 0 && float64(r.Step) <= p.loss[n-1].X {
		// metrics were truncated by a resume: drop what comes after
		i := n
		for i > 0 && p.loss[i-1].X >= float64(r.Step) {
			i--
		}
		p.loss = p.loss[:i]
	}
	p.loss = append(p.loss, chart.Point{X: float64(r.Step), Y: r.Loss})
	p.lastLoss, p.lastLR = r.Loss, r.LR
	p.elapsed = time.Duration(r.Elapsed * float64(time.Second))
}

// setHistory loads the metrics of a reopened run, keeping steps already received from a
// resumed trainer.
func (p *trainPane) setHistory(m historyMsg) {
	old := p.loss
	p.loss = nil
	for _, r := range m.records {
		p.addRecord(r)
	}
	last := -1.0
	if n := len(p.loss); n > 0 {
		last = p.loss[n-1].X
	}
	for _, pt := range old {
		if pt.X > last {
			p.loss = append(p.loss, pt)
		}
	}
	if n := len(m.records); n > 0 && p.s.trainer == nil {
		rec := m.records[n-1]
		p.s.step, p.s.imagesPerSec, p.s.rankRates = rec.Step, rec.ImagesPerSec, rec.RankImagesPerSec
	}
	if m.err != nil {
		p.app.logf("warn", "%v", m.err)
	}
}

func (p *trainPane) update(msg tea.Msg) tea.Cmd {
	if _, ok := msg.(newRunMsg); ok {
		p.loss, p.lastLoss, p.lastLR, p.elapsed = nil, 0, 0, 0
		return nil
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	s := p.s
	switch {
	case key.Matches(k, tk.Start):
		return p.app.startTraining()
	case key.Matches(k, tk.Pause):
		if p.readOnly() {
			return nil
		}
		switch s.trainer.State() {
		case core.Running:
			s.trainer.Pause()
			p.app.logf("info", "paused at step %d", s.step)
		case core.Paused:
			s.trainer.Resume()
			p.app.logf("info", "resumed")
		}
	case key.Matches(k, tk.Stop):
		if p.readOnly() || !s.trainerActive() {
			return nil
		}
		s.state = "stopping"
		p.app.logf("info", "stopping: finishing the step and writing a checkpoint…")
		return stopCmd(s.trainer, s.gen)
	case key.Matches(k, tk.Checkpoint):
		if p.readOnly() || !s.trainerActive() {
			return nil
		}
		s.trainer.CheckpointNow()
		p.app.logf("info", "checkpoint requested")
	case key.Matches(k, tk.LogScale):
		p.logY = !p.logY
	case key.Matches(k, tk.Smooth):
		p.smoothing = math.Min(0.99, p.smoothing+0.05)
		if p.smoothing < 0.05 {
			p.smoothing = 0.5
		}
	case key.Matches(k, tk.Unsmooth):
		p.smoothing = math.Max(0, p.smoothing-0.05)
		if p.smoothing < 0.05 {
			p.smoothing = 0
		}
	}
	return nil
}

// readOnly reports (and logs) when there is no trainer of ours to control.
func (p *trainPane) readOnly() bool {
	if p.s.watch {
		p.app.logf("warn", "watching: the run is trained by another process")
		return true
	}
	if p.s.trainer == nil {
		p.app.logf("info", "no training yet: press s to start")
		return true
	}
	return false
}

func (p *trainPane) view(w, h int) string {
	s, st := p.s, p.s.st
	total := max(s.total, s.cfg.Steps, 1)
	frac := math.Min(1, float64(s.step)/float64(total))
	p.bar.SetWidth(max(10, min(50, w/3)))
	eta := "–"
	if s.eta > 0 && (s.state == "running" || s.state == "live") {
		eta = s.eta.Round(time.Second).String()
	}
	line1 := strings.Join([]string{
		st.stateBadge(p.stateText()),
		st.label.Render("step ") + st.value.Render(fmt.Sprintf("%d/%d", s.step, total)),
		p.bar.ViewAs(frac) + st.dim.Render(fmt.Sprintf(" %3.0f%%", 100*frac)),
		st.label.Render("ETA ") + st.value.Render(eta),
		st.label.Render("img/s ") + st.value.Render(fmt.Sprintf("%.0f", s.imagesPerSec)),
	}, "  ")
	ckpt := "none yet"
	if !s.lastCkptAt.IsZero() {
		ckpt = fmt.Sprintf("step %d, %s ago", s.lastCkptStep, time.Since(s.lastCkptAt).Round(time.Second))
	}
	line2 := strings.Join([]string{
		st.label.Render("loss ") + st.value.Render(chart.FormatSI(p.lastLoss)),
		st.label.Render("lr ") + st.value.Render(fmt.Sprintf("%.2e", p.lastLR)),
		st.label.Render("elapsed ") + st.value.Render(p.elapsed.Round(time.Second).String()),
		st.label.Render("last checkpoint ") + st.value.Render(ckpt),
		st.label.Render("model ") + st.status.Render(fmt.Sprintf("%s on %s, batch %d", s.cfg.Model.Preset, s.cfg.Data, s.cfg.BatchSize)) +
			st.dim.Render(core.RankRatesText(s.rankRates)),
	}, "  ")
	logH := min(8, max(3, h/5))
	chartH := max(4, h-4-logH-1)
	scale := "linear"
	if p.logY {
		scale = "log"
	}
	head := st.heading.Render("Loss") + st.dim.Render(fmt.Sprintf("  whole run, %d points · %s y (l) · smoothing %.2f (+/-)", len(p.loss), scale, p.smoothing))
	var body string
	if len(p.loss) == 0 {
		body = lipgloss.Place(w, chartH, lipgloss.Center, lipgloss.Center, st.placeholder.Render(p.emptyHint()))
	} else {
		c := chart.LineChart{Series: []chart.Series{{Name: "loss", Points: p.loss}}, Smoothing: p.smoothing, LogY: p.logY, XLabel: "step", AxisColor: p.s.st.axis}
		body = c.Render(w, chartH)
	}
	logs := p.app.log
	if len(logs) > logH {
		logs = logs[len(logs)-logH:]
	}
	var lb strings.Builder
	for i, l := range logs {
		if i > 0 {
			lb.WriteByte('\n')
		}
		lb.WriteString(st.dim.Render(l.at.Format("15:04:05 ")) + st.logStyle(l.level).Render(l.text))
	}
	lines := []string{line1, line2, "", head, body, st.heading.Render("Events"), lipgloss.NewStyle().MaxWidth(w).Render(lb.String())}
	return strings.Join(lines, "\n")
}

func (p *trainPane) stateText() string {
	if p.s.watch {
		return "watch: " + p.s.state
	}
	return p.s.state
}

func (p *trainPane) emptyHint() string {
	switch {
	case p.s.watch:
		return "waiting for metrics.jsonl…"
	case p.s.state == "loading":
		return "loading data…"
	case p.s.trainer == nil && p.s.runDir != "":
		return "press s to resume " + p.s.runDir
	case p.s.trainer == nil:
		return "press s to start training (settings: 1 Configure)"
	}
	return "waiting for the first step…"
}
