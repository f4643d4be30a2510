package sampling

import (
	"context"
	"errors"
	"math"
	"testing"
)

// aisTarget is a diagonal Gaussian over D = 16 with means in [0.2, 0.8], stds in [0.15, 0.4]
// and an offset, away from the N(0.5, 0.5^2) reference: log Z is known exactly.
func aisTarget(t *testing.T) *GaussianEnergy {
	const d = 16
	mu, sd := make([]float64, d), make([]float64, d)
	for j := range d {
		mu[j] = 0.2 + 0.6*float64(j)/(d-1)
		sd[j] = 0.15 + 0.25*float64((j*7)%d)/(d-1)
	}
	g, err := NewGaussianEnergy(mu, sd, 3.7)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func aisTestConfig() AISConfig {
	return AISConfig{
		Steps: 400, Chains: 64, Batch: 32, Transitions: 1, Leapfrog: 10,
		StepSize: 0.05, TargetAccept: 0.65, RefMean: 0.5, RefStd: 0.5, Betas: BetaSigmoid,
	}
}

// TestAISGaussianLogZ validates forward and reverse AIS against a known partition function:
// each estimate must lie within 3 standard errors (+0.05 nats) of the truth, and the reverse
// estimate (started at exact samples) is an upper bound up to that tolerance.
func TestAISGaussianLogZ(t *testing.T) {
	g := aisTarget(t)
	truth := g.LogZ()
	factory := func() Energy { return g }
	cfg := aisTestConfig()

	fwd, err := AIS(context.Background(), factory, g.Dim(), cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	data := g.Sample(cfg.Chains, 2)
	rev, err := ReverseAIS(context.Background(), factory, data, cfg.Chains, g.Dim(), cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		name string
		res  AISResult
	}{{"forward", fwd}, {"reverse", rev}} {
		t.Logf("%s AIS: log Z = %.4f +- %.4f (true %.4f, diff %+.4f), mean-log %.4f, ESS %.1f/%d, accept %.2f, step %.4f",
			r.name, r.res.LogZ, r.res.SE, truth, r.res.LogZ-truth, r.res.LogZMeanLog, r.res.ESS, cfg.Chains, r.res.AcceptRate, r.res.StepSize)
		if math.IsNaN(r.res.SE) || r.res.SE <= 0 || r.res.SE > 0.5 {
			t.Errorf("%s: implausible SE %v", r.name, r.res.SE)
		}
		if d := math.Abs(r.res.LogZ - truth); d > 3*r.res.SE+0.05 {
			t.Errorf("%s: log Z %.4f, true %.4f: off by %.4f > 3 SE + 0.05 = %.4f", r.name, r.res.LogZ, truth, d, 3*r.res.SE+0.05)
		}
		if r.res.AcceptRate < 0.4 || r.res.AcceptRate > 0.9 {
			t.Errorf("%s: acceptance %.2f not adapted toward 0.65", r.name, r.res.AcceptRate)
		}
	}
	// the average-of-logs estimates bracket the truth (forward lower, reverse upper)
	if fwd.LogZMeanLog > truth+0.05 || rev.LogZMeanLog < truth-0.05 {
		t.Errorf("mean-log estimates %.4f / %.4f do not bracket %.4f", fwd.LogZMeanLog, rev.LogZMeanLog, truth)
	}
	// reverse data energies are E at the starting points
	e := make([]float32, cfg.Chains)
	g.Energy(data, cfg.Chains, e)
	for i := range e {
		if rev.DataEnergies[i] != float64(e[i]) {
			t.Fatalf("DataEnergies[%d] = %v, want %v", i, rev.DataEnergies[i], e[i])
		}
	}
	// the average test log-likelihood with the true Z is -(D/2)(1 + log 2 pi) - sum log s
	nll, err := NLL(rev.DataEnergies, truth, g.Dim())
	if err != nil {
		t.Fatal(err)
	}
	entropy := 0.0
	for _, s := range g.Sigma {
		entropy += 0.5*(1+math.Log(2*math.Pi)) + math.Log(s)
	}
	if math.Abs(nll.MeanNats-entropy) > 4*nll.SENats {
		t.Errorf("NLL %.3f +- %.3f, differential entropy %.3f", nll.MeanNats, nll.SENats, entropy)
	}
}

func TestAISDeterministicAndCancel(t *testing.T) {
	g := mustGaussian(t, 8, 0.5, 0.3, 0)
	factory := func() Energy { return g }
	cfg := aisTestConfig()
	cfg.Steps, cfg.Chains, cfg.Batch = 50, 12, 5
	a, err := AIS(context.Background(), factory, 8, cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := AIS(context.Background(), factory, 8, cfg, 4)
	if a.LogZ != b.LogZ || len(a.LogWeights) != 12 {
		t.Errorf("not reproducible: %v vs %v", a.LogZ, b.LogZ)
	}
	var last, calls int
	cfg.Progress = func(done, total int) {
		calls++
		if done < last || total != 3*50 {
			t.Errorf("progress %d/%d after %d", done, total, last)
		}
		last = done
	}
	if _, err := AIS(context.Background(), factory, 8, cfg, 4); err != nil || last != 150 {
		t.Errorf("progress ended at %d (%v)", last, err)
	}
	cfg.Progress = nil
	h, ctx, cancel := cancelAfter(g, 30)
	defer cancel()
	if _, err := AIS(ctx, func() Energy { return h }, 8, cfg, 4); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled AIS: %v", err)
	}
	for i, mod := range []func(*AISConfig){
		func(c *AISConfig) { c.Steps = 0 },
		func(c *AISConfig) { c.Chains = 0 },
		func(c *AISConfig) { c.Leapfrog = 0 },
		func(c *AISConfig) { c.StepSize = -1 },
		func(c *AISConfig) { c.RefStd = 0 },
		func(c *AISConfig) { c.TargetAccept = 1 },
		func(c *AISConfig) { c.Betas = "cosine" },
	} {
		c := aisTestConfig()
		mod(&c)
		if _, err := AIS(context.Background(), factory, 8, c, 1); err == nil {
			t.Errorf("case %d: invalid config accepted", i)
		}
	}
	if _, err := ReverseAIS(context.Background(), factory, make([]float32, 7), 1, 8, aisTestConfig(), 1); err == nil {
		t.Error("reverse AIS with short data accepted")
	}
}

func TestBetas(t *testing.T) {
	for _, kind := range []string{BetaSigmoid, BetaLinear, BetaGeometric} {
		b, err := Betas(kind, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 101 || b[0] != 0 || b[100] != 1 {
			t.Fatalf("%s: len %d ends %v %v", kind, len(b), b[0], b[len(b)-1])
		}
		for i := 1; i < len(b); i++ {
			if b[i] <= b[i-1] {
				t.Fatalf("%s: not increasing at %d", kind, i)
			}
		}
	}
	if _, err := Betas(BetaLinear, 0); err == nil {
		t.Error("0 steps accepted")
	}
}

func TestBitsPerDim(t *testing.T) {
	cases := []struct {
		nll  float64
		dim  int
		want float64
	}{
		{0, 784, 8},                    // density 1 on [0,1]^D = uniform: 8 bits/dim
		{-784 * math.Log(256), 784, 0}, // everything on one grid cell
		{1024 * math.Ln2, 1024, 9},     // one extra bit per dim
		{-1000, 3072, 8 - 1000/(3072*math.Ln2)},
	}
	for _, c := range cases {
		if got := BitsPerDim(c.nll, c.dim); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("BitsPerDim(%v, %d) = %v, want %v", c.nll, c.dim, got, c.want)
		}
	}
	r, err := NLL([]float64{1, 3}, 2, 4)
	if err != nil || r.MeanNats != 4 || r.SENats != 1 || r.BitsPerDim != BitsPerDim(4, 4) {
		t.Errorf("NLL = %+v, %v", r, err)
	}
}
