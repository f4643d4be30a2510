package chart

import (
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"charm.land/lipgloss/v2"
)

var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

// plain strips colour sequences.
func plain(s string) string { return sgr.ReplaceAllString(s, "") }

// checkShape fails unless s has exactly h lines of exactly w cells.
func checkShape(t *testing.T, name, s string, w, h int) {
	t.Helper()
	if w <= 0 || h <= 0 {
		if s != "" {
			t.Errorf("%s %dx%d: want empty string, got %q", name, w, h, s)
		}
		return
	}
	lines := strings.Split(s, "\n")
	if len(lines) != h {
		t.Fatalf("%s %dx%d: %d lines, want %d:\n%s", name, w, h, len(lines), h, plain(s))
	}
	for i, l := range lines {
		if got := lipgloss.Width(l); got != w {
			t.Fatalf("%s %dx%d: line %d is %d cells wide, want %d: %q", name, w, h, i, got, w, plain(l))
		}
	}
}

func ramp(n int, f func(i int) float64) []Point {
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{X: float64(i), Y: f(i)}
	}
	return pts
}

type renderer interface{ Render(w, h int) string }

func TestRenderShape(t *testing.T) {
	loss := ramp(5000, func(i int) float64 { return 2*math.Exp(-float64(i)/800) + 0.1*math.Sin(float64(i)) + 0.2 })
	neg := ramp(50, func(i int) float64 { return float64(i) - 25 })
	charts := map[string]renderer{
		"line":             LineChart{Series: []Series{{Name: "loss", Points: loss}}, XLabel: "step"},
		"line smooth log":  LineChart{Series: []Series{{Name: "loss", Points: loss}, {Name: "val", Points: neg}}, Smoothing: 0.9, LogY: true},
		"line blocks":      LineChart{Series: []Series{{Name: "a very long series name indeed", Points: loss}}, Marker: Blocks},
		"line empty":       LineChart{},
		"line no points":   LineChart{Series: []Series{{Name: "loss"}}},
		"line all NaN":     LineChart{Series: []Series{{Name: "x", Points: []Point{{1, math.NaN()}, {math.Inf(1), 2}}}}},
		"line log all neg": LineChart{Series: []Series{{Points: []Point{{0, -1}, {1, -2}}}}, LogY: true},
		"line one point":   LineChart{Series: []Series{{Points: []Point{{3, 7}}}}},
		"schedule":         ScheduleChart{Control: []Point{{0, 1}, {500, 0.01}, {900, 0}, {1000, 0}}, Selected: 1, Steps: 1000, XLabel: "step"},
		"schedule empty":   ScheduleChart{Selected: 3},
		"schedule bad":     ScheduleChart{Control: []Point{{math.NaN(), 1}, {5, -3}, {6, math.Inf(1)}}, Selected: -1},
		"scatter":          ScatterChart{Series: []Series{{Name: "chain", Points: loss[:200]}}, LogX: true, LogY: true, Lines: true, MarkLast: true},
		"scatter empty":    ScatterChart{LogX: true},
		"line ascii":       LineChart{Series: []Series{{Name: "loss", Points: loss}}, Marker: ASCII, YFrom: 500},
		"schedule ascii":   ScheduleChart{Control: []Point{{0, 1}, {500, 0.01}, {1000, 0}}, Selected: 1, Steps: 1000, Marker: ASCII},
		"scatter symlog":   ScatterChart{Series: []Series{{Name: "E", Points: neg}}, SymLogY: true, Lines: true, MarkLast: true, Marker: ASCII},
	}
	sizes := [][2]int{{0, 5}, {5, 0}, {1, 1}, {2, 2}, {3, 3}, {7, 4}, {12, 5}, {40, 10}, {80, 24}, {201, 3}}
	for name, c := range charts {
		for _, sz := range sizes {
			checkShape(t, name, c.Render(sz[0], sz[1]), sz[0], sz[1])
		}
	}
}

