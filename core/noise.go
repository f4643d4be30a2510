package core

import (
	"fmt"
	"math"
)

// NoiseLevels returns the per-batch-index noise standard deviations of MDSM: batch values
// spaced linearly (linspace) or geometrically (logspace) between lo and hi, fixed for the
// whole run (docs/REFERENCE.md "Training"). In single mode every index gets the same sigma.
func NoiseLevels(c RunConfig) ([]float64, error) {
	b := c.BatchSize
	s := make([]float64, b)
	switch c.NoiseMode {
	case NoiseSingle:
		for i := range s {
			s[i] = c.SingleSigma
		}
		return s, nil
	case NoiseMultiscale:
	default:
		return nil, fmt.Errorf("noise_mode %q: must be multiscale or single", c.NoiseMode)
	}
	lo, hi := c.SigmaMin, c.SigmaMax
	for i := range s {
		t := 0.0
		if b > 1 {
			t = float64(i) / float64(b-1)
		}
		switch c.NoiseSpacing {
		case SpacingLinear:
			s[i] = lo + t*(hi-lo)
		case SpacingGeometric:
			s[i] = math.Exp(math.Log(lo) + t*(math.Log(hi)-math.Log(lo)))
		default:
			return nil, fmt.Errorf("noise_spacing %q: must be linear or geometric", c.NoiseSpacing)
		}
	}
	return s, nil
}

// LearningRate is the step size at step (0-based): linear warm-up, then constant or cosine
// decay from lr to lr_min over the run.
func LearningRate(c RunConfig, step int) float64 {
	if c.Warmup > 0 && step < c.Warmup {
		return c.LR * float64(step+1) / float64(c.Warmup)
	}
	if c.LRSchedule == LRConstant {
		return c.LR
	}
	span := c.Steps - c.Warmup
	if span <= 1 {
		return c.LR
	}
	t := float64(step-c.Warmup) / float64(span-1)
	t = min(max(t, 0), 1)
	return c.LRMin + 0.5*(c.LR-c.LRMin)*(1+math.Cos(math.Pi*t))
}
