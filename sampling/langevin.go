package sampling

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
)

// LangevinConfig configures annealed Langevin sampling (paper eq. 8, REFERENCE: Annealed
// Langevin sampling). The zero value is not valid; start from DefaultLangevinConfig.
type LangevinConfig struct {
	// Schedule gives T_k for each step; its Steps is the chain length.
	Schedule Schedule `json:"schedule"`
	// Eps is the step length epsilon (paper: 0.02, sane range 0.015-0.05). Must be > 0.
	Eps float64 `json:"eps"`
	// Sigma0 is the model's noise level, used by the denoising jump x - Sigma0^2 dE/dx
	// (paper eq. 9) and, when inpainting, for the noise on clamped pixels. 0 disables the jump.
	Sigma0 float64 `json:"sigma0"`
	// InitMean and InitStd define the start x0 = InitMean + InitStd * N(0, I) (paper: 0.5, 1).
	InitMean float64 `json:"init_mean"`
	InitStd  float64 `json:"init_std"`
}

// DefaultLangevinConfig returns the paper's settings: the 2700-step "exp" schedule from T = 100,
// eps = 0.02, sigma0 = 0.1, x0 = 0.5 + N(0, I).
func DefaultLangevinConfig() LangevinConfig {
	return LangevinConfig{Schedule: DefaultSchedule(), Eps: 0.02, Sigma0: 0.1, InitMean: 0.5, InitStd: 1}
}

// Validate reports the first invalid setting of c, or nil.
func (c LangevinConfig) Validate() error {
	if err := c.Schedule.Validate(); err != nil {
		return fmt.Errorf("sampling: langevin schedule: %w", err)
	}
	if !finite(c.Eps) || c.Eps <= 0 {
		return fmt.Errorf("sampling: langevin step length eps = %v must be finite and > 0", c.Eps)
	}
	if !finite(c.Sigma0) || c.Sigma0 < 0 {
		return fmt.Errorf("sampling: sigma0 = %v must be finite and >= 0", c.Sigma0)
	}
	if !finite(c.InitMean) || !finite(c.InitStd) || c.InitStd < 0 {
		return fmt.Errorf("sampling: init mean %v / std %v must be finite, std >= 0", c.InitMean, c.InitStd)
	}
	return nil
}

// TracePoint records, for one Langevin step, the temperature used and the mean energy of the
// batch at the state the step's gradient was taken at (the state before the update; for
// inpainting, with the noisy clamped pixels the network saw). Paper Fig. A7B: during
// annealing the energy follows the temperature, a live diagnostic of the sampler.
type TracePoint struct {
	Step       int     `json:"step"`
	T          float64 `json:"t"`
	MeanEnergy float64 `json:"mean_energy"`
}

// Chain is a batch of n annealed Langevin chains advanced one step at a time, so that a UI can
// show images, denoised images and energies at any step. It owns its buffers and its random
// generator; it is not safe for concurrent use, and the Energy it was given must not be used
// elsewhere while it runs.
//
// Step k (0-based) with temperature T_k applies paper eq. 8 to every pixel:
//
//	x <- x - (eps^2/2) dE/dx(x) + eps sqrt(T_k) z,   z ~ N(0, I),
//
// without clipping. An inpainting chain (NewInpaintChain) moves only free pixels and feeds
// the network noisy versions of the clamped ones.
type Chain struct {
	energy Energy
	n, dim int
	cfg    LangevinConfig
	temps  []float64
	k      int

	x, g, z []float32 // state, gradient, noise draw (n*dim)
	e       []float32 // energies (n)
	rng     *rand.Rand
	trace   []TracePoint
	// noise fills z with N(0,1) draws; tests replace it with a fixed draw.
	noise func(z []float32)

	// err is the divergence that stopped the chain (sticky: a NaN state cannot recover).
	err error

	// inpainting: nil free means every pixel is free.
	free       []bool    // len dim, shared by all images
	truth      []float32 // n*dim
	in         []float32 // network input with noisy clamped pixels
	clampNoise string
}

