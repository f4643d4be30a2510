// Package shot renders a terminal screen, as the workbench draws it (text with ANSI
// colour sequences, cell by cell), to an image: a screenshot for papers and chats that
// needs no terminal. Text is drawn with the Go Mono font; the glyphs charts are made of
// (braille dots, block and quadrant elements, box-drawing lines) are drawn as shapes, so
// they come out exact at any size; pictures (sample grids) are drawn at their full
// resolution over the cells they occupy on screen.
package shot

import (
	"image"
	"image/color"
	"image/draw"
	"strconv"
	"strings"
	"sync"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// Picture is an image shown over a cell rectangle of the screen (column X, row Y, W
// columns, H rows); it is scaled to fit, keeping its aspect ratio.
type Picture struct {
	Img        image.Image
	X, Y, W, H int
}

// Screen is what Render draws: the screen's text (lines of cells with SGR colour
// sequences), its size in cells, the default colours and the pictures.
type Screen struct {
	Text       string
	Cols, Rows int
	FG, BG     color.RGBA
	Pictures   []Picture
}

// faces are the regular and bold Go Mono at the cell size, made once.
var (
	facesOnce         sync.Once
	regular, bold     font.Face
	cellW, cellH, asc int
)

func loadFaces() {
	mk := func(ttf []byte) font.Face {
		f, err := opentype.Parse(ttf)
		if err != nil {
			panic("shot: the embedded Go Mono font does not parse: " + err.Error())
		}
		face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: 14, DPI: 72, Hinting: font.HintingFull})
		if err != nil {
			panic("shot: " + err.Error())
		}
		return face
	}
	regular, bold = mk(gomono.TTF), mk(gomonobold.TTF)
	adv, _ := regular.GlyphAdvance('M')
	m := regular.Metrics()
	cellW = adv.Ceil()
	asc = m.Ascent.Ceil()
	cellH = asc + m.Descent.Ceil() + 1
}

// CellSize is the size of a cell in the rendered image, in pixels.
func CellSize() (w, h int) {
	facesOnce.Do(loadFaces)
	return cellW, cellH
}

// cell is one character cell as parsed.
type cell struct {
	r             rune
	fg, bg        color.RGBA
	bold, reverse bool
	faint         bool
}

// Render draws the screen.
func Render(s Screen) *image.RGBA {
	facesOnce.Do(loadFaces)
	img := image.NewRGBA(image.Rect(0, 0, s.Cols*cellW, s.Rows*cellH))
	draw.Draw(img, img.Bounds(), image.NewUniform(s.BG), image.Point{}, draw.Src)
	for y, line := range strings.Split(s.Text, "\n") {
		if y >= s.Rows {
			break
		}
		for x, c := range parseLine(line, s.FG, s.BG) {
			if x >= s.Cols {
				break
			}
			drawCell(img, x, y, c)
		}
	}
	for _, p := range s.Pictures {
		drawPicture(img, p)
	}
	return img
}

// drawPicture scales a picture into its cell rectangle, centred, keeping its aspect.
func drawPicture(img *image.RGBA, p Picture) {
	if p.Img == nil || p.W <= 0 || p.H <= 0 {
		return
	}
	box := image.Rect(p.X*cellW, p.Y*cellH, (p.X+p.W)*cellW, (p.Y+p.H)*cellH)
	b := p.Img.Bounds()
	if b.Empty() {
		return
	}
	sw, sh := box.Dx(), box.Dy()
	if sw*b.Dy() > sh*b.Dx() {
		sw = sh * b.Dx() / b.Dy()
	} else {
		sh = sw * b.Dy() / b.Dx()
	}
	dst := image.Rect(box.Min.X, box.Min.Y, box.Min.X+sw, box.Min.Y+sh)
	xdraw.NearestNeighbor.Scale(img, dst, p.Img, b, draw.Src, nil)
}

