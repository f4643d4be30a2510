package tui

import (
	"context"
	"fmt"
	"image"
	"time"

	tea "charm.land/bubbletea/v2"

	"mdsm/sampling"
)

// chainMsg reports the progress of a Langevin chain running on its own goroutine: one
// message every k steps, and a last one with done set.
type chainMsg struct {
	target string // the pane that started it
	id     int
	step   int
	total  int
	temp   float64
	trace  []sampling.TracePoint // the whole trace so far
	pic    picture               // the denoised images, rendered
	images []float32             // the denoised images (last message only)
	note   string                // e.g. which weights were used
	done   bool
	err    error
	took   time.Duration
}

// chainJob describes a chain to run: build makes the chain (loading weights if need be)
// and render turns denoised images into the picture to show.
type chainJob struct {
	target string
	id     int
	every  func() int // steps between updates, read each round
	build  func() (*sampling.Chain, string, error)
	render func(denoised []float32) (image.Image, error)
}

// runChain starts the job on a new goroutine and returns the channel it reports on. The
// goroutine owns the chain and its model; cancel ctx to stop it (within one step).
func runChain(ctx context.Context, job chainJob) <-chan chainMsg {
	out := make(chan chainMsg, 1)
	go func() {
		defer close(out)
		start := time.Now()
		send := func(m chainMsg) bool {
			m.target, m.id, m.took = job.target, job.id, time.Since(start)
			select {
			case out <- m:
				return true
			case <-ctx.Done():
				return false
			}
		}
		chain, note, err := job.build()
		if err != nil {
			send(chainMsg{done: true, err: err})
			return
		}
		for {
			k := max(1, job.every())
			if err := chain.StepN(ctx, k); err != nil {
				select { // never block: nobody may be listening after a cancel
				case out <- chainMsg{target: job.target, id: job.id, done: true, err: err, took: time.Since(start)}:
				default:
				}
				return
			}
			den := chain.Denoised()
			img, err := job.render(den)
			if err != nil {
				send(chainMsg{done: true, err: fmt.Errorf("render: %w", err)})
				return
			}
			m := chainMsg{step: chain.StepIndex(), total: chain.Steps(), temp: chain.Temperature(),
				trace: chain.Trace(), pic: newPicture(img), note: note, done: chain.Done()}
			if m.done {
				m.images = den
			}
			if !send(m) || m.done {
				return
			}
		}
	}()
	return out
}

// waitChain is the command that delivers the next message of a chain. The pane re-arms it
// after each message until done.
func waitChain(ch <-chan chainMsg, target string, id int) tea.Cmd {
	return func() tea.Msg {
		m, ok := <-ch
		if !ok {
			return chainMsg{target: target, id: id, done: true, err: context.Canceled}
		}
		return m
	}
}

// gridCols is the number of columns of a square-ish grid of n images.
func gridCols(n int) int {
	c := 1
	for c*c < n {
		c++
	}
	return c
}
