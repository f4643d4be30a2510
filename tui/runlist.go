package tui

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"mdsm/core"
	"mdsm/tui/chart"
)

// The Runs pane scans its root every other watch interval (Options.WatchInterval, 2 s by
// default) while it is shown, or while runs are laid over the Train pane's chart, whose
// curves follow their runs.

// runsPane lists the run directories under the runs root (--runs, default runs/) with
// what they train, how far they got, their state, last loss, speed and age; it opens one
// (watch or resume), marks several to lay their loss curves over the Train pane's, and
// compares the marked runs' configurations field by field (only the fields that differ).
// It scans the root off the UI goroutine (core.RunScanner), every runsRefresh.
type runsPane struct {
	scanner  *core.RunScanner
	runs     []core.RunSummary // as scanned (by name)
	scanning bool
	ticking  bool
	tick     int // the tick chain's generation
	scanned  time.Time
	took     time.Duration
	err      string

	cursor  int // the selected row (in sorted order)
	offset  int // the first row shown
	marks   []string
	sortBy  int
	desc    bool
	compare bool
	status  string
	h       int           // the pane's height at the last resize
	every   time.Duration // between scans
}

// The sort columns of the Runs pane.
var runSortNames = []string{"name", "changed", "state", "step", "loss", "img/s"}

func newRunsPane(root string, every time.Duration) runsPane {
	return runsPane{scanner: core.NewRunScanner(root), sortBy: 1, desc: true, every: every}
}

func (p runsPane) title(bool) string                    { return "Runs" }
func (p runsPane) capturing() bool                      { return false }
func (p runsPane) slot(*session, int, int) (slot, bool) { return slot{}, false }
func (p runsPane) keys(*session) []key.Binding          { return rk.list() }

// runsTickMsg asks the Runs pane to scan again.
type runsTickMsg struct{ gen int }

// scanRunsCmd scans the root off the UI goroutine.
func scanRunsCmd(sc *core.RunScanner) tea.Cmd {
	return func() tea.Msg {
		start := time.Now()
		runs, err := sc.Scan()
		return runsScannedMsg{runs: runs, err: err, took: time.Since(start)}
	}
}

// wanted reports whether the pane should keep scanning: it is shown, or runs are marked.
func (p runsPane) wanted(s *session) bool { return s.shown == paneRuns || len(p.marks) > 0 }

// scan starts a scan unless one is running.
func (p runsPane) scan() (runsPane, tea.Cmd) {
	if p.scanning {
		return p, nil
	}
	p.scanning = true
	return p, scanRunsCmd(p.scanner)
}

// keepTicking starts the refresh ticks unless they run.
func (p runsPane) keepTicking() (runsPane, tea.Cmd) {
	if p.ticking {
		return p, nil
	}
	p.ticking = true
	p.tick++
	gen := p.tick
	return p, tea.Tick(p.every, func(time.Time) tea.Msg { return runsTickMsg{gen: gen} })
}

func (p runsPane) update(s *session, msg tea.Msg) (runsPane, out) {
	switch m := msg.(type) {
	case activateMsg:
		var a, b tea.Cmd
		p, a = p.scan()
		p, b = p.keepTicking()
		return p, do(tea.Batch(a, b))
	case runsTickMsg:
		if m.gen != p.tick {
			return p, out{}
		}
		p.ticking = false
		if !p.wanted(s) {
			return p, out{}
		}
		var a, b tea.Cmd
		p, a = p.scan()
		p, b = p.keepTicking()
		return p, do(tea.Batch(a, b))
	case runsScannedMsg:
		sel := p.selected()
		p.scanning, p.scanned, p.took = false, time.Now(), m.took
		p.err = ""
		if m.err != nil {
			p.err = m.err.Error()
			p.runs = nil
		} else {
			p.runs = m.runs
		}
		p.cursor = min(max(p.cursor, 0), max(len(p.runs)-1, 0))
		if sel != "" { // the selection stays on its run when the order changes
			for i, r := range p.sorted(s) {
				if r.Dir == sel {
					p.cursor = i
				}
			}
		}
		p.offset = p.scrolled()
		return p, out{}
	case bodySizeMsg:
		p.h = m.h
		p.offset = p.scrolled()
		return p, out{}
	case clickMsg:
		return p.click(s, m)
	case tea.KeyPressMsg:
		return p.key(s, m)
	}
	return p, out{}
}

// selected is the directory of the selected run ("" for none).
func (p runsPane) selected() string {
	if p.cursor >= 0 && p.cursor < len(p.runs) {
		return p.sortedRuns(nil)[p.cursor].Dir
	}
	return ""
}

// sorted is the runs in the pane's order.
func (p runsPane) sorted(s *session) []core.RunSummary { return p.sortedRuns(s) }

