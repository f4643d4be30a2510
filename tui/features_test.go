package tui

import (
	"encoding/csv"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"mdsm/core"
	"mdsm/sampling"
	"mdsm/tui/chart"
	"mdsm/tui/shot"
)

// feedRun gives the Train pane n logged steps of a run (loss falling with a spike at step
// 10, learning rate decaying, the loss per noise level, a scored grid every 100 steps).
func feedRun(h *harness, n int) {
	var evs []core.Event
	for s := 1; s <= n; s++ {
		loss := 1e5/float64(s) + 1000
		if s == 10 {
			loss = 1e7
		}
		sig := make([]float64, core.SigmaBinCount)
		for b := range sig {
			sig[b] = loss * float64(core.SigmaBinCount-b) / 4
		}
		evs = append(evs, core.StepEvent{Step: s, Total: 2 * n, Loss: loss, NormLoss: loss / 1e4, LR: 1e-3 / (1 + float64(s)/100),
			ImagesPerSec: 1000 + float64(s%7), SigmaLoss: sig})
		if s%100 == 0 {
			evs = append(evs, core.SampleEvent{Step: s, Score: &core.SampleScore{Step: s, N: 36, FD: 500 - float64(s)/10, Floor: 160}})
		}
	}
	h.a.train, _ = h.a.train.update(h.a.s, runEventsMsg{events: evs})
}

// TestTrainChartTools drives the Train pane's chart through the model: zoom and pan keep a
// step window whose y range fits it, the cursor reads the values at its step (raw and
// normalised, smoothed as the curve), the loss per noise level, the second row (learning
// rate, images/s, sample score) and the CSV of the window.
func TestTrainChartTools(t *testing.T) {
	h := newHarness(t, Options{})
	h.send(tea_WindowSize(120, 40))
	h.a.s.runDir = t.TempDir()
	feedRun(h, 1000)
	v := h.view()
	for _, want := range []string{"━ lr", "━ img/s", "━ sample FD (floor 160)", "y fits steps ≥"} {
		if !strings.Contains(v, want) {
			t.Errorf("the Train pane lacks %q:\n%s", want, v)
		}
	}
	if len(h.a.train.score) != 10 {
		t.Errorf("%d scores, want 10", len(h.a.train.score))
	}

	// zoom in twice: a window of a quarter of the run that follows its end
	h.key("z", "z")
	lo, hi, zoomed := h.a.train.win.window(1, 1000)
	if !zoomed || hi != 1000 || math.Abs((hi-lo)-999.0/4) > 1 {
		t.Fatalf("after z z: window %g..%g (zoomed %v), want the last quarter", lo, hi, zoomed)
	}
	if v := h.view(); !strings.Contains(v, "steps "+strconv.Itoa(int(lo))+"–1000") {
		t.Errorf("the title should name the window:\n%s", v)
	}
	// new steps: the window follows
	h.a.train, _ = h.a.train.update(h.a.s, runEventsMsg{events: []core.Event{core.StepEvent{Step: 1001, Loss: 1100, NormLoss: 0.11}}})
	if _, hi2, _ := h.a.train.win.window(1, 1001); hi2 != 1001 {
		t.Errorf("the window does not follow the newest step: ends at %g", hi2)
	}
	// pan back: the window stops following and moves by a quarter of its width
	h.key("<")
	lo3, hi3, _ := h.a.train.win.window(1, 1001)
	if hi3 >= 1001 || h.a.train.win.follow || math.Abs((hi-lo)/4-(1001-hi3)) > 2 {
		t.Errorf("after <: window %g..%g, follow %v", lo3, hi3, h.a.train.win.follow)
	}
	// the cursor: the values at its step, in the readout
	h.key("right")
	if !h.a.train.win.cursorOn || h.a.train.win.cursor != hi3 {
		t.Fatalf("the cursor appears at the window's end: %v at %g", h.a.train.win.cursorOn, h.a.train.win.cursor)
	}
	for range 3 {
		h.key("left")
	}
	x := h.a.train.win.cursor
	pt, _ := at(h.a.train.norm, x)
	sm, _ := smoothedAt(h.a.train.norm, x, h.a.train.smoothing)
	v = h.view()
	for _, want := range []string{"step " + strconv.Itoa(int(x)), "normalised loss " + chart.FormatSI(pt.Y), "smoothed " + chart.FormatSI(sm), "FD "} {
		if !strings.Contains(v, want) {
			t.Errorf("the readout lacks %q:\n%s", want, v)
		}
	}
	h.key("r")
	raw, _ := at(h.a.train.loss, x)
	if v := h.view(); !strings.Contains(v, "raw loss "+chart.FormatSI(raw.Y)) {
		t.Errorf("r: the readout should show the raw loss %s:\n%s", chart.FormatSI(raw.Y), v)
	}
	h.key("r")
	// smoothing is TensorBoard's debiased EMA
	want := chart.Smooth([]float64{h.a.train.norm[0].Y, h.a.train.norm[1].Y}, h.a.train.smoothing)[1]
	if got, _ := smoothedAt(h.a.train.norm, 2, h.a.train.smoothing); got != want {
		t.Errorf("smoothed value at step 2: %g, the debiased EMA %g", got, want)
	}
	// the loss per noise level: one curve per bin, the readout gives each
	h.key("m")
	v = h.view()
	if !strings.Contains(v, "per noise level") || !strings.Contains(v, "σ≤") || len(h.a.train.sigma) != core.SigmaBinCount {
		t.Errorf("m: the loss per noise level:\n%s", v)
	}
	h.key("m", "l")
	if !h.a.train.logY || !strings.Contains(h.view(), "log y") {
		t.Error("l: log y")
	}
	// the CSV of the window: its steps only, every column
	h.key("w")
	var path string
	h.pump("the CSV", 10*time.Second, func() bool {
		if i := strings.Index(h.a.train.status, "written: "); i >= 0 {
			path = h.a.train.status[i+len("written: "):]
		}
		return path != ""
	})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := strings.Join(recs[0], ",")
	for _, col := range []string{"step", "loss", "norm_loss", "smoothed_norm_loss", "lr", "images_per_s", "sample_fd", "norm_loss_sigma_"} {
		if !strings.Contains(head, col) {
			t.Errorf("the CSV header lacks %s: %s", col, head)
		}
	}
	lo3, hi3, _ = h.a.train.win.window(1, 1001)
	first, _ := strconv.Atoi(recs[1][0])
	last, _ := strconv.Atoi(recs[len(recs)-1][0])
	if float64(first) < lo3 || float64(last) > hi3 || len(recs)-1 < int(hi3-lo3) {
		t.Errorf("the CSV holds steps %d..%d (%d rows); the window is %g..%g", first, last, len(recs)-1, lo3, hi3)
	}
	// f: the whole run again
	h.key("f")
	if _, _, zoomed := h.a.train.win.window(1, 1001); zoomed {
		t.Error("f should show the whole run")
	}
}

