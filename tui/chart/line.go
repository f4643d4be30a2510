package chart

import (
	"image/color"
	"math"

	"charm.land/lipgloss/v2"
)

// Series is a named sequence of points drawn in one colour.
type Series struct {
	// Name labels the series in the legend ("" = not in the legend).
	Name string
	// Points are the samples; for a LineChart they are in increasing X
	// (training steps). Points with a non-finite coordinate are skipped.
	Points []Point
	// Color is the series colour; nil picks DefaultPalette by index.
	Color color.Color
}

// LineChart draws training curves: one or more series over the whole run,
// downsampled to the pane width by bucketing points per dot column. The raw
// series is drawn as a min..max envelope per column, so a single spike among
// millions of points stays visible; the optional smoothed series (debiased
// EMA, as TensorBoard's smoothing slider) is drawn as a line through the
// column means on top of a faint raw envelope.
type LineChart struct {
	// Series to draw, in order (later series are drawn over earlier ones).
	Series []Series
	// Smoothing is the EMA weight in [0, 1); 0 draws only the raw series.
	Smoothing float64
	// HideRaw hides the faint raw envelope when Smoothing > 0.
	HideRaw bool
	// LogY uses a log10 y axis; non-positive values are skipped.
	LogY bool
	// YFrom, when set (non-zero) and above the first step, fits the y range to
	// the points from that x on: the early transient of a loss curve (orders of magnitude
	// above the rest) is clipped at the top instead of squashing the rest to
	// the bottom row. Every point is still drawn where it fits.
	YFrom float64
	// XFrom and XTo, when XTo > XFrom, are the x window shown (a zoomed step range):
	// the x axis spans exactly it, only points inside it are drawn, and the y range fits
	// them alone (and YFrom). Smoothing still runs over every point, so a smoothed value
	// does not depend on the window.
	XFrom, XTo float64
	// Cursor, when ShowCursor, is the x of a vertical cursor line (a value readout's
	// step), drawn dotted in the axis colour under the curves.
	Cursor     float64
	ShowCursor bool
	// Marker selects braille dots (default) or quadrant blocks.
	Marker Marker
	// XLabel names the x axis at the right end of the label row (e.g. "step").
	XLabel string
	// NoLegend hides the legend row.
	NoLegend bool
	// LegendNoValues leaves the latest values out of the legend (many short entries).
	LegendNoValues bool
	// NoXLabels hides the x tick labels (a small chart under one with the same x axis):
	// its rows go to the plot.
	NoXLabels bool
	// AxisColor colours axes and labels; nil uses DefaultAxisColor.
	AxisColor color.Color
}

