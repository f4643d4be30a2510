package tui

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"mdsm/nn"
	"mdsm/sampling"
	"mdsm/tui/chart"
	"mdsm/tui/termimg"
)

// samplesPane shows the newest sample grid and runs live Langevin chains: the denoised
// images every k steps, with the temperature and the energy-vs-temperature trace.
type samplesPane struct {
	s   *session
	app *App

	pic     picture
	caption string

	running bool
	id      int
	cancelF context.CancelFunc
	every   *atomic.Int64
	nChains int
	step    int
	total   int
	temp    float64
	trace   []sampling.TracePoint
	note    string
	status  string
	waitFor <-chan chainMsg
}

func newSamplesPane(s *session, a *App) *samplesPane {
	p := &samplesPane{s: s, app: a, every: new(atomic.Int64), nChains: 16}
	p.every.Store(20)
	return p
}

func (p *samplesPane) title() string       { return "Samples" }
func (p *samplesPane) keys() []key.Binding { return sk.list() }
func (p *samplesPane) capturing() bool     { return false }

// cancel stops a running chain.
func (p *samplesPane) cancel() {
	if p.cancelF != nil {
		p.cancelF()
		p.cancelF = nil
	}
}

// layout splits the pane: the picture on the left (its cell box keeps the image's aspect
// ratio under the terminal's cell geometry), text and charts on the right.
func (p *samplesPane) layout(w, h int) (pic rect, right rect) {
	rows := max(1, h-2)
	aspect := 1.0
	if p.pic.ok() {
		b := p.pic.img.Bounds()
		aspect = float64(b.Dx()) / float64(b.Dy())
	}
	cellRatio := float64(p.s.cell.H) / float64(max(1, p.s.cell.W))
	if p.s.proto == termimg.ProtoBlocks || p.s.proto == termimg.ProtoNone {
		cellRatio = 2
	}
	cols := int(float64(rows)*cellRatio*aspect + 0.5)
	maxCols := max(10, w*3/5)
	if cols > maxCols {
		cols = maxCols
		rows = max(1, int(float64(cols)/(cellRatio*aspect)))
	}
	pic = rect{x: 0, y: 1, w: cols, h: rows}
	right = rect{x: cols + 2, y: 1, w: max(0, w-cols-2), h: h - 1}
	return pic, right
}

func (p *samplesPane) slot(w, h int) (slot, bool) {
	if !p.pic.ok() {
		return slot{}, false
	}
	r, _ := p.layout(w, h)
	return slot{pic: p.pic, r: r}, true
}

func (p *samplesPane) update(msg tea.Msg) tea.Cmd {
	switch m := msg.(type) {
	case pictureLoadedMsg:
		if p.running {
			return nil // the live chain has the screen; the grid is on disk
		}
		p.pic = m.pic
		p.caption = "periodic sample grid " + filepath.Base(m.path)
		return nil
	case chainMsg:
		return p.onChain(m)
	case savedMsg:
		if m.target != "samples" {
			return nil
		}
		if m.err != nil {
			p.status = "save failed: " + m.err.Error()
		} else {
			p.status = "saved " + m.path
		}
		return nil
	case tea.KeyPressMsg:
		switch {
		case key.Matches(m, sk.Sample):
			return p.start()
		case key.Matches(m, sk.Cancel):
			if p.running {
				p.cancel()
				p.status = "cancelling…"
			}
		case key.Matches(m, sk.Save):
			if !p.pic.ok() {
				p.status = "nothing to save yet"
				return nil
			}
			return savePNGCmd("samples", p.s.runDir, "grid", p.pic.img)
		case key.Matches(m, sk.Faster):
			p.every.Store(min(500, p.every.Load()*2))
		case key.Matches(m, sk.Slower):
			p.every.Store(max(1, p.every.Load()/2))
		case key.Matches(m, sk.More):
			if !p.running {
				p.nChains = min(256, p.nChains*2)
			}
		case key.Matches(m, sk.Fewer):
			if !p.running {
				p.nChains = max(1, p.nChains/2)
			}
		}
	}
	return nil
}

// start runs a chain on a weight snapshot with the Schedule pane's settings.
func (p *samplesPane) start() tea.Cmd {
	if p.running {
		p.status = "a chain is running: esc cancels it"
		return nil
	}
	weights, err := p.s.weightsFunc()
	if err != nil {
		p.status = err.Error()
		return nil
	}
	lc := p.s.langevin()
	if err := lc.Validate(); err != nil {
		p.status = "schedule: " + err.Error()
		return nil
	}
	n := p.nChains
	seed := uint64(time.Now().UnixNano())
	var cfg nn.Config
	job := chainJob{
		target: "samples",
		id:     p.id + 1,
		every:  func() int { return int(p.every.Load()) },
		build: func() (*sampling.Chain, string, error) {
			params, note, err := weights()
			if err != nil {
				return nil, "", err
			}
			cfg = params.Config
			ch, err := sampling.NewChain(nn.NewModel(params), n, cfg.Dim(), lc, seed)
			return ch, note, err
		},
		render: func(den []float32) (image.Image, error) {
			return sampling.Grid(den, n, cfg.InChannels, cfg.ImageSize, cfg.ImageSize, gridCols(n), 2)
		},
	}
	p.id = job.id
	ctx, cancel := context.WithCancel(context.Background())
	p.cancelF = cancel
	p.running, p.step, p.total, p.trace, p.status = true, 0, lc.Schedule.Steps, nil, "starting chain…"
	ch := runChain(ctx, job)
	p.waitFor = ch
	return waitChain(ch, "samples", job.id)
}

