package tui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"mdsm/core"
	"mdsm/sampling"
	"mdsm/tui/chart"
)

// energyImages is how many test (and OOD) images the energy view scores.
const energyImages = 500

// energyPane draws the histograms of the energies of the run's test images, of its newest
// periodic samples and of an out-of-distribution set under the newest weights (the data of
// `mdsm energy`), computed as a core job (core.StartEnergies) and refreshed on a key: a
// model that has learned the data gives its samples energies like the test images', and
// outliers higher ones.
type energyPane struct {
	ood     int // index into core.OODChoices of the run's data
	bins    int
	running bool
	id      int
	cancelF context.CancelFunc
	jobs    <-chan core.EnergyUpdate
	last    core.EnergyUpdate
	have    bool
	status  string
}

func newEnergyPane() energyPane { return energyPane{bins: 30} }

func (p energyPane) title(short bool) string              { return "Energy" }
func (p energyPane) capturing() bool                      { return false }
func (p energyPane) slot(*session, int, int) (slot, bool) { return slot{}, false }
func (p energyPane) keys(*session) []key.Binding          { return ek.list() }
func (p energyPane) oodName(s *session) string {
	return core.OODChoices(s.cfg.Data)[p.ood%len(core.OODChoices(s.cfg.Data))]
}
func waitEnergy(ch <-chan core.EnergyUpdate, id int) tea.Cmd {
	return func() tea.Msg {
		u, ok := <-ch
		return energyMsg{id: id, u: u, closed: !ok}
	}
}

// cancel stops a running job.
func (p energyPane) cancel() {
	if p.cancelF != nil {
		p.cancelF()
	}
}

func (p energyPane) update(s *session, msg tea.Msg) (energyPane, out) {
	switch m := msg.(type) {
	case newRunMsg, runOpenedMsg:
		p.cancel()
		q := newEnergyPane()
		q.bins = p.bins
		return q, out{}
	case energyMsg:
		if m.id != p.id {
			return p, out{}
		}
		if m.closed {
			p.running, p.cancelF = false, nil
			return p, out{}
		}
		p.last, p.have = m.u, true
		switch {
		case errors.Is(m.u.Err, context.Canceled):
			p.status = "cancelled"
		case m.u.Err != nil:
			p.status = "failed: " + m.u.Err.Error()
		case m.u.Done:
			p.status = fmt.Sprintf("done in %s: enter computes again from the newest weights", m.u.Took.Round(time.Millisecond))
		default:
			p.status = fmt.Sprintf("scoring… (%d of 3 sets)", len(m.u.Sets)+1)
		}
		if m.u.Done {
			p.running, p.cancelF = false, nil
			return p, out{}
		}
		return p, do(waitEnergy(p.jobs, p.id))
	case exportedMsg:
		p.status = m.note()
		return p, out{}
	case tea.KeyPressMsg:
		return p.key(s, m)
	}
	return p, out{}
}

func (p energyPane) key(s *session, k tea.KeyPressMsg) (energyPane, out) {
	switch {
	case key.Matches(k, ek.Run):
		return p.start(s)
	case key.Matches(k, ek.OOD):
		p.ood = (p.ood + 1) % len(core.OODChoices(s.cfg.Data))
		p.status = "OOD set: " + p.oodName(s) + " (enter computes)"
	case key.Matches(k, ek.More):
		p.bins = min(120, p.bins+10)
	case key.Matches(k, ek.Fewer):
		p.bins = max(10, p.bins-10)
	case key.Matches(k, ek.Cancel):
		if p.running {
			p.cancel()
			p.status = "cancelling…"
		}
	case key.Matches(k, ek.Save):
		if !p.have || len(p.last.Sets) == 0 {
			p.status = "nothing to write yet (enter computes)"
			return p, out{}
		}
		var sets []sampling.ScoreSet
		for _, e := range p.last.Sets {
			if len(e.Energies) > 0 {
				sets = append(sets, sampling.ScoreSet{Name: e.Name, Scores: e.Energies})
			}
		}
		var b bytes.Buffer
		if err := sampling.WriteScoresCSV(&b, sets); err != nil {
			p.status = err.Error()
			return p, out{}
		}
		return p, do(exportCmd(paneEnergy, s.runDir, "energies", ".csv", "energies CSV", b.Bytes()))
	}
	return p, out{}
}