// TestChartViewClamps: zooming out past the run shows all of it; a window never leaves the
// run; the cursor pans the window to stay inside it.
func TestChartViewClamps(t *testing.T) {
	var v chartView
	v = v.zoom(0, 100, 0.5)
	if lo, hi, z := v.window(0, 100); !z || lo != 50 || hi != 100 {
		t.Errorf("zoom in: %g..%g %v", lo, hi, z)
	}
	for range 10 {
		v = v.pan(0, 100, -1)
	}
	if lo, hi, _ := v.window(0, 100); lo != 0 || hi != 50 {
		t.Errorf("panned far left: %g..%g, want 0..50", lo, hi)
	}
	v = v.moveCursor(0, 100, 0)
	v = v.moveCursor(0, 100, 30)
	if lo, hi, _ := v.window(0, 100); v.cursor != 80 || hi != 80 || lo != 30 {
		t.Errorf("a cursor past the window's end pans it: cursor %g, window %g..%g", v.cursor, lo, hi)
	}
	v = v.zoom(0, 100, 4)
	if _, _, z := v.window(0, 100); z {
		t.Error("zooming out past the run should show all of it")
	}
	if v = v.zoom(0, 3, 0.5); v.hi-v.lo > minWindow+1e-9 && v.windowed() {
		t.Errorf("a window narrower than %d steps: %+v", minWindow, v)
	}
}

// gridWith is a grid picture of one colour and a width.
func gridWith(w int, c color.Color) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, 20))
	for y := range 20 {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	return img
}

