package tui

import (
	"image/color"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
)

// background is what the program knows about the terminal's background colour.
type background int

const (
	// bgUnknown: no answer to the background-colour query (yet). xterm, for one, never
	// answers while allowSendEvents is on, and its default background is white.
	bgUnknown background = iota
	bgDark
	bgLight
)

func backgroundOf(dark bool) background {
	if dark {
		return bgDark
	}
	return bgLight
}

// styles holds every lipgloss style of the workbench, so that the look is decided in one
// place. Body text and values use the terminal's own foreground colour (readable on its
// background by definition); the accent colours come from lipgloss.LightDark once the
// background is known. While it is unknown, colours are the darker (light-background)
// ones, which also read on black, and muted text is faint default text rather than a
// grey: a light grey is invisible on white, and in a 16-colour profile every mid grey
// becomes ANSI white or bright white.
type styles struct {
	bg background

	accent, good, warn, bad, muted, text color.Color
	axis                                 color.Color // chart axes and tick labels

	title, tab, tabActive, rule       lipgloss.Style
	status, statusSep, statusDim      lipgloss.Style
	label, value, dim, heading, hint  lipgloss.Style
	ok, warnText, errText, selected   lipgloss.Style
	box, dialog, badge, placeholder   lipgloss.Style
	fieldLabel, fieldValue, fieldErr  lipgloss.Style
	fieldCursor, fieldLocked, keyHint lipgloss.Style
}

func newStyles(bg background) *styles {
	ld := lipgloss.LightDark(bg == bgDark)
	s := &styles{bg: bg}
	s.accent = ld(lipgloss.Color("#5a56e0"), lipgloss.Color("#8c8aff"))
	s.good = ld(lipgloss.Color("#1f8a3b"), lipgloss.Color("#5fd787"))
	s.warn = ld(lipgloss.Color("#a86400"), lipgloss.Color("#ffaf5f"))
	s.bad = ld(lipgloss.Color("#c0262d"), lipgloss.Color("#ff5f5f"))
	s.muted = ld(lipgloss.Color("#6c6c6c"), lipgloss.Color("#8a8a8a"))
	s.text = lipgloss.NoColor{} // the terminal's foreground
	// muted is a grey foreground, or faint default text while the background is unknown.
	muted := func() lipgloss.Style {
		if bg == bgUnknown {
			return lipgloss.NewStyle().Faint(true)
		}
		return lipgloss.NewStyle().Foreground(s.muted)
	}
	s.axis = ld(lipgloss.Color("#6c6c6c"), lipgloss.Color("#808080"))
	if bg == bgUnknown {
		s.muted = lipgloss.NoColor{}
		s.axis = lipgloss.NoColor{}
	}

	s.title = lipgloss.NewStyle().Bold(true).Foreground(s.accent)
	s.tab = muted().Padding(0, 1)
	s.tabActive = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("#ffffff")).Background(s.accent).Padding(0, 1)
	s.rule = muted()
	s.status = lipgloss.NewStyle().Foreground(s.text)
	s.statusSep = muted()
	s.statusDim = muted()
	s.label = muted()
	s.value = lipgloss.NewStyle().Foreground(s.text).Bold(true)
	s.dim = muted()
	s.heading = lipgloss.NewStyle().Bold(true).Foreground(s.accent)
	s.hint = muted().Italic(true)
	s.ok = lipgloss.NewStyle().Foreground(s.good)
	s.warnText = lipgloss.NewStyle().Foreground(s.warn)
	s.errText = lipgloss.NewStyle().Foreground(s.bad)
	s.selected = lipgloss.NewStyle().Bold(true).Foreground(s.accent)
	s.box = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(s.muted).Padding(0, 1)
	s.dialog = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(s.accent).Padding(1, 2)
	s.badge = lipgloss.NewStyle().Bold(true).Padding(0, 1)
	s.placeholder = muted().Italic(true)
	s.fieldLabel = muted()
	s.fieldValue = lipgloss.NewStyle().Foreground(s.text)
	s.fieldErr = lipgloss.NewStyle().Foreground(s.bad)
	s.fieldCursor = lipgloss.NewStyle().Bold(true).Foreground(s.accent)
	s.fieldLocked = muted()
	s.keyHint = lipgloss.NewStyle().Foreground(s.accent).Bold(true)
	return s
}

// helpStyles are the key-hint styles of the help bubble for the background.
func helpStyles(bg background) help.Styles {
	switch bg {
	case bgDark:
		return help.DefaultDarkStyles()
	case bgLight:
		return help.DefaultLightStyles()
	}
	st := help.DefaultDarkStyles()
	key := lipgloss.NewStyle()
	faint := lipgloss.NewStyle().Faint(true)
	st.ShortKey, st.FullKey = key, key
	st.ShortDesc, st.FullDesc = faint, faint
	st.ShortSeparator, st.FullSeparator, st.Ellipsis = faint, faint, faint
	return st
}

// stateBadge renders a trainer state as a coloured badge.
func (s *styles) stateBadge(state string) string {
	c := s.muted
	switch state {
	case "running", "live":
		c = s.good
	case "paused", "stopping", "starting", "loading":
		c = s.warn
	case "failed":
		c = s.bad
	}
	return s.badge.Foreground(c).Render("● " + state)
}

// logStyle is the style of an event log line of a level.
func (s *styles) logStyle(level string) lipgloss.Style {
	switch level {
	case "warn":
		return s.warnText
	case "error":
		return s.errText
	case "ok":
		return s.ok
	}
	return s.dim
}