// parseLine splits a line into cells, applying SGR sequences (other escape sequences are
// skipped).
func parseLine(line string, defFG, defBG color.RGBA) []cell {
	cur := cell{fg: defFG, bg: defBG}
	var out []cell
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if r == 0x1b && i+1 < len(rs) && rs[i+1] == '[' {
			j := i + 2
			for j < len(rs) && (rs[j] < 0x40 || rs[j] > 0x7e) {
				j++
			}
			if j < len(rs) && rs[j] == 'm' {
				cur = applySGR(cur, string(rs[i+2:j]), defFG, defBG)
			}
			i = j
			continue
		}
		if r == 0x1b { // another escape sequence: skip to its end (ST or BEL for OSC)
			j := i + 1
			for j < len(rs) && rs[j] != 0x07 && !(rs[j] == '\\' && rs[j-1] == 0x1b) {
				j++
			}
			i = j
			continue
		}
		if r < 0x20 {
			continue
		}
		c := cur
		c.r = r
		out = append(out, c)
	}
	return out
}

// applySGR applies the parameters of one SGR sequence.
func applySGR(c cell, params string, defFG, defBG color.RGBA) cell {
	ps := strings.Split(params, ";")
	num := func(i int) int {
		if i >= len(ps) {
			return 0
		}
		n, _ := strconv.Atoi(ps[i])
		return n
	}
	for i := 0; i < len(ps); i++ {
		switch n := num(i); {
		case n == 0:
			c = cell{fg: defFG, bg: defBG}
		case n == 1:
			c.bold = true
		case n == 2:
			c.faint = true
		case n == 22:
			c.bold, c.faint = false, false
		case n == 7:
			c.reverse = true
		case n == 27:
			c.reverse = false
		case n >= 30 && n <= 37:
			c.fg = xterm16[n-30]
		case n >= 90 && n <= 97:
			c.fg = xterm16[n-90+8]
		case n >= 40 && n <= 47:
			c.bg = xterm16[n-40]
		case n >= 100 && n <= 107:
			c.bg = xterm16[n-100+8]
		case n == 39:
			c.fg = defFG
		case n == 49:
			c.bg = defBG
		case n == 38 || n == 48:
			var col color.RGBA
			switch num(i + 1) {
			case 5:
				col = xterm256(num(i + 2))
				i += 2
			case 2:
				col = color.RGBA{uint8(num(i + 2)), uint8(num(i + 3)), uint8(num(i + 4)), 255}
				i += 4
			default:
				continue
			}
			if n == 38 {
				c.fg = col
			} else {
				c.bg = col
			}
		}
	}
	return c
}

// xterm16 is xterm's default 16-colour palette.
var xterm16 = [16]color.RGBA{
	{0, 0, 0, 255}, {0xcd, 0, 0, 255}, {0, 0xcd, 0, 255}, {0xcd, 0xcd, 0, 255},
	{0, 0, 0xee, 255}, {0xcd, 0, 0xcd, 255}, {0, 0xcd, 0xcd, 255}, {0xe5, 0xe5, 0xe5, 255},
	{0x7f, 0x7f, 0x7f, 255}, {0xff, 0, 0, 255}, {0, 0xff, 0, 255}, {0xff, 0xff, 0, 255},
	{0x5c, 0x5c, 0xff, 255}, {0xff, 0, 0xff, 255}, {0, 0xff, 0xff, 255}, {0xff, 0xff, 0xff, 255},
}

// XtermColor is colour i of xterm's default 256-colour palette (0-15: its 16 colours).
func XtermColor(i int) color.RGBA { return xterm256(i) }

// xterm256 is a colour of xterm's 256-colour palette.
func xterm256(i int) color.RGBA {
	switch {
	case i < 0 || i > 255:
		return color.RGBA{0, 0, 0, 255}
	case i < 16:
		return xterm16[i]
	case i < 232:
		i -= 16
		lvl := func(v int) uint8 {
			if v == 0 {
				return 0
			}
			return uint8(55 + 40*v)
		}
		return color.RGBA{lvl(i / 36), lvl(i / 6 % 6), lvl(i % 6), 255}
	}
	g := uint8(8 + 10*(i-232))
	return color.RGBA{g, g, g, 255}
}

