package tui

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"mdsm/sampling"
	"mdsm/tui/chart"
)

// scheduleChangedMsg is sent after the schedule was edited.
type scheduleChangedMsg struct{}

// schedulePane edits the annealing temperature schedule the next sampling run uses:
// presets, control points, start temperature, step length and step count.
type schedulePane struct {
	s        *session
	app      *App
	selected int
	status   string
	curve    []chart.Point
	curveFor sampling.Schedule
}

func newSchedulePane(s *session, a *App) *schedulePane {
	return &schedulePane{s: s, app: a}
}

func (p *schedulePane) title() string              { return "Schedule" }
func (p *schedulePane) keys() []key.Binding        { return shk.list() }
func (p *schedulePane) capturing() bool            { return false }
func (p *schedulePane) slot(int, int) (slot, bool) { return slot{}, false }

// points returns the control points of the current schedule.
func (p *schedulePane) points() []sampling.ControlPoint {
	pts, _ := p.s.schedule.ControlPoints()
	return pts
}

func (p *schedulePane) update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		if m, ok := msg.(savedScheduleMsg); ok {
			if m.err != nil {
				p.status = m.err.Error()
			} else {
				p.status = "saved " + m.path
			}
		}
		return nil
	}
	s := p.s
	sch := s.schedule
	pts := p.points()
	n := len(pts)
	if n > 0 {
		p.selected = min(max(p.selected, 0), n-1)
	}
	var err error
	changed := true
	switch {
	case key.Matches(k, shk.Next):
		p.selected = (p.selected + 1) % max(n, 1)
		changed = false
	case key.Matches(k, shk.Prev):
		p.selected = (p.selected - 1 + max(n, 1)) % max(n, 1)
		changed = false
	case key.Matches(k, shk.Left), key.Matches(k, shk.Right):
		if n == 0 {
			return nil
		}
		d := -0.02
		if key.Matches(k, shk.Right) {
			d = 0.02
		}
		cp := pts[p.selected]
		sch, err = sch.MovePoint(p.selected, cp.Frac+d, cp.T)
	case key.Matches(k, shk.Up), key.Matches(k, shk.Down):
		if n == 0 {
			return nil
		}
		cp := pts[p.selected]
		t := cp.T
		if key.Matches(k, shk.Up) {
			t = math.Max(t*1.25, t+0.01)
		} else {
			t /= 1.25
			if t < 0.01 {
				t = 0
			}
		}
		sch, err = sch.MovePoint(p.selected, cp.Frac, t)
	case key.Matches(k, shk.Add):
		f, t := 0.5, 1.0
		if n > 0 {
			a := pts[p.selected]
			b := sampling.ControlPoint{Frac: 1, T: a.T}
			if p.selected+1 < n {
				b = pts[p.selected+1]
			}
			f = (a.Frac + b.Frac) / 2
			t = (a.T + b.T) / 2
			if a.Frac >= 1 {
				f = a.Frac
				if p.selected > 0 {
					f = (pts[p.selected-1].Frac + a.Frac) / 2
				}
			}
		}
		var i int
		sch, i, err = sch.AddPoint(f, t)
		if err == nil {
			p.selected = i
		}
	case key.Matches(k, shk.Delete):
		sch, err = sch.DeletePoint(p.selected)
		if err == nil && p.selected > 0 {
			p.selected--
		}
	case key.Matches(k, shk.Exp), key.Matches(k, shk.Lin):
		kind := sampling.KindExp
		if key.Matches(k, shk.Lin) {
			kind = sampling.KindLin
		}
		t0 := sch.Peak()
		if t0 <= 0 {
			t0 = 100
		}
		sch = sampling.Schedule{Kind: kind, Steps: sch.Steps, T0: t0}
		p.selected = 0
	case key.Matches(k, shk.T0Up):
		sch = sch.Rescaled(0, math.Max(sch.Peak()*1.25, 0.1))
	case key.Matches(k, shk.T0Down):
		sch = sch.Rescaled(0, sch.Peak()/1.25)
	case key.Matches(k, shk.StepsUp):
		sch = sch.Rescaled(min(sampling.MaxScheduleSteps, max(sch.Steps+1, sch.Steps*5/4)), -1)
	case key.Matches(k, shk.StepsDown):
		sch = sch.Rescaled(max(10, sch.Steps*4/5), -1)
	case key.Matches(k, shk.EpsUp):
		s.eps = math.Min(0.5, s.eps*1.25)
	case key.Matches(k, shk.EpsDown):
		s.eps = math.Max(1e-4, s.eps/1.25)
	case key.Matches(k, shk.Default):
		sch = defaultSampleSchedule(s.cfg)
		s.eps = sampling.DefaultLangevinConfig().Eps
		p.selected = 0
	case key.Matches(k, shk.Save):
		if s.runDir == "" {
			p.status = "no run directory yet: the schedule is saved when training starts"
			return nil
		}
		return saveScheduleCmd(s.runDir, s.schedule, s.eps)
	default:
		changed = false
	}
	if err != nil {
		p.status = err.Error()
		return nil
	}
	if !changed {
		return nil
	}
	if verr := sch.Validate(); verr != nil {
		p.status = verr.Error()
		return nil
	}
	s.schedule = sch
	p.status = "the next sampling run (3 Samples, n) uses this schedule"
	if s.runDir != "" && !s.watch {
		return saveScheduleCmd(s.runDir, sch, s.eps)
	}
	return nil
}

