package sampling

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Schedule kinds. See Schedule for the shape of each.
const (
	// KindExp is the paper's default schedule (REFERENCE: Annealed Langevin sampling).
	KindExp = "exp"
	// KindLin is the reference code's linear variant of KindExp.
	KindLin = "lin"
	// KindConst holds the temperature at T0 for every step.
	KindConst = "const"
	// KindPiecewise interpolates user control points.
	KindPiecewise = "piecewise"
)

// Interpolation modes between the control points of a piecewise schedule.
const (
	// InterpLinear interpolates the temperature linearly in the step fraction.
	InterpLinear = "linear"
	// InterpLog interpolates log T linearly (a geometric segment). A segment with an endpoint
	// at T = 0 has no finite logarithm and is interpolated linearly instead; see Schedule.
	InterpLog = "log"
)

// Proportions of the paper's 2700-step schedule: a plateau, the main descent and the final
// linear ramp to zero. Rescaled schedules keep them.
const (
	paperPlateau = 500
	paperDescent = 2000
	paperRamp    = 200
	paperSteps   = paperPlateau + paperDescent + paperRamp
)

// MaxScheduleSteps bounds the length of a schedule (and of a chain), so that a mistyped step
// count is a validation error rather than an out-of-memory crash.
const MaxScheduleSteps = 10_000_000

// ControlPoint is one point of a piecewise schedule: the temperature T at the fraction Frac of
// the chain, where Frac = k/(steps-1) for step k (0 for a one-step chain).
type ControlPoint struct {
	Frac float64 `json:"frac"`
	T    float64 `json:"t"`
}

// Schedule is an annealing temperature schedule T_k, k = 0..Steps-1, for the Langevin update
// x <- x - (eps^2/2) dE/dx + eps sqrt(T_k) N(0,I) (paper eq. 8). It is a plain value: copy it,
// compare it, store it as JSON. Steps is the default length; Temperatures rescales any schedule
// to another length.
//
// Kinds, for N total steps and peak temperature T0 (REFERENCE: Annealed Langevin sampling):
//
//   - "exp": n1 = round(N*500/2700) steps at T0; n2 steps geometric from T0 down to 1,
//     T_j = T0 * exp(-j ln(T0) / (n2-1)), j = 0..n2-1 (numpy geomspace(T0, 1, n2)); n3 =
//     max(1, round(N*200/2700)) steps linear from 1 down to 0 (linspace(1, 0, n3)), so the last
//     step is always noise-free. n2 = N - n1 - n3. For N = 2700 this is exactly 500/2000/200.
//     The paper writes the descent as T0*exp(-k ln(T0)/2000); geomspace differs from it only in
//     dividing by n2-1 instead of n2, so that the descent ends at exactly 1 as the "lin"
//     variant's linspace does.
//   - "lin": the same plateau and ramp, with linspace(T0, 1, n2) in the middle.
//   - "const": T0 for all N steps (no noise-free final step).
//   - "piecewise": Points interpolated with Interp ("linear", default, or "log"); before the
//     first and after the last point the temperature is held constant. T0 is ignored.
//
// If T0 < 1 the "exp" and "lin" descents end at T0 rather than rising to 1 (the middle segment
// is flat) and the ramp runs from T0 to 0.
//
// Log interpolation through T = 0: a log-interpolated segment with an endpoint at T = 0 is
// interpolated linearly. This is the only finite continuation and it makes the "exp" kind
// exactly representable as log-interpolated control points (its final ramp ends at 0).
type Schedule struct {
	Kind   string         `json:"kind"`
	Steps  int            `json:"steps"`
	T0     float64        `json:"t0,omitempty"`
	Points []ControlPoint `json:"points,omitempty"`
	Interp string         `json:"interp,omitempty"`
}

// DefaultSchedule returns the paper's schedule: "exp", 2700 steps, T0 = 100.
func DefaultSchedule() Schedule {
	return Schedule{Kind: KindExp, Steps: paperSteps, T0: 100}
}