// TestSampleHistory scrubs a run's periodic grids (RUN/samples/step-N.png) with the keys,
// shows the step, puts two steps side by side, and keeps the user's chain apart; a new
// grid does not pull the view away from a step being looked at.
func TestSampleHistory(t *testing.T) {
	run := makeRun(t, 3)
	cols := map[int]color.Color{100: color.RGBA{255, 0, 0, 255}, 200: color.RGBA{0, 255, 0, 255}, 300: color.RGBA{0, 0, 255, 255}}
	for step, c := range cols {
		if err := sampling.WritePNG(core.GridPath(run, step), gridWith(step/10, c)); err != nil {
			t.Fatal(err)
		}
	}
	h := newHarness(t, Options{Watch: run, StartPane: "samples"})
	h.pump("the newest grid and the history", 10*time.Second, func() bool {
		return h.a.samples.grid.ok() && len(h.a.samples.history) == 3
	})
	shownWidth := func() int { return h.a.samples.shown().img.Bounds().Dx() }
	if h.a.samples.currentStep() != 300 || shownWidth() != 30 || !strings.Contains(h.view(), "periodic grid of step 300 (3 of 3)") {
		t.Fatalf("the newest grid: step %d, width %d:\n%s", h.a.samples.currentStep(), shownWidth(), h.view())
	}
	h.key("left")
	h.pump("step 200", 5*time.Second, func() bool { return h.a.samples.shown().ok() && shownWidth() == 20 })
	if v := h.view(); !strings.Contains(v, "sample history: periodic grid of step 200 (2 of 3)") {
		t.Errorf("scrubbed to 200:\n%s", v)
	}
	h.key("home")
	h.pump("step 100", 5*time.Second, func() bool { return h.a.samples.shown().ok() && shownWidth() == 10 })
	// side by side: 100 pinned, then scrub the right one to 300
	h.key("c", "end")
	if h.a.samples.pinned != 100 {
		t.Fatalf("pinned %d", h.a.samples.pinned)
	}
	h.pump("the side-by-side", 5*time.Second, func() bool { return h.a.samples.shown().ok() })
	img := h.a.samples.shown().img
	if w := img.Bounds().Dx(); w != 10+4+30 {
		t.Errorf("the side-by-side is %d wide, want 10 + gap 4 + 30", w)
	}
	if r, _, _, _ := img.At(2, 2).RGBA(); r>>8 != 255 {
		t.Error("the left of the side-by-side is not step 100")
	}
	if _, _, b, _ := img.At(10+4+2, 2).RGBA(); b>>8 != 255 {
		t.Error("the right of the side-by-side is not step 300")
	}
	if v := h.view(); !strings.Contains(v, "side by side: step 100 | step 300") {
		t.Errorf("caption:\n%s", v)
	}
	h.key("c", "left")
	h.pump("step 200 again", 5*time.Second, func() bool { return h.a.samples.shown().ok() && shownWidth() == 20 })
	// a new grid arrives while step 200 is looked at: it stays, and the pane says so
	h.a.samples, _ = h.a.samples.update(h.a.s, runEventsMsg{events: []core.Event{core.SampleEvent{Step: 400, Image: gridWith(40, color.White)}}})
	if h.a.samples.currentStep() != 200 || !strings.Contains(h.view(), "new periodic grid, step 400: end shows it") {
		t.Errorf("a new grid pulled the view from step 200 to %d:\n%s", h.a.samples.currentStep(), h.view())
	}
	// the chain view is apart: g shows the (empty) chain, not a grid
	h.key("g")
	if h.a.samples.shown().ok() {
		t.Error("g should show the user's chain, which is none yet")
	}
}

// TestEnergyPane computes the energies of the test images, the newest periodic samples
// and an OOD set as a job, and draws their histograms.
func TestEnergyPane(t *testing.T) {
	run := makeRun(t, 4)
	cfg, err := core.ReadRunConfig(run)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Model
	imgs := make([]float32, cfg.SampleCount*c.Dim())
	for i := range imgs {
		imgs[i] = float32(i%13) / 13
	}
	g, _ := sampling.Grid(imgs, cfg.SampleCount, c.InChannels, c.ImageSize, c.ImageSize, 0, 2)
	if err := sampling.WritePNG(core.GridPath(run, 4), g); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Options{Watch: run, StartPane: "energy"})
	h.pump("the run", 10*time.Second, func() bool { return h.a.s.run != nil })
	for h.a.energy.oodName(h.a.s) != core.OODNoise {
		h.key("o")
	}
	h.key("enter")
	h.pump("the energies", 60*time.Second, func() bool { return h.a.energy.have && h.a.energy.last.Done })
	if err := h.a.energy.last.Err; err != nil {
		t.Fatal(err)
	}
	v := h.view()
	for _, want := range []string{"━ test", "━ samples", "━ noise", "AUROC (OOD vs test)", "grid of step 4", "energy"} {
		if !strings.Contains(v, want) {
			t.Errorf("the Energy pane lacks %q:\n%s", want, v)
		}
	}
	series, _ := h.a.energy.histograms(h.a.s.st)
	for _, s := range series { // densities: each histogram integrates to the share in range
		area := 0.0
		for i := 0; i+1 < len(s.Points); i += 2 {
			area += s.Points[i].Y * (s.Points[i+1].X - s.Points[i].X)
		}
		if area < 0.5 || area > 1+1e-9 {
			t.Errorf("histogram %s integrates to %g", s.Name, area)
		}
	}
}

