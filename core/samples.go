package core

import (
	"context"
	"fmt"
	"os"
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

// GridSampler returns a SampleFunc whose jobs draw n samples by annealed Langevin from a
// weight snapshot, one Langevin step per Step, and write RUN/samples/step-NNNNNNNN.png (the
// denoised chain ends) and its energy trace. Each job has its own model over its own
// snapshot, so it never touches the trainer's live weights.
func GridSampler(cfg sampling.LangevinConfig, n int, seed uint64) SampleFunc {
	return func(p *nn.Params[float32], step int, dir string) (SampleJob, error) {
		chain, err := sampling.NewChain(nn.NewModel(p), n, p.Config.Dim(), cfg, seed)
		if err != nil {
			return nil, err
		}
		return &gridJob{chain: chain, cfg: p.Config, n: n, step: step, dir: dir}, nil
	}
}

// gridJob is one periodic sample grid being drawn.
type gridJob struct {
	chain *sampling.Chain
	cfg   nn.Config
	n     int
	step  int
	dir   string
}

// Step runs one Langevin step of every chain.
func (j *gridJob) Step(ctx context.Context) (bool, error) {
	if err := j.chain.Step(ctx); err != nil {
		return false, err
	}
	return j.chain.Done(), nil
}

// Finish writes the grid of denoised chain ends and the energy trace.
func (j *gridJob) Finish() (string, error) {
	c := j.cfg
	imgs := j.chain.Denoised()
	cols := 1
	for cols*cols < j.n {
		cols++
	}
	grid, err := sampling.Grid(imgs, j.n, c.InChannels, c.ImageSize, c.ImageSize, cols, 2)
	if err != nil {
		return "", err
	}
	path := filepath.Join(j.dir, "samples", fmt.Sprintf("step-%08d.png", j.step))
	if err := sampling.WritePNG(path, grid); err != nil {
		return "", err
	}
	f, err := os.Create(filepath.Join(j.dir, "samples", fmt.Sprintf("step-%08d-energy.csv", j.step)))
	if err == nil {
		sampling.WriteTraceCSV(f, j.chain.Trace())
		f.Close()
	}
	return path, nil
}
