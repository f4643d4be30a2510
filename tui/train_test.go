package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"

	"mdsm/core"
	"mdsm/tui/chart"
	"mdsm/tui/termimg"
)

func TestTrainStartPauseCheckpointStop(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	h := newHarness(t, Options{RunDir: dir})
	if !strings.Contains(h.view(), "press s to start training") {
		t.Fatalf("idle train pane should say how to start:\n%s", h.view())
	}
	h.key("s")
	h.pump("steps", 30*time.Second, func() bool { return h.a.s.step >= 5 && len(h.a.train.loss) >= 5 })
	v := h.view()
	for _, want := range []string{"running", "Loss", "━ normalised loss", dir} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		t.Error(err)
	}

	// pause: the step counter stops
	h.key("p")
	h.pump("paused", 10*time.Second, func() bool { return h.a.s.status == statusPaused })
	h.drain(200 * time.Millisecond)
	step := h.a.s.step
	h.drain(400 * time.Millisecond)
	if h.a.s.step != step || h.a.s.run.Step() != step {
		t.Errorf("step moved while paused: %d -> %d", step, h.a.s.step)
	}
	if !strings.Contains(h.view(), "paused") {
		t.Errorf("view should show paused:\n%s", h.view())
	}
	// space resumes
	h.key("space")
	h.pump("running again", 10*time.Second, func() bool { return h.a.s.step > step+2 })

	// checkpoint now
	h.key("c")
	h.pump("checkpoint", 20*time.Second, func() bool { return !h.a.s.ckptAt.IsZero() })
	if !strings.Contains(h.view(), "checkpoint step") || !strings.Contains(h.view(), "(kept)") {
		t.Errorf("view should show the last checkpoint:\n%s", h.view())
	}

	// log scale and smoothing toggles
	h.key("l")
	if !h.a.train.logY || !strings.Contains(h.view(), "log y") {
		t.Error("l should switch the loss axis to log")
	}
	sm := h.a.train.smoothing
	h.key("-")
	if h.a.train.smoothing >= sm {
		t.Error("- should reduce smoothing")
	}

	// stop: checkpoints first, then the trainer is stopped
	h.key("x")
	h.pump("stopped", 30*time.Second, func() bool { return h.a.s.status == statusStopped })
	if st := h.a.s.run.State(); st != core.Stopped {
		t.Fatalf("trainer state %v after x", st)
	}
	if _, _, err := core.LoadLatestCheckpoint(dir); err != nil {
		t.Fatalf("no checkpoint after stop: %v", err)
	}
	// the state event can come in an earlier batch than the done event
	h.pump("the stop in the event log", 10*time.Second, func() bool { return strings.Contains(h.view(), "training stopped at step") })

	// s resumes the same run
	stopped := h.a.s.run.Step()
	h.key("s")
	h.pump("resumed", 30*time.Second, func() bool { return h.a.s.status == statusRunning && h.a.s.step > stopped })
	if h.a.s.runDir != dir {
		t.Errorf("resumed run dir %q, want %q", h.a.s.runDir, dir)
	}
}

func TestTrainRefusesInvalidConfig(t *testing.T) {
	cfg := tinyConfig()
	cfg.BatchSize = 0
	h := newHarness(t, Options{Config: cfg, RunDir: filepath.Join(t.TempDir(), "r")})
	h.key("s")
	if h.a.s.run != nil || h.a.s.status != statusNoRun {
		t.Fatal("training started with an invalid config")
	}
	if !strings.Contains(h.view(), "configuration is invalid") {
		t.Errorf("expected an invalid-config message:\n%s", h.view())
	}
}

func TestQuitAsksWhileTrainingAndKeepsTrainingHeadless(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	var detached string
	h := newHarness(t, Options{RunDir: dir, Detach: func(d string) (string, error) {
		detached = d
		return "continues headless", nil
	}})
	h.key("s")
	h.pump("steps", 30*time.Second, func() bool { return h.a.s.step >= 2 })
	h.key("q")
	if !h.a.quitAsk || !strings.Contains(h.view(), "keep training headless") {
		t.Fatalf("q while training should ask:\n%s", h.view())
	}
	h.key("esc")
	if h.a.quitAsk || h.quit {
		t.Fatal("esc should cancel quitting")
	}
	h.key("q", "k")
	if !strings.Contains(h.view(), "continues headless") {
		t.Errorf("the UI should say training continues headless:\n%s", h.view())
	}
	h.pump("quit", 30*time.Second, func() bool { return h.quit })
	if detached != dir {
		t.Errorf("detached %q, want %q", detached, dir)
	}
	if h.a.ExitMessage() != "continues headless" {
		t.Errorf("exit message %q", h.a.ExitMessage())
	}
	if st := h.a.s.run.State(); st != core.Stopped {
		t.Errorf("trainer must be stopped (with a checkpoint) before detaching, state %v", st)
	}
	if _, _, err := core.LoadLatestCheckpoint(dir); err != nil {
		t.Errorf("no checkpoint before detaching: %v", err)
	}
}

