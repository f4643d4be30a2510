package tui

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"mdsm/core"
	"mdsm/data"
	"mdsm/nn"
	"mdsm/sampling"
	"mdsm/tui/termimg"
)

// inpaintModes are the masks the pane cycles through; "denoise" adds noise instead.
var inpaintModes = []string{"center", "left", "right", "top", "bottom", "random", "denoise"}

// inpaintRows is how many test images one run shows.
const inpaintRows = 4

// testImagesMsg delivers the test split, loaded off the UI goroutine.
type testImagesMsg struct {
	ds  *data.Dataset
	err error
}

// denoiseMsg delivers a denoising result.
type denoiseMsg struct {
	id     int
	pic    picture
	before float64
	after  float64
	note   string
	err    error
}

// inpaintPane inpaints masked test images or denoises noisy ones, showing
// input | result | truth for a few images.
type inpaintPane struct {
	s   *session
	app *App

	test    *data.Dataset
	loading bool
	index   int
	mode    int
	sigma   float64

	pic     picture
	caption string
	status  string

	running bool
	id      int
	cancelF context.CancelFunc
	waitFor <-chan chainMsg
	step    int
	total   int
}

func newInpaintPane(s *session, a *App) *inpaintPane {
	return &inpaintPane{s: s, app: a, sigma: 0.3}
}

func (p *inpaintPane) title() string       { return "Inpaint/Denoise" }
func (p *inpaintPane) keys() []key.Binding { return ik.list() }
func (p *inpaintPane) capturing() bool     { return false }

func (p *inpaintPane) cancel() {
	if p.cancelF != nil {
		p.cancelF()
		p.cancelF = nil
	}
}

// activate loads the test images the first time the pane is shown.
func (p *inpaintPane) activate() tea.Cmd {
	if p.test != nil || p.loading {
		return nil
	}
	p.loading = true
	p.status = "loading test images…"
	cfg := p.s.cfg
	return func() tea.Msg {
		ds, err := data.LoadWith(cfg.Data, "test", cfg.DataDir, data.Options{Size: cfg.Model.ImageSize, Limit: 256})
		if err != nil {
			return testImagesMsg{err: fmt.Errorf("load test images of %s: %w", cfg.Data, err)}
		}
		if ds.C != cfg.Model.InChannels {
			return testImagesMsg{err: fmt.Errorf("test images have %d channels, the model %d", ds.C, cfg.Model.InChannels)}
		}
		return testImagesMsg{ds: ds}
	}
}

func (p *inpaintPane) layout(w, h int) rect {
	rows := max(1, h-3)
	aspect := 3.0 / inpaintRows
	cellRatio := float64(p.s.cell.H) / float64(max(1, p.s.cell.W))
	if !p.s.proto.IsGraphics() {
		cellRatio = 2
	}
	cols := int(float64(rows)*cellRatio*aspect + 0.5)
	if cols > w-2 {
		cols = w - 2
		rows = max(1, int(float64(cols)/(cellRatio*aspect)))
	}
	return rect{x: 0, y: 2, w: max(1, cols), h: rows}
}

func (p *inpaintPane) slot(w, h int) (slot, bool) {
	if !p.pic.ok() {
		return slot{}, false
	}
	return slot{pic: p.pic, r: p.layout(w, h)}, true
}

// selection returns the truth images of the current selection.
func (p *inpaintPane) selection() ([]float32, int) {
	ds := p.test
	n := min(inpaintRows, ds.N)
	out := make([]float32, 0, n*ds.Dim())
	for i := range n {
		out = append(out, ds.Image((p.index+i)%ds.N)...)
	}
	return out, n
}

func (p *inpaintPane) mask() (sampling.Mask, error) {
	c := p.s.cfg.Model
	return sampling.ParseMask(inpaintModes[p.mode], c.ImageSize, c.ImageSize, uint64(p.index+1))
}

// preview shows the current selection before a run: input | (empty) | truth.
func (p *inpaintPane) preview() {
	if p.test == nil {
		return
	}
	truth, n := p.selection()
	input, err := p.inputImages(truth, n)
	if err != nil {
		p.status = err.Error()
		return
	}
	img, err := triptych(input, nil, truth, n, p.test.C, p.test.H, p.test.W, nil)
	if err != nil {
		p.status = err.Error()
		return
	}
	p.pic = newPicture(img)
	p.caption = fmt.Sprintf("test images %d–%d, %s: enter runs", p.index, p.index+n-1, p.modeName())
}

func (p *inpaintPane) modeName() string {
	if inpaintModes[p.mode] == "denoise" {
		return fmt.Sprintf("denoise sigma %.2f", p.sigma)
	}
	return inpaintModes[p.mode] + " mask"
}

