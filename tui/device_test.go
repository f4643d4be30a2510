package tui

import (
	"strings"
	"testing"
	"time"

	"mdsm/core"
)

// TestHeaderShowsTheGPU: the tab row shows the run's GPU reading (name, memory in use,
// utilisation) when it fits, a shorter one on narrower screens (at 80 columns beside the
// pane numbers alone), none on a CPU run; a reading of an older run is ignored.
func TestHeaderShowsTheGPU(t *testing.T) {
	h := newHarness(t, Options{Watch: makeRun(t, 2)})
	h.pump("the run and its device reading", 10*time.Second, func() bool { return h.a.s.run != nil && h.a.s.device.Name != "" })
	if d := h.a.s.device; d.HasGPUReading || d.Name != "cpu" {
		t.Fatalf("device reading of a CPU run: %+v", d)
	}
	if strings.Contains(h.view(), "GiB") {
		t.Fatal("a CPU run shows a GPU in the header")
	}
	gpu := core.DeviceReadings{Name: "NVIDIA H200", MemUsed: 13207024435, MemTotal: 150110011392, UtilPercent: 87, HasGPUReading: true}
	h.send(deviceMsg{gen: h.a.s.gen - 1, r: gpu})
	if h.a.s.device.HasGPUReading {
		t.Fatal("a reading of an older run was taken")
	}
	h.send(deviceMsg{gen: h.a.s.gen, r: gpu})
	for _, tc := range []struct {
		w    int
		want string
	}{{160, "NVIDIA H200 12.3/139.8 GiB 87%"}, {120, "GPU 12.3/139.8G 87%"}, {100, "12G 87%"}, {80, "12G 87%"}, {50, ""}} {
		h.send(tea_WindowSize(tc.w, 30))
		head := strings.SplitN(h.view(), "\n", 2)[0]
		if tc.want == "" && strings.Contains(head, "%") || tc.want != "" && !strings.Contains(head, tc.want) {
			t.Errorf("%d columns: header %q, want %q", tc.w, head, tc.want)
		}
		if !strings.Contains(head, "help") && tc.w >= 80 {
			t.Errorf("%d columns: the GPU pushed out the keys: %q", tc.w, head)
		}
	}
}

// TestConfigureDevice: the device row offers auto, cpu and cuda (right and left cycle
// them), takes cuda:N typed, shows the problem of anything else next to the field, and a
// device that cannot be used (this test binary has no GPU backend) stops the start with a
// line naming it.
func TestConfigureDevice(t *testing.T) {
	h := newHarness(t, Options{})
	h.key("1")
	row := fieldIndex(t, h.a.configure, "device")
	moveTo(h, row)
	var seen []string
	for range 4 {
		h.key("right")
		seen = append(seen, h.a.s.cfg.Device)
	}
	if strings.Join(seen, ",") != "cpu,cuda,auto,cpu" {
		t.Errorf("right cycles the device through %v, want cpu, cuda, auto, cpu", seen)
	}
	edit(h, row, "cuda:1")
	if h.a.s.cfg.Device != "cuda:1" || !strings.Contains(h.view(), "✓ valid") {
		t.Errorf("cuda:1 typed: device %q\n%s", h.a.s.cfg.Device, h.view())
	}
	edit(h, row, "gpu")
	if !strings.Contains(h.view(), "device = gpu: use auto, cpu, cuda or cuda:N") {
		t.Errorf("gpu typed: no problem shown next to the field\n%s", h.view())
	}
	edit(h, row, "cuda:1")
	h.key("2", "s")
	h.pump("the start to fail", 10*time.Second, func() bool { return strings.Contains(h.view(), "device cuda:1") })
	if h.a.s.run != nil {
		t.Fatal("a run started on a device this build does not have")
	}
}
