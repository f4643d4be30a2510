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

// trainPane shows a run: its state and progress, the loss over the run (or over a step
// window, with a cursor that reads the values at a step), the runs marked in the Runs
// pane laid over it, the loss per noise level, a second row of charts (learning rate,
// images/s, the sample score of the periodic grids) and the event log. Its keys ask the
// root to control the run. Every step it shows comes from the run's event stream, live or
// followed alike.
type trainPane struct {
	loss, norm []chart.Point // the raw and the normalised loss per logged step
	lr, ips    []chart.Point
	sigma      [][]chart.Point // the raw loss per noise-level bin, per logged step
	score      []chart.Point   // the Frechet distance of each periodic grid, at its step
	floor      float64         // the score's floor (real images), when known
	lastLR     float64
	elapsed    time.Duration
	logY       bool
	raw        bool // show the raw loss instead of the normalised one
	perSigma   bool // the main chart shows the loss per noise level
	smoothing  float64
	win        chartView
	plotCols   int    // the main chart's width at the last render (the cursor's step size)
	status     string // the result of the last export

	extend textField // asking for a new total step count
}

func newTrainPane() trainPane {
	return trainPane{smoothing: 0.9, extend: newTextField(12), plotCols: 80}
}

func (p trainPane) title(bool) string                    { return "Train" }
func (p trainPane) capturing() bool                      { return p.extend.active }
func (p trainPane) slot(*session, int, int) (slot, bool) { return slot{}, false }

func (p trainPane) keys(s *session) []key.Binding {
	if p.extend.active {
		return []key.Binding{bind([]string{"enter"}, "enter", "set the total"), bind([]string{"esc"}, "esc", "cancel")}
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
		p.loss, p.norm, p.lr, p.ips = p.loss[:i:i], p.norm[:i:i], p.lr[:i:i], p.ips[:i:i]
		for b := range p.sigma {
			p.sigma[b] = cutFrom(p.sigma[b], x)
		}
		p.score = cutFrom(p.score, x)
	}
	p.loss = append(p.loss, chart.Point{X: x, Y: e.Loss})
	p.norm = append(p.norm, chart.Point{X: x, Y: e.NormLoss})
	p.lr = append(p.lr, chart.Point{X: x, Y: e.LR})
	p.ips = append(p.ips, chart.Point{X: x, Y: e.ImagesPerSec})
	if k := len(e.SigmaLoss); k > 0 {
		if len(p.sigma) != k {
			p.sigma = make([][]chart.Point, k)
		}
		for b, v := range e.SigmaLoss {
			p.sigma[b] = append(p.sigma[b], chart.Point{X: x, Y: v})
		}
	}
	p.lastLR, p.elapsed = e.LR, e.Elapsed
	return p
}

// cutFrom drops the points at or after x.
func cutFrom(pts []chart.Point, x float64) []chart.Point {
	i := len(pts)
	for i > 0 && pts[i-1].X >= x {
		i--
	}
	return pts[:i:i]
}

// addScore records a periodic grid's score (once per grid step).
func (p trainPane) addScore(e core.SampleEvent) trainPane {
	sc := e.Score
	if sc == nil || sc.Modes > 0 || !(sc.FD >= 0) {
		return p
	}
	x := float64(sc.Step)
	if n := len(p.score); n > 0 && x <= p.score[n-1].X {
		if x == p.score[n-1].X {
			return p
		}
		p.score = cutFrom(p.score, x)
	}
	p.score = append(p.score, chart.Point{X: x, Y: sc.FD})
	p.floor = sc.Floor
	return p
}

func (p trainPane) reset() trainPane {
	q := newTrainPane()
	q.logY, q.raw, q.perSigma, q.smoothing = p.logY, p.raw, p.perSigma, p.smoothing
	return q
}

