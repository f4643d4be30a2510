package tui

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"mdsm/core"
)

// needTool skips the test when a tool is missing, or fails it when
// MDSM_REQUIRE_TERMINAL_TESTS=1 says the terminal tests must run.
func needTool(t *testing.T, install string, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s not found; install it with: apt-get install -y %s", tool, install)
			if os.Getenv("MDSM_REQUIRE_TERMINAL_TESTS") == "1" {
				t.Fatal(msg + " (MDSM_REQUIRE_TERMINAL_TESTS=1 requires the terminal tests)")
			}
			t.Skip(msg)
		}
	}
}

// buildBinary builds cmd/mdsm into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mdsm")
	out, err := exec.Command("go", "build", "-o", bin, "mdsm/cmd/mdsm").CombinedOutput()
	if err != nil {
		t.Fatalf("build mdsm: %v\n%s", err, out)
	}
	return bin
}

// tmuxSession is the real binary running in a detached tmux session on its own server.
type tmuxSession struct {
	t    *testing.T
	sock string
}

func startTmux(t *testing.T, dir string, command string) *tmuxSession {
	t.Helper()
	s := &tmuxSession{t: t, sock: fmt.Sprintf("mdsm-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())}
	cmd := exec.Command("tmux", "-L", s.sock, "-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "48", "-s", "e2e", "-c", dir, command)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", s.sock, "kill-server").Run() })
	return s
}

func (s *tmuxSession) capture() string {
	out, err := exec.Command("tmux", "-L", s.sock, "capture-pane", "-p", "-t", "e2e").Output()
	if err != nil {
		s.t.Fatalf("capture-pane: %v", err)
	}
	return string(out)
}

func (s *tmuxSession) send(keys ...string) {
	args := append([]string{"-L", s.sock, "send-keys", "-t", "e2e"}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		s.t.Fatalf("send-keys %v: %v\n%s", keys, err, out)
	}
}

// waitFor polls the screen until cond holds.
func (s *tmuxSession) waitFor(what string, timeout time.Duration, cond func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var screen string
	for time.Now().Before(deadline) {
		screen = s.capture()
		if cond(screen) {
			return screen
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("timed out after %s waiting for %s; screen:\n%s", timeout, what, screen)
	return ""
}

var stepRe = regexp.MustCompile(`step (\d+)/(\d+)`)

// helpPos is the help overlay's position line.
var helpPos = regexp.MustCompile(`lines \d+–\d+ of \d+`)

func screenStep(screen string) int {
	lines := strings.Split(screen, "\n")
	for i := len(lines) - 1; i >= 0; i-- { // the status bar, near the bottom
		if m := stepRe.FindStringSubmatch(lines[i]); m != nil && strings.Contains(lines[i], "img/s") {
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	return -1
}

// lossChart is the chart block of the Train pane.
func lossChart(screen string) string {
	i := strings.Index(screen, "━ normalised loss")
	j := strings.Index(screen, "Events")
	if i < 0 || j < i {
		return ""
	}
	return screen[i:j]
}

// TestTmuxEndToEnd runs the real binary in tmux: training starts, the step counter and
// the loss chart move, pause stops them, space resumes, ? lists the keys, and quitting
// asks and stops with a checkpoint.
func TestTmuxEndToEnd(t *testing.T) {
	needTool(t, "tmux", "tmux")
	if testing.Short() {
		t.Skip("builds and runs the binary in tmux (about 15 s)")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	cmd := fmt.Sprintf("%s --filters 4 --stages 1 --batch 8 --steps 100000 --log-every 1 --sample-every 0 --run-dir %s; echo MDSM-EXITED $?; sleep 60", bin, run)
	s := startTmux(t, dir, cmd)

	s.waitFor("the workbench", 15*time.Second, func(sc string) bool { return strings.Contains(sc, "press s to start training") })
	s.send("s")
	sc := s.waitFor("training to run", 30*time.Second, func(sc string) bool {
		return strings.Contains(sc, "● running") && screenStep(sc) >= 3 && lossChart(sc) != ""
	})
	step1, chart1 := screenStep(sc), lossChart(sc)
	sc = s.waitFor("the step counter and chart to move", 20*time.Second, func(sc string) bool {
		return screenStep(sc) > step1+3 && lossChart(sc) != chart1
	})

	s.send("p")
	sc = s.waitFor("pause", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "● paused") })
	time.Sleep(300 * time.Millisecond)
	sc = s.capture()
	paused, pausedChart := screenStep(sc), lossChart(sc)
	time.Sleep(1500 * time.Millisecond)
	sc = s.capture()
	if got := screenStep(sc); got != paused {
		t.Errorf("step moved while paused: %d -> %d", paused, got)
	}
	if lossChart(sc) != pausedChart {
		t.Errorf("loss chart moved while paused")
	}

	s.send("Space")
	s.waitFor("resume", 20*time.Second, func(sc string) bool {
		return strings.Contains(sc, "● running") && screenStep(sc) > paused+2
	})

	s.send("?", "Home")
	sc = s.waitFor("help", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "Keys") && strings.Contains(sc, "Everywhere") })
	page := sc
	for i := 0; strings.Contains(page, "more lines below") && i < 20; i++ { // page through it
		last := helpPos.FindString(page) // "lines 1–44": the status bar changes on its own
		s.send("PageDown")
		page = s.waitFor("the next page of help", 10*time.Second, func(now string) bool { return helpPos.FindString(now) != last })
		sc += page
	}
	for _, want := range []string{"start / resume training", "pause / resume", "stop (checkpoint first)", "checkpoint now",
		"log-scale loss axis", "sample now (live chain)", "save the picture shown as PNG", "select next point", "add a point",
		"edit field / commit", "next mask / denoise mode", "help: every key"} {
		if !strings.Contains(sc, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	s.send("Escape")
	s.waitFor("help closed", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "━ normalised loss") })

	s.send("q")
	s.waitFor("quit dialog", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "Training is running") })
	s.send("s")
	sc = s.waitFor("exit", 30*time.Second, func(sc string) bool { return strings.Contains(sc, "MDSM-EXITED") })
	if !strings.Contains(sc, "MDSM-EXITED 0") {
		t.Errorf("exit status:\n%s", sc)
	}
	if _, _, err := core.LoadLatestCheckpoint(run); err != nil {
		t.Errorf("no checkpoint after stop-and-quit: %v", err)
	}
}

