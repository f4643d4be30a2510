package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"mdsm/core"
)

// runDirRow is the form's last row: the run directory, which is not a RunConfig field.
const runDirRow = "run_dir"

// configurePane is the run configuration form, one row per core.RunFields entry (the same
// table the command-line flags are made from) plus the run directory. One textinput edits
// the selected row; text is parsed on commit and the whole configuration validated with
// RunConfig.Problems, whose messages land next to their rows. The form edits its own
// draft and hands it to the root (configMsg).
type configurePane struct {
	fields []core.Field
	cfg    core.RunConfig
	runDir string
	text   []string          // the text of each row (may not parse)
	perr   []string          // parse error per row
	verr   map[string]string // validation problem per field name

	cursor, top int
	field       textField // the row being edited
	note        string
}

func newConfigurePane(cfg core.RunConfig, runDir string) configurePane {
	p := configurePane{fields: core.RunFields(), field: newTextField(256)}
	p.field.in.SetWidth(valueW - 2)
	return p.load(cfg, runDir)
}

// rows is the number of form rows (the fields and the run directory).
func (p configurePane) rows() int { return len(p.fields) + 1 }

// load shows a configuration (and run directory) in the form.
func (p configurePane) load(cfg core.RunConfig, runDir string) configurePane {
	p.cfg, p.runDir = cfg, runDir
	p.text = make([]string, p.rows())
	p.perr = make([]string, p.rows())
	for i, f := range p.fields {
		p.text[i] = f.Get(cfg)
	}
	p.text[len(p.fields)] = runDir
	p.validate()
	return p
}

// locked says why the form cannot be edited ("" when it can).
func (p configurePane) locked(s *session) string {
	switch {
	case s.watch:
		return "watching a run: its configuration is read-only"
	case s.status == statusOpening:
		return "the run is being opened"
	case s.run != nil:
		return "this run's configuration is fixed; N starts a new run once training has stopped"
	}
	return ""
}

func (p configurePane) title(short bool) string {
	if short {
		return "Config"
	}
	return "Configure"
}
func (p configurePane) capturing() bool                      { return p.field.active }
func (p configurePane) slot(*session, int, int) (slot, bool) { return slot{}, false }

func (p configurePane) keys(s *session) []key.Binding {
	if p.field.active {
		return []key.Binding{ck.Edit, ck.Cancel}
	}
	if p.locked(s) != "" {
		bs := []key.Binding{ck.Up, ck.Down}
		if !s.watch {
			bs = append(bs, ck.NewRun)
		}
		return bs
	}
	return []key.Binding{ck.Up, ck.Down, ck.Edit, ck.Prev, ck.Next, ck.Defaults, ck.NewRun}
}

// parseErrors counts rows whose text does not parse.
func (p configurePane) parseErrors() int {
	n := 0
	for _, e := range p.perr {
		if e != "" {
			n++
		}
	}
	return n
}

// draft is the request that hands the form's state to the root.
func (p configurePane) draft() out {
	return ask(configMsg{cfg: p.cfg, runDir: strings.TrimSpace(p.runDir), parseErrors: p.parseErrors()})
}

func (p configurePane) update(s *session, msg tea.Msg) (configurePane, out) {
	switch m := msg.(type) {
	case runOpenedMsg:
		if m.err == nil {
			p = p.load(m.run.Config(), m.run.Dir())
			p.note = ""
		}
		return p, out{}
	case newRunMsg:
		p = p.load(p.cfg, "")
		p.note = "new run: edit the settings, then press s in the Train pane"
		return p, p.draft()
	case tea.KeyPressMsg:
		return p.key(s, m)
	}
	cmd := p.field.update(msg) // before p is read
	return p, do(cmd)
}

func (p configurePane) key(s *session, k tea.KeyPressMsg) (configurePane, out) {
	if o, took := p.field.take(k, func(text string) out { p = p.commit(text); return p.draft() }); took {
		return p, o
	}
	n := p.rows()
	switch {
	case key.Matches(k, ck.Up):
		p.cursor = (p.cursor - 1 + n) % n
	case key.Matches(k, ck.Down):
		p.cursor = (p.cursor + 1) % n
	case key.Matches(k, ck.Edit):
		if why := p.locked(s); why != "" {
			p.note = why
			return p, out{}
		}
		p.note = ""
		cmd := p.field.open(p.text[p.cursor]) // before p is read
		return p, do(cmd)
	case key.Matches(k, ck.Prev), key.Matches(k, ck.Next):
		if p.cursor >= len(p.fields) || len(p.fields[p.cursor].Choices) == 0 {
			return p, out{}
		}
		if why := p.locked(s); why != "" {
			p.note = why
			return p, out{}
		}
		choices := p.fields[p.cursor].Choices
		i := -1
		for j, c := range choices {
			if c == p.text[p.cursor] {
				i = j
			}
		}
		if key.Matches(k, ck.Next) {
			i = (i + 1) % len(choices)
		} else {
			i = (max(i, 0) - 1 + len(choices)) % len(choices)
		}
		p = p.commit(choices[i])
		return p, p.draft()
	case key.Matches(k, ck.Defaults):
		if why := p.locked(s); why != "" {
			p.note = why
			return p, out{}
		}
		p = p.load(core.DefaultRunConfig(), p.runDir)
		p.note = "reset to the defaults"
		return p, p.draft()
	case key.Matches(k, ck.NewRun):
		if s.watch || s.active() || s.status == statusOpening {
			p.note = "stop the current run first (x in the Train pane)"
			return p, out{}
		}
		return p, ask(newRunMsg{})
	}
	return p, out{}
}

