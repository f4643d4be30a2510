package chart

import (
	"image/color"
	"math"

	"charm.land/lipgloss/v2"
)

// ScheduleChart draws an annealing temperature schedule for the schedule
// editor: temperature T against step on a log y axis whose range is rounded
// out to whole decades (so it stays put while points are edited), with
// T = 0 (the final noise-free steps) drawn on the bottom row, labelled "0".
// Control points are marked ● and the selected one ◆ in SelectedColor.
type ScheduleChart struct {
	// Control are the editable (step, T) control points, T >= 0.
	Control []Point
	// Curve is the schedule as the sampler will run it (e.g. one point per
	// step, interpolated the sampler's way); nil joins the control points
	// with straight segments on screen.
	Curve []Point
	// Selected is the index in Control of the selected point (-1 = none).
	Selected int
	// Steps is the end of the x axis (total sampling steps); 0 uses the
	// largest step among the points.
	Steps float64
	// Marker selects braille dots (default) or quadrant blocks.
	Marker Marker
	// Color is the curve and control point colour; nil uses DefaultPalette[0].
	Color color.Color
	// SelectedColor marks the selected point; nil uses DefaultPalette[1].
	SelectedColor color.Color
	// AxisColor colours axes and labels; nil uses DefaultAxisColor.
	AxisColor color.Color
	// XLabel names the x axis (e.g. "step").
	XLabel string
}

// Render draws the schedule into exactly h lines of exactly w cells. It
// never panics on empty or invalid input: negative temperatures are drawn
// as 0 and non-finite points are skipped.
func (c ScheduleChart) Render(w, h int) string {
	path := c.Curve
	if len(path) == 0 {
		path = c.Control
	}
	xr := rangeAcc{}
	yr := rangeAcc{log: true}
	hasZero := false
	xr.add(0)
	if c.Steps > 0 {
		xr.add(c.Steps)
	}
	for _, pts := range [][]Point{c.Control, path} {
		for _, p := range pts {
			if !finite(p.X) || !finite(p.Y) {
				continue
			}
			xr.add(p.X)
			if p.Y <= 0 {
				hasZero = true
			} else {
				yr.add(p.Y)
			}
		}
	}
	xa := xr.axis()
	ya := yr.axis()
	if yr.n > 0 { // whole decades
		ya.lo, ya.hi = math.Floor(ya.lo), math.Ceil(ya.hi)
		if ya.lo == ya.hi {
			ya.hi++
		}
	}
	col := seriesColor(c.Color, 0)
	selCol := c.SelectedColor
	if selCol == nil {
		selCol = DefaultPalette[1]
	}
	_, sy := c.Marker.dots()
	// logDots is the part of the plot height used by T > 0: one cell row is
	// kept for T = 0 when there is room.
	logDots := func(dotsH int) int {
		if hasZero && dotsH >= 3*sy {
			return dotsH - sy
		}
		return dotsH
	}
	yDot := func(v float64, dotsH int) int {
		if v <= 0 {
			return dotsH - 1
		}
		fr, _ := ya.frac(v)
		return dotPos(1-fr, logDots(dotsH))
	}
	f := frame{
		w: w, h: h, marker: c.Marker, xLabel: c.XLabel, axisColor: c.AxisColor,
		yTicks: func(dotsH, maxN int) []tick {
			var out []tick
			if hasZero {
				out = append(out, tick{pos: dotsH - 1, label: "0"})
			}
			return append(out, valueTicks(ya, ya.ticks(maxN), logDots(dotsH), true)...)
		},
		xTicks: func(dotsW, maxN int) []tick { return valueTicks(xa, xa.ticks(maxN), dotsW, false) },
	}
	return f.render(func(cv *canvas) {
		if cv.dotsW() == 0 || cv.dotsH() == 0 {
			return
		}
		xDot := func(v float64) int {
			fr, _ := xa.frac(v)
			return dotPos(fr, cv.dotsW())
		}
		line := cv.addStyle(lipgloss.NewStyle().Foreground(col))
		ctrl := cv.addStyle(lipgloss.NewStyle().Foreground(col).Bold(true))
		sel := cv.addStyle(lipgloss.NewStyle().Foreground(selCol).Bold(true))
		havePrev := false
		var px, py int
		for _, p := range path {
			if !finite(p.X) || !finite(p.Y) {
				havePrev = false
				continue
			}
			x, y := xDot(p.X), yDot(p.Y, cv.dotsH())
			if havePrev {
				cv.line(px, py, x, y, line)
			} else {
				cv.set(x, y, line)
			}
			px, py, havePrev = x, y, true
		}
		for i, p := range c.Control {
			if i != c.Selected && finite(p.X) && finite(p.Y) {
				cv.glyphAt(xDot(p.X), yDot(p.Y, cv.dotsH()), '●', ctrl)
			}
		}
		if c.Selected >= 0 && c.Selected < len(c.Control) {
			if p := c.Control[c.Selected]; finite(p.X) && finite(p.Y) {
				cv.glyphAt(xDot(p.X), yDot(p.Y, cv.dotsH()), '◆', sel)
			}
		}
	})
}
