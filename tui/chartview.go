package tui

import (
	"math"
	"sort"

	"mdsm/tui/chart"
)

// chartView is the Train pane's step window and cursor: which steps its charts show
// (the whole run, or a zoomed window that may follow the newest step) and the step whose
// values the readout line shows. Every chart of the pane shares it.
type chartView struct {
	lo, hi   float64 // the window (hi <= lo: the whole run)
	follow   bool    // the window's end follows the newest step
	cursor   float64
	cursorOn bool
}

// minWindow is the narrowest step window.
const minWindow = 8

// windowed reports whether a window is set.
func (v chartView) windowed() bool { return v.hi > v.lo }

// window is the step range shown for data spanning first..last, and whether it is a
// zoomed window.
func (v chartView) window(first, last float64) (lo, hi float64, zoomed bool) {
	if !v.windowed() {
		return first, last, false
	}
	if v.follow {
		w := v.hi - v.lo
		return last - w, last, true
	}
	return v.lo, v.hi, true
}

// zoom scales the window by f (0.5: in, 2: out) around the cursor, or keeps its end when
// it follows the newest step; a window as wide as the run becomes the whole run.
func (v chartView) zoom(first, last, f float64) chartView {
	if !(last > first) {
		return v
	}
	lo, hi, zoomed := v.window(first, last)
	if !zoomed {
		v.follow = true
	}
	w := math.Max(minWindow, (hi-lo)*f)
	if w >= last-first {
		v.lo, v.hi, v.follow = 0, 0, false
		return v
	}
	switch {
	case v.cursorOn:
		c := math.Min(math.Max(v.cursor, first), last)
		v.lo, v.hi = c-w/2, c+w/2
		v.follow = false
	case v.follow:
		v.lo, v.hi = last-w, last
	default:
		c := (lo + hi) / 2
		v.lo, v.hi = c-w/2, c+w/2
	}
	return v.clamp(first, last)
}

// clamp keeps a window inside first..last, and follows the newest step when it ends there.
func (v chartView) clamp(first, last float64) chartView {
	if !v.windowed() {
		return v
	}
	w := v.hi - v.lo
	if v.lo < first {
		v.lo, v.hi = first, first+w
	}
	if v.hi >= last {
		v.lo, v.hi, v.follow = last-w, last, true
	} else {
		v.follow = false
	}
	return v
}

// pan moves the window by a quarter of its width (dir -1: earlier, +1: later).
func (v chartView) pan(first, last float64, dir int) chartView {
	lo, hi, zoomed := v.window(first, last)
	if !zoomed {
		return v
	}
	d := float64(dir) * math.Max(1, (hi-lo)/4)
	v.lo, v.hi, v.follow = lo+d, hi+d, false
	return v.clamp(first, last)
}

// moveCursor moves the cursor by steps (it appears at the window's end first) and pans
// the window to keep it inside.
func (v chartView) moveCursor(first, last, steps float64) chartView {
	lo, hi, zoomed := v.window(first, last)
	if !v.cursorOn {
		v.cursorOn, v.cursor = true, hi
		return v
	}
	v.cursor = math.Min(math.Max(math.Round(v.cursor+steps), first), last)
	if zoomed && (v.cursor < lo || v.cursor > hi) {
		w := hi - lo
		if v.cursor < lo {
			v.lo, v.hi = v.cursor, v.cursor+w
		} else {
			v.lo, v.hi = v.cursor-w, v.cursor
		}
		v.follow = false
		v = v.clamp(first, last)
	}
	return v
}

// at is the point of pts (ascending X) at or before x, and whether there is one.
func at(pts []chart.Point, x float64) (chart.Point, bool) {
	i := sort.Search(len(pts), func(i int) bool { return pts[i].X > x })
	if i == 0 {
		return chart.Point{}, false
	}
	return pts[i-1], true
}

// smoothedAt is the debiased EMA of pts (as the chart smooths them) at the point at or
// before x.
func smoothedAt(pts []chart.Point, x, weight float64) (float64, bool) {
	i := sort.Search(len(pts), func(i int) bool { return pts[i].X > x })
	if i == 0 {
		return 0, false
	}
	ys := make([]float64, i)
	for j := range ys {
		ys[j] = pts[j].Y
	}
	sm := chart.Smooth(ys, weight)
	return sm[i-1], true
}

// inside is the part of pts (ascending X) with lo <= X <= hi.
func inside(pts []chart.Point, lo, hi float64) []chart.Point {
	i := sort.Search(len(pts), func(i int) bool { return pts[i].X >= lo })
	j := sort.Search(len(pts), func(i int) bool { return pts[i].X > hi })
	return pts[i:j]
}
