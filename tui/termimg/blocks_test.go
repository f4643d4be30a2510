package termimg

import (
	"image"
	"image/color"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestBlocks(t *testing.T) {
	// 2x2: top row red, green; bottom row blue, white.
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	img.Set(1, 0, color.RGBA{0, 255, 0, 255})
	img.Set(0, 1, color.RGBA{0, 0, 255, 255})
	img.Set(1, 1, color.RGBA{255, 255, 255, 255})
	tests := []struct {
		name       string
		cols, rows int
		truecolor  bool
		want       string
	}{
		{"truecolor", 2, 1, true,
			"\x1b[38;2;255;0;0m\x1b[48;2;0;0;255m▀\x1b[38;2;0;255;0m\x1b[48;2;255;255;255m▀\x1b[0m"},
		{"256", 2, 1, false, "\x1b[38;5;196m\x1b[48;5;21m▀\x1b[38;5;46m\x1b[48;5;231m▀\x1b[0m"},
		{"padded", 4, 2, true, // 2x2 fits 4x4 px scaled to 4x4: 4 cells x 2 rows
			"\x1b[38;2;255;0;0m\x1b[48;2;255;0;0m▀▀\x1b[38;2;0;255;0m\x1b[48;2;0;255;0m▀▀\x1b[0m\n" +
				"\x1b[38;2;0;0;255m\x1b[48;2;0;0;255m▀▀\x1b[38;2;255;255;255m\x1b[48;2;255;255;255m▀▀\x1b[0m"},
		{"wide box pads right", 5, 1, true,
			"\x1b[38;2;255;0;0m\x1b[48;2;0;0;255m▀\x1b[38;2;0;255;0m\x1b[48;2;255;255;255m▀\x1b[0m   "},
	}
	for _, tt := range tests {
		got := Blocks(img, tt.cols, tt.rows, tt.truecolor)
		if got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestBlocksShape(t *testing.T) {
	imgs := []image.Image{nil, image.NewGray(image.Rectangle{}), greyGrid(28, 28), greyGrid(100, 7), greyGrid(3, 50)}
	for _, img := range imgs {
		for _, sz := range [][2]int{{1, 1}, {10, 5}, {33, 17}} {
			out := Blocks(img, sz[0], sz[1], true)
			lines := strings.Split(out, "\n")
			if len(lines) != sz[1] {
				t.Fatalf("%d lines, want %d", len(lines), sz[1])
			}
			for _, l := range lines {
				if n := utf8.RuneCountInString(sgr.ReplaceAllString(l, "")); n != sz[0] {
					t.Fatalf("line width %d, want %d: %q", n, sz[0], l)
				}
			}
		}
	}
	if Blocks(greyGrid(4, 4), 0, 3, true) != "" {
		t.Error("zero columns should give an empty string")
	}
}

func TestXterm256(t *testing.T) {
	tests := []struct {
		c    color.RGBA
		want uint8
	}{
		{color.RGBA{0, 0, 0, 255}, 16},
		{color.RGBA{255, 255, 255, 255}, 231},
		{color.RGBA{255, 0, 0, 255}, 196},
		{color.RGBA{128, 128, 128, 255}, 244},
		{color.RGBA{8, 8, 8, 255}, 232},
	}
	for _, tt := range tests {
		if got := Xterm256(tt.c); got != tt.want {
			t.Errorf("Xterm256(%v) = %d, want %d", tt.c, got, tt.want)
		}
	}
}
