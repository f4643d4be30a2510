package tui

import (
	"fmt"
	"image/color"
	"image/png"
	"io"
	"time"

	tea "charm.land/bubbletea/v2"

	"mdsm/core"
	"mdsm/tui/shot"
)

// openRun opens another run from the Runs pane: it watches it (following another
// process's training, which the Train pane's keys then steer), or resumes training it in
// this process. A run this process trains must be stopped first.
func (a *App) openRun(m openRunMsg) tea.Cmd {
	s := a.s
	switch {
	case s.active():
		a.logf("warn", "this workbench trains %s: stop it first (x in the Train pane), then open another run", s.runDir)
		return nil
	case s.status == statusOpening:
		return nil
	case m.resume && s.opts.Watch != "":
		a.logf("warn", "mdsm watch does not train: resume %s in the workbench (mdsm --open %s) or headless (mdsm train --resume %s)", m.dir, m.dir, m.dir)
		return nil
	}
	var closeOld tea.Cmd
	if old := s.run; old != nil {
		closeOld = func() tea.Msg { old.Close(); return nil }
	}
	s.run, s.reopen, s.watch = nil, false, !m.resume
	s.runDir, s.status = m.dir, statusOpening
	s.step, s.total, s.imagesPerSec, s.rankRates, s.eta, s.ckptAt, s.ckptStep, s.lastStepAt = 0, 0, 0, nil, 0, time.Time{}, 0, time.Time{}
	s.gridStep, s.gridScored = 0, false
	if m.resume {
		a.logf("info", "resuming %s from its newest checkpoint…", m.dir)
	} else {
		a.logf("info", "opening %s…", m.dir)
	}
	return tea.Batch(closeOld, openRunCmd(m.dir, m.resume, s.opts.WatchInterval), a.showPane(paneTrain))
}

// openRunCmd follows or resumes a run, with its saved sampler, off the UI goroutine.
func openRunCmd(dir string, resume bool, every time.Duration) tea.Cmd {
	return func() tea.Msg {
		var r *core.Run
		var err error
		if resume {
			r, err = core.ResumeRun(dir, core.ResumeOptions{})
		} else {
			r, err = core.FollowRun(dir, every)
		}
		m := runOpenedMsg{run: r, resumed: resume, err: err}
		if err == nil {
			lc, saved, serr := core.RunSampler(dir, r.Config())
			m.sampler, m.samplerSaved, m.samplerErr = &lc, saved, serr
		}
		return m
	}
}

// controlFollowed sends a control to the process that trains a followed run, through the
// run's control channel (core.SendControl, off the UI goroutine); the trainer's answer
// comes back as an event.
func (a *App) controlFollowed(m runCtlMsg) tea.Cmd {
	s := a.s
	if s.run == nil {
		return nil
	}
	training := s.status == statusRunning || s.status == statusPaused
	if !training {
		steps := ""
		if m.op == opExtend {
			steps = fmt.Sprintf(" --steps %d", m.steps)
		}
		a.logf("warn", "no process trains %s now: resume it (r in the Runs pane, 6) or headless: mdsm train --resume %s%s", s.runDir, s.runDir, steps)
		return nil
	}
	r := s.run
	var send func() error
	var what string
	switch m.op {
	case opStart:
		if s.status != statusPaused {
			return nil
		}
		send, what = r.Resume, "resume"
	case opPause:
		if s.status == statusPaused {
			send, what = r.Resume, "resume"
		} else {
			send, what = r.Pause, "pause"
		}
	case opStop:
		send, what = r.Stop, "stop (it checkpoints first)"
	case opCheckpoint:
		send, what = r.CheckpointNow, "write a kept checkpoint"
	case opExtend:
		n := m.steps
		send, what = func() error { return r.SetSteps(n) }, fmt.Sprintf("train to %d steps", n)
	default:
		return nil
	}
	a.logf("info", "asking the trainer of %s to %s…", s.runDir, what)
	op := m.op
	return func() tea.Msg { return controlSentMsg{op: op, err: send()} }
}

// screenshot saves the screen as a PNG (RUN/exports/screen-DATE.png): the text rendered
// cell by cell and the pane's picture at its full resolution, off the UI goroutine.
func (a *App) screenshot() tea.Cmd {
	if a.w == 0 || a.h == 0 {
		return nil
	}
	s := a.s
	fg, bg := color.RGBA{0, 0, 0, 255}, color.RGBA{255, 255, 255, 255}
	if s.bg == bgDark {
		fg, bg = color.RGBA{0xd0, 0xd0, 0xd0, 255}, color.RGBA{0x12, 0x12, 0x12, 255}
	}
	sc := shot.Screen{Text: a.render(), Cols: a.w, Rows: a.h, FG: fg, BG: bg}
	if !a.showHelp && !a.quitAsk && !a.quitting {
		bw, bh := a.bodySize()
		if sl, ok := a.pane(a.active).slot(s, bw, bh); ok && sl.pic.ok() {
			sc.Pictures = []shot.Picture{{Img: sl.pic.img, X: sl.r.x, Y: sl.r.y + headerRows, W: sl.r.w, H: sl.r.h}}
		}
	}
	dir := s.runDir
	if s.run == nil {
		dir = ""
	}
	a.logf("info", "saving the screen as PNG…")
	return func() tea.Msg {
		img := shot.Render(sc)
		path, err := core.SaveExport(dir, "screen", ".png", func(w io.Writer) error { return png.Encode(w, img) })
		return exportedMsg{pane: -1, what: "screen PNG", path: path, err: err}
	}
}
