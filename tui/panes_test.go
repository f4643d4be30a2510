package tui

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mdsm/core"
	"mdsm/sampling"
	"mdsm/tui/termimg"
)

func TestTabsAndHelp(t *testing.T) {
	h := newHarness(t, Options{})
	if h.a.active != paneTrain {
		t.Fatalf("starts on pane %d, want Train", h.a.active)
	}
	for i, k := range []string{"1", "2", "3", "4", "5"} {
		h.key(k)
		if h.a.active != i {
			t.Errorf("key %s: active pane %d", k, h.a.active)
		}
	}
	h.key("?")
	v := h.view()
	for _, b := range append(append(append(append(append(gk.list(), tk.list()...), ck.list()...), sk.list()...), shk.list()...), ik.list()...) {
		if !strings.Contains(v, b.Help().Desc) {
			t.Errorf("help lacks %q", b.Help().Desc)
		}
	}
	h.key("1") // keys do nothing under the overlay
	if h.a.active != paneInpaint {
		t.Error("pane changed under the help overlay")
	}
	h.key("esc")
	if h.a.showHelp || strings.Contains(h.view(), "Keys\n") {
		t.Error("esc should close help")
	}
	// status bar
	for _, want := range []string{"(new run)", "idle", "step 0/", "img/s", "images blocks"} {
		if !strings.Contains(h.view(), want) {
			t.Errorf("status bar lacks %q:\n%s", want, h.view())
		}
	}
}

func TestStartPaneOption(t *testing.T) {
	if _, err := New(Options{StartPane: "nope"}); err == nil {
		t.Error("an unknown pane should be an error")
	}
	h := newHarness(t, Options{StartPane: "schedule"})
	if h.a.active != paneSchedule {
		t.Errorf("active %d", h.a.active)
	}
}

func fieldIndex(t *testing.T, p *configurePane, name string) int {
	for i, f := range p.fields {
		if f.name == name {
			return i
		}
	}
	t.Fatalf("no field %s", name)
	return -1
}

func TestConfigureForm(t *testing.T) {
	h := newHarness(t, Options{})
	h.key("1")
	p := h.a.configure
	v := h.view()
	for _, want := range []string{"dataset", "preset", "sigma min", "sigma0", "learning rate", "batch", "micro-batch", "steps", "checkpoint every", "sample every", "seed", "run directory", "✓ valid"} {
		if !strings.Contains(v, want) {
			t.Errorf("form lacks %q", want)
		}
	}
	// move to steps and type garbage: a parse error next to the field
	steps := fieldIndex(t, p, "steps")
	for p.cursor != steps {
		h.key("down")
	}
	h.key("enter")
	if !p.capturing() {
		t.Fatal("enter should start editing")
	}
	h.key("2") // typed into the field, not a tab switch
	if h.a.active != paneConfigure {
		t.Fatal("keys must go to the text field while editing")
	}
	for range 10 {
		h.key("backspace")
	}
	h.typeText("abc")
	h.key("enter")
	if p.perr[steps] == "" || !strings.Contains(h.view(), `"abc" is not a whole number`) {
		t.Errorf("expected a parse error next to steps:\n%s", h.view())
	}
	// a value that parses but does not validate
	h.key("enter")
	for range 10 {
		h.key("backspace")
	}
	h.typeText("0")
	h.key("enter")
	if !strings.Contains(h.view(), "steps = 0: must be at least 1") {
		t.Errorf("expected the validation message next to steps:\n%s", h.view())
	}
	h.key("s") // not a tab key: Train's start must not fire from here...
	h.key("2", "s")
	if h.a.s.trainer != nil || h.a.s.state != "idle" {
		t.Error("training must not start with an invalid config")
	}
	h.key("1")
	h.key("enter")
	for range 10 {
		h.key("backspace")
	}
	h.typeText("123")
	h.key("enter")
	if h.a.s.cfg.Steps != 123 || !strings.Contains(h.view(), "✓ valid") {
		t.Errorf("steps = %d, view:\n%s", h.a.s.cfg.Steps, h.view())
	}
	// esc cancels an edit
	h.key("enter")
	h.typeText("999")
	h.key("esc")
	if h.a.s.cfg.Steps != 123 {
		t.Error("esc must not commit")
	}
	// choice field: right cycles the preset, which sets the widths
	pre := fieldIndex(t, p, "preset")
	for p.cursor != pre {
		h.key("up")
	}
	h.key("right")
	if h.a.s.cfg.Model.Preset == "test" || h.a.s.cfg.Model.Filters == 4 {
		t.Errorf("preset cycling did not apply a preset: %+v", h.a.s.cfg.Model)
	}
	// the NaN rollback switch (mdsm train --nan-rollback) is a choice too
	nr := fieldIndex(t, p, "nan_rollback")
	for p.cursor != nr {
		h.key("down")
	}
	h.key("right")
	if !h.a.s.cfg.NaNRollback || !strings.Contains(h.view(), "NaN rollback") {
		t.Error("right on NaN rollback should turn it on")
	}
	h.key("enter")
	for range 5 {
		h.key("backspace")
	}
	h.typeText("maybe")
	h.key("enter")
	if !strings.Contains(h.view(), `"maybe": choose on or off`) || !h.a.s.cfg.NaNRollback {
		t.Errorf("a bad NaN rollback value must be refused next to the field:\n%s", h.view())
	}
	h.key("esc")
	// D resets
	h.key("D")
	if h.a.s.cfg.Steps != core.DefaultRunConfig().Steps {
		t.Error("D should reset to the defaults")
	}
}

