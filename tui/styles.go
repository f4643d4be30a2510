package tui

import (
	"fmt"
	"image/color"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"

	"mdsm/core"
	"mdsm/tui/chart"
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

// tone is one colour of the palette in the shapes the colour profiles need: an ANSI
// colour index for 16-colour terminals (where a true colour would be matched to the
// nearest of 16 standard colours, and a light grey becomes ANSI white: invisible on white)
// and a hex colour for 256 and true colour.
type tone struct {
	ansi int // -1: the terminal's default foreground
	hex  string
}

// palette is one tone per role, for one background. Each was checked against xterm's
// default colours on its background in every profile (TestColoursReadable): a contrast of
// at least 3:1, the least for legible text.
type palette struct {
	accent, good, warn, bad, muted tone
}

// curveTones colour the curves of a chart that shows several (the run and the runs laid
// over it, the sets of the energy view), in order: the first is the accent. Each reads at
// 3:1 on its background (TestColoursReadable).
var curveTones = map[background][]tone{
	bgLight: {{4, "#3c38c0"}, {1, "#d35400"}, {5, "#1a7a36"}, {8, "#a0308a"}, {12, "#00707a"}, {9, "#7a5c00"}},
	bgDark:  {{12, "#9d9bff"}, {11, "#ffaf5f"}, {10, "#5fd787"}, {13, "#ff87d7"}, {14, "#5fd7ff"}, {9, "#ff6b6b"}},
	// unknown: luminance between 0.1 and 0.3 reads on white and on black
	bgUnknown: {{12, "#7a78ff"}, {9, "#e0701a"}, {13, "#2a8a40"}, {8, "#d040c0"}, {1, "#208a9a"}, {5, "#c05050"}},
}

// sigmaRamps are the ends of the colour ramp of the noise-level bins (small sigma to large).
var sigmaRamps = map[background][2]string{
	bgLight:   {"#3c38c0", "#c05000"},
	bgDark:    {"#8f8fff", "#ffd75f"},
	bgUnknown: {"#7a78ff", "#e0701a"},
}

// ramp is k colours from hex a to hex b (sRGB interpolation).
func ramp(a, b string, k int) []string {
	var ca, cb [3]int
	fmt.Sscanf(a, "#%02x%02x%02x", &ca[0], &ca[1], &ca[2])
	fmt.Sscanf(b, "#%02x%02x%02x", &cb[0], &cb[1], &cb[2])
	out := make([]string, k)
	for i := range out {
		t := 0.0
		if k > 1 {
			t = float64(i) / float64(k-1)
		}
		var c [3]int
		for j := range c {
			c[j] = int(float64(ca[j]) + t*float64(cb[j]-ca[j]) + 0.5)
		}
		out[i] = fmt.Sprintf("#%02x%02x%02x", c[0], c[1], c[2])
	}
	return out
}

var (
	lightPalette = palette{
		accent: tone{4, "#3c38c0"}, good: tone{-1, "#1a7a36"}, warn: tone{5, "#955200"},
		bad: tone{1, "#b3261e"}, muted: tone{8, "#5f5f5f"},
	}
	darkPalette = palette{
		accent: tone{12, "#9d9bff"}, good: tone{10, "#5fd787"}, warn: tone{11, "#ffaf5f"},
		bad: tone{9, "#ff6b6b"}, muted: tone{8, "#949494"},
	}
	// unknownPalette must read on white and on black: magenta and red do in every
	// profile; everything else is the terminal's own foreground (muted is faint text).
	unknownPalette = palette{
		accent: tone{-1, ""}, good: tone{-1, ""}, warn: tone{5, "#b000b0"},
		bad: tone{1, "#c8231b"}, muted: tone{-1, ""},
	}
)

// color resolves a tone for a colour profile.
func (t tone) color(p colorprofile.Profile) color.Color {
	switch {
	case p == colorprofile.ANSI && t.ansi >= 0:
		return lipgloss.ANSIColor(t.ansi)
	case p == colorprofile.ANSI || t.hex == "" || p == colorprofile.NoTTY || p == colorprofile.ASCII:
		return lipgloss.NoColor{}
	}
	return lipgloss.Color(t.hex)
}

// glyphs are the decorations that need a font with box-drawing and symbol characters, and
// their ASCII stand-ins (--charts ascii).
type glyphs struct {
	rule, sep, dot, bullet, cursor, ok, bad, up, down, barFull, barEmpty, choiceL, choiceR string
	left, right, sigma, mark                                                               string
	border                                                                                 lipgloss.Border
}

var (
	unicodeGlyphs = glyphs{rule: "─", sep: "│", dot: "·", bullet: "●", cursor: "▸", ok: "✓", bad: "✗", up: "↑", down: "↓",
		barFull: "█", barEmpty: "░", choiceL: "‹ ", choiceR: " ›", left: "←", right: "→", sigma: "σ", mark: "●",
		border: lipgloss.RoundedBorder()}
	asciiGlyphs = glyphs{rule: "-", sep: "|", dot: "|", bullet: "*", cursor: ">", ok: "ok", bad: "x", up: "^", down: "v",
		barFull: "#", barEmpty: "-", choiceL: "< ", choiceR: " >", left: "left", right: "right", sigma: "sigma ", mark: "*",
		border: lipgloss.ASCIIBorder()}
)

// styles holds every lipgloss style of the workbench, so that the look is decided in one
// place, from the background (light, dark or not known yet), the colour profile and
// whether the font has the Unicode glyphs. Body text and values use the terminal's own
// foreground colour (readable on its background by definition).
type styles struct {
	bg      background
	profile colorprofile.Profile
	g       glyphs
	marker  chart.Marker

	accent, good, warn, bad, muted color.Color
	axis, series                   color.Color // chart axes and labels; the loss curve
	// curves colour several curves on one chart (curveTones); sigma the noise-level bins.
	curves, sigma []color.Color

	title, tab, tabActive, rule      lipgloss.Style
	status, statusSep                lipgloss.Style
	label, value, dim, heading, hint lipgloss.Style
	ok, warnText, errText            lipgloss.Style
	box, dialog, badge, placeholder  lipgloss.Style
	fieldLabel, fieldValue, fieldErr lipgloss.Style
	fieldCursor, fieldLocked         lipgloss.Style
	key, keyDesc                     lipgloss.Style // key hints: the key and what it does
}

func newStyles(bg background, profile colorprofile.Profile, marker chart.Marker) *styles {
	pal := unknownPalette
	switch bg {
	case bgDark:
		pal = darkPalette
	case bgLight:
		pal = lightPalette
	}
	s := &styles{bg: bg, profile: profile, g: unicodeGlyphs, marker: marker}
	if marker == chart.ASCII {
		s.g = asciiGlyphs
	}
	s.accent, s.good, s.warn = pal.accent.color(profile), pal.good.color(profile), pal.warn.color(profile)
	s.bad, s.muted = pal.bad.color(profile), pal.muted.color(profile)
	s.axis, s.series = s.muted, s.accent
	for _, t := range curveTones[bg] {
		s.curves = append(s.curves, t.color(profile))
	}
	s.curves[0] = s.series
	ends := sigmaRamps[bg]
	for i, hex := range ramp(ends[0], ends[1], core.SigmaBinCount) {
		s.sigma = append(s.sigma, tone{curveTones[bg][i%len(curveTones[bg])].ansi, hex}.color(profile))
	}
	// muted text is a grey when the background is known, else faint default text.
	muted := func() lipgloss.Style {
		if bg == bgUnknown {
			return lipgloss.NewStyle().Faint(true)
		}
		return lipgloss.NewStyle().Foreground(s.muted)
	}
	fg := func(c color.Color) lipgloss.Style { return lipgloss.NewStyle().Foreground(c) }

	s.title = fg(s.accent).Bold(true)
	s.tab = muted().Padding(0, 1)
	s.tabActive = lipgloss.NewStyle().Bold(true).Reverse(true).Padding(0, 1)
	s.rule = muted()
	s.status = lipgloss.NewStyle()
	s.statusSep = muted()
	s.label = muted()
	s.value = lipgloss.NewStyle().Bold(true)
	s.dim = muted()
	s.heading = fg(s.accent).Bold(true)
	s.hint = muted().Italic(true)
	s.ok = fg(s.good)
	s.warnText = fg(s.warn)
	s.errText = fg(s.bad)
	s.box = lipgloss.NewStyle().Border(s.g.border).BorderForeground(s.muted).Padding(0, 1)
	s.dialog = lipgloss.NewStyle().Border(s.g.border).BorderForeground(s.accent).Padding(1, 2)
	s.badge = lipgloss.NewStyle().Bold(true).Padding(0, 1)
	s.placeholder = muted().Italic(true)
	s.fieldLabel = muted()
	s.fieldValue = lipgloss.NewStyle()
	s.fieldErr = fg(s.bad)
	s.fieldCursor = fg(s.accent).Bold(true)
	s.fieldLocked = muted()
	s.key = fg(s.accent).Bold(true)
	s.keyDesc = muted()
	return s
}

// stateColor is the colour of a run state's badge.
func (s *styles) stateColor(st runStatus) color.Color {
	switch st {
	case statusRunning:
		return s.good
	case statusPaused, statusStopping, statusOpening:
		return s.warn
	case statusFailed:
		return s.bad
	}
	return s.muted
}

// stateBadge renders a run state as a coloured badge.
func (s *styles) stateBadge(st runStatus, label string) string {
	return s.badge.Foreground(s.stateColor(st)).Render(s.g.bullet + " " + label)
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

// curve is the colour of the i-th curve of a chart.
func (s *styles) curve(i int) color.Color { return s.curves[i%len(s.curves)] }
