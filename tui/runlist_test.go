package tui

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"mdsm/core"
)

// fakeRunDir writes a run directory as a trainer leaves it (config.json, logged steps
// 1..logged with a falling loss), without training.
func fakeRunDir(t testing.TB, root, name string, cfg core.RunConfig, logged int) string {
	t.Helper()
	dir := filepath.Join(root, name)
	rd, err := core.CreateRunDir(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for s := 1; s <= logged; s++ {
		rec := core.MetricRecord{Step: s, Loss: 1e5 / float64(s), NormLoss: 100 / float64(s), LR: cfg.LR, ImagesPerSec: 1000,
			Elapsed: float64(s), Time: time.Now().UTC().Format(time.RFC3339Nano)}
		if err := rd.AppendMetrics(rec); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// row is the Runs pane's line of a run (its first field is the name, after the mark
// column's ● and ▸).
func row(h *harness, name string) string {
	for _, l := range strings.Split(h.view(), "\n") {
		f := strings.Fields(l)
		if slices.Contains(f, "state") { // the header
			continue
		}
		for len(f) > 0 && strings.Trim(f[0], "●▸") == "" {
			f = f[1:]
		}
		if len(f) > 0 && strings.TrimLeft(f[0], "●▸") == name {
			return l
		}
	}
	return ""
}

// TestRunsPane: the Runs pane lists the runs under its root with their state and numbers,
// sorts them, refreshes as a run logs new steps, lays the marked runs' losses over the
// Train pane's chart in distinct colours with a legend, compares their configurations
// (only the fields that differ), and opens a run to watch it.
func TestRunsPane(t *testing.T) {
	root := t.TempDir()
	a := tinyConfig()
	a.Steps = 40
	b := a
	b.LR, b.BatchSize = 3e-4, 16
	fakeRunDir(t, root, "alpha", a, 40)
	beta := fakeRunDir(t, root, "beta", b, 20)
	os.MkdirAll(filepath.Join(root, "gamma"), 0o777)
	os.WriteFile(filepath.Join(root, "gamma", "config.json"), []byte("{"), 0o666)

	h := newHarness(t, Options{RunsRoot: root, StartPane: "runs"})
	h.pump("the scan", 10*time.Second, func() bool { return len(h.a.runs.runs) == 3 })
	for name, want := range map[string][]string{"alpha": {"40/40", "finished", "2.5"}, "beta": {"20/40", "stopped", "5"}, "gamma": {"damaged"}} {
		for _, w := range want {
			if r := row(h, name); !strings.Contains(r, w) {
				t.Errorf("row of %s lacks %q: %q", name, w, r)
			}
		}
	}
	// sorted by name ascending: alpha, beta, gamma
	for h.a.runs.sortBy != 0 {
		h.key("o")
	}
	if h.a.runs.desc {
		h.key("O")
	}
	v := h.view()
	if i, j := strings.Index(v, " alpha "), strings.Index(v, " gamma "); i < 0 || j < i {
		t.Errorf("sorted by name: alpha before gamma:\n%s", v)
	}
	h.key("O")
	if v := h.view(); strings.Index(v, " gamma ") > strings.Index(v, " alpha ") {
		t.Errorf("O reverses the order:\n%s", v)
	}
	h.key("O")

	// mark alpha and beta: their curves are read and drawn over the Train pane's chart
	h.key("space", "j", "space")
	h.pump("the curves", 10*time.Second, func() bool {
		return len(h.a.s.overlays) == 2 && len(h.a.s.overlays[0].norm) == 40 && len(h.a.s.overlays[1].norm) == 20
	})
	if v := h.view(); !strings.Contains(v, "Marked runs") {
		t.Errorf("the Runs pane should chart the marked runs:\n%s", v)
	}
	h.key("2")
	legend := ""
	for _, l := range strings.Split(h.view(), "\n") {
		if strings.Contains(l, "━ alpha") {
			legend = l
		}
	}
	if !strings.Contains(legend, "━ beta") {
		t.Errorf("the Train pane's legend should name both runs:\n%s", h.view())
	}
	series := h.a.train.mainChart(h.a.s, 1, 40, false).Series
	if len(series) != 2 || series[0].Color == series[1].Color || series[0].Color == nil {
		t.Errorf("overlays need distinct colours: %+v", series)
	}

	// compare: only the fields that differ
	h.key("6", "c")
	v = h.view()
	for _, want := range []string{"learning rate", "0.002", "0.0003", "batch", "16"} {
		if !strings.Contains(v, want) {
			t.Errorf("the comparison lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "sigma min") || strings.Contains(v, "seed") {
		t.Errorf("the comparison shows fields that do not differ:\n%s", v)
	}

	// a run goes on: the next scan shows its new step, and its curve grows
	rd, err := os.OpenFile(filepath.Join(beta, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(rd, `{"step":21,"loss":1,"norm_loss":4.5,"lr":0.001,"images_per_s":7,"elapsed_s":1,"time":"x"}`+"\n")
	rd.Close()
	h.pump("the refresh", 10*time.Second, func() bool {
		return strings.Contains(row(h, "beta"), "21/40") && len(h.a.s.overlays[1].norm) == 21
	})

	// enter watches the selected run (beta)
	h.key("c", "enter")
	h.pump("the watched run", 10*time.Second, func() bool { return h.a.s.run != nil && h.a.s.status == statusStopped && h.a.s.step == 21 })
	if !h.a.s.watch || h.a.s.runDir != beta || h.a.active != paneTrain || h.a.s.step != 21 {
		t.Errorf("after enter: watch %v, dir %s, pane %d, step %d", h.a.s.watch, h.a.s.runDir, h.a.active, h.a.s.step)
	}
	// the damaged run cannot be opened, and says why
	h.key("6")
	for h.a.runs.cursor < 2 {
		h.key("j")
	}
	h.key("enter")
	if h.a.s.runDir != beta || !strings.Contains(h.view(), "cannot open gamma") {
		t.Errorf("opening a damaged run:\n%s", h.view())
	}
}

// TestRunsPaneResumes: r on a stopped run resumes training it in this workbench, which
// the list then shows as open and trained here; another run cannot be opened meanwhile.
func TestRunsPaneResumes(t *testing.T) {
	dir := makeRun(t, 3) // finished at step 3, with a checkpoint
	cfg, err := core.ReadRunConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Steps = 100000 // a total a resume may change
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o666); err != nil {
		t.Fatal(err)
	}
	other := fakeRunDir(t, filepath.Dir(dir), "other", tinyConfig(), 2)
	h := newHarness(t, Options{RunsRoot: filepath.Dir(dir), StartPane: "runs"})
	h.pump("the scan", 10*time.Second, func() bool { return len(h.a.runs.runs) == 2 })
	for h.a.runs.sorted(h.a.s)[h.a.runs.cursor].Dir != dir {
		h.key("j")
	}
	h.key("r")
	h.pump("training", 30*time.Second, func() bool { return h.a.s.run != nil && h.a.s.run.Live() && h.a.s.step > 3 })
	h.key("6")
	h.pump("the list", 10*time.Second, func() bool { return strings.Contains(row(h, "run"), "here") })
	if !strings.HasPrefix(strings.TrimSpace(row(h, "run")), "▸") {
		t.Errorf("the open run is not marked: %q", row(h, "run"))
	}
	h.a.runs.cursor = slices.IndexFunc(h.a.runs.sorted(h.a.s), func(r core.RunSummary) bool { return r.Dir == other })
	h.key("enter")
	if h.a.s.runDir != dir || !strings.Contains(h.view(), "stop it first") {
		t.Errorf("opening %s while this workbench trains %s:\n%s", other, dir, h.view())
	}
}

// TestRunsScanKeepsTheUIResponsive lists 200 run directories of 300 logged steps: the scan
// runs off the UI goroutine, and no Update (keys while it runs, the result of 200 rows)
// takes long. The times are logged; the assertion is a generous bound for the race
// detector on a loaded machine.
func TestRunsScanKeepsTheUIResponsive(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200 run directories")
	}
	root := t.TempDir()
	cfg := tinyConfig()
	for i := range 200 {
		fakeRunDir(t, root, fmt.Sprintf("run-%03d", i), cfg, 300)
	}
	h := newHarness(t, Options{RunsRoot: root})
	h.send(tea_WindowSize(120, 40))
	var worst time.Duration
	timed := func(msg tea.Msg) {
		start := time.Now()
		h.send(msg)
		h.a.View()
		worst = max(worst, time.Since(start))
	}
	timed(keyMsg("6")) // starts the scan
	for range 20 {
		timed(keyMsg("j"))
	}
	deadline := time.After(30 * time.Second)
	for len(h.a.runs.runs) < 200 {
		select {
		case m := <-h.msgs:
			timed(m)
		case <-deadline:
			t.Fatal("the scan of 200 runs did not finish")
		}
	}
	for range 20 {
		timed(keyMsg("j"))
	}
	t.Logf("200 runs: scan %s off the UI goroutine; slowest Update+View %s", h.a.runs.took, worst)
	if worst > 500*time.Millisecond {
		t.Errorf("an Update took %s: the UI would stutter", worst)
	}
	if !slices.ContainsFunc(strings.Split(h.view(), "\n"), func(l string) bool { return strings.Contains(l, "run-") }) {
		t.Errorf("no runs listed:\n%s", h.view())
	}
}
