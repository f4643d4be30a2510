package core

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"mdsm/data"
	"mdsm/nn"
)

// memOverhead is what a training process needs beyond the counted buffers: the Go runtime,
// GEMM workspaces (about 3 MiB per thread), the event buffer and the garbage of
// per-step snapshots. The estimate is multiplied by memSlack on top.
const (
	memOverhead = 64 << 20
	memSlack    = 1.10
)

// MemoryEstimate is the memory a training run needs, split into what is fixed and what
// grows with the micro-batch.
type MemoryEstimate struct {
	Params int64 // parameter, gradient, Adam moment and snapshot copies (6 x params, 7 with the weight average)
	// Slots: the gradient of one micro-batch before it is added (when the batch is split),
	// and in a data-parallel run the buffers of the gradient exchange.
	Slots    int64
	Batch    int64 // the batch and its noise (grow with batch_size)
	PerImage int64 // engine activations and scratch per image of a micro-batch
	Micro    int   // the effective micro-batch
	Sampler  int64 // the periodic sample grid's model and chain (0 if sample_every = 0)
	Conv     int64 // the Winograd convolutions' scratch at the micro-batch (and the sampler's)
	Overhead int64 // runtime, GEMM workspaces
}

// Total is the estimated peak in bytes.
func (m MemoryEstimate) Total() int64 {
	return m.Params + m.Slots + m.Batch + int64(m.Micro)*m.PerImage + m.Sampler + m.Conv + m.Overhead
}

// EstimateMemory returns the bytes a training run of cfg needs (dataset excluded: it is in
// memory before the check), counted from what nn.Model allocates: see EstimateMemoryParts.
func EstimateMemory(cfg RunConfig) int64 { return EstimateMemoryParts(cfg).Total() }

// EstimateMemoryParts counts the float32 buffers of a training run of cfg:
//   - 6 copies of the parameters: weights, gradients, Adam m and v, the trainer's snapshot
//     and the copy a reader (sampler, workbench) takes of it; 7 with the weight average
//     (RunConfig.EMA);
//   - the batch and the objective's noise (batch_size images each);
//   - per image of a micro-batch, what nn.Model allocates with tangents (nn.Config.BatchFloats:
//     the stored activations, their tangents, the energy's adjoints kept for the training
//     pass and the scratch of the passes), and the objective's x~, dE/dx, v and energy;
//   - the periodic sampler's model (no tangents) for sample_count images and its chain;
//   - the scratch of the Winograd convolutions of the trainer's model and the sampler's
//     (nn.Config.ConvScratchBytes).
func EstimateMemoryParts(cfg RunConfig) MemoryEstimate { return estimateMemory(cfg, 1) }

// estimateMemory is EstimateMemoryParts for one rank of a run over ranks processes.
func estimateMemory(cfg RunConfig, ranks int) MemoryEstimate {
	c := cfg.Model
	const f = 4 // bytes per float32
	params := int64(c.ParamCount())
	dim := int64(c.Dim())
	energy, train := c.BatchFloats()
	// the model's buffers, and the objective's x~, dE/dx, v and energy.
	perImage := f * (int64(energy+train) + 3*dim + 1)
	var slots int64
	switch {
	case ranks > 1: // dataParallel: a slot's gradient, its flat copy, the received
		// chunks, the gathered sum, and this rank's chunk
		slots = f * (4*params + params/int64(ranks))
	case cfg.microBatch() < cfg.BatchSize: // Objective.LossGradNoise's scratch gradient
		slots = f * params
	}
	copies := int64(6)
	if cfg.EMA > 0 {
		copies++
	}
	est := MemoryEstimate{
		Params:   copies * f * params,
		Slots:    slots,
		Batch:    2 * f * int64(cfg.BatchSize) * dim,
		PerImage: perImage,
		Micro:    cfg.microBatch(),
		Conv:     c.ConvScratchBytes(cfg.microBatch()),
		Overhead: memOverhead,
	}
	if cfg.SampleEvery > 0 {
		n := int64(cfg.SampleCount)
		// the sampler's forward buffers (no tangents) and its chain (x, grad, noise, denoised).
		est.Sampler = f*params + n*f*(int64(energy)+6*dim)
		est.Conv += c.ConvScratchBytes(cfg.SampleCount)
	}
	return est
}

