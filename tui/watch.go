package tui

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	tea "charm.land/bubbletea/v2"

	"mdsm/core"
	"mdsm/internal/safefile"
)

// watchState is where the follower of a run directory is: it travels with the poll
// command and comes back in watchMsg, so it is never shared between goroutines.
type watchState struct {
	dir        string
	offset     int64
	sample     string
	ckptStep   int
	interval   time.Duration
	firstRound bool
}

// watchMsg is the result of one poll of a run directory.
type watchMsg struct {
	next     watchState
	records  []core.MetricRecord
	reset    bool // metrics.jsonl shrank (a resume truncated it): start over
	sample   string
	ckptStep int
	ckptAt   time.Time
	modTime  time.Time
	err      error
}

// historyMsg carries the metrics and newest sample grid of a reopened run.
type historyMsg struct {
	records    []core.MetricRecord
	samplePath string
	err        error
}

// pollRun reads what is new in a run directory: complete new metrics lines, the newest
// checkpoint and the newest sample grid.
func pollRun(ws watchState) watchMsg {
	m := watchMsg{next: ws}
	path := filepath.Join(ws.dir, "metrics.jsonl")
	f, _, err := safefile.Open(path)
	if err == nil {
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			m.modTime = fi.ModTime()
			if fi.Size() < ws.offset {
				m.reset, m.next.offset = true, 0
			}
		}
		if _, err := f.Seek(m.next.offset, io.SeekStart); err == nil {
			b, err := io.ReadAll(f)
			if err != nil {
				m.err = fmt.Errorf("read %s: %w", path, err)
			}
			if i := bytes.LastIndexByte(b, '\n'); i >= 0 { // complete lines only
				recs, perr := core.ParseMetrics(b[:i+1], path)
				if perr != nil && m.err == nil {
					m.err = perr
				}
				m.records = recs
				m.next.offset += int64(i + 1)
			}
		}
	} else if !os.IsNotExist(err) {
		m.err = fmt.Errorf("watch: %w", err)
	}
	if step, at, ok := newestCheckpoint(ws.dir); ok {
		m.ckptStep, m.ckptAt = step, at
		m.next.ckptStep = step
	}
	if s := newestSample(ws.dir); s != "" && s != ws.sample {
		m.sample = s
		m.next.sample = s
	}
	return m
}

// newestCheckpoint finds the newest complete checkpoint (its state sidecar).
func newestCheckpoint(dir string) (int, time.Time, bool) {
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "step-*.json"))
	best, bestAt, ok := -1, time.Time{}, false
	for _, f := range files {
		var s int
		if _, err := fmt.Sscanf(filepath.Base(f), "step-%08d.json", &s); err != nil {
			continue
		}
		if s > best {
			if fi, err := os.Stat(f); err == nil {
				best, bestAt, ok = s, fi.ModTime(), true
			}
		}
	}
	return best, bestAt, ok
}

// newestSample is the newest periodic sample grid RUN/samples/step-N.png.
func newestSample(dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "samples", "step-*.png"))
	if len(files) == 0 {
		return ""
	}
	sort.Strings(files) // zero-padded step numbers sort in order
	return files[len(files)-1]
}

// pollCmd polls after d (immediately when d is 0), off the UI goroutine.
func pollCmd(ws watchState, d time.Duration) tea.Cmd {
	if d <= 0 {
		return func() tea.Msg { return pollRun(ws) }
	}
	return tea.Tick(d, func(time.Time) tea.Msg { return pollRun(ws) })
}

// startWatch follows a run trained by another process.
func (a *App) startWatch(dir string) tea.Cmd {
	s := a.s
	s.watch, s.runDir, s.state = true, dir, "waiting"
	if cfg, err := core.ReadRunConfig(dir); err == nil {
		s.cfg, s.total = cfg, cfg.Steps
		a.configure.load(cfg, dir)
	}
	a.train.loss = nil
	a.logf("info", "watching %s (read-only; n in the Samples pane samples from its newest checkpoint)", dir)
	return pollCmd(watchState{dir: dir, interval: s.opts.WatchInterval, firstRound: true}, 0)
}

// onWatch applies a poll result and schedules the next poll.
func (a *App) onWatch(m watchMsg) tea.Cmd {
	s := a.s
	if !s.watch || m.next.dir != s.runDir {
		return nil
	}
	if m.err != nil {
		a.logf("warn", "%v", m.err)
	}
	if m.reset {
		a.train.loss = nil
		a.logf("info", "metrics.jsonl was rewritten (the run was resumed): reloading")
	}
	for _, r := range m.records {
		a.train.addRecord(r)
	}
	if n := len(m.records); n > 0 {
		last := m.records[n-1]
		s.step, s.imagesPerSec, s.rankRates = last.Step, last.ImagesPerSec, last.RankImagesPerSec
		if last.ImagesPerSec > 0 && s.total > s.step {
			s.eta = time.Duration(float64(s.total-s.step) * float64(s.cfg.BatchSize) / last.ImagesPerSec * float64(time.Second))
		}
	}
	if m.ckptStep > s.lastCkptStep || (m.ckptStep >= 0 && s.lastCkptAt.IsZero() && !m.ckptAt.IsZero()) {
		if m.ckptStep != s.lastCkptStep && !m.next.firstRound {
			a.logf("ok", "new checkpoint at step %d", m.ckptStep)
		}
		s.lastCkptStep, s.lastCkptAt = m.ckptStep, m.ckptAt
		s.hasWeightsDir = true
	}
	switch {
	case s.total > 0 && s.step >= s.total:
		s.state = "finished"
	case !m.modTime.IsZero() && time.Since(m.modTime) < 30*time.Second:
		s.state = "live"
	case m.modTime.IsZero():
		s.state = "waiting"
	default:
		s.state = "idle " + time.Since(m.modTime).Round(time.Second).String()
	}
	var cmds []tea.Cmd
	if m.sample != "" {
		cmds = append(cmds, loadPNGCmd("samples", m.sample))
	}
	next := m.next
	next.firstRound = false
	cmds = append(cmds, pollCmd(next, next.interval))
	return tea.Batch(cmds...)
}

// loadHistoryCmd reads the metrics and newest sample of a reopened run.
func (a *App) loadHistoryCmd(dir string) tea.Cmd {
	return func() tea.Msg {
		recs, err := core.ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
		if err != nil && os.IsNotExist(err) {
			err = nil
		}
		return historyMsg{records: recs, samplePath: newestSample(dir), err: err}
	}
}