func TestSmoothMatchesEMA(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name   string
		ys     []float64
		weight float64
		want   []float64
	}{
		// last = 0.5*last + 0.5*y; divided by 1 - 0.5^n.
		{"half", []float64{1, 2, 3}, 0.5, []float64{1, 1.25 / 0.75, 2.125 / 0.875}},
		{"0.6", []float64{10, 0}, 0.6, []float64{10, 2.4 / 0.64}},
		{"off", []float64{3, -1, 4}, 0, []float64{3, -1, 4}},
		{"negative weight is off", []float64{3, -1}, -2, []float64{3, -1}},
		{"constant", []float64{5, 5, 5, 5}, 0.99, []float64{5, 5, 5, 5}},
		{"NaN passes through", []float64{1, nan, 2}, 0.5, []float64{1, nan, 1.25 / 0.75}},
		{"empty", nil, 0.5, []float64{}},
	}
	for _, tt := range tests {
		got := Smooth(tt.ys, tt.weight)
		if len(got) != len(tt.want) {
			t.Fatalf("%s: len %d want %d", tt.name, len(got), len(tt.want))
		}
		for i := range got {
			if math.IsNaN(tt.want[i]) != math.IsNaN(got[i]) || (!math.IsNaN(got[i]) && math.Abs(got[i]-tt.want[i]) > 1e-12) {
				t.Errorf("%s: Smooth[%d] = %v, want %v", tt.name, i, got[i], tt.want[i])
			}
		}
	}
}

func TestDownsampleKeepsSpike(t *testing.T) {
	const n = 1_000_000
	pts := ramp(n, func(i int) float64 { return 1 + 0.01*float64(i%7) })
	pts[654321].Y = 50
	bs := Downsample(pts, 0, n-1, 100)
	total, maxSeen := 0, 0.0
	for _, b := range bs {
		total += b.N
		maxSeen = math.Max(maxSeen, b.Max)
	}
	if total != n || maxSeen != 50 {
		t.Fatalf("buckets hold %d points with max %v, want %d and 50", total, maxSeen, n)
	}
	if b := bs[65]; b.Max != 50 || b.Min != 1 || b.N != 10000 {
		t.Errorf("spike bucket %+v", b)
	}
	// Rendered: the spike reaches the top plot row, in one narrow column.
	out := LineChart{Series: []Series{{Points: pts}}}.Render(60, 12)
	top := []rune(plain(strings.Split(out, "\n")[0]))
	marked := 0
	for _, r := range top {
		if r >= 0x2801 && r <= 0x28ff {
			marked++
		}
	}
	if marked != 1 {
		t.Errorf("top row has %d marked cells, want the spike alone:\n%s", marked, plain(out))
	}
	if Downsample(pts, 0, 1, 0) != nil {
		t.Error("zero buckets should give nil")
	}
}

// rowOf returns the plot row (0 = top) where the y label appears.
func rowOf(out, label string) int {
	for i, l := range strings.Split(plain(out), "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " "), label+"┤") {
			return i
		}
	}
	return -1
}

func TestLogToggle(t *testing.T) {
	pts := ramp(1001, func(i int) float64 { return math.Pow(10, float64(i)/250) }) // 1 .. 10k
	lin := LineChart{Series: []Series{{Points: pts}}}
	logc := lin
	logc.LogY = true
	lo, ll := lin.Render(50, 20), logc.Render(50, 20)
	if lo == ll {
		t.Fatal("log toggle changed nothing")
	}
	// Log axis: decade labels evenly spaced.
	r1, r10, r100, r1k, r10k := rowOf(ll, "1"), rowOf(ll, "10"), rowOf(ll, "100"), rowOf(ll, "1k"), rowOf(ll, "10k")
	if r1 < 0 || r10 < 0 || r100 < 0 || r1k < 0 || r10k < 0 {
		t.Fatalf("log axis lacks decade labels:\n%s", plain(ll))
	}
	// Evenly spaced up to one row of rounding.
	gaps := []int{r1 - r10, r10 - r100, r100 - r1k, r1k - r10k}
	if slices.Max(gaps)-slices.Min(gaps) > 1 || slices.Min(gaps) <= 0 {
		t.Errorf("decades not evenly spaced: rows %d %d %d %d %d", r1, r10, r100, r1k, r10k)
	}
	// Linear axis: 2k steps, no "100" label.
	if rowOf(lo, "2k") < 0 || rowOf(lo, "100") >= 0 {
		t.Errorf("linear axis labels wrong:\n%s", plain(lo))
	}
	// Non-positive values are skipped in log mode, not drawn or crashed on.
	withNeg := LineChart{Series: []Series{{Points: append([]Point{{-1, -5}, {0, 0}}, pts...)}}, LogY: true}
	if got := withNeg.Render(50, 20); got != ll {
		t.Errorf("non-positive points changed the log chart")
	}
}

