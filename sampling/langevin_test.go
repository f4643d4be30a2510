package sampling

import (
	"bytes"
	"context"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// oneStepConfig is a one-step chain at constant temperature t, x0 = 0.5 exactly.
func oneStepConfig(t float64) LangevinConfig {
	return LangevinConfig{Schedule: Schedule{Kind: KindConst, Steps: 1, T0: t}, Eps: 0.1, Sigma0: 0.1, InitMean: 0.5, InitStd: 0}
}

// TestLangevinOneStepHand checks one step of eq. 8 on E = a/2|x|^2 + b.x against numbers
// computed by hand: x1 = x0 - (eps^2/2)(a x0 + b) + eps sqrt(T) z.
func TestLangevinOneStepHand(t *testing.T) {
	e := quadEnergy{a: 2, b: []float64{0, 1, -2}}
	z := []float32{1, -0.5, 2} // injected noise draw
	cases := []struct {
		name string
		temp float64
		want []float64
	}{
		// eps^2/2 = 0.005; grad at 0.5 = (1, 2, -1); T = 0: no noise
		{"T=0", 0, []float64{0.495, 0.49, 0.505}},
		// T = 4: eps sqrt(T) = 0.2, plus 0.2 * (1, -0.5, 2) = (0.2, -0.1, 0.4)
		{"T=4", 4, []float64{0.695, 0.39, 0.905}},
	}
	for _, c := range cases {
		ch, err := NewChain(e, 1, 3, oneStepConfig(c.temp), 1)
		if err != nil {
			t.Fatal(err)
		}
		ch.noise = func(dst []float32, _ uint64) { copy(dst, z) }
		if err := ch.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := ch.Images()
		for j := range got {
			if math.Abs(float64(got[j])-c.want[j]) > 1e-6 {
				t.Errorf("%s: x1[%d] = %v, want %v", c.name, j, got[j], c.want[j])
			}
		}
		if !ch.Done() || ch.StepIndex() != 1 || ch.Temperature() != c.temp {
			t.Errorf("%s: done %v step %d T %v", c.name, ch.Done(), ch.StepIndex(), ch.Temperature())
		}
		// a finished chain does nothing
		if err := ch.Step(context.Background()); err != nil || !reflect.DeepEqual(ch.Images(), got) {
			t.Errorf("%s: Step after Done changed the chain (%v)", c.name, err)
		}
		// trace: T and E(x0) = a/2*0.75 + 0.5*(0+1-2) = 0.25
		tr := ch.Trace()
		if len(tr) != 1 || tr[0].T != c.temp || math.Abs(tr[0].MeanEnergy-0.25) > 1e-6 {
			t.Errorf("%s: trace %+v", c.name, tr)
		}
	}
}

// TestLangevinStationaryVariance checks the sqrt(T) convention: at constant T the chain samples
// exp(-E/T), which for a Gaussian of std s is N(mu, T s^2).
func TestLangevinStationaryVariance(t *testing.T) {
	g := mustGaussian(t, 8, 0.3, 0.5, 0)
	cfg := LangevinConfig{Schedule: Schedule{Kind: KindConst, Steps: 1500, T0: 4}, Eps: 0.05, InitMean: 0.5, InitStd: 1}
	ch, err := NewChain(g, 200, 8, cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, v := meanVar(ch.Images())
	// ULA bias: var = T s^2 / (1 - eps^2/(4 s^2)) = 1.0025
	if math.Abs(m-0.3) > 0.08 || math.Abs(v-1) > 0.12 {
		t.Errorf("stationary mean %.3f var %.3f, want 0.3, 1", m, v)
	}
	// energy trace follows the temperature: E ~ D T / 2 = 16 at equilibrium
	tr := ch.Trace()
	if len(tr) != 1500 || math.Abs(tr[1499].MeanEnergy-16) > 2.5 {
		t.Errorf("trace len %d, final mean energy %v, want about 16", len(tr), tr[len(tr)-1].MeanEnergy)
	}
}

func TestLangevinReproducibleAndReaders(t *testing.T) {
	g := mustGaussian(t, 6, 0.2, 0.4, 1)
	cfg := DefaultLangevinConfig()
	cfg.Schedule = cfg.Schedule.Rescaled(30, 10)
	run := func(seed uint64) *Chain {
		ch, err := NewChain(g, 3, 6, cfg, seed)
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.StepN(context.Background(), 12); err != nil {
			t.Fatal(err)
		}
		return ch
	}
	a, b, c := run(5), run(5), run(6)
	if !reflect.DeepEqual(a.Images(), b.Images()) || !reflect.DeepEqual(a.Trace(), b.Trace()) {
		t.Error("same seed gave different chains")
	}
	if reflect.DeepEqual(a.Images(), c.Images()) {
		t.Error("different seeds gave the same chain")
	}
	if a.StepIndex() != 12 || a.Steps() != 30 || a.Done() {
		t.Errorf("step %d of %d done %v", a.StepIndex(), a.Steps(), a.Done())
	}
	temps := a.Temperatures()
	if a.Temperature() != temps[11] {
		t.Errorf("Temperature() = %v, want T_11 = %v", a.Temperature(), temps[11])
	}
	x := a.Images()
	x[0] = 99 // Images is a copy
	if a.Images()[0] == 99 {
		t.Error("Images() aliases the state")
	}
	// readers against the known Gaussian: E and the jump x - s0^2 (x - mu)/s^2
	x = a.Images()
	en := a.Energies()
	den := a.Denoised()
	for i := range 3 {
		want := float64(g.Offset)
		for j := range 6 {
			r := float64(x[i*6+j]) - 0.2
			want += r * r / (2 * 0.16)
			jump := float64(x[i*6+j]) - 0.01*r/0.16
			if math.Abs(float64(den[i*6+j])-jump) > 1e-5 {
				t.Fatalf("Denoised[%d] = %v, want %v", i*6+j, den[i*6+j], jump)
			}
		}
		if math.Abs(float64(en[i])-want) > 1e-4*math.Max(1, want) {
			t.Errorf("Energies[%d] = %v, want %v", i, en[i], want)
		}
	}
	if !reflect.DeepEqual(x, a.Images()) {
		t.Error("Denoised/Energies changed the state")
	}
	if err := a.Run(context.Background()); err != nil || !a.Done() || a.StepIndex() != 30 {
		t.Errorf("Run: %v, done %v, step %d", err, a.Done(), a.StepIndex())
	}
	if a.Temperature() != 0 {
		t.Errorf("final temperature %v, want 0", a.Temperature())
	}
}

// TestLangevinCancel: a context cancelled during step k stops the chain after that step.
func TestLangevinCancel(t *testing.T) {
	h, ctx, cancel := cancelAfter(mustGaussian(t, 4, 0, 1, 0), 5)
	defer cancel()
	ch, err := NewChain(h, 2, 4, DefaultLangevinConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	err = ch.StepN(ctx, 100)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("StepN error %v, want context.Canceled", err)
	}
	if ch.StepIndex() != 5 || h.calls != 5 {
		t.Errorf("stopped after %d steps / %d evaluations, want 5", ch.StepIndex(), h.calls)
	}
	if err := ch.Step(ctx); !errors.Is(err, context.Canceled) || ch.StepIndex() != 5 {
		t.Errorf("Step on cancelled ctx: %v, step %d", err, ch.StepIndex())
	}
}

func TestLangevinConfigValidation(t *testing.T) {
	g := mustGaussian(t, 4, 0, 1, 0)
	bad := []func(*LangevinConfig){
		func(c *LangevinConfig) { c.Eps = 0 },
		func(c *LangevinConfig) { c.Eps = math.Inf(1) },
		func(c *LangevinConfig) { c.Sigma0 = -0.1 },
		func(c *LangevinConfig) { c.InitStd = -1 },
		func(c *LangevinConfig) { c.Schedule.Steps = 0 },
		func(c *LangevinConfig) { c.Schedule.Kind = "warm" },
	}
	for i, f := range bad {
		cfg := DefaultLangevinConfig()
		f(&cfg)
		if _, err := NewChain(g, 1, 4, cfg, 1); err == nil {
			t.Errorf("case %d: NewChain accepted %+v", i, cfg)
		}
	}
	if _, err := NewChain(nil, 1, 4, DefaultLangevinConfig(), 1); err == nil {
		t.Error("nil energy accepted")
	}
	if _, err := NewChain(g, 0, 4, DefaultLangevinConfig(), 1); err == nil {
		t.Error("n = 0 accepted")
	}
}

func TestWriteTraceCSV(t *testing.T) {
	var b bytes.Buffer
	err := WriteTraceCSV(&b, []TracePoint{{0, 100, 5123.5}, {1, 0.25, -3}})
	want := "step,temperature,mean_energy\n0,100,5123.5\n1,0.25,-3\n"
	if err != nil || b.String() != want {
		t.Errorf("csv %q (%v), want %q", b.String(), err, want)
	}
}

func TestSampleBatches(t *testing.T) {
	const dim, total, batch = 5, 10, 3
	g := mustGaussian(t, dim, 0.4, 0.3, 0)
	cfg := DefaultLangevinConfig()
	cfg.Schedule = cfg.Schedule.Rescaled(40, 5)
	factory := func() Energy { return g }

	var progress []int
	prev := runtime.GOMAXPROCS(1)
	one, tr1, err := SampleBatches(context.Background(), factory, total, batch, dim, cfg, 9, func(done, tot int) {
		if tot != total {
			t.Errorf("progress total %d", tot)
		}
		progress = append(progress, done)
	})
	runtime.GOMAXPROCS(4)
	four, tr4, err4 := SampleBatches(context.Background(), factory, total, batch, dim, cfg, 9, nil)
	runtime.GOMAXPROCS(prev)
	if err != nil || err4 != nil {
		t.Fatal(err, err4)
	}
	if len(one) != total*dim || !reflect.DeepEqual(one, four) || !reflect.DeepEqual(tr1, tr4) {
		t.Fatalf("results depend on GOMAXPROCS (len %d)", len(one))
	}
	if !reflect.DeepEqual(progress, []int{3, 6, 9, 10}) {
		t.Errorf("progress %v", progress)
	}
	if len(tr1) != 40 || tr1[0].T != 5 || tr1[39].T != 0 {
		t.Errorf("trace len %d, T %v..%v", len(tr1), tr1[0].T, tr1[len(tr1)-1].T)
	}
	// batch 1 is a Chain seeded deriveSeed(9, 1), ending with the denoising jump
	ch, _ := NewChain(g, batch, dim, cfg, deriveSeed(9, 1))
	if err := ch.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ch.Denoised(), one[batch*dim:2*batch*dim]) {
		t.Error("batch 1 differs from its own Chain")
	}

	// cancellation mid-run returns whole completed batches and ctx.Err()
	h, ctx, cancel := cancelAfter(g, 2*40+10) // during the third batch (one worker)
	defer cancel()
	runtime.GOMAXPROCS(1)
	part, _, err := SampleBatches(ctx, func() Energy { return h }, total, batch, dim, cfg, 9, nil)
	runtime.GOMAXPROCS(prev)
	if !errors.Is(err, context.Canceled) || !reflect.DeepEqual(part, one[:2*batch*dim]) {
		t.Errorf("cancelled: err %v, %d values (want %d)", err, len(part), 2*batch*dim)
	}

	if _, _, err := SampleBatches(context.Background(), factory, 0, 3, dim, cfg, 1, nil); err == nil {
		t.Error("total 0 accepted")
	}
	if _, _, err := SampleBatches(context.Background(), func() Energy { return nil }, 3, 3, dim, cfg, 1, nil); err == nil || !strings.Contains(err.Error(), "nil") {
		t.Errorf("nil factory result: %v", err)
	}
}