func (p runsPane) sortedRuns(*session) []core.RunSummary {
	rs := slices.Clone(p.runs)
	less := func(a, b core.RunSummary) bool {
		switch runSortNames[p.sortBy] {
		case "changed":
			return a.Updated.Before(b.Updated)
		case "state":
			return stateLabel(a) < stateLabel(b)
		case "step":
			return a.Step < b.Step
		case "loss":
			return lossKey(a) < lossKey(b)
		case "img/s":
			return a.ImagesPerSec < b.ImagesPerSec
		}
		return a.Name < b.Name
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if p.desc {
			return less(rs[j], rs[i])
		}
		return less(rs[i], rs[j])
	})
	return rs
}

// lossKey sorts runs without a loss last.
func lossKey(r core.RunSummary) float64 {
	if r.Step == 0 || math.IsNaN(r.NormLoss) {
		return math.Inf(1)
	}
	return r.NormLoss
}

// marked reports whether dir is marked, and its place among the marks.
func (p runsPane) marked(dir string) (int, bool) {
	i := slices.Index(p.marks, dir)
	return i, i >= 0
}

// markedRuns is the summaries of the marked runs, in mark order.
func (p runsPane) markedRuns() []core.RunSummary {
	var out []core.RunSummary
	for _, d := range p.marks {
		for _, r := range p.runs {
			if r.Dir == d {
				out = append(out, r)
			}
		}
	}
	return out
}

func (p runsPane) key(s *session, k tea.KeyPressMsg) (runsPane, out) {
	rows := p.sorted(s)
	switch {
	case key.Matches(k, rk.Up):
		p.cursor = max(0, p.cursor-1)
	case key.Matches(k, rk.Down):
		p.cursor = min(len(rows)-1, p.cursor+1)
	case key.Matches(k, rk.Sort):
		p.sortBy = (p.sortBy + 1) % len(runSortNames)
	case key.Matches(k, rk.Reverse):
		p.desc = !p.desc
	case key.Matches(k, rk.Compare):
		p.compare = !p.compare
	case key.Matches(k, rk.Unmark):
		p.marks = nil
		return p, ask(markMsg{})
	}
	p.offset = p.scrolled()
	if p.cursor < 0 || p.cursor >= len(rows) {
		return p, out{}
	}
	r := rows[p.cursor]
	if (key.Matches(k, rk.Open) || key.Matches(k, rk.Resume)) && s.active() {
		if r.Dir != s.runDir {
			p.status = fmt.Sprintf("this workbench trains %s: stop it first (x in the Train pane), then open another run", baseName(s.runDir))
		}
		return p, out{}
	}
	switch {
	case key.Matches(k, rk.Mark):
		return p.toggle(r)
	case key.Matches(k, rk.Open):
		if r.Damaged != "" {
			p.status = "cannot open " + r.Name + ": " + r.Damaged
			return p, out{}
		}
		return p, ask(openRunMsg{dir: r.Dir})
	case key.Matches(k, rk.Resume):
		switch {
		case r.Damaged != "":
			p.status = "cannot resume " + r.Name + ": " + r.Damaged
		case r.Training():
			p.status = fmt.Sprintf("%s is trained by process %d: enter watches it (and steers it from the Train pane)", r.Name, r.PID)
		default:
			return p, ask(openRunMsg{dir: r.Dir, resume: true})
		}
	}
	return p, out{}
}

// toggle marks or unmarks a run and tells the root the marked runs.
func (p runsPane) toggle(r core.RunSummary) (runsPane, out) {
	if i, ok := p.marked(r.Dir); ok {
		p.marks = slices.Delete(slices.Clone(p.marks), i, i+1)
	} else {
		if r.Damaged != "" {
			p.status = "cannot overlay " + r.Name + ": " + r.Damaged
			return p, out{}
		}
		p.marks = append(slices.Clone(p.marks), r.Dir)
	}
	var o out
	if len(p.marks) > 0 {
		var cmd tea.Cmd
		p, cmd = p.keepTicking()
		o = do(cmd)
	}
	return p, o.and(ask(markMsg{runs: p.markedRuns()}))
}

// click selects the row clicked (and marks or unmarks it when the mark column is hit).
func (p runsPane) click(s *session, m clickMsg) (runsPane, out) {
	i := m.y - runsTableTop + p.offset
	rows := p.sorted(s)
	if m.y < runsTableTop || i < 0 || i >= len(rows) {
		return p, out{}
	}
	p.cursor = i
	if m.x < 2 {
		return p.toggle(rows[i])
	}
	return p, out{}
}

// runsTableTop is the pane row of the table's first run (after the title and the header).
const runsTableTop = 2

// listHeight is how many runs the table shows in a pane h rows high: all of it but the
// title, header and hint, or the top half when the marked runs' chart (or the comparison)
// takes the bottom.
func (p runsPane) listHeight(h int) int {
	if len(p.marks) > 0 || p.compare {
		return max(3, h-runsTableTop-p.bottomHeight(h)-2)
	}
	return max(1, h-runsTableTop-1)
}