// TestTmuxRunsOverlayAndControl runs the real binary: `mdsm train` trains a run headless
// while `mdsm watch` shows it in tmux. The Runs pane lists it beside a finished run, which
// is marked and laid over the Train pane's chart; then the watcher steers the headless
// trainer through its control channel: pause (its metrics stop), a kept checkpoint, a new
// total, resume, and stop (the process exits 0 with a checkpoint).
func TestTmuxRunsOverlayAndControl(t *testing.T) {
	needTool(t, "tmux", "tmux")
	if testing.Short() {
		t.Skip("builds and runs the binary in tmux (about 20 s)")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	tiny := []string{"--filters", "4", "--stages", "1", "--batch", "8", "--log-every", "1", "--sample-every", "0"}
	if out, err := exec.Command(bin, append([]string{"train", "--run-dir", filepath.Join(dir, "runs", "other"), "--steps", "20"}, tiny...)...).CombinedOutput(); err != nil {
		t.Fatalf("train the finished run: %v\n%s", err, out)
	}
	run := filepath.Join(dir, "runs", "live")
	train := exec.Command(bin, append([]string{"train", "--run-dir", run, "--steps", "100000", "--checkpoint-every", "100000"}, tiny...)...)
	train.Dir = dir
	var trainOut strings.Builder
	train.Stdout, train.Stderr = &trainOut, &trainOut
	if err := train.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- train.Wait() }()
	t.Cleanup(func() {
		train.Process.Kill()
		<-exited
	})
	for i := 0; ; i++ { // the trainer's control channel is open
		if _, err := core.ReadControlStatus(run); err == nil {
			break
		}
		if i > 300 {
			t.Fatalf("no control status after 30 s:\n%s", trainOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	s := startTmux(t, dir, fmt.Sprintf("%s watch --pane runs %s; echo MDSM-EXITED $?; sleep 60", bin, run))
	s.waitFor("both runs listed", 15*time.Second, func(sc string) bool {
		return strings.Contains(sc, "other") && strings.Contains(sc, "20/20") && strings.Contains(sc, "training")
	})
	// mark the finished run (listed second: the live one changed last)
	s.send("j", "Space")
	s.waitFor("the marked run's chart", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "Marked runs") })
	s.send("2")
	s.waitFor("the overlay in the Train pane", 10*time.Second, func(sc string) bool {
		return strings.Contains(sc, "━ live") && strings.Contains(sc, "━ other")
	})

	s.send("p")
	s.waitFor("paused", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "watch: paused") })
	size := func() int64 {
		fi, err := os.Stat(filepath.Join(run, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	time.Sleep(time.Second)
	if after := size(); after != before {
		t.Errorf("metrics.jsonl grew from %d to %d bytes while paused", before, after)
	}
	s.send("c")
	s.waitFor("the kept checkpoint", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "(kept)") })
	sc := s.capture()
	step := screenStep(sc)
	s.send("T")
	for range 12 {
		s.send("BSpace")
	}
	total := 200000 // extended
	s.send(strconv.Itoa(total), "Enter")
	s.waitFor("the new total", 10*time.Second, func(sc string) bool {
		return strings.Contains(sc, fmt.Sprintf("total steps set to %d", total)) && strings.Contains(sc, fmt.Sprintf("/%d", total))
	})
	s.send("p")
	s.waitFor("running again", 20*time.Second, func(sc string) bool {
		return screenStep(sc) > step
	})
	s.send("x")
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("the headless trainer ended with %v:\n%s", err, trainOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the headless trainer did not stop:\n%s", trainOut.String())
	}
	s.waitFor("the stop in the watcher", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "watch: stopped") })
	if ck, _, err := core.LoadLatestCheckpoint(run); err != nil || ck.State.Step <= step {
		t.Errorf("the stop's checkpoint: %v (step %v)", err, ck)
	}
	for _, want := range []string{"control from mdsm watch", "pause", "checkpoint", "steps", "stop"} {
		if !strings.Contains(trainOut.String(), want) {
			t.Errorf("the trainer's output lacks %q:\n%s", want, trainOut.String())
		}
	}
	s.send("q")
	s.waitFor("exit", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "MDSM-EXITED 0") })
}