// TestScreenshot: W saves the screen as a PNG: the cells at the renderer's cell size and
// the pane's picture drawn at its place.
func TestScreenshot(t *testing.T) {
	run := makeRun(t, 2)
	if err := sampling.WritePNG(core.GridPath(run, 2), markerGrid()); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Options{Watch: run, StartPane: "samples"})
	h.send(tea_WindowSize(100, 30))
	h.pump("the grid", 10*time.Second, func() bool { return h.a.samples.grid.ok() })
	h.key("W")
	var path string
	h.pump("the PNG", 20*time.Second, func() bool {
		for _, l := range h.a.s.log {
			if i := strings.Index(l.text, "screen PNG written: "); i >= 0 {
				path = l.text[i+len("screen PNG written: "):]
			}
		}
		return path != ""
	})
	if filepath.Dir(path) != filepath.Join(run, "exports") {
		t.Errorf("saved as %s, want under RUN/exports", path)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	cw, ch := shot.CellSize()
	if b := img.Bounds(); b.Dx() != 100*cw || b.Dy() != 30*ch {
		t.Errorf("PNG %v, want %dx%d", b, 100*cw, 30*ch)
	}
	sl, _ := h.a.samples.slot(h.a.s, 100, 26)
	red := 0
	for y := (sl.r.y + headerRows) * ch; y < (sl.r.y+headerRows+sl.r.h)*ch; y++ {
		for x := sl.r.x * cw; x < (sl.r.x+sl.r.w)*cw; x++ {
			if r, g, b, _ := img.At(x, y).RGBA(); r>>8 > 200 && g>>8 < 60 && b>>8 < 60 {
				red++
			}
		}
	}
	if red < 100 {
		t.Errorf("the grid's red marker has %d pixels in the picture's place", red)
	}
}

// TestMouse: with the mouse on, a click on a tab shows its pane and a click on a row of
// the Runs pane selects it (on the mark column, marks it).
func TestMouse(t *testing.T) {
	root := t.TempDir()
	fakeRunDir(t, root, "one", tinyConfig(), 3)
	fakeRunDir(t, root, "two", tinyConfig(), 3)
	h := newHarness(t, Options{RunsRoot: root, Mouse: true})
	if h.a.View().MouseMode != tea.MouseModeCellMotion {
		t.Fatal("the mouse is not on")
	}
	_, spans := h.a.tabLayout()
	h.send(tea.MouseClickMsg{X: spans[paneRuns][0] + 1, Y: 0, Button: tea.MouseLeft})
	if h.a.active != paneRuns {
		t.Fatalf("a click on the Runs tab shows pane %d", h.a.active)
	}
	h.pump("the list", 10*time.Second, func() bool { return len(h.a.runs.runs) == 2 })
	h.send(tea.MouseClickMsg{X: 10, Y: headerRows + runsTableTop + 1, Button: tea.MouseLeft})
	if h.a.runs.cursor != 1 {
		t.Errorf("a click on the second row: cursor %d", h.a.runs.cursor)
	}
	h.send(tea.MouseClickMsg{X: 0, Y: headerRows + runsTableTop, Button: tea.MouseLeft})
	if len(h.a.runs.marks) != 1 || len(h.a.s.overlays) != 1 {
		t.Errorf("a click on the mark column: marks %v", h.a.runs.marks)
	}
	if h2 := newHarness(t, Options{}); h2.a.View().MouseMode != tea.MouseModeNone {
		t.Error("the mouse is on without Options.Mouse")
	}
}

