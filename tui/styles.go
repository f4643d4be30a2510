package tui

import (
	"image/color"

	"charm.land/lipgloss/v2"
)

// styles holds every lipgloss style of the workbench, so that the look is decided in one
// place. Colours are mid-tones picked to read on dark and light backgrounds; the few that
// differ by background come from lipgloss.LightDark.
type styles struct {
	dark bool

	accent, good, warn, bad, muted, text color.Color

	title, tab, tabActive, rule       lipgloss.Style
	status, statusSep, statusDim      lipgloss.Style
	label, value, dim, heading, hint  lipgloss.Style
	ok, warnText, errText, selected   lipgloss.Style
	box, dialog, badge, placeholder   lipgloss.Style
	fieldLabel, fieldValue, fieldErr  lipgloss.Style
	fieldCursor, fieldLocked, keyHint lipgloss.Style
}

func newStyles(dark bool) *styles {
	ld := lipgloss.LightDark(dark)
	s := &styles{dark: dark}
	s.accent = ld(lipgloss.Color("#5a56e0"), lipgloss.Color("#8c8aff"))
	s.good = ld(lipgloss.Color("#1f8a3b"), lipgloss.Color("#5fd787"))
	s.warn = ld(lipgloss.Color("#a86400"), lipgloss.Color("#ffaf5f"))
	s.bad = ld(lipgloss.Color("#c0262d"), lipgloss.Color("#ff5f5f"))
	s.muted = ld(lipgloss.Color("#6c6c6c"), lipgloss.Color("#8a8a8a"))
	s.text = ld(lipgloss.Color("#1c1c1c"), lipgloss.Color("#e4e4e4"))

	s.title = lipgloss.NewStyle().Bold(true).Foreground(s.accent)
	s.tab = lipgloss.NewStyle().Foreground(s.muted).Padding(0, 1)
	s.tabActive = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("#ffffff")).Background(s.accent).Padding(0, 1)
	s.rule = lipgloss.NewStyle().Foreground(s.muted)
	s.status = lipgloss.NewStyle().Foreground(s.text)
	s.statusSep = lipgloss.NewStyle().Foreground(s.muted)
	s.statusDim = lipgloss.NewStyle().Foreground(s.muted)
	s.label = lipgloss.NewStyle().Foreground(s.muted)
	s.value = lipgloss.NewStyle().Foreground(s.text).Bold(true)
	s.dim = lipgloss.NewStyle().Foreground(s.muted)
	s.heading = lipgloss.NewStyle().Bold(true).Foreground(s.accent)
	s.hint = lipgloss.NewStyle().Foreground(s.muted).Italic(true)
	s.ok = lipgloss.NewStyle().Foreground(s.good)
	s.warnText = lipgloss.NewStyle().Foreground(s.warn)
	s.errText = lipgloss.NewStyle().Foreground(s.bad)
	s.selected = lipgloss.NewStyle().Bold(true).Foreground(s.accent)
	s.box = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(s.muted).Padding(0, 1)
	s.dialog = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(s.accent).Padding(1, 2)
	s.badge = lipgloss.NewStyle().Bold(true).Padding(0, 1)
	s.placeholder = lipgloss.NewStyle().Foreground(s.muted).Italic(true)
	s.fieldLabel = lipgloss.NewStyle().Foreground(s.muted)
	s.fieldValue = lipgloss.NewStyle().Foreground(s.text)
	s.fieldErr = lipgloss.NewStyle().Foreground(s.bad)
	s.fieldCursor = lipgloss.NewStyle().Bold(true).Foreground(s.accent)
	s.fieldLocked = lipgloss.NewStyle().Foreground(s.muted)
	s.keyHint = lipgloss.NewStyle().Foreground(s.accent).Bold(true)
	return s
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
