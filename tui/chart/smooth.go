package chart

import "math"

// maxSmoothing caps the EMA weight: at 1 the average would never move.
const maxSmoothing = 0.999

// ema is TensorBoard's debiased exponential moving average: the running
// value starts at 0 and is divided by 1 - weight^n, so early points are not
// pulled towards zero.
type ema struct {
	weight float64
	last   float64
	wpow   float64 // weight^n, kept as a running product (no Pow per point)
}

func newEMA(weight float64) ema {
	if math.IsNaN(weight) || weight < 0 {
		weight = 0
	}
	return ema{weight: math.Min(weight, maxSmoothing), wpow: 1}
}

// next feeds y and returns the smoothed value. Non-finite values pass
// through unchanged and do not disturb the average (as in TensorBoard).
func (e *ema) next(y float64) float64 {
	if math.IsNaN(y) || math.IsInf(y, 0) {
		return y
	}
	e.last = e.last*e.weight + (1-e.weight)*y
	if e.wpow != 0 {
		e.wpow *= e.weight
		if e.wpow < 1e-17 { // 1 - wpow == 1 from here on; also avoids slow denormals
			e.wpow = 0
		}
	}
	return e.last / (1 - e.wpow)
}

// Smooth returns the TensorBoard-style smoothed series of ys: a debiased
// exponential moving average with the given weight in [0, 1) (0 = no
// smoothing, 0.6 is TensorBoard's default, values are clamped to [0, 0.999]).
func Smooth(ys []float64, weight float64) []float64 {
	e := newEMA(weight)
	out := make([]float64, len(ys))
	for i, y := range ys {
		out[i] = e.next(y)
	}
	return out
}
