package tui

import (
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"charm.land/bubbles/v2/key"

	"mdsm/core"
	"mdsm/sampling"
	"mdsm/tui/termimg"
)

// helpText is everything the help overlay holds, scrolled through.
func helpText(h *harness) string {
	var all strings.Builder
	h.key("?", "home")
	for range 200 {
		all.WriteString(h.view())
		if !strings.Contains(h.view(), "more lines below") {
			break
		}
		h.key("pgdown")
	}
	return all.String()
}

func TestTabsAndHelp(t *testing.T) {
	h := newHarness(t, Options{})
	if h.a.active != paneTrain {
		t.Fatalf("starts on pane %d, want Train", h.a.active)
	}
	for i, k := range []string{"1", "2", "3", "4", "5", "6", "7"} {
		h.key(k)
		if h.a.active != i {
			t.Errorf("key %s: active pane %d", k, h.a.active)
		}
	}
	v := helpText(h)
	var all []key.Binding
	for _, l := range [][]key.Binding{gk.list(), tk.list(), ck.list(), sk.list(), shk.list(), ik.list(), rk.list(), ek.list()} {
		all = append(all, l...)
	}
	for _, b := range all {
		if !strings.Contains(v, b.Help().Desc) {
			t.Errorf("help lacks %q", b.Help().Desc)
		}
	}
	h.key("1") // keys do nothing under the overlay
	if h.a.active != paneEnergy {
		t.Error("pane changed under the help overlay")
	}
	h.key("esc")
	if h.a.showHelp || strings.Contains(h.view(), "Keys  ") {
		t.Error("esc should close help")
	}
	for _, want := range []string{"(new run)", "no run", "step 0/", "img/s", "images blocks"} {
		if !strings.Contains(h.view(), want) {
			t.Errorf("status bar lacks %q:\n%s", want, h.view())
		}
	}
}

// TestHelpScrollsAt80x24: at 80x24 the help does not fit; it opens at the asking pane's
// section, j/down/pgdown scroll it, and every section can be reached.
func TestHelpScrollsAt80x24(t *testing.T) {
	h := newHarness(t, Options{StartPane: "schedule"})
	h.send(tea_WindowSize(80, 24))
	h.key("?")
	v := h.view()
	if !strings.Contains(v, "4 Schedule") || !strings.Contains(v, "more lines below") {
		t.Fatalf("help should open at the Schedule section with more below:\n%s", v)
	}
	first := h.a.help.offset
	h.key("j")
	if h.a.help.offset != first+1 {
		t.Errorf("j: offset %d -> %d", first, h.a.help.offset)
	}
	h.key("down", "pgdown")
	if h.a.help.offset <= first+2 {
		t.Errorf("down and pgdown should scroll: offset %d", h.a.help.offset)
	}
	h.key("home")
	if v := h.view(); !strings.Contains(v, "Everywhere") || h.a.help.offset != 0 {
		t.Errorf("home should show the top:\n%s", v)
	}
	h.key("end")
	if v := h.view(); !strings.Contains(v, "7 Energy") || strings.Contains(v, "more lines below") {
		t.Errorf("end should show the last section:\n%s", v)
	}
	for _, l := range strings.Split(h.view(), "\n") {
		if w := len([]rune(l)); w > 80 {
			t.Errorf("help line of %d cells: %q", w, l)
		}
	}
}

