package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"mdsm/core"
	"mdsm/internal/gemm"
	"mdsm/nn"
)

func init() {
	register(command{name: "bench", summary: "time training and Langevin steps per preset (side by side with PyTorch)", run: runBench})
}

// benchCase is one timed configuration. Names match the PyTorch anchor's (bench/torch_presets.py)
// configs where a PyTorch twin exists.
type benchCase struct {
	Name   string `json:"name"`
	Preset string `json:"preset"`
	Batch  int    `json:"batch"`
	Micro  int    `json:"micro_batch"`
	Kind   string `json:"kind"` // train or langevin
}

var benchCases = []benchCase{
	{"paper", "paper-mnist", 128, 128, "train"},
	{"paper-b32", "paper-mnist", 32, 32, "train"},
	// Batch 128 through 4 micro-batches of 32 (gradient accumulation), against PyTorch's
	// batch 128 in one piece: the same update, in a quarter of the activation memory.
	{"paper-mb32", "paper-mnist", 128, 32, "train"},
	{"langevin", "paper-mnist", 64, 64, "langevin"},
	{"small", "small", 64, 64, "train"},
	{"small-langevin", "small", 64, 64, "langevin"},
	{"medium", "medium", 64, 64, "train"},
	{"tiny", "tiny", 64, 64, "train"},
}

// benchResult is what one child process measured.
type benchResult struct {
	benchCase
	Threads   int       `json:"threads"`
	Params    int       `json:"params"`
	MedianS   float64   `json:"median_s"`
	AllS      []float64 `json:"all_s"`
	ImgPerSec float64   `json:"images_per_s"`
	PeakRSS   float64   `json:"peak_rss_mib"`
	GFLOPs    float64   `json:"gflop_per_s"`
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("mdsm bench", flag.ContinueOnError)
	only := fs.String("config", "all", "comma-separated cases: "+caseNames())
	steps := fs.Int("steps", 5, "timed steps per case")
	warmup := fs.Int("warmup", 1, "untimed steps first")
	threads := fs.Int("threads", 0, "compute threads (default GOMAXPROCS)")
	child := fs.String("child", "", "internal: run one case in this process and print JSON")
	asJSON := fs.Bool("json", false, "print results as JSON lines")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mdsm bench [flags]

Times one MDSM training step (noise, E, dE/dx, tangent weight gradient, Adam) and one
Langevin step (E and dE/dx) per case, each case in its own process so that the peak RSS is
its own. Compare with PyTorch in the same session: bench/compare.sh runs both.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *child != "" {
		gemm.SetThreads(*threads)
		for _, c := range benchCases {
			if c.Name == *child {
				r, err := benchOne(c, *steps, *warmup)
				if err != nil {
					return err
				}
				return json.NewEncoder(os.Stdout).Encode(r)
			}
		}
		return fmt.Errorf("unknown bench case %q: choose from %s", *child, caseNames())
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		want[strings.TrimSpace(n)] = true
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if !*asJSON {
		fmt.Printf("%-15s %-12s %6s %7s %10s %10s %9s %8s\n", "case", "preset", "batch", "threads", "s/step", "img/s", "GFLOP/s", "RSS MiB")
	}
	for _, c := range benchCases {
		if !want["all"] && !want[c.Name] {
			continue
		}
		cmd := exec.Command(self, "bench", "--child", c.Name, "--steps", fmt.Sprint(*steps), "--warmup", fmt.Sprint(*warmup), "--threads", fmt.Sprint(*threads))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("bench case %s: %w", c.Name, err)
		}
		if *asJSON {
			fmt.Print(out.String())
			continue
		}
		var r benchResult
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			return fmt.Errorf("bench case %s: %w", c.Name, err)
		}
		fmt.Printf("%-15s %-12s %6d %7d %10.4f %10.1f %9.1f %8.0f\n", r.Name, r.Preset, r.Batch, r.Threads, r.MedianS, r.ImgPerSec, r.GFLOPs, r.PeakRSS)
	}
	return nil
}

func caseNames() string {
	var n []string
	for _, c := range benchCases {
		n = append(n, c.Name)
	}
	return strings.Join(n, ", ")
}

// benchOne times a case in this process.
func benchOne(c benchCase, steps, warmup int) (benchResult, error) {
	m, err := nn.PresetConfig(c.Preset)
	if err != nil {
		return benchResult{}, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	p := nn.InitParams[float32](m, rng)
	model := nn.NewModel(p)
	x := make([]float32, c.Batch*m.Dim())
	for i := range x { // MNIST-like: sparse ink on a black background
		if rng.Float32() > 0.8 {
			x[i] = 1
		}
	}
	var step func()
	var flopsPerStep float64
	macs := float64(m.ForwardMACs()) * float64(c.Batch)
	if c.Kind == "train" {
		cfg := core.DefaultRunConfig()
		cfg.Model, cfg.BatchSize, cfg.MicroBatch = m, c.Batch, c.Micro
		cfg.SigmaMin, cfg.SigmaMax, cfg.NoiseSpacing = 0.1, 3, core.SpacingGeometric
		obj := core.NewObjective(model, cfg.Sigma0, c.Batch, c.Micro)
		sig, _ := core.NoiseLevels(cfg)
		grads := nn.NewParams[float32](m)
		adam := core.NewAdam(m, 0.9, 0.95)
		step = func() {
			grads.Zero()
			obj.LossGrad(x, c.Batch, sig, rng, grads)
			adam.Step(p, grads, 1e-4)
		}
		// Six forward-equivalents: forward, the energy's data adjoints (dE/dx), the tangent
		// forward, the second-order data adjoints, and the two weight-adjoint products.
		flopsPerStep = 2 * macs * 6
	} else {
		e, g := make([]float32, c.Batch), make([]float32, len(x))
		step = func() {
			model.EnergyGrad(x, c.Batch, e, g)
			for i := range x {
				x[i] -= 0.0002 * g[i]
			}
		}
		flopsPerStep = 2 * macs * 2
	}
	for i := 0; i < warmup; i++ {
		step()
	}
	var times []float64
	for i := 0; i < steps; i++ {
		t0 := time.Now()
		step()
		times = append(times, time.Since(t0).Seconds())
	}
	sorted := append([]float64(nil), times...)
	sort.Float64s(sorted)
	med := sorted[len(sorted)/2]
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	threads := gemm.Threads()
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return benchResult{benchCase: c, Threads: threads, Params: p.Count(), MedianS: med, AllS: times,
		ImgPerSec: float64(c.Batch) / med, PeakRSS: float64(ru.Maxrss) / 1024, GFLOPs: flopsPerStep / med / 1e9}, nil
}
