package simd

import "math"

// expm1Poly returns expm1(r) for |r| <= 0.35 to about 1e-12 relative (Taylor series to
// degree 10, relative truncation error below 0.35^10/11! < 1e-11), in float64.
func expm1Poly(r float64) float64 {
	const (
		c2  = 1.0 / 2
		c3  = 1.0 / 6
		c4  = 1.0 / 24
		c5  = 1.0 / 120
		c6  = 1.0 / 720
		c7  = 1.0 / 5040
		c8  = 1.0 / 40320
		c9  = 1.0 / 362880
		c10 = 1.0 / 3628800
	)
	p := c10
	p = p*r + c9
	p = p*r + c8
	p = p*r + c7
	p = p*r + c6
	p = p*r + c5
	p = p*r + c4
	p = p*r + c3
	p = p*r + c2
	return r + r*r*p
}

// expm1f is exp(x)-1 for float32, computed in float64 as 2^k (1 + expm1(r)) - 1 with
// x = k ln2 + r, |r| <= ln2/2. For |x| < ln2/2, k = 0 and r = x exactly, so the result is
// the polynomial alone (no cancellation). The float64 result is within ~1e-12 relative
// of the true value, so the float32 rounding is that of math.Expm1 except where the
// value lies within that of a rounding tie.
func expm1f(x float32) float32 {
	v := float64(x)
	if !(v >= -100 && v <= 88) { // also NaN
		if v < -100 {
			return -1
		}
		return float32(math.Expm1(v))
	}
	const (
		ln2   = 0.6931471805599453094
		round = 1.5 * (1 << 52) // adding and subtracting it rounds to an integer
	)
	k := (v*(1/ln2) + round) - round
	r := v - k*ln2
	t := math.Float64frombits(uint64(int64(k)+1023) << 52) // 2^k
	return float32(t*expm1Poly(r) + (t - 1))
}
