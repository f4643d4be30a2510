package tui

import "mdsm/tui/termimg"

// guessCell is the cell size pictures are sized for when nothing tells the real one: no
// answer to CSI 16 t / 14 t (xterm ignores them while allowSendEvents is on, or without
// allowWindowOps) and no pixel size in the tty's window size. It is smaller than almost
// any real font (xterm's default "fixed" is 6x13), so that a picture comes out smaller
// than its box instead of spilling over the panel beside it and down to the last row,
// which scrolls the whole screen and leaves the renderer's idea of it wrong.
// termimg.DefaultCellSize (10x20) is larger than most fonts (DejaVu Sans Mono 10 in
// xterm is 8x17) and must not be used to size pictures.
var guessCell = termimg.CellSize{W: 6, H: 12}

// Where the cell size pictures are sized with came from.
const (
	cellFromTerminal = "terminal"    // CSI 16 t / 14 t answer (min with the tty's, if any)
	cellFromTTY      = "window size" // the tty's window size in pixels / cells
	cellGuessed      = "guess"       // guessCell
)

// plausibleCell rejects zero and absurd cell sizes (a tty reporting its pixel size in
// some other unit, say).
func plausibleCell(c termimg.CellSize) bool {
	return c.W >= 2 && c.H >= 4 && c.W <= 512 && c.H <= 1024
}

// pictureCell decides the cell size that picture pixel boxes are computed with, from the
// terminal's answer to the cell-size query (reported, when known) and the tty's window
// size in pixels divided by its cells (tty, when ttyOK). With both it takes the smaller
// of each side: after a font change the answer given at start-up is stale while the tty
// is current, and a cell assumed too small only makes a picture smaller than its box,
// while one assumed too large makes it overflow. Inside tmux the tty's pixel size alone
// is not trusted: tmux makes one up (16x32 per cell) when its client does not know it.
func pictureCell(reported termimg.CellSize, known bool, tty termimg.CellSize, ttyOK, inTmux bool) (termimg.CellSize, string) {
	known = known && plausibleCell(reported)
	ttyOK = ttyOK && plausibleCell(tty)
	switch {
	case known && ttyOK:
		return termimg.CellSize{W: min(reported.W, tty.W), H: min(reported.H, tty.H)}, cellFromTerminal
	case known:
		return reported, cellFromTerminal
	case ttyOK && !inTmux:
		return tty, cellFromTTY
	}
	return guessCell, cellGuessed
}

// refreshCell recomputes the cell size pictures are sized with (at start and after every
// resize: a font change resizes too) and hands it to the image state.
func (a *App) refreshCell() {
	var tty termimg.CellSize
	ok := false
	if f := a.s.opts.TTYCell; f != nil {
		tty, ok = f()
	}
	cell, src := pictureCell(a.s.caps.Cell, a.s.caps.CellKnown, tty, ok, a.s.caps.Tmux)
	if src == cellGuessed && a.s.cellSource != cellGuessed && a.s.proto.IsGraphics() {
		a.logf("warn", "the terminal did not tell its cell size in pixels: pictures are sized for %dx%d-pixel cells and may look small", cell.W, cell.H)
	}
	a.s.cell, a.s.cellSource = cell, src
	a.img.cell = cell
}
