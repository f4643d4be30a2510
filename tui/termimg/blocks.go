package termimg

import (
	"image"
	"image/color"
	"strconv"
	"strings"
)

// upperHalf is the glyph of a block cell: its foreground colour is the top
// pixel and its background colour the bottom pixel.
const upperHalf = "▀"

// Blocks renders img as text for a cols x rows cell area with Unicode upper
// half blocks: each cell shows two vertical pixels, the top as foreground and
// the bottom as background colour. The image is scaled (nearest neighbour,
// keeping aspect) to fit cols x 2*rows pixels and drawn from the top-left;
// the rest is padded with spaces, so the result is always exactly rows lines
// of cols cells, ready for a lipgloss layout. truecolor selects 24-bit
// colour (ESC[38;2;r;g;bm); otherwise the nearest of the xterm 256 colours is
// used. Each line ends with a reset (ESC[0m). A nil or empty image, or a
// non-positive size, gives blank cells (or "" for no cells).
func Blocks(img image.Image, cols, rows int, truecolor bool) string {
	if cols <= 0 || rows <= 0 {
		return ""
	}
	var scaled image.Image
	tw, th := 0, 0
	if img != nil && !img.Bounds().Empty() {
		scaled = Scale(img, cols, 2*rows)
		tw, th = scaled.Bounds().Dx(), scaled.Bounds().Dy()
	}
	var sb strings.Builder
	sb.Grow(rows * (cols*(len(upperHalf)+2) + 8))
	pixel := func(x, y int) color.RGBA {
		b := scaled.Bounds()
		return color.RGBAModel.Convert(scaled.At(b.Min.X+x, b.Min.Y+y)).(color.RGBA)
	}
	for r := range rows {
		if r > 0 {
			sb.WriteByte('\n')
		}
		var lastFG, lastBG string
		drawn := 0
		for c := 0; c < tw && 2*r < th; c++ {
			fg := colorSGR(pixel(c, 2*r), true, truecolor)
			bg := "\x1b[49m" // odd height: the last half cell shows the terminal background
			if 2*r+1 < th {
				bg = colorSGR(pixel(c, 2*r+1), false, truecolor)
			}
			if fg != lastFG {
				sb.WriteString(fg)
				lastFG = fg
			}
			if bg != lastBG {
				sb.WriteString(bg)
				lastBG = bg
			}
			sb.WriteString(upperHalf)
			drawn++
		}
		if drawn > 0 {
			sb.WriteString("\x1b[0m")
		}
		sb.WriteString(strings.Repeat(" ", cols-drawn))
	}
	return sb.String()
}

// colorSGR returns the SGR sequence setting the foreground (fg) or
// background colour to c in 24-bit or 256-colour form.
func colorSGR(c color.RGBA, fg, truecolor bool) string {
	b := make([]byte, 0, 20)
	b = append(b, "\x1b["...)
	if fg {
		b = append(b, "38;"...)
	} else {
		b = append(b, "48;"...)
	}
	if truecolor {
		b = append(b, "2;"...)
		b = strconv.AppendInt(b, int64(c.R), 10)
		b = append(b, ';')
		b = strconv.AppendInt(b, int64(c.G), 10)
		b = append(b, ';')
		b = strconv.AppendInt(b, int64(c.B), 10)
	} else {
		b = append(b, "5;"...)
		b = strconv.AppendInt(b, int64(Xterm256(c)), 10)
	}
	return string(append(b, 'm'))
}

// cubeLevels are the channel values of the xterm 6x6x6 colour cube (16..231).
var cubeLevels = [6]int{0, 95, 135, 175, 215, 255}

// Xterm256 returns the index (16..255) of the xterm 256-colour palette entry
// nearest to c: the best of the 6x6x6 cube and the 24-step grey ramp
// (232..255). The first 16 colours are skipped because terminals theme them.
func Xterm256(c color.Color) uint8 {
	r8, g8, b8, _ := c.RGBA()
	r, g, b := int(r8>>8), int(g8>>8), int(b8>>8)
	nearestLevel := func(v int) int {
		best := 0
		for i, l := range cubeLevels {
			if abs(v-l) < abs(v-cubeLevels[best]) {
				best = i
			}
		}
		return best
	}
	ri, gi, bi := nearestLevel(r), nearestLevel(g), nearestLevel(b)
	cubeDist := sq(r-cubeLevels[ri]) + sq(g-cubeLevels[gi]) + sq(b-cubeLevels[bi])
	// Grey ramp value 8+10k, k = 0..23.
	avg := (r + g + b) / 3
	k := min(max((avg-8+5)/10, 0), 23)
	gv := 8 + 10*k
	greyDist := sq(r-gv) + sq(g-gv) + sq(b-gv)
	if greyDist < cubeDist {
		return uint8(232 + k)
	}
	return uint8(16 + 36*ri + 6*gi + bi)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sq(v int) int { return v * v }