func (p trainPane) update(s *session, msg tea.Msg) (trainPane, out) {
	switch m := msg.(type) {
	case runEventsMsg:
		for _, ev := range m.events {
			switch e := ev.(type) {
			case core.StepEvent:
				p = p.addStep(e)
			case core.SampleEvent:
				p = p.addScore(e)
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
	case bodySizeMsg:
		p.plotCols = max(8, m.w-8)
		return p, out{}
	case exportedMsg:
		p.status = m.note()
		return p, out{}
	case tea.KeyPressMsg:
		return p.key(s, m)
	}
	cmd := p.extend.update(msg) // before p is read
	return p, do(cmd)
}

// extent is the step range of the data: the run's, else the overlaid runs'.
func (p trainPane) extent(s *session) (first, last float64, ok bool) {
	if n := len(p.loss); n > 0 {
		return p.loss[0].X, p.loss[n-1].X, true
	}
	first, last = math.Inf(1), math.Inf(-1)
	for _, o := range s.overlays {
		if n := len(o.raw); n > 0 {
			first, last = math.Min(first, o.raw[0].X), math.Max(last, o.raw[n-1].X)
		}
	}
	return first, last, last >= first
}

func (p trainPane) key(s *session, k tea.KeyPressMsg) (trainPane, out) {
	setTotal := func(text string) out {
		n, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil || n <= s.step {
			return logf("error", fmt.Sprintf("total steps: %q is not a step count above %d", text, s.step))
		}
		return ask(runCtlMsg{op: opExtend, steps: n})
	}
	if o, took := p.extend.take(k, setTotal); took {
		return p, o
	}
	first, last, have := p.extent(s)
	switch {
	case key.Matches(k, tk.LogScale):
		p.logY = !p.logY
	case key.Matches(k, tk.Raw):
		p.raw = !p.raw
	case key.Matches(k, tk.Smooth):
		p.smoothing = math.Min(0.99, math.Max(p.smoothing+0.05, 0.5))
	case key.Matches(k, tk.Unsmooth):
		p.smoothing = math.Max(0, p.smoothing-0.05)
		if p.smoothing < 0.05 {
			p.smoothing = 0
		}
	case key.Matches(k, tk.Main):
		p.perSigma = !p.perSigma
	case key.Matches(k, tk.ZoomIn) && have:
		p.win = p.win.zoom(first, last, 0.5)
	case key.Matches(k, tk.ZoomOut) && have:
		p.win = p.win.zoom(first, last, 2)
	case key.Matches(k, tk.Fit):
		p.win.lo, p.win.hi, p.win.follow = 0, 0, false
	case key.Matches(k, tk.PanLeft) && have:
		p.win = p.win.pan(first, last, -1)
	case key.Matches(k, tk.PanRight) && have:
		p.win = p.win.pan(first, last, 1)
	case (key.Matches(k, tk.Left) || key.Matches(k, tk.Right)) && have:
		lo, hi, _ := p.win.window(first, last)
		step := math.Max(1, math.Round((hi-lo)/float64(max(1, p.plotCols))))
		if key.Matches(k, tk.Left) {
			step = -step
		}
		p.win = p.win.moveCursor(first, last, step)
	case key.Matches(k, tk.CursorOff):
		p.win.cursorOn = false
	case key.Matches(k, tk.Save):
		if !have {
			p.status = "nothing to write yet"
			return p, out{}
		}
		lo, hi, _ := p.win.window(first, last)
		csv := p.csv(s, lo, hi)
		return p, do(exportCmd(paneTrain, s.runDir, "train", ".csv", "CSV of the chart window", csv))
	case key.Matches(k, tk.Start):
		if s.status == statusFinished && !s.watch {
			cmd := p.extend.open(strconv.Itoa(s.totalSteps() + s.cfg.Steps)) // before p is read
			return p, do(cmd)
		}
		return p, ask(runCtlMsg{op: opStart})
	case key.Matches(k, tk.Total):
		cmd := p.extend.open(strconv.Itoa(s.totalSteps() + max(s.cfg.Steps/2, 1)))
		return p, do(cmd)
	case key.Matches(k, tk.Pause):
		return p, ask(runCtlMsg{op: opPause})
	case key.Matches(k, tk.Stop):
		return p, ask(runCtlMsg{op: opStop})
	case key.Matches(k, tk.Checkpoint):
		return p, ask(runCtlMsg{op: opCheckpoint})
	}
	return p, out{}
}

// layout splits the pane's height: header, chart title, main chart, readout, second row
// of charts, event log.
func (p trainPane) layout(h, head int) (mainH, rowH, logH int) {
	logH = min(8, max(2, h/6))
	rowH = 0
	if h >= 18 {
		rowH = min(8, max(4, h/5))
	}
	mainH = h - head - 1 - 1 - rowH - 1 - logH
	if mainH < 5 && rowH > 0 {
		mainH, rowH = mainH+rowH, 0
	}
	return max(3, mainH), rowH, logH
}

func (p trainPane) view(s *session, w, h int) string {
	st := s.st
	head := flow(p.header(s, w), w, 3)
	if p.extend.active {
		prompt := "total steps"
		if s.status == statusFinished {
			prompt = "extend the finished run to"
		}
		head = append(head, st.key.Render(prompt)+" "+p.extend.view()+" "+st.dim.Render("steps (enter sets it, esc cancels)"))
	}
	mainH, rowH, logH := p.layout(h, len(head))
	first, last, have := p.extent(s)
	lo, hi, zoomed := p.win.window(first, last)
	lines := append(head, clip(p.chartTitle(s, lo, hi, zoomed), w))
	if !have {
		lines = append(lines, lipgloss.Place(w, mainH, lipgloss.Center, lipgloss.Center, st.placeholder.Render(truncate(p.emptyHint(s), w))))
	} else {
		lines = append(lines, p.mainChart(s, lo, hi, zoomed).Render(w, mainH))
	}
	lines = append(lines, clip(p.readout(s, lo, hi, zoomed), w))
	if rowH > 0 {
		lines = append(lines, p.secondRow(s, w, rowH, lo, hi))
	}
	lines = append(lines, st.heading.Render("Events"))
	lines = append(lines, p.events(s, w, logH)...)
	return strings.Join(lines, "\n")
}

// lossLabel names the loss shown.
func (p trainPane) lossLabel() string {
	if p.raw {
		return "raw loss"
	}
	return "normalised loss"
}

func (p trainPane) chartTitle(s *session, lo, hi float64, zoomed bool) string {
	st := s.st
	scale := "linear"
	if p.logY {
		scale = "log"
	}
	what := p.lossLabel()
	if p.perSigma {
		what += " per noise level"
	}
	d := " " + st.g.dot + " "
	note := fmt.Sprintf("  %s%s%s y (l)%ssmoothing %.2f (+/-)%sm %s%sr raw/normalised", what, d, scale, d, p.smoothing, d,
		map[bool]string{false: "per noise level", true: "loss"}[p.perSigma], d)
	if zoomed {
		note += fmt.Sprintf("%ssteps %d–%d (z/Z, </>, f all)", d, int(lo), int(hi))
	} else if n := len(p.loss); n > 20 && !p.perSigma {
		note += fmt.Sprintf("%sy fits steps ≥ %d", d, int(p.yFrom()))
	}
	return st.heading.Render("Loss") + st.dim.Render(note)
}

// yFrom is where the y range of the whole run starts: after its first tenth, so that the
// early transient does not squash the rest.
func (p trainPane) yFrom() float64 {
	if n := len(p.loss); n > 20 {
		first, last := p.loss[0].X, p.loss[n-1].X
		return first + 0.1*(last-first)
	}
	return 0
}

// shown is the run's loss series as the pane shows it (normalised or raw).
func (p trainPane) shown() []chart.Point {
	if p.raw {
		return p.loss
	}
	return p.norm
}

// sigmaSeries is the loss per noise-level bin as shown (normalised: times sigma0^4).
func (p trainPane) sigmaSeries(s *session) ([]chart.Series, []core.SigmaBin) {
	bins := core.SigmaBins(s.cfg, len(p.sigma))
	scale := 1.0
	if !p.raw {
		scale = math.Pow(s.cfg.Sigma0, 4)
	}
	var out []chart.Series
	for b, pts := range p.sigma {
		q := make([]chart.Point, len(pts))
		for i, pt := range pts {
			q[i] = chart.Point{X: pt.X, Y: pt.Y * scale}
		}
		name := fmt.Sprintf("bin %d", b+1)
		if bins != nil { // the bins' upper ends, compact enough for 8 entries at 80 columns
			le := "≤"
			if s.st.marker == chart.ASCII {
				le = "<="
			}
			name = le + strconv.FormatFloat(bins[b].Hi, 'g', 2, 64)
			if b == 0 {
				name = s.st.g.sigma + name
			}
		}
		out = append(out, chart.Series{Name: name, Points: q, Color: s.st.sigma[b%len(s.st.sigma)]})
	}
	return out, bins
}

// overlaySeries is the marked runs' loss curves (the open run itself left out), in the
// curve colours after the run's own.
func (p trainPane) overlaySeries(s *session) []chart.Series {
	var out []chart.Series
	for i, o := range s.overlays {
		if o.sum.Dir == s.runDir {
			continue
		}
		pts := o.norm
		if p.raw {
			pts = o.raw
		}
		out = append(out, chart.Series{Name: o.name(), Points: pts, Color: s.st.curve(i + 1)})
	}
	return out
}

// runName is how the legend names the open run.
func runName(s *session) string {
	if s.runDir == "" {
		return "this run"
	}
	return baseName(strings.TrimRight(s.runDir, "/"))
}

func (p trainPane) mainChart(s *session, lo, hi float64, zoomed bool) chart.LineChart {
	st := s.st
	c := chart.LineChart{Smoothing: p.smoothing, LogY: p.logY, XLabel: "step", AxisColor: st.axis, Marker: st.marker,
		Cursor: p.win.cursor, ShowCursor: p.win.cursorOn}
	c.XFrom, c.XTo = lo, hi // the same x axis as the charts under it
	if !zoomed {
		c.YFrom = p.yFrom()
	}
	if p.perSigma {
		c.Series, _ = p.sigmaSeries(s)
		c.HideRaw, c.LegendNoValues = true, true // eight curves: their smoothed lines only
		if len(c.Series) == 0 {
			c.Series = []chart.Series{{Name: "no loss per noise level in this run's metrics (an older run, one noise level, or a GPU run)"}}
		}
		return c
	}
	over := p.overlaySeries(s)
	name := p.lossLabel()
	if len(over) > 0 {
		name = runName(s)
		c.HideRaw = c.Smoothing > 0 // several runs: their smoothed curves, as TensorBoard's lines
	}
	if len(p.loss) > 0 {
		c.Series = append(c.Series, chart.Series{Name: name, Points: p.shown(), Color: st.series})
	}
	c.Series = append(c.Series, over...)
	return c
}

// secondRow is the learning rate, images/s and sample score charts side by side.
func (p trainPane) secondRow(s *session, w, h int, lo, hi float64) string {
	st := s.st
	cw := (w - 2) / 3
	mk := func(name string, pts []chart.Point, col int, log bool) string {
		c := chart.LineChart{Series: []chart.Series{{Name: name, Points: pts, Color: st.curve(col)}}, LogY: log,
			AxisColor: st.axis, Marker: st.marker, Cursor: p.win.cursor, ShowCursor: p.win.cursorOn,
			XFrom: lo, XTo: hi, NoXLabels: true}
		return c.Render(cw, h)
	}
	score := "sample FD"
	if p.floor > 0 {
		score += " (floor " + chart.FormatSI(p.floor) + ")"
	}
	var third string
	if len(p.score) == 0 {
		third = lipgloss.Place(w-2*cw-2, h, lipgloss.Center, lipgloss.Center,
			st.placeholder.Render(strings.Join(wrap("sample score: none yet (periodic grids of a dataset with a classifier)", max(8, w-2*cw-4)), "\n")))
	} else {
		c := chart.LineChart{Series: []chart.Series{{Name: score, Points: p.score, Color: st.curve(3)}},
			AxisColor: st.axis, Marker: st.marker, Cursor: p.win.cursor, ShowCursor: p.win.cursorOn,
			XFrom: lo, XTo: hi, NoXLabels: true}
		third = c.Render(w-2*cw-2, h)
	}
	return lipgloss.JoinHorizontal(lipgloss.Top, mk("lr", p.lr, 1, false), " ", mk("img/s", p.ips, 2, false), " ", third)
}

// readout is the line under the main chart: the values at the cursor's step, or how to
// get a cursor.
func (p trainPane) readout(s *session, lo, hi float64, zoomed bool) string {
	st := s.st
	if !p.win.cursorOn {
		return st.dim.Render(st.g.left+"/"+st.g.right+" cursor (values at a step) "+st.g.dot+" z/Z zoom "+st.g.dot+" </> pan "+st.g.dot+
			" f whole run "+st.g.dot+" w CSV "+st.g.dot+" W screen PNG") + p.statusText(st)
	}
	x := p.win.cursor
	val := func(label string, pts []chart.Point, f func(float64) string) string {
		if pt, ok := at(pts, x); ok {
			return st.label.Render(label+" ") + st.value.Render(f(pt.Y))
		}
		return ""
	}
	parts := []string{st.key.Render(st.g.cursor + " step " + strconv.Itoa(int(x)))}
	if p.perSigma {
		series, _ := p.sigmaSeries(s)
		for _, sr := range series {
			if pt, ok := at(sr.Points, x); ok {
				parts = append(parts, lipgloss.NewStyle().Foreground(sr.Color).Render(sr.Name+" "+chart.FormatSI(pt.Y)))
			}
		}
	} else {
		if v := val(p.lossLabel(), p.shown(), chart.FormatSI); v != "" {
			if sm, ok := smoothedAt(p.shown(), x, p.smoothing); ok && p.smoothing > 0 {
				v += st.dim.Render(" (smoothed " + chart.FormatSI(sm) + ")")
			}
			parts = append(parts, v)
		}
		for _, o := range p.overlaySeries(s) {
			if pt, ok := at(o.Points, x); ok {
				parts = append(parts, lipgloss.NewStyle().Foreground(o.Color).Render(o.Name+" "+chart.FormatSI(pt.Y)))
			}
		}
	}
	parts = append(parts, val("lr", p.lr, func(v float64) string { return fmt.Sprintf("%.2e", v) }),
		val("img/s", p.ips, func(v float64) string { return fmt.Sprintf("%.0f", v) }))
	if pt, ok := at(p.score, x); ok {
		parts = append(parts, st.label.Render("FD ")+st.value.Render(chart.FormatSI(pt.Y))+st.dim.Render(fmt.Sprintf(" (grid of step %d)", int(pt.X))))
	}
	var kept []string
	for _, v := range parts {
		if v != "" {
			kept = append(kept, v)
		}
	}
	return strings.Join(kept, "  ")
}

func (p trainPane) statusText(st *styles) string {
	if p.status == "" {
		return ""
	}
	return "  " + st.hint.Render(p.status)
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
		return "press s to start training (settings: 1 Configure; other runs: 6 Runs)"
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
