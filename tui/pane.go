package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// Panes are values that keep their own state, as charm's own apps do (glow's ui): the root
// model routes messages to them, reads the session for them, and they answer with an out
// value. They never call the root, and the root does not reach into their fields.

// Pane indices, in tab order.
const (
	paneConfigure = iota
	paneTrain
	paneSamples
	paneSchedule
	paneInpaint
	paneRuns
	paneEnergy
	paneCount
)

// PaneNames lists the values of Options.StartPane.
func PaneNames() []string {
	return []string{"configure", "train", "samples", "schedule", "inpaint", "runs", "energy"}
}

// paneView is what the root reads of every pane to lay out the screen.
type paneView interface {
	// title is the tab's label; short for narrow screens.
	title(short bool) string
	view(s *session, w, h int) string
	// keys lists the pane's keys in the session's situation, the most useful first (the
	// hint bar shows as many as fit).
	keys(s *session) []key.Binding
	// slot returns the pane's picture and where it goes in a w x h pane.
	slot(s *session, w, h int) (slot, bool)
	// capturing is true while a text field takes every key.
	capturing() bool
}

// out is what a pane's update hands back: requests for the root, carried out at once and
// in order (messages.go), and a command for the runtime (I/O and jobs, whose messages come
// back later).
type out struct {
	asks []tea.Msg
	cmd  tea.Cmd
}

// ask is an out of requests for the root.
func ask(msgs ...tea.Msg) out { return out{asks: msgs} }

// do is an out of a command.
func do(cmd tea.Cmd) out { return out{cmd: cmd} }

// logf is an out that adds a line to the event log.
func logf(level, text string) out { return ask(logMsg{level: level, text: text}) }

// and joins two outs.
func (o out) and(p out) out {
	return out{asks: append(o.asks, p.asks...), cmd: tea.Batch(o.cmd, p.cmd)}
}

// jobRefusal says why a pane cannot start a sampling job now ("" when it can): one is
// running, there are no weights, or the sampler is invalid.
func jobRefusal(s *session, running bool) string {
	switch {
	case running:
		return "a job is running: esc cancels it"
	case s.run == nil:
		return "no model yet: start training in the Train pane (2, then s)"
	}
	if err := s.sampler.Validate(); err != nil {
		return "sampler: " + err.Error()
	}
	return ""
}

// textField is a one-line text field a pane edits in place (a Configure row, the Train
// pane's new step total): open starts an edit, take takes the keys (enter commits, esc
// cancels; both end the edit), update the field's other messages (the cursor's blink).
type textField struct {
	in     textinput.Model
	active bool // being edited: the pane captures every key
}

// newTextField is a field of at most limit characters.
func newTextField(limit int) textField {
	in := textinput.New()
	in.Prompt = ""
	in.CharLimit = limit
	return textField{in: in}
}

// open starts editing v, with the cursor at its end.
func (f *textField) open(v string) tea.Cmd {
	f.active = true
	f.in.SetValue(v)
	f.in.CursorEnd()
	return f.in.Focus()
}

// take gives a key to the field while it is edited (took is false when it is not): enter
// ends the edit and answers commit(text), esc ends it, any other key edits the text.
func (f *textField) take(k tea.KeyPressMsg, commit func(text string) out) (o out, took bool) {
	if !f.active {
		return out{}, false
	}
	switch k.String() {
	case "enter", "esc":
		f.in.Blur()
		f.active = false
		if k.String() == "enter" {
			return commit(f.in.Value()), true
		}
		return out{}, true
	}
	var cmd tea.Cmd
	f.in, cmd = f.in.Update(k)
	return do(cmd), true
}

// update passes a message other than a key to the field being edited (the cursor's blink).
func (f *textField) update(msg tea.Msg) tea.Cmd {
	if !f.active {
		return nil
	}
	var cmd tea.Cmd
	f.in, cmd = f.in.Update(msg)
	return cmd
}

// view is the field in brackets.
func (f textField) view() string { return "[" + f.in.View() + "]" }

// Layout helpers shared by the panes.

// clip cuts every line of s to w cells (ANSI aware): a pane's text never wraps onto the
// next row of the terminal.
func clip(s string, w int) string {
	if w <= 0 {
		return ""
	}
	lines := splitLines(s)
	for i, l := range lines {
		if lipgloss.Width(l) > w {
			lines[i] = ansi.Truncate(l, w, "…")
		}
	}
	return joinLines(lines)
}

// fit makes s exactly h lines of exactly w cells: longer lines are cut, missing lines and
// cells are blank.
func fit(s string, w, h int) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	lines := splitLines(s)
	if len(lines) > h {
		lines = lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	for i, l := range lines {
		if lw := lipgloss.Width(l); lw > w {
			lines[i] = ansi.Truncate(l, w, "")
		} else if lw < w {
			lines[i] = l + spaces(w-lw)
		}
	}
	return joinLines(lines)
}

// flow lays out parts left to right, two spaces apart, starting a new line when the next
// part does not fit in w cells; at most maxLines lines (the rest is dropped).
func flow(parts []string, w, maxLines int) []string {
	var lines []string
	cur, curW := "", 0
	for _, p := range parts {
		pw := lipgloss.Width(p)
		if pw == 0 {
			continue
		}
		switch {
		case curW == 0:
			cur, curW = p, pw
		case curW+2+pw <= w:
			cur, curW = cur+"  "+p, curW+2+pw
		default:
			lines = append(lines, cur)
			cur, curW = p, pw
		}
	}
	if curW > 0 {
		lines = append(lines, cur)
	}
	if len(lines) > maxLines {
		lines = lines[:maxLines]
	}
	for i := range lines {
		lines[i] = clip(lines[i], w)
	}
	return lines
}

// wrap word-wraps plain or styled text to w cells.
func wrap(s string, w int) []string {
	if w <= 0 {
		return nil
	}
	return splitLines(ansi.Wrap(s, w, " /"))
}

func spaces(n int) string { return strings.Repeat(" ", max(n, 0)) }

// padRight pads s with spaces to w cells (ANSI aware).
func padRight(s string, w int) string { return s + spaces(w-lipgloss.Width(s)) }

// truncate cuts plain text to w cells with an ellipsis.
func truncate(s string, w int) string {
	if lipgloss.Width(s) <= w {
		return s
	}
	if w <= 1 {
		return ansi.Truncate(s, max(w, 0), "")
	}
	return ansi.Truncate(s, w, "…")
}

// truncateLeft keeps the end of plain text in w cells ("…/runs/20261129-1200").
func truncateLeft(s string, w int) string {
	r := []rune(s)
	if len(r) <= w {
		return s
	}
	if w <= 1 {
		return string(r[len(r)-max(w, 0):])
	}
	return "…" + string(r[len(r)-w+1:])
}

func splitLines(s string) []string { return strings.Split(s, "\n") }

func joinLines(lines []string) string { return strings.Join(lines, "\n") }