func TestConfigureRunDirAndSave(t *testing.T) {
	h := newHarness(t, Options{})
	h.key("1")
	p := h.a.configure
	rd := fieldIndex(t, p, runDirField)
	for p.cursor != rd {
		h.key("up")
	}
	dir := filepath.Join(t.TempDir(), "myrun")
	h.key("enter")
	h.typeText(dir)
	h.key("enter")
	h.key("2", "s")
	h.pump("trainer", 30*time.Second, func() bool { return h.a.s.trainer != nil })
	cfg, err := core.ReadRunConfig(dir)
	if err != nil {
		t.Fatalf("config.json not written to the run dir typed in the form: %v", err)
	}
	if cfg.Model.Filters != 4 {
		t.Errorf("saved config %+v", cfg.Model)
	}
	h.key("1", "enter")
	if p.capturing() || !strings.Contains(h.view(), "configuration is fixed") {
		t.Error("the form must be locked while a run exists")
	}
	h.key("N")
	if !strings.Contains(h.view(), "stop the current run first") {
		t.Error("N while training should refuse")
	}
	h.key("2", "x")
	h.pump("stopped", 30*time.Second, func() bool { return h.a.s.state == "stopped" })
	h.key("1", "N")
	if h.a.s.trainer != nil || h.a.s.runDir != "" || len(h.a.train.loss) != 0 {
		h.drain(100 * time.Millisecond)
	}
	if h.a.s.trainer != nil || h.a.s.runDir != "" {
		t.Error("N should forget the stopped run")
	}
}

