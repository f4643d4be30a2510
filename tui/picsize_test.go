package tui

import (
	"image"
	"regexp"
	"strconv"
	"testing"
	"time"

	"mdsm/sampling"
	"mdsm/tui/termimg"
)

// Picture sizing: a sixel image is drawn in pixels, so the cell size decides whether it
// stays inside the cells reserved for it. An image wider than its box covers the panel
// beside it; one taller than its box reaches the last screen row, the terminal scrolls
// the whole screen and the renderer's picture of it is wrong from then on (values left
// blank after switching panes).

// sixelPlacement parses a placing sequence: ESC 7, CSI row;col H, then the sixel's
// raster attributes "1;1;W;H. row and col are 0-based.
var placementRE = regexp.MustCompile(`^\x1b7\x1b\[(\d+);(\d+)H\x1bP[0-9;]*q"1;1;(\d+);(\d+)`)

func sixelPlacement(t *testing.T, seq string) (row, col, wPx, hPx int) {
	t.Helper()
	m := placementRE.FindStringSubmatch(seq)
	if m == nil {
		t.Fatalf("not a sixel placement: %q", seq[:min(len(seq), 40)])
	}
	v := make([]int, 4)
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	return v[0] - 1, v[1] - 1, v[2], v[3]
}

// checkInside fails unless an image of wPx x hPx pixels at (row, col), drawn on a
// terminal whose cells are real, stays inside the screen rectangle r and off the last
// of screenRows rows. Sixel images are painted in whole bands of 6 pixel rows.
func checkInside(t *testing.T, what string, row, col, wPx, hPx int, r rect, real termimg.CellSize, screenRows int) {
	t.Helper()
	if row != r.y || col != r.x {
		t.Errorf("%s: placed at row %d col %d, its box is at row %d col %d", what, row, col, r.y, r.x)
	}
	painted := (hPx + 5) / 6 * 6
	cols := (wPx + real.W - 1) / real.W
	rows := (painted + real.H - 1) / real.H
	if cols > r.w || rows > r.h {
		t.Errorf("%s: %dx%d px covers %dx%d cells of %dx%d px, its box is %dx%d cells", what, wPx, hPx, cols, rows, real.W, real.H, r.w, r.h)
	}
	if row+rows > screenRows-1 {
		t.Errorf("%s: rows %d..%d reach the last screen row %d: the screen scrolls", what, row, row+rows-1, screenRows-1)
	}
}