// ScheduleKinds lists the valid Kind values, for menus.
func ScheduleKinds() []string { return []string{KindExp, KindLin, KindConst, KindPiecewise} }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Validate reports the first problem with s, or nil. It checks the kind, that
// 1 <= Steps <= MaxScheduleSteps, that
// temperatures are finite and non-negative and, for piecewise schedules, that there is at least
// one control point, fractions lie in [0,1] and strictly increase, and Interp is known.
func (s Schedule) Validate() error {
	if s.Steps < 1 {
		return fmt.Errorf("sampling: schedule has no steps (steps = %d, need >= 1)", s.Steps)
	}
	if s.Steps > MaxScheduleSteps {
		return fmt.Errorf("sampling: schedule has %d steps, more than the limit %d", s.Steps, MaxScheduleSteps)
	}
	switch s.Kind {
	case KindExp, KindLin, KindConst:
		if !finite(s.T0) || s.T0 < 0 {
			return fmt.Errorf("sampling: schedule %q: start temperature t0 = %v must be finite and >= 0", s.Kind, s.T0)
		}
		if len(s.Points) > 0 {
			return fmt.Errorf("sampling: schedule %q: control points are only valid for kind %q", s.Kind, KindPiecewise)
		}
		if s.Interp != "" {
			return fmt.Errorf("sampling: schedule %q: interp is only valid for kind %q", s.Kind, KindPiecewise)
		}
		return nil
	case KindPiecewise:
		return validatePoints(s.Points, s.Interp)
	case "":
		return errors.New("sampling: schedule kind is empty (want exp, lin, const or piecewise)")
	default:
		return fmt.Errorf("sampling: unknown schedule kind %q (want exp, lin, const or piecewise)", s.Kind)
	}
}

func validatePoints(pts []ControlPoint, interp string) error {
	switch interp {
	case "", InterpLinear, InterpLog:
	default:
		return fmt.Errorf("sampling: unknown interpolation %q (want linear or log)", interp)
	}
	if len(pts) == 0 {
		return errors.New("sampling: piecewise schedule has no control points")
	}
	for i, p := range pts {
		if !finite(p.Frac) || p.Frac < 0 || p.Frac > 1 {
			return fmt.Errorf("sampling: control point %d: fraction %v outside [0,1]", i, p.Frac)
		}
		if !finite(p.T) || p.T < 0 {
			return fmt.Errorf("sampling: control point %d: temperature %v must be finite and >= 0", i, p.T)
		}
		if i > 0 {
			switch prev := pts[i-1].Frac; {
			case p.Frac == prev:
				return fmt.Errorf("sampling: control points %d and %d share fraction %v", i-1, i, p.Frac)
			case p.Frac < prev:
				return fmt.Errorf("sampling: control points not sorted: point %d at %v comes after %v", i, p.Frac, prev)
			}
		}
	}
	return nil
}

// segments returns the plateau, descent and ramp lengths of an exp/lin schedule of n steps.
func segments(n int) (n1, n2, n3 int) {
	n1 = int(math.Round(float64(n) * paperPlateau / paperSteps))
	n3 = max(1, int(math.Round(float64(n)*paperRamp/paperSteps)))
	if n3 > n {
		n3 = n
	}
	if n1 > n-n3 {
		n1 = n - n3
	}
	return n1, n - n1 - n3, n3
}

// frac is the fraction of the chain at step k of n.
func frac(k, n int) float64 {
	if n <= 1 {
		return 0
	}
	return float64(k) / float64(n-1)
}

