package tui

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// kittyShot is one screenshot's measure of the red marker: pixel count and bounding box.
type kittyShot struct{ n, x, y, w, h int }

var kittyShotRE = regexp.MustCompile(`marker pixels: (\d+) (-?\d+) (-?\d+) (\d+) (\d+)`)

func parseKittyShots(t *testing.T, out []byte) []kittyShot {
	t.Helper()
	var shots []kittyShot
	for _, m := range kittyShotRE.FindAllSubmatch(out, -1) {
		var v [5]int
		for i := range v {
			v[i], _ = strconv.Atoi(string(m[i+1]))
		}
		shots = append(shots, kittyShot{v[0], v[1], v[2], v[3], v[4]})
	}
	return shots
}

// TestKittySampleGrid runs `mdsm watch RUN --pane samples` in a real kitty (kitty's
// graphics protocol, software OpenGL) under Xvfb, directly and inside tmux with
// passthrough on, as a user would: the workbench detects kitty itself and shows the
// newest sample grid. Each screenshot's red marker (the grid's first cell) is counted and
// located by termimg/testdata/kitty_check.sh: it must be in the picture area (below the
// tab bar, at the pane's left), stay there after switching to the Inpaint pane and back
// (inside tmux the cursor move used to reach tmux while the image went to kitty, which
// drew it at the top of the screen), and be gone after quitting (an unwrapped delete
// never reached kitty inside tmux). Set MDSM_XTERM_SHOTS to a directory to keep the
// screenshots.
func TestKittySampleGrid(t *testing.T) {
	needTool(t, "xvfb kitty x11-utils imagemagick fonts-dejavu-core", "Xvfb", "kitty", "import", "convert", "xdpyinfo", "bash")
	if testing.Short() {
		t.Skip("runs a real kitty (about 20 s per case)")
	}
	run, bin, script, shots := terminalCheck(t, "kitty_check.sh")
	for _, mode := range []string{"direct", "tmux"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "tmux" {
				needTool(t, "tmux", "tmux")
			}
			out, err := exec.Command("bash", script, "-m", mode, "-w", "40", "-t", "3000",
				"-o", filepath.Join(shots, "kitty_"+mode+".png"), "-k", "5 WAIT:1 3", "-k", "q", "--",
				bin, "watch", "--pane", "samples", run).CombinedOutput()
			t.Logf("%s", out)
			s := parseKittyShots(t, out)
			if len(s) != 3 {
				t.Fatalf("check script did not run (%v): %d measures", err, len(s))
			}
			shown, back, quit := s[0], s[1], s[2]
			if shown.n < 3000 {
				t.Fatalf("only %d marker pixels: the sample grid is not visible", shown.n)
			}
			// The picture area starts on the third row (tabs, rule, caption): well below
			// the top of the screen, at the pane's left edge.
			if shown.y < 30 || shown.x > 60 {
				t.Errorf("marker at (%d,%d): expected it at the top left of the picture area", shown.x, shown.y)
			}
			if back.n < 3000 || abs(back.x-shown.x) > 2 || abs(back.y-shown.y) > 2 {
				t.Errorf("after switching panes and back the marker is %d pixels at (%d,%d), first %d at (%d,%d)",
					back.n, back.x, back.y, shown.n, shown.x, shown.y)
			}
			if quit.n > 0 {
				t.Errorf("%d marker pixels left on screen after quitting", quit.n)
			}
		})
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
