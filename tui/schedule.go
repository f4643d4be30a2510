package tui

import (
	"fmt"
	"math"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"mdsm/sampling"
	"mdsm/tui/chart"
)

// schedulePane edits the sampler the next sampling job uses: the annealing temperature
// schedule (presets, control points, start temperature, length) and the step length eps.
// Control points sit on whole steps, never two on one step, and move by 2% of the steps;
// the chart draws the schedule as stored. Edits change the session's sampler at once;
// w saves it as the run's sampler (RUN/sampler.json), in live and watch mode alike.
type schedulePane struct {
	selected int
	status   string
}

func (p schedulePane) title(short bool) string {
	if short {
		return "Sched"
	}
	return "Schedule"
}
func (p schedulePane) capturing() bool                      { return false }
func (p schedulePane) slot(*session, int, int) (slot, bool) { return slot{}, false }
func (p schedulePane) keys(*session) []key.Binding          { return shk.list() }

// stepOf is the step of a fraction of an n-step chain; fracOf its inverse.
func stepOf(frac float64, n int) int { return int(math.Round(frac * float64(max(n-1, 0)))) }
func fracOf(k, n int) float64 {
	if n <= 1 {
		return 0
	}
	return float64(k) / float64(n-1)
}

// editable is sch as the editor works on it: piecewise, its points on whole steps, never
// two on one step and no flat pair on neighbouring steps (the exp preset's end of descent
// and start of the ramp, both at T = 1, become one point). It differs from sch by at most
// a step's shift of the points.
func editable(sch sampling.Schedule) sampling.Schedule {
	p, err := sch.ToPiecewise()
	if err != nil {
		return sch
	}
	n := p.Steps
	var pts []sampling.ControlPoint
	lastK := -2
	for _, cp := range p.Points {
		k := stepOf(cp.Frac, n)
		cp.Frac = fracOf(k, n)
		if l := len(pts); l > 0 && (k == lastK || (k == lastK+1 && cp.T == pts[l-1].T && l > 1)) {
			pts[l-1] = cp // keep the later point
		} else {
			pts = append(pts, cp)
		}
		lastK = k
	}
	p.Points = pts
	return p
}

// points are the control points the editor shows for the session's schedule.
func (p schedulePane) points(s *session) []sampling.ControlPoint {
	return editable(s.sampler.Schedule).Points
}

func (p schedulePane) update(s *session, msg tea.Msg) (schedulePane, out) {
	switch m := msg.(type) {
	case samplerSavedMsg:
		if m.err != nil {
			p.status = "save failed: " + m.err.Error()
		} else {
			p.status = "saved " + m.path + ": mdsm sample and inpaint use it for this run"
		}
		return p, out{}
	case tea.KeyPressMsg:
		return p.key(s, m)
	}
	return p, out{}
}