// MemoryAvailable returns the bytes this process may still allocate and where that limit
// comes from: the smaller of MemAvailable in /proc/meminfo and the room left under the
// cgroup memory limit (v2 memory.max, v1 memory.limit_in_bytes). ok is false when neither
// can be read (not Linux).
//
// MDSM_MEMORY_LIMIT (a size such as 8GiB, 512MiB or a byte count) caps it further: a share
// of a machine the kernel does not enforce. An unreadable value is reported by CheckMemory.
func MemoryAvailable() (avail int64, source string, ok bool) {
	avail = math.MaxInt64
	defer func() {
		if lim, err := memoryLimitEnv(); err == nil && lim > 0 && lim < avail {
			avail, source, ok = lim, "MDSM_MEMORY_LIMIT", true
		}
	}()
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "MemAvailable:" {
				if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
					avail, source, ok = kb*1024, "MemAvailable in /proc/meminfo", true
				}
			}
		}
	}
	if lim, used, where, found := cgroupMemory(); found && lim-used < avail {
		avail, source, ok = max(lim-used, 0), "the cgroup memory limit ("+where+")", true
	}
	return avail, source, ok
}

// cgroupMemory reads this process's cgroup memory limit and usage (v2, then v1).
func cgroupMemory() (limit, used int64, where string, ok bool) {
	readInt := func(p string) (int64, bool) {
		b, err := os.ReadFile(p)
		if err != nil {
			return 0, false
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, false
		}
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil && v > 0 && v < 1<<60 // v1 says "no limit" with a huge number
	}
	paths := map[string]string{} // controller ("" for v2) -> cgroup path
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 {
				continue
			}
			if parts[0] == "0" && parts[1] == "" {
				paths[""] = parts[2]
			}
			for _, c := range strings.Split(parts[1], ",") {
				if c == "memory" {
					paths["memory"] = parts[2]
				}
			}
		}
	}
	for _, base := range []string{filepath.Join("/sys/fs/cgroup", paths[""]), "/sys/fs/cgroup"} {
		if lim, ok := readInt(filepath.Join(base, "memory.max")); ok {
			cur, _ := readInt(filepath.Join(base, "memory.current"))
			return lim, cur, filepath.Join(base, "memory.max"), true
		}
	}
	for _, base := range []string{filepath.Join("/sys/fs/cgroup/memory", paths["memory"]), "/sys/fs/cgroup/memory"} {
		if lim, ok := readInt(filepath.Join(base, "memory.limit_in_bytes")); ok {
			cur, _ := readInt(filepath.Join(base, "memory.usage_in_bytes"))
			return lim, cur, filepath.Join(base, "memory.limit_in_bytes"), true
		}
	}
	return 0, 0, "", false
}

// memoryLimitEnv parses MDSM_MEMORY_LIMIT: 0 when unset.
func memoryLimitEnv() (int64, error) {
	v := strings.TrimSpace(os.Getenv("MDSM_MEMORY_LIMIT"))
	if v == "" {
		return 0, nil
	}
	num := strings.TrimRight(v, "KMGTiBkmgtb")
	unit := strings.ToUpper(strings.TrimSpace(v[len(num):]))
	mult := map[string]float64{"": 1, "B": 1, "K": 1 << 10, "KB": 1e3, "KIB": 1 << 10, "M": 1 << 20, "MB": 1e6, "MIB": 1 << 20,
		"G": 1 << 30, "GB": 1e9, "GIB": 1 << 30, "T": 1 << 40, "TB": 1e12, "TIB": 1 << 40}[unit]
	x, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || mult == 0 || !(x > 0) || math.IsInf(x*mult, 0) || x*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("MDSM_MEMORY_LIMIT=%q is not a memory size (use e.g. 8GiB or 512MiB, or unset it)", v)
	}
	return int64(x * mult), nil
}

// memoryAvailable is MemoryAvailable; tests replace it with a fake limit.
var memoryAvailable = MemoryAvailable

// SkipMemoryCheck turns off the check that a run fits in memory (`mdsm train
// --skip-memory-check`).
var SkipMemoryCheck bool

// memoryBudget is the memory a check compares with: ok is false when there is nothing to
// check (--skip-memory-check, or no source can be read); a bad MDSM_MEMORY_LIMIT is err.
func memoryBudget() (avail int64, source string, ok bool, err error) {
	if SkipMemoryCheck {
		return 0, "", false, nil
	}
	if _, err := memoryLimitEnv(); err != nil {
		return 0, "", false, err
	}
	avail, source, ok = memoryAvailable()
	return avail, source, ok, nil
}

