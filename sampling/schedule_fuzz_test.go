package sampling

import (
	"encoding/json"
	"math"
	"testing"
)

// FuzzScheduleJSON: any schedule JSON (a saved schedule, a workbench preset) is safe to
// read: Validate, Temperatures, At, ControlPoints, ToPiecewise and the editing helpers
// never panic, a valid schedule yields finite non-negative temperatures, and Steps is
// capped by MaxScheduleSteps before anything is allocated.
func FuzzScheduleJSON(f *testing.F) {
	for _, s := range []Schedule{DefaultSchedule(), {Kind: KindLin, Steps: 3, T0: 0.5}, {Kind: KindConst, Steps: 1, T0: 2},
		{Kind: KindPiecewise, Steps: 10, Points: []ControlPoint{{0, 100}, {0.5, 1}, {1, 0}}, Interp: InterpLog}} {
		b, _ := json.Marshal(s)
		f.Add(b)
	}
	f.Add([]byte(`{"kind":"exp","steps":9223372036854775807,"t0":1}`))
	f.Add([]byte(`{"kind":"piecewise","steps":5,"points":[{"frac":0.5,"t":1},{"frac":0.5,"t":2}]}`))
	f.Add([]byte(`{"kind":"piecewise","steps":5,"points":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Schedule
		if json.Unmarshal(b, &s) != nil {
			return
		}
		err := s.Validate()
		if err == nil && s.Steps > MaxScheduleSteps {
			t.Fatalf("validated %d steps, over the cap", s.Steps)
		}
		n := min(s.Steps, 10000)
		temps, terr := s.Temperatures(n)
		if terr == nil && err != nil && n == s.Steps {
			t.Fatalf("Temperatures accepted an invalid schedule: %v", err)
		}
		if terr == nil {
			if len(temps) != n {
				t.Fatalf("%d temperatures for %d steps", len(temps), n)
			}
			for k, v := range temps {
				if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
					t.Fatalf("T_%d = %v", k, v)
				}
			}
			if v, err := s.At(n-1, n); err != nil || v != temps[n-1] {
				t.Fatalf("At(%d) = %v, %v; Temperatures says %v", n-1, v, err, temps[n-1])
			}
		}
		if err != nil {
			return
		}
		if _, err := s.ToPiecewise(); err != nil {
			t.Fatalf("valid schedule, ToPiecewise: %v", err)
		}
		p, i, err := s.AddPoint(0.37, 3)
		if err == nil {
			p.MovePoint(i, 0.9, 1)
			p.DeletePoint(i)
		}
		_ = s.Peak()
		_ = s.Rescaled(min(s.Steps, 100), 5)
	})
}