func (p *samplesPane) onChain(m chainMsg) tea.Cmd {
	if m.id != p.id {
		return nil
	}
	if m.err != nil {
		p.running = false
		p.cancelF = nil
		if errors.Is(m.err, context.Canceled) {
			p.status = fmt.Sprintf("cancelled at step %d of %d", p.step, p.total)
		} else {
			p.status = "chain failed: " + m.err.Error()
		}
		return nil
	}
	p.step, p.total, p.temp, p.trace, p.note = m.step, m.total, m.temp, m.trace, m.note
	if m.pic.ok() {
		p.pic = m.pic
		p.caption = fmt.Sprintf("live chain: denoised x at step %d/%d (%s)", m.step, m.total, m.note)
	}
	if m.done {
		p.running = false
		p.cancelF = nil
		p.caption = fmt.Sprintf("%d samples, %d steps from %s, %s", p.nChains, m.total, m.note, m.took.Round(time.Millisecond))
		p.status = "done: w saves the grid"
		return nil
	}
	p.status = ""
	return waitChain(p.waitFor, "samples", p.id)
}

func (p *samplesPane) view(w, h int) string {
	st := p.s.st
	pr, rr := p.layout(w, h)
	head := st.heading.Render("Samples") + "  " + st.dim.Render(truncate(p.caption, max(0, w-10)))
	box := p.app.img.box(st, p.pic, pr.w, pr.h, "no samples yet: press n to sample now")
	right := p.sidebar(rr.w, rr.h)
	body := lipgloss.JoinHorizontal(lipgloss.Top, box, "  ", right)
	return head + "\n" + body
}

func (p *samplesPane) sidebar(w, h int) string {
	if w < 12 {
		return ""
	}
	st := p.s.st
	sch := p.s.schedule
	state := "idle"
	if p.running {
		state = fmt.Sprintf("running %d/%d", p.step, p.total)
	}
	meanE := "–"
	if n := len(p.trace); n > 0 {
		meanE = chart.FormatSI(p.trace[n-1].MeanEnergy)
	}
	info := []string{
		st.label.Render("chain ") + st.value.Render(state),
		st.label.Render("temperature ") + st.value.Render(chart.FormatSI(p.temp)) + st.label.Render("  mean energy ") + st.value.Render(meanE),
		st.label.Render("chains ") + st.value.Render(fmt.Sprint(p.nChains)) + st.label.Render("  update every ") + st.value.Render(fmt.Sprintf("%d steps", p.every.Load())),
		st.label.Render("schedule ") + st.status.Render(fmt.Sprintf("%s, %d steps, T0 %s, eps %g", sch.Kind, sch.Steps, chart.FormatSI(sch.Peak()), p.s.eps)) + st.dim.Render(" (4 edits)"),
	}
	if p.status != "" {
		info = append(info, st.hint.Render(p.status))
	}
	for i := range info {
		info[i] = lipgloss.NewStyle().MaxWidth(w).Render(info[i])
	}
	chartH := max(4, h-len(info)-2)
	pts := make([]chart.Point, 0, len(p.trace))
	for _, t := range p.trace {
		pts = append(pts, chart.Point{X: t.T, Y: t.MeanEnergy})
	}
	sc := chart.ScatterChart{Series: []chart.Series{{Name: "mean energy vs temperature", Points: pts}},
		LogX: true, Lines: true, MarkLast: true, XLabel: "T", AxisColor: st.axis}
	return strings.Join(info, "\n") + "\n\n" + sc.Render(w, chartH)
}

// savedMsg reports a PNG written by a pane.
type savedMsg struct {
	target, path string
	err          error
}

// savePNGCmd writes img as RUN/samples/NAME-DATE.png (or ./mdsm-NAME-DATE.png without a
// run), off the UI goroutine.
func savePNGCmd(target, runDir, name string, img image.Image) tea.Cmd {
	return func() tea.Msg {
		stamp := time.Now().Format("20060102-150405")
		path := "mdsm-" + name + "-" + stamp + ".png"
		if runDir != "" {
			dir := filepath.Join(runDir, "samples")
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return savedMsg{target: target, err: fmt.Errorf("save %s: %w", name, err)}
			}
			path = filepath.Join(dir, name+"-"+stamp+".png")
		}
		if err := sampling.WritePNG(path, img); err != nil {
			return savedMsg{target: target, err: fmt.Errorf("save %s: %w", name, err)}
		}
		return savedMsg{target: target, path: path}
	}
}