// CheckMemory refuses a run that would not fit in the memory available now, with the
// largest micro-batch that would fit (or a smaller preset when none does).
func CheckMemory(cfg RunConfig) error { return checkMemory(cfg, 1) }

// checkMemory is CheckMemory for one rank of a run over ranks processes.
func checkMemory(cfg RunConfig, ranks int) error {
	avail, source, ok, err := memoryBudget()
	if !ok {
		return err
	}
	est := estimateMemory(cfg, ranks)
	need := func(e MemoryEstimate) int64 { return int64(float64(e.Total()) * memSlack) }
	if need(est) <= avail {
		return nil
	}
	msg := fmt.Sprintf("this run needs about %s of memory (%s parameters and optimiser, %s per image of a micro-batch of %d) but only %s is available (%s)",
		humanBytes(need(est)), humanBytes(est.Params), humanBytes(est.PerImage), est.Micro, humanBytes(avail), source)
	// need is affine in the micro-batch: find the largest that fits.
	fixed := est
	fixed.Micro = 0
	if ranks == 1 { // a smaller micro-batch splits the batch: one more gradient
		fixed.Slots = estimateMemory(RunConfig{Model: cfg.Model, BatchSize: 2, MicroBatch: 1}, 1).Slots
	}
	best := 0
	if room := float64(avail)/memSlack - float64(fixed.Total()); room > 0 && est.PerImage > 0 {
		best = min(int(room/float64(est.PerImage)), est.Micro-1)
	}
	if best >= 1 {
		return fmt.Errorf("%s: use --micro-batch %d (gradient accumulation: same results, less memory), or free memory", msg, best)
	}
	return fmt.Errorf("%s: even a micro-batch of 1 does not fit; choose a smaller --preset or --batch, free memory, or pass --skip-memory-check if the estimate is wrong", msg)
}

// SamplingMemory estimates the bytes of sampling with a model of configuration c: chains
// Langevin (or AIS) chains alive at once, each with its model's forward buffers and its
// state, gradient, noise and denoised copy, workers copies of the weights, and outputs
// finished images kept (as float32, with their PNG grid).
func SamplingMemory(c nn.Config, chains, workers, outputs int64) int64 {
	const f = 4
	params := int64(c.ParamCount())
	energy, _ := c.BatchFloats()
	dim := int64(c.Dim())
	return memOverhead + workers*f*params + chains*f*(int64(energy)+6*dim) + outputs*f*dim*3
}

// CheckMemoryFor refuses a job (what: "sampling 100000 images") of need bytes that would
// not fit in the memory available, naming the flag to lower (fix).
func CheckMemoryFor(what string, need int64, fix string) error {
	avail, source, ok, err := memoryBudget()
	if !ok {
		return err
	}
	if need = int64(float64(need) * memSlack); need > avail {
		return fmt.Errorf("%s needs about %s of memory but only %s is available (%s): %s, or free memory",
			what, humanBytes(need), humanBytes(avail), source, fix)
	}
	return nil
}

// LoadDataset loads a dataset split (data.LoadWith) after checking, from its files' sizes
// and headers alone, that it fits in the memory available: a dataset that would not fit is
// refused before anything is allocated (--skip-memory-check overrides).
func LoadDataset(name, split, dir string, opt data.Options) (*data.Dataset, error) {
	fp, err := data.Footprint(name, split, dir, opt)
	if err != nil {
		return nil, err
	}
	if err := checkDatasetMemory(name, fp); err != nil {
		return nil, err
	}
	return data.LoadWith(name, split, dir, opt)
}

// checkDatasetMemory refuses to load a dataset of fp bytes that would not fit.
func checkDatasetMemory(name string, fp int64) error {
	return CheckMemoryFor(fmt.Sprintf("loading dataset %q", name), fp+memOverhead,
		"use fewer images or a smaller image size (or --skip-memory-check if the estimate is wrong)")
}

// humanBytes writes a byte count with a unit that keeps it readable: 512 B, 212 KiB,
// 185 MiB, 3.1 GiB (never "0 MiB" for a small but non-zero size).
func humanBytes(b int64) string {
	switch {
	case b < 1<<10:
		return fmt.Sprintf("%d B", b)
	case b < 1<<20:
		return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
	case b < 1<<30:
		return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}
