package core

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"mdsm/data"
	"mdsm/internal/safefile"
	"mdsm/nn"
	"mdsm/sampling"
)

// JobUpdate is a report of a sampling job (StartSampling, StartRestoring) started from a
// weight snapshot and run on its own goroutine with its own model: one every few Langevin
// steps and a last one with Done set (and Err when it failed or was cancelled).
type JobUpdate struct {
	Step, Total int
	Temperature float64
	// Trace is the mean energy and temperature of every step so far.
	Trace []sampling.TracePoint
	// Picture is the job's picture now: the denoised chains as a grid, or the rows of
	// input | result | truth of a restoration.
	Picture image.Image
	// Weights says which weights the job uses.
	Weights string
	Done    bool
	// Result is the outcome of a finished restoration ("masked MSE 0.0123").
	Result string
	Err    error
	Took   time.Duration
}

// SampleSpec is a sampling job: N chains of Sampler.
type SampleSpec struct {
	Sampler sampling.LangevinConfig
	N       int
	Seed    uint64
	// Every is the number of Langevin steps between updates, asked before each stretch (a
	// reader may change it while the job runs).
	Every func() int
}

// StartSampling runs N annealed Langevin chains from src's newest weights, reporting the
// denoised chains as a grid every Every() steps. Cancel ctx to stop it within a step (on a
// GPU, within a stretch of steps). A Run's jobs run on its device (Run.Device): on a GPU
// the chains stay there and only each update's grid comes back.
func StartSampling(ctx context.Context, src WeightSource, spec SampleSpec) <-chan JobUpdate {
	return startJob(ctx, spec.Every, func() (*chainJob, error) {
		w, err := src.Weights()
		if err != nil {
			return nil, err
		}
		c := w.params.Config
		model, where, err := jobEnergy(src, w.params)
		if err != nil {
			return nil, err
		}
		ch, err := sampling.NewChain(model, spec.N, c.Dim(), spec.Sampler, spec.Seed)
		if err != nil {
			model.Close()
			return nil, err
		}
		return &chainJob{chain: ch, weights: w.Source + where, model: model,
			render: func(den []float32) (image.Image, error) { return gridOf(den, spec.N, c) }}, nil
	})
}

// jobEnergy is the model a job runs: on the device of src when src is a Run (said in
// where, " on cuda:0", for the job's caption), else on the CPU. A device that cannot take
// the model (out of memory) leaves the job on the CPU, said in where too.
func jobEnergy(src WeightSource, p *nn.Params[float32]) (EnergyModel, string, error) {
	r, ok := src.(*Run)
	if !ok || r.Device().IsCPU() {
		return cpuEnergy{nn.NewModel(p)}, "", nil
	}
	d := r.Device()
	m, err := d.NewEnergy(p)
	if err != nil {
		return cpuEnergy{nn.NewModel(p)}, fmt.Sprintf(" on the CPU (%s: %v)", d, err), nil
	}
	return m, " on " + d.String(), nil
}

// TestImages are images of a run's test split, for restoring in the workbench.
type TestImages struct {
	ds *data.Dataset
}

