package shot

import (
	"image"
	"image/color"
	"testing"
)

// TestRender draws cells of every kind the workbench shows and checks their pixels:
// coloured text, braille dots, a half block, reverse video, a box-drawing line and a
// picture scaled over its cells.
func TestRender(t *testing.T) {
	fg, bg := color.RGBA{0, 0, 0, 255}, color.RGBA{255, 255, 255, 255}
	pic := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for i := range pic.Pix {
		pic.Pix[i] = []uint8{0, 0, 255, 255}[i%4] // blue
	}
	line0 := "\x1b[38;2;255;0;0mA\x1b[0m⣿▀\x1b[7mx\x1b[27m─"
	img := Render(Screen{Text: line0 + "\n\n", Cols: 8, Rows: 3, FG: fg, BG: bg,
		Pictures: []Picture{{Img: pic, X: 6, Y: 0, W: 2, H: 2}}})
	cw, ch := CellSize()
	if b := img.Bounds(); b.Dx() != 8*cw || b.Dy() != 3*ch {
		t.Fatalf("image %v, want %dx%d", b, 8*cw, 3*ch)
	}
	count := func(cx, cy int, want color.RGBA, r image.Rectangle) int {
		n := 0
		for y := cy*ch + r.Min.Y; y < cy*ch+r.Max.Y; y++ {
			for x := cx*cw + r.Min.X; x < cx*cw+r.Max.X; x++ {
				if img.RGBAAt(x, y) == want {
					n++
				}
			}
		}
		return n
	}
	whole := image.Rect(0, 0, cw, ch)
	reddish := 0 // antialiased: red blended into white
	for y := 0; y < ch; y++ {
		for x := 0; x < cw; x++ {
			if c := img.RGBAAt(x, y); c.R > 200 && int(c.R)-int(c.G) > 80 {
				reddish++
			}
		}
	}
	if reddish < 10 {
		t.Errorf("the red A has %d red pixels", reddish)
	}
	if n := count(1, 0, fg, whole); n < 16 || count(1, 0, bg, whole) < 16 {
		t.Errorf("the braille cell: %d dot pixels; dots and gaps expected", n)
	}
	top, bottom := image.Rect(0, 0, cw, ch/2), image.Rect(0, ch/2+1, cw, ch)
	if count(2, 0, fg, top) != cw*(ch/2) || count(2, 0, fg, bottom) != 0 {
		t.Errorf("the upper half block is not its upper half")
	}
	if count(3, 0, fg, whole) < cw*ch/2 {
		t.Errorf("reverse video: the cell's background should be the foreground colour")
	}
	if n := count(4, 0, fg, whole); n < cw-1 || n > 2*cw {
		t.Errorf("the line ─ has %d pixels, want about one row", n)
	}
	blue := color.RGBA{0, 0, 255, 255}
	side := min(2*cw, 2*ch) // a square picture in a box of 2x2 cells
	if n := count(6, 0, blue, image.Rect(0, 0, 2*cw, 2*ch)); n != side*side {
		t.Errorf("the picture covers %d pixels of its cells, want %d", n, side*side)
	}
}
