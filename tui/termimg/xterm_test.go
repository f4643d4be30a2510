package termimg

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestXtermSixel draws a sixel image with a red marker in a real xterm
// (VT340 emulation) under Xvfb, screenshots it and counts marker pixels,
// via testdata/xterm_sixel_check.sh. Opt in with MDSM_XTERM_TEST=1; set
// MDSM_XTERM_SHOTS=DIR to keep the screenshots.
func TestXtermSixel(t *testing.T) {
	if os.Getenv("MDSM_XTERM_TEST") != "1" {
		t.Skip("set MDSM_XTERM_TEST=1 to run the real-terminal sixel check " +
			"(needs: apt-get install -y --no-install-recommends xvfb xterm x11-utils imagemagick fonts-dejavu-core; tmux optional)")
	}
	for _, tool := range []string{"Xvfb", "xterm", "import", "convert", "xdpyinfo", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found; install: apt-get install -y --no-install-recommends xvfb xterm x11-utils imagemagick fonts-dejavu-core", tool)
		}
	}
	if testing.Short() {
		t.Skip("real-terminal check is slow (about 10 s per case)")
	}
	dir := t.TempDir()
	shots := os.Getenv("MDSM_XTERM_SHOTS")
	if shots == "" {
		shots = dir
	}
	demo := filepath.Join(dir, "sixeldemo")
	build := exec.Command("go", "build", "-o", demo, "./internal/sixeldemo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build sixeldemo: %v\n%s", err, out)
	}
	// 64x64 marker = 4096 pixels at 1 screen pixel per image pixel.
	const threshold = 2000
	cases := []struct {
		name   string
		cmd    []string
		marker bool
		log    string // the command's stderr when the script cannot capture it
	}{
		{"detect and place sixel", []string{demo, "-proto", "auto", "-timeout", "3s", "-row", "2", "-col", "4"}, true, ""},
		{"no image control", []string{"true"}, false, ""},
	}
	if _, err := exec.LookPath("tmux"); err == nil {
		wrapper := filepath.Join(dir, "tmux.sh")
		conf := filepath.Join(dir, "tmux.conf")
		sock := fmt.Sprintf("mdsm-xterm-test-%d", os.Getpid())
		// Inside tmux the demo's stderr (its detected capabilities) goes to a
		// file, since the pane is not the script's log. The demo starts two
		// seconds after the session: a tmux client that has just attached is
		// still probing the outer terminal itself and, on a loaded machine,
		// swallowed the outer terminal's answer to the wrapped query (seen in
		// CI: only tmux's own DA1 came back). A user starts mdsm in a session
		// that is already up.
		tmuxLog := filepath.Join(dir, "tmux-demo.log")
		script := fmt.Sprintf("#!/bin/bash\nexec tmux -L %s -f %s new-session 'sleep 2; %s -proto auto -timeout 3s -row 3 -col 10 2>%s; sleep 600'\n", sock, conf, demo, tmuxLog)
		if err := os.WriteFile(conf, []byte("set -g allow-passthrough on\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = exec.Command("tmux", "-L", sock, "kill-server").Run() })
		cases = append(cases, struct {
			name   string
			cmd    []string
			marker bool
			log    string
		}{"tmux passthrough", []string{wrapper}, true, tmuxLog})
	}
	re := regexp.MustCompile(`marker pixels: (\d+)`)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			shot := filepath.Join(shots, fmt.Sprintf("xterm_sixel_%d.png", i))
			// The script polls until the marker shows: long for the cases
			// that must show it (a loaded CI machine starts xterm and tmux
			// slowly), short for the control, which waits it out in full.
			wait := "40"
			if !tc.marker {
				wait = "5"
			}
			args := append([]string{"testdata/xterm_sixel_check.sh", "-w", wait, "-t", strconv.Itoa(threshold), "-o", shot, "--"}, tc.cmd...)
			out, err := exec.Command("bash", args...).CombinedOutput()
			t.Logf("%s", out)
			if tc.log != "" {
				b, _ := os.ReadFile(tc.log)
				t.Logf("command log (inside tmux): %s", b)
			}
			var exit *exec.ExitError
			if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
				t.Fatalf("check script failed to run: %v", err)
			}
			m := re.FindSubmatch(out)
			if m == nil {
				t.Fatal("no marker count in the script output")
			}
			n, _ := strconv.Atoi(string(m[1]))
			if tc.marker && (err != nil || n <= threshold) {
				t.Errorf("marker pixels %d, want > %d (screenshot %s)", n, threshold, shot)
			}
			if !tc.marker && (err == nil || n > threshold) {
				t.Errorf("control shows %d marker pixels, want <= %d", n, threshold)
			}
		})
	}
}
