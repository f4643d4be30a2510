package termimg

// CellSize is the size of one character cell in pixels.
type CellSize struct {
	W, H int
}

// valid returns c, or DefaultCellSize when c has a non-positive side.
func (c CellSize) valid() CellSize {
	if c.W <= 0 || c.H <= 0 {
		return DefaultCellSize
	}
	return c
}

// sixelBand is the height of one sixel band: terminals draw sixel images in
// whole bands of 6 pixels.
const sixelBand = 6

// CellsFor returns how many cells (columns, rows) an image of wPx x hPx
// pixels covers when its top-left corner is at a cell corner. The height is
// first rounded up to a whole sixel band, since that is what the terminal
// paints.
func (c CellSize) CellsFor(wPx, hPx int) (cols, rows int) {
	c = c.valid()
	if wPx <= 0 || hPx <= 0 {
		return 0, 0
	}
	hPx = (hPx + sixelBand - 1) / sixelBand * sixelBand
	return (wPx + c.W - 1) / c.W, (hPx + c.H - 1) / c.H
}

// PixelBox returns the largest pixel box that fits in cols x rows cells,
// with its height a whole number of sixel bands so that the image never
// spills into the row below. Zero or negative cells give 0, 0.
func (c CellSize) PixelBox(cols, rows int) (wPx, hPx int) {
	c = c.valid()
	if cols <= 0 || rows <= 0 {
		return 0, 0
	}
	return cols * c.W, rows * c.H / sixelBand * sixelBand
}

// ClampRows returns how many of the wanted rows an image whose top is at
// the 0-based screen row may use without reaching the last screen row: an
// image whose bottom touches the last row makes the terminal scroll the
// whole screen, so one row of margin is always kept. The result is never
// negative.
func ClampRows(row, rows, screenRows int) int {
	limit := screenRows - 1 - row
	if rows > limit {
		rows = limit
	}
	if rows < 0 {
		return 0
	}
	return rows
}