func (p schedulePane) key(s *session, k tea.KeyPressMsg) (schedulePane, out) {
	lc := s.sampler
	sch := lc.Schedule
	ed := editable(sch)
	pts := ed.Points
	n := len(pts)
	p.selected = min(max(p.selected, 0), max(n-1, 0))
	steps := sch.Steps
	var err error
	switch {
	case key.Matches(k, shk.Next):
		p.selected = (p.selected + 1) % max(n, 1)
		return p, out{}
	case key.Matches(k, shk.Prev):
		p.selected = (p.selected - 1 + max(n, 1)) % max(n, 1)
		return p, out{}
	case key.Matches(k, shk.Left), key.Matches(k, shk.Right):
		if n == 0 {
			return p, out{}
		}
		cp := pts[p.selected]
		cur := stepOf(cp.Frac, steps)
		lo, hi := 0, steps-1
		if p.selected > 0 {
			lo = stepOf(pts[p.selected-1].Frac, steps) + 1
		}
		if p.selected < n-1 {
			hi = stepOf(pts[p.selected+1].Frac, steps) - 1
		}
		d := max(1, int(math.Round(0.02*float64(steps-1))))
		if key.Matches(k, shk.Left) {
			d = -d
		}
		to := min(max(cur+d, lo), hi)
		if to == cur {
			p.status = fmt.Sprintf("point %d is at step %d, against its neighbour or the end: it cannot move that way", p.selected+1, cur)
			return p, out{}
		}
		if sch, err = ed.MovePoint(p.selected, fracOf(to, steps), cp.T); err == nil {
			p.status = fmt.Sprintf("point %d moved to step %d", p.selected+1, to)
		}
	case key.Matches(k, shk.Up), key.Matches(k, shk.Down):
		if n == 0 {
			return p, out{}
		}
		cp := pts[p.selected]
		t := cp.T
		if key.Matches(k, shk.Up) {
			t = math.Max(t*1.25, t+0.01)
		} else if t /= 1.25; t < 0.01 {
			t = 0
		}
		if sch, err = ed.MovePoint(p.selected, cp.Frac, t); err == nil {
			p.status = fmt.Sprintf("point %d at T %s", p.selected+1, chart.FormatSI(t))
		}
	case key.Matches(k, shk.Add):
		a, b := p.selected, p.selected+1
		if b >= n { // after the last point: between it and the one before
			a, b = n-2, n-1
		}
		if n < 2 || a < 0 {
			sch, _, err = ed.AddPoint(0.5, sch.Peak())
			break
		}
		ka, kb := stepOf(pts[a].Frac, steps), stepOf(pts[b].Frac, steps)
		if kb-ka < 2 {
			p.status = fmt.Sprintf("no free step between the points at steps %d and %d", ka, kb)
			return p, out{}
		}
		at := (ka + kb) / 2
		t, _ := lc.Schedule.At(at, 0) // on the curve: adding a point keeps its shape
		var i int
		if sch, i, err = ed.AddPoint(fracOf(at, steps), t); err == nil {
			p.selected = i
			p.status = fmt.Sprintf("point added at step %d", at)
		}
	case key.Matches(k, shk.Delete):
		if sch, err = ed.DeletePoint(p.selected); err == nil {
			p.selected = max(0, p.selected-1)
			p.status = "point deleted"
		}
	case key.Matches(k, shk.Exp), key.Matches(k, shk.Lin):
		kind := sampling.KindExp
		if key.Matches(k, shk.Lin) {
			kind = sampling.KindLin
		}
		t0 := sch.Peak()
		if t0 <= 0 {
			t0 = s.cfg.SampleT0
		}
		sch, p.selected, p.status = sampling.Schedule{Kind: kind, Steps: steps, T0: t0}, 0, kind+" preset"
	case key.Matches(k, shk.T0Up):
		sch = sch.Rescaled(0, math.Max(sch.Peak()*1.25, 0.1))
	case key.Matches(k, shk.T0Down):
		sch = sch.Rescaled(0, sch.Peak()/1.25)
	case key.Matches(k, shk.StepsUp):
		sch = sch.Rescaled(min(sampling.MaxScheduleSteps, max(steps+1, steps*5/4)), -1)
	case key.Matches(k, shk.StepsDown):
		sch = sch.Rescaled(max(10, steps*4/5), -1)
	case key.Matches(k, shk.EpsUp):
		lc.Eps = math.Min(0.5, lc.Eps*1.25)
	case key.Matches(k, shk.EpsDown):
		lc.Eps = math.Max(1e-4, lc.Eps/1.25)
	case key.Matches(k, shk.Default):
		lc = s.cfg.SamplerConfig()
		sch, p.selected, p.status = lc.Schedule, 0, "the run's default sampler"
	case key.Matches(k, shk.Save):
		if s.runDir == "" {
			p.status = "no run directory yet: start a run first (or open one)"
			return p, out{}
		}
		return p, do(saveSamplerCmd(s.runDir, s.sampler))
	default:
		return p, out{}
	}
	if err != nil {
		p.status = err.Error()
		return p, out{}
	}
	if sch.Kind == sampling.KindPiecewise {
		sch = editable(sch) // a new length may bring two points onto one step
	}
	lc.Schedule = sch
	if verr := lc.Validate(); verr != nil {
		p.status = verr.Error()
		return p, out{}
	}
	return p, ask(samplerMsg{lc: lc})
}

// curve samples the schedule at ~600 steps at most, for the chart: what the sampler runs.
func curve(sch sampling.Schedule) []chart.Point {
	n := sch.Steps
	stride := max(1, n/600)
	var out []chart.Point
	for k := 0; k < n; k += stride {
		if t, err := sch.At(k, n); err == nil {
			out = append(out, chart.Point{X: float64(k), Y: t})
		}
	}
	if t, err := sch.At(n-1, n); err == nil && n > 1 && (n-1)%stride != 0 {
		out = append(out, chart.Point{X: float64(n - 1), Y: t})
	}
	return out
}

func (p schedulePane) view(s *session, w, h int) string {
	st := s.st
	lc := s.sampler
	sch := lc.Schedule
	pts := p.points(s)
	sel := min(max(p.selected, 0), max(len(pts)-1, 0))
	value := func(label, v string) string { return st.label.Render(label+" ") + st.value.Render(v) }
	selected := "–"
	if len(pts) > 0 {
		cp := pts[sel]
		selected = fmt.Sprintf("#%d of %d: step %d, T %s", sel+1, len(pts), stepOf(cp.Frac, sch.Steps), chart.FormatSI(cp.T))
	}
	saved := st.ok.Render(st.g.ok + " saved")
	switch {
	case s.runDir == "":
		saved = st.dim.Render("not saved (no run yet)")
	case !s.samplerSaved:
		saved = st.warnText.Render("modified: w saves it")
	}
	head := flow([]string{
		st.heading.Render("Sampler"),
		value("kind", sch.Kind), value("steps", fmt.Sprint(sch.Steps)), value("start T", chart.FormatSI(sch.Peak())),
		value("eps", fmt.Sprintf("%.4g", lc.Eps)), value("selected", selected), saved,
	}, w, 3)
	status := p.status
	if status == "" {
		status = "the next sampling run (3 Samples, n) uses this sampler; editing a point turns it into control points, e/L restore a preset"
	}
	lines := append(head, wrap(st.hint.Render(status), w)...)
	if len(lines) > 4 {
		lines = lines[:4]
	}
	ctrl := make([]chart.Point, len(pts))
	for i, cp := range pts {
		ctrl[i] = chart.Point{X: float64(stepOf(cp.Frac, sch.Steps)), Y: cp.T}
	}
	c := chart.ScheduleChart{Control: ctrl, Curve: curve(sch), Selected: sel, Steps: float64(max(sch.Steps-1, 1)),
		XLabel: "step", AxisColor: st.axis, Color: st.series, Marker: st.marker}
	return strings.Join(lines, "\n") + "\n" + c.Render(w, max(3, h-len(lines)))
}
