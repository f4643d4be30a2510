package core

import (
	"fmt"
	"image"
	"time"
)

// State is where a Trainer is in its life.
type State int

// The trainer states.
const (
	Idle     State = iota // created, not started
	Running               // stepping
	Paused                // waiting for Resume
	Stopping              // finishing the current step and checkpointing
	Stopped               // stopped before its last step; the last checkpoint is on disk
	Failed                // stopped by an error (NaN, disk); the last good checkpoint is kept
	Finished              // every configured step done; resume with more steps to extend it
)

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int(s))
	}
	return stateNames[s]
}

var stateNames = [...]string{"idle", "running", "paused", "stopping", "stopped", "failed", "finished"}

// Ended reports whether a run in state s has stopped for good (stopped, failed or
// finished).
func (s State) Ended() bool { return s == Stopped || s == Failed || s == Finished }

// Event is something that happened in a trainer. Events flow one way, trainer to readers
// (the TUI, the headless progress line), through Trainer.Events.
type Event interface{ When() time.Time }

// StepEvent reports a finished optimisation step.
type StepEvent struct {
	At           time.Time
	Step, Total  int
	Loss         float64 // the MDSM loss of docs/REFERENCE.md "Training"
	NormLoss     float64 // loss * sigma0^4, as the authors' code logs it
	LR           float64
	ImagesPerSec float64
	Elapsed, ETA time.Duration
	// WorldSize is the number of ranks training the run (1 for one process), and
	// RankImagesPerSec each rank's images per second of compute in a distributed run.
	WorldSize        int
	RankImagesPerSec []float64
	// SigmaLoss is the step's loss per noise-level bin (SigmaBins of len(SigmaLoss) bins:
	// the mean of |r_b|^2/sigma_b^2 over the bin's images, raw like Loss); nil when the
	// engine does not report it or the run has one noise level.
	SigmaLoss []float64
}

// RankRatesText describes the ranks' compute rates of a distributed run for a status
// line, " (2 ranks: 610 605 img/s)", or "" for one process.
func RankRatesText(r []float64) string {
	if len(r) < 2 {
		return ""
	}
	s := fmt.Sprintf(" (%d ranks:", len(r))
	for _, v := range r {
		s += fmt.Sprintf(" %.0f", v)
	}
	return s + " img/s)"
}

// CheckpointEvent reports a checkpoint written (or a failed attempt, Err set).
type CheckpointEvent struct {
	At   time.Time
	Step int
	Path string
	// Kept marks a checkpoint asked for by the user (CheckpointNow): the keep-N rotation
	// never deletes it.
	Kept bool
	Err  error
}

// SampleEvent reports a periodic sample grid written to the run directory, and its score
// when the run's data have a built-in classifier (nil otherwise).
type SampleEvent struct {
	At    time.Time
	Step  int
	Path  string
	Score *SampleScore
	// Image is the grid, decoded, when the event comes from a Run (nil from a bare
	// Trainer, whose readers load Path themselves).
	Image image.Image
	Err   error
}

// LogEvent is a message for the event log (Level: info, warn or error).
type LogEvent struct {
	At         time.Time
	Level, Msg string
}

// StateEvent reports a state change, or a new total step count (SetSteps).
type StateEvent struct {
	At    time.Time
	State State
	// Total is the run's total step count (0: not said).
	Total int
}

// DoneEvent is the last event of a trainer: Err is nil after a normal stop.
type DoneEvent struct {
	At   time.Time
	Step int
	Err  error
	// Stopped says that a stop request ended training before its last step: Stop on this
	// trainer, or on another rank of a distributed run.
	Stopped bool
}

func (e StepEvent) When() time.Time       { return e.At }
func (e CheckpointEvent) When() time.Time { return e.At }
func (e SampleEvent) When() time.Time     { return e.At }
func (e LogEvent) When() time.Time        { return e.At }
func (e StateEvent) When() time.Time      { return e.At }
func (e DoneEvent) When() time.Time       { return e.At }