// headlessTrainer starts a trainer of tinyConfig as `mdsm train` runs it (its events
// drained), stopped at the test's end; done closes when its events end.
func headlessTrainer(t *testing.T) (tr *core.Trainer, dir string, done chan struct{}) {
	t.Helper()
	cfg := tinyConfig()
	ds, err := core.LoadTrainingData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(t.TempDir(), "run")
	tr, err = core.NewTrainer(cfg, ds, dir)
	if err != nil {
		t.Fatal(err)
	}
	tr.Start()
	done = make(chan struct{})
	go func() {
		defer close(done)
		for range tr.Events() {
		}
	}()
	t.Cleanup(func() { tr.Stop(); <-done })
	return tr, dir, done
}

// TestWatcherSteersAHeadlessTrainer drives a trainer that runs as `mdsm train` runs it
// (core.Trainer, its own process in real life) through every control from a watching
// workbench: pause, a kept checkpoint while paused, a new total, resume and stop. Each
// key goes through the run's control channel; the trainer acts and the watcher sees it.
func TestWatcherSteersAHeadlessTrainer(t *testing.T) {
	tr, dir, done := headlessTrainer(t)
	h := newHarness(t, Options{Watch: dir})
	h.pump("training", 30*time.Second, func() bool { return h.a.s.status == statusRunning && h.a.s.step >= 3 })

	h.key("p")
	h.pump("paused", 10*time.Second, func() bool { return h.a.s.status == statusPaused })
	if st := tr.State(); st != core.Paused {
		t.Fatalf("the trainer is %v after p in the watcher", st)
	}
	paused := tr.Step()
	h.key("c")
	h.pump("the kept checkpoint", 10*time.Second, func() bool { return h.a.s.ckptStep == paused })
	h.key("T")
	for range 12 {
		h.key("backspace")
	}
	h.typeText(strconv.Itoa(paused + 5))
	h.key("enter")
	h.pump("the new total", 10*time.Second, func() bool { return h.a.s.totalSteps() == paused+5 })
	if c := tr.Config(); c.Steps != paused+5 {
		t.Errorf("the trainer's total is %d, want %d", c.Steps, paused+5)
	}
	if tr.Step() != paused {
		t.Errorf("steps moved while paused: %d -> %d", paused, tr.Step())
	}
	h.key("p")
	h.pump("the run to its new end", 30*time.Second, func() bool { return h.a.s.status == statusFinished && h.a.s.step == paused+5 })
	<-done
	if tr.State() != core.Finished {
		t.Errorf("the trainer ended %v", tr.State())
	}
	for _, want := range []string{"trainer (pid", "pause: pausing after step", "checkpoint: checkpoint after the current step", "steps: total steps set to"} {
		found := false
		for _, l := range h.a.s.log {
			found = found || strings.Contains(l.text, want)
		}
		if !found {
			t.Errorf("the event log lacks the trainer's answer %q", want)
		}
	}
}

// TestWatcherStopsAHeadlessTrainer: x in the watcher stops the trainer with a checkpoint.
func TestWatcherStopsAHeadlessTrainer(t *testing.T) {
	tr, dir, done := headlessTrainer(t)
	h := newHarness(t, Options{Watch: dir})
	h.pump("training", 30*time.Second, func() bool { return h.a.s.status == statusRunning && h.a.s.step >= 2 })
	h.key("x")
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the trainer did not stop")
	}
	h.pump("stopped", 10*time.Second, func() bool { return h.a.s.status == statusStopped })
	if ck, _, err := core.LoadLatestCheckpoint(dir); err != nil || ck.State.Step != tr.Step() {
		t.Errorf("the stop's checkpoint: %v; trainer at %d", err, tr.Step())
	}
}

// TestLiveNewTotal: T sets the total of the run this workbench trains, which then ends at
// it.
func TestLiveNewTotal(t *testing.T) {
	h := newHarness(t, Options{RunDir: filepath.Join(t.TempDir(), "run")})
	h.key("s")
	h.pump("steps", 30*time.Second, func() bool { return h.a.s.step >= 2 })
	h.key("T")
	for range 12 {
		h.key("backspace")
	}
	target := h.a.s.step + 6
	h.typeText(strconv.Itoa(target))
	h.key("enter")
	h.pump("the end at the new total", 30*time.Second, func() bool { return h.a.s.status == statusFinished })
	if h.a.s.step != target || h.a.s.totalSteps() != target {
		t.Errorf("finished at %d of %d, want %d", h.a.s.step, h.a.s.totalSteps(), target)
	}
}
