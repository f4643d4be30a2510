package core

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"mdsm/nn"
	"mdsm/sampling"
)

// SamplerConfig is the run's default sampler: the paper's exp schedule rescaled to
// SampleSteps steps from SampleT0, eps 0.02, at the run's sigma0.
func (c RunConfig) SamplerConfig() sampling.LangevinConfig {
	lc := sampling.DefaultLangevinConfig()
	lc.Sigma0 = c.Sigma0
	lc.Schedule = lc.Schedule.Rescaled(c.SampleSteps, c.SampleT0)
	return lc
}

// PeriodicSampler is the GridSampler a run config asks for: SampleCount images drawn with
// the run's SamplerConfig.
func PeriodicSampler(c RunConfig) SampleFunc {
	return GridSampler(c.SamplerConfig(), c.SampleCount, c.Seed)
}

// GridSampler returns a SampleFunc that draws n samples by annealed Langevin from a weight
// snapshot and writes RUN/samples/step-NNNNNNNN.png (the denoised chain ends) and its
// energy trace. It runs on one goroutine with its own model, so it never touches the
// trainer's live weights and costs training at most one core.
func GridSampler(cfg sampling.LangevinConfig, n int, seed uint64) SampleFunc {
	return func(ctx context.Context, p *nn.Params[float32], step int, dir string) (string, error) {
		c := p.Config
		chain, err := sampling.NewChain(nn.NewModel(p), n, c.Dim(), cfg, seed)
		if err != nil {
			return "", err
		}
		if err := chain.Run(ctx); err != nil {
			return "", err
		}
		imgs := chain.Denoised()
		cols := 1
		for cols*cols < n {
			cols++
		}
		grid, err := sampling.Grid(imgs, n, c.InChannels, c.ImageSize, c.ImageSize, cols, 2)
		if err != nil {
			return "", err
		}
		path := filepath.Join(dir, "samples", fmt.Sprintf("step-%08d.png", step))
		if err := sampling.WritePNG(path, grid); err != nil {
			return "", err
		}
		trace := chain.Trace()
		err = writeAtomic(filepath.Join(dir, "samples", fmt.Sprintf("step-%08d-energy.csv", step)), func(w io.Writer) error {
			return sampling.WriteTraceCSV(w, trace)
		})
		return path, err
	}
}
