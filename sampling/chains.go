package sampling

import (
	"context"
	"fmt"
)

// ChainEnergy is an Energy that can also run whole Langevin chains where it evaluates the
// network (a GPU): the chains' state, the noise (counter-based, the CPU Chain's own
// numbers; internal/philox) and every step's arithmetic stay there, and only what a
// reader asks for crosses (the state, the denoised state, the energies, the trace). A
// Chain uses it when its Energy has it; the CPU's nn.Model does not, and its chains step
// here. Either way a Chain computes the same function of the same noise: results differ
// only by the rounding of E and dE/dx on the two devices.
type ChainEnergy interface {
	Energy
	// StartChains places spec's chains on the device. The runner holds the energy's
	// device: the energy must not be used otherwise until the runner is closed.
	StartChains(spec ChainSpec) (ChainRunner, error)
}

// ChainSpec is what a ChainRunner needs to reproduce a Chain: its start and, for every
// step k, the Langevin update
//
//	x <- x - (Eps^2/2) dE/dx(in) + A[k] z_k,   z_k = the normals of draw 2k+2 (NoiseSeed),
//
// on free pixels, where the network input "in" is x, except on clamped pixels (Free
// given), which are Truth + ClampStd[k] z'_k with z'_k the normals of draw 2k+1; all in
// float64 rounded to float32, as Chain.Step computes it. Step k's trace point is the mean
// of the N energies E(in) summed in order in float64.
type ChainSpec struct {
	N, Dim int
	// X0 is the start state (N*Dim values; clamped pixels hold the truth).
	X0 []float32
	// Steps is the schedule's length; A[k] = Eps sqrt(T_k) is the noise scale of step k
	// (0: no noise) and ClampStd[k] the clamp noise of step k (nil without a mask).
	Steps    int
	A        []float64
	ClampStd []float64
	// H is Eps^2/2.
	H float64
	// Sigma0 is the denoising jump's noise level: x - Sigma0^2 dE/dx(x) on free pixels.
	Sigma0 float64
	// NoiseSeed keys the counter-based normals (philox.KeyOf).
	NoiseSeed uint64
	// Free marks the pixels of one image (Dim values) that move (nil: all); Truth (N*Dim)
	// holds the clamped pixels' values.
	Free  []bool
	Truth []float32
}

// ChainRunner is a batch of chains on a device (ChainEnergy.StartChains).
type ChainRunner interface {
	// Steps runs the next k steps (fewer when a step diverges or ctx is cancelled) and
	// reports their trace.
	Steps(ctx context.Context, k int) (StepsReport, error)
	// State copies the current state into x (N*Dim).
	State(x []float32) error
	// Denoised writes the denoising jump of the current state into out (N*Dim): one
	// gradient on the device; clamped pixels keep the truth.
	Denoised(out []float32) error
	// Energies writes E of the current state into e (N values).
	Energies(e []float32) error
	// Close frees the chains' device memory.
	Close() error
}

// StepsReport is what ChainRunner.Steps ran: the mean energy of each step run, and the
// first step whose energy or new state was not finite (Diverged is its index in Mean,
// -1 when none). Mean holds the steps up to and including the diverging one.
type StepsReport struct {
	Mean     []float64
	Diverged int
	// BadState says that the diverging step's energies were finite but its new state
	// was not.
	BadState bool
}

// Noise draws of a chain: the start state is draw 0; step k draws 2k+1 (the clamp noise
// of an inpainting chain) and 2k+2 (the Langevin noise).
func startDraw() uint64         { return 0 }
func clampDraw(k int) uint64    { return uint64(2*k + 1) }
func langevinDraw(k int) uint64 { return uint64(2*k + 2) }

// startDevice hands the chain to its energy's device when the energy runs chains.
func (c *Chain) startDevice() error {
	ce, ok := c.energy.(ChainEnergy)
	if !ok {
		return nil
	}
	spec := ChainSpec{N: c.n, Dim: c.dim, X0: c.x, Steps: len(c.temps), A: make([]float64, len(c.temps)),
		H: c.cfg.Eps * c.cfg.Eps / 2, Sigma0: c.cfg.Sigma0, NoiseSeed: c.seed, Free: c.free, Truth: c.truth}
	for k, t := range c.temps {
		spec.A[k] = c.langevinScale(t)
	}
	if c.free != nil {
		spec.ClampStd = make([]float64, len(c.temps))
		for k, t := range c.temps {
			spec.ClampStd[k] = clampStd(c.clampNoise, c.cfg.Sigma0, t)
		}
	}
	r, err := ce.StartChains(spec)
	if err != nil {
		return fmt.Errorf("sampling: start the chains on the model's device: %w", err)
	}
	c.dev = r
	return nil
}

// stepDevice runs up to k steps on the device (see Chain.StepN).
func (c *Chain) stepDevice(ctx context.Context, k int) error {
	k = min(k, len(c.temps)-c.k)
	if k <= 0 {
		return nil
	}
	rep, err := c.dev.Steps(ctx, k)
	good := len(rep.Mean)
	if rep.Diverged >= 0 {
		good = rep.Diverged
	}
	for i := range good {
		c.trace = append(c.trace, TracePoint{Step: c.k, T: c.temps[c.k], MeanEnergy: rep.Mean[i]})
		c.k++
	}
	if rep.Diverged >= 0 {
		t := c.temps[c.k]
		if rep.BadState {
			c.trace = append(c.trace, TracePoint{Step: c.k, T: t, MeanEnergy: rep.Mean[rep.Diverged]})
			return c.diverged("the state is not finite after the update", t)
		}
		return c.diverged("the energy is not finite", t)
	}
	if err != nil {
		if ctx.Err() == nil { // a device failure is as final as a divergence
			c.err = fmt.Errorf("sampling: chains on the model's device: %w", err)
			return c.err
		}
		return err
	}
	return nil
}
