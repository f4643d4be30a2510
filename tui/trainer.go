package tui

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	tea "charm.land/bubbletea/v2"

	"mdsm/core"
)

// trainerReadyMsg delivers a trainer built (data loaded, run directory created or
// reopened) off the UI goroutine.
type trainerReadyMsg struct {
	tr      *core.Trainer
	resumed bool
	err     error
}

// trainerEventsMsg is a batch of trainer events, read off the UI goroutine.
type trainerEventsMsg struct {
	gen    int
	events []core.Event
	closed bool
}

// trainerStoppedMsg reports that Stop returned (the final checkpoint is written).
type trainerStoppedMsg struct {
	gen int
	err error
}

// logLine is one line of the event log.
type logLine struct {
	at          time.Time
	level, text string
}

// maxEventBatch bounds how many events one message carries.
const maxEventBatch = 2048

// waitTrainer waits for the next trainer event and takes whatever else is already
// queued, so a fast trainer costs one UI update per batch, not per step.
func waitTrainer(tr *core.Trainer, gen int) tea.Cmd {
	ch := tr.Events()
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return trainerEventsMsg{gen: gen, closed: true}
		}
		msg := trainerEventsMsg{gen: gen, events: []core.Event{ev}}
		for len(msg.events) < maxEventBatch {
			select {
			case ev, ok := <-ch:
				if !ok {
					msg.closed = true
					return msg
				}
				msg.events = append(msg.events, ev)
			default:
				return msg
			}
		}
		return msg
	}
}

// newTrainerCmd loads the data and creates a fresh run, off the UI goroutine.
func newTrainerCmd(cfg core.RunConfig, runDir string) tea.Cmd {
	return func() tea.Msg {
		ds, err := core.LoadTrainingData(cfg)
		if err != nil {
			return trainerReadyMsg{err: fmt.Errorf("load training data: %w", err)}
		}
		tr, err := core.NewTrainer(cfg, ds, runDir)
		if err != nil {
			return trainerReadyMsg{err: fmt.Errorf("create run: %w", err)}
		}
		return trainerReadyMsg{tr: tr}
	}
}

// resumeTrainerCmd reopens a run at its newest checkpoint, off the UI goroutine.
func resumeTrainerCmd(runDir string) tea.Cmd {
	return func() tea.Msg {
		cfg, err := core.ReadRunConfig(runDir)
		if err != nil {
			return trainerReadyMsg{err: err}
		}
		ds, err := core.LoadTrainingData(cfg)
		if err != nil {
			return trainerReadyMsg{err: fmt.Errorf("load training data: %w", err)}
		}
		tr, err := core.ResumeTrainer(runDir, ds, core.ResumeOptions{})
		if err != nil {
			return trainerReadyMsg{err: fmt.Errorf("resume %s: %w", runDir, err)}
		}
		return trainerReadyMsg{tr: tr, resumed: true}
	}
}

// stopCmd stops a trainer (it checkpoints first) off the UI goroutine.
func stopCmd(tr *core.Trainer, gen int) tea.Cmd {
	return func() tea.Msg { return trainerStoppedMsg{gen: gen, err: tr.Stop()} }
}

// startTraining starts a new run, or resumes the stopped one.
func (a *App) startTraining() tea.Cmd {
	s := a.s
	switch {
	case s.watch:
		a.logf("warn", "watching %s: it is trained by another process (mdsm train); start/stop there", s.runDir)
		return nil
	case s.state == "loading" || s.state == "stopping":
		return nil
	case s.trainer != nil && s.trainerActive():
		if s.trainer.State() == core.Paused {
			s.trainer.Resume()
		}
		return nil
	case s.trainer != nil || (s.runDir != "" && a.reopen):
		s.state = "loading"
		a.logf("info", "resuming %s from its newest checkpoint…", s.runDir)
		return resumeTrainerCmd(s.runDir)
	}
	if err := s.cfg.Validate(); err != nil {
		a.logf("error", "the configuration is invalid (see the Configure pane, key 1): %v", firstLine(err))
		return nil
	}
	if errs := a.configure.parseErrors(); errs > 0 {
		a.logf("error", "%d field(s) of the Configure pane do not parse: fix them first (key 1)", errs)
		return nil
	}
	dir := a.configure.runDirValue()
	if dir == "" {
		dir = "runs/" + time.Now().Format("20060102-150405")
	}
	s.runDir = dir
	s.state = "loading"
	a.logf("info", "loading %s and creating %s…", s.cfg.Data, dir)
	return newTrainerCmd(s.cfg, dir)
}

