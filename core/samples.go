package core

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"path/filepath"

	"mdsm/nn"
	"mdsm/sampling"
)

// SamplerConfig is the run's default sampler: the paper's exp schedule rescaled to
// SampleSteps steps from SampleT0, eps 0.02, chains from SampleInitMean + N(0, I), at the
// run's sigma0.
func (c RunConfig) SamplerConfig() sampling.LangevinConfig {
	lc := sampling.DefaultLangevinConfig()
	lc.Sigma0, lc.InitMean = c.Sigma0, c.SampleInitMean
	lc.Schedule = lc.Schedule.Rescaled(c.SampleSteps, c.SampleT0)
	return lc
}

// SamplerPath is where a run keeps the sampler saved in the workbench (RUN/sampler.json,
// the saved-sampler format of sampling.WriteSamplerFile).
func SamplerPath(runDir string) string { return filepath.Join(runDir, "sampler.json") }

// RunSampler is the sampler a run's readers start from: the one saved in RUN/sampler.json
// (saved is true), else the run's default (SamplerConfig). Its Sigma0 is always the run's.
// A saved file that cannot be read is an error naming it, with the default returned beside.
func RunSampler(runDir string, c RunConfig) (lc sampling.LangevinConfig, saved bool, err error) {
	def := c.SamplerConfig()
	lc, err = sampling.ReadSamplerFile(SamplerPath(runDir))
	if errors.Is(err, fs.ErrNotExist) {
		return def, false, nil
	}
	if err != nil {
		return def, false, err
	}
	lc.Sigma0 = c.Sigma0
	return lc, true, nil
}

// SaveRunSampler writes the sampler of a run (RUN/sampler.json). It is the workbench's
// file: no trainer reads or writes it, so a watcher may save it beside a running trainer.
func SaveRunSampler(runDir string, lc sampling.LangevinConfig) error {
	return sampling.WriteSamplerFile(SamplerPath(runDir), lc)
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
	grid, err := gridOf(imgs, j.n, c)
	if err != nil {
		return SampleResult{}, err
	}
	path := filepath.Join(j.dir, "samples", gridName(j.step))
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

// gridOf lays out n images of a network's shape as a square-ish grid (sampling.Grid).
func gridOf(imgs []float32, n int, c nn.Config) (*image.RGBA, error) {
	return sampling.Grid(imgs, n, c.InChannels, c.ImageSize, c.ImageSize, 0, 2)
}