// bottomHeight is the height of the chart or comparison under the table (0: none).
func (p runsPane) bottomHeight(h int) int {
	if len(p.marks) > 0 || p.compare {
		return max(6, (h-3)/2)
	}
	return 0
}

// scrolled is the first row shown: the selection stays in view.
func (p runsPane) scrolled() int {
	listH := p.listHeight(max(p.h, 8))
	off := min(max(p.offset, p.cursor-listH+1), p.cursor)
	return max(0, min(off, max(0, len(p.runs)-listH)))
}

// stateLabel names a run's state in the list.
func stateLabel(r core.RunSummary) string {
	switch {
	case r.Damaged != "":
		return "damaged"
	case r.State == core.Running:
		return "training"
	case r.State == core.Idle:
		return "new"
	}
	return r.State.String()
}

// age is a short duration: 45s, 12m, 3h, 5d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// runColumn is one column of the runs table.
type runColumn struct {
	name  string
	width int
	right bool
	cell  func(r core.RunSummary) string
}

// columns are the table's columns for a width: name takes what the others leave; preset
// and dataset go first when it is narrow.
func (p runsPane) columns(w int) []runColumn {
	cols := []runColumn{
		{name: "preset", width: 11, cell: func(r core.RunSummary) string { return r.Config.Model.Preset }},
		{name: "data", width: 13, cell: func(r core.RunSummary) string { return r.Config.Data }},
		{name: "step", width: 15, right: true, cell: func(r core.RunSummary) string { return fmt.Sprintf("%d/%d", r.Step, r.Total) }},
		{name: "state", width: 9, cell: stateLabel},
		{name: "loss", width: 7, right: true, cell: func(r core.RunSummary) string {
			if r.Step == 0 {
				return "–"
			}
			return chart.FormatSI(r.NormLoss)
		}},
		{name: "img/s", width: 6, right: true, cell: func(r core.RunSummary) string {
			if r.Step == 0 {
				return "–"
			}
			return fmt.Sprintf("%.0f", r.ImagesPerSec)
		}},
		{name: "age", width: 4, right: true, cell: func(r core.RunSummary) string { return age(time.Since(r.Updated)) }},
	}
	used := func() int {
		n := 2 + 14 // mark, smallest name
		for _, c := range cols {
			n += c.width + 1
		}
		return n
	}
	for used() > w && len(cols) > 5 {
		cols = cols[1:] // preset, then data
	}
	name := runColumn{name: "run", width: max(8, w-used()+13), cell: func(r core.RunSummary) string { return r.Name }}
	return append([]runColumn{name}, cols...)
}

func (p runsPane) view(s *session, w, h int) string {
	st := s.st
	rows := p.sorted(s)
	order := "↓"
	if !p.desc {
		order = "↑"
	}
	if st.marker == chart.ASCII {
		order = map[bool]string{true: "desc", false: "asc"}[p.desc]
	}
	head := st.heading.Render("Runs") + st.dim.Render(fmt.Sprintf("  %s %s %d runs %s sorted by %s %s (o, O)", truncateLeft(p.scanner.Root, max(10, w/3)), st.g.dot,
		len(rows), st.g.dot, runSortNames[p.sortBy], order))
	if !p.scanned.IsZero() {
		head += st.dim.Render(fmt.Sprintf(" %s scanned in %.1f ms", st.g.dot, float64(p.took.Microseconds())/1000))
	}
	lines := []string{clip(head, w)}
	cols := p.columns(w)
	var hdr strings.Builder
	hdr.WriteString("  ")
	for _, c := range cols {
		hdr.WriteString(cellText(c.name, c.width, c.right) + " ")
	}
	lines = append(lines, st.label.Render(clip(hdr.String(), w)))
	listH, bottom := p.listHeight(h), p.bottomHeight(h)
	switch {
	case p.err != "":
		lines = append(lines, st.errText.Render(clip(p.err, w)), st.hint.Render(clip("start a run (s in the Train pane), or pass --runs DIR", w)))
	case len(rows) == 0 && p.scanning:
		lines = append(lines, st.placeholder.Render("scanning…"))
	case len(rows) == 0:
		lines = append(lines, st.placeholder.Render(clip("no runs in "+p.scanner.Root+" yet", w)))
	}
	off := p.offset
	for i := off; i < len(rows) && i < off+listH; i++ {
		lines = append(lines, p.row(s, rows[i], cols, i == p.cursor, w))
	}
	for len(lines) < 2+listH {
		lines = append(lines, "")
	}
	if p.status != "" {
		lines = append(lines, clip(st.hint.Render(p.status), w))
	} else {
		lines = append(lines, clip(st.dim.Render("space marks runs to overlay their loss (Train pane) "+st.g.dot+" c compares their configs "+st.g.dot+" enter watches "+st.g.dot+" r resumes here"), w))
	}
	if bottom > 0 {
		lines = append(lines, "")
		if p.compare {
			lines = append(lines, p.compareView(s, w, bottom))
		} else {
			lines = append(lines, p.overlayChart(s, w, bottom))
		}
	}
	return strings.Join(lines, "\n")
}