// commit parses text into the row under the cursor.
func (p configurePane) commit(text string) configurePane {
	i := p.cursor
	p.text = append([]string(nil), p.text...)
	p.perr = append([]string(nil), p.perr...)
	p.text[i], p.perr[i] = text, ""
	if i == len(p.fields) {
		p.runDir = strings.TrimSpace(text)
		return p
	}
	f := p.fields[i]
	c := p.cfg
	if err := f.Set(&c, text); err != nil {
		p.perr[i] = err.Error()
		return p
	}
	p.cfg = c
	if f.Model { // the preset sets the widths; a width marks the preset custom
		for j, g := range p.fields {
			if g.Model && p.perr[j] == "" {
				p.text[j] = g.Get(c)
			}
		}
	}
	p.validate()
	return p
}

// validate puts RunConfig.Problems next to their rows.
func (p *configurePane) validate() {
	p.verr = map[string]string{}
	for _, e := range p.cfg.Problems() {
		p.verr[e.Field] = e.Msg
	}
}

// labelW and valueW are the form's columns.
const labelW, valueW = 18, 24

func (p configurePane) view(s *session, w, h int) string {
	st := s.st
	head := st.heading.Render("Run configuration")
	locked := p.locked(s)
	if locked != "" {
		head += "  " + st.dim.Render(locked)
	} else {
		head += "  " + st.dim.Render("saved to RUN/config.json when training starts (s in the Train pane)")
	}
	// rows: head, blank, [↑ more], fields..., [↓ more], footer
	avail := max(1, h-3)
	top := p.top
	if p.cursor < top {
		top = p.cursor
	}
	if p.cursor >= top+avail {
		top = p.cursor - avail + 1
	}
	top = min(max(top, 0), max(0, p.rows()-avail))
	// the indicators take rows of their own when the list scrolls
	shown := avail
	if p.rows() > avail {
		shown = max(1, avail-2)
		if p.cursor >= top+shown {
			top = p.cursor - shown + 1
		}
		if p.cursor < top {
			top = p.cursor
		}
	}
	var lines []string
	if p.rows() > avail {
		above := ""
		if top > 0 {
			above = st.dim.Render(fmt.Sprintf("  %s %d more above", st.g.up, top))
		}
		lines = append(lines, above)
	}
	for i := top; i < min(p.rows(), top+shown); i++ {
		lines = append(lines, p.row(s, i, locked != "", w))
	}
	if p.rows() > avail {
		lines = append(lines, st.dim.Render(fmt.Sprintf("  %s %d more below (%d of %d)", st.g.down, max(0, p.rows()-top-shown), p.cursor+1, p.rows())))
	}
	var foot string
	problems := p.parseErrors() + len(p.verr)
	switch {
	case p.note != "":
		foot = st.hint.Render(p.note)
	case problems > 0:
		foot = st.errText.Render(fmt.Sprintf("%d problem(s): fix them before starting", problems))
	default:
		foot = st.ok.Render(st.g.ok+" valid") + st.dim.Render(fmt.Sprintf("  %s: %d parameters", p.cfg.Model.Preset, paramCount(p.cfg)))
	}
	return clip(head+"\n\n"+strings.Join(lines, "\n")+"\n"+foot, w)
}

// row renders one form row: cursor, label, value and the help or the row's error.
func (p configurePane) row(s *session, i int, locked bool, w int) string {
	st := s.st
	label, help, name := "run directory", "empty = runs/DATE-TIME when training starts", runDirRow
	var choices []string
	if i < len(p.fields) {
		f := p.fields[i]
		label, help, name, choices = f.Label, f.Help, f.Name, f.Choices
	}
	cur, lst := "  ", st.fieldLabel
	if i == p.cursor {
		cur, lst = st.fieldCursor.Render(st.g.cursor+" "), st.fieldCursor
	}
	var val string
	if p.field.active && i == p.cursor {
		val = p.field.view()
	} else {
		v := p.text[i]
		if name == runDirRow && v == "" {
			v = "(auto)"
		}
		vs := st.fieldValue
		if locked {
			vs = st.fieldLocked
		}
		if len(choices) > 0 && i == p.cursor && !locked {
			v = st.g.choiceL + v + st.g.choiceR
		}
		val = vs.Render(truncate(v, valueW))
	}
	msg := st.dim.Render(help)
	if e := p.perr[i]; e != "" {
		msg = st.fieldErr.Render(st.g.bad + " " + e)
	} else if e := p.verr[name]; e != "" {
		msg = st.fieldErr.Render(st.g.bad + " " + e)
	}
	return clip(cur+lst.Render(padRight(label, labelW))+padRight(val, valueW+2)+msg, w)
}

// paramCount is the number of scalars of a configuration's network (0 when invalid).
func paramCount(c core.RunConfig) int {
	if c.Model.Validate() != nil {
		return 0
	}
	return c.Model.ParamCount()
}
