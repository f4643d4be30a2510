package tui

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"mdsm/core"
	"mdsm/sampling"
	"mdsm/tui/chart"
)

// samplesView is what the Samples pane shows: the run's newest periodic grid, or the
// user's own chain (n). The two are kept apart: a periodic grid arriving while the chain
// is shown waits for g.
type samplesView int

const (
	viewGrid samplesView = iota
	viewChain
)

// samplesPane shows the newest periodic sample grid, and runs live Langevin chains from
// the newest weights: the denoised images every k steps, the temperature and the energy
// against the temperature (the paper's health check of a sampler).
type samplesPane struct {
	show samplesView

	grid     picture // the newest periodic grid
	gridStep int
	gridNew  bool // arrived while the chain was shown

	// The sample history: the steps of the run's periodic grids (RUN/samples/step-N.png),
	// the one shown (at: an index into history, -1 for the newest, which follows new
	// grids), the step pinned for a side-by-side (-1: none), the grids read (a few, by
	// step) and the side-by-side picture made of two of them.
	history  []int
	histDir  string
	at       int
	pinned   int
	cache    map[int]picture
	loading  map[int]bool
	composed picture
	pair     [2]int // the steps of composed

	chain   picture // the user's chain
	running bool
	id      int
	cancelF context.CancelFunc
	jobs    <-chan core.JobUpdate
	every   *atomic.Int64 // steps between pictures; read by the job's goroutine
	nChains int
	chainN  int // chains of the chain shown
	step    int
	total   int
	temp    float64
	trace   []sampling.TracePoint
	weights string
	took    time.Duration
	status  string
}

func newSamplesPane() samplesPane {
	p := samplesPane{every: new(atomic.Int64), nChains: 16, at: -1, pinned: -1}
	p.every.Store(20)
	return p
}

func (p samplesPane) title(bool) string { return "Samples" }
func (p samplesPane) capturing() bool   { return false }

func (p samplesPane) keys(*session) []key.Binding { return sk.list() }

// cancel stops a running chain.
func (p samplesPane) cancel() {
	if p.cancelF != nil {
		p.cancelF()
	}
}

// shown is the picture of the current view.
func (p samplesPane) shown() picture {
	if p.show == viewChain {
		return p.chain
	}
	if p.pinned >= 0 {
		if p.composed.ok() && p.pair == [2]int{p.pinned, p.currentStep()} {
			return p.composed
		}
		return picture{}
	}
	if p.at >= 0 && p.at < len(p.history) {
		return p.cache[p.history[p.at]]
	}
	return p.grid
}

// currentStep is the step of the periodic grid shown (-1: none).
func (p samplesPane) currentStep() int {
	if p.at >= 0 && p.at < len(p.history) {
		return p.history[p.at]
	}
	if p.grid.ok() {
		return p.gridStep
	}
	if n := len(p.history); n > 0 {
		return p.history[n-1]
	}
	return -1
}

// listGridsCmd lists a run's sample history, off the UI goroutine.
func listGridsCmd(dir string) tea.Cmd {
	if dir == "" {
		return nil
	}
	return func() tea.Msg { return gridListMsg{dir: dir, steps: core.GridSteps(dir)} }
}

// readGridCmd reads a grid of the sample history, off the UI goroutine.
func readGridCmd(dir string, step int) tea.Cmd {
	return func() tea.Msg {
		img, err := core.ReadGrid(dir, step)
		return gridMsg{dir: dir, step: step, img: img, err: err}
	}
}

// composeCmd puts two grids side by side, off the UI goroutine.
func composeCmd(a, b int, left, right image.Image) tea.Cmd {
	return func() tea.Msg { return composedMsg{a: a, b: b, img: sideBySide(left, right)} }
}