// cellText pads or cuts text to w cells.
func cellText(text string, w int, right bool) string {
	text = truncate(text, w)
	if right {
		return spaces(w-lipgloss.Width(text)) + text
	}
	return padRight(text, w)
}

// row is one run of the table.
func (p runsPane) row(s *session, r core.RunSummary, cols []runColumn, selected bool, w int) string {
	st := s.st
	mark := " "
	if i, ok := p.marked(r.Dir); ok {
		mark = lipgloss.NewStyle().Foreground(st.curve(i + 1)).Render(st.g.mark)
	}
	if r.Dir == s.runDir && s.run != nil { // the run this workbench shows
		mark += st.key.Render(st.g.cursor)
	} else {
		mark += " "
	}
	var b strings.Builder
	for _, c := range cols {
		text := c.cell(r)
		if c.name == "state" && r.Dir == s.runDir && s.active() {
			text = "here"
		}
		b.WriteString(cellText(text, c.width, c.right) + " ")
	}
	line := b.String()
	style := lipgloss.NewStyle()
	switch {
	case selected:
		style = style.Reverse(true)
	case r.Damaged != "":
		style = st.errText
	case r.State == core.Running || r.State == core.Paused:
		style = st.ok
	}
	return mark + style.Render(clip(line, w-2))
}

// overlayChart is the marked runs' normalised losses, as the Train pane lays them over its
// run.
func (p runsPane) overlayChart(s *session, w, h int) string {
	st := s.st
	var series []chart.Series
	first, last := math.Inf(1), math.Inf(-1)
	for i, o := range s.overlays {
		series = append(series, chart.Series{Name: o.name(), Points: o.norm, Color: st.curve(i + 1)})
		if n := len(o.norm); n > 0 {
			first, last = math.Min(first, o.norm[0].X), math.Max(last, o.norm[n-1].X)
		}
	}
	if len(series) == 0 {
		return ""
	}
	title := st.heading.Render("Marked runs") + st.dim.Render(" normalised loss, smoothed "+st.g.dot+" laid over the Train pane's run (2)")
	c := chart.LineChart{Series: series, Smoothing: 0.9, HideRaw: true, XLabel: "step", AxisColor: st.axis, Marker: st.marker}
	if last > first {
		c.YFrom = first + 0.1*(last-first) // past the early transient, as the Train pane
	}
	return clip(title, w) + "\n" + c.Render(w, h-1)
}

// compareView lists the configuration fields in which the marked runs differ.
func (p runsPane) compareView(s *session, w, h int) string {
	st := s.st
	runs := p.markedRuns()
	if len(runs) < 2 {
		return st.placeholder.Render(clip("mark two runs or more (space) to compare their configurations", w))
	}
	fields := core.RunFields()
	labelW := 0
	for _, f := range fields {
		labelW = max(labelW, lipgloss.Width(f.Label))
	}
	labelW = min(labelW, w/3)
	colW := max(6, (w-labelW-1)/len(runs)-1)
	var rows []string
	head := padRight("", labelW) + " "
	for i, r := range runs {
		head += lipgloss.NewStyle().Foreground(st.curve(i+1)).Render(cellText(r.Name, colW, false)) + " "
	}
	rows = append(rows, head)
	for _, f := range fields {
		vals := make([]string, len(runs))
		same := true
		for i, r := range runs {
			vals[i] = f.Get(r.Config)
			same = same && vals[i] == vals[0]
		}
		if same {
			continue
		}
		line := st.label.Render(cellText(f.Label, labelW, false)) + " "
		for _, v := range vals {
			line += st.value.Render(cellText(v, colW, false)) + " "
		}
		rows = append(rows, line)
	}
	differ := fmt.Sprintf(" %d fields differ (c hides)", len(rows)-1)
	switch len(rows) {
	case 1:
		rows = append(rows, st.dim.Render("the marked runs have the same configuration"))
		differ = " (c hides)"
	case 2:
		differ = " 1 field differs (c hides)"
	}
	title := st.heading.Render("Configurations") + st.dim.Render(differ)
	if len(rows)-1 > h-1 {
		rows = append(rows[:h-2], st.dim.Render(fmt.Sprintf("%s %d more", st.g.down, len(rows)-(h-2))))
	}
	return clip(title+"\n"+strings.Join(rows, "\n"), w)
}