// windowed reports whether the chart shows an x window, and whether x is inside it.
func (c LineChart) windowed() bool { return c.XTo > c.XFrom }
func (c LineChart) inWindow(x float64) bool {
	return !c.windowed() || (x >= c.XFrom && x <= c.XTo)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Render draws the chart into exactly h lines of exactly w cells: legend
// (series name and latest value), y tick labels in engineering format, the
// plot, and x tick labels. It is a pure function of c, O(total points), and
// renders an empty frame (axes only) when there is nothing to draw.
func (c LineChart) Render(w, h int) string {
	smooth := c.Smoothing > 0
	showRaw := !smooth || !c.HideRaw
	xr := rangeAcc{}
	if c.windowed() {
		xr.add(c.XFrom)
		xr.add(c.XTo)
	}
	yr := rangeAcc{log: c.LogY}
	ya0 := axis{log: c.LogY} // for validity checks before the range is known
	var legend []legendEntry
	for si, s := range c.Series {
		e := newEMA(c.Smoothing)
		last, have := 0.0, false
		for _, p := range s.Points {
			if !finite(p.X) || !finite(p.Y) {
				continue
			}
			sv := e.next(p.Y)
			// Only drawable values count (a log axis skips y <= 0).
			rawOK := showRaw && ya0.valid(p.Y)
			smOK := smooth && ya0.valid(sv)
			if !rawOK && !smOK || !c.inWindow(p.X) {
				continue
			}
			if !c.windowed() {
				xr.add(p.X)
			}
			if c.YFrom == 0 || p.X >= c.YFrom {
				if rawOK {
					yr.add(p.Y)
				}
				if smOK {
					yr.add(sv)
				}
			}
			if smooth {
				last = sv
			} else {
				last = p.Y
			}
			have = true
		}
		if s.Name != "" && !c.NoLegend {
			value := ""
			if have && !c.LegendNoValues {
				value = FormatSI(last)
			}
			legend = append(legend, legendEntry{text: s.Name, value: value,
				style: lipgloss.NewStyle().Foreground(seriesColor(s.Color, si))})
		}
	}
	xa, ya := xr.axis(), yr.axis()
	f := frame{
		w: w, h: h, marker: c.Marker, legend: legend, xLabel: c.XLabel, axisColor: c.AxisColor, noXLabels: c.NoXLabels,
		yTicks: func(dotsH, maxN int) []tick { return valueTicks(ya, ya.ticks(maxN), dotsH, true) },
		xTicks: func(dotsW, maxN int) []tick { return valueTicks(xa, xa.ticks(maxN), dotsW, false) },
	}
	return f.render(func(cv *canvas) {
		n := cv.dotsW()
		if n == 0 || cv.dotsH() == 0 {
			return
		}
		yDot := func(v float64) int {
			fr, _ := ya.frac(v)
			return dotPos(1-fr, cv.dotsH())
		}
		if c.ShowCursor && finite(c.Cursor) && c.Cursor >= xa.lo && c.Cursor <= xa.hi {
			col := dotPos((c.Cursor-xa.lo)/(xa.hi-xa.lo), n)
			axisColor := c.AxisColor
			if axisColor == nil {
				axisColor = DefaultAxisColor
			}
			st := cv.addStyle(lipgloss.NewStyle().Foreground(axisColor))
			for y := 0; y < cv.dotsH(); y += 2 {
				cv.set(col, y, st)
			}
		}
		type drawn struct {
			raw, sm []Bucket
			col     color.Color
		}
		all := make([]drawn, len(c.Series))
		for si, s := range c.Series {
			raw := make([]Bucket, n)
			var sm []Bucket
			if smooth {
				sm = make([]Bucket, n)
			}
			e := newEMA(c.Smoothing)
			for _, p := range s.Points {
				if !finite(p.X) || !finite(p.Y) {
					continue
				}
				sv := e.next(p.Y)
				i := bucketIndex(p.X, xa.lo, xa.hi, n)
				if i < 0 {
					continue
				}
				if ya.valid(p.Y) {
					raw[i].add(p.Y)
				}
				if smooth && ya.valid(sv) {
					sm[i].add(sv)
				}
			}
			finishBuckets(raw)
			finishBuckets(sm)
			all[si] = drawn{raw: raw, sm: sm, col: seriesColor(s.Color, si)}
		}
		if showRaw {
			for _, d := range all {
				st := lipgloss.NewStyle().Foreground(d.col)
				if smooth {
					st = st.Faint(true)
				}
				drawEnvelope(cv, d.raw, yDot, cv.addStyle(st))
			}
		}
		if smooth {
			for _, d := range all {
				drawMeans(cv, d.sm, yDot, cv.addStyle(lipgloss.NewStyle().Foreground(d.col)))
			}
		}
	})
}

// drawEnvelope draws each non-empty column from Min to Max and joins the
// previous column's Last to this column's First.
func drawEnvelope(cv *canvas, bs []Bucket, yDot func(float64) int, style int) {
	prev := -1
	for i, b := range bs {
		if b.N == 0 {
			continue
		}
		if prev >= 0 {
			cv.line(prev, yDot(bs[prev].Last), i, yDot(b.First), style)
		}
		cv.vline(i, yDot(b.Min), yDot(b.Max), style)
		prev = i
	}
}

// drawMeans draws a line through the column means.
func drawMeans(cv *canvas, bs []Bucket, yDot func(float64) int, style int) {
	prev := -1
	for i, b := range bs {
		if b.N == 0 {
			continue
		}
		y := yDot(b.Mean)
		if prev >= 0 {
			cv.line(prev, yDot(bs[prev].Mean), i, y, style)
		} else {
			cv.set(i, y, style)
		}
		prev = i
	}
}