// TestHintBarKeepsHelpAndQuit: however many keys a pane has, the hint bar ends with
// "? help" and "q quit" at 80 columns, and never cuts an item in half.
func TestHintBarKeepsHelpAndQuit(t *testing.T) {
	h := newHarness(t, Options{})
	h.send(tea_WindowSize(80, 24))
	for _, k := range []string{"1", "2", "3", "4", "5"} {
		h.key(k)
		lines := strings.Split(h.view(), "\n")
		hint := lines[len(lines)-1]
		if !strings.HasSuffix(strings.TrimRight(hint, " "), "? help · q quit") || strings.Contains(hint, "…") {
			t.Errorf("pane %s: hint bar %q", k, hint)
		}
		if tabs := lines[0]; !strings.Contains(tabs, "? help") || !strings.Contains(tabs, "q quit") {
			t.Errorf("pane %s: tab row %q lacks ? help and q quit", k, tabs)
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

func fieldIndex(t *testing.T, p configurePane, name string) int {
	t.Helper()
	if name == runDirRow {
		return len(p.fields)
	}
	for i, f := range p.fields {
		if f.Name == name {
			return i
		}
	}
	t.Fatalf("no field %s", name)
	return -1
}

// moveTo moves the form's cursor to a row.
func moveTo(h *harness, row int) {
	for h.a.configure.cursor != row {
		h.key("down")
	}
}

// edit types text into a row of the form.
func edit(h *harness, row int, text string) {
	moveTo(h, row)
	h.key("enter")
	for range 40 {
		h.key("backspace")
	}
	h.typeText(text)
	h.key("enter")
}

// TestConfigureReachesEveryField: every row of core.RunFields is in the form, and editing
// it changes that field of the session's configuration (the same table makes the flags:
// cmd/mdsm's TestRunFlagsReachEveryField).
func TestConfigureReachesEveryField(t *testing.T) {
	h := newHarness(t, Options{Config: core.DefaultRunConfig()})
	h.key("1")
	if got, want := len(h.a.configure.fields), len(core.RunFields()); got != want {
		t.Fatalf("form has %d field rows, the table %d", got, want)
	}
	for i, f := range core.RunFields() {
		ex := f.Example()
		edit(h, i, ex)
		if g := f.Get(h.a.s.cfg); g != ex && g != ex+"+custom" {
			t.Errorf("row %s: typed %q, the session's config has %q", f.Name, ex, g)
		}
		h.key("D") // back to the defaults for the next field
	}
}

func TestConfigureForm(t *testing.T) {
	h := newHarness(t, Options{})
	h.key("1")
	v := h.view()
	for _, want := range []string{"dataset", "preset", "sigma min", "sigma0", "learning rate", "Adam beta1", "batch", "✓ valid"} {
		if !strings.Contains(v, want) {
			t.Errorf("form lacks %q", want)
		}
	}
	// a parse error next to the field
	steps := fieldIndex(t, h.a.configure, "steps")
	moveTo(h, steps)
	h.key("enter")
	if !h.a.configure.capturing() {
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
	if h.a.configure.perr[steps] == "" || !strings.Contains(h.view(), `"abc" is not a whole number`) {
		t.Errorf("expected a parse error next to steps:\n%s", h.view())
	}
	// a value that parses but does not validate
	edit(h, steps, "0")
	if !strings.Contains(h.view(), "steps = 0: must be at least 1") {
		t.Errorf("expected the validation message next to steps:\n%s", h.view())
	}
	h.key("2", "s")
	if h.a.s.run != nil || h.a.s.status != statusNoRun || !strings.Contains(h.view(), "configuration is invalid") {
		t.Errorf("training must not start with an invalid config:\n%s", h.view())
	}
	h.key("1")
	edit(h, steps, "123")
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
	moveTo(h, fieldIndex(t, h.a.configure, "preset"))
	h.key("right")
	if h.a.s.cfg.Model.Preset == "test" || h.a.s.cfg.Model.Filters == 4 {
		t.Errorf("preset cycling did not apply a preset: %+v", h.a.s.cfg.Model)
	}
	nr := fieldIndex(t, h.a.configure, "nan_rollback")
	moveTo(h, nr)
	h.key("right")
	if !h.a.s.cfg.NaNRollback {
		t.Error("right on NaN rollback should turn it on")
	}
	edit(h, nr, "maybe")
	if !strings.Contains(h.view(), `"maybe": choose on or off`) || !h.a.s.cfg.NaNRollback {
		t.Errorf("a bad NaN rollback value must be refused next to the field:\n%s", h.view())
	}
	h.key("D")
	if h.a.s.cfg.Steps != core.DefaultRunConfig().Steps {
		t.Error("D should reset to the defaults")
	}
}

// TestConfigureScrollsWithIndicator: at 80x24 the form does not fit; it says how many
// rows are above and below, and the cursor row is always shown.
func TestConfigureScrollsWithIndicator(t *testing.T) {
	h := newHarness(t, Options{StartPane: "configure"})
	h.send(tea_WindowSize(80, 24))
	if v := h.view(); !strings.Contains(v, "more below") {
		t.Fatalf("no scroll indicator:\n%s", v)
	}
	for range h.a.configure.rows() - 1 {
		h.key("down")
		label := "run directory"
		if c := h.a.configure.cursor; c < len(h.a.configure.fields) {
			label = h.a.configure.fields[c].Label
		}
		if !strings.Contains(h.view(), "▸ "+label) {
			t.Fatalf("cursor row %q not shown:\n%s", label, h.view())
		}
	}
	if v := h.view(); !strings.Contains(v, "more above") {
		t.Errorf("no indicator of the rows above:\n%s", v)
	}
}

func TestConfigureRunDirAndLock(t *testing.T) {
	h := newHarness(t, Options{})
	h.key("1")
	dir := filepath.Join(t.TempDir(), "myrun")
	edit(h, fieldIndex(t, h.a.configure, runDirRow), dir)
	h.key("2", "s")
	h.pump("run", 30*time.Second, func() bool { return h.a.s.run != nil })
	cfg, err := core.ReadRunConfig(dir)
	if err != nil {
		t.Fatalf("config.json not written to the run dir typed in the form: %v", err)
	}
	if cfg.Model.Filters != 4 {
		t.Errorf("saved config %+v", cfg.Model)
	}
	h.key("1")
	moveTo(h, fieldIndex(t, h.a.configure, "preset"))
	h.key("enter")
	if h.a.configure.capturing() || !strings.Contains(h.view(), "configuration is fixed") {
		t.Error("the form must be locked while a run exists")
	}
	if strings.Contains(h.view(), "‹") {
		t.Errorf("a locked form shows choice arrows:\n%s", h.view())
	}
	h.key("N")
	if !strings.Contains(h.view(), "stop the current run first") {
		t.Error("N while training should refuse")
	}
	h.key("2", "x")
	h.pump("stopped", 30*time.Second, func() bool { return h.a.s.status == statusStopped })
	h.key("1", "N")
	if h.a.s.run != nil || h.a.s.runDir != "" || len(h.a.train.loss) != 0 {
		t.Error("N should forget the stopped run")
	}
}

// scheduleSteps are the steps of the editor's control points.
func scheduleSteps(h *harness) []int {
	var out []int
	for _, cp := range h.a.schedule.points(h.a.s) {
		out = append(out, stepOf(cp.Frac, h.a.s.sampler.Schedule.Steps))
	}
	return out
}

func TestScheduleEditing(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, Options{})
	h.a.s.runDir = dir // a run exists: w saves with it
	h.key("4")
	v := h.view()
	if !strings.Contains(v, "Sampler") || !strings.Contains(v, "kind exp") {
		t.Fatalf("schedule pane:\n%s", v)
	}
	n := len(h.a.schedule.points(h.a.s))
	h.key("tab")
	if h.a.schedule.selected != 1 {
		t.Errorf("tab selects point 1, got %d", h.a.schedule.selected)
	}
	h.key("shift+tab", "]", "[")
	if h.a.schedule.selected != 0 {
		t.Errorf("selection %d", h.a.schedule.selected)
	}
	t0 := h.a.schedule.points(h.a.s)[0].T
	h.key("down")
	if got := h.a.schedule.points(h.a.s)[0].T; !(got < t0) || h.a.s.sampler.Schedule.Kind != sampling.KindPiecewise {
		t.Errorf("down should lower T (%g -> %g) and make the schedule piecewise", t0, got)
	}
	h.key("a")
	if len(h.a.schedule.points(h.a.s)) != n+1 {
		t.Errorf("a: %d points, want %d", len(h.a.schedule.points(h.a.s)), n+1)
	}
	h.key("d")
	if len(h.a.schedule.points(h.a.s)) != n {
		t.Errorf("d: %d points", len(h.a.schedule.points(h.a.s)))
	}
	steps := h.a.s.sampler.Schedule.Steps
	h.key("S")
	if h.a.s.sampler.Schedule.Steps <= steps {
		t.Error("S should add steps")
	}
	h.key("s", "s")
	if h.a.s.sampler.Schedule.Steps >= steps {
		t.Error("s should remove steps")
	}
	eps := h.a.s.sampler.Eps
	h.key("E")
	if h.a.s.sampler.Eps <= eps {
		t.Error("E should raise eps")
	}
	h.key("L")
	if h.a.s.sampler.Schedule.Kind != sampling.KindLin {
		t.Error("L should select the lin preset")
	}
	peak := h.a.s.sampler.Schedule.Peak()
	h.key("T")
	if h.a.s.sampler.Schedule.Peak() <= peak {
		t.Error("T should raise the start temperature")
	}
	h.key("e")
	if h.a.s.sampler.Schedule.Kind != sampling.KindExp {
		t.Error("e should select exp")
	}
	for range 10 {
		h.key("d")
	}
	if len(h.a.schedule.points(h.a.s)) != 1 || !strings.Contains(h.view(), "cannot delete the only control point") {
		t.Errorf("points %d:\n%s", len(h.a.schedule.points(h.a.s)), h.view())
	}
}

// TestScheduleEditorDefects: the exp preset's points are distinct (no pair on neighbouring
// steps), a move goes 2% of the steps and says where, a blocked move says so, a point is
// never added on an occupied step, the chart draws what is stored, and edits are saved
// only by w (in watch mode too), the pane saying when they are not.
func TestScheduleEditorDefects(t *testing.T) {
	run := makeRun(t, 2)
	h := newHarness(t, Options{Watch: run, StartPane: "schedule"})
	h.pump("followed", 10*time.Second, func() bool { return h.a.s.run != nil })
	h.a.s.sampler = core.DefaultRunConfig().SamplerConfig() // exp, 1000 steps
	steps := scheduleSteps(h)
	for i := 1; i < len(steps); i++ {
		if steps[i]-steps[i-1] < 2 {
			t.Errorf("exp preset points at steps %v: %d and %d are neighbours", steps, steps[i-1], steps[i])
		}
	}
	h.key("tab") // the plateau's end
	before := scheduleSteps(h)[1]
	h.key("l")
	if after := scheduleSteps(h)[1]; after-before != 20 || !strings.Contains(h.view(), "moved to step") {
		t.Errorf("l moved point 2 from step %d to %d, want +20 (2%% of 1000) with a message", before, after)
	}
	// move the last but one point against the last: it stops there and says why
	h.key("[", "[") // back to the last points
	for h.a.schedule.selected != len(scheduleSteps(h))-2 {
		h.key("tab")
	}
	for range 60 {
		h.key("l")
	}
	st := scheduleSteps(h)
	if st[len(st)-1]-st[len(st)-2] != 1 || !strings.Contains(h.view(), "cannot move that way") {
		t.Errorf("steps %v: the point should stop next to its neighbour, with a message", st)
	}
	// no room between them: a refuses, and no point is added
	n := len(st)
	h.key("a")
	if len(scheduleSteps(h)) != n || !strings.Contains(h.view(), "no free step") {
		t.Errorf("a between neighbours: %v", scheduleSteps(h))
	}
	// the chart is the stored schedule: a control point's temperature is the curve's there
	sch := h.a.s.sampler.Schedule
	for _, cp := range h.a.schedule.points(h.a.s) {
		k := stepOf(cp.Frac, sch.Steps)
		if got, _ := sch.At(k, 0); got != cp.T {
			t.Errorf("point at step %d has T %g, the stored schedule %g", k, cp.T, got)
		}
	}
	// nothing saved until w, in watch mode too
	if _, err := os.Stat(core.SamplerPath(run)); err == nil {
		t.Fatal("an edit saved RUN/sampler.json by itself")
	}
	if !strings.Contains(h.view(), "modified: w saves it") {
		t.Errorf("the pane should say the edits are not saved:\n%s", h.view())
	}
	h.key("w")
	h.pump("saved", 5*time.Second, func() bool { return h.a.s.samplerSaved })
	lc, saved, err := core.RunSampler(run, h.a.s.cfg)
	if err != nil || !saved || !samplerEqual(lc, h.a.s.sampler) {
		t.Errorf("RUN/sampler.json holds %+v (saved %v, %v), the workbench %+v", lc, saved, err, h.a.s.sampler)
	}
	if !strings.Contains(h.view(), "✓ saved") {
		t.Errorf("the pane should say saved:\n%s", h.view())
	}
}

func TestSamplesLiveChainCancelAndSave(t *testing.T) {
	run := makeRun(t, 4)
	h := newHarness(t, Options{Watch: run, StartPane: "samples"})
	h.pump("followed", 10*time.Second, func() bool { return h.a.s.run != nil })
	shortSchedule(h, 40)
	h.a.samples.every.Store(5)
	h.a.samples.nChains = 4
	h.key("n")
	if !h.a.samples.running {
		t.Fatalf("n should start a chain: %s", h.a.samples.status)
	}
	h.pump("progress", 30*time.Second, func() bool {
		sp := h.a.samples
		return sp.step >= 5 && sp.chain.ok() && len(sp.trace) >= 5
	})
	if !strings.Contains(h.view(), "your chain: denoised x") {
		t.Errorf("caption should say it is the chain:\n%s", h.view())
	}
	h.pump("done", 60*time.Second, func() bool { return !h.a.samples.running })
	sp := h.a.samples
	if sp.step != 40 || !strings.Contains(h.view(), "4 samples, 40 steps") {
		t.Errorf("step %d:\n%s", sp.step, h.view())
	}
	if len(sp.trace) != 40 || sp.trace[39].T != 0 {
		t.Errorf("trace %d points", len(sp.trace))
	}
	h.key("w")
	h.pump("saved", 10*time.Second, func() bool { return strings.HasPrefix(h.a.samples.status, "picture written: ") })
	path := strings.TrimPrefix(h.a.samples.status, "picture written: ")
	if _, err := os.Stat(path); err != nil || !strings.HasPrefix(filepath.Base(path), "chain-") || !strings.HasPrefix(path, filepath.Join(run, "samples")) {
		t.Errorf("saved %q: %v", path, err)
	}
	shortSchedule(h, 100000)
	h.a.samples.every.Store(1)
	h.key("n")
	h.pump("running", 30*time.Second, func() bool { return h.a.samples.step >= 1 })
	h.key("esc")
	h.pump("cancelled", 10*time.Second, func() bool { return !h.a.samples.running })
	if !strings.Contains(h.a.samples.status, "cancelled") {
		t.Errorf("status %q", h.a.samples.status)
	}
	h.key("+")
	if h.a.samples.every.Load() != 2 {
		t.Errorf("every %d", h.a.samples.every.Load())
	}
	h.key("]")
	if h.a.samples.nChains != 8 {
		t.Errorf("chains %d", h.a.samples.nChains)
	}
}

// TestSamplesKeepsChainAndGridApart: a periodic grid that arrives while the user's chain
// is shown does not replace it (the pane says a new grid came, g shows it), and the
// chain's energy chart is only beside the chain.
func TestSamplesKeepsChainAndGridApart(t *testing.T) {
	h := newHarness(t, Options{StartPane: "samples"})
	chainImg := image.NewGray(image.Rect(0, 0, 20, 20))
	h.a.samples.chain, h.a.samples.show = newPicture(chainImg), viewChain
	h.a.samples.trace = []sampling.TracePoint{{Step: 0, T: 10, MeanEnergy: 500}, {Step: 1, T: 1, MeanEnergy: -3}}
	chainID := h.a.samples.chain.id
	gridImg := image.NewGray(image.Rect(0, 0, 30, 30))
	h.a.samples, _ = h.a.samples.update(h.a.s, runEventsMsg{events: []core.Event{core.SampleEvent{Step: 500, Image: gridImg}}})
	if h.a.samples.shown().id != chainID || !h.a.samples.gridNew {
		t.Fatal("a periodic grid replaced the user's chain")
	}
	v := h.view()
	if !strings.Contains(v, "new periodic grid, step 500: g shows it") || !strings.Contains(v, "mean energy vs temperature") {
		t.Errorf("chain view:\n%s", v)
	}
	h.key("g")
	v = h.view()
	if h.a.samples.shown().id == chainID || !strings.Contains(v, "periodic grid of step 500") || strings.Contains(v, "mean energy vs temperature") {
		t.Errorf("g should show the grid, without the chain's chart:\n%s", v)
	}
	if strings.Contains(v, "(4 edits)") || !strings.Contains(v, "(edit: 4 Schedule)") {
		t.Errorf("the sampler line should say where to edit it:\n%s", v)
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
	h.pump("sample grid", 10*time.Second, func() bool { return h.a.samples.grid.ok() })
	h.pump("state", 10*time.Second, func() bool { return h.a.s.status == statusFinished })
	if !h.a.s.watch || h.a.s.step != 5 || h.a.s.ckptStep != 5 {
		t.Errorf("watch state: step %d ckpt %d", h.a.s.step, h.a.s.ckptStep)
	}
	v := h.view()
	for _, want := range []string{"watch: finished", "step 5/5", run} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
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
	// the training keys steer the process that trains the run; none does: they say so
	h.key("2", "s", "x", "p")
	if h.a.s.run.Live() {
		t.Error("watch mode must not train")
	}
	if !strings.Contains(h.view(), "no process trains") {
		t.Errorf("expected a note that no process trains the run:\n%s", h.view())
	}
	if !strings.Contains(helpText(h), "trained by another process: p, x, c and T ask it") {
		t.Error("the help should say where the training keys go in watch mode")
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
	h.pump("followed", 10*time.Second, func() bool { return h.a.s.run != nil })
	shortSchedule(h, 20)
	h.key("5")
	h.pump("test images", 20*time.Second, func() bool { return h.a.inpaint.test != nil && h.a.inpaint.pic.ok() })
	if !strings.Contains(h.view(), "center mask") {
		t.Errorf("view:\n%s", h.view())
	}
	first := h.a.inpaint.pic.id
	h.key("right")
	if h.a.inpaint.index != inpaintRows || h.a.inpaint.pic.id == first {
		t.Error("right should pick the next test images and refresh the preview")
	}
	h.key("left")
	if h.a.inpaint.index != 0 {
		t.Errorf("index %d", h.a.inpaint.index)
	}
	h.key("enter")
	h.pump("inpainted", 60*time.Second, func() bool { return !h.a.inpaint.running })
	if !strings.Contains(h.view(), "masked MSE") {
		t.Errorf("view:\n%s", h.view())
	}
	b := h.a.inpaint.pic.img.Bounds()
	if b.Dx() <= b.Dy()/2 {
		t.Errorf("picture %v should be three columns wide", b)
	}
	for core.RestoreModes()[h.a.inpaint.mode] != core.ModeDenoise {
		h.key("m")
	}
	h.key("+")
	if h.a.inpaint.sigma <= 0.3 {
		t.Error("+ should raise the noise")
	}
	h.key("enter")
	h.pump("denoised", 60*time.Second, func() bool { return !h.a.inpaint.running })
	if !strings.Contains(h.view(), "PSNR") {
		t.Errorf("view:\n%s", h.view())
	}
	h.key("w")
	h.pump("saved", 10*time.Second, func() bool { return strings.HasPrefix(h.a.inpaint.status, "picture written: ") })
	if p := strings.TrimPrefix(h.a.inpaint.status, "picture written: "); !strings.HasPrefix(filepath.Base(p), "denoise-") {
		t.Errorf("the denoising result was saved as %s", p)
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
	h.showGrid(img)
	h.pump("placed", 5*time.Second, func() bool { return len(h.raw) == 1 })
	seq := h.raw[0]
	bw, bh := h.a.bodySize()
	r, _ := h.a.samples.layout(h.a.s, bw, bh)
	wantMove := "\x1b7\x1b[" + itoa(r.y+headerRows+1) + ";" + itoa(r.x+1) + "H\x1bP"
	if !strings.HasPrefix(seq, wantMove) || !strings.HasSuffix(seq, "\x1b8") {
		t.Fatalf("placement %q… does not start with %q", seq[:min(len(seq), 30)], wantMove)
	}
	lines := strings.Split(h.view(), "\n")
	row := lines[r.y+headerRows]
	if strings.TrimSpace(row[:r.w]) != "" {
		t.Errorf("picture row is not blank: %q", row[:r.w])
	}
	h.key("+")
	h.drain(150 * time.Millisecond)
	if len(h.raw) != 1 {
		t.Errorf("image re-sent without a change (%d)", len(h.raw))
	}
	clears := h.clears
	h.showGrid(img)
	h.pump("new picture", 5*time.Second, func() bool { return len(h.raw) == 2 })
	h.drain(100 * time.Millisecond)
	if h.clears != clears {
		t.Error("replacing the picture in place must not repaint the screen")
	}
	h.raw = h.raw[:1]
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
	h.showGrid(img)
	h.pump("blocks", 5*time.Second, func() bool { return strings.Contains(h.view(), "▀") })
	if len(h.raw) != 0 {
		t.Error("blocks must not be sent out of band")
	}
}

func TestNoImagesPlaceholder(t *testing.T) {
	h := newHarness(t, Options{Protocol: termimg.ProtoNone, StartPane: "samples"})
	h.showGrid(image.NewGray(image.Rect(0, 0, 8, 8)))
	if !strings.Contains(h.view(), "images are off") {
		t.Errorf("view:\n%s", h.view())
	}
}

// TestKittyImagesAreDeletedByID: a kitty picture is transmitted and then shown at its cell;
// a new picture in its place is shown before the old one is deleted by id; an overlay
// deletes it; inside tmux every kitty command is wrapped in passthrough (an unwrapped
// delete becomes tmux's window title and the image stays).
func TestKittyImagesAreDeletedByID(t *testing.T) {
	for _, inTmux := range []bool{false, true} {
		h := newHarness(t, Options{Protocol: termimg.ProtoKitty, StartPane: "samples",
			Caps: termimg.Caps{Kitty: true, Tmux: inTmux, Cell: termimg.CellSize{W: 8, H: 16}, CellKnown: true}})
		img := image.NewGray(image.Rect(0, 0, 40, 40))
		h.showGrid(img)
		h.pump("placed", 5*time.Second, func() bool { return len(h.raw) == 1 })
		first := h.raw[0]
		if !strings.Contains(first, "a=t,f=100,i=") || !strings.Contains(first, "a=p,i=") {
			t.Fatalf("tmux %v: not a transmission and a placement: %q", inTmux, first[:min(80, len(first))])
		}
		id := h.a.img.kitty
		h.showGrid(img)
		h.pump("replaced", 5*time.Second, func() bool { return len(h.raw) == 2 })
		second := h.raw[1]
		del := fmt.Sprintf("a=d,d=I,i=%d,", id)
		if !strings.Contains(second, del) || strings.Index(second, del) < strings.Index(second, "a=p,") {
			t.Errorf("tmux %v: the old image %d is not deleted after the new one is shown: %q", inTmux, id, second[max(0, len(second)-120):])
		}
		h.key("?")
		h.drain(100 * time.Millisecond)
		if last := h.raw[len(h.raw)-1]; !strings.Contains(last, "a=d,d=I,i=") {
			t.Errorf("tmux %v: opening help should delete the picture, last raw %q", inTmux, last)
		}
		h.key("esc", "q")
		h.pump("quit", 5*time.Second, func() bool { return h.quit })
		if last := h.raw[len(h.raw)-1]; !strings.Contains(last, "a=d,d=A") {
			t.Errorf("tmux %v: quitting should delete every kitty image first, last raw %q", inTmux, last)
		}
		if inTmux {
			for i, r := range h.raw {
				if n, wrapped := strings.Count(r, "\x1b_G"), strings.Count(r, "\x1b\x1b_G"); n != wrapped {
					t.Errorf("raw %d: %d kitty commands, %d wrapped for tmux", i, n, wrapped)
				}
			}
		}
	}
}
