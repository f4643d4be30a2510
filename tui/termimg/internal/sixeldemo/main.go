// Command sixeldemo prints a test image for the real-terminal checks in
// ../../testdata/xterm_sixel_check.sh: a grey ramp with a pure red square
// (the marker the screenshot check counts) placed out of band with
// termimg.Place, as the TUI does.
//
//	go run ./tui/termimg/internal/sixeldemo -size 256 -marker 64 -row 2 -col 4
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"os"
	"time"

	"mdsm/tui/termimg"
)

func main() {
	size := flag.Int("size", 256, "image side in pixels")
	marker := flag.Int("marker", 64, "side of the red marker square in pixels")
	row := flag.Int("row", 2, "0-based screen row of the image's top-left cell")
	col := flag.Int("col", 4, "0-based screen column of the image's top-left cell")
	proto := flag.String("proto", "sixel", "sixel, kitty or auto (auto detects in-band)")
	tmux := flag.Bool("tmux", termimg.InTmux(), "wrap in tmux passthrough")
	timeout := flag.Duration("timeout", time.Second, "how long -proto auto waits for the terminal's replies")
	flag.Parse()
	if err := run(*size, *marker, *row, *col, *proto, *tmux, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "sixeldemo:", err)
		os.Exit(1)
	}
}

func run(size, marker, row, col int, protoName string, tmux bool, timeout time.Duration) error {
	p, err := termimg.ParseProtocol(protoName)
	if err != nil {
		return err
	}
	if p == termimg.ProtoAuto {
		caps, err := termimg.DetectTerminal(context.Background(), timeout)
		// stderr goes to the check script's log.
		fmt.Fprintf(os.Stderr, "caps: %v err: %v\n", caps, err)
		p = termimg.Resolve(p, caps)
		tmux = caps.Tmux
	}
	if size <= 0 || marker < 0 || marker > size {
		return fmt.Errorf("need 0 <= marker <= size and size > 0, got size %d marker %d", size, marker)
	}
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	off := (size - marker) / 2
	for y := range size {
		for x := range size {
			v := uint8((x + y) * 255 / (2 * size))
			c := color.RGBA{v, v, v, 255}
			if x >= off && x < off+marker && y >= off && y < off+marker {
				c = color.RGBA{255, 0, 0, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var payload []byte
	switch p {
	case termimg.ProtoSixel:
		payload, err = termimg.EncodeSixel(img)
	case termimg.ProtoKitty:
		payload, err = termimg.EncodeKitty(img, 1)
	default:
		return fmt.Errorf("protocol %v has no out-of-band image", p)
	}
	if err != nil {
		return err
	}
	fmt.Print("sixeldemo: image below\n")
	var pane *termimg.PaneOffset
	if tmux {
		if off, perr := termimg.TmuxPaneOffset(); perr == nil {
			pane = &off
		}
	}
	_, err = os.Stdout.Write(termimg.Place(p, payload, 1, row, col, tmux, pane))
	return err
}
