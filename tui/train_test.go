package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mdsm/core"
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
