package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// helpGroup is one section of the help: a title and its keys, with an optional note.
type helpGroup struct {
	title string
	keys  []key.Binding
	note  string
}

// helpGroups lists every key: the global ones, then each pane's in the session's situation
// (a followed run's training keys steer the process that trains it, and the help says so).
func (a *App) helpGroups() []helpGroup {
	gs := []helpGroup{{title: "Everywhere", keys: gk.list()}}
	for i := range paneCount {
		g := helpGroup{title: fmt.Sprintf("%d %s", i+1, a.pane(i).title(false)), keys: a.pane(i).keys(a.s)}
		if i == paneTrain && !a.s.controls() {
			g.note = "the run is trained by another process: p, x, c and T ask it to pause, stop, checkpoint or train to a new total (its control channel, RUN/control)"
		}
		if i == paneConfigure {
			g.keys = ck.list() // every key, locked or not
		}
		gs = append(gs, g)
	}
	return gs
}

// helpOverlay is the scrollable list of every key. It opens at the section of the pane
// it was asked from.
type helpOverlay struct {
	groups []helpGroup
	start  int // the section to show first
	offset int // first line shown
	height int // lines shown at the last render (for paging)
}

func newHelpOverlay(groups []helpGroup, start int) helpOverlay {
	return helpOverlay{groups: groups, start: start, offset: -1}
}

// lines renders the help for a width, and where each section starts.
func (h helpOverlay) lines(st *styles, w int) ([]string, []int) {
	keyW := 0
	for _, g := range h.groups {
		for _, b := range g.keys {
			keyW = max(keyW, lipgloss.Width(b.Help().Key))
		}
	}
	var out []string
	var starts []int
	for gi, g := range h.groups {
		if gi > 0 {
			out = append(out, "")
		}
		starts = append(starts, len(out))
		out = append(out, st.heading.Render(g.title))
		for _, b := range g.keys {
			desc := wrap(b.Help().Desc, max(10, w-keyW-4))
			for i, d := range desc {
				k := ""
				if i == 0 {
					k = b.Help().Key
				}
				out = append(out, "  "+st.key.Render(padRight(k, keyW))+"  "+st.keyDesc.Render(d))
			}
		}
		if g.note != "" {
			for _, l := range wrap(g.note, max(10, w-2)) {
				out = append(out, "  "+st.hint.Render(l))
			}
		}
	}
	return out, starts
}

// scroll moves the view for a key.
func (h helpOverlay) scroll(k tea.KeyPressMsg) helpOverlay {
	page := max(1, h.height-1)
	switch {
	case key.Matches(k, hk.Down):
		h.offset++
	case key.Matches(k, hk.Up):
		h.offset--
	case key.Matches(k, hk.PageDown):
		h.offset += page
	case key.Matches(k, hk.PageUp):
		h.offset -= page
	case key.Matches(k, hk.Top):
		h.offset = 0
	case key.Matches(k, hk.Bottom):
		h.offset = 1 << 30
	}
	return h
}

// view renders the help into w x h cells: a title line with the position, the lines that
// fit, and an indicator when more follow.
func (h *helpOverlay) view(st *styles, w, ht int) string {
	lines, starts := h.lines(st, w-2)
	body := max(1, ht-2)
	h.height = body
	if h.offset < 0 && h.start < len(starts) { // first render: the asking pane's section
		h.offset = starts[h.start]
	}
	h.offset = min(max(h.offset, 0), max(0, len(lines)-body))
	end := min(len(lines), h.offset+body)
	pos := "all shown"
	if len(lines) > body {
		pos = fmt.Sprintf("lines %d–%d of %d · j/k, pgup/pgdn, home/end scroll", h.offset+1, end, len(lines))
	}
	head := st.title.Render("Keys") + "  " + st.dim.Render(pos)
	more := ""
	if end < len(lines) {
		more = st.dim.Render(fmt.Sprintf("  %s %d more lines below", st.g.down, len(lines)-end))
	} else if h.offset > 0 {
		more = st.dim.Render(fmt.Sprintf("  %s %d lines above", st.g.up, h.offset))
	}
	shown := make([]string, 0, body)
	for _, l := range lines[h.offset:end] {
		shown = append(shown, " "+l)
	}
	return clip(head+"\n"+strings.Join(shown, "\n")+"\n"+more, w)
}
