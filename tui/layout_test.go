package tui

import (
	"fmt"
	"image"
	"strings"
	"testing"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"mdsm/core"
	"mdsm/sampling"
	"mdsm/tui/chart"
	"mdsm/tui/termimg"
)

// busySession fills a workbench with everything a long run shows: a long run directory, a
// running state, a loss curve, event lines longer than the screen, a periodic grid, a
// chain with its energy trace, and an inpainting result with its caption.
func busySession(h *harness) {
	a := h.a
	s := a.s
	s.runDir = "/home/researcher/experiments/mdsm/runs/20261129-143052-paper-mnist-geometric"
	s.status, s.step, s.total, s.imagesPerSec, s.eta = statusRunning, 1234, 6000, 1270, 3*time.Minute
	s.ckptStep, s.ckptAt, s.lastStepAt = 1000, time.Now().Add(-20*time.Second), time.Now()
	for i := range 8 {
		a.logf([]string{"info", "ok", "warn", "error"}[i%4], "line %d: checkpoint at step %d: /home/researcher/experiments/mdsm/runs/20261129-143052/checkpoints/step-%08d.safetensors, which is longer than any screen", i, i*500, i*500)
	}
	for k := 1; k <= 1234; k += 5 {
		a.train = a.train.addStep(stepEvent(k, 180000/float64(k)+170000, 18/float64(k)+17))
	}
	grid := image.NewGray(image.Rect(0, 0, 86, 86))
	a.samples.grid, a.samples.gridStep, a.samples.gridNew = newPicture(grid), 1000, true
	a.samples.chain, a.samples.show, a.samples.running = newPicture(image.NewGray(image.Rect(0, 0, 62, 62))), viewChain, true
	a.samples.step, a.samples.total, a.samples.temp, a.samples.weights = 400, 1000, 1.7, "trainer snapshot, step 1234"
	for k := range 400 {
		t := 10 * (1 - float64(k)/400)
		a.samples.trace = append(a.samples.trace, sampling.TracePoint{Step: k, T: t, MeanEnergy: 300*t - 40})
	}
	a.samples.status = "a chain is running: esc cancels it (this status line is long enough to need wrapping)"
	// runs, two of them laid over the Train pane's chart; the energy view's histograms;
	// a sample history; scores and the loss per noise level
	for i, name := range []string{"20261129-143052-paper-mnist-geometric-long-name", "b", "c"} {
		r := core.RunSummary{Dir: "/runs/" + name, Name: name, Config: s.cfg, State: core.State(i + 1), Step: 100 * i, Total: 6000,
			NormLoss: 17.5, ImagesPerSec: 1270, Updated: time.Now().Add(-time.Hour)}
		a.runs.runs = append(a.runs.runs, r)
		if i < 2 {
			a.runs.marks = append(a.runs.marks, r.Dir)
			o := &overlay{sum: r}
			for k := 1; k <= 1234; k += 7 {
				o.norm = append(o.norm, chart.Point{X: float64(k), Y: 18/float64(k) + 17 + float64(i)})
				o.raw = append(o.raw, chart.Point{X: float64(k), Y: 1.8e5/float64(k) + 1.7e5})
			}
			s.overlays = append(s.overlays, o)
		}
	}
	var sets []core.EnergySet
	for i, name := range []string{"test", "samples", "fashion-mnist"} {
		e := make([]float64, 300)
		for k := range e {
			e[k] = float64(i*40) + float64(k%50)
		}
		sets = append(sets, core.EnergySet{Name: name, Energies: e, Note: "a note long enough to need wrapping at eighty columns, which it gets"})
	}
	a.energy.last, a.energy.have = core.EnergyUpdate{Sets: sets, Weights: "trainer snapshot, step 1234", AUROC: 0.983, Done: true}, true
	a.samples.history = []int{500, 1000}
	a.train = a.train.addScore(core.SampleEvent{Score: &core.SampleScore{Step: 1000, FD: 40, Floor: 9}})
	a.inpaint.pic = newPicture(image.NewGray(image.Rect(0, 0, 50, 122)))
	a.inpaint.caption = "denoise sigma 0.30 with trainer snapshot, step 1234 in 1.234s: PSNR 10.40 dB → 20.01 dB"
	a.inpaint.status = "w saves the picture"
	s.device = core.DeviceReadings{Name: "NVIDIA H200", MemUsed: 13 << 30, MemTotal: 140 << 30, UtilPercent: 100, HasGPUReading: true}
}

// checkScreen fails unless screen is exactly h lines of at most w cells.
func checkScreen(t *testing.T, what, screen string, w, h int) {
	t.Helper()
	lines := strings.Split(screen, "\n")
	if len(lines) != h {
		t.Errorf("%s: %d lines, want %d", what, len(lines), h)
	}
	for i, l := range lines {
		if lw := lipgloss.Width(l); lw > w {
			t.Errorf("%s: line %d is %d cells wide (> %d): %q", what, i, lw, w, ansi.Strip(l))
		}
	}
}

