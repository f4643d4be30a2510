package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"mdsm/core"
	"mdsm/nn"
)

// field is one row of the Configure form. name is the JSON name RunConfig.Validate uses
// in its messages, so that validation errors land next to the right field.
type field struct {
	name, label, help string
	choices           []string
	get               func(c *core.RunConfig) string
	set               func(c *core.RunConfig, v string) error
}

func intField(name, label, help string, p func(c *core.RunConfig) *int) field {
	return field{name: name, label: label, help: help,
		get: func(c *core.RunConfig) string { return strconv.Itoa(*p(c)) },
		set: func(c *core.RunConfig, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not a whole number", v)
			}
			*p(c) = n
			return nil
		}}
}

func floatField(name, label, help string, p func(c *core.RunConfig) *float64) field {
	return field{name: name, label: label, help: help,
		get: func(c *core.RunConfig) string { return strconv.FormatFloat(*p(c), 'g', -1, 64) },
		set: func(c *core.RunConfig, v string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", v)
			}
			*p(c) = f
			return nil
		}}
}

func stringField(name, label, help string, choices []string, p func(c *core.RunConfig) *string) field {
	return field{name: name, label: label, help: help, choices: choices,
		get: func(c *core.RunConfig) string { return *p(c) },
		set: func(c *core.RunConfig, v string) error { *p(c) = strings.TrimSpace(v); return nil }}
}

// runDirField is the name of the pseudo-field for the run directory (not in RunConfig).
const runDirField = "run_dir"

