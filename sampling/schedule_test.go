package sampling

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func TestScheduleExpPaperShape(t *testing.T) {
	temps, err := DefaultSchedule().Temperatures(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(temps) != 2700 {
		t.Fatalf("len = %d, want 2700", len(temps))
	}
	for k := range 500 {
		if temps[k] != 100 {
			t.Fatalf("plateau T[%d] = %v, want 100", k, temps[k])
		}
	}
	// geometric descent: constant ratio exp(-ln(100)/1999) from 100 to exactly 1
	ratio := math.Exp(-math.Log(100) / 1999)
	if temps[500] != 100 || temps[2499] != 1 {
		t.Fatalf("descent endpoints %v, %v, want 100, 1", temps[500], temps[2499])
	}
	for k := 501; k < 2500; k++ {
		if !near(temps[k]/temps[k-1], ratio, 1e-12) {
			t.Fatalf("descent ratio at %d = %v, want %v", k, temps[k]/temps[k-1], ratio)
		}
	}
	// ramp: linspace(1, 0, 200)
	for j := range 200 {
		want := 1 - float64(j)/199
		if !near(temps[2500+j], want, 1e-12) {
			t.Fatalf("ramp T[%d] = %v, want %v", 2500+j, temps[2500+j], want)
		}
	}
	if temps[2699] != 0 {
		t.Fatalf("last step T = %v, want 0 (noise-free)", temps[2699])
	}
}

func TestScheduleLinPaperShape(t *testing.T) {
	s := Schedule{Kind: KindLin, Steps: 2700, T0: 100}
	temps, err := s.Temperatures(0)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[int]float64{0: 100, 499: 100, 500: 100, 2499: 1, 2500: 1, 2699: 0} {
		if !near(temps[k], want, 1e-12) {
			t.Errorf("T[%d] = %v, want %v", k, temps[k], want)
		}
	}
	step := (1.0 - 100) / 1999
	for k := 501; k < 2500; k++ {
		if !near(temps[k]-temps[k-1], step, 1e-9) {
			t.Fatalf("linear step at %d = %v, want %v", k, temps[k]-temps[k-1], step)
		}
	}
}

func TestScheduleRescaling(t *testing.T) {
	cases := []struct {
		kind          string
		steps         int
		t0            float64
		first, last   float64
		nonIncreasing bool
		plateau, ramp int
	}{
		{KindExp, 270, 100, 100, 0, true, 50, 20},
		{KindExp, 27, 10, 10, 0, true, 5, 2},
		{KindLin, 1000, 50, 50, 0, true, 185, 74},
		{KindExp, 1, 100, 0, 0, true, 0, 1},
		{KindExp, 2, 100, 100, 0, true, 0, 1},
		{KindConst, 10, 3, 3, 3, true, 10, 0},
		{KindExp, 100, 0.5, 0.5, 0, true, 19, 7}, // T0 < 1: flat middle, ramp from T0
	}
	for _, c := range cases {
		s := Schedule{Kind: c.kind, Steps: 2700, T0: 100}.Rescaled(c.steps, c.t0)
		temps, err := s.Temperatures(0)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if len(temps) != c.steps || temps[0] != c.first || temps[len(temps)-1] != c.last {
			t.Errorf("%s/%d/T0=%v: len %d first %v last %v; want %d %v %v", c.kind, c.steps, c.t0, len(temps), temps[0], temps[len(temps)-1], c.steps, c.first, c.last)
		}
		for k := 1; k < len(temps); k++ {
			if c.nonIncreasing && temps[k] > temps[k-1]+1e-12 {
				t.Errorf("%s/%d: T rises at %d: %v -> %v", c.kind, c.steps, k, temps[k-1], temps[k])
			}
		}
		if c.kind != KindConst {
			n1, _, n3 := segments(c.steps)
			if n1 != c.plateau || n3 != c.ramp {
				t.Errorf("%s/%d: segments plateau %d ramp %d, want %d %d", c.kind, c.steps, n1, n3, c.plateau, c.ramp)
			}
		}
		// Temperatures(steps) must agree with Rescaled(steps).Temperatures(0)
		direct, _ := Schedule{Kind: c.kind, Steps: 5, T0: c.t0}.Temperatures(c.steps)
		if !reflect.DeepEqual(direct, temps) {
			t.Errorf("%s/%d: Temperatures(steps) differs from Rescaled", c.kind, c.steps)
		}
	}
}

func TestSchedulePiecewise(t *testing.T) {
	pts := []ControlPoint{{0.25, 100}, {0.75, 1}}
	cases := []struct {
		interp string
		k      int
		want   float64
	}{
		{InterpLinear, 0, 100},   // before the first point: held
		{InterpLinear, 25, 100},  // on the first point
		{InterpLinear, 50, 50.5}, // midway, linear
		{InterpLog, 50, 10},      // midway, geometric mean of 100 and 1
		{InterpLog, 75, 1},
		{InterpLog, 100, 1}, // after the last point: held
	}
	for _, c := range cases {
		s := Schedule{Kind: KindPiecewise, Steps: 101, Points: pts, Interp: c.interp}
		got, err := s.At(c.k, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !near(got, c.want, 1e-12) {
			t.Errorf("%s At(%d) = %v, want %v", c.interp, c.k, got, c.want)
		}
	}
	// log interpolation through T = 0 falls back to linear on that segment
	s := Schedule{Kind: KindPiecewise, Steps: 11, Points: []ControlPoint{{0, 4}, {1, 0}}, Interp: InterpLog}
	got, _ := s.At(5, 0)
	if !near(got, 2, 1e-12) {
		t.Errorf("log through zero: At(5) = %v, want 2 (linear fallback)", got)
	}
	// rescaling the peak keeps the shape
	r := Schedule{Kind: KindPiecewise, Steps: 101, Points: pts}.Rescaled(0, 50)
	if r.Points[0].T != 50 || r.Points[1].T != 0.5 || pts[0].T != 100 {
		t.Errorf("rescaled points %v (original %v)", r.Points, pts)
	}
}

func TestScheduleValidation(t *testing.T) {
	cases := []struct {
		name string
		s    Schedule
		want string // substring of the error
	}{
		{"no steps", Schedule{Kind: KindExp, Steps: 0, T0: 1}, "no steps"},
		{"too many steps", Schedule{Kind: KindExp, Steps: MaxScheduleSteps + 1, T0: 1}, "limit"},
		{"negative T0", Schedule{Kind: KindExp, Steps: 10, T0: -1}, ">= 0"},
		{"NaN T0", Schedule{Kind: KindConst, Steps: 10, T0: math.NaN()}, "finite"},
		{"unknown kind", Schedule{Kind: "cosine", Steps: 10, T0: 1}, "unknown schedule kind"},
		{"empty kind", Schedule{Steps: 10, T0: 1}, "empty"},
		{"points on exp", Schedule{Kind: KindExp, Steps: 10, T0: 1, Points: []ControlPoint{{0, 1}}}, "only valid"},
		{"no points", Schedule{Kind: KindPiecewise, Steps: 10}, "no control points"},
		{"unsorted", Schedule{Kind: KindPiecewise, Steps: 10, Points: []ControlPoint{{0.5, 1}, {0.2, 1}}}, "not sorted"},
		{"duplicate", Schedule{Kind: KindPiecewise, Steps: 10, Points: []ControlPoint{{0.5, 1}, {0.5, 2}}}, "share fraction"},
		{"frac > 1", Schedule{Kind: KindPiecewise, Steps: 10, Points: []ControlPoint{{1.5, 1}}}, "outside [0,1]"},
		{"frac < 0", Schedule{Kind: KindPiecewise, Steps: 10, Points: []ControlPoint{{-0.1, 1}}}, "outside [0,1]"},
		{"negative point T", Schedule{Kind: KindPiecewise, Steps: 10, Points: []ControlPoint{{0, -2}}}, ">= 0"},
		{"bad interp", Schedule{Kind: KindPiecewise, Steps: 10, Points: []ControlPoint{{0, 1}}, Interp: "cubic"}, "interpolation"},
	}
	for _, c := range cases {
		err := c.s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate() = %v, want error containing %q", c.name, err, c.want)
		}
		if _, err := c.s.Temperatures(5); err == nil && c.name != "no steps" && c.name != "too many steps" {
			t.Errorf("%s: Temperatures accepted an invalid schedule", c.name)
		}
	}
	if _, err := DefaultSchedule().At(2700, 0); err == nil {
		t.Error("At(2700) of a 2700-step schedule: want error")
	}
}

func TestScheduleJSONRoundTrip(t *testing.T) {
	for _, s := range []Schedule{
		DefaultSchedule(),
		{Kind: KindLin, Steps: 300, T0: 20},
		{Kind: KindConst, Steps: 7, T0: 0},
		{Kind: KindPiecewise, Steps: 50, Points: []ControlPoint{{0, 10}, {0.3, 2.5}, {1, 0}}, Interp: InterpLog},
	} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var got Schedule
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("round trip %s: got %+v, want %+v", b, got, s)
		}
		a, _ := s.Temperatures(0)
		c, _ := got.Temperatures(0)
		if !reflect.DeepEqual(a, c) {
			t.Errorf("round trip %s changed the temperatures", b)
		}
	}
	var s Schedule
	if err := json.Unmarshal([]byte(`{"kind":"exp","steps":2700,"t0":100}`), &s); err != nil || !reflect.DeepEqual(s, DefaultSchedule()) {
		t.Errorf("documented JSON form: %+v, %v", s, err)
	}
}