func TestScheduleEditing(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, Options{})
	h.a.s.runDir = dir // a run exists: edits are saved with it
	h.key("4")
	v := h.view()
	if !strings.Contains(v, "Temperature schedule") || !strings.Contains(v, "kind exp") {
		t.Fatalf("schedule pane:\n%s", v)
	}
	sp := h.a.schedule
	n := len(sp.points())
	h.key("tab")
	if sp.selected != 1 {
		t.Errorf("tab selects point 1, got %d", sp.selected)
	}
	h.key("shift+tab", "]", "[")
	if sp.selected != 0 {
		t.Errorf("selection %d", sp.selected)
	}
	t0 := sp.points()[0].T
	h.key("down")
	if got := sp.points()[0].T; !(got < t0) || h.a.s.schedule.Kind != sampling.KindPiecewise {
		t.Errorf("down should lower T (%g -> %g) and make the schedule piecewise", t0, got)
	}
	h.key("a")
	if len(sp.points()) != n+1 {
		t.Errorf("a: %d points, want %d", len(sp.points()), n+1)
	}
	f := sp.points()[sp.selected].Frac
	h.key("right")
	if sp.points()[sp.selected].Frac <= f {
		t.Error("right should move the point later")
	}
	h.key("d")
	if len(sp.points()) != n {
		t.Errorf("d: %d points", len(sp.points()))
	}
	steps := h.a.s.schedule.Steps
	h.key("S")
	if h.a.s.schedule.Steps <= steps {
		t.Error("S should add steps")
	}
	h.key("s")
	h.key("s")
	if h.a.s.schedule.Steps >= steps {
		t.Error("s should remove steps")
	}
	eps := h.a.s.eps
	h.key("E")
	if h.a.s.eps <= eps {
		t.Error("E should raise eps")
	}
	h.key("L")
	if h.a.s.schedule.Kind != sampling.KindLin {
		t.Error("L should select the lin preset")
	}
	peak := h.a.s.schedule.Peak()
	h.key("T")
	if h.a.s.schedule.Peak() <= peak {
		t.Error("T should raise the start temperature")
	}
	h.key("e")
	if h.a.s.schedule.Kind != sampling.KindExp {
		t.Error("e should select exp")
	}
	if err := h.a.s.langevin().Validate(); err != nil {
		t.Error(err)
	}
	h.pump("saved schedule", 5*time.Second, func() bool {
		sch, _, err := loadSchedule(dir)
		return err == nil && sch.Kind == sampling.KindExp
	})
	h.key("w")
	h.pump("save message", 5*time.Second, func() bool { return strings.Contains(h.view(), "saved ") })
	// deleting down to one point, then the last one is refused
	for range 10 {
		h.key("d")
	}
	if len(sp.points()) != 1 || !strings.Contains(h.view(), "cannot delete the only control point") {
		t.Errorf("points %d:\n%s", len(sp.points()), h.view())
	}
}

func TestSamplesLiveChainCancelAndSave(t *testing.T) {
	run := makeRun(t, 4)
	h := newHarness(t, Options{Watch: run, StartPane: "samples"})
	shortSchedule(h, 40)
	sp := h.a.samples
	sp.every.Store(5)
	sp.nChains = 4
	h.key("n")
	if !sp.running {
		t.Fatalf("n should start a chain: %s", sp.status)
	}
	h.pump("progress", 30*time.Second, func() bool { return sp.step >= 5 && sp.pic.ok() && len(sp.trace) >= 5 })
	if !strings.Contains(h.view(), "live chain") {
		t.Errorf("caption should say live chain:\n%s", h.view())
	}
	h.pump("done", 60*time.Second, func() bool { return !sp.running })
	if sp.step != 40 || !strings.Contains(h.view(), "4 samples, 40 steps") {
		t.Errorf("step %d:\n%s", sp.step, h.view())
	}
	if len(sp.trace) != 40 || sp.trace[39].T != 0 {
		t.Errorf("trace %d points", len(sp.trace))
	}
	// w saves the grid
	h.key("w")
	h.pump("saved", 10*time.Second, func() bool { return strings.HasPrefix(sp.status, "saved ") })
	path := strings.TrimPrefix(sp.status, "saved ")
	if _, err := os.Stat(path); err != nil || !strings.HasPrefix(path, filepath.Join(run, "samples")) {
		t.Errorf("saved %q: %v", path, err)
	}
	// a long chain is cancelled by esc
	shortSchedule(h, 100000)
	sp.every.Store(1)
	h.key("n")
	h.pump("running", 30*time.Second, func() bool { return sp.step >= 1 })
	h.key("esc")
	h.pump("cancelled", 10*time.Second, func() bool { return !sp.running })
	if !strings.Contains(sp.status, "cancelled") {
		t.Errorf("status %q", sp.status)
	}
	// +/- and [/]
	h.key("+")
	if sp.every.Load() != 2 {
		t.Errorf("every %d", sp.every.Load())
	}
	h.key("]")
	if sp.nChains != 8 {
		t.Errorf("chains %d", sp.nChains)
	}
}

func TestSamplesNeedWeights(t *testing.T) {
	h := newHarness(t, Options{StartPane: "samples"})
	h.key("n")
	if h.a.samples.running || !strings.Contains(h.view(), "no model yet") {
		t.Errorf("n without a model should explain:\n%s", h.view())
	}
}

