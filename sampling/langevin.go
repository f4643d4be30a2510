package sampling

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"mdsm/internal/philox"
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
	seed    uint64
	trace   []TracePoint
	// noise fills z with draw number d of the chain's counter-based normals (see
	// startDraw); tests replace it with a fixed draw.
	noise func(z []float32, d uint64)
	// dev runs the chains on the energy's device (a ChainEnergy), started at the first
	// step; x is then stale and the device's state is the chain's.
	dev ChainRunner

	// err is the divergence that stopped the chain (sticky: a NaN state cannot recover).
	err error

	// inpainting: nil free means every pixel is free.
	free       []bool    // len dim, shared by all images
	truth      []float32 // n*dim
	in         []float32 // network input with noisy clamped pixels
	clampNoise string
}

// NewChain starts n chains of dim scalars each (dim = channels*height*width) at
// x0 = InitMean + InitStd N(0, I). All of a chain's noise is counter-based normals keyed by
// seed (internal/philox): draw 0 for x0, draws 2k+1 and 2k+2 for step k, so the same seed,
// config and energy reproduce the same chain, on the CPU or, when the energy runs chains
// itself (ChainEnergy), on its device. It runs no energy evaluation.
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
		e: make([]float32, n), seed: seed,
		trace: make([]TracePoint, 0, len(temps)),
	}
	key := philox.KeyOf(seed)
	c.noise = func(z []float32, d uint64) { philox.Normals(key, d, z) }
	c.noise(c.z, startDraw())
	for i, z := range c.z {
		c.x[i] = float32(cfg.InitMean + cfg.InitStd*float64(z))
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
// clamped pixels equal the truth exactly. A device that fails to hand the state back
// gives NaNs, and the chain's next step the error.
func (c *Chain) Images() []float32 {
	out := append([]float32(nil), c.x...)
	if c.dev != nil {
		c.fromDevice("state", out, c.dev.State(out))
	}
	return out
}

// Energies returns E(x_i) at the current state (one energy evaluation).
func (c *Chain) Energies() []float32 {
	out := make([]float32, c.n)
	if c.dev != nil {
		c.fromDevice("energies", out, c.dev.Energies(out))
		return out
	}
	c.energy.Energy(c.x, c.n, out)
	return out
}

// fromDevice poisons out with NaNs and makes err the chain's error when reading what from
// the device failed.
func (c *Chain) fromDevice(what string, out []float32, err error) {
	if err == nil {
		return
	}
	for i := range out {
		out[i] = float32(math.NaN())
	}
	if c.err == nil {
		c.err = fmt.Errorf("sampling: reading the chains' %s from the model's device: %w", what, err)
	}
}

// Denoised returns the single-step denoising jump of the current state,
// x - sigma0^2 dE/dx(x) (paper eq. 9), computing one gradient. Clamped pixels of an inpainting
// chain are left at the truth. With Sigma0 = 0 it returns a copy of x.
func (c *Chain) Denoised() []float32 {
	out := append([]float32(nil), c.x...)
	s2 := c.cfg.Sigma0 * c.cfg.Sigma0
	if c.dev != nil {
		c.fromDevice("denoised state", out, c.dev.Denoised(out))
		return out
	}
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
	if err := c.ensureDevice(); err != nil {
		return err
	}
	if c.dev != nil {
		return c.stepDevice(ctx, 1)
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
	a := c.langevinScale(t)
	if a > 0 {
		c.noise(c.z, langevinDraw(c.k))
	}
	for i, xi := range c.x {
		if c.free != nil && !c.free[i%c.dim] {
			continue
		}
		// Each product rounded on its own (the conversions forbid fusing it into an FMA),
		// as the device's update computes it (gpu/kernels.cu langevin_update).
		v := float64(xi) - float64(h*float64(c.g[i]))
		if a > 0 {
			v += float64(a * float64(c.z[i]))
		}
		c.x[i] = float32(v)
		if !finite32(c.x[i]) {
			return c.diverged("the state is not finite after the update", t)
		}
	}
	c.k++
	return nil
}

// langevinScale is the noise scale eps sqrt(T) of a step at temperature t.
func (c *Chain) langevinScale(t float64) float64 { return c.cfg.Eps * math.Sqrt(t) }

// ensureDevice starts the chains on the energy's device before the first step, when the
// energy runs chains itself.
func (c *Chain) ensureDevice() error {
	if c.dev != nil || c.k > 0 {
		return nil
	}
	if err := c.startDevice(); err != nil {
		c.err = err
		return err
	}
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
	if k <= 0 || c.Done() {
		return nil
	}
	if c.dev != nil || c.k == 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if c.err != nil {
			return c.err
		}
		if err := c.ensureDevice(); err != nil {
			return err
		}
		if c.dev != nil { // the device checks ctx between stretches of steps
			return c.stepDevice(ctx, k)
		}
	}
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
