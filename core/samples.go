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
// the run's SamplerConfig, on the run's device (the CPU when it cannot be opened), scored
// when the run's data have a built-in classifier.
func PeriodicSampler(c RunConfig) SampleFunc {
	d, _, err := OpenDevice(c.Device, c.TF32)
	if err != nil {
		d = CPU
	}
	return GridSamplerOn(d, c.SamplerConfig(), c.SampleCount, c.Seed, newLiveScorer(c))
}

// SampleResult is what a periodic grid produced: the file and, when the run's data have a
// built-in classifier, the score of its chains (or why scoring failed; the grid stands).
type SampleResult struct {
	Path     string
	Score    *SampleScore
	ScoreErr error
}

// GridSampler is GridSamplerOn the CPU, unscored.
func GridSampler(cfg sampling.LangevinConfig, n int, seed uint64) SampleFunc {
	return GridSamplerOn(CPU, cfg, n, seed, nil)
}

// GridSamplerOn returns a SampleFunc whose jobs draw n samples by annealed Langevin from a
// weight snapshot on device d, one Langevin step per Step, then write
// RUN/samples/step-NNNNNNNN.png (the denoised chain ends) and its energy trace and score the
// chain ends with sc (nil: no score). Each job has its own model over its own snapshot, so it
// never touches the trainer's live weights.
func GridSamplerOn(d Device, cfg sampling.LangevinConfig, n int, seed uint64, sc *liveScorer) SampleFunc {
	return func(p *nn.Params[float32], step int, dir string) (SampleJob, error) {
		model, err := d.NewEnergy(p)
		if err != nil {
			return nil, fmt.Errorf("sample grid on %s: %w", d, err)
		}
		chain, err := sampling.NewChain(model, n, p.Config.Dim(), cfg, seed)
		if err != nil {
			model.Close()
			return nil, err
		}
		return &gridJob{model: model, chain: chain, cfg: p.Config, n: n, step: step, dir: dir, sc: sc}, nil
	}
}

// gridJob is one periodic sample grid being drawn.
type gridJob struct {
	model EnergyModel
	chain *sampling.Chain
	cfg   nn.Config
	n     int
	step  int
	dir   string
	sc    *liveScorer
}

// Step runs one Langevin step of every chain.
func (j *gridJob) Step(ctx context.Context) (bool, error) {
	if err := j.chain.Step(ctx); err != nil {
		return false, err
	}
	return j.chain.Done(), nil
}

// Finish writes the grid of denoised chain ends and the energy trace, and scores the grid.
func (j *gridJob) Finish() (SampleResult, error) {
	c := j.cfg
	imgs := j.chain.Denoised()
	if err := sampling.CheckFinite("sample grid", imgs); err != nil {
		return SampleResult{}, fmt.Errorf("step %d: %w (the denoising jump overflowed)", j.step, err)
	}
	cols := 1
	for cols*cols < j.n {
		cols++
	}
	grid, err := sampling.Grid(imgs, j.n, c.InChannels, c.ImageSize, c.ImageSize, cols, 2)
	if err != nil {
		return SampleResult{}, err
	}
	path := filepath.Join(j.dir, "samples", fmt.Sprintf("step-%08d.png", j.step))
	if err := sampling.WritePNG(path, grid); err != nil {
		return SampleResult{}, err
	}
	trace := j.chain.Trace()
	err = writeAtomic(filepath.Join(j.dir, "samples", fmt.Sprintf("step-%08d-energy.csv", j.step)), func(w io.Writer) error {
		return sampling.WriteTraceCSV(w, trace)
	})
	if err != nil {
		return SampleResult{}, err
	}
	res := SampleResult{Path: path}
	if j.sc != nil {
		res.Score, res.ScoreErr = j.sc.score(imgs, j.n, c, j.step)
	}
	return res, nil
}

// Close releases the job's model.
func (j *gridJob) Close() { j.model.Close() }