// sideBySide is two pictures next to each other on the grids' padding grey, a gap
// between them, both at the same height.
func sideBySide(a, b image.Image) image.Image {
	ab, bb := a.Bounds(), b.Bounds()
	gap := max(4, ab.Dx()/20)
	out := image.NewRGBA(image.Rect(0, 0, ab.Dx()+gap+bb.Dx(), max(ab.Dy(), bb.Dy())))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.Gray{Y: sampling.GridPadGrey}), image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(0, 0, ab.Dx(), ab.Dy()), a, ab.Min, draw.Src)
	draw.Draw(out, image.Rect(ab.Dx()+gap, 0, ab.Dx()+gap+bb.Dx(), bb.Dy()), b, bb.Min, draw.Src)
	return out
}

// want asks for what the view needs from the history: the grid shown and the pinned one
// read, then their side-by-side made.
func (p samplesPane) want(s *session) (samplesPane, tea.Cmd) {
	if p.show != viewGrid || p.histDir == "" {
		return p, nil
	}
	var steps []int
	if p.at >= 0 && p.at < len(p.history) {
		steps = append(steps, p.history[p.at])
	}
	if p.pinned >= 0 {
		steps = append(steps, p.pinned, p.currentStep())
	}
	var cmds []tea.Cmd
	for _, st := range steps {
		if st < 0 || p.cache[st].ok() || p.loading[st] {
			continue
		}
		if st == p.gridStep && p.grid.ok() { // the newest grid is at hand
			p.cache = withPicture(p.cache, st, p.grid)
			continue
		}
		p.loading = withFlag(p.loading, st, true)
		cmds = append(cmds, readGridCmd(p.histDir, st))
	}
	if p.pinned >= 0 {
		a, b := p.pinned, p.currentStep()
		if pa, pb := p.cache[a], p.cache[b]; pa.ok() && pb.ok() && p.pair != [2]int{a, b} {
			p.pair, p.composed = [2]int{a, b}, picture{}
			cmds = append(cmds, composeCmd(a, b, pa.img, pb.img))
		}
	}
	return p, tea.Batch(cmds...)
}

// withPicture is m with m[k] = v (a copy: panes are values).
func withPicture(m map[int]picture, k int, v picture) map[int]picture {
	out := make(map[int]picture, len(m)+1)
	for key, val := range m {
		if len(m) < 32 || key == k {
			out[key] = val
		}
	}
	out[k] = v
	return out
}