func configFields() []field {
	return []field{
		stringField("data", "dataset", "embedded, mnist, fashion-mnist, cifar10 or an image folder",
			[]string{"embedded", "mnist", "fashion-mnist", "cifar10"}, func(c *core.RunConfig) *string { return &c.Data }),
		stringField("data_dir", "data directory", "where downloads go (empty = $MDSM_DATA or ~/.cache/mdsm/data)", nil,
			func(c *core.RunConfig) *string { return &c.DataDir }),
		{name: "preset", label: "preset", help: "network preset (sets the widths below)", choices: nn.PresetNames(),
			get: func(c *core.RunConfig) string { return c.Model.Preset },
			set: func(c *core.RunConfig, v string) error {
				m, err := nn.PresetConfig(strings.TrimSpace(v))
				if err != nil {
					return err
				}
				c.Model = m
				return nil
			}},
		intField("in_channels", "in channels", "1 grey, 3 colour", func(c *core.RunConfig) *int { return &c.Model.InChannels }),
		intField("image_size", "image size", "28 keeps MNIST unpadded, 32 pads it", func(c *core.RunConfig) *int { return &c.Model.ImageSize }),
		intField("filters", "filters", "base width (channels of the stem)", func(c *core.RunConfig) *int { return &c.Model.Filters }),
		intField("stages", "stages", "downsampling stages (each doubles the width)", func(c *core.RunConfig) *int { return &c.Model.Stages }),
		intField("extra_blocks", "extra blocks", "same-size blocks per stage", func(c *core.RunConfig) *int { return &c.Model.ExtraBlocks }),
		stringField("noise_mode", "noise mode", "multiscale (MDSM) or single (DSM baseline)", []string{"multiscale", "single"},
			func(c *core.RunConfig) *string { return &c.NoiseMode }),
		floatField("sigma_min", "sigma min", "smallest training noise", func(c *core.RunConfig) *float64 { return &c.SigmaMin }),
		floatField("sigma_max", "sigma max", "largest training noise", func(c *core.RunConfig) *float64 { return &c.SigmaMax }),
		stringField("noise_spacing", "noise spacing", "linear or geometric over the batch", []string{"linear", "geometric"},
			func(c *core.RunConfig) *string { return &c.NoiseSpacing }),
		floatField("single_sigma", "single sigma", "the sigma of single-noise DSM", func(c *core.RunConfig) *float64 { return &c.SingleSigma }),
		floatField("sigma0", "sigma0", "sigma0 of the score target", func(c *core.RunConfig) *float64 { return &c.Sigma0 }),
		floatField("lr", "learning rate", "peak Adam learning rate", func(c *core.RunConfig) *float64 { return &c.LR }),
		stringField("lr_schedule", "lr decay", "cosine (to lr min) or constant", []string{"cosine", "constant"},
			func(c *core.RunConfig) *string { return &c.LRSchedule }),
		floatField("lr_min", "lr min", "final learning rate of the cosine decay", func(c *core.RunConfig) *float64 { return &c.LRMin }),
		intField("warmup_steps", "warm-up steps", "linear learning-rate warm-up", func(c *core.RunConfig) *int { return &c.Warmup }),
		intField("batch_size", "batch", "images per step", func(c *core.RunConfig) *int { return &c.BatchSize }),
		intField("micro_batch", "micro-batch", "images per pass (0 = whole batch)", func(c *core.RunConfig) *int { return &c.MicroBatch }),
		intField("steps", "steps", "total optimisation steps", func(c *core.RunConfig) *int { return &c.Steps }),
		intField("log_every", "log every", "metrics.jsonl line every N steps", func(c *core.RunConfig) *int { return &c.LogEvery }),
		intField("checkpoint_every", "checkpoint every", "checkpoint every N steps", func(c *core.RunConfig) *int { return &c.CheckpointEvery }),
		intField("keep_checkpoints", "keep checkpoints", "newest checkpoints kept", func(c *core.RunConfig) *int { return &c.KeepCheckpoints }),
		intField("sample_every", "sample every", "sample grid into RUN/samples every N steps (0 = never)", func(c *core.RunConfig) *int { return &c.SampleEvery }),
		intField("sample_count", "sample count", "images per periodic grid", func(c *core.RunConfig) *int { return &c.SampleCount }),
		intField("sample_steps", "sample steps", "Langevin steps of a periodic grid", func(c *core.RunConfig) *int { return &c.SampleSteps }),
		{name: "seed", label: "seed", help: "weights, batches and noise",
			get: func(c *core.RunConfig) string { return strconv.FormatUint(c.Seed, 10) },
			set: func(c *core.RunConfig, v string) error {
				n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				if err != nil {
					return fmt.Errorf("%q is not a non-negative whole number", v)
				}
				c.Seed = n
				return nil
			}},
		{name: "nan_rollback", label: "NaN rollback", choices: []string{"off", "on"},
			help: fmt.Sprintf("on a NaN/Inf: back to the last good checkpoint, half the learning rate (at most %d times)", core.MaxNaNRollbacks),
			get: func(c *core.RunConfig) string {
				if c.NaNRollback {
					return "on"
				}
				return "off"
			},
			set: func(c *core.RunConfig, v string) error {
				switch strings.TrimSpace(v) {
				case "on":
					c.NaNRollback = true
				case "off":
					c.NaNRollback = false
				default:
					return fmt.Errorf("%q: choose on or off", v)
				}
				return nil
			}},
		{name: runDirField, label: "run directory", help: "empty = runs/DATE-TIME when training starts"},
	}
}

// configurePane is the run configuration form: one bubbles textinput edits the selected
// field; values are parsed on commit and validated with RunConfig.Validate.
type configurePane struct {
	s      *session
	fields []field
	text   []string // the text of each field (may not parse)
	perr   []string // parse error per field
	verr   map[string]string
	runDir string

	cursor  int
	editing bool
	input   textinput.Model
	note    string
}

func newConfigurePane(s *session, runDir string) *configurePane {
	p := &configurePane{s: s, fields: configFields(), runDir: runDir, input: textinput.New()}
	p.input.Prompt = ""
	p.input.CharLimit = 256
	p.load(s.cfg, runDir)
	return p
}

// load shows a configuration (and run directory) in the form.
func (p *configurePane) load(cfg core.RunConfig, runDir string) {
	p.text = make([]string, len(p.fields))
	p.perr = make([]string, len(p.fields))
	for i, f := range p.fields {
		if f.name == runDirField {
			p.text[i] = runDir
			continue
		}
		p.text[i] = f.get(&cfg)
	}
	p.runDir = runDir
	p.validate()
}

// locked reports why the form cannot be edited ("" when it can).
func (p *configurePane) locked() string {
	switch {
	case p.s.watch:
		return "watching a run: its configuration is read-only"
	case p.s.trainer != nil:
		return "this run's configuration is fixed; N starts a new run once training has stopped"
	case p.s.runDir != "" && p.s.state != "idle":
		return "the run is being opened"
	}
	return ""
}