// inputImages is what the model is given: noisy images, or nil pixels marked by the mask.
func (p *inpaintPane) inputImages(truth []float32, n int) ([]float32, error) {
	if inpaintModes[p.mode] == "denoise" {
		return sampling.AddNoise(truth, p.sigma, uint64(p.index+1)), nil
	}
	m, err := p.mask()
	if err != nil {
		return nil, err
	}
	in := append([]float32(nil), truth...)
	hw := m.H * m.W
	for i := range in {
		if m.Free[i%hw] {
			in[i] = float32(math.NaN()) // drawn in the mask colour
		}
	}
	return in, nil
}

func (p *inpaintPane) update(msg tea.Msg) tea.Cmd {
	switch m := msg.(type) {
	case testImagesMsg:
		p.loading = false
		if m.err != nil {
			p.status = m.err.Error()
			return nil
		}
		p.test, p.status = m.ds, ""
		p.preview()
		return nil
	case chainMsg:
		return p.onChain(m)
	case denoiseMsg:
		if m.id != p.id {
			return nil
		}
		p.running = false
		if m.err != nil {
			p.status = "denoise failed: " + m.err.Error()
			return nil
		}
		p.pic = m.pic
		p.caption = fmt.Sprintf("denoised sigma %.2f with %s: PSNR %.2f dB → %.2f dB", p.sigma, m.note, m.before, m.after)
		p.status = ""
		return nil
	case savedMsg:
		if m.target == "inpaint" {
			if m.err != nil {
				p.status = m.err.Error()
			} else {
				p.status = "saved " + m.path
			}
		}
		return nil
	case tea.KeyPressMsg:
		if p.test == nil {
			if key.Matches(m, ik.Run) || key.Matches(m, ik.Next) || key.Matches(m, ik.Prev) {
				return p.activate()
			}
			return nil
		}
		switch {
		case key.Matches(m, ik.Prev), key.Matches(m, ik.Next):
			if p.running {
				return nil
			}
			d := -inpaintRows
			if key.Matches(m, ik.Next) {
				d = inpaintRows
			}
			p.index = ((p.index+d)%p.test.N + p.test.N) % p.test.N
			p.preview()
		case key.Matches(m, ik.Mask):
			if !p.running {
				p.mode = (p.mode + 1) % len(inpaintModes)
				p.preview()
			}
		case key.Matches(m, ik.NoiseUp), key.Matches(m, ik.NoiseDown):
			if p.running {
				return nil
			}
			if key.Matches(m, ik.NoiseUp) {
				p.sigma = math.Min(2, p.sigma+0.05)
			} else {
				p.sigma = math.Max(0.05, p.sigma-0.05)
			}
			if inpaintModes[p.mode] == "denoise" {
				p.preview()
			}
		case key.Matches(m, ik.Run):
			return p.run()
		case key.Matches(m, ik.Cancel):
			if p.running {
				p.cancel()
				p.status = "cancelling…"
			}
		case key.Matches(m, ik.Save):
			if p.pic.ok() {
				return savePNGCmd("inpaint", p.s.runDir, "inpaint", p.pic.img)
			}
		}
	}
	return nil
}