// mix is a + t (b - a).
func mix(a, b color.RGBA, t float64) color.RGBA {
	f := func(x, y uint8) uint8 { return uint8(float64(x) + t*(float64(y)-float64(x)) + 0.5) }
	return color.RGBA{f(a.R, b.R), f(a.G, b.G), f(a.B, b.B), 255}
}

// drawCell draws one cell: its background, then its glyph.
func drawCell(img *image.RGBA, x, y int, c cell) {
	fg, bg := c.fg, c.bg
	if c.reverse {
		fg, bg = bg, fg
	}
	if c.faint {
		fg = mix(fg, bg, 0.5)
	}
	r := image.Rect(x*cellW, y*cellH, (x+1)*cellW, (y+1)*cellH)
	draw.Draw(img, r, image.NewUniform(bg), image.Point{}, draw.Src)
	if c.r == ' ' {
		return
	}
	if drawShape(img, r, c.r, fg, bg, c.bold) {
		return
	}
	face := regular
	if c.bold {
		face = bold
	}
	if _, ok := face.GlyphAdvance(c.r); !ok {
		c.r = '?'
	}
	d := font.Drawer{Dst: img, Src: image.NewUniform(fg), Face: face, Dot: fixed.P(r.Min.X, r.Min.Y+asc)}
	d.DrawString(string(c.r))
}

// fill paints a rectangle.
func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// drawShape draws the glyphs charts and frames are made of as shapes (it reports whether
// r is one of them).
func drawShape(img *image.RGBA, r image.Rectangle, ch rune, fg, bg color.RGBA, heavy bool) bool {
	w, h := r.Dx(), r.Dy()
	cx, cy := r.Min.X+w/2, r.Min.Y+h/2
	switch {
	case ch >= 0x2800 && ch <= 0x28ff: // braille: dots 1-8 in a 2x4 grid
		bits := ch - 0x2800
		pos := [8][2]int{{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}, {0, 3}, {1, 3}}
		dw, dh := max(2, w/4), max(2, h/8)
		for b, p := range pos {
			if bits&(1<<b) == 0 {
				continue
			}
			x0 := r.Min.X + (2*p[0]+1)*w/4 - dw/2
			y0 := r.Min.Y + (2*p[1]+1)*h/8 - dh/2
			fill(img, image.Rect(x0, y0, x0+dw, y0+dh), fg)
		}
		return true
	case ch >= 0x2580 && ch <= 0x259f:
		return drawBlock(img, r, ch, fg, bg)
	case ch == '▸' || ch == '▶' || ch == '►': // a right-pointing triangle
		half := h / 4
		if ch != '▸' {
			half = h / 3
		}
		for dy := -half; dy <= half; dy++ {
			x1 := r.Min.X + w/4 + (w/2)*(half-abs(dy))/max(half, 1)
			fill(img, image.Rect(r.Min.X+w/4, cy+dy, x1+1, cy+dy+1), fg)
		}
		return true
	case ch == '✓' || ch == '✗': // check and cross, drawn as two strokes
		stroke := func(x0, y0, x1, y1 int) {
			n := max(abs(x1-x0), abs(y1-y0), 1)
			for i := 0; i <= n; i++ {
				x, y := x0+(x1-x0)*i/n, y0+(y1-y0)*i/n
				fill(img, image.Rect(x, y, x+2, y+2), fg)
			}
		}
		if ch == '✓' {
			stroke(r.Min.X+1, cy, r.Min.X+w/3, cy+h/5)
			stroke(r.Min.X+w/3, cy+h/5, r.Max.X-2, cy-h/4)
		} else {
			stroke(r.Min.X+1, cy-h/5, r.Max.X-3, cy+h/5)
			stroke(r.Min.X+1, cy+h/5, r.Max.X-3, cy-h/5)
		}
		return true
	}
	// box drawing: arms from the centre (left, right, up, down) and their weight
	arms, ok := boxArms[ch]
	if !ok {
		return false
	}
	t := 1
	if arms.heavy || heavy {
		t = 2
	}
	if arms.l {
		fill(img, image.Rect(r.Min.X, cy, cx+t, cy+t), fg)
	}
	if arms.r {
		fill(img, image.Rect(cx, cy, r.Max.X, cy+t), fg)
	}
	if arms.u {
		fill(img, image.Rect(cx, r.Min.Y, cx+t, cy+t), fg)
	}
	if arms.d {
		fill(img, image.Rect(cx, cy, cx+t, r.Max.Y), fg)
	}
	return true
}

