package tui

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"mdsm/sampling"
)

// markerGrid is a stand-in sample grid: grey digit-like cells with a pure red square
// in the top-left cell, so that the screenshot can be checked without eyes.
func markerGrid() image.Image {
	const cell, pad, n = 28, 2, 4
	side := n*cell + (n+1)*pad
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			img.Set(x, y, color.RGBA{sampling.GridPadGrey, sampling.GridPadGrey, sampling.GridPadGrey, 255})
		}
	}
	for r := range n {
		for c := range n {
			x0, y0 := pad+c*(cell+pad), pad+r*(cell+pad)
			for y := range cell {
				for x := range cell {
					v := uint8(0)
					if (x-14)*(x-14)+(y-14)*(y-14) < 80 && (x-14)*(x-14)+(y-14)*(y-14) > 30 {
						v = 255 // a ring: a "zero"
					}
					img.Set(x0+x, y0+y, color.RGBA{v, v, v, 255})
				}
			}
		}
	}
	for y := pad; y < pad+cell; y++ { // the marker fills the first cell
		for x := pad; x < pad+cell; x++ {
			img.Set(x, y, color.RGBA{255, 0, 0, 255})
		}
	}
	return img
}

// terminalCheck prepares a real-terminal test of `mdsm watch --pane samples`: a tiny run
// whose newest grid is markerGrid, the built binary, the absolute path of a check script in
// termimg/testdata and the folder for screenshots (MDSM_XTERM_SHOTS, or a temporary one).
func terminalCheck(t *testing.T, script string) (run, bin, scriptPath, shots string) {
	t.Helper()
	run = makeRun(t, 3)
	if err := sampling.WritePNG(filepath.Join(run, "samples", "step-00000003.png"), markerGrid()); err != nil {
		t.Fatal(err)
	}
	bin = buildBinary(t)
	scriptPath, err := filepath.Abs(filepath.Join("termimg", "testdata", script))
	if err != nil {
		t.Fatal(err)
	}
	if shots = os.Getenv("MDSM_XTERM_SHOTS"); shots == "" {
		shots = t.TempDir()
	}
	return run, bin, scriptPath, shots
}

// TestXtermSixelSampleGrid runs `mdsm watch RUN --pane samples` in a real xterm (VT340
// emulation, sixel) under Xvfb: the workbench detects sixel itself, draws the newest
// sample grid out of band, and keeps it while watch mode redraws text every second. The
// screenshot must show the grid's red marker (counted by the termimg helper script) in
// the picture area of the Samples pane, and grid pixels around it. Set MDSM_XTERM_SHOTS
// to a directory to keep the screenshot.
func TestXtermSixelSampleGrid(t *testing.T) {
	needTool(t, "xvfb xterm x11-utils imagemagick fonts-dejavu-core", "Xvfb", "xterm", "import", "convert", "xdpyinfo", "bash")
	if testing.Short() {
		t.Skip("runs a real xterm (about 15 s)")
	}
	run, bin, script, shots := terminalCheck(t, "xterm_sixel_check.sh")
	shot := filepath.Join(shots, "xterm_samples.png")
	out, err := exec.Command("bash", script, "-w", "8", "-t", "3000", "-o", shot, "--",
		bin, "watch", "--pane", "samples", run).CombinedOutput()
	t.Logf("%s", out)
	m := regexp.MustCompile(`marker pixels: (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("check script did not run: %v", err)
	}
	count, _ := strconv.Atoi(string(m[1]))
	if count < 3000 {
		t.Fatalf("only %d marker pixels on screen: the sample grid is not visible (screenshot %s)", count, shot)
	}
	// Where is it? The marker must sit in the picture area (left of the pane, below
	// the tab bar), with grid pixels (white rings, grey padding) around it.
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	minX, minY, maxX, maxY := 1<<30, 1<<30, -1, -1
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r > 0xcc00 && g < 0x4000 && b < 0x4000 {
				minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
			}
		}
	}
	t.Logf("marker box x %d..%d y %d..%d", minX, maxX, minY, maxY)
	if minY < 20 || minX > 60 {
		t.Errorf("marker at (%d,%d): expected it at the top-left of the picture area", minX, minY)
	}
	side := maxX - minX + 1
	grey := 0
	for y := minY; y < min(img.Bounds().Max.Y, minY+4*side); y++ {
		for x := minX; x < min(img.Bounds().Max.X, minX+4*side); x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r == g && g == b && r>>8 > 100 && r>>8 < 160 {
				grey++
			}
		}
	}
	if grey < side {
		t.Errorf("no grid padding next to the marker (%d grey pixels)", grey)
	}
}

// TestXtermSampleHistorySideBySide: in a real xterm (sixel, through tmux with
// passthrough), the Samples pane shows the newest grid, and c then ← puts two grids of
// the sample history side by side: two red markers, one beside the other. Set
// MDSM_XTERM_SHOTS to keep the screenshots.
func TestXtermSampleHistorySideBySide(t *testing.T) {
	needTool(t, "xvfb xterm tmux x11-utils imagemagick fonts-dejavu-core", "Xvfb", "xterm", "tmux", "import", "convert", "xdpyinfo", "xwininfo", "bash")
	if testing.Short() {
		t.Skip("runs a real xterm (about 15 s)")
	}
	run, bin, script, shots := terminalCheck(t, "xterm_keys.sh")
	if err := sampling.WritePNG(filepath.Join(run, "samples", "step-00000002.png"), markerGrid()); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(shots, "xterm_side_by_side.png")
	out, err := exec.Command("bash", script, "-w", "5", "-o", shot, "-k", "c Left", "--", bin, "watch", "--pane", "samples", run).CombinedOutput()
	t.Logf("%s", out)
	boxes := regexp.MustCompile(`marker pixels: (\d+) box: (-?\d+) (-?\d+) (\d+) (\d+)`).FindAllSubmatch(out, -1)
	if err != nil || len(boxes) != 2 {
		t.Fatalf("check script did not run: %v", err)
	}
	box := func(i int) (n, w, h int) {
		n, _ = strconv.Atoi(string(boxes[i][1]))
		w, _ = strconv.Atoi(string(boxes[i][4]))
		h, _ = strconv.Atoi(string(boxes[i][5]))
		return
	}
	n1, w1, h1 := box(0)
	if n1 < 1000 || w1 > 2*h1 {
		t.Errorf("the newest grid: %d marker pixels in a %dx%d box, want one square marker", n1, w1, h1)
	}
	n2, w2, h2 := box(1)
	if n2 < 500 || w2 < 3*h2 {
		t.Errorf("side by side: %d marker pixels in a %dx%d box, want two markers side by side", n2, w2, h2)
	}
}