// Temperatures returns T_0..T_{steps-1} of s stretched or shrunk to steps (s.Steps if
// steps <= 0); s is validated with its Steps replaced by steps.
func (s Schedule) Temperatures(steps int) ([]float64, error) {
	if steps > 0 {
		s.Steps = steps
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	steps = s.Steps
	t := make([]float64, steps)
	for k := range t {
		t[k] = s.at(k, steps)
	}
	return t, nil
}

// At returns T_k of s stretched to steps (s.Steps if steps <= 0), for 0 <= k < steps.
func (s Schedule) At(k, steps int) (float64, error) {
	if steps > 0 {
		s.Steps = steps
	}
	if err := s.Validate(); err != nil {
		return 0, err
	}
	steps = s.Steps
	if k < 0 || k >= steps {
		return 0, fmt.Errorf("sampling: step %d outside [0,%d)", k, steps)
	}
	return s.at(k, steps), nil
}

// at assumes s is valid and 0 <= k < n.
func (s Schedule) at(k, n int) float64 {
	switch s.Kind {
	case KindConst:
		return s.T0
	case KindPiecewise:
		return interpolate(s.Points, s.Interp, frac(k, n))
	}
	n1, n2, n3 := segments(n)
	t0, tend := s.T0, math.Min(s.T0, 1)
	switch {
	case k < n1:
		return t0
	case k < n1+n2:
		j := k - n1
		if n2 == 1 {
			return t0
		}
		u := float64(j) / float64(n2-1)
		if j == n2-1 {
			return tend
		}
		if s.Kind == KindExp && t0 > 0 {
			return t0 * math.Exp(u*math.Log(tend/t0))
		}
		return t0 + u*(tend-t0)
	default:
		j := k - n1 - n2
		if n3 == 1 {
			return 0
		}
		return tend * (1 - float64(j)/float64(n3-1))
	}
}

// interpolate evaluates piecewise control points (valid, non-empty) at fraction f.
func interpolate(pts []ControlPoint, interp string, f float64) float64 {
	if f <= pts[0].Frac {
		return pts[0].T
	}
	last := pts[len(pts)-1]
	if f >= last.Frac {
		return last.T
	}
	i := sort.Search(len(pts), func(i int) bool { return pts[i].Frac > f }) // pts[i-1].Frac <= f < pts[i].Frac
	a, b := pts[i-1], pts[i]
	if f == a.Frac {
		return a.T
	}
	u := (f - a.Frac) / (b.Frac - a.Frac)
	if interp == InterpLog && a.T > 0 && b.T > 0 {
		return math.Exp(math.Log(a.T) + u*(math.Log(b.T)-math.Log(a.T)))
	}
	return a.T + u*(b.T-a.T)
}

// Peak returns the highest temperature of s (T0 for exp, lin and const; the largest control
// point temperature for piecewise).
func (s Schedule) Peak() float64 {
	if s.Kind != KindPiecewise {
		return s.T0
	}
	m := 0.0
	for _, p := range s.Points {
		m = math.Max(m, p.T)
	}
	return m
}

// Rescaled returns s with steps total steps and peak temperature t0 (steps <= 0 or t0 < 0
// leave that part unchanged). For piecewise schedules all control point temperatures are
// multiplied by t0/Peak(), which keeps the shape; a piecewise schedule whose peak is 0 stays 0.
func (s Schedule) Rescaled(steps int, t0 float64) Schedule {
	out := s
	out.Points = append([]ControlPoint(nil), s.Points...)
	if steps > 0 {
		out.Steps = steps
	}
	if t0 >= 0 && finite(t0) {
		if s.Kind == KindPiecewise {
			if pk := s.Peak(); pk > 0 {
				for i := range out.Points {
					out.Points[i].T *= t0 / pk
				}
			}
		} else {
			out.T0 = t0
		}
	}
	return out
}

// ControlPoints returns control points that reproduce s exactly at s.Steps steps when
// interpolated with the mode returned second ("log" for exp, "linear" otherwise). A piecewise
// schedule returns a copy of its own points. An invalid schedule returns nil.
func (s Schedule) ControlPoints() ([]ControlPoint, string) {
	if s.Validate() != nil {
		return nil, ""
	}
	n := s.Steps
	switch s.Kind {
	case KindPiecewise:
		interp := s.Interp
		if interp == "" {
			interp = InterpLinear
		}
		return append([]ControlPoint(nil), s.Points...), interp
	case KindConst:
		if n == 1 {
			return []ControlPoint{{0, s.T0}}, InterpLinear
		}
		return []ControlPoint{{0, s.T0}, {1, s.T0}}, InterpLinear
	}
	interp := InterpLinear
	if s.Kind == KindExp {
		interp = InterpLog
	}
	n1, n2, n3 := segments(n)
	var pts []ControlPoint
	add := func(k int) {
		p := ControlPoint{frac(k, n), s.at(k, n)}
		if l := len(pts); l > 0 && pts[l-1].Frac == p.Frac {
			pts[l-1] = p
			return
		}
		pts = append(pts, p)
	}
	for _, seg := range [][2]int{{0, n1}, {n1, n1 + n2}, {n1 + n2, n1 + n2 + n3}} {
		if seg[1] > seg[0] {
			add(seg[0])
			add(seg[1] - 1)
		}
	}
	// drop the middle of three equal temperatures (the plateau end / descent start pair)
	out := pts[:0:0]
	for i, p := range pts {
		if i > 0 && i < len(pts)-1 && pts[i-1].T == p.T && pts[i+1].T == p.T {
			continue
		}
		out = append(out, p)
	}
	return out, interp
}

// ToPiecewise converts s to an equivalent piecewise schedule (see ControlPoints). Schedule
// editors work on the result.
func (s Schedule) ToPiecewise() (Schedule, error) {
	if err := s.Validate(); err != nil {
		return Schedule{}, err
	}
	pts, interp := s.ControlPoints()
	return Schedule{Kind: KindPiecewise, Steps: s.Steps, Points: pts, Interp: interp}, nil
}

// minPointGap is the smallest fraction gap the editing helpers leave between neighbours.
const minPointGap = 1e-6

func clampT(t float64) float64 {
	if t < 0 {
		return 0
	}
	return t
}

func clampFrac(f float64) float64 { return math.Min(1, math.Max(0, f)) }

// AddPoint returns s (converted to piecewise) with a control point at (frac, t), frac clamped
// to [0,1] and t to >= 0, and the index of that point. A point at an existing fraction replaces
// that point's temperature. NaN inputs are an error.
func (s Schedule) AddPoint(frac, t float64) (Schedule, int, error) {
	if math.IsNaN(frac) || math.IsNaN(t) || math.IsInf(t, 0) {
		return s, -1, fmt.Errorf("sampling: control point (%v, %v) is not finite", frac, t)
	}
	p, err := s.ToPiecewise()
	if err != nil {
		return s, -1, err
	}
	cp := ControlPoint{clampFrac(frac), clampT(t)}
	i := sort.Search(len(p.Points), func(i int) bool { return p.Points[i].Frac >= cp.Frac })
	if i < len(p.Points) && p.Points[i].Frac == cp.Frac {
		p.Points[i].T = cp.T
		return p, i, nil
	}
	p.Points = append(p.Points, ControlPoint{})
	copy(p.Points[i+1:], p.Points[i:])
	p.Points[i] = cp
	return p, i, nil
}

// DeletePoint returns s (converted to piecewise) without control point i. Deleting the last
// remaining point is an error: a schedule needs at least one.
func (s Schedule) DeletePoint(i int) (Schedule, error) {
	p, err := s.ToPiecewise()
	if err != nil {
		return s, err
	}
	if i < 0 || i >= len(p.Points) {
		return s, fmt.Errorf("sampling: no control point %d (have %d)", i, len(p.Points))
	}
	if len(p.Points) == 1 {
		return s, errors.New("sampling: cannot delete the only control point")
	}
	p.Points = append(p.Points[:i], p.Points[i+1:]...)
	return p, nil
}

// MovePoint returns s (converted to piecewise) with control point i moved to (frac, t). The
// fraction is clamped to [0,1] and to stay strictly between the neighbouring points (so the
// order never changes); t is clamped to >= 0.
func (s Schedule) MovePoint(i int, frac, t float64) (Schedule, error) {
	if math.IsNaN(frac) || math.IsNaN(t) || math.IsInf(t, 0) {
		return s, fmt.Errorf("sampling: control point (%v, %v) is not finite", frac, t)
	}
	p, err := s.ToPiecewise()
	if err != nil {
		return s, err
	}
	if i < 0 || i >= len(p.Points) {
		return s, fmt.Errorf("sampling: no control point %d (have %d)", i, len(p.Points))
	}
	lo, hi := 0.0, 1.0
	if i > 0 {
		lo = p.Points[i-1].Frac + minPointGap
	}
	if i < len(p.Points)-1 {
		hi = p.Points[i+1].Frac - minPointGap
	}
	f := clampFrac(frac)
	if lo <= hi {
		f = math.Min(hi, math.Max(lo, f))
	} else {
		f = p.Points[i].Frac // neighbours too close to move between: keep the fraction
	}
	p.Points[i] = ControlPoint{f, clampT(t)}
	return p, nil
}
