package sampling

import (
	"errors"
	"fmt"
	"math"
)

// Noise models for the clamped pixels of an inpainting chain at temperature T.
const (
	// ClampNoiseSqrt adds N(0, (sigma0 sqrt(T))^2): the equilibrium noise of the chain at T
	// (paper Sec. 3.2: samples at T carry noise of magnitude sqrt(T) sigma0). The default.
	ClampNoiseSqrt = "sqrt"
	// ClampNoiseQuarter adds N(0, (sigma0 T^(1/4))^2), what the reference code does (by
	// accident, REFERENCE: Inpainting); offered for comparison.
	ClampNoiseQuarter = "quarter"
	// ClampNoiseNone feeds the clamped pixels without noise (an ablation).
	ClampNoiseNone = "none"
)

// InpaintConfig configures an inpainting chain: the Langevin settings (schedule, eps, sigma0,
// init of the free pixels) and the noise model of the clamped pixels ("" means "sqrt").
type InpaintConfig struct {
	Langevin   LangevinConfig `json:"langevin"`
	ClampNoise string         `json:"clamp_noise,omitempty"`
}

// DefaultInpaintConfig returns the paper's Langevin settings with sigma0 sqrt(T) clamp noise.
func DefaultInpaintConfig() InpaintConfig {
	return InpaintConfig{Langevin: DefaultLangevinConfig(), ClampNoise: ClampNoiseSqrt}
}

// Validate reports the first invalid setting of c, or nil.
func (c InpaintConfig) Validate() error {
	if err := c.Langevin.Validate(); err != nil {
		return err
	}
	switch c.ClampNoise {
	case "", ClampNoiseSqrt, ClampNoiseQuarter, ClampNoiseNone:
		return nil
	}
	return fmt.Errorf("sampling: unknown clamp noise %q (want sqrt, quarter or none)", c.ClampNoise)
}

// clampStd is the standard deviation of the noise on clamped pixels at temperature t.
func clampStd(mode string, sigma0, t float64) float64 {
	switch mode {
	case ClampNoiseQuarter:
		return sigma0 * math.Pow(t, 0.25)
	case ClampNoiseNone:
		return 0
	}
	return sigma0 * math.Sqrt(t)
}

// NewInpaintChain returns a Chain that inpaints the free pixels of mask m in the n images truth
// (NCHW, c channels of m.H x m.W). Paper Sec. 4 "Image Inpainting", REFERENCE: Inpainting:
//
//   - free pixels start at InitMean + InitStd N(0, I) and follow the Langevin update (eq. 8);
//   - clamped pixels never move: the state keeps them exactly at the truth, so Images and
//     Denoised return them bit-exact;
//   - at step k the network sees the clamped pixels as truth + s z, z ~ N(0, I), with
//     s = sigma0 sqrt(T_k) (or sigma0 T_k^(1/4), or 0; see ClampNoise), so the conditioning
//     pixels carry the same noise level as the free ones at that temperature.
//
// The final result is Denoised() after Run: the jump applied to free pixels only.
func NewInpaintChain(e Energy, truth []float32, n, c int, m Mask, cfg InpaintConfig, seed uint64) (*Chain, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if c < 1 {
		return nil, fmt.Errorf("sampling: channels %d must be >= 1", c)
	}
	dim := c * m.H * m.W
	if err := checkImages(truth, n, dim); err != nil {
		return nil, fmt.Errorf("sampling: inpainting truth: %w", err)
	}
	if m.FreeCount() == 0 {
		return nil, errors.New("sampling: inpainting mask has no free pixels")
	}
	ch, err := NewChain(e, n, dim, cfg.Langevin, seed)
	if err != nil {
		return nil, err
	}
	ch.free = make([]bool, dim)
	hw := m.H * m.W
	for j := range ch.free {
		ch.free[j] = m.Free[j%hw]
	}
	ch.truth = append([]float32(nil), truth...)
	ch.in = make([]float32, len(truth))
	ch.clampNoise = cfg.ClampNoise
	// NewChain initialised every pixel; put the truth back on the clamped ones.
	for i := range ch.x {
		if !ch.free[i%dim] {
			ch.x[i] = truth[i]
		}
	}
	return ch, nil
}

// Truth returns a copy of the clamped images of an inpainting chain (nil for plain chains).
func (c *Chain) Truth() []float32 {
	if c.truth == nil {
		return nil
	}
	return append([]float32(nil), c.truth...)
}

// fillInput writes the network input of an inpainting step at temperature t into c.in.
func (c *Chain) fillInput(t float64) {
	s := clampStd(c.clampNoise, c.cfg.Sigma0, t)
	if s > 0 {
		c.noise(c.z, clampDraw(c.k))
	}
	for i, xi := range c.x {
		switch {
		case c.free[i%c.dim]:
			c.in[i] = xi
		case s > 0:
			c.in[i] = float32(float64(c.truth[i]) + float64(s*float64(c.z[i])))
		default:
			c.in[i] = c.truth[i]
		}
	}
}