func TestLineLegend(t *testing.T) {
	c := LineChart{Series: []Series{
		{Name: "train", Points: []Point{{0, 1}, {1, 3}}},
		{Name: "val", Points: []Point{{0, 2}, {1, 0.5}}},
	}}
	first := plain(strings.Split(c.Render(40, 8), "\n")[0])
	if !strings.Contains(first, "━ train 3") || !strings.Contains(first, "━ val 500m") {
		t.Errorf("legend %q", first)
	}
	c.Smoothing = 0.5 // legend shows the smoothed latest value: (0.5*1 + 0.5*3... debiased) = 2.333
	first = plain(strings.Split(c.Render(40, 8), "\n")[0])
	if !strings.Contains(first, "train 2.33") {
		t.Errorf("smoothed legend %q", first)
	}
	c.NoLegend = true
	if strings.Contains(c.Render(40, 8), "train") {
		t.Error("NoLegend still shows the legend")
	}
}

func TestSchedule(t *testing.T) {
	c := ScheduleChart{Control: []Point{{0, 1}, {400, 0.01}, {800, 0}}, Selected: 1, Steps: 1000}
	out := plain(c.Render(50, 12))
	lines := strings.Split(out, "\n")
	bottomPlot := lines[len(lines)-2]
	if !strings.HasPrefix(strings.TrimLeft(bottomPlot, " "), "0┤") || !strings.Contains(bottomPlot, "●") {
		t.Errorf("T=0 point not on the bottom row labelled 0:\n%s", out)
	}
	if strings.Count(out, "◆") != 1 || strings.Count(out, "●") != 2 {
		t.Errorf("want 1 selected and 2 other control points:\n%s", out)
	}
	if rowOf(out, "1") != 0 || rowOf(out, "10m") < 0 {
		t.Errorf("log T axis should span 10m..1 with 1 on top:\n%s", out)
	}
	c.Selected = -1
	if strings.Contains(plain(c.Render(50, 12)), "◆") {
		t.Error("no selection still marks a point")
	}
	// All T > 0: no zero row.
	c.Control = []Point{{0, 2}, {1000, 0.05}}
	if rowOf(plain(c.Render(50, 12)), "0") >= 0 {
		t.Error("zero label without a zero temperature")
	}
}

func TestScatterLogLog(t *testing.T) {
	pts := []Point{{1, 100}, {0.1, 10}, {0.01, 1}, {-1, 5}, {0.5, -3}, {0, 0}}
	c := ScatterChart{Series: []Series{{Name: "E", Points: pts}}, LogX: true, LogY: true, MarkLast: true}
	out := plain(c.Render(40, 12))
	if rowOf(out, "100") < 0 || rowOf(out, "1") < 0 {
		t.Errorf("log y labels missing:\n%s", out)
	}
	if strings.Count(out, "●") != 1 {
		t.Errorf("want the last valid point marked once:\n%s", out)
	}
	// The marked (last valid) point (0.01, 1) is bottom-left.
	lines := strings.Split(out, "\n")
	if !strings.Contains(lines[len(lines)-2], "●") {
		t.Errorf("last point not on the bottom row:\n%s", out)
	}
}