// start scores the three sets from the run's newest weights.
func (p energyPane) start(s *session) (energyPane, out) {
	if why := jobRefusal(s, p.running); why != "" {
		p.status = why
		return p, out{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.id++
	p.cancelF, p.running, p.status = cancel, true, "scoring the test images…"
	p.jobs = core.StartEnergies(ctx, s.run, s.cfg, s.runDir, core.EnergySpec{N: energyImages, OOD: p.oodName(s),
		Sigma0: s.cfg.Sigma0, Seed: 1})
	return p, do(waitEnergy(p.jobs, p.id))
}

// histograms are the sets' densities over common bins, as staircase curves.
func (p energyPane) histograms(st *styles) ([]chart.Series, []string) {
	var all []float64
	for _, e := range p.last.Sets {
		all = append(all, e.Energies...)
	}
	if len(all) == 0 {
		return nil, nil
	}
	// a common range: the 0.5%..99.5% quantiles, so that a few huge outlier energies do
	// not squash every histogram into one bin
	q := slices.Clone(all)
	slices.Sort(q)
	lo, hi := q[len(q)/200], q[len(q)-1-len(q)/200]
	if !(hi > lo) {
		lo, hi = q[0]-0.5, q[len(q)-1]+0.5
	}
	var series []chart.Series
	var notes []string
	for i, e := range p.last.Sets {
		if len(e.Energies) == 0 {
			notes = append(notes, e.Name+": "+e.Note)
			continue
		}
		h, err := sampling.Histogram(e.Energies, p.bins, lo, hi)
		if err != nil {
			continue
		}
		w := (hi - lo) / float64(p.bins)
		var pts []chart.Point
		for b, c := range h.Counts {
			d := float64(c) / float64(len(e.Energies)) / w
			pts = append(pts, chart.Point{X: h.Edges[b], Y: d}, chart.Point{X: h.Edges[b+1], Y: d})
		}
		series = append(series, chart.Series{Name: e.Name, Points: pts, Color: st.curve(i)})
		note := fmt.Sprintf("%s: median %s, n %d", e.Name, chart.FormatSI(median(e.Energies)), len(e.Energies))
		if out := h.Under + h.Over; out > 0 {
			note += fmt.Sprintf(" (%d outside the range shown)", out)
		}
		notes = append(notes, lipgloss.NewStyle().Foreground(st.curve(i)).Render(note)+st.dim.Render(" "+st.g.dot+" "+e.Note))
	}
	return series, notes
}

func median(v []float64) float64 {
	q := slices.Clone(v)
	slices.Sort(q)
	if len(q) == 0 {
		return math.NaN()
	}
	return q[len(q)/2]
}

func (p energyPane) view(s *session, w, h int) string {
	st := s.st
	head := st.heading.Render("Energy") + st.dim.Render(fmt.Sprintf("  E(x + %s0 n) of test images, periodic samples and %s %s %d bins (+/-) %s o OOD set %s enter computes",
		st.g.sigma, p.oodName(s), st.g.dot, p.bins, st.g.dot, st.g.dot))
	lines := []string{clip(head, w)}
	info := []string{}
	if p.have {
		u := p.last
		auroc := "–"
		if !math.IsNaN(u.AUROC) {
			auroc = fmt.Sprintf("%.3f", u.AUROC)
		}
		info = append(info, st.label.Render("weights ")+st.value.Render(u.Weights)+"  "+st.label.Render("AUROC (OOD vs test) ")+st.value.Render(auroc))
	}
	if p.status != "" {
		info = append(info, st.hint.Render(p.status))
	}
	series, notes := p.histograms(st)
	info = append(info, notes...)
	var infoLines []string
	for _, l := range info {
		infoLines = append(infoLines, wrap(l, w)...)
	}
	infoLines = infoLines[:min(len(infoLines), max(1, h/3))]
	chartH := max(3, h-len(lines)-len(infoLines))
	if len(series) == 0 {
		hint := "enter scores the test images, the newest periodic samples and an OOD set under the newest weights"
		if s.run == nil {
			hint = "no model yet: start training (2, then s) or open a run (6)"
		}
		lines = append(lines, lipgloss.Place(w, chartH, lipgloss.Center, lipgloss.Center, st.placeholder.Render(strings.Join(wrap(hint, w-4), "\n"))))
	} else {
		c := chart.LineChart{Series: series, XLabel: "energy", AxisColor: st.axis, Marker: st.marker, LegendNoValues: true}
		lines = append(lines, c.Render(w, chartH))
	}
	lines = append(lines, infoLines...)
	return strings.Join(lines, "\n")
}