// savedScheduleMsg reports RUN/schedule.json written.
type savedScheduleMsg struct {
	path string
	err  error
}

// scheduleSaves orders concurrent saves: a save older than the last one written is
// skipped, so the file always holds the newest edit.
var scheduleSaves struct {
	seq     atomic.Uint64
	mu      sync.Mutex
	written map[string]uint64
}

func saveScheduleCmd(dir string, sch sampling.Schedule, eps float64) tea.Cmd {
	seq := scheduleSaves.seq.Add(1)
	return func() tea.Msg {
		scheduleSaves.mu.Lock()
		defer scheduleSaves.mu.Unlock()
		if scheduleSaves.written == nil {
			scheduleSaves.written = map[string]uint64{}
		}
		if scheduleSaves.written[dir] > seq {
			return nil
		}
		scheduleSaves.written[dir] = seq
		err := writeSchedule(dir, sch, eps)
		return savedScheduleMsg{path: scheduleFile(dir), err: err}
	}
}

// curvePoints samples the schedule at most ~600 points for the chart.
func (p *schedulePane) curvePoints() []chart.Point {
	sch := p.s.schedule
	if p.curve != nil && equalSchedule(p.curveFor, sch) {
		return p.curve
	}
	n := sch.Steps
	stride := max(1, n/600)
	var out []chart.Point
	for k := 0; k < n; k += stride {
		if t, err := sch.At(k, n); err == nil {
			out = append(out, chart.Point{X: float64(k), Y: t})
		}
	}
	if t, err := sch.At(n-1, n); err == nil && n > 1 {
		out = append(out, chart.Point{X: float64(n - 1), Y: t})
	}
	p.curve, p.curveFor = out, sch
	p.curveFor.Points = append([]sampling.ControlPoint(nil), sch.Points...)
	return out
}

func equalSchedule(a, b sampling.Schedule) bool {
	if a.Kind != b.Kind || a.Steps != b.Steps || a.T0 != b.T0 || a.Interp != b.Interp || len(a.Points) != len(b.Points) {
		return false
	}
	for i := range a.Points {
		if a.Points[i] != b.Points[i] {
			return false
		}
	}
	return true
}

func (p *schedulePane) view(w, h int) string {
	st := p.s.st
	sch := p.s.schedule
	pts := p.points()
	if len(pts) > 0 {
		p.selected = min(max(p.selected, 0), len(pts)-1)
	}
	sel := "–"
	if len(pts) > 0 {
		cp := pts[p.selected]
		sel = fmt.Sprintf("#%d of %d: step %d, T %s", p.selected+1, len(pts), int(math.Round(cp.Frac*float64(max(sch.Steps-1, 0)))), chart.FormatSI(cp.T))
	}
	line1 := strings.Join([]string{
		st.heading.Render("Temperature schedule"),
		st.label.Render("kind ") + st.value.Render(sch.Kind),
		st.label.Render("steps ") + st.value.Render(fmt.Sprint(sch.Steps)),
		st.label.Render("start T ") + st.value.Render(chart.FormatSI(sch.Peak())),
		st.label.Render("eps ") + st.value.Render(fmt.Sprintf("%.4g", p.s.eps)),
		st.label.Render("selected ") + st.value.Render(sel),
	}, "  ")
	status := st.hint.Render(p.status)
	if p.status == "" {
		status = st.dim.Render("editing a point turns the schedule into control points (piecewise); e/L restore a preset")
	}
	ctrl := make([]chart.Point, len(pts))
	for i, cp := range pts {
		ctrl[i] = chart.Point{X: cp.Frac * float64(max(sch.Steps-1, 0)), Y: cp.T}
	}
	c := chart.ScheduleChart{Control: ctrl, Curve: p.curvePoints(), Selected: p.selected, Steps: float64(max(sch.Steps-1, 1)), XLabel: "step", AxisColor: p.s.st.axis}
	return line1 + "\n" + status + "\n\n" + c.Render(w, max(4, h-3))
}