func TestFormatSI(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {1, "1"}, {1234, "1.23k"}, {0.5, "500m"}, {2e-6, "2µ"}, {-1500, "-1.5k"},
		{999.7, "1k"}, {0.00999, "9.99m"}, {12345678, "12.3M"}, {100, "100"}, {1e-20, "1e-20"},
		{math.NaN(), "NaN"}, {math.Inf(-1), "-Inf"},
	}
	for _, tt := range tests {
		if got := FormatSI(tt.v); got != tt.want {
			t.Errorf("FormatSI(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	if got := tickLabels([]float64{10000, 10005, 10010}); got[0] == got[1] || got[1] == got[2] {
		t.Errorf("tick labels not distinct: %v", got)
	}
}

func TestAxisTicks(t *testing.T) {
	tests := []struct {
		name string
		a    axis
		maxN int
		want []float64
	}{
		{"linear 0..1", axis{lo: 0, hi: 1}, 5, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}[:0]}, // filled below
		{"linear -3..7", axis{lo: -3, hi: 7}, 5, []float64{-2, 0, 2, 4, 6}},
		{"log 1e-3..1e3", axis{log: true, lo: -3, hi: 3}, 3, []float64{1e-3, 1, 1e3}},
		{"log 1..1e3", axis{log: true, lo: 0, hi: 3}, 8, []float64{1, 10, 100, 1000}},
		{"log 2..30", axis{log: true, lo: math.Log10(2), hi: math.Log10(30)}, 8, []float64{2, 5, 10, 20}},
	}
	tests[0].want = []float64{0, 0.5, 1}
	for _, tt := range tests {
		got := tt.a.ticks(tt.maxN)
		if len(got) != len(tt.want) {
			t.Errorf("%s: ticks %v, want %v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tt.want[i]) > 1e-9*math.Max(1, math.Abs(tt.want[i])) {
				t.Errorf("%s: ticks %v, want %v", tt.name, got, tt.want)
				break
			}
		}
	}
}

func BenchmarkLineChartMillion(b *testing.B) {
	pts := ramp(1_000_000, func(i int) float64 { return 1 / (1 + float64(i)/1e4) })
	c := LineChart{Series: []Series{{Name: "loss", Points: pts}}, Smoothing: 0.9, LogY: true}
	for b.Loop() {
		_ = c.Render(120, 30)
	}
}

// TestASCIIMarker: in ASCII mode every chart is plain ASCII (axes, legend, marks and
// curve), and the curve is still drawn.
func TestASCIIMarker(t *testing.T) {
	loss := ramp(400, func(i int) float64 { return 1 + float64(i%40) })
	for name, c := range map[string]renderer{
		"line":     LineChart{Series: []Series{{Name: "loss", Points: loss}}, Marker: ASCII, XLabel: "step"},
		"schedule": ScheduleChart{Control: []Point{{0, 10}, {300, 1}, {400, 0}}, Selected: 1, Steps: 400, Marker: ASCII, XLabel: "step"},
		"scatter":  ScatterChart{Series: []Series{{Name: "E", Points: loss}}, LogX: true, SymLogY: true, MarkLast: true, Marker: ASCII},
	} {
		out := plain(c.Render(60, 12))
		for _, r := range out {
			if r > 127 {
				t.Errorf("%s: non-ASCII %q in\n%s", name, r, out)
				break
			}
		}
		if strings.Count(out, "|")+strings.Count(out, "-")+strings.Count(out, "'")+strings.Count(out, ".") < 20 {
			t.Errorf("%s: nothing drawn:\n%s", name, out)
		}
	}
}

// TestYFromClipsTheTransient: with YFrom past an early spike, the rest of the curve uses
// the plot's height instead of the bottom row.
func TestYFromClipsTheTransient(t *testing.T) {
	pts := ramp(1000, func(i int) float64 {
		if i < 50 {
			return 1e5
		}
		return 10 + 5*math.Sin(float64(i)/30)
	})
	rows := func(c LineChart) int { // plot rows with a dot after the transient's columns
		n := 0
		for _, l := range strings.Split(plain(c.Render(60, 12)), "\n")[1:11] {
			if strings.ContainsFunc(string([]rune(l)[20:]), func(r rune) bool { return r >= 0x2801 && r <= 0x28ff }) {
				n++
			}
		}
		return n
	}
	all, clipped := rows(LineChart{Series: []Series{{Name: "loss", Points: pts}}}), rows(LineChart{Series: []Series{{Name: "loss", Points: pts}}, YFrom: 100})
	if all > 2 || clipped < 8 {
		t.Errorf("the curve after the transient spans %d rows on the full range and %d clipped; want <= 2 and >= 8", all, clipped)
	}
}

