package chart

import (
	"image/color"
	"math"
	"strings"

	"charm.land/lipgloss/v2"
)

// DefaultPalette colours series that have no Color of their own, in order.
var DefaultPalette = []color.Color{
	lipgloss.Color("#5fafff"), // blue
	lipgloss.Color("#ff8700"), // orange
	lipgloss.Color("#87d787"), // green
	lipgloss.Color("#d787d7"), // magenta
	lipgloss.Color("#ffd75f"), // yellow
	lipgloss.Color("#5fd7d7"), // cyan
}

// DefaultAxisColor is the colour of axes and tick labels.
var DefaultAxisColor color.Color = lipgloss.Color("#808080")

// seriesColor returns c, or the palette colour for series i.
func seriesColor(c color.Color, i int) color.Color {
	if c != nil {
		return c
	}
	return DefaultPalette[i%len(DefaultPalette)]
}

// Point is one (x, y) sample, e.g. (step, loss).
type Point struct {
	X, Y float64
}

// tick is an axis tick: pos in dots along the axis, and its label.
type tick struct {
	pos   int
	label string
}

// legendEntry is one coloured legend item: a name and an optional value after it.
type legendEntry struct {
	text  string
	value string
	style lipgloss.Style
}

// frame lays out a chart: an optional legend row on top, y tick labels in a
// left gutter with an axis line, the plot canvas, and an x label row.
type frame struct {
	w, h      int
	marker    Marker
	legend    []legendEntry
	xLabel    string
	noXLabels bool // no x tick row (a chart under another with the same x axis)
	axisColor color.Color
	// yTicks returns at most maxN ticks for a plot dotsH dots high (pos 0 =
	// top dot).
	yTicks func(dotsH, maxN int) []tick
	// xTicks returns ticks for a plot dotsW dots wide (pos 0 = left dot).
	xTicks func(dotsW, maxN int) []tick
}

// render plans the layout, lets draw fill the canvas, and assembles exactly
// h lines of exactly w cells. It never panics on small sizes.
func (f frame) render(draw func(cv *canvas)) string {
	if f.w <= 0 || f.h <= 0 {
		return ""
	}
	axisColor := f.axisColor
	if axisColor == nil {
		axisColor = DefaultAxisColor
	}
	axisStyle := lipgloss.NewStyle().Foreground(axisColor)

	xRows, legendRows := 0, 0
	if f.h >= 3 && !f.noXLabels {
		xRows = 1
	}
	if len(f.legend) > 0 && (f.h >= 5 || f.noXLabels && f.h >= 3) {
		legendRows = 1
	}
	plotRows := f.h - xRows - legendRows
	_, sy := f.marker.dots()
	dotsH := plotRows * sy

	// Y ticks, one per cell row at most, and the gutter they need.
	var yt []tick
	if f.yTicks != nil {
		yt = f.yTicks(dotsH, min(max(plotRows/2, 2), 8))
	}
	rowLabel := make(map[int]string)
	labelW := 0
	for _, t := range yt {
		r := t.pos / sy
		if r < 0 || r >= plotRows {
			continue
		}
		if _, dup := rowLabel[r]; dup {
			continue
		}
		rowLabel[r] = t.label
		labelW = max(labelW, lipgloss.Width(t.label))
	}
	gutter := labelW + 1
	if labelW == 0 || f.w-gutter < max(4, f.w/3) {
		gutter = 0
	}
	plotCols := f.w - gutter

	cv := newCanvas(plotCols, plotRows, f.marker)
	if draw != nil {
		draw(cv)
	}

	lines := make([]string, 0, f.h)
	if legendRows > 0 {
		lines = append(lines, legendLine(f.legend, f.w, string(f.marker.glyph('━'))))
	}
	for r := range plotRows {
		var sb strings.Builder
		if gutter > 0 {
			label, isTick := rowLabel[r]
			axisCh := string(f.marker.glyph('│'))
			if isTick {
				axisCh = string(f.marker.glyph('┤'))
			}
			pad := gutter - 1 - lipgloss.Width(label)
			sb.WriteString(axisStyle.Render(strings.Repeat(" ", pad) + label + axisCh))
		}
		sb.WriteString(cv.rowString(r))
		lines = append(lines, sb.String())
	}
	if xRows > 0 {
		var xt []tick
		if f.xTicks != nil {
			xt = f.xTicks(cv.dotsW(), max(plotCols/8, 2))
		}
		row := xLabelRow(xt, cv.sx, plotCols, f.xLabel)
		lines = append(lines, strings.Repeat(" ", gutter)+axisStyle.Render(row))
	}
	return strings.Join(lines, "\n")
}