// NewChain starts n chains of dim scalars each (dim = channels*height*width) at
// x0 = InitMean + InitStd N(0, I), drawn from a PCG generator seeded with seed; the same seed,
// config and energy reproduce the same chain. It runs no energy evaluation.
func NewChain(e Energy, n, dim int, cfg LangevinConfig, seed uint64) (*Chain, error) {
	if e == nil {
		return nil, errors.New("sampling: nil energy")
	}
	if n < 1 || dim < 1 {
		return nil, fmt.Errorf("sampling: chain needs n >= 1 images of dim >= 1 (n = %d, dim = %d)", n, dim)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	temps, err := cfg.Schedule.Temperatures(0)
	if err != nil {
		return nil, fmt.Errorf("sampling: langevin schedule: %w", err)
	}
	c := &Chain{
		energy: e, n: n, dim: dim, cfg: cfg, temps: temps,
		x: make([]float32, n*dim), g: make([]float32, n*dim), z: make([]float32, n*dim),
		e: make([]float32, n), rng: newRand(seed),
		trace: make([]TracePoint, 0, len(temps)),
	}
	c.noise = func(z []float32) {
		for i := range z {
			z[i] = float32(c.rng.NormFloat64())
		}
	}
	for i := range c.x {
		c.x[i] = float32(cfg.InitMean + cfg.InitStd*c.rng.NormFloat64())
	}
	return c, nil
}

// N is the number of chains (images) in the batch.
func (c *Chain) N() int { return c.n }

// Dim is the number of scalars per image.
func (c *Chain) Dim() int { return c.dim }

// Config returns the configuration the chain was built with.
func (c *Chain) Config() LangevinConfig { return c.cfg }

// StepIndex is the number of steps taken so far (the index of the next step).
func (c *Chain) StepIndex() int { return c.k }

// Steps is the total number of steps of the chain's schedule.
func (c *Chain) Steps() int { return len(c.temps) }

// Done reports whether every step of the schedule has run.
func (c *Chain) Done() bool { return c.k >= len(c.temps) }

// Temperature is the temperature of the last step taken, or of the first step before any.
func (c *Chain) Temperature() float64 {
	if c.k == 0 {
		return c.temps[0]
	}
	return c.temps[c.k-1]
}

// Temperatures returns a copy of the chain's whole schedule T_0..T_{Steps-1}.
func (c *Chain) Temperatures() []float64 { return append([]float64(nil), c.temps...) }

// Trace returns a copy of the energy trace, one point per step taken.
func (c *Chain) Trace() []TracePoint { return append([]TracePoint(nil), c.trace...) }

// Images returns a copy of the current state x (n*dim, NCHW). For inpainting chains the
// clamped pixels equal the truth exactly.
func (c *Chain) Images() []float32 { return append([]float32(nil), c.x...) }

// Energies returns E(x_i) at the current state (one energy evaluation).
func (c *Chain) Energies() []float32 {
	out := make([]float32, c.n)
	c.energy.Energy(c.x, c.n, out)
	return out
}

// Denoised returns the single-step denoising jump of the current state,
// x - sigma0^2 dE/dx(x) (paper eq. 9), computing one gradient. Clamped pixels of an inpainting
// chain are left at the truth. With Sigma0 = 0 it returns a copy of x.
func (c *Chain) Denoised() []float32 {
	out := append([]float32(nil), c.x...)
	s2 := c.cfg.Sigma0 * c.cfg.Sigma0
	if s2 == 0 {
		return out
	}
	e := make([]float32, c.n)
	g := make([]float32, len(c.x))
	c.energy.EnergyGrad(c.x, c.n, e, g)
	for i := range out {
		if c.free == nil || c.free[i%c.dim] {
			out[i] = float32(float64(out[i]) - s2*float64(g[i]))
		}
	}
	return out
}

// ErrDiverged marks a chain whose energies or state stopped being finite numbers.
var ErrDiverged = errors.New("sampling: Langevin chains diverged")

// Step runs one Langevin step. It returns ctx.Err() without stepping if ctx is done, and nil
// without doing anything if the chain is Done. When the energies or the new state are not
// finite (a temperature or step length too large for the model, or a broken model) it
// returns an error wrapping ErrDiverged that names the step, and so does every later call.
func (c *Chain) Step(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.err != nil {
		return c.err
	}
	if c.Done() {
		return nil
	}
	t := c.temps[c.k]
	in := c.x
	if c.free != nil {
		c.fillInput(t)
		in = c.in
	}
	c.energy.EnergyGrad(in, c.n, c.e, c.g)
	sum := 0.0
	for _, v := range c.e {
		sum += float64(v)
	}
	if !finite(sum) {
		return c.diverged("the energy is not finite", t)
	}
	c.trace = append(c.trace, TracePoint{Step: c.k, T: t, MeanEnergy: sum / float64(c.n)})

	h := c.cfg.Eps * c.cfg.Eps / 2
	a := c.cfg.Eps * math.Sqrt(t)
	if a > 0 {
		c.noise(c.z)
	}
	for i, xi := range c.x {
		if c.free != nil && !c.free[i%c.dim] {
			continue
		}
		v := float64(xi) - h*float64(c.g[i])
		if a > 0 {
			v += a * float64(c.z[i])
		}
		c.x[i] = float32(v)
		if !finite32(c.x[i]) {
			return c.diverged("the state is not finite after the update", t)
		}
	}
	c.k++
	return nil
}

// diverged records and returns the divergence at the current step.
func (c *Chain) diverged(what string, t float64) error {
	c.err = fmt.Errorf("%w at step %d of %d (temperature %g, eps %g): %s; lower the temperature (t0) or the step length (eps), or check the model",
		ErrDiverged, c.k+1, len(c.temps), t, c.cfg.Eps, what)
	return c.err
}

func finite32(v float32) bool { return finite(float64(v)) }

// CheckFinite returns an error naming what (e.g. "samples") and the first index when x
// holds a NaN or an infinity: results are checked before they are written or printed.
func CheckFinite(what string, x []float32) error {
	for i, v := range x {
		if !finite32(v) {
			return fmt.Errorf("%s: value %d is %v (not a finite number)", what, i, v)
		}
	}
	return nil
}

// StepN runs up to k more steps (fewer if the chain finishes), checking ctx before each one, so
// a cancelled context stops it within one step with ctx.Err().
func (c *Chain) StepN(ctx context.Context, k int) error {
	for range k {
		if c.Done() {
			return nil
		}
		if err := c.Step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Run steps the chain to the end of its schedule (see StepN).
func (c *Chain) Run(ctx context.Context) error { return c.StepN(ctx, len(c.temps)-c.k) }

// WriteTraceCSV writes a header "step,temperature,mean_energy" and one row per trace point.
func WriteTraceCSV(w io.Writer, trace []TracePoint) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"step", "temperature", "mean_energy"}); err != nil {
		return fmt.Errorf("sampling: writing trace csv: %w", err)
	}
	for _, p := range trace {
		row := []string{strconv.Itoa(p.Step), strconv.FormatFloat(p.T, 'g', -1, 64), strconv.FormatFloat(p.MeanEnergy, 'g', -1, 64)}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("sampling: writing trace csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("sampling: writing trace csv: %w", err)
	}
	return nil
}