// onTrainerReady adopts a new trainer and starts it.
func (a *App) onTrainerReady(m trainerReadyMsg) tea.Cmd {
	s := a.s
	if m.err != nil {
		s.state = "idle"
		if s.trainer != nil {
			s.state = s.trainer.State().String()
		}
		if errors.Is(m.err, core.ErrLocked) && s.runDir != "" {
			a.logf("warn", "%v: watching it instead", m.err)
			return a.startWatch(s.runDir)
		}
		a.logf("error", "%v", m.err)
		return nil
	}
	tr := m.tr
	s.trainer = tr
	s.gen++
	s.runDir = tr.RunDir()
	s.cfg = tr.Config()
	a.configure.load(s.cfg, s.runDir)
	s.total = s.cfg.Steps
	tr.Sampler = core.PeriodicSampler(tr.Config())
	tr.Start()
	s.state = tr.State().String()
	a.reopen = false
	if m.resumed {
		a.logf("ok", "resumed %s at step %d of %d", s.runDir, tr.Step(), s.total)
	} else {
		a.logf("ok", "training %s (%s, batch %d, %d steps) in %s", s.cfg.Model.Preset, s.cfg.Data, s.cfg.BatchSize, s.cfg.Steps, s.runDir)
	}
	sch, eps, dir := s.schedule, s.eps, s.runDir
	return tea.Batch(waitTrainer(tr, s.gen), func() tea.Msg {
		if err := writeSchedule(dir, sch, eps); err != nil {
			return logMsg{level: "warn", text: err.Error()}
		}
		return nil
	})
}

// logMsg adds a line to the event log from a command.
type logMsg struct{ level, text string }

// onTrainerEvents applies a batch of events to the session and the panes.
func (a *App) onTrainerEvents(m trainerEventsMsg) tea.Cmd {
	s := a.s
	if m.gen != s.gen || s.trainer == nil {
		return nil
	}
	var cmds []tea.Cmd
	for _, ev := range m.events {
		switch e := ev.(type) {
		case core.StepEvent:
			s.step, s.total, s.imagesPerSec, s.eta = e.Step, e.Total, e.ImagesPerSec, e.ETA
			a.train.addStep(e)
		case core.CheckpointEvent:
			if e.Err != nil {
				a.logf("error", "%v", e.Err)
				continue
			}
			s.lastCkptStep, s.lastCkptAt, s.lastCkptPath = e.Step, e.At, e.Path
			a.logf("ok", "checkpoint at step %d: %s", e.Step, filepath.Base(e.Path))
		case core.SampleEvent:
			if e.Err != nil {
				a.logf("warn", "sample grid at step %d failed: %v", e.Step, e.Err)
				continue
			}
			if sc := e.Score.Summary(); sc != "" {
				a.logf("info", "sample grid at step %d: %s; %s", e.Step, filepath.Base(e.Path), sc)
			} else {
				a.logf("info", "sample grid at step %d: %s", e.Step, filepath.Base(e.Path))
			}
			cmds = append(cmds, loadPNGCmd("samples", e.Path))
		case core.LogEvent:
			a.logf(e.Level, "%s", e.Msg)
		case core.StateEvent:
			s.state = e.State.String()
		case core.DoneEvent:
			if e.Err != nil {
				a.logf("error", "training stopped at step %d: %v", e.Step, e.Err)
			} else {
				a.logf("ok", "training stopped at step %d; s resumes it", e.Step)
			}
			s.state = s.trainer.State().String()
		}
	}
	if !m.closed {
		cmds = append(cmds, waitTrainer(s.trainer, s.gen))
	}
	return tea.Batch(cmds...)
}

// firstLine is the first line of an error (Validate joins one line per field).
func firstLine(err error) string {
	msg := err.Error()
	for i, c := range msg {
		if c == '\n' {
			return msg[:i] + " …"
		}
	}
	return msg
}