func (p *configurePane) title() string              { return "Configure" }
func (p *configurePane) keys() []key.Binding        { return ck.list() }
func (p *configurePane) capturing() bool            { return p.editing }
func (p *configurePane) slot(int, int) (slot, bool) { return slot{}, false }
func (p *configurePane) runDirValue() string        { return strings.TrimSpace(p.runDir) }

// parseErrors counts fields whose text does not parse.
func (p *configurePane) parseErrors() int {
	n := 0
	for _, e := range p.perr {
		if e != "" {
			n++
		}
	}
	return n
}

func (p *configurePane) update(msg tea.Msg) tea.Cmd {
	if p.editing {
		if k, ok := msg.(tea.KeyPressMsg); ok {
			switch k.String() {
			case "enter":
				p.commit(p.input.Value())
				p.editing = false
				p.input.Blur()
				return nil
			case "esc":
				p.editing = false
				p.input.Blur()
				return nil
			}
		}
		var cmd tea.Cmd
		p.input, cmd = p.input.Update(msg)
		return cmd
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	switch {
	case key.Matches(k, ck.Up):
		p.cursor = (p.cursor - 1 + len(p.fields)) % len(p.fields)
	case key.Matches(k, ck.Down):
		p.cursor = (p.cursor + 1) % len(p.fields)
	case key.Matches(k, ck.Edit):
		if why := p.locked(); why != "" {
			p.note = why
			return nil
		}
		p.note = ""
		p.editing = true
		p.input.SetValue(p.text[p.cursor])
		p.input.CursorEnd()
		return p.input.Focus()
	case key.Matches(k, ck.Prev), key.Matches(k, ck.Next):
		f := p.fields[p.cursor]
		if len(f.choices) == 0 {
			return nil
		}
		if why := p.locked(); why != "" {
			p.note = why
			return nil
		}
		i := 0
		for j, c := range f.choices {
			if c == p.text[p.cursor] {
				i = j
			}
		}
		if key.Matches(k, ck.Next) {
			i = (i + 1) % len(f.choices)
		} else {
			i = (i - 1 + len(f.choices)) % len(f.choices)
		}
		p.commit(f.choices[i])
	case key.Matches(k, ck.Defaults):
		if why := p.locked(); why != "" {
			p.note = why
			return nil
		}
		p.s.cfg = core.DefaultRunConfig()
		p.load(p.s.cfg, p.runDir)
		p.note = "reset to the defaults"
	case key.Matches(k, ck.NewRun):
		return p.newRun()
	}
	return nil
}

// newRun forgets a stopped run so that the next start creates a fresh one.
func (p *configurePane) newRun() tea.Cmd {
	s := p.s
	if s.watch || s.trainerActive() || s.state == "loading" {
		p.note = "stop the current run first (x in the Train pane)"
		return nil
	}
	s.trainer, s.runDir, s.state = nil, "", "idle"
	s.step, s.imagesPerSec, s.eta, s.lastCkptAt, s.lastCkptStep, s.rankRates = 0, 0, 0, time.Time{}, 0, nil
	p.runDir = ""
	p.load(s.cfg, "")
	p.note = "new run: edit the settings, then press s in the Train pane"
	return func() tea.Msg { return newRunMsg{} }
}

// newRunMsg tells the other panes that a new run begins.
type newRunMsg struct{}

// commit parses text into the field under the cursor.
func (p *configurePane) commit(text string) {
	i := p.cursor
	f := p.fields[i]
	p.text[i] = text
	p.perr[i] = ""
	if f.name == runDirField {
		p.runDir = strings.TrimSpace(text)
		return
	}
	c := p.s.cfg
	if err := f.set(&c, text); err != nil {
		p.perr[i] = err.Error()
		return
	}
	p.s.cfg = c
	if f.name == "preset" { // the widths follow the preset
		for j, g := range p.fields {
			if g.name != runDirField && g.name != "preset" && p.perr[j] == "" {
				p.text[j] = g.get(&c)
			}
		}
	} else if isModelField(f.name) && !strings.HasSuffix(c.Model.Preset, "+custom") {
		p.s.cfg.Model.Preset += "+custom"
		for j, g := range p.fields {
			if g.name == "preset" {
				p.text[j] = p.s.cfg.Model.Preset
			}
		}
	}
	p.validate()
}

func isModelField(name string) bool {
	switch name {
	case "in_channels", "image_size", "filters", "stages", "extra_blocks":
		return true
	}
	return false
}

// validate maps RunConfig.Validate messages to fields by the JSON name they start with.
func (p *configurePane) validate() {
	p.verr = map[string]string{}
	err := p.s.cfg.Validate()
	if err == nil {
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimPrefix(line, "model: ")
		name := line
		if i := strings.IndexAny(line, " =:"); i > 0 {
			name = line[:i]
		}
		matched := false
		for _, f := range p.fields {
			if f.name == name || strings.Contains(line, f.name+" = ") {
				if _, seen := p.verr[f.name]; !seen {
					p.verr[f.name] = line
				}
				matched = true
			}
		}
		if !matched {
			p.verr["preset"] = line
		}
	}
}

func (p *configurePane) view(w, h int) string {
	st := p.s.st
	labelW, valueW := 18, 26
	p.input.SetWidth(valueW - 2)
	head := st.heading.Render("Run configuration")
	if why := p.locked(); why != "" {
		head += "  " + st.dim.Render(why)
	} else {
		head += "  " + st.dim.Render("saved to RUN/config.json when training starts (s in the Train pane)")
	}
	rows := max(1, h-3)
	top := 0
	if p.cursor >= rows {
		top = p.cursor - rows + 1
	}
	var lines []string
	for i := top; i < min(len(p.fields), top+rows); i++ {
		f := p.fields[i]
		cur := "  "
		lst := st.fieldLabel
		if i == p.cursor {
			cur = st.fieldCursor.Render("▸ ")
			lst = st.fieldCursor
		}
		label := lst.Render(padRight(f.label, labelW))
		var val string
		if p.editing && i == p.cursor {
			val = "[" + p.input.View() + "]"
		} else {
			v := p.text[i]
			if f.name == runDirField && v == "" {
				v = "(auto)"
			}
			vs := st.fieldValue
			if p.locked() != "" {
				vs = st.fieldLocked
			}
			if len(f.choices) > 0 && i == p.cursor && !p.editing {
				v = "‹ " + v + " ›"
			}
			val = vs.Render(truncate(v, valueW))
		}
		val = padRight(val, valueW+2)
		msg := st.dim.Render(f.help)
		if e := p.perr[i]; e != "" {
			msg = st.fieldErr.Render("✗ " + e)
		} else if e := p.verr[f.name]; e != "" {
			msg = st.fieldErr.Render("✗ " + e)
		}
		lines = append(lines, lipgloss.NewStyle().MaxWidth(w).Render(cur+label+val+msg))
	}
	foot := ""
	switch {
	case p.note != "":
		foot = st.hint.Render(p.note)
	case p.parseErrors() > 0 || len(p.verr) > 0:
		foot = st.errText.Render(fmt.Sprintf("%d problem(s): fix them before starting", p.parseErrors()+len(p.verr)))
	default:
		foot = st.ok.Render("✓ valid") + st.dim.Render(fmt.Sprintf("  %s: %d parameters", p.s.cfg.Model.Preset, paramCount(p.s.cfg.Model)))
	}
	return head + "\n\n" + strings.Join(lines, "\n") + "\n" + foot
}

// paramCount is the number of scalars of a network configuration.
func paramCount(c nn.Config) int {
	if c.Validate() != nil {
		return 0
	}
	n := 0
	for _, s := range c.ParamSpecs() {
		k := 1
		for _, d := range s.Shape {
			k *= d
		}
		n += k
	}
	return n
}

// padRight pads s with spaces to w cells (ANSI aware).
func padRight(s string, w int) string {
	if d := w - lipgloss.Width(s); d > 0 {
		return s + strings.Repeat(" ", d)
	}
	return s
}

// truncate cuts plain text to w cells with an ellipsis.
func truncate(s string, w int) string {
	r := []rune(s)
	if len(r) <= w {
		return s
	}
	if w <= 1 {
		return string(r[:max(w, 0)])
	}
	return string(r[:w-1]) + "…"
}
