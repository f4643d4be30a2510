package tui

import (
	"image"
	"time"

	tea "charm.land/bubbletea/v2"

	"mdsm/core"
	"mdsm/sampling"
)

// maxEventBatch bounds how many events one message carries.
const maxEventBatch = 2048

// waitRun waits for the next event of a run and takes whatever else is already queued, so
// that a fast trainer (or a long history) costs one UI update per batch, not per step.
func waitRun(r *core.Run, gen int) tea.Cmd {
	ch := r.Events()
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return runEventsMsg{gen: gen, closed: true}
		}
		msg := runEventsMsg{gen: gen, events: []core.Event{ev}}
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

// startRunCmd creates a run and starts training it, off the UI goroutine.
func startRunCmd(cfg core.RunConfig, dir string) tea.Cmd {
	return func() tea.Msg {
		r, err := core.StartRun(cfg, dir)
		return runOpenedMsg{run: r, err: err}
	}
}

// resumeRunCmd reopens a run at its newest checkpoint (steps > 0: with a new total), off
// the UI goroutine.
func resumeRunCmd(dir string, steps int) tea.Cmd {
	return func() tea.Msg {
		r, err := core.ResumeRun(dir, core.ResumeOptions{Steps: steps})
		return runOpenedMsg{run: r, resumed: true, err: err}
	}
}

// followRunCmd follows a run another process trains.
func followRunCmd(dir string, every time.Duration) tea.Cmd {
	return func() tea.Msg {
		r, err := core.FollowRun(dir, every)
		return runOpenedMsg{run: r, err: err}
	}
}

// deviceEvery is how often the header's GPU readings are refreshed (nvitop's default is
// 2 s too).
const deviceEvery = 2 * time.Second

// readDeviceCmd reads the run's device after a pause, off the UI goroutine (the first
// reading opens the device's libraries for a followed run).
func readDeviceCmd(r *core.Run, gen int, after time.Duration) tea.Cmd {
	read := func() tea.Msg {
		rd, err := r.Readings()
		return deviceMsg{gen: gen, r: rd, err: err}
	}
	if after <= 0 {
		return read
	}
	return tea.Tick(after, func(time.Time) tea.Msg { return read() })
}

// stopRunCmd stops a run (it checkpoints first) off the UI goroutine.
func stopRunCmd(r *core.Run, gen int) tea.Cmd {
	return func() tea.Msg { return runStoppedMsg{gen: gen, err: r.Stop()} }
}

// waitJob delivers the next update of a pane's job.
func waitJob(ch <-chan core.JobUpdate, pane, id int) tea.Cmd {
	return func() tea.Msg {
		u, ok := <-ch
		return jobMsg{pane: pane, id: id, u: u, closed: !ok}
	}
}

// saveImageCmd saves a pane's picture as RUN/samples/NAME-DATE.png, off the UI goroutine.
func saveImageCmd(pane int, runDir, name string, img image.Image) tea.Cmd {
	return func() tea.Msg {
		path, err := core.SaveImage(runDir, name, img)
		return savedMsg{pane: pane, path: path, err: err}
	}
}

// saveSamplerCmd writes the run's sampler (RUN/sampler.json), off the UI goroutine.
func saveSamplerCmd(runDir string, lc sampling.LangevinConfig) tea.Cmd {
	return func() tea.Msg {
		err := core.SaveRunSampler(runDir, lc)
		return samplerSavedMsg{lc: lc, path: core.SamplerPath(runDir), err: err}
	}
}

// loadTestImagesCmd loads the test images of a configuration, off the UI goroutine.
func loadTestImagesCmd(cfg core.RunConfig) tea.Cmd {
	return func() tea.Msg {
		imgs, err := core.LoadTestImages(cfg, 256)
		return testImagesMsg{imgs: imgs, err: err}
	}
}
