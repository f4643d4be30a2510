package tui

import (
	"fmt"
	"image/color"
	"math"
	"testing"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"

	"mdsm/tui/chart"
	"mdsm/tui/shot"
)

// shown is the colour a terminal with xterm's palette draws a foreground in, after the
// program's renderer has converted it to the profile; def is the default foreground.
func shown(c color.Color, p colorprofile.Profile, def color.RGBA) color.RGBA {
	if c == nil {
		return def
	}
	if _, ok := c.(lipgloss.NoColor); ok {
		return def
	}
	switch cc := p.Convert(c).(type) {
	case nil:
		return def
	case ansi.BasicColor: // xterm's palette (its white, #E5E5E5, is invisible on its white)
		return shot.XtermColor(int(cc))
	case ansi.IndexedColor:
		return shot.XtermColor(int(cc))
	default:
		r, g, b, _ := cc.RGBA()
		return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 255}
	}
}

// luminance is the WCAG relative luminance.
func luminance(c color.RGBA) float64 {
	lin := func(v uint8) float64 {
		x := float64(v) / 255
		if x <= 0.03928 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.R) + 0.7152*lin(c.G) + 0.0722*lin(c.B)
}

// contrast is the WCAG contrast ratio of two colours (1 to 21).
func contrast(a, b color.RGBA) float64 {
	la, lb := luminance(a), luminance(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

// TestColoursReadable is the xterm-on-white bug: key hints and help were light grey
// (#E5E5E5, a grey turned ANSI white in the 16-colour profile) on a white background.
// Every style that draws text on the terminal's background must reach 3:1 against it in
// the 16-colour, 256-colour and true-colour profiles with xterm's palette: on white for a
// light background, on black for a dark one, and on both while the background is not
// known (xterm under allowSendEvents never says). Faint text is drawn half way to the
// background.
func TestColoursReadable(t *testing.T) {
	white, black := color.RGBA{255, 255, 255, 255}, color.RGBA{0, 0, 0, 255}
	for _, bg := range []background{bgUnknown, bgLight, bgDark} {
		grounds := map[string]color.RGBA{"white": white, "black": black}
		switch bg {
		case bgLight:
			delete(grounds, "black")
		case bgDark:
			delete(grounds, "white")
		}
		for _, p := range []colorprofile.Profile{colorprofile.ANSI, colorprofile.ANSI256, colorprofile.TrueColor} {
			st := newStyles(bg, p, chart.Braille)
			text := map[string]lipgloss.Style{
				"key": st.key, "key description": st.keyDesc, "dim": st.dim, "label": st.label, "hint": st.hint,
				"heading": st.heading, "title": st.title, "tab": st.tab, "status separator": st.statusSep, "rule": st.rule,
				"ok": st.ok, "warning": st.warnText, "error": st.errText, "field error": st.fieldErr, "field label": st.fieldLabel,
				"field cursor": st.fieldCursor, "placeholder": st.placeholder, "value": st.value, "status": st.status,
				"locked field": st.fieldLocked,
			}
			for _, rs := range []runStatus{statusRunning, statusPaused, statusFailed, statusStopped} {
				text["badge "+rs.String()] = st.badge.Foreground(st.stateColor(rs))
			}
			text["chart axis"] = lipgloss.NewStyle().Foreground(st.axis)
			text["loss curve"] = lipgloss.NewStyle().Foreground(st.series)
			for i, c := range st.curves {
				text[fmt.Sprintf("curve %d", i)] = lipgloss.NewStyle().Foreground(c)
			}
			for i, c := range st.sigma {
				text[fmt.Sprintf("noise-level bin %d", i)] = lipgloss.NewStyle().Foreground(c)
			}
			for gname, ground := range grounds {
				def := black
				if ground == black {
					def = white
				}
				for name, s := range text {
					fg := shown(s.GetForeground(), p, def)
					if s.GetFaint() {
						fg = color.RGBA{uint8((int(fg.R) + int(ground.R)) / 2), uint8((int(fg.G) + int(ground.G)) / 2), uint8((int(fg.B) + int(ground.B)) / 2), 255}
					}
					if c := contrast(fg, ground); c < 3 {
						t.Errorf("background %s, %s profile, on %s: %s text #%02x%02x%02x has contrast %.2f (< 3)",
							map[background]string{bgUnknown: "unknown", bgLight: "light", bgDark: "dark"}[bg], p, gname, name, fg.R, fg.G, fg.B, c)
					}
				}
			}
		}
	}
}

// TestHelpStylesWereUnreadable documents what the test above catches: the light-background
// styles of the help bubble (#B2B2B2 descriptions) become ANSI white on xterm's white.
func TestHelpStylesWereUnreadable(t *testing.T) {
	fg := shown(lipgloss.Color("#B2B2B2"), colorprofile.ANSI, color.RGBA{})
	if c := contrast(fg, color.RGBA{255, 255, 255, 255}); c >= 3 {
		t.Errorf("#B2B2B2 in 16 colours is %v with contrast %.2f on white: the check would not catch the bug", fg, c)
	}
}