// xLabelRow places tick labels (centred on their column, clamped inside the
// row, skipped when they would touch a neighbour) and the axis name at the
// right end, in a plain row exactly width cells wide.
func xLabelRow(ticks []tick, sx, width int, name string) string {
	row := []rune(strings.Repeat(" ", max(width, 0)))
	limit := width // labels must end before the axis name
	if n := len([]rune(name)); name != "" && n+1 < width {
		copy(row[width-n:], []rune(name))
		limit = width - n - 1
	}
	next := 0 // first free cell
	for _, t := range ticks {
		lab := []rune(t.label)
		col := t.pos / sx
		start := col - len(lab)/2
		start = max(start, 0)
		if start+len(lab) > limit {
			start = limit - len(lab)
		}
		if start < next || start < 0 {
			continue
		}
		copy(row[start:], lab)
		next = start + len(lab) + 1
	}
	return string(row)
}

// legendLine renders legend entries ("━ name value", with mark for ━) separated by two
// spaces, padded to exactly width cells. When they do not fit, the longest names are
// shortened first (to 4 cells with "…"), so that every curve keeps its entry and value;
// entries that still do not fit are dropped from the end.
func legendLine(entries []legendEntry, width int, mark string) string {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.text
	}
	full := func(i int) string {
		t := mark + " " + names[i]
		if entries[i].value != "" {
			t += " " + entries[i].value
		}
		return t
	}
	total := func() int {
		n := 0
		for i := range entries {
			if i > 0 {
				n += 2
			}
			n += len([]rune(full(i)))
		}
		return n
	}
	for total() > width {
		long := -1 // the longest name that can still be shortened
		for i, n := range names {
			if r := len([]rune(n)); r > 4 && (long < 0 || r > len([]rune(names[long]))) {
				long = i
			}
		}
		if long < 0 {
			break
		}
		r := []rune(names[long]) // one cell shorter, ending in "…"
		names[long] = string(r[:len(r)-2]) + "…"
	}
	var sb strings.Builder
	used := 0
	for i, e := range entries {
		text := full(i)
		sep := 0
		if i > 0 {
			sep = 2
		}
		tw := lipgloss.Width(text)
		if used+sep+tw > width {
			if i == 0 { // truncate the only entry rather than show nothing
				text = truncateRunes(text, width)
				tw = lipgloss.Width(text)
			} else {
				break
			}
		}
		sb.WriteString(strings.Repeat(" ", sep))
		sb.WriteString(e.style.Render(text))
		used += sep + tw
	}
	sb.WriteString(strings.Repeat(" ", max(width-used, 0)))
	return sb.String()
}

// truncateRunes cuts s to at most n cells (labels here are one cell per rune).
func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:max(n, 0)])
}

// dotPos maps a fraction in [0, 1] to a dot index in [0, n-1] (0 at the
// start), clamping far out-of-range values so lines stay bounded.
func dotPos(frac float64, n int) int {
	if n <= 1 {
		return 0
	}
	frac = math.Max(-2, math.Min(3, frac))
	return int(math.Round(frac * float64(n-1)))
}

// valueTicks turns tick values on an axis into ticks at dot positions;
// flip puts 0 at the far end (y axes grow upwards).
func valueTicks(a axis, vals []float64, nDots int, flip bool) []tick {
	labels := tickLabels(vals)
	out := make([]tick, 0, len(vals))
	for i, v := range vals {
		f, ok := a.frac(v)
		if !ok {
			continue
		}
		if flip {
			f = 1 - f
		}
		out = append(out, tick{pos: dotPos(f, nDots), label: labels[i]})
	}
	return out
}
