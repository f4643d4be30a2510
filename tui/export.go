package tui

import (
	"bytes"
	"encoding/csv"
	"io"
	"math"
	"slices"
	"strconv"

	tea "charm.land/bubbletea/v2"

	"mdsm/core"
	"mdsm/tui/chart"
)

// exportCmd writes an export (data already made on the UI goroutine, or made by make off
// it) as RUN/exports/NAME-DATE.EXT, off the UI goroutine, and reports it to pane.
func exportCmd(pane int, runDir, name, ext, what string, data []byte) tea.Cmd {
	return func() tea.Msg {
		path, err := core.SaveExport(runDir, name, ext, func(w io.Writer) error { _, err := w.Write(data); return err })
		return exportedMsg{pane: pane, what: what, path: path, err: err}
	}
}

// note is the status line of an export: where it went, or why it failed.
func (m exportedMsg) note() string {
	if m.err != nil {
		return m.what + " not written: " + m.err.Error()
	}
	return m.what + " written: " + m.path
}

// csv is the data of the Train pane's chart window lo..hi: one row per logged step of the
// run or of a run laid over it; the run's loss (raw, normalised and smoothed as shown),
// learning rate, images/s, loss per noise level and sample FD, then each overlaid run's
// loss. A value a run did not log at a step is empty.
func (p trainPane) csv(s *session, lo, hi float64) []byte {
	type col struct {
		name string
		pts  []chart.Point
	}
	shown := p.shown()
	ys := make([]float64, len(shown))
	for i, pt := range shown {
		ys[i] = pt.Y
	}
	sm := chart.Smooth(ys, p.smoothing)
	smoothed := make([]chart.Point, len(shown))
	for i, pt := range shown {
		smoothed[i] = chart.Point{X: pt.X, Y: sm[i]}
	}
	cols := []col{{"loss", p.loss}, {"norm_loss", p.norm}, {"smoothed_" + map[bool]string{false: "norm_loss", true: "loss"}[p.raw], smoothed},
		{"lr", p.lr}, {"images_per_s", p.ips}}
	series, bins := p.sigmaSeries(s)
	for b, sr := range series {
		name := "sigma_bin_" + strconv.Itoa(b+1)
		if bins != nil {
			name = "loss_sigma_" + strconv.FormatFloat(bins[b].Lo, 'g', 4, 64) + "_" + strconv.FormatFloat(bins[b].Hi, 'g', 4, 64)
		}
		if !p.raw {
			name = "norm_" + name
		}
		cols = append(cols, col{name, sr.Points})
	}
	cols = append(cols, col{"sample_fd", p.score})
	for _, o := range s.overlays {
		if o.sum.Dir != s.runDir {
			cols = append(cols, col{o.name() + ":norm_loss", o.norm}, col{o.name() + ":loss", o.raw})
		}
	}
	var steps []float64
	for _, c := range cols {
		for _, pt := range inside(c.pts, lo, hi) {
			steps = append(steps, pt.X)
		}
	}
	slices.Sort(steps)
	steps = slices.Compact(steps)
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	head := []string{"step"}
	for _, c := range cols {
		head = append(head, c.name)
	}
	w.Write(head)
	for _, x := range steps {
		row := []string{strconv.FormatFloat(x, 'f', -1, 64)}
		for _, c := range cols {
			v := ""
			if pt, ok := at(c.pts, x); ok && pt.X == x && !math.IsNaN(pt.Y) {
				v = strconv.FormatFloat(pt.Y, 'g', -1, 64)
			}
			row = append(row, v)
		}
		w.Write(row)
	}
	w.Flush()
	return b.Bytes()
}
