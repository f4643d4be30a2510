package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"mdsm/core"
	"mdsm/dist"
	"mdsm/internal/gemm"
	"mdsm/nn"
	"mdsm/sampling"
)

func init() {
	register(command{name: "bench", summary: "time training and Langevin steps per preset (side by side with PyTorch); --exchange: the data-parallel gradient exchange", run: runBench, distributed: true})
}

// benchCase is one timed configuration. Names match the PyTorch anchor's (bench/torch_presets.py)
// configs where a PyTorch twin exists.
type benchCase struct {
	Name   string `json:"name"`
	Preset string `json:"preset"`
	Batch  int    `json:"batch"`
	Micro  int    `json:"micro_batch"`
	Kind   string `json:"kind"` // train, langevin, or sample (64 chains x 2,700 Langevin steps)
	// GPU marks the cases of the GPU comparison (torch_mdsm_gpu.py's four), run by default
	// only with --device cuda: on a CPU the sampling case alone takes many minutes.
	GPU bool `json:"gpu,omitempty"`
}

var benchCases = []benchCase{
	{"paper", "paper-mnist", 128, 128, "train", false},
	{"paper-b32", "paper-mnist", 32, 32, "train", false},
	// Batch 128 through 4 micro-batches of 32 (gradient accumulation), against PyTorch's
	// batch 128 in one piece: the same update, in a quarter of the activation memory.
	{"paper-mb32", "paper-mnist", 128, 32, "train", false},
	{"langevin", "paper-mnist", 64, 64, "langevin", false},
	{"small", "small", 64, 64, "train", false},
	{"small-langevin", "small", 64, 64, "langevin", false},
	{"medium", "medium", 64, 64, "train", false},
	{"tiny", "tiny", 64, 64, "train", false},
	// The four cases of the GPU comparison, named as in torch_mdsm_gpu.py.
	{"paper-mnist-b128", "paper-mnist", 128, 128, "train", true},
	{"paper-cifar-b128", "paper-cifar", 128, 128, "train", true},
	{"langevin-b64", "paper-mnist", 64, 64, "langevin", true},
	{"sample-64x2700", "paper-mnist", 64, 64, "sample", true},
}