type arms struct{ l, r, u, d, heavy bool }

var boxArms = map[rune]arms{
	'─': {l: true, r: true}, '━': {l: true, r: true, heavy: true}, '│': {u: true, d: true}, '┃': {u: true, d: true, heavy: true},
	'┤': {l: true, u: true, d: true}, '├': {r: true, u: true, d: true}, '┬': {l: true, r: true, d: true}, '┴': {l: true, r: true, u: true},
	'┼': {l: true, r: true, u: true, d: true}, '┌': {r: true, d: true}, '┐': {l: true, d: true}, '└': {r: true, u: true}, '┘': {l: true, u: true},
	'╭': {r: true, d: true}, '╮': {l: true, d: true}, '╰': {r: true, u: true}, '╯': {l: true, u: true},
}

// drawBlock draws the block elements U+2580..U+259F.
func drawBlock(img *image.RGBA, r image.Rectangle, ch rune, fg, bg color.RGBA) bool {
	w, h := r.Dx(), r.Dy()
	x0, y0, xm, ym := r.Min.X, r.Min.Y, r.Min.X+w/2, r.Min.Y+h/2
	q := func(tl, tr, bl, br bool) {
		if tl {
			fill(img, image.Rect(x0, y0, xm, ym), fg)
		}
		if tr {
			fill(img, image.Rect(xm, y0, r.Max.X, ym), fg)
		}
		if bl {
			fill(img, image.Rect(x0, ym, xm, r.Max.Y), fg)
		}
		if br {
			fill(img, image.Rect(xm, ym, r.Max.X, r.Max.Y), fg)
		}
	}
	switch ch {
	case '▀':
		q(true, true, false, false)
	case '▄':
		q(false, false, true, true)
	case '█':
		q(true, true, true, true)
	case '▌':
		q(true, false, true, false)
	case '▐':
		q(false, true, false, true)
	case '░', '▒', '▓':
		fill(img, r, mix(bg, fg, map[rune]float64{'░': 0.25, '▒': 0.5, '▓': 0.75}[ch]))
	case '▖':
		q(false, false, true, false)
	case '▗':
		q(false, false, false, true)
	case '▘':
		q(true, false, false, false)
	case '▝':
		q(false, true, false, false)
	case '▙':
		q(true, false, true, true)
	case '▚':
		q(true, false, false, true)
	case '▛':
		q(true, true, true, false)
	case '▜':
		q(true, true, false, true)
	case '▞':
		q(false, true, true, false)
	case '▟':
		q(false, true, true, true)
	default: // eighth blocks: ▁..▇ from the bottom, ▉..▏ from the left
		switch {
		case ch >= 0x2581 && ch <= 0x2587:
			k := int(ch - 0x2580)
			fill(img, image.Rect(x0, r.Max.Y-h*k/8, r.Max.X, r.Max.Y), fg)
		case ch >= 0x2589 && ch <= 0x258f:
			k := 8 - int(ch-0x2588)
			fill(img, image.Rect(x0, y0, x0+w*k/8, r.Max.Y), fg)
		case ch == '▔':
			fill(img, image.Rect(x0, y0, r.Max.X, y0+h/8), fg)
		case ch == '▕':
			fill(img, image.Rect(r.Max.X-w/8, y0, r.Max.X, r.Max.Y), fg)
		default:
			return false
		}
	}
	return true
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