func TestScheduleControlPointsReproduce(t *testing.T) {
	for _, s := range []Schedule{
		DefaultSchedule(),
		DefaultSchedule().Rescaled(100, 30),
		{Kind: KindLin, Steps: 2700, T0: 100},
		{Kind: KindLin, Steps: 37, T0: 5},
		{Kind: KindExp, Steps: 50, T0: 0.5},
		{Kind: KindConst, Steps: 10, T0: 2},
		{Kind: KindExp, Steps: 1, T0: 100},
	} {
		p, err := s.ToPiecewise()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("%+v: piecewise form invalid: %v", s, err)
		}
		a, _ := s.Temperatures(0)
		b, _ := p.Temperatures(0)
		for k := range a {
			if !near(a[k], b[k], 1e-9) {
				t.Fatalf("%s/%d/%v: step %d: %v vs control points %v", s.Kind, s.Steps, s.T0, k, a[k], b[k])
			}
		}
	}
	pts, interp := DefaultSchedule().ControlPoints()
	if interp != InterpLog || len(pts) != 5 {
		t.Errorf("exp control points %v (%s), want 5 log points", pts, interp)
	}
}

func TestScheduleEditing(t *testing.T) {
	base := Schedule{Kind: KindPiecewise, Steps: 100, Points: []ControlPoint{{0, 10}, {0.5, 5}, {1, 0}}}

	s, i, err := base.AddPoint(0.25, 7)
	if err != nil || i != 1 || len(s.Points) != 4 || s.Points[1] != (ControlPoint{0.25, 7}) {
		t.Fatalf("AddPoint: %v at %d, %v", s.Points, i, err)
	}
	if len(base.Points) != 3 {
		t.Fatal("AddPoint modified the receiver")
	}
	s, i, _ = base.AddPoint(2, -3) // clamped to (1, 0): replaces the last point
	if i != 2 || len(s.Points) != 3 || s.Points[2] != (ControlPoint{1, 0}) {
		t.Errorf("clamped AddPoint: %v at %d", s.Points, i)
	}
	s, _, _ = base.AddPoint(0.5, 6) // same fraction: replace temperature
	if len(s.Points) != 3 || s.Points[1].T != 6 {
		t.Errorf("AddPoint on existing fraction: %v", s.Points)
	}

	s, err = base.MovePoint(1, 0.99999999, 3) // cannot pass the neighbour at 1
	if err != nil || s.Points[1].Frac >= 1 || s.Points[1].Frac < 1-2e-6 || s.Points[1].T != 3 {
		t.Errorf("MovePoint clamp: %v, %v", s.Points, err)
	}
	s, _ = base.MovePoint(0, -1, -1)
	if s.Points[0] != (ControlPoint{0, 0}) {
		t.Errorf("MovePoint clamp low: %v", s.Points)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("edited schedule invalid: %v", err)
	}
	if _, err := base.MovePoint(3, 0.5, 1); err == nil {
		t.Error("MovePoint out of range: want error")
	}

	s, err = base.DeletePoint(1)
	if err != nil || !reflect.DeepEqual(s.Points, []ControlPoint{{0, 10}, {1, 0}}) {
		t.Errorf("DeletePoint: %v, %v", s.Points, err)
	}
	one := Schedule{Kind: KindPiecewise, Steps: 10, Points: []ControlPoint{{0, 1}}}
	if _, err := one.DeletePoint(0); err == nil {
		t.Error("deleting the only point: want error")
	}
	if _, _, err := base.AddPoint(math.NaN(), 1); err == nil {
		t.Error("AddPoint(NaN): want error")
	}

	// editing a non-piecewise schedule converts it first
	s, _, err = DefaultSchedule().AddPoint(0.1, 50)
	if err != nil || s.Kind != KindPiecewise || s.Interp != InterpLog {
		t.Errorf("AddPoint on exp: %+v, %v", s, err)
	}
}