// LoadTestImages loads at most limit images of the test split of cfg's dataset at its
// network's size. Call it off the UI goroutine.
func LoadTestImages(cfg RunConfig, limit int) (*TestImages, error) {
	ds, err := data.LoadWith(cfg.Data, "test", cfg.DataDir, data.Options{Size: cfg.Model.ImageSize, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("load test images of %s: %w", cfg.Data, err)
	}
	if ds.C != cfg.Model.InChannels {
		return nil, fmt.Errorf("test images of %s have %d channels, the network %d", cfg.Data, ds.C, cfg.Model.InChannels)
	}
	return &TestImages{ds: ds}, nil
}

// Len is the number of images.
func (t *TestImages) Len() int { return t.ds.N }

// ModeDenoise is the restoration that adds noise and denoises with one jump; the other
// RestoreModes are inpainting masks.
const ModeDenoise = "denoise"

// RestoreModes lists the restorations: inpainting masks (sampling.ParseMask), then denoising.
func RestoreModes() []string {
	return []string{"center", "left", "right", "top", "bottom", "random", ModeDenoise}
}

// RestoreSpec is a restoration of Rows test images from First on (wrapping around): masked
// inpainting by annealed Langevin with Sampler, or, for ModeDenoise, noise of Sigma removed
// by the denoising jump.
type RestoreSpec struct {
	Mode        string
	First, Rows int
	Sigma       float64
	Sampler     sampling.LangevinConfig
	Seed        uint64
}

// truth is the clean images of the spec.
func (t *TestImages) truth(s RestoreSpec) ([]float32, int) {
	n := min(s.Rows, t.ds.N)
	out := make([]float32, 0, n*t.ds.Dim())
	for i := range n {
		out = append(out, t.ds.Image(((s.First+i)%t.ds.N+t.ds.N)%t.ds.N)...)
	}
	return out, n
}

// input is what the network is given: noisy images, or the truth with the masked pixels
// NaN (drawn in the mask's colour by triptych), and the mask (nil for denoising).
func (t *TestImages) input(s RestoreSpec, truth []float32) ([]float32, *sampling.Mask, error) {
	if s.Mode == ModeDenoise {
		return sampling.AddNoise(truth, s.Sigma, uint64(s.First+1)), nil, nil
	}
	m, err := sampling.ParseMask(s.Mode, t.ds.H, t.ds.W, uint64(s.First+1))
	if err != nil {
		return nil, nil, err
	}
	in := append([]float32(nil), truth...)
	hw := m.H * m.W
	for i := range in {
		if m.Free[i%hw] {
			in[i] = float32(math.NaN())
		}
	}
	return in, &m, nil
}

// Preview is the picture of a restoration before it runs: input | (empty) | truth.
func (t *TestImages) Preview(s RestoreSpec) (image.Image, error) {
	truth, n := t.truth(s)
	in, _, err := t.input(s, truth)
	if err != nil {
		return nil, err
	}
	return triptych(in, nil, truth, n, t.ds.C, t.ds.H, t.ds.W)
}

// StartRestoring runs a restoration from src's newest weights. Inpainting reports its
// picture (input | result | truth) every 1/40 of its steps and ends with the masked-region
// MSE; denoising reports once, with the PSNR before and after.
func StartRestoring(ctx context.Context, src WeightSource, t *TestImages, s RestoreSpec) <-chan JobUpdate {
	truth, n := t.truth(s)
	c, h, w := t.ds.C, t.ds.H, t.ds.W
	every := func() int { return max(1, s.Sampler.Schedule.Steps/40) }
	return startJob(ctx, every, func() (*chainJob, error) {
		in, mask, err := t.input(s, truth)
		if err != nil {
			return nil, err
		}
		wts, err := src.Weights()
		if err != nil {
			return nil, err
		}
		if d := wts.params.Config.Dim(); d != c*h*w {
			return nil, fmt.Errorf("the network takes %dx%d images, the test images are %dx%d", wts.params.Config.ImageSize, wts.params.Config.ImageSize, h, w)
		}
		render := func(res []float32) (image.Image, error) { return triptych(in, res, truth, n, c, h, w) }
		model, where, err := jobEnergy(src, wts.params)
		if err != nil {
			return nil, err
		}
		if mask == nil {
			out, err := sampling.Denoise(model, in, n, s.Sampler.Sigma0)
			model.Close()
			if err != nil {
				return nil, err
			}
			_, before, _ := sampling.PSNR(in, truth, n, 1)
			_, after, _ := sampling.PSNR(out, truth, n, 1)
			pic, err := render(out)
			return &chainJob{weights: wts.Source + where, picture: pic, err: err,
				result: fmt.Sprintf("PSNR %.2f dB → %.2f dB", before, after)}, nil
		}
		ic := sampling.InpaintConfig{Langevin: s.Sampler, ClampNoise: sampling.ClampNoiseSqrt}
		ch, err := sampling.NewInpaintChain(model, truth, n, c, *mask, ic, s.Seed)
		if err != nil {
			model.Close()
			return nil, err
		}
		return &chainJob{chain: ch, weights: wts.Source + where, model: model, render: render,
			finish: func(res []float32) string {
				if _, mse, err := sampling.MaskedMSE(res, truth, n, c, *mask); err == nil {
					return fmt.Sprintf("masked MSE %.4f", mse)
				}
				return ""
			}}, nil
	})
}

// chainJob is what a job runs: a chain stepped and rendered, or (chain nil) a picture
// computed at once.
type chainJob struct {
	chain   *sampling.Chain
	model   EnergyModel // the chain's model, closed when the job ends
	weights string
	render  func(denoised []float32) (image.Image, error)
	finish  func(denoised []float32) string // the result line of a finished chain
	// a job done at once:
	picture image.Image
	result  string
	err     error
}

// deliver sends a job's update on out, which has room for one: a last word (an error, or
// the end) never blocks, since nobody may listen after a cancel; the others wait for the
// reader or the cancel. It reports whether the job should go on.
func deliver[T any](ctx context.Context, out chan<- T, u T, last bool) bool {
	if last {
		select {
		case out <- u:
		default:
		}
		return false
	}
	select {
	case out <- u:
		return true
	case <-ctx.Done():
		return false
	}
}

// startJob builds a job on a new goroutine and reports it on the returned channel, which
// closes after the last update. The goroutine owns the chain and its model.
func startJob(ctx context.Context, every func() int, build func() (*chainJob, error)) <-chan JobUpdate {
	out := make(chan JobUpdate, 1)
	go func() {
		defer close(out)
		start := time.Now()
		send := func(u JobUpdate) bool {
			u.Took = time.Since(start)
			return deliver(ctx, out, u, u.Err != nil)
		}
		job, err := build()
		if err == nil && job.chain == nil {
			err = job.err
		}
		if err != nil {
			send(JobUpdate{Done: true, Err: err})
			return
		}
		if job.chain == nil {
			send(JobUpdate{Picture: job.picture, Weights: job.weights, Result: job.result, Done: true, Step: 1, Total: 1})
			return
		}
		ch := job.chain
		defer job.model.Close()
		for {
			k := 1
			if every != nil {
				k = max(1, every())
			}
			if err := ch.StepN(ctx, k); err != nil {
				send(JobUpdate{Step: ch.StepIndex(), Total: ch.Steps(), Done: true, Err: err})
				return
			}
			den := ch.Denoised()
			pic, err := job.render(den)
			if err != nil {
				send(JobUpdate{Done: true, Err: fmt.Errorf("render: %w", err)})
				return
			}
			u := JobUpdate{Step: ch.StepIndex(), Total: ch.Steps(), Temperature: ch.Temperature(), Trace: ch.Trace(),
				Picture: pic, Weights: job.weights, Done: ch.Done()}
			if u.Done && job.finish != nil {
				u.Result = job.finish(den)
			}
			if !send(u) || u.Done {
				return
			}
		}
	}()
	return out
}

// triptych lays out n rows of input | result | truth as one RGB picture. NaN input pixels
// (the inpainting mask) are drawn in a blue tint; a nil result column is dark grey.
func triptych(input, result, truth []float32, n, c, h, w int) (image.Image, error) {
	dim := c * h * w
	plane := h * w
	out := make([]float32, 0, 3*n*3*plane)
	rgb := func(src []float32, i int) {
		for ch := range 3 {
			sc := min(ch, c-1)
			for j := range plane {
				v := float32(0.15)
				if src != nil {
					v = src[i*dim+sc*plane+j]
				}
				if math.IsNaN(float64(v)) {
					v = [3]float32{0.25, 0.35, 0.85}[ch]
				}
				out = append(out, v)
			}
		}
	}
	for i := range n {
		rgb(input, i)
		rgb(result, i)
		rgb(truth, i)
	}
	return sampling.Grid(out, 3*n, 3, h, w, 3, 2)
}

// SaveImage writes img as RUN/samples/NAME-DATE-TIME.png, or ./mdsm-NAME-DATE-TIME.png
// without a run directory, and returns the path. Like every command output it never
// replaces a file (safefile.WriteNew): a second save in the same second gets the next free
// name, NAME-DATE-TIME-2.png and on.
func SaveImage(runDir, name string, img image.Image) (string, error) {
	if img == nil {
		return "", fmt.Errorf("save %s: no picture", name)
	}
	return saveNew(runDir, "samples", name, ".png", func(w io.Writer) error { return png.Encode(w, img) })
}

// SaveExport writes an export of the workbench (a chart's data as CSV, the screen as PNG)
// as RUN/exports/NAME-DATE-TIME.EXT (ext with its dot), or ./mdsm-NAME-DATE-TIME.EXT
// without a run directory, never replacing a file (as SaveImage), and returns the path.
// These are the workbench's own files: no trainer reads or writes them.
func SaveExport(runDir, name, ext string, write func(w io.Writer) error) (string, error) {
	return saveNew(runDir, "exports", name, ext, write)
}

// saveNew writes RUN/SUB/NAME-STAMP.EXT (or ./mdsm-NAME-STAMP.EXT) under the first free
// name.
func saveNew(runDir, sub, name, ext string, write func(w io.Writer) error) (string, error) {
	stamp := time.Now().Format("20060102-150405")
	base := filepath.Join(".", "mdsm-"+name+"-"+stamp)
	if runDir != "" {
		dir := filepath.Join(runDir, sub)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return "", fmt.Errorf("save %s: %w", name, safefile.Describe(err))
		}
		base = filepath.Join(dir, name+"-"+stamp)
	}
	for i := 1; i <= 100; i++ {
		path := base + ext
		if i > 1 {
			path = fmt.Sprintf("%s-%d%s", base, i, ext)
		}
		err := safefile.WriteNew(path, false, write)
		if errors.Is(err, safefile.ErrExists) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("save %s: %w", name, err)
		}
		return path, nil
	}
	return "", fmt.Errorf("save %s: %s%s and 99 numbered names after it exist already", name, base, ext)
}