// The pictures the panes show: the periodic sample grid (8x8 of 14x14 digits), the live
// chain (4x4 of 14x14, the Samples pane's n) and an inpainting/denoising triptych.
func testPictures(t *testing.T) (grid, chain, trip picture) {
	t.Helper()
	mk := func(n, size, cols int) image.Image {
		img, err := sampling.Grid(make([]float32, n*size*size), n, 1, size, size, cols, 2)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	tri, err := sampling.Grid(make([]float32, 3*inpaintRows*3*14*14), 3*inpaintRows, 3, 14, 14, 3, 2) // input | result | truth
	if err != nil {
		t.Fatal(err)
	}
	return newPicture(mk(64, 14, 8)), newPicture(mk(16, 14, 0)), newPicture(tri)
}

// placeAll shows each picture in its pane at a window size and returns, per picture, the
// placing sequence and the screen rectangle reserved for it.
func placeAll(t *testing.T, opts Options, w, hgt int) (seqs []string, boxes []rect, names []string) {
	t.Helper()
	grid, chain, trip := testPictures(t)
	opts.Protocol = termimg.ProtoSixel
	opts.StartPane = "samples"
	h := newHarness(t, opts)
	h.send(tea_WindowSize(w, hgt))
	screen := func(r rect) rect { r.y += headerRows; return r }
	wait := func(what string) string {
		n := len(h.raw)
		h.pump(what, 10*time.Second, func() bool { return len(h.raw) > n })
		return h.raw[len(h.raw)-1]
	}
	bw, bh := h.a.bodySize()
	h.a.samples.grid, h.a.samples.show = grid, viewGrid
	h.send(syncMsg{})
	seqs = append(seqs, wait("the periodic grid"))
	r, _ := h.a.samples.layout(h.a.s, bw, bh)
	boxes, names = append(boxes, screen(r)), append(names, "periodic grid")

	h.a.samples.chain, h.a.samples.show = chain, viewChain
	h.send(syncMsg{})
	seqs = append(seqs, wait("the live chain"))
	r, _ = h.a.samples.layout(h.a.s, bw, bh)
	boxes, names = append(boxes, screen(r)), append(names, "live chain")

	h.a.active = paneInpaint
	h.a.inpaint.pic = trip
	h.send(syncMsg{})
	seqs = append(seqs, wait("the inpaint result"))
	boxes, names = append(boxes, screen(h.a.inpaint.layout(h.a.s, bw, bh))), append(names, "inpaint result")
	return seqs, boxes, names
}

// TestPicturesFitTheirBoxWhenCellSizeUnknown is the xterm-under-Xvfb bug: with
// allowSendEvents on (xdotool needs it), xterm answers neither the cell-size query nor
// the background-colour query, so the terminal's caps say "sixel, cell size unknown"
// (termimg.DefaultCellSize, 10x20). Pictures were scaled for 10x20 cells in a terminal
// whose cells are 8x17 (DejaVu Sans Mono 10): the live chain covered the tab bar, the
// panel beside it and the last row, and the screen scrolled. With no size known they
// must fit whatever the real cells are (down to xterm's 6x13 default font).
func TestPicturesFitTheirBoxWhenCellSizeUnknown(t *testing.T) {
	caps := termimg.Caps{Sixel: true, Cell: termimg.DefaultCellSize, DA1: []int{63, 1, 2, 4, 6, 9, 15, 16, 22, 28}, DA1Replies: 1}
	for _, win := range [][2]int{{150, 50}, {100, 35}, {80, 24}} {
		seqs, boxes, names := placeAll(t, Options{Caps: caps}, win[0], win[1])
		for i, seq := range seqs {
			row, col, wPx, hPx := sixelPlacement(t, seq)
			for _, real := range []termimg.CellSize{{W: 6, H: 13}, {W: 7, H: 14}, {W: 8, H: 16}, {W: 8, H: 17}, {W: 9, H: 18}, {W: 10, H: 20}} {
				checkInside(t, names[i]+" in "+strconv.Itoa(win[0])+"x"+strconv.Itoa(win[1])+" real cell "+strconv.Itoa(real.W)+"x"+strconv.Itoa(real.H),
					row, col, wPx, hPx, boxes[i], real, win[1])
			}
		}
	}
}

// TestPicturesUseTheRealCellSize: the cell size comes from the terminal's answer to
// CSI 16 t, or from the tty's window size in pixels (xterm fills it in even when it does
// not answer), the smaller of the two when both are known; pictures then fill their box
// (the longer side within one cell of it) without leaving it.
func TestPicturesUseTheRealCellSize(t *testing.T) {
	real := termimg.CellSize{W: 8, H: 17}
	tty := func(c termimg.CellSize) func() (termimg.CellSize, bool) {
		return func() (termimg.CellSize, bool) { return c, true }
	}
	cases := []struct {
		name string
		opts Options
	}{
		{"tty pixel size only", Options{Caps: termimg.Caps{Sixel: true, Cell: termimg.DefaultCellSize}, TTYCell: tty(real)}},
		{"CSI 16 t answer", Options{Caps: termimg.Caps{Sixel: true, Cell: real, CellKnown: true}}},
		{"stale answer, font made smaller", Options{Caps: termimg.Caps{Sixel: true, Cell: termimg.CellSize{W: 10, H: 20}, CellKnown: true}, TTYCell: tty(real)}},
	}
	for _, c := range cases {
		for _, win := range [][2]int{{150, 50}, {100, 35}} {
			seqs, boxes, names := placeAll(t, c.opts, win[0], win[1])
			for i, seq := range seqs {
				what := c.name + ": " + names[i] + " in " + strconv.Itoa(win[0]) + "x" + strconv.Itoa(win[1])
				row, col, wPx, hPx := sixelPlacement(t, seq)
				checkInside(t, what, row, col, wPx, hPx, boxes[i], real, win[1])
				b := boxes[i]
				if wPx < (b.w-1)*real.W && hPx < (b.h-1)*real.H-6 {
					t.Errorf("%s: %dx%d px leaves its %dx%d-cell box (%dx%d px) mostly empty", what, wPx, hPx, b.w, b.h, b.w*real.W, b.h*real.H)
				}
			}
		}
	}
}

// TestPixelBoxInsideEveryLayout checks the sizing arithmetic over many window and cell
// sizes: each pane's picture rectangle, its pixel box and the scaled picture stay inside
// the rectangle and off the last screen row.
func TestPixelBoxInsideEveryLayout(t *testing.T) {
	grid, chain, trip := testPictures(t)
	for _, cell := range []termimg.CellSize{{W: 6, H: 13}, {W: 7, H: 15}, {W: 8, H: 17}, {W: 9, H: 19}, {W: 10, H: 20}, {W: 16, H: 33}} {
		a, err := New(Options{Config: tinyConfig(), Protocol: termimg.ProtoSixel, Caps: termimg.Caps{Sixel: true, Cell: cell, CellKnown: true}})
		if err != nil {
			t.Fatal(err)
		}
		for w := 20; w <= 240; w += 7 {
			for hgt := 8; hgt <= 80; hgt += 3 {
				a.w, a.h = w, hgt
				bw, bh := a.bodySize()
				sr, _ := a.samples.layout(a.s, bw, bh)
				ir := a.inpaint.layout(a.s, bw, bh)
				for _, x := range []struct {
					r   rect
					pic picture
				}{{sr, grid}, {sr, chain}, {ir, trip}} {
					r := x.r
					r.y += headerRows
					if r.x+r.w > w {
						t.Fatalf("cell %v window %dx%d: picture columns %d..%d beyond the window", cell, w, hgt, r.x, r.x+r.w-1)
					}
					wPx, hPx := pixelBox(r, cell, hgt)
					if wPx <= 0 || hPx <= 0 {
						continue
					}
					b := x.pic.img.Bounds()
					fw, fh := termimg.FitSize(b.Dx(), b.Dy(), wPx, hPx)
					if fw > wPx || fh > hPx {
						t.Fatalf("FitSize %dx%d outside %dx%d", fw, fh, wPx, hPx)
					}
					checkInside(t, "layout", r.y, r.x, fw, fh, r, cell, hgt)
					if t.Failed() {
						t.Fatalf("cell %v window %dx%d rect %+v", cell, w, hgt, r)
					}
				}
			}
		}
	}
}

func TestPictureCell(t *testing.T) {
	c := func(w, h int) termimg.CellSize { return termimg.CellSize{W: w, H: h} }
	cases := []struct {
		name     string
		reported termimg.CellSize
		known    bool
		tty      termimg.CellSize
		ttyOK    bool
		tmux     bool
		want     termimg.CellSize
		src      string
	}{
		{"answer", c(8, 17), true, c(0, 0), false, false, c(8, 17), cellFromTerminal},
		{"answer and tty agree", c(8, 17), true, c(8, 17), true, false, c(8, 17), cellFromTerminal},
		{"smaller of both", c(10, 20), true, c(8, 17), true, false, c(8, 17), cellFromTerminal},
		{"tty only", termimg.DefaultCellSize, false, c(8, 17), true, false, c(8, 17), cellFromTTY},
		{"tmux makes up 16x32", termimg.DefaultCellSize, false, c(16, 32), true, true, guessCell, cellGuessed},
		{"tmux with an answer", c(8, 17), true, c(16, 32), true, true, c(8, 17), cellFromTerminal},
		{"nothing", termimg.DefaultCellSize, false, c(0, 0), false, false, guessCell, cellGuessed},
		{"absurd tty", termimg.DefaultCellSize, false, c(0, 1), true, false, guessCell, cellGuessed},
	}
	for _, x := range cases {
		got, src := pictureCell(x.reported, x.known, x.tty, x.ttyOK, x.tmux)
		if got != x.want || src != x.src {
			t.Errorf("%s: %v %q, want %v %q", x.name, got, src, x.want, x.src)
		}
	}
	if guessCell.W > 6 || guessCell.H > 13 {
		t.Errorf("guessCell %v is larger than xterm's default 6x13 font", guessCell)
	}
}
