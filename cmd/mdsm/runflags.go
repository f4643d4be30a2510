package main

import (
	"flag"
	"fmt"
	"time"

	"mdsm/core"
	"mdsm/nn"
)

// runFlags binds the training flags shared by `mdsm train` and the workbench to a config.
type runFlags struct {
	fs                                   *flag.FlagSet
	cfg                                  *core.RunConfig
	preset                               string
	filters, stages, extra, size, inChan int
}

func bindRunFlags(fs *flag.FlagSet, cfg *core.RunConfig) *runFlags {
	r := &runFlags{fs: fs, cfg: cfg}
	fs.StringVar(&r.preset, "preset", cfg.Model.Preset, "network preset: "+fmt.Sprint(nn.PresetNames()))
	fs.IntVar(&r.filters, "filters", 0, "override the preset's base filter count")
	fs.IntVar(&r.stages, "stages", 0, "override the number of downsampling stages")
	fs.IntVar(&r.extra, "extra-blocks", -1, "override same-size blocks per stage")
	fs.IntVar(&r.size, "image-size", 0, "override the image side (28 keeps MNIST unpadded, 32 pads it)")
	fs.IntVar(&r.inChan, "in-channels", 0, "override the input channels (3 for CIFAR-10 and colour folders)")
	fs.StringVar(&cfg.Data, "data", cfg.Data, "dataset: embedded, mnist, fashion-mnist, cifar10 or an image folder")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of downloaded datasets (default $MDSM_DATA or ~/.cache/mdsm/data)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed (weights, batches, noise)")
	fs.IntVar(&cfg.Steps, "steps", cfg.Steps, "total optimisation steps")
	fs.IntVar(&cfg.BatchSize, "batch", cfg.BatchSize, "images per step")
	fs.IntVar(&cfg.MicroBatch, "micro-batch", cfg.MicroBatch, "images per forward/backward pass (gradient accumulation); 0 = whole batch")
	fs.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate (Adam)")
	fs.StringVar(&cfg.LRSchedule, "lr-schedule", cfg.LRSchedule, "cosine (decay to --lr-min) or constant")
	fs.Float64Var(&cfg.LRMin, "lr-min", cfg.LRMin, "final learning rate of the cosine decay")
	fs.IntVar(&cfg.Warmup, "warmup", cfg.Warmup, "linear learning-rate warm-up steps")
	fs.Float64Var(&cfg.Beta1, "beta1", cfg.Beta1, "Adam beta1")
	fs.Float64Var(&cfg.Beta2, "beta2", cfg.Beta2, "Adam beta2")
	fs.Float64Var(&cfg.Sigma0, "sigma0", cfg.Sigma0, "sigma0 of the score target (x~ - x)/sigma0^2")
	fs.Float64Var(&cfg.SigmaMin, "sigma-min", cfg.SigmaMin, "smallest training noise level")
	fs.Float64Var(&cfg.SigmaMax, "sigma-max", cfg.SigmaMax, "largest training noise level")
	fs.StringVar(&cfg.NoiseSpacing, "noise-spacing", cfg.NoiseSpacing, "linear or geometric spacing of the noise levels over the batch")
	fs.StringVar(&cfg.NoiseMode, "noise-mode", cfg.NoiseMode, "multiscale (MDSM) or single (one-sigma DSM baseline, paper Appendix B)")
	fs.Float64Var(&cfg.SingleSigma, "single-sigma", cfg.SingleSigma, "the sigma of --noise-mode single")
	fs.IntVar(&cfg.LogEvery, "log-every", cfg.LogEvery, "write a metrics.jsonl line every N steps")
	fs.IntVar(&cfg.CheckpointEvery, "checkpoint-every", cfg.CheckpointEvery, "checkpoint every N steps")
	fs.IntVar(&cfg.KeepCheckpoints, "keep", cfg.KeepCheckpoints, "checkpoints to keep (newest)")
	fs.IntVar(&cfg.SampleEvery, "sample-every", cfg.SampleEvery, "write a sample grid to RUN/samples every N steps (0 = never)")
	fs.Float64Var(&cfg.SampleShare, "sample-share", cfg.SampleShare, fmt.Sprintf("largest share of wall time a sample grid takes while it is drawn, between training steps (0 = %g; a grid due while one is drawn is skipped)", core.DefaultSampleShare))
	fs.BoolVar(&cfg.NaNRollback, "nan-rollback", cfg.NaNRollback, fmt.Sprintf("on a NaN/Inf, roll back to the last good checkpoint with the learning rate halved and go on (at most %d times)", core.MaxNaNRollbacks))
	fs.StringVar(&cfg.Device, "device", cfg.Device, core.DeviceFlagHelp)
	fs.BoolVar(&cfg.TF32, "tf32", cfg.TF32, "let a GPU use TF32 tensor cores in float32 convolutions (faster, ~1e-3 relative error per product; off by default)")
	fs.BoolVar(&core.SkipMemoryCheck, "skip-memory-check", core.SkipMemoryCheck, "start even if the memory estimate says the run does not fit")
	return r
}

// apply resolves the preset and model overrides after parsing.
func (r *runFlags) apply() error {
	visited := map[string]bool{}
	r.fs.Visit(func(f *flag.Flag) { visited[f.Name] = true })
	if visited["preset"] {
		m, err := nn.PresetConfig(r.preset)
		if err != nil {
			return err
		}
		r.cfg.Model = m
	}
	// a given value is used as it is (Validate refuses 0 or a negative), never dropped
	if visited["filters"] {
		r.cfg.Model.Filters = r.filters
	}
	if visited["stages"] {
		r.cfg.Model.Stages = r.stages
	}
	if visited["extra-blocks"] {
		r.cfg.Model.ExtraBlocks = r.extra
	}
	if visited["image-size"] {
		r.cfg.Model.ImageSize = r.size
	}
	if visited["in-channels"] {
		r.cfg.Model.InChannels = r.inChan
	}
	if visited["filters"] || visited["stages"] || visited["extra-blocks"] || visited["image-size"] || visited["in-channels"] {
		r.cfg.Model.Preset += "+custom"
	}
	return r.cfg.Validate()
}

// defaultRunDir names a new run directory after the time it starts.
func defaultRunDir() string {
	return "runs/" + time.Now().Format("20060102-150405")
}
