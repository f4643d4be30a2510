package tui

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"mdsm/core"
)

// inpaintRows is how many test images one restoration shows.
const inpaintRows = 4

// inpaintPane inpaints masked test images or denoises noisy ones from the newest weights,
// showing input | result | truth for a few images.
type inpaintPane struct {
	test    *core.TestImages
	testFor string // the dataset and shape the test images were loaded for
	loading bool
	index   int
	mode    int // index into core.RestoreModes
	sigma   float64

	pic     picture
	caption string
	status  string

	running bool
	id      int
	cancelF context.CancelFunc
	jobs    <-chan core.JobUpdate
	step    int
	total   int
}

func newInpaintPane() inpaintPane { return inpaintPane{sigma: 0.3} }

func (p inpaintPane) title(short bool) string {
	if short {
		return "Inpaint"
	}
	return "Inpaint/Denoise"
}
func (p inpaintPane) capturing() bool             { return false }
func (p inpaintPane) keys(*session) []key.Binding { return ik.list() }

func (p inpaintPane) cancel() {
	if p.cancelF != nil {
		p.cancelF()
	}
}

func (p inpaintPane) modeName() string {
	if m := core.RestoreModes()[p.mode]; m != core.ModeDenoise {
		return m + " mask"
	}
	return fmt.Sprintf("denoise sigma %.2f", p.sigma)
}

func (p inpaintPane) spec(s *session) core.RestoreSpec {
	return core.RestoreSpec{Mode: core.RestoreModes()[p.mode], First: p.index, Rows: inpaintRows, Sigma: p.sigma,
		Sampler: s.sampler, Seed: uint64(time.Now().UnixNano())}
}

func (p inpaintPane) layout(s *session, w, h int) rect {
	rows := max(1, h-3)
	aspect := 3.0 / inpaintRows
	cellRatio := float64(s.cell.H) / float64(max(1, s.cell.W))
	if !s.proto.IsGraphics() {
		cellRatio = 2
	}
	cols := int(float64(rows)*cellRatio*aspect + 0.5)
	if maxCols := max(10, w*3/5); cols > maxCols {
		cols = maxCols
		rows = max(1, int(float64(cols)/(cellRatio*aspect)))
	}
	return rect{x: 0, y: 2, w: max(1, cols), h: rows}
}

func (p inpaintPane) slot(s *session, w, h int) (slot, bool) {
	if !p.pic.ok() {
		return slot{}, false
	}
	return slot{pic: p.pic, r: p.layout(s, w, h)}, true
}

// preview shows the current selection before a run: input | (empty) | truth.
func (p inpaintPane) preview(s *session) inpaintPane {
	if p.test == nil {
		return p
	}
	img, err := p.test.Preview(p.spec(s))
	if err != nil {
		p.status = err.Error()
		return p
	}
	p.pic = newPicture(img)
	p.caption = fmt.Sprintf("test images %d–%d, %s: enter runs", p.index, p.index+inpaintRows-1, p.modeName())
	return p
}

// testKey names the test images a configuration needs.
func testKey(s *session) string {
	c := s.cfg
	return fmt.Sprintf("%s|%s|%d|%d", c.Data, c.DataDir, c.Model.ImageSize, c.Model.InChannels)
}

// load starts loading the test images the configuration needs, unless they are loaded.
func (p inpaintPane) load(s *session) (inpaintPane, out) {
	if (p.test != nil && p.testFor == testKey(s)) || p.loading {
		return p, out{}
	}
	p.test, p.pic, p.loading, p.status = nil, picture{}, true, "loading test images…"
	p.testFor = testKey(s)
	return p, do(loadTestImagesCmd(s.cfg))
}

