package tui

import (
	"image"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"mdsm/core"
	"mdsm/nn"
	"mdsm/sampling"
	"mdsm/tui/chart"
	"mdsm/tui/termimg"
)

// tinyConfig is a network and run small enough that real training in tests is fast.
func tinyConfig() core.RunConfig {
	c := core.DefaultRunConfig()
	c.Model = nn.Config{Preset: "test", InChannels: 1, ImageSize: 28, Filters: 4, Stages: 2}
	c.Steps, c.BatchSize, c.Warmup = 100000, 8, 0
	c.LogEvery, c.CheckpointEvery = 1, 1000
	c.SampleEvery = 0
	return c
}

// harness is a small bubbletea runtime for tests: commands run on goroutines, their
// messages come back through a channel and Update runs on the test goroutine only.
type harness struct {
	t      *testing.T
	a      *App
	msgs   chan tea.Msg
	done   chan struct{}
	quit   bool
	raw    []string
	clears int
	once   sync.Once
	// inflight counts command goroutines: close waits for them so that none
	// writes into a test's temporary directory while it is being removed.
	inflight sync.WaitGroup
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	if opts.Config.Steps == 0 {
		opts.Config = tinyConfig()
	}
	if opts.Protocol == termimg.ProtoAuto {
		opts.Protocol = termimg.ProtoBlocks
	}
	if opts.WatchInterval == 0 {
		opts.WatchInterval = 50 * time.Millisecond
	}
	if opts.Detach == nil {
		opts.Detach = func(string) (string, error) { t.Error("unexpected detach"); return "", nil }
	}
	if opts.Charts == 0 && os.Getenv("MDSM_TEST_ASCII") == "1" {
		opts.Charts = chart.ASCII
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, a: a, msgs: make(chan tea.Msg, 256), done: make(chan struct{})}
	t.Cleanup(h.close)
	h.run(a.Init())
	h.send(tea.WindowSizeMsg{Width: 160, Height: 48})
	return h
}

func (h *harness) close() {
	h.once.Do(func() {
		h.a.stopJobs()
		if r := h.a.s.run; r != nil {
			if r.Live() {
				_ = r.Stop()
			}
			r.Close()
		}
		close(h.done)
		idle := make(chan struct{})
		go func() { h.inflight.Wait(); close(idle) }()
		select {
		case <-idle:
		case <-time.After(20 * time.Second):
			h.t.Log("harness: command goroutines still running 20 s after close")
		}
	})
}

// run executes a command off the test goroutine.
func (h *harness) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	h.inflight.Add(1)
	go func() {
		defer h.inflight.Done()
		h.deliver(cmd())
	}()
}

func (h *harness) deliver(msg tea.Msg) {
	switch m := msg.(type) {
	case nil:
		return
	case tea.BatchMsg:
		for _, c := range m {
			h.run(c)
		}
		return
	}
	if v := reflect.ValueOf(msg); v.Kind() == reflect.Slice && v.Type().Elem() == reflect.TypeOf(tea.Cmd(nil)) {
		// tea.Sequence: the commands one after another, each message delivered in order
		for i := range v.Len() {
			if c := v.Index(i).Interface().(tea.Cmd); c != nil {
				h.deliver(c())
			}
		}
		return
	}
	select {
	case h.msgs <- msg:
	case <-h.done:
	}
}

// send applies a message and runs the command it returns.
func (h *harness) send(msg tea.Msg) {
	switch m := msg.(type) {
	case tea.QuitMsg:
		h.quit = true
		return
	case tea.RawMsg:
		h.raw = append(h.raw, m.Msg.(string))
		return
	}
	if strings.Contains(typeName(msg), "clearScreen") {
		h.clears++
		return
	}
	_, cmd := h.a.Update(msg)
	h.run(cmd)
}

func typeName(v any) string { return strings.TrimPrefix(strings.TrimPrefix(fmtType(v), "*"), "tea.") }

// key sends one key press, written as bubbletea prints it ("s", "enter", "shift+tab").
func (h *harness) key(keys ...string) {
	for _, k := range keys {
		h.send(keyMsg(k))
	}
}

func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "left":
		return tea.KeyPressMsg{Code: tea.KeyLeft}
	case "right":
		return tea.KeyPressMsg{Code: tea.KeyRight}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(k)
	return tea.KeyPressMsg{Code: r[0], Text: k}
}

// typeText types a string into a focused text field.
func (h *harness) typeText(s string) {
	for _, r := range s {
		h.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// pump processes messages until cond holds or the timeout passes.
func (h *harness) pump(what string, timeout time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.After(timeout)
	for !cond() {
		select {
		case m := <-h.msgs:
			h.send(m)
		case <-deadline:
			h.t.Fatalf("timed out after %s waiting for %s; screen:\n%s", timeout, what, h.view())
		}
	}
}

// drain processes the messages that arrive within d.
func (h *harness) drain(d time.Duration) {
	deadline := time.After(d)
	for {
		select {
		case m := <-h.msgs:
			h.send(m)
		case <-deadline:
			return
		}
	}
}

func (h *harness) view() string { return ansi.Strip(h.a.View().Content) }

// makeRun trains a tiny run headless for a few steps and returns its directory, with a
// checkpoint on disk.
func makeRun(t *testing.T, steps int) string {
	t.Helper()
	cfg := tinyConfig()
	cfg.Steps = steps
	ds, err := core.LoadTrainingData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	tr, err := core.NewTrainer(cfg, ds, dir)
	if err != nil {
		t.Fatal(err)
	}
	tr.Start()
	for range tr.Events() {
	}
	<-tr.Done()
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shortSchedule makes sampling in tests quick.
func shortSchedule(h *harness, steps int) {
	h.a.s.sampler.Schedule = sampling.DefaultSchedule().Rescaled(steps, 10)
}

// syncMsg is a message no model handles: sending it makes the root sync its image state
// after a test changed a pane's picture directly.
type syncMsg struct{}

// showGrid puts img in the Samples pane as the newest periodic grid.
func (h *harness) showGrid(img image.Image) {
	h.a.samples.grid, h.a.samples.show = newPicture(img), viewGrid
	h.send(syncMsg{})
}

func tea_WindowSize(w, h int) tea.WindowSizeMsg { return tea.WindowSizeMsg{Width: w, Height: h} }
