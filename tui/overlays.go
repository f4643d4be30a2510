package tui

import (
	"time"

	tea "charm.land/bubbletea/v2"

	"mdsm/core"
	"mdsm/tui/chart"
)

// overlay is a run marked in the Runs pane: its loss curve, read from its metrics.jsonl as
// it grows (core.MetricsTail, in commands: one read in flight at a time), drawn over the
// open run's in the Train pane.
type overlay struct {
	sum       core.RunSummary
	norm, raw []chart.Point
	tail      *core.MetricsTail
	loading   bool
	// readSize and readMod are the metrics file's size and time the curve was read at:
	// a scan that finds them changed reads on.
	readSize int64
	readMod  time.Time
	err      string
}

// name is how a legend names the run.
func (o *overlay) name() string { return o.sum.Name }

// loadCurveCmd reads what was appended to an overlaid run's metrics, off the UI goroutine.
func loadCurveCmd(dir string, tail *core.MetricsTail) tea.Cmd {
	return func() tea.Msg {
		recs, _, restarted, err := tail.Read()
		return curveMsg{dir: dir, recs: recs, restarted: restarted, err: err}
	}
}

// setOverlays makes the marked runs the overlays, keeping the curves already read, and
// starts reading the new ones.
func (a *App) setOverlays(runs []core.RunSummary) tea.Cmd {
	old := map[string]*overlay{}
	for _, o := range a.s.overlays {
		old[o.sum.Dir] = o
	}
	var cmds []tea.Cmd
	next := make([]*overlay, 0, len(runs))
	for _, r := range runs {
		o, ok := old[r.Dir]
		if !ok {
			o = &overlay{tail: core.NewMetricsTail(r.Dir)}
		}
		o.sum = r
		next = append(next, o)
		cmds = append(cmds, a.readCurve(o))
	}
	a.s.overlays = next
	return tea.Batch(cmds...)
}

// readCurve reads on in an overlay's metrics unless a read is in flight or nothing
// changed since the last one.
func (a *App) readCurve(o *overlay) tea.Cmd {
	if o.loading || (o.readSize == o.sum.MetricsSize && o.readMod.Equal(o.sum.MetricsMod) && o.raw != nil) {
		return nil
	}
	o.loading = true
	o.readSize, o.readMod = o.sum.MetricsSize, o.sum.MetricsMod
	return loadCurveCmd(o.sum.Dir, o.tail)
}

// onCurve adds what an overlay's read found.
func (a *App) onCurve(m curveMsg) tea.Cmd {
	for _, o := range a.s.overlays {
		if o.sum.Dir != m.dir {
			continue
		}
		o.loading = false
		if m.err != nil {
			o.err = m.err.Error()
			return nil
		}
		o.err = ""
		if m.restarted {
			o.norm, o.raw = nil, nil
		}
		for _, r := range m.recs {
			x := float64(r.Step)
			if n := len(o.raw); n > 0 && x <= o.raw[n-1].X { // a resume redid these steps
				i := n
				for i > 0 && o.raw[i-1].X >= x {
					i--
				}
				o.raw, o.norm = o.raw[:i:i], o.norm[:i:i]
			}
			o.raw = append(o.raw, chart.Point{X: x, Y: r.Loss})
			o.norm = append(o.norm, chart.Point{X: x, Y: r.NormLoss})
		}
		if o.raw == nil {
			o.raw, o.norm = []chart.Point{}, []chart.Point{}
		}
	}
	return nil
}

// onRunsScanned reads on in the overlays whose metrics changed, and hands the scan to the
// Runs pane.
func (a *App) onRunsScanned(m runsScannedMsg) tea.Cmd {
	cmds := []tea.Cmd{a.toPane(paneRuns, m)}
	if m.err == nil {
		byDir := map[string]core.RunSummary{}
		for _, r := range m.runs {
			byDir[r.Dir] = r
		}
		for _, o := range a.s.overlays {
			if r, ok := byDir[o.sum.Dir]; ok {
				o.sum = r
				cmds = append(cmds, a.readCurve(o))
			}
		}
	}
	return tea.Batch(cmds...)
}
