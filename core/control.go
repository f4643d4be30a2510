package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"mdsm/internal/safefile"
)

// The control channel: how a watcher (mdsm watch, the workbench's Runs pane) steers a run
// that another process trains, without ever writing the run's files. The trainer owns it:
// at start, rank 0 creates RUN/control/ and writes RUN/control/status.json (its PID, a
// session id, its state and its answers); a watcher drops a request file
// RUN/control/request-*.json there (written atomically, never replacing one), and the
// trainer polls the folder every ControlPoll, takes each request (reads and removes it),
// acts on it as on its own keys (Pause, Resume, CheckpointNow, a stop, SetSteps: each takes
// effect between two steps, and in a distributed run on every rank at the same step) and
// answers in status.json. A request names the session it is for, so one left behind by a
// trainer that has ended is never acted on by the next. Files rather than a socket: the
// run directory of a cluster job is often on a shared file system, seen from the login
// node where the watcher runs but not from the compute node where rank 0 trains.

// ControlPoll is how often a trainer looks for control requests.
const ControlPoll = 250 * time.Millisecond

// Control operations.
const (
	CtlPause      = "pause"
	CtlResume     = "resume"
	CtlCheckpoint = "checkpoint"
	CtlStop       = "stop"
	CtlSteps      = "steps" // a new total step count (ControlRequest.Steps)
)

// maxControlBytes bounds a request or status file: far above what mdsm writes.
const maxControlBytes = 64 << 10

// maxAnswers is how many answers status.json keeps.
const maxAnswers = 16

// ControlRequest is one request file.
type ControlRequest struct {
	ID      string `json:"id"`
	Session string `json:"session"` // the trainer session it is for (ControlStatus.Session)
	Op      string `json:"op"`
	Steps   int    `json:"steps,omitempty"`
	From    string `json:"from,omitempty"` // who asks, for the trainer's log
	Time    string `json:"time"`
}

// ControlAnswer is a trainer's answer to a request.
type ControlAnswer struct {
	ID  string `json:"id"`
	Op  string `json:"op"`
	OK  bool   `json:"ok"`
	Msg string `json:"msg"`
}

// ControlStatus is RUN/control/status.json, written by the trainer that holds the run.
type ControlStatus struct {
	PID     int             `json:"pid"`
	Session string          `json:"session"`
	State   string          `json:"state"`
	Step    int             `json:"step"`
	Total   int             `json:"total"`
	Time    string          `json:"time"`
	Answers []ControlAnswer `json:"answers,omitempty"`
}

// controlDir is RUN/control.
func controlDir(runDir string) string { return filepath.Join(runDir, "control") }

// controlStatusPath is RUN/control/status.json.
func controlStatusPath(runDir string) string { return filepath.Join(controlDir(runDir), "status.json") }

// ReadControlStatus reads a run's control status (checked reader: a FIFO or an oversized
// file is an error, never a hang).
func ReadControlStatus(runDir string) (ControlStatus, error) {
	var st ControlStatus
	b, err := safefile.ReadFile(controlStatusPath(runDir), "control status", maxControlBytes)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", controlStatusPath(runDir), err)
	}
	return st, nil
}

// ErrNotTraining answers a control request for a run that no process trains.
var ErrNotTraining = errors.New("no process trains the run now")

// SendControl asks the process training the run in runDir to act (op, one of the Ctl*
// operations; steps for CtlSteps) and returns the request's id, which the trainer's answer
// in status.json carries. It only writes the request: the trainer acts within ControlPoll
// (and the step it is in), and a follower of the run reports the answer (FollowRun).
func SendControl(runDir, op string, steps int, from string) (string, error) {
	switch op {
	case CtlPause, CtlResume, CtlCheckpoint, CtlStop:
	case CtlSteps:
		if steps < 1 {
			return "", fmt.Errorf("steps %d: a total step count is at least 1", steps)
		}
	default:
		return "", fmt.Errorf("unknown control %q", op)
	}
	pid, ok := LockHolder(runDir)
	if !ok {
		return "", fmt.Errorf("%s: %w (resume it: mdsm train --resume %s)", runDir, ErrNotTraining, runDir)
	}
	st, err := ReadControlStatus(runDir)
	if err != nil || st.PID != pid || st.Session == "" {
		return "", fmt.Errorf("%s is trained by process %d, which has no control channel (an mdsm from before it, or one still starting): control it there", runDir, pid)
	}
	now := time.Now()
	req := ControlRequest{ID: fmt.Sprintf("%d-%d", now.UnixNano(), os.Getpid()), Session: st.Session, Op: op, Steps: steps,
		From: from, Time: now.UTC().Format(time.RFC3339Nano)}
	b, _ := json.Marshal(req)
	path := filepath.Join(controlDir(runDir), "request-"+req.ID+".json")
	if err := safefile.WriteNew(path, false, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return "", fmt.Errorf("send %s to %s: %w", op, runDir, err)
	}
	return req.ID, nil
}