// TestSymLogAxis: a symmetric log axis shows negative and positive values over decades,
// with 0 and powers of ten as ticks.
func TestSymLogAxis(t *testing.T) {
	r := rangeAcc{sym: true}
	for _, v := range []float64{-50, -3, 0, 2, 9000} {
		r.add(v)
	}
	a := r.axis()
	ticks := a.ticks(8)
	if !slices.Contains(ticks, 0) || !slices.Contains(ticks, 1000) || !slices.Contains(ticks, -10) {
		t.Errorf("ticks %v", ticks)
	}
	for _, v := range []float64{-50, 0, 9000} {
		if f, ok := a.frac(v); !ok || f < -1e-9 || f > 1+1e-9 {
			t.Errorf("frac(%g) = %g, %v", v, f, ok)
		}
	}
	if math.Abs(symexp(symlog(-123.5))+123.5) > 1e-9 {
		t.Error("symexp is not the inverse of symlog")
	}
}

// TestWindowClipsXAndY: an x window shows exactly its steps, and the y range fits the
// points inside it (a spike outside does not squash them), while smoothing still runs
// over every point.
func TestWindowClipsXAndY(t *testing.T) {
	pts := ramp(1000, func(i int) float64 {
		if i < 100 {
			return 1e4 // the spike, outside the window
		}
		return 10 + float64(i%50)/5
	})
	c := LineChart{Series: []Series{{Name: "loss", Points: pts}}, XFrom: 400, XTo: 600, XLabel: "step"}
	out := plain(c.Render(60, 12))
	lines := strings.Split(out, "\n")
	if x := lines[len(lines)-1]; !strings.Contains(x, "400") || !strings.Contains(x, "600") || strings.Contains(x, "800") {
		t.Errorf("x labels of the window 400..600: %q", x)
	}
	for _, l := range lines[1 : len(lines)-1] {
		if strings.Contains(l, "10k") || strings.Contains(l, "5k") {
			t.Errorf("the y range takes the spike outside the window: %q", l)
		}
	}
	if !strings.Contains(out, "20┤") && !strings.Contains(out, "18┤") && !strings.Contains(out, "15┤") {
		t.Errorf("y ticks should span 10..20:\n%s", out)
	}
	// the legend's value is the last one inside the window
	if !strings.Contains(lines[0], "loss 10 ") {
		t.Errorf("legend %q, want the value at step 600 (10)", lines[0])
	}
}

// TestCursorLine: the cursor is a dotted column in the axis colour at its x, drawn only
// inside the x range; NoXLabels gives its row to the plot.
func TestCursorLine(t *testing.T) {
	pts := ramp(101, func(i int) float64 { return 5 })
	col := func(c LineChart) int { // the plot column with dots in more than half the rows
		rows := strings.Split(plain(c.Render(41, 10)), "\n")
		counts := map[int]int{}
		for _, l := range rows[1:9] {
			for i, r := range []rune(l) {
				if r >= 0x2801 && r <= 0x28ff {
					counts[i]++
				}
			}
		}
		for i, n := range counts {
			if n >= 6 {
				return i
			}
		}
		return -1
	}
	left := col(LineChart{Series: []Series{{Points: pts}}, Cursor: 20, ShowCursor: true})
	right := col(LineChart{Series: []Series{{Points: pts}}, Cursor: 80, ShowCursor: true})
	if left < 0 || right <= left {
		t.Errorf("cursor columns %d (x 20) and %d (x 80)", left, right)
	}
	if c := col(LineChart{Series: []Series{{Points: pts}}, Cursor: 500, ShowCursor: true}); c >= 0 {
		t.Errorf("a cursor outside the range is drawn at column %d", c)
	}
	with := strings.Split(plain(LineChart{Series: []Series{{Name: "lr", Points: pts}}, NoXLabels: true}.Render(30, 4)), "\n")
	if len(with) != 4 || !strings.Contains(with[0], "lr") || strings.Contains(with[3], "100") {
		t.Errorf("NoXLabels at 4 rows: legend and 3 plot rows, no x labels:\n%s", strings.Join(with, "\n"))
	}
}

// TestNegativeX: a chart of negative x (energies) fits its y range to every point.
func TestNegativeX(t *testing.T) {
	pts := []Point{{-32000, 0}, {-31900, 0.004}, {-31800, 0.004}, {-31700, 0}}
	out := plain(LineChart{Series: []Series{{Points: pts}}}.Render(40, 8))
	if !strings.Contains(out, "4m") {
		t.Errorf("the y axis should reach 0.004:\n%s", out)
	}
}