// run starts inpainting (a Langevin chain on a goroutine) or denoising (a command).
func (p *inpaintPane) run() tea.Cmd {
	if p.running {
		p.status = "running: esc cancels"
		return nil
	}
	weights, err := p.s.weightsFunc()
	if err != nil {
		p.status = err.Error()
		return nil
	}
	truth, n := p.selection()
	input, err := p.inputImages(truth, n)
	if err != nil {
		p.status = err.Error()
		return nil
	}
	c, hh, ww := p.test.C, p.test.H, p.test.W
	p.id++
	id := p.id
	p.running = true
	sigma0 := p.s.cfg.Sigma0
	if inpaintModes[p.mode] == "denoise" {
		p.status = "denoising…"
		return func() tea.Msg {
			params, note, err := weights()
			if err != nil {
				return denoiseMsg{id: id, err: err}
			}
			out, err := sampling.Denoise(nn.NewModel(params), input, n, sigma0)
			if err != nil {
				return denoiseMsg{id: id, err: err}
			}
			_, before, _ := sampling.PSNR(input, truth, n, 1)
			_, after, _ := sampling.PSNR(out, truth, n, 1)
			img, err := triptych(input, out, truth, n, c, hh, ww, nil)
			return denoiseMsg{id: id, pic: newPicture(img), before: before, after: after, note: note, err: err}
		}
	}
	mask, err := p.mask()
	if err != nil {
		p.running = false
		p.status = err.Error()
		return nil
	}
	ic := sampling.InpaintConfig{Langevin: p.s.langevin(), ClampNoise: sampling.ClampNoiseSqrt}
	if err := ic.Validate(); err != nil {
		p.running = false
		p.status = err.Error()
		return nil
	}
	job := chainJob{
		target: "inpaint", id: id,
		every: func() int { return max(1, ic.Langevin.Schedule.Steps/40) },
		build: func() (*sampling.Chain, string, error) {
			params, note, err := weights()
			if err != nil {
				return nil, "", err
			}
			if params.Config.Dim() != c*hh*ww {
				return nil, "", fmt.Errorf("the model takes %dx%d images, the test images are %dx%d", params.Config.ImageSize, params.Config.ImageSize, hh, ww)
			}
			ch, err := sampling.NewInpaintChain(nn.NewModel(params), truth, n, c, mask, ic, uint64(time.Now().UnixNano()))
			return ch, note, err
		},
		render: func(den []float32) (image.Image, error) {
			return triptych(input, den, truth, n, c, hh, ww, nil)
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancelF = cancel
	p.step, p.total = 0, ic.Langevin.Schedule.Steps
	p.status = "inpainting…"
	p.waitFor = runChain(ctx, job)
	return waitChain(p.waitFor, "inpaint", id)
}

func (p *inpaintPane) onChain(m chainMsg) tea.Cmd {
	if m.id != p.id {
		return nil
	}
	if m.err != nil {
		p.running, p.cancelF = false, nil
		if errors.Is(m.err, context.Canceled) {
			p.status = fmt.Sprintf("cancelled at step %d of %d", p.step, p.total)
		} else {
			p.status = "inpainting failed: " + m.err.Error()
		}
		return nil
	}
	p.step, p.total = m.step, m.total
	if m.pic.ok() {
		p.pic = m.pic
	}
	p.caption = fmt.Sprintf("inpainting (%s) step %d/%d, T %.3g, %s", p.modeName(), m.step, m.total, m.temp, m.note)
	if m.done {
		p.running, p.cancelF = false, nil
		if mask, err := p.mask(); err == nil && m.images != nil {
			truth, n := p.selection()
			if _, mse, err := sampling.MaskedMSE(m.images, truth, n, p.test.C, mask); err == nil {
				p.caption = fmt.Sprintf("inpainted (%s) in %s: masked MSE %.4f", p.modeName(), m.took.Round(time.Millisecond), mse)
			}
		}
		p.status = "w saves the picture"
		return nil
	}
	return waitChain(p.waitFor, "inpaint", p.id)
}

func (p *inpaintPane) view(w, h int) string {
	st := p.s.st
	r := p.layout(w, h)
	mode := st.label.Render("mode ") + st.value.Render(p.modeName()) + st.dim.Render("  (m: mask/denoise, +/-: noise)")
	idx := ""
	if p.test != nil {
		idx = st.label.Render("  images ") + st.value.Render(fmt.Sprintf("%d–%d of %d", p.index, p.index+inpaintRows-1, p.test.N)) + st.dim.Render(" (←/→)")
	}
	head := st.heading.Render("Inpaint / Denoise") + "  " + mode + idx
	cols := st.dim.Render(padRight("input", r.w/3) + padRight("result", r.w/3) + "truth")
	empty := "press enter to load test images"
	if p.loading {
		empty = "loading test images…"
	}
	box := p.app.img.box(st, p.pic, r.w, r.h, empty)
	var side []string
	side = append(side, st.label.Render("model ")+st.status.Render(p.modelNote()))
	side = append(side, st.label.Render("schedule ")+st.status.Render(fmt.Sprintf("%s, %d steps", p.s.schedule.Kind, p.s.schedule.Steps))+st.dim.Render(" (4 edits)"))
	if p.caption != "" {
		side = append(side, "", st.value.Render(p.caption))
	}
	if p.status != "" {
		side = append(side, "", st.hint.Render(p.status))
	}
	sideW := max(0, w-r.w-2)
	for i := range side {
		side[i] = lipgloss.NewStyle().MaxWidth(sideW).Render(side[i])
	}
	_ = termimg.ProtoNone
	return head + "\n" + cols + "\n" + lipgloss.JoinHorizontal(lipgloss.Top, box, "  ", lipgloss.JoinVertical(lipgloss.Left, side...))
}

func (p *inpaintPane) modelNote() string {
	switch {
	case p.s.trainer != nil:
		return "trainer snapshot (" + p.s.trainer.State().String() + ")"
	case p.s.runDir != "":
		return "newest checkpoint of " + p.s.runDir
	}
	return "none yet (train first)"
}

// triptych lays out n rows of input | result | truth as one RGB picture. NaN input
// pixels (the inpainting mask) are drawn in a blue tint; a nil result column is left
// dark grey.
func triptych(input, result, truth []float32, n, c, h, w int, _ *core.RunConfig) (image.Image, error) {
	dim := c * h * w
	plane := h * w
	out := make([]float32, 0, 3*n*3*plane)
	rgb := func(src []float32, i int, fill float32) {
		for ch := range 3 {
			sc := min(ch, c-1)
			for j := range plane {
				v := fill
				if src != nil {
					v = src[i*dim+sc*plane+j]
				}
				if math.IsNaN(float64(v)) {
					v = [3]float32{0.25, 0.35, 0.85}[ch]
				}
				out = append(out, v)
			}
		}
	}
	for i := range n {
		rgb(input, i, 0.15)
		rgb(result, i, 0.15)
		rgb(truth, i, 0.15)
	}
	return sampling.Grid(out, 3*n, 3, h, w, 3, 2)
}