func TestWatchFollowsRun(t *testing.T) {
	run := makeRun(t, 5)
	grid := image.NewGray(image.Rect(0, 0, 20, 20))
	if err := sampling.WritePNG(filepath.Join(run, "samples", "step-00000005.png"), grid); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Options{Watch: run})
	h.pump("metrics", 10*time.Second, func() bool { return len(h.a.train.loss) == 5 })
	h.pump("sample grid", 10*time.Second, func() bool { return h.a.samples.pic.ok() })
	if !h.a.s.watch || h.a.s.step != 5 || h.a.s.lastCkptStep != 5 {
		t.Errorf("watch state: step %d ckpt %d", h.a.s.step, h.a.s.lastCkptStep)
	}
	v := h.view()
	for _, want := range []string{"watch:", "step 5/5", run} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	// a partial line is not read until it is complete
	f, err := os.OpenFile(filepath.Join(run, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(`{"step":6,"loss":1.5,"norm_loss":0,"lr":0.001,"images_per_s":10,"elapsed_s":1,"time":"x"`)
	h.drain(200 * time.Millisecond)
	if len(h.a.train.loss) != 5 {
		t.Fatalf("a partial line was parsed")
	}
	f.WriteString("}\n")
	h.pump("new line", 5*time.Second, func() bool { return len(h.a.train.loss) == 6 })
	// training keys are refused
	h.key("s", "x", "p")
	if h.a.s.trainer != nil {
		t.Error("watch mode must not train")
	}
	if !strings.Contains(h.view(), "trained by another process") {
		t.Errorf("expected a read-only note:\n%s", h.view())
	}
}

// TestWatchShowsRanks: a distributed run's metrics give the Train pane its world size and
// the ranks' rates.
func TestWatchShowsRanks(t *testing.T) {
	run := makeRun(t, 2)
	f, err := os.OpenFile(filepath.Join(run, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"step":3,"loss":1.5,"norm_loss":0,"lr":0.001,"images_per_s":1190,"elapsed_s":1,"time":"x","world_size":2,"rank_images_per_s":[610,605]}` + "\n")
	f.Close()
	h := newHarness(t, Options{Watch: run})
	h.pump("metrics", 10*time.Second, func() bool { return h.a.s.step == 3 })
	if v := h.view(); !strings.Contains(v, "(2 ranks: 610 605 img/s)") {
		t.Errorf("the Train pane should show the ranks' rates:\n%s", v)
	}
}

func TestInpaintAndDenoise(t *testing.T) {
	run := makeRun(t, 4)
	h := newHarness(t, Options{Watch: run})
	shortSchedule(h, 20)
	h.key("5")
	ip := h.a.inpaint
	h.pump("test images", 20*time.Second, func() bool { return ip.test != nil && ip.pic.ok() })
	if !strings.Contains(h.view(), "center mask") {
		t.Errorf("view:\n%s", h.view())
	}
	first := ip.pic.id
	h.key("right")
	if ip.index != inpaintRows || ip.pic.id == first {
		t.Error("right should pick the next test images and refresh the preview")
	}
	h.key("left")
	if ip.index != 0 {
		t.Errorf("index %d", ip.index)
	}
	h.key("enter")
	h.pump("inpainted", 60*time.Second, func() bool { return !ip.running })
	if !strings.Contains(h.view(), "masked MSE") {
		t.Errorf("view:\n%s", h.view())
	}
	b := ip.pic.img.Bounds()
	if b.Dx() <= b.Dy()/2 {
		t.Errorf("picture %v should be three columns wide", b)
	}
	for ip.mode != len(inpaintModes)-1 {
		h.key("m")
	}
	h.key("+")
	if ip.sigma <= 0.3 {
		t.Error("+ should raise the noise")
	}
	h.key("enter")
	h.pump("denoised", 60*time.Second, func() bool { return !ip.running })
	if !strings.Contains(h.view(), "PSNR") {
		t.Errorf("view:\n%s", h.view())
	}
}

// TestSixelPlacement checks the out-of-band image path: blank cells in the view, the
// image sent with tea.Raw after the frame (save cursor, move, sixel, restore), removed
// when an overlay opens and sent again when it closes, and not re-sent when nothing
// changed.
func TestSixelPlacement(t *testing.T) {
	h := newHarness(t, Options{Protocol: termimg.ProtoSixel, Caps: termimg.Caps{Cell: termimg.CellSize{W: 8, H: 16}, CellKnown: true}, StartPane: "samples"})
	img := image.NewRGBA(image.Rect(0, 0, 60, 60))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	h.send(pictureLoadedMsg{target: "samples", path: "x.png", pic: newPicture(img)})
	h.pump("placed", 5*time.Second, func() bool { return len(h.raw) == 1 })
	seq := h.raw[0]
	r, _ := h.a.samples.layout(h.a.bodySize())
	wantMove := "\x1b7\x1b[" + itoa(r.y+headerRows+1) + ";" + itoa(r.x+1) + "H\x1bP"
	if !strings.HasPrefix(seq, wantMove) || !strings.HasSuffix(seq, "\x1b8") {
		t.Fatalf("placement %q… does not start with %q", seq[:min(len(seq), 30)], wantMove)
	}
	// the view leaves the cells blank
	lines := strings.Split(h.view(), "\n")
	row := lines[r.y+headerRows]
	if strings.TrimSpace(row[:r.w]) != "" {
		t.Errorf("picture row is not blank: %q", row[:r.w])
	}
	// nothing changes: nothing is sent
	h.key("+")
	h.drain(150 * time.Millisecond)
	if len(h.raw) != 1 {
		t.Errorf("image re-sent without a change (%d)", len(h.raw))
	}
	// a new picture in the same place is sent without a repaint (no flicker)
	clears := h.clears
	h.send(pictureLoadedMsg{target: "samples", path: "y.png", pic: newPicture(img)})
	h.pump("new picture", 5*time.Second, func() bool { return len(h.raw) == 2 })
	h.drain(100 * time.Millisecond)
	if h.clears != clears {
		t.Error("replacing the picture in place must not repaint the screen")
	}
	h.raw = h.raw[:1]
	// help overlay clears it; closing sends it again
	h.key("?")
	if h.clears == 0 {
		h.drain(50 * time.Millisecond)
	}
	if h.clears == 0 {
		t.Error("opening help should repaint the screen to wipe the image")
	}
	h.drain(150 * time.Millisecond)
	if len(h.raw) != 1 {
		t.Error("no image must be drawn over the help overlay")
	}
	h.key("esc")
	h.pump("re-placed", 5*time.Second, func() bool { return len(h.raw) == 2 })
	// another pane: cleared; resize: placed again
	h.key("2")
	h.drain(150 * time.Millisecond)
	if len(h.raw) != 2 {
		t.Error("image drawn on a pane without a picture")
	}
	h.key("3")
	h.pump("back", 5*time.Second, func() bool { return len(h.raw) == 3 })
	h.send(tea_WindowSize(150, 40))
	h.pump("after resize", 5*time.Second, func() bool { return len(h.raw) == 4 })
}

func TestBlocksRenderedInView(t *testing.T) {
	h := newHarness(t, Options{Protocol: termimg.ProtoBlocks, StartPane: "samples"})
	img := image.NewGray(image.Rect(0, 0, 30, 30))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	h.send(pictureLoadedMsg{target: "samples", path: "x.png", pic: newPicture(img)})
	h.pump("blocks", 5*time.Second, func() bool { return strings.Contains(h.view(), "▀") })
	if len(h.raw) != 0 {
		t.Error("blocks must not be sent out of band")
	}
}

func TestNoImagesPlaceholder(t *testing.T) {
	h := newHarness(t, Options{Protocol: termimg.ProtoNone, StartPane: "samples"})
	h.send(pictureLoadedMsg{target: "samples", path: "x.png", pic: newPicture(image.NewGray(image.Rect(0, 0, 8, 8)))})
	if !strings.Contains(h.view(), "images are off") {
		t.Errorf("view:\n%s", h.view())
	}
}

func TestPollRunPartialLinesAndTruncation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "metrics.jsonl")
	os.WriteFile(path, []byte(`{"step":1,"loss":2}`+"\n"+`{"step":2,"lo`), 0o644)
	m := pollRun(watchState{dir: dir})
	if len(m.records) != 1 || m.next.offset != int64(len(`{"step":1,"loss":2}`)+1) {
		t.Fatalf("records %v offset %d", m.records, m.next.offset)
	}
	os.WriteFile(path, []byte(`{"step":1,"loss":3}`+"\n"), 0o644)
	m = pollRun(watchState{dir: dir, offset: 1000})
	if !m.reset || len(m.records) != 1 || m.records[0].Loss != 3 {
		t.Errorf("truncated file: %+v", m)
	}
}
