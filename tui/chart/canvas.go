package chart

import (
	"strings"

	"charm.land/lipgloss/v2"
)

// Marker selects how a chart draws its lines.
type Marker int

const (
	// Braille draws with braille dots, 2x4 dots per cell (the default).
	Braille Marker = iota
	// Blocks draws with quadrant block characters, 2x2 per cell: coarser,
	// but works with fonts that lack braille.
	Blocks
	// ASCII draws with ' - . : | and ASCII axes, 1x3 dots per cell: for fonts
	// that have neither braille nor block elements.
	ASCII
)

// ParseMarker reads a marker name: braille, blocks or ascii.
func ParseMarker(s string) (Marker, bool) {
	switch s {
	case "braille":
		return Braille, true
	case "blocks":
		return Blocks, true
	case "ascii":
		return ASCII, true
	}
	return Braille, false
}

// dots returns the dot grid of one cell for m.
func (m Marker) dots() (sx, sy int) {
	switch m {
	case Blocks:
		return 2, 2
	case ASCII:
		return 1, 3
	}
	return 2, 4
}

// asciiGlyphs maps a 1x3 mask (1 top, 2 middle, 4 bottom) to a character.
var asciiGlyphs = [8]rune{' ', '\'', '-', '\'', '.', ':', '.', '|'}

// asciiMarks replaces the marker glyphs of charts in ASCII mode.
var asciiMarks = map[rune]rune{'●': 'o', '◆': '@', '━': '-', '│': '|', '┤': '+'}

// Glyph returns r as m draws it: itself, or its ASCII stand-in (━ is -, ● is o).
func (m Marker) Glyph(r rune) rune { return m.glyph(r) }

// glyph returns r as m draws it: itself, or its ASCII stand-in.
func (m Marker) glyph(r rune) rune {
	if m == ASCII {
		if a, ok := asciiMarks[r]; ok {
			return a
		}
	}
	return r
}

// brailleBits[y][x] is the braille dot bit of dot (x, y) inside a cell.
var brailleBits = [4][2]uint8{{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}}

// quadrantGlyphs maps a 2x2 mask (1 top-left, 2 top-right, 4 bottom-left,
// 8 bottom-right) to a block character.
var quadrantGlyphs = [16]rune{' ', '▘', '▝', '▀', '▖', '▌', '▞', '▛', '▗', '▚', '▐', '▜', '▄', '▙', '▟', '█'}

// canvas is a grid of cells with sub-cell dots, one style per cell, and
// optional glyphs (control points, markers) drawn over the dots.
type canvas struct {
	cols, rows int
	sx, sy     int
	marker     Marker
	bits       []uint8
	style      []int16 // index into styles, -1 = none
	glyph      []rune
	styles     []lipgloss.Style
}

func newCanvas(cols, rows int, m Marker) *canvas {
	sx, sy := m.dots()
	n := max(cols, 0) * max(rows, 0)
	c := &canvas{cols: cols, rows: rows, sx: sx, sy: sy, marker: m,
		bits: make([]uint8, n), style: make([]int16, n), glyph: make([]rune, n)}
	for i := range c.style {
		c.style[i] = -1
	}
	return c
}

// dotsW and dotsH are the canvas size in dots.
func (c *canvas) dotsW() int { return c.cols * c.sx }
func (c *canvas) dotsH() int { return c.rows * c.sy }

// addStyle registers a style and returns its index for set/line/glyphAt.
func (c *canvas) addStyle(s lipgloss.Style) int {
	c.styles = append(c.styles, s)
	return len(c.styles) - 1
}

// set turns on dot (x, y) (0,0 top-left); out-of-range dots are ignored.
func (c *canvas) set(x, y, style int) {
	if x < 0 || y < 0 || x >= c.dotsW() || y >= c.dotsH() {
		return
	}
	i := (y/c.sy)*c.cols + x/c.sx
	dx, dy := x%c.sx, y%c.sy
	switch c.marker {
	case Blocks:
		c.bits[i] |= 1 << (dy*2 + dx)
	case ASCII:
		c.bits[i] |= 1 << dy
	default:
		c.bits[i] |= brailleBits[dy][dx]
	}
	c.style[i] = int16(style)
}

// vline sets dots (x, y0..y1).
func (c *canvas) vline(x, y0, y1, style int) {
	if y0 > y1 {
		y0, y1 = y1, y0
	}
	y0, y1 = max(y0, -1), min(y1, c.dotsH())
	for y := y0; y <= y1; y++ {
		c.set(x, y, style)
	}
}

// line draws a straight line of dots from (x0, y0) to (x1, y1) (Bresenham).
// Endpoints far outside the canvas are clipped to keep the loop short.
func (c *canvas) line(x0, y0, x1, y1, style int) {
	lim := 4 * (c.dotsW() + c.dotsH() + 4)
	if abs(x0) > lim || abs(x1) > lim || abs(y0) > lim || abs(y1) > lim {
		return
	}
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	err := dx + dy
	for {
		c.set(x0, y0, style)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			x0 += sx
		}
		if e2 <= dx {
			err += dx
			y0 += sy
		}
	}
}

// glyphAt draws r in the cell holding dot (x, y), over any dots there.
func (c *canvas) glyphAt(x, y int, r rune, style int) {
	if x < 0 || y < 0 || x >= c.dotsW() || y >= c.dotsH() {
		return
	}
	i := (y/c.sy)*c.cols + x/c.sx
	c.glyph[i] = c.marker.glyph(r)
	c.style[i] = int16(style)
}

// rowString renders one row of cells, exactly cols cells wide, grouping
// runs of equally styled cells into one styled string.
func (c *canvas) rowString(r int) string {
	var sb strings.Builder
	var run strings.Builder
	cur := int16(-1)
	flush := func() {
		if run.Len() == 0 {
			return
		}
		if cur >= 0 {
			sb.WriteString(c.styles[cur].Render(run.String()))
		} else {
			sb.WriteString(run.String())
		}
		run.Reset()
	}
	for col := range c.cols {
		i := r*c.cols + col
		ch, st := ' ', int16(-1)
		switch {
		case c.glyph[i] != 0:
			ch, st = c.glyph[i], c.style[i]
		case c.bits[i] != 0 && c.marker == Blocks:
			ch, st = quadrantGlyphs[c.bits[i]&0x0f], c.style[i]
		case c.bits[i] != 0 && c.marker == ASCII:
			ch, st = asciiGlyphs[c.bits[i]&0x07], c.style[i]
		case c.bits[i] != 0:
			ch, st = rune(0x2800+int(c.bits[i])), c.style[i]
		}
		if st != cur {
			flush()
			cur = st
		}
		run.WriteRune(ch)
	}
	flush()
	return sb.String()
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
