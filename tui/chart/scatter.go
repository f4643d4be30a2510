package chart

import (
	"image/color"

	"charm.land/lipgloss/v2"
)

// ScatterChart draws points in any order, for the live chain view: energy
// against temperature on log-log axes while a chain anneals. With Lines the
// points of a series are joined in order (the chain's trajectory); with
// MarkLast the newest point of each series is marked ●.
type ScatterChart struct {
	// Series to draw; points may come in any order.
	Series []Series
	// LogX and LogY use log10 axes; points with a non-positive coordinate on
	// a log axis are skipped (energies can be negative: leave LogY off then).
	LogX, LogY bool
	// SymLogY uses a symmetric log y axis, sign(y) log10(1+|y|): values of
	// both signs over many decades (the energy of a chain from T0 down).
	SymLogY bool
	// Lines joins consecutive points of each series.
	Lines bool
	// MarkLast marks the last valid point of each series with ●.
	MarkLast bool
	// Marker selects braille dots (default) or quadrant blocks.
	Marker Marker
	// XLabel names the x axis (e.g. "T").
	XLabel string
	// NoLegend hides the legend row.
	NoLegend bool
	// AxisColor colours axes and labels; nil uses DefaultAxisColor.
	AxisColor color.Color
}

// Render draws the chart into exactly h lines of exactly w cells; an empty
// chart is an empty frame.
func (c ScatterChart) Render(w, h int) string {
	xr := rangeAcc{log: c.LogX}
	yr := rangeAcc{log: c.LogY && !c.SymLogY, sym: c.SymLogY}
	var legend []legendEntry
	probeX, probeY := axis{log: c.LogX}, axis{log: yr.log, sym: yr.sym}
	for si, s := range c.Series {
		for _, p := range s.Points {
			if probeX.valid(p.X) && probeY.valid(p.Y) {
				xr.add(p.X)
				yr.add(p.Y)
			}
		}
		if s.Name != "" && !c.NoLegend {
			legend = append(legend, legendEntry{text: s.Name,
				style: lipgloss.NewStyle().Foreground(seriesColor(s.Color, si))})
		}
	}
	xa, ya := xr.axis(), yr.axis()
	f := frame{
		w: w, h: h, marker: c.Marker, legend: legend, xLabel: c.XLabel, axisColor: c.AxisColor,
		yTicks: func(dotsH, maxN int) []tick { return valueTicks(ya, ya.ticks(maxN), dotsH, true) },
		xTicks: func(dotsW, maxN int) []tick { return valueTicks(xa, xa.ticks(maxN), dotsW, false) },
	}
	return f.render(func(cv *canvas) {
		if cv.dotsW() == 0 || cv.dotsH() == 0 {
			return
		}
		pos := func(p Point) (int, int, bool) {
			fx, okx := xa.frac(p.X)
			fy, oky := ya.frac(p.Y)
			return dotPos(fx, cv.dotsW()), dotPos(1-fy, cv.dotsH()), okx && oky
		}
		for si, s := range c.Series {
			col := seriesColor(s.Color, si)
			st := cv.addStyle(lipgloss.NewStyle().Foreground(col))
			havePrev := false
			var px, py int
			lastOK := false
			var lx, ly int
			for _, p := range s.Points {
				x, y, ok := pos(p)
				if !ok {
					havePrev = false
					continue
				}
				if c.Lines && havePrev {
					cv.line(px, py, x, y, st)
				} else {
					cv.set(x, y, st)
				}
				px, py, havePrev = x, y, true
				lx, ly, lastOK = x, y, true
			}
			if c.MarkLast && lastOK {
				cv.glyphAt(lx, ly, '●', cv.addStyle(lipgloss.NewStyle().Foreground(col).Bold(true)))
			}
		}
	})
}