// benchResult is what one child process measured.
type benchResult struct {
	benchCase
	Threads int       `json:"threads"`
	Params  int       `json:"params"`
	MedianS float64   `json:"median_s"`
	AllS    []float64 `json:"all_s"`
	// MedianCPU is the median of the process's CPU time (user + system, all threads) per
	// step: on a machine shared with other work the steadier measure (bench/compare.sh
	// METRIC=cpu).
	MedianCPU float64 `json:"median_cpu_s"`
	ImgPerSec float64 `json:"images_per_s"`
	PeakRSS   float64 `json:"peak_rss_mib"`
	GFLOPs    float64 `json:"gflop_per_s"`
	Device    string  `json:"device"`
	PeakGPU   float64 `json:"peak_gpu_mib,omitempty"` // device memory the engine allocated
	Graphs    string  `json:"graphs,omitempty"`       // CUDA graphs: off, on, or why a capture failed (MDSM_CUDA_GRAPHS)
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("mdsm bench", flag.ContinueOnError)
	only := fs.String("config", "all", "comma-separated cases: "+caseNames())
	steps := fs.Int("steps", 5, "timed steps per case")
	warmup := fs.Int("warmup", 1, "untimed steps first")
	threads := fs.Int("threads", 0, "compute threads (default GOMAXPROCS)")
	child := fs.String("child", "", "internal: run one case in this process and print JSON")
	device := fs.String("device", "cpu", core.DeviceFlagHelp+" (bench defaults to cpu)")
	tf32 := fs.Bool("tf32", false, "let a GPU use TF32 tensor cores")
	asJSON := fs.Bool("json", false, "print results as JSON lines")
	exchange := fs.Bool("exchange", false, "under mpirun -np N: time the gradient exchange of a data-parallel step per preset (one slot per rank), beside MPI_Allreduce of the same gradient")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mdsm bench [flags]

Times one MDSM training step (noise, E, dE/dx, tangent weight gradient, Adam) and one
Langevin step (E, dE/dx, the update and its noise: a step of the sampler's chains, which on
a GPU stay on the device) per case, each case in its own process so that the peak RSS is
its own. On a GPU, MDSM_CUDA_GRAPHS=1 replays each step as a captured CUDA graph. Compare with PyTorch in the same session: bench/compare.sh runs both.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := positive("steps", *steps); err != nil {
		return err
	}
	if *warmup < 0 {
		return fmt.Errorf("--warmup %d: must be 0 or more", *warmup)
	}
	if err := checkThreads(*threads); err != nil {
		return err
	}
	if *exchange {
		return benchExchange(*threads, *steps)
	}
	if err := refuseJob("bench (without --exchange)"); err != nil {
		return err
	}
	if *child != "" {
		gemm.SetThreads(*threads)
		for _, c := range benchCases {
			if c.Name == *child {
				d, _, err := core.OpenDevice(*device, *tf32)
				if err != nil {
					return err
				}
				r, err := benchOne(c, d, *steps, *warmup)
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
		n = strings.TrimSpace(n)
		if n != "all" && !slices.ContainsFunc(benchCases, func(c benchCase) bool { return c.Name == n }) {
			return fmt.Errorf("--config: unknown bench case %q: choose from all, %s", n, caseNames())
		}
		want[n] = true
	}
	d, note, err := core.OpenDevice(*device, *tf32)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "mdsm bench: "+note)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if !*asJSON {
		fmt.Printf("%-15s %-12s %6s %7s %10s %10s %9s %8s\n", "case", "preset", "batch", "threads", "s/step", "img/s", "GFLOP/s", "RSS MiB")
	}
	for _, c := range benchCases {
		if !want[c.Name] && !(want["all"] && c.GPU == !d.IsCPU()) {
			continue
		}
		cmd := exec.Command(self, "bench", "--child", c.Name, "--steps", fmt.Sprint(*steps), "--warmup", fmt.Sprint(*warmup),
			"--threads", fmt.Sprint(*threads), "--device", d.String(), fmt.Sprintf("--tf32=%v", *tf32))
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
		fmt.Printf("%-15s %-12s %6d %7d %10.4f %10.1f %9.1f %8.0f", r.Name, r.Preset, r.Batch, r.Threads, r.MedianS, r.ImgPerSec, r.GFLOPs, r.PeakRSS)
		if r.PeakGPU > 0 {
			fmt.Printf("  GPU %.0f MiB", r.PeakGPU)
		}
		if r.Graphs != "" {
			fmt.Printf("  graphs %s", r.Graphs)
		}
		fmt.Println()
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

// benchOne times a case in this process on device d: a training step through the
// device's TrainEngine (noise drawn on the host as the trainer does), a Langevin step or a
// whole sampling run through its energy model.
func benchOne(c benchCase, d core.Device, steps, warmup int) (benchResult, error) {
	m, err := nn.PresetConfig(c.Preset)
	if err != nil {
		return benchResult{}, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	p := nn.InitParams[float32](m, rng)
	x := make([]float32, c.Batch*m.Dim())
	for i := range x { // MNIST-like: sparse ink on a black background
		if rng.Float32() > 0.8 {
			x[i] = 1
		}
	}
	var step func() error
	var flopsPerStep float64
	var peak func() int64
	graphs := ""
	macs := float64(m.ForwardMACs()) * float64(c.Batch)
	if c.Kind == "train" {
		cfg := core.DefaultRunConfig()
		cfg.Model, cfg.BatchSize, cfg.MicroBatch = m, c.Batch, c.Micro
		cfg.SigmaMin, cfg.SigmaMax, cfg.NoiseSpacing = 0.1, 3, core.SpacingGeometric
		sig, _ := core.NoiseLevels(cfg)
		eng, err := d.NewTrainEngine(cfg, p, core.NewAdam(m, 0.9, 0.95))
		if err != nil {
			return benchResult{}, err
		}
		defer eng.Close()
		noise := make([]float32, len(x))
		step = func() error {
			core.DrawNoise(rng, noise)
			if _, err := eng.LossGrad(x, noise, c.Batch, sig); err != nil {
				return err
			}
			return eng.Step(1e-4)
		}
		// Six forward-equivalents: forward, the energy's data adjoints (dE/dx), the tangent
		// forward, the second-order data adjoints, and the two weight-adjoint products.
		flopsPerStep = 2 * macs * 6
		peak = peakBytes(eng)
		graphs = graphsNote(eng)
	} else {
		model, err := d.NewEnergy(p)
		if err != nil {
			return benchResult{}, err
		}
		defer model.Close()
		// A Langevin step is a step of sampling.Chain (E, dE/dx, the update and its noise, as
		// PyTorch's langevin_step does), which on a GPU keeps the chains on the device.
		ctx := context.Background()
		lc := sampling.LangevinConfig{Schedule: sampling.Schedule{Kind: sampling.KindConst, Steps: warmup + steps, T0: 1},
			Eps: 0.02, Sigma0: 0.1, InitMean: 0.5, InitStd: 1}
		flopsPerStep = 2 * macs * 2
		if c.Kind == "sample" { // 64 chains x 2,700 steps of the paper's sampler, end to end
			lc = sampling.DefaultLangevinConfig()
			step = func() error {
				ch, err := sampling.NewChain(model, c.Batch, m.Dim(), lc, 1)
				if err != nil {
					return err
				}
				return ch.Run(ctx)
			}
			flopsPerStep *= float64(lc.Schedule.Steps)
			steps, warmup = max(1, steps/10), min(warmup, 1)
		} else {
			ch, err := sampling.NewChain(model, c.Batch, m.Dim(), lc, 1)
			if err != nil {
				return benchResult{}, err
			}
			step = func() error { return ch.Step(ctx) }
		}
		peak = peakBytes(model)
		graphs = graphsNote(model)
	}
	for i := 0; i < warmup; i++ {
		if err := step(); err != nil {
			return benchResult{}, err
		}
	}
	var times, cpus []float64
	for i := 0; i < steps; i++ {
		c0, t0 := processCPU(), time.Now()
		if err := step(); err != nil {
			return benchResult{}, err
		}
		times = append(times, time.Since(t0).Seconds())
		cpus = append(cpus, processCPU()-c0)
	}
	med := medianOf(times)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	threads := gemm.Threads()
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return benchResult{benchCase: c, Threads: threads, Params: p.Count(), MedianS: med, AllS: times, MedianCPU: medianOf(cpus),
		ImgPerSec: float64(c.Batch) / med, PeakRSS: float64(ru.Maxrss) / 1024, GFLOPs: flopsPerStep / med / 1e9,
		Device: d.Name, PeakGPU: float64(peak()) / (1 << 20), Graphs: graphs}, nil
}

// graphsNote is a device engine's use of CUDA graphs ("off", "on", "failed: ..."; "" on
// the CPU).
func graphsNote(v any) string {
	if g, ok := v.(interface{ GraphsNote() string }); ok {
		return g.GraphsNote()
	}
	return ""
}

// medianOf returns the middle value of xs (the upper one of an even count).
func medianOf(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// processCPU is the process's user and system CPU time in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// peakBytes reads a device engine's peak device memory (0 on the CPU).
func peakBytes(v any) func() int64 {
	return func() int64 {
		if p, ok := v.(interface{ PeakDeviceBytes() int64 }); ok {
			return p.PeakDeviceBytes()
		}
		return 0
	}
}

// benchExchange times, on every rank of the job, the gradient exchange of one
// data-parallel step for each preset (core.ExchangeTimes) and MPI's own all-reduce of a
// gradient of the same size; rank 0 prints the medians.
func benchExchange(threads, reps int) error {
	comm, err := joinJob(threads)
	if err != nil {
		return err
	}
	if leader() {
		fmt.Printf("gradient exchange per step on %s (medians of %d)\n", comm.Name(), reps)
		fmt.Printf("%-12s %11s %9s %13s %12s %15s\n", "preset", "parameters", "MB", "exchange ms", "bus GB/s", "MPI_Allreduce ms")
	}
	median := func(d []time.Duration) float64 {
		s := make([]float64, len(d))
		for i, v := range d {
			s[i] = v.Seconds()
		}
		sort.Float64s(s)
		return s[len(s)/2]
	}
	for _, name := range nn.PresetNames() {
		m, err := nn.PresetConfig(name)
		if err != nil {
			return err
		}
		times, err := core.ExchangeTimes(comm, m, reps)
		if err != nil {
			return err
		}
		n := nn.NewParams[float32](m).Count()
		lib := math.NaN()
		if ar, ok := comm.(dist.LibraryAllreducer); ok {
			send, recv := make([]float32, n), make([]float32, n)
			var d []time.Duration
			for r := -1; r < reps; r++ {
				start := time.Now()
				if err := ar.AllreduceSum(send, recv); err != nil {
					return err
				}
				if r >= 0 {
					d = append(d, time.Since(start))
				}
			}
			lib = median(d) * 1e3
		}
		t := median(times)
		w := float64(comm.Size())
		// a ring all-reduce moves 2(W-1)/W of the gradient per rank: the "bus" bandwidth
		// that NCCL's and OSU's benchmarks report.
		bus := 2 * (w - 1) / w * 4 * float64(n) / t / 1e9
		if leader() {
			fmt.Printf("%-12s %11d %9.1f %13.2f %12.2f %15.2f\n", name, n, 4*float64(n)/1e6, t*1e3, bus, lib)
		}
	}
	return nil
}
