package chart

import "math"

// axis maps data values to a position along one chart axis, linearly, on
// a log10 scale, or on a symmetric log scale (sym: sign(v) log10(1+|v|),
// which shows values of both signs and many magnitudes). lo and hi are in
// transformed units.
type axis struct {
	log, sym bool
	lo, hi   float64
}

// symlog is the symmetric log transform and symexp its inverse.
func symlog(v float64) float64 { return math.Copysign(math.Log10(1+math.Abs(v)), v) }
func symexp(t float64) float64 { return math.Copysign(math.Pow(10, math.Abs(t))-1, t) }

// tf transforms v to axis units; ok is false for values the axis cannot
// show (non-finite, or non-positive on a log axis).
func (a axis) tf(v float64) (float64, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	if a.sym {
		return symlog(v), true
	}
	if a.log {
		if v <= 0 {
			return 0, false
		}
		return math.Log10(v), true
	}
	return v, true
}

// frac returns the position of v in [0, 1] (outside when v is out of range).
func (a axis) frac(v float64) (float64, bool) {
	t, ok := a.tf(v)
	if !ok {
		return 0, false
	}
	return (t - a.lo) / (a.hi - a.lo), true
}

// valid reports whether the axis can show v: finite, and positive on a log
// axis. It is cheap (no logarithm), for per-point loops.
func (a axis) valid(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && (!a.log || v > 0)
}

// rangeAcc accumulates the range of the values an axis shows. It keeps
// data-space min and max (log10 is monotonic) so that adding a point costs
// no logarithm.
type rangeAcc struct {
	log, sym bool
	lo, hi   float64
	n        int
}

func (r *rangeAcc) add(v float64) {
	if !(axis{log: r.log}).valid(v) {
		return
	}
	if r.n == 0 || v < r.lo {
		r.lo = v
	}
	if r.n == 0 || v > r.hi {
		r.hi = v
	}
	r.n++
}

// axis returns an axis over the accumulated range, widened when it is
// empty or a single value so that mapping never divides by zero.
func (r *rangeAcc) axis() axis {
	a := axis{log: r.log, sym: r.sym, lo: r.lo, hi: r.hi}
	if r.log && r.n > 0 {
		a.lo, a.hi = math.Log10(r.lo), math.Log10(r.hi)
	}
	if r.sym && r.n > 0 {
		a.lo, a.hi = symlog(r.lo), symlog(r.hi)
	}
	switch {
	case r.n == 0:
		a.lo, a.hi = 0, 1 // 0..1, or 1..10 on a log axis
	case a.lo == a.hi && (r.log || r.sym):
		a.lo, a.hi = a.lo-0.5, a.hi+0.5
	case a.lo == a.hi:
		d := math.Abs(a.lo) * 0.1
		if d == 0 {
			d = 1
		}
		a.lo, a.hi = a.lo-d, a.hi+d
	}
	return a
}

// niceStep returns a 1, 2 or 5 times a power of ten step near raw.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// linearTicks returns at most maxN nice values (1, 2, 5 x 10^k steps) in
// [lo, hi].
func linearTicks(lo, hi float64, maxN int) []float64 {
	if maxN < 1 || !(hi > lo) {
		return nil
	}
	step := niceStep((hi - lo) / float64(maxN))
	for {
		first := math.Ceil(lo/step-1e-9) * step
		n := int(math.Floor((hi-first)/step+1e-9)) + 1
		if n <= maxN {
			out := make([]float64, 0, max(n, 0))
			for i := range n {
				v := first + float64(i)*step
				if math.Abs(v) < step*1e-9 {
					v = 0
				}
				out = append(out, v)
			}
			return out
		}
		step = niceStep(step * 1.01)
	}
}

// ticks returns at most maxN tick values inside the axis range: nice linear
// values, or on a log axis powers of ten (every k-th decade when there are
// many), then 1-2-5 and 1..9 multiples when the range spans less than two
// decades.
func (a axis) ticks(maxN int) []float64 {
	if maxN < 1 {
		return nil
	}
	if a.sym {
		return a.symTicks(maxN)
	}
	if !a.log {
		return linearTicks(a.lo, a.hi, maxN)
	}
	const eps = 1e-9
	e0, e1 := int(math.Ceil(a.lo-eps)), int(math.Floor(a.hi+eps))
	if n := e1 - e0 + 1; n >= 2 {
		stride := (n + maxN - 1) / maxN
		var out []float64
		for e := e0; e <= e1; e++ {
			if floorMod(e, stride) == 0 {
				out = append(out, math.Pow(10, float64(e)))
			}
		}
		if len(out) >= 2 || maxN < 2 {
			return out
		}
	}
	for _, mults := range [][]float64{{1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}} {
		var out []float64
		for e := int(math.Floor(a.lo)) - 1; e <= int(math.Ceil(a.hi)); e++ {
			for _, m := range mults {
				v := m * math.Pow(10, float64(e))
				if lv := math.Log10(v); lv >= a.lo-eps && lv <= a.hi+eps {
					out = append(out, v)
				}
			}
		}
		if len(out) >= 2 && len(out) <= maxN {
			return out
		}
		if len(out) > maxN {
			break
		}
	}
	return linearTicks(math.Pow(10, a.lo), math.Pow(10, a.hi), maxN)
}

func floorMod(a, b int) int {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// symTicks returns at most maxN ticks of a symmetric log axis: 0 and powers
// of ten of either sign inside the range (every k-th decade when there are
// many), or nice linear values when the range spans less than a decade.
func (a axis) symTicks(maxN int) []float64 {
	var cands []float64
	for e := 8; e >= 0; e-- {
		cands = append(cands, -math.Pow(10, float64(e)))
	}
	cands = append(cands, 0)
	for e := 0; e <= 8; e++ {
		cands = append(cands, math.Pow(10, float64(e)))
	}
	var in []float64
	for _, v := range cands {
		if t := symlog(v); t >= a.lo-1e-9 && t <= a.hi+1e-9 {
			in = append(in, v)
		}
	}
	if len(in) < 2 {
		return linearTicks(symexp(a.lo), symexp(a.hi), maxN)
	}
	stride := (len(in) + maxN - 1) / maxN
	var out []float64
	for i, v := range in {
		if v == 0 || i%stride == 0 {
			out = append(out, v)
		}
	}
	if len(out) > maxN {
		out = out[:maxN]
	}
	return out
}