func TestQuitStopsTraining(t *testing.T) {
	h := newHarness(t, Options{RunDir: filepath.Join(t.TempDir(), "run")})
	h.key("s")
	h.pump("steps", 30*time.Second, func() bool { return h.a.s.step >= 1 })
	h.key("ctrl+c", "s")
	h.pump("quit", 30*time.Second, func() bool { return h.quit })
	if st := h.a.s.run.State(); st != core.Stopped {
		t.Errorf("state %v after stop-and-quit", st)
	}
}

func TestQuitWithoutTrainingQuitsAtOnce(t *testing.T) {
	h := newHarness(t, Options{})
	h.key("q")
	h.pump("quit", time.Second, func() bool { return h.quit })
}

func TestReopenResumesRun(t *testing.T) {
	dir := makeRun(t, 6)
	h := newHarness(t, Options{Open: dir})
	h.pump("resumed", 30*time.Second, func() bool { return h.a.s.run != nil && h.a.s.step >= 6 })
	h.pump("history", 10*time.Second, func() bool { return len(h.a.train.loss) >= 6 })
	if h.a.train.loss[0].X != 1 {
		t.Errorf("history should start at step 1, got %v", h.a.train.loss[0])
	}
}

// TestFinishedRunExtends: a run that did all its steps shows "finished", resuming it
// writes no checkpoint again, and s asks for a new total and trains on to it.
func TestFinishedRunExtends(t *testing.T) {
	dir := makeRun(t, 3)
	h := newHarness(t, Options{Open: dir})
	h.pump("finished", 30*time.Second, func() bool { return h.a.s.run != nil && h.a.s.status == statusFinished })
	h.drain(100 * time.Millisecond)
	v := h.view()
	if !strings.Contains(v, "● finished") || !strings.Contains(v, "s extends the run") {
		t.Errorf("a finished run should say so:\n%s", v)
	}
	if n := strings.Count(v, "checkpoint at step 3"); n != 1 {
		t.Errorf("%d lines about the checkpoint of step 3, want 1 (resuming a finished run must not write it again):\n%s", n, v)
	}
	h.key("s")
	if !h.a.train.extend.active || !strings.Contains(h.view(), "extend the finished run to") {
		t.Fatalf("s on a finished run should ask for the new total:\n%s", h.view())
	}
	for range 10 {
		h.key("backspace")
	}
	h.typeText("5")
	h.key("enter")
	h.pump("extended", 30*time.Second, func() bool { return h.a.s.status == statusFinished && h.a.s.step == 5 })
	if cfg, err := core.ReadRunConfig(dir); err != nil || cfg.Steps != 5 {
		t.Errorf("config.json after extending: %d steps, %v", cfg.Steps, err)
	}
	if !strings.Contains(h.view(), "step 5/5") {
		t.Errorf("view:\n%s", h.view())
	}
}

// TestEventLinesWrap: a long event line is wrapped, not cut.
func TestEventLinesWrap(t *testing.T) {
	h := newHarness(t, Options{})
	h.send(tea_WindowSize(80, 24))
	h.a.logf("warn", "a long line that does not fit in eighty columns and ends with the part that matters: THE-END")
	if v := h.view(); !strings.Contains(v, "THE-END") {
		t.Errorf("the end of a long event line is lost:\n%s", v)
	}
}

// TestProgressBarSolid: the progress bar is whole cells of one colour and the empty part,
// with no gap and no other colour at 100%.
func TestProgressBarSolid(t *testing.T) {
	st := newStyles(bgLight, colorprofile.TrueColor, chart.Braille)
	for _, c := range []struct {
		frac       float64
		full, free int
	}{{0, 0, 20}, {0.5, 10, 10}, {1, 20, 0}} {
		bar := progressBar(st, c.frac, 20)
		plain := ansi.Strip(bar)
		if plain != strings.Repeat("█", c.full)+strings.Repeat("░", c.free) {
			t.Errorf("bar at %.0f%%: %q", 100*c.frac, plain)
		}
		if c.frac == 1 && strings.Count(bar, "\x1b[") > 2 {
			t.Errorf("the full bar has more than one colour: %q", bar)
		}
	}
}

// TestASCIIChartsInTheWorkbench: with --charts ascii the loss chart, the schedule chart
// and the chain's energy chart are plain ASCII (a font without braille or block glyphs
// shows them).
func TestASCIIChartsInTheWorkbench(t *testing.T) {
	h := newHarness(t, Options{Charts: chart.ASCII, Protocol: termimg.ProtoNone})
	h.send(tea_WindowSize(100, 30))
	busySession(h)
	bw, bh := h.a.bodySize()
	for _, i := range []int{paneTrain, paneSchedule, paneSamples} {
		v := ansi.Strip(h.a.pane(i).view(h.a.s, bw, bh))
		if i == paneTrain {
			v = v[strings.Index(v, "Loss"):strings.Index(v, "Events")]
		}
		for _, r := range v {
			if r > 127 && !strings.ContainsRune("–…·≥→", r) { // text, not chart glyphs
				t.Errorf("pane %s: %q in ASCII mode:\n%s", PaneNames()[i], r, v)
				break
			}
		}
	}
}