// withFlag is m with m[k] = v (a copy).
func withFlag(m map[int]bool, k int, v bool) map[int]bool {
	out := make(map[int]bool, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	if v {
		out[k] = true
	} else {
		delete(out, k)
	}
	return out
}

// layout splits the pane: the picture on the left (its cell box keeps the image's aspect
// ratio under the terminal's cell geometry), text and charts on the right.
func (p samplesPane) layout(s *session, w, h int) (pic rect, right rect) {
	rows := max(1, h-2)
	aspect := 1.0
	if pc := p.shown(); pc.ok() {
		b := pc.img.Bounds()
		aspect = float64(b.Dx()) / float64(b.Dy())
	}
	cellRatio := float64(s.cell.H) / float64(max(1, s.cell.W))
	if !s.proto.IsGraphics() {
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

func (p samplesPane) slot(s *session, w, h int) (slot, bool) {
	pc := p.shown()
	if !pc.ok() {
		return slot{}, false
	}
	r, _ := p.layout(s, w, h)
	return slot{pic: pc, r: r}, true
}

func (p samplesPane) update(s *session, msg tea.Msg) (samplesPane, out) {
	switch m := msg.(type) {
	case runEventsMsg:
		fresh := false
		for _, ev := range m.events {
			if e, ok := ev.(core.SampleEvent); ok && e.Err == nil && e.Image != nil {
				p.grid, p.gridStep = newPicture(e.Image), e.Step
				p.gridNew = p.show == viewChain || p.at >= 0 || p.pinned >= 0
				fresh = true
			}
		}
		if fresh {
			var cmd tea.Cmd
			p, cmd = p.want(s)
			return p, do(tea.Batch(cmd, listGridsCmd(s.runDir)))
		}
		return p, out{}
	case runOpenedMsg:
		if m.err == nil && m.run.Dir() != p.histDir {
			q := newSamplesPane()
			q.nChains, q.histDir = p.nChains, m.run.Dir()
			q.every.Store(p.every.Load())
			p.cancel()
			return q, do(listGridsCmd(q.histDir))
		}
		return p, out{}
	case activateMsg:
		if s.runDir != "" && s.run != nil {
			p.histDir = s.runDir
			return p, do(listGridsCmd(s.runDir))
		}
		return p, out{}
	case gridListMsg:
		if m.dir != p.histDir {
			return p, out{}
		}
		cur := p.currentStep()
		p.history = m.steps
		if p.at >= 0 { // stay on the step shown
			p.at = max(0, slices.Index(p.history, cur))
		}
		var cmd tea.Cmd
		p, cmd = p.want(s)
		return p, do(cmd)
	case gridMsg:
		if m.dir != p.histDir {
			return p, out{}
		}
		p.loading = withFlag(p.loading, m.step, false)
		if m.err != nil {
			p.status = fmt.Sprintf("grid of step %d: %v", m.step, m.err)
			return p, out{}
		}
		p.cache = withPicture(p.cache, m.step, newPicture(m.img))
		var cmd tea.Cmd
		p, cmd = p.want(s)
		return p, do(cmd)
	case composedMsg:
		if p.pair == [2]int{m.a, m.b} {
			p.composed = newPicture(m.img)
		}
		return p, out{}
	case newRunMsg:
		p.cancel()
		return newSamplesPane(), out{}
	case jobMsg:
		return p.onJob(m)
	case savedMsg:
		p.status = exportedMsg{what: "picture", path: m.path, err: m.err}.note()
		return p, out{}
	case tea.KeyPressMsg:
		return p.key(s, m)
	}
	return p, out{}
}

func (p samplesPane) key(s *session, k tea.KeyPressMsg) (samplesPane, out) {
	switch {
	case key.Matches(k, sk.Sample):
		return p.start(s)
	case key.Matches(k, sk.View):
		if p.show == viewGrid {
			p.show = viewChain
		} else {
			p.show, p.gridNew = viewGrid, false
		}
	case p.show == viewGrid && (key.Matches(k, sk.Prev) || key.Matches(k, sk.Next) || key.Matches(k, sk.Oldest) || key.Matches(k, sk.Newest)):
		n := len(p.history)
		if n == 0 {
			p.status = "no periodic grids in this run yet"
			return p, out{}
		}
		at := p.at
		if at < 0 {
			at = n - 1
		}
		switch {
		case key.Matches(k, sk.Prev):
			at = max(0, at-1)
		case key.Matches(k, sk.Next):
			at++
		case key.Matches(k, sk.Oldest):
			at = 0
		case key.Matches(k, sk.Newest):
			at = n
		}
		if at >= n-1 && (!p.grid.ok() || p.gridStep == p.history[n-1]) {
			at = -1 // the newest: follow new grids
		}
		p.at = min(at, n-1)
		if at < 0 {
			p.at, p.gridNew = -1, false
		}
		var cmd tea.Cmd
		p, cmd = p.want(s)
		return p, do(cmd)
	case p.show == viewGrid && key.Matches(k, sk.Compare):
		if p.pinned >= 0 {
			p.pinned, p.composed, p.pair = -1, picture{}, [2]int{}
			return p, out{}
		}
		if p.pinned = p.currentStep(); p.pinned < 0 {
			p.status = "no periodic grid to pin yet"
			return p, out{}
		}
		p.status = fmt.Sprintf("step %d pinned on the left: ←/→ scrub the right one, c unpins", p.pinned)
		var cmd tea.Cmd
		p, cmd = p.want(s)
		return p, do(cmd)
	case key.Matches(k, sk.Cancel):
		if p.running {
			p.cancel()
			p.status = "cancelling…"
		}
	case key.Matches(k, sk.Save):
		pc := p.shown()
		if !pc.ok() {
			p.status = "nothing to save yet"
			return p, out{}
		}
		name := "grid"
		if p.show == viewChain {
			name = "chain"
		}
		return p, do(saveImageCmd(paneSamples, s.runDir, name, pc.img))
	case key.Matches(k, sk.Faster):
		p.every.Store(min(500, p.every.Load()*2))
	case key.Matches(k, sk.Slower):
		p.every.Store(max(1, p.every.Load()/2))
	case key.Matches(k, sk.More):
		p.nChains = min(256, p.nChains*2)
	case key.Matches(k, sk.Fewer):
		p.nChains = max(1, p.nChains/2)
	}
	return p, out{}
}

// start runs nChains chains of the session's sampler from the run's newest weights.
func (p samplesPane) start(s *session) (samplesPane, out) {
	if why := jobRefusal(s, p.running); why != "" {
		p.status = why
		return p, out{}
	}
	every := p.every
	ctx, cancel := context.WithCancel(context.Background())
	p.id++
	p.cancelF, p.running, p.show, p.chainN = cancel, true, viewChain, p.nChains
	p.step, p.total, p.trace, p.status = 0, s.sampler.Schedule.Steps, nil, "starting chain…"
	p.jobs = core.StartSampling(ctx, s.run, core.SampleSpec{Sampler: s.sampler, N: p.nChains,
		Seed: uint64(time.Now().UnixNano()), Every: func() int { return int(every.Load()) }})
	return p, do(waitJob(p.jobs, paneSamples, p.id))
}

func (p samplesPane) onJob(m jobMsg) (samplesPane, out) {
	if m.id != p.id {
		return p, out{}
	}
	u := m.u
	if m.closed || u.Err != nil {
		p.running, p.cancelF = false, nil
		switch {
		case m.closed || errors.Is(u.Err, context.Canceled):
			p.status = fmt.Sprintf("cancelled at step %d of %d", p.step, p.total)
		default:
			p.status = "chain failed: " + u.Err.Error()
		}
		return p, out{}
	}
	p.step, p.total, p.temp, p.trace, p.weights, p.took = u.Step, u.Total, u.Temperature, u.Trace, u.Weights, u.Took
	if u.Picture != nil {
		p.chain = newPicture(u.Picture)
	}
	if u.Done {
		p.running, p.cancelF = false, nil
		p.status = "done: w saves it, g shows the periodic grid"
		return p, out{}
	}
	p.status = ""
	return p, do(waitJob(p.jobs, paneSamples, p.id))
}

func (p samplesPane) caption() string {
	if p.show == viewChain {
		switch {
		case !p.chain.ok():
			return "your chain: none yet (n samples)"
		case p.running:
			return fmt.Sprintf("your chain: denoised x at step %d/%d (%s)", p.step, p.total, p.weights)
		}
		return fmt.Sprintf("your chain: %d samples, %d steps from %s, %s", p.chainN, p.total, p.weights, p.took.Round(time.Millisecond))
	}
	cur := p.currentStep()
	pos := ""
	if i := slices.Index(p.history, cur); i >= 0 {
		pos = fmt.Sprintf(" (%d of %d)", i+1, len(p.history))
	}
	switch {
	case p.pinned >= 0:
		return fmt.Sprintf("side by side: step %d | step %d%s", p.pinned, cur, pos)
	case p.at >= 0:
		return fmt.Sprintf("sample history: periodic grid of step %d%s", cur, pos)
	case p.grid.ok():
		return fmt.Sprintf("periodic grid of step %d%s, the newest (RUN/samples)", p.gridStep, pos)
	}
	return "periodic grid: none yet"
}

func (p samplesPane) view(s *session, w, h int) string {
	st := s.st
	pr, rr := p.layout(s, w, h)
	head := clip(st.heading.Render("Samples")+"  "+st.dim.Render(p.caption()), w)
	empty := "no periodic grid yet: n samples from the newest weights now"
	if p.at >= 0 || p.pinned >= 0 {
		empty = "reading the grid…"
	}
	if p.show == viewChain {
		empty = "press n to sample from the newest weights"
	}
	box := imageBox(s, p.shown(), pr.w, pr.h, empty)
	right := p.sidebar(s, rr.w, rr.h)
	body := lipgloss.JoinHorizontal(lipgloss.Top, box, "  ", right)
	return head + "\n" + clip(body, w)
}

func (p samplesPane) sidebar(s *session, w, h int) string {
	if w < 12 {
		return ""
	}
	st := s.st
	sch := s.sampler.Schedule
	value := func(label, v string) string { return st.label.Render(label+" ") + st.value.Render(v) }
	var info []string
	if p.gridNew {
		how := "g shows it"
		if p.show == viewGrid {
			how = "end shows it"
		}
		info = append(info, st.warnText.Render(fmt.Sprintf("new periodic grid, step %d: %s", p.gridStep, how)))
	}
	if p.show == viewGrid {
		info = append(info, value("view", "periodic grid")+st.dim.Render(" (g: your chain)"))
		if cur := p.currentStep(); cur >= 0 {
			info = append(info, value("step", fmt.Sprint(cur)), value("chains", fmt.Sprint(s.cfg.SampleCount)),
				value("sampler", fmt.Sprintf("%d steps from T %s", s.cfg.SampleSteps, chart.FormatSI(s.cfg.SampleT0))))
		}
		if n := len(p.history); n > 0 {
			info = append(info, value("history", fmt.Sprintf("%d grids, steps %d–%d", n, p.history[0], p.history[n-1]))+
				st.dim.Render(" ("+st.g.left+"/"+st.g.right+" scrub, home/end, c side by side)"))
		}
	} else {
		state := "idle"
		if p.running {
			state = fmt.Sprintf("running %d/%d", p.step, p.total)
		}
		meanE := "–"
		if n := len(p.trace); n > 0 {
			meanE = chart.FormatSI(p.trace[n-1].MeanEnergy)
		}
		info = append(info, value("view", "your chain")+st.dim.Render(" (g: periodic grid)"),
			value("chain", state),
			value("temperature", chart.FormatSI(p.temp))+"  "+value("mean energy", meanE))
	}
	info = append(info,
		value("chains", fmt.Sprint(p.nChains))+"  "+value("picture every", fmt.Sprintf("%d steps", p.every.Load())),
		st.label.Render("sampler ")+st.status.Render(fmt.Sprintf("%s, %d steps, T0 %s, eps %g", sch.Kind, sch.Steps, chart.FormatSI(sch.Peak()), s.sampler.Eps))+
			st.dim.Render(" (edit: 4 Schedule)"))
	var lines []string
	for _, l := range info {
		lines = append(lines, wrap(l, w)...)
	}
	if p.status != "" {
		lines = append(lines, wrap(st.hint.Render(p.status), w)...)
	}
	if p.show == viewGrid || len(lines)+4 > h {
		return clip(strings.Join(lines, "\n"), w)
	}
	pts := make([]chart.Point, 0, len(p.trace))
	for _, t := range p.trace {
		pts = append(pts, chart.Point{X: t.T, Y: t.MeanEnergy})
	}
	sc := chart.ScatterChart{Series: []chart.Series{{Name: "mean energy vs temperature", Points: pts, Color: st.series}},
		LogX: true, SymLogY: true, Lines: true, MarkLast: true, XLabel: "T", AxisColor: st.axis, Marker: st.marker}
	return clip(strings.Join(lines, "\n"), w) + "\n\n" + sc.Render(w, h-len(lines)-2)
}