// controller is the trainer's end of the control channel (rank 0 only).
type controller struct {
	t       *Trainer
	dir     string
	session string
	answers []ControlAnswer
	written ControlStatus // what status.json says (state, total) as last written
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// startController opens the control channel of a trainer that writes its run directory:
// it creates RUN/control, writes the first status and polls for requests until stop.
func startController(t *Trainer) *controller {
	dir := controlDir(t.path)
	if err := os.Mkdir(dir, 0o777); err != nil && !errors.Is(err, os.ErrExist) {
		t.emit(LogEvent{At: time.Now(), Level: "warn", Msg: fmt.Sprintf("no control channel (mdsm watch cannot steer this run): %v", safefile.Describe(err))})
		return nil
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		t.emit(LogEvent{At: time.Now(), Level: "warn", Msg: fmt.Sprintf("no control channel: %s is not a directory", dir)})
		return nil
	}
	c := &controller{t: t, dir: dir, session: fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()),
		quit: make(chan struct{}), done: make(chan struct{})}
	c.writeStatus(t.State())
	go c.loop()
	return c
}

func (c *controller) loop() {
	defer close(c.done)
	tick := time.NewTicker(ControlPoll)
	defer tick.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-tick.C:
		}
		answered := c.takeRequests()
		st := c.t.State()
		if answered || st.String() != c.written.State || c.t.total() != c.written.Total {
			c.writeStatus(st)
		}
	}
}

// stop ends polling and writes the trainer's final state; it returns when the poller has
// ended, so that nothing is written after the run directory is released. Requests left
// in the folder are never acted on (they name this session).
func (c *controller) stop(final State) {
	if c == nil {
		return
	}
	c.once.Do(func() {
		close(c.quit)
		<-c.done
		c.takeRequests() // answered: the run is ending
		c.writeStatus(final)
	})
}

// takeRequests reads, removes and acts on the request files, oldest first; it reports
// whether it answered any.
func (c *controller) takeRequests() bool {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return false
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, "request-") && strings.HasSuffix(n, ".json") {
			names = append(names, n)
		}
	}
	slices.Sort(names) // ids begin with the time in nanoseconds
	for _, n := range names {
		path := filepath.Join(c.dir, n)
		b, rerr := safefile.ReadFile(path, "control request", maxControlBytes)
		os.Remove(path)
		var req ControlRequest
		if rerr == nil {
			rerr = json.Unmarshal(b, &req)
		}
		if rerr != nil {
			c.answer(ControlAnswer{ID: strings.TrimSuffix(strings.TrimPrefix(n, "request-"), ".json"), OK: false, Msg: fmt.Sprintf("unreadable request %s: %v", n, rerr)})
			continue
		}
		if req.Session != c.session {
			continue // for a trainer that has ended: never acted on
		}
		c.answer(c.act(req))
	}
	return len(names) > 0
}

// act carries out a request as the trainer's own control methods do.
func (c *controller) act(req ControlRequest) ControlAnswer {
	t := c.t
	a := ControlAnswer{ID: req.ID, Op: req.Op, OK: true}
	from := req.From
	if from == "" {
		from = "a watcher"
	}
	switch req.Op {
	case CtlPause:
		t.Pause()
		a.Msg = fmt.Sprintf("pausing after step %d", t.Step())
	case CtlResume:
		t.Resume()
		a.Msg = "resumed"
	case CtlCheckpoint:
		t.CheckpointNow()
		a.Msg = "checkpoint after the current step (kept)"
	case CtlStop:
		t.requestStop()
		a.Msg = "stopping: finishing the step and writing a checkpoint"
	case CtlSteps:
		if err := t.SetSteps(req.Steps); err != nil {
			a.OK, a.Msg = false, err.Error()
		} else {
			a.Msg = fmt.Sprintf("total steps set to %d", req.Steps)
		}
	default:
		a.OK, a.Msg = false, fmt.Sprintf("unknown control %q", req.Op)
	}
	level := "info"
	if !a.OK {
		level = "warn"
	}
	t.emit(LogEvent{At: time.Now(), Level: level, Msg: fmt.Sprintf("control from %s: %s: %s", from, req.Op, a.Msg)})
	return a
}

func (c *controller) answer(a ControlAnswer) {
	c.answers = append(c.answers, a)
	if len(c.answers) > maxAnswers {
		c.answers = c.answers[len(c.answers)-maxAnswers:]
	}
}

// writeStatus writes status.json (atomically; a failure is not the run's failure, it only
// leaves watchers without an answer).
func (c *controller) writeStatus(st State) {
	s := ControlStatus{PID: os.Getpid(), Session: c.session, State: st.String(), Step: c.t.Step(), Total: c.t.total(),
		Time: time.Now().UTC().Format(time.RFC3339Nano), Answers: c.answers}
	if err := writeJSONAtomic(controlStatusPath(c.t.path), s); err == nil {
		c.written = s
	}
}

// ParseState reads a State's name (State.String); ok is false for an unknown name.
func ParseState(s string) (State, bool) {
	for i, n := range stateNames {
		if n == s {
			return State(i), true
		}
	}
	return Idle, false
}