// TestEveryScreenFits80x24: every pane (in a busy session and an empty one, with each
// image protocol and chart glyph set), the help overlay and the quit dialog are laid out
// for 80x24: 24 lines of at most 80 cells, each pane's own text inside its box (nothing
// left for the frame to cut), and the status bar, tab row and hints intact.
func TestEveryScreenFits80x24(t *testing.T) {
	const W, H = 80, 24
	for _, proto := range []termimg.Protocol{termimg.ProtoBlocks, termimg.ProtoSixel, termimg.ProtoKitty, termimg.ProtoNone} {
		for _, marker := range []chart.Marker{chart.Braille, chart.ASCII} {
			for _, busy := range []bool{false, true} {
				name := fmt.Sprintf("%s/%v/busy=%v", proto, marker == chart.ASCII, busy)
				h := newHarness(t, Options{Protocol: proto, Charts: marker, Caps: termimg.Caps{Cell: termimg.CellSize{W: 8, H: 17}, CellKnown: true}})
				h.send(tea_WindowSize(W, H))
				if busy {
					busySession(h)
				}
				bw, bh := h.a.bodySize()
				for i := range paneCount {
					h.a.active = i
					what := name + "/" + PaneNames()[i]
					pv := h.a.pane(i).view(h.a.s, bw, bh)
					if n := len(strings.Split(pv, "\n")); n > bh {
						t.Errorf("%s: the pane's text is %d lines, its box %d", what, n, bh)
					}
					checkScreen(t, what+" (pane text)", pv, bw, len(strings.Split(pv, "\n")))
					screen := h.a.render()
					checkScreen(t, what, screen, W, H)
					plain := ansi.Strip(screen)
					lines := strings.Split(plain, "\n")
					if !strings.Contains(lines[0], "? help") || !strings.Contains(lines[0], "q quit") {
						t.Errorf("%s: tab row %q", what, lines[0])
					}
					if !strings.Contains(lines[H-2], "step ") || !strings.Contains(lines[H-2], "img/s") {
						t.Errorf("%s: status bar %q", what, lines[H-2])
					}
					if !strings.HasSuffix(strings.TrimRight(lines[H-1], " "), "? help "+h.a.s.st.g.dot+" q quit") {
						t.Errorf("%s: hint bar %q", what, lines[H-1])
					}
					if !busy {
						continue
					}
					switch i {
					case paneTrain:
						if !strings.Contains(plain, "img/s 1270") || !strings.Contains(plain, "ETA 3m0s") {
							t.Errorf("%s: the header lost its numbers:\n%s", what, plain)
						}
						for _, want := range []string{"━ lr", "━ img/s", "━ sample FD", "━ b", "━ 2026"} {
							if marker == chart.ASCII {
								want = strings.Replace(want, "━", "-", 1)
							}
							if !strings.Contains(plain, want) {
								t.Errorf("%s: the Train pane lacks %q at 80x24:\n%s", what, want, plain)
							}
						}
					case paneSchedule:
						if !strings.Contains(lines[H-3], "step") {
							t.Errorf("%s: the chart's x axis is cut:\n%s", what, plain)
						}
					case paneInpaint:
						if !strings.Contains(plain, "20.01 dB") {
							t.Errorf("%s: the PSNR line is cut:\n%s", what, plain)
						}
					case paneConfigure:
						if !strings.Contains(plain, "more below") {
							t.Errorf("%s: no scroll indicator:\n%s", what, plain)
						}
					case paneRuns:
						if !strings.Contains(plain, "Marked runs") || !strings.Contains(plain, string(marker.Glyph('━'))+" b") {
							t.Errorf("%s: the marked runs' chart is missing:\n%s", what, plain)
						}
					case paneEnergy:
						if !strings.Contains(plain, "AUROC (OOD vs test) 0.983") || !strings.Contains(plain, string(marker.Glyph('━'))+" fashion-mnist") {
							t.Errorf("%s: the energy view lost its numbers:\n%s", what, plain)
						}
					}
				}
				h.a.showHelp, h.a.help = true, newHelpOverlay(h.a.helpGroups(), 0)
				checkScreen(t, name+"/help", h.a.render(), W, H)
				h.a.showHelp, h.a.quitAsk = false, true
				checkScreen(t, name+"/quit dialog", h.a.render(), W, H)
				h.a.quitAsk = false
			}
		}
	}
}

func stepEvent(step int, loss, norm float64) core.StepEvent {
	return core.StepEvent{Step: step, Total: 6000, Loss: loss, NormLoss: norm, LR: 1e-3, ImagesPerSec: 1270,
		SigmaLoss: []float64{8 * loss, 4 * loss, 2 * loss, loss, loss / 2, loss / 4, loss / 8, loss / 16}}
}
