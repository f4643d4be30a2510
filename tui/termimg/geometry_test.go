package termimg

import "testing"

func TestCellsFor(t *testing.T) {
	tests := []struct {
		cell       CellSize
		w, h       int
		cols, rows int
	}{
		{CellSize{10, 20}, 100, 120, 10, 6},
		{CellSize{10, 20}, 101, 121, 11, 7}, // 121 -> 126 px of sixel bands
		{CellSize{10, 20}, 10, 1, 1, 1},
		{CellSize{8, 17}, 526, 526, 66, 32},
		{CellSize{}, 100, 120, 10, 6}, // unknown size -> default 10x20
		{CellSize{10, 20}, 0, 10, 0, 0},
	}
	for _, tt := range tests {
		cols, rows := tt.cell.CellsFor(tt.w, tt.h)
		if cols != tt.cols || rows != tt.rows {
			t.Errorf("%+v.CellsFor(%d,%d) = %d,%d want %d,%d", tt.cell, tt.w, tt.h, cols, rows, tt.cols, tt.rows)
		}
	}
}

func TestPixelBoxRoundTrip(t *testing.T) {
	for _, cell := range []CellSize{{10, 20}, {8, 17}, {9, 19}, {7, 15}} {
		for rows := 1; rows < 40; rows++ {
			w, h := cell.PixelBox(12, rows)
			if h%6 != 0 {
				t.Fatalf("%+v rows %d: height %d not whole sixel bands", cell, rows, h)
			}
			c, r := cell.CellsFor(w, h)
			if c != 12 || r > rows {
				t.Fatalf("%+v rows %d: box %dx%d covers %d,%d cells", cell, rows, w, h, c, r)
			}
		}
	}
	if w, h := (CellSize{10, 20}).PixelBox(0, 5); w != 0 || h != 0 {
		t.Errorf("empty box = %d,%d", w, h)
	}
}

func TestClampRows(t *testing.T) {
	tests := []struct{ row, rows, screen, want int }{
		{0, 10, 40, 10},
		{30, 10, 40, 9}, // rows 30..38, row 39 (the last) stays free
		{39, 5, 40, 0},
		{45, 5, 40, 0},
	}
	for _, tt := range tests {
		if got := ClampRows(tt.row, tt.rows, tt.screen); got != tt.want {
			t.Errorf("ClampRows(%d,%d,%d) = %d, want %d", tt.row, tt.rows, tt.screen, got, tt.want)
		}
	}
}