func (p inpaintPane) update(s *session, msg tea.Msg) (inpaintPane, out) {
	switch m := msg.(type) {
	case activateMsg:
		return p.load(s)
	case newRunMsg:
		p.cancel()
		return newInpaintPane(), out{} // another run may have other test images
	case testImagesMsg:
		p.loading = false
		if m.err != nil {
			p.status = m.err.Error()
			return p, out{}
		}
		p.test, p.status = m.imgs, ""
		return p.preview(s), out{}
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

func (p inpaintPane) key(s *session, k tea.KeyPressMsg) (inpaintPane, out) {
	if p.test == nil {
		if key.Matches(k, ik.Run) || key.Matches(k, ik.Next) || key.Matches(k, ik.Prev) {
			return p.load(s)
		}
		return p, out{}
	}
	switch {
	case key.Matches(k, ik.Prev), key.Matches(k, ik.Next):
		if p.running {
			return p, out{}
		}
		d := -inpaintRows
		if key.Matches(k, ik.Next) {
			d = inpaintRows
		}
		n := p.test.Len()
		p.index = ((p.index+d)%n + n) % n
		return p.preview(s), out{}
	case key.Matches(k, ik.Mask):
		if !p.running {
			p.mode = (p.mode + 1) % len(core.RestoreModes())
			return p.preview(s), out{}
		}
	case key.Matches(k, ik.NoiseUp), key.Matches(k, ik.NoiseDown):
		if p.running {
			return p, out{}
		}
		if key.Matches(k, ik.NoiseUp) {
			p.sigma = math.Min(2, p.sigma+0.05)
		} else {
			p.sigma = math.Max(0.05, p.sigma-0.05)
		}
		if core.RestoreModes()[p.mode] == core.ModeDenoise {
			return p.preview(s), out{}
		}
	case key.Matches(k, ik.Run):
		if testKey(s) != p.testFor {
			return p.load(s)
		}
		return p.run(s)
	case key.Matches(k, ik.Cancel):
		if p.running {
			p.cancel()
			p.status = "cancelling…"
		}
	case key.Matches(k, ik.Save):
		if p.pic.ok() {
			name := "inpaint"
			if core.RestoreModes()[p.mode] == core.ModeDenoise {
				name = "denoise"
			}
			return p, do(saveImageCmd(paneInpaint, s.runDir, name, p.pic.img))
		}
	}
	return p, out{}
}

// run starts the restoration from the run's newest weights.
func (p inpaintPane) run(s *session) (inpaintPane, out) {
	if why := jobRefusal(s, p.running); why != "" {
		p.status = why
		return p, out{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.id++
	p.cancelF, p.running, p.step, p.total = cancel, true, 0, s.sampler.Schedule.Steps
	p.status = "restoring…"
	p.jobs = core.StartRestoring(ctx, s.run, p.test, p.spec(s))
	return p, do(waitJob(p.jobs, paneInpaint, p.id))
}

func (p inpaintPane) onJob(m jobMsg) (inpaintPane, out) {
	if m.id != p.id {
		return p, out{}
	}
	u := m.u
	if m.closed || u.Err != nil {
		p.running, p.cancelF = false, nil
		if m.closed || errors.Is(u.Err, context.Canceled) {
			p.status = fmt.Sprintf("cancelled at step %d of %d", p.step, p.total)
		} else {
			p.status = "failed: " + u.Err.Error()
		}
		return p, out{}
	}
	p.step, p.total = u.Step, u.Total
	if u.Picture != nil {
		p.pic = newPicture(u.Picture)
	}
	p.caption = fmt.Sprintf("%s: step %d/%d, T %.3g, %s", p.modeName(), u.Step, u.Total, u.Temperature, u.Weights)
	if u.Done {
		p.running, p.cancelF = false, nil
		p.caption = fmt.Sprintf("%s with %s in %s: %s", p.modeName(), u.Weights, u.Took.Round(time.Millisecond), u.Result)
		p.status = "w saves the picture"
		return p, out{}
	}
	return p, do(waitJob(p.jobs, paneInpaint, p.id))
}

func (p inpaintPane) view(s *session, w, h int) string {
	st := s.st
	r := p.layout(s, w, h)
	value := func(label, v string) string { return st.label.Render(label+" ") + st.value.Render(v) }
	parts := []string{st.heading.Render("Inpaint / Denoise"), value("mode", p.modeName()) + st.dim.Render(" (m, +/-)")}
	if p.test != nil {
		parts = append(parts, value("images", fmt.Sprintf("%d–%d of %d", p.index, p.index+inpaintRows-1, p.test.Len()))+st.dim.Render(" (←/→)"))
	}
	head := flow(parts, w, 1)
	third := max(1, r.w/3)
	cols := clip(st.dim.Render(padRight("input", third)+padRight("result", third)+"truth"), w)
	empty := "press enter to load test images"
	if p.loading {
		empty = "loading test images…"
	}
	box := imageBox(s, p.pic, r.w, r.h, empty)
	sideW := max(0, w-r.w-2)
	model := "none yet (train first)"
	if s.run != nil {
		model = "newest weights of " + s.runDir
	}
	sch := s.sampler.Schedule
	var side []string
	for _, l := range []string{
		st.label.Render("model ") + st.status.Render(model),
		st.label.Render("sampler ") + st.status.Render(fmt.Sprintf("%s, %d steps", sch.Kind, sch.Steps)) + st.dim.Render(" (edit: 4 Schedule)"),
	} {
		side = append(side, wrap(l, sideW)...)
	}
	if p.caption != "" {
		side = append(side, "")
		side = append(side, wrap(st.value.Render(p.caption), sideW)...)
	}
	if p.status != "" {
		side = append(side, "")
		side = append(side, wrap(st.hint.Render(p.status), sideW)...)
	}
	body := lipgloss.JoinHorizontal(lipgloss.Top, box, "  ", strings.Join(side, "\n"))
	return strings.Join(head, "\n") + "\n" + cols + "\n" + clip(body, w)
}
