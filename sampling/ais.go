package sampling

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"mdsm/dist"
)

// Beta (inverse temperature) paths for AIS.
const (
	// BetaSigmoid spaces beta_k = (s(d(2k/K-1)) - s(-d)) / (s(d) - s(-d)), s the logistic
	// function, d = 4: dense at both ends (Grosse et al. 2013; Wu et al. 2017). The default.
	BetaSigmoid = "sigmoid"
	// BetaLinear spaces beta_k = k/K.
	BetaLinear = "linear"
	// BetaGeometric spaces beta_k = 10^(-4(1-k/K)) for k >= 1 (beta_0 = 0): "roughly
	// exponential-shaped", as the paper's Appendix D describes its schedule.
	BetaGeometric = "geometric"
)

// AISConfig configures annealed importance sampling (Neal 2001) from the reference
// p0 = N(RefMean, RefStd^2 I) to p(x) = exp(-E(x))/Z along the geometric path
//
//	f_beta(x) = (1-beta) log p0(x) + beta (-E(x)),   beta_0 = 0 < beta_1 < ... < beta_K = 1,
//
// with Hamiltonian Monte Carlo transitions that leave each f_beta invariant. The paper
// (Appendix D) used 10,000 intermediate distributions with 10 HMC steps each and an isotropic
// Gaussian reference; DefaultAISConfig follows it.
type AISConfig struct {
	// Steps is K, the number of intermediate distributions after beta_0 = 0.
	Steps int `json:"steps"`
	// Chains is the number of forward chains (AIS); ReverseAIS runs one chain per data point.
	Chains int `json:"chains"`
	// Batch is the number of chains per energy call; chains are split into chunks of Batch
	// that run independently (own RNG stream and step-size adaptation) on GOMAXPROCS workers.
	// 0 means all chains in one chunk.
	Batch int `json:"batch"`
	// Transitions is the number of HMC transitions per intermediate distribution (default 1).
	Transitions int `json:"transitions"`
	// Leapfrog is the number of leapfrog steps L per HMC transition.
	Leapfrog int `json:"leapfrog"`
	// StepSize is the (initial) leapfrog step size.
	StepSize float64 `json:"step_size"`
	// FixedStepSize disables adaptation. Otherwise, after every transition the step size of a
	// chunk is multiplied by exp(0.1 (a - TargetAccept)), a the chunk's mean Metropolis
	// acceptance probability, clamped to [1e-6, 10].
	FixedStepSize bool `json:"fixed_step_size"`
	// TargetAccept is the acceptance probability the adaptation aims at (default 0.65).
	TargetAccept float64 `json:"target_accept"`
	// RefMean and RefStd define the reference N(RefMean, RefStd^2 I).
	RefMean float64 `json:"ref_mean"`
	RefStd  float64 `json:"ref_std"`
	// Betas is the beta path: "sigmoid" (default), "linear" or "geometric".
	Betas string `json:"betas"`
	// Progress, if set, is called (serialised, from worker goroutines) with the number of
	// annealing steps done over all chunks and the total.
	Progress func(done, total int) `json:"-"`
}

// DefaultAISConfig returns the paper's setting (Appendix D): 10,000 intermediate
// distributions, one HMC transition of 10 leapfrog steps each, step size adapted to 0.65
// acceptance, reference N(0.5, I) (the Langevin start distribution), 100 chains in chunks of 25.
func DefaultAISConfig() AISConfig {
	return AISConfig{
		Steps: 10000, Chains: 100, Batch: 25, Transitions: 1, Leapfrog: 10,
		StepSize: 0.02, TargetAccept: 0.65, RefMean: 0.5, RefStd: 1, Betas: BetaSigmoid,
	}
}

// Validate reports the first invalid setting, or nil. Chains is checked by AIS only.
func (c AISConfig) Validate() error {
	switch {
	case c.Steps < 1:
		return fmt.Errorf("sampling: ais needs steps >= 1 (got %d)", c.Steps)
	case c.Batch < 0:
		return fmt.Errorf("sampling: ais batch %d must be >= 0", c.Batch)
	case c.Transitions < 0:
		return fmt.Errorf("sampling: ais transitions %d must be >= 0", c.Transitions)
	case c.Leapfrog < 1:
		return fmt.Errorf("sampling: ais needs leapfrog >= 1 (got %d)", c.Leapfrog)
	case !finite(c.StepSize) || c.StepSize <= 0:
		return fmt.Errorf("sampling: ais step size %v must be finite and > 0", c.StepSize)
	case !c.FixedStepSize && (math.IsNaN(c.TargetAccept) || c.TargetAccept <= 0 || c.TargetAccept >= 1):
		return fmt.Errorf("sampling: ais target acceptance %v must be in (0,1)", c.TargetAccept)
	case !finite(c.RefMean) || !finite(c.RefStd) || c.RefStd <= 0:
		return fmt.Errorf("sampling: ais reference N(%v, %v^2) needs finite mean and std > 0", c.RefMean, c.RefStd)
	}
	switch c.Betas {
	case "", BetaSigmoid, BetaLinear, BetaGeometric:
		return nil
	}
	return fmt.Errorf("sampling: unknown beta path %q (want sigmoid, linear or geometric)", c.Betas)
}

// Betas returns beta_0 = 0, ..., beta_K = 1 for the path kind (see the Beta constants).
func Betas(kind string, k int) ([]float64, error) {
	if k < 1 {
		return nil, fmt.Errorf("sampling: need at least one intermediate distribution (got %d)", k)
	}
	b := make([]float64, k+1)
	switch kind {
	case "", BetaSigmoid:
		const d = 4.0
		s := func(t float64) float64 { return 1 / (1 + math.Exp(-t)) }
		lo, hi := s(-d), s(d)
		for i := range b {
			b[i] = (s(d*(2*float64(i)/float64(k)-1)) - lo) / (hi - lo)
		}
	case BetaLinear:
		for i := range b {
			b[i] = float64(i) / float64(k)
		}
	case BetaGeometric:
		for i := 1; i <= k; i++ {
			b[i] = math.Pow(10, -4*(1-float64(i)/float64(k)))
		}
	default:
		return nil, fmt.Errorf("sampling: unknown beta path %q", kind)
	}
	b[0], b[k] = 0, 1
	return b, nil
}

// AISResult is the outcome of AIS or ReverseAIS.
//
// Forward AIS: each chain's log weight w = sum_k (beta_k - beta_{k-1}) (-E(x_{k-1}) - log p0(x_{k-1}))
// has E[exp(w)] = Z (p0 is normalised), so LogZ = log mean exp(w) is a consistent estimate of
// log Z and, by Jensen, a stochastic lower bound: E[LogZ] <= log Z.
//
// Reverse AIS (Burda, Grosse, Salakhutdinov 2015) runs the same annealing from beta = 1 down to
// 0 started at data points. If those were exact samples of p, E[exp(w)] = 1/Z, so
// LogZ = -log mean exp(w) is a stochastic upper bound on log Z, and the resulting
// log p(x) = -E(x) - LogZ a stochastic lower bound on the log-likelihood (an upper bound on
// bits/dim), which is what the paper reports. Started at test images that are not exact model
// samples the bound is approximate (conservative when the model fits the data).
//
// SE is the delta-method standard error of LogZ over chains:
// SE = sd(exp(w - max w)) / (sqrt(C) mean(exp(w - max w))), C the number of chains; it is
// honest only when the weights are not dominated by a few chains (look at ESS).
type AISResult struct {
	LogZ float64
	SE   float64
	// LogZMeanLog is the average-of-logs estimate: mean(w) for forward AIS (a looser lower
	// bound) and -mean(w) for reverse AIS (a looser upper bound). With ReverseAIS started at
	// test images, -E(x_i) + w_i is a per-image log-likelihood estimate and their mean,
	// -mean(E) - LogZMeanLog, is the paper's "average of the log density" (Appendix D).
	LogZMeanLog float64
	// LogWeights holds w for every chain, in chain (data point) order.
	LogWeights []float64
	// ESS is the effective sample size (sum exp w)^2 / sum exp(2w), between 1 and C.
	ESS float64
	// AcceptRate is the mean Metropolis acceptance probability over all transitions.
	AcceptRate float64
	// StepSize is the final leapfrog step size, averaged over chunks.
	StepSize float64
	// DataEnergies holds E(x_i) of the starting data points (ReverseAIS only).
	DataEnergies []float64
	Reverse      bool
}

// AIS estimates log Z of exp(-E) for images of dim scalars by forward annealed importance
// sampling with cfg.Chains chains (see AISConfig and AISResult). Cancelling ctx stops within
// one annealing step and returns ctx.Err().
func AIS(ctx context.Context, newEnergy func() Energy, dim int, cfg AISConfig, seed uint64) (AISResult, error) {
	return AISOn(ctx, nil, newEnergy, dim, cfg, seed)
}

// AISOn is AIS with the chunks of chains shared by the ranks of c (see "Sharded work"):
// rank 0 gathers every chain's log weight and returns AIS's result (log-mean-exp over all
// chains at once, so the merge is exact); the other ranks return a zero result.
func AISOn(ctx context.Context, c dist.Comm, newEnergy func() Energy, dim int, cfg AISConfig, seed uint64) (AISResult, error) {
	if cfg.Chains < 1 {
		return AISResult{}, fmt.Errorf("sampling: ais needs chains >= 1 (got %d)", cfg.Chains)
	}
	if dim < 1 {
		return AISResult{}, fmt.Errorf("sampling: ais dimension %d must be >= 1", dim)
	}
	return runAIS(ctx, orSingle(c), newEnergy, nil, cfg.Chains, dim, cfg, seed, false)
}

// ReverseAIS runs annealing from beta = 1 to 0 started at the n data points (NCHW, n*dim
// values), one chain each, and returns the stochastic upper bound on log Z (see AISResult).
// The paper initialises the reverse chains at test images (Appendix D). Whether to add sigma0
// noise to the images first is the caller's choice (AddNoise).
func ReverseAIS(ctx context.Context, newEnergy func() Energy, data []float32, n, dim int, cfg AISConfig, seed uint64) (AISResult, error) {
	return ReverseAISOn(ctx, nil, newEnergy, data, n, dim, cfg, seed)
}

// ReverseAISOn is ReverseAIS with the chunks shared by the ranks of c, as AISOn; every
// rank passes all n data points.
func ReverseAISOn(ctx context.Context, c dist.Comm, newEnergy func() Energy, data []float32, n, dim int, cfg AISConfig, seed uint64) (AISResult, error) {
	if err := checkImages(data, n, dim); err != nil {
		return AISResult{}, err
	}
	return runAIS(ctx, orSingle(c), newEnergy, data, n, dim, cfg, seed, true)
}

func runAIS(ctx context.Context, c dist.Comm, newEnergy func() Energy, data []float32, chains, dim int, cfg AISConfig, seed uint64, reverse bool) (AISResult, error) {
	if newEnergy == nil {
		return AISResult{}, errors.New("sampling: nil energy factory")
	}
	if cfg.Transitions == 0 {
		cfg.Transitions = 1
	}
	if err := cfg.Validate(); err != nil {
		return AISResult{}, err
	}
	betas, err := Betas(cfg.Betas, cfg.Steps)
	if err != nil {
		return AISResult{}, err
	}
	if reverse {
		for i, j := 0, len(betas)-1; i < j; i, j = i+1, j-1 {
			betas[i], betas[j] = betas[j], betas[i]
		}
	}
	bs := cfg.Batch
	if bs == 0 || bs > chains {
		bs = chains
	}
	nc := (chains + bs - 1) / bs
	clo, chi := dist.Span(nc, c.Rank(), c.Size())
	first, count := clo*bs, 0 // this rank's first chain and its number of chains
	if chi > clo {
		count = min(chains, chi*bs) - first
	}
	nw := workers(chi - clo)
	models := make([]Energy, nw)
	for w := range models {
		if models[w] = newEnergy(); models[w] == nil {
			return AISResult{}, errors.New("sampling: energy factory returned nil")
		}
	}
	logw := make([]float64, count)
	dataE := make([]float64, count)
	stats := make([]float64, 2*(chi-clo)) // per chunk: mean acceptance, final step size
	var (
		mu       sync.Mutex
		done     int
		firstErr error
	)
	total := (chi - clo) * cfg.Steps
	report := func(k int) {
		mu.Lock()
		done += k
		if cfg.Progress != nil {
			cfg.Progress(done, total)
		}
		mu.Unlock()
	}
	parallelFor(chi-clo, nw, func() bool { return ctx.Err() != nil }, func(w, i int) {
		ch := clo + i
		lo, hi := ch*bs, min(chains, (ch+1)*bs)
		a := newAISChunk(models[w], hi-lo, dim, cfg, deriveSeed(seed, uint64(ch)))
		if reverse {
			for i, v := range data[lo*dim : hi*dim] {
				a.x[i] = float64(v)
			}
		} else {
			for i := range a.x {
				a.x[i] = cfg.RefMean + cfg.RefStd*a.rng.NormFloat64()
			}
		}
		a.eval(a.x, a.e, a.g)
		copy(dataE[lo-first:hi-first], a.e)
		err := a.anneal(ctx, betas, logw[lo-first:hi-first], report)
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			return
		}
		stats[2*i], stats[2*i+1] = a.accSum/float64(max(1, a.transitions)), a.eps
	})
	if err := ctx.Err(); err != nil && firstErr == nil {
		firstErr = err
	}
	if err := dist.Agree(c, firstErr); err != nil {
		return AISResult{}, err
	}
	chunkSize := func(ch int) int { return min(chains, (ch+1)*bs) - ch*bs }
	if logw, err = gatherPieces(c, nc, chunkSize, logw); err != nil {
		return AISResult{}, err
	}
	if reverse {
		if dataE, err = gatherPieces(c, nc, chunkSize, dataE); err != nil {
			return AISResult{}, err
		}
	}
	if stats, err = gatherPieces(c, nc, func(int) int { return 2 }, stats); err != nil || c.Rank() != 0 {
		return AISResult{}, err
	}
	res := AISResult{LogWeights: logw, Reverse: reverse}
	if reverse {
		res.DataEnergies = dataE
	}
	accSum, stepSum := 0.0, 0.0
	for ch := range nc { // in chunk order, so the result does not depend on timing
		accSum += stats[2*ch]
		stepSum += stats[2*ch+1]
	}
	res.AcceptRate = accSum / float64(nc)
	res.StepSize = stepSum / float64(nc)
	lme, se, ess := logMeanExp(res.LogWeights)
	mean := 0.0
	for _, v := range res.LogWeights {
		mean += v / float64(chains)
	}
	if reverse {
		res.LogZ, res.LogZMeanLog = -lme, -mean
	} else {
		res.LogZ, res.LogZMeanLog = lme, mean
	}
	res.SE, res.ESS = se, ess
	return res, nil
}

// logMeanExp returns log mean exp(w), its delta-method standard error and the effective sample
// size of the weights exp(w). With one weight the standard error is NaN.
func logMeanExp(w []float64) (lme, se, ess float64) {
	m := math.Inf(-1)
	for _, v := range w {
		m = math.Max(m, v)
	}
	if math.IsInf(m, -1) || math.IsNaN(m) {
		return m, math.NaN(), 0
	}
	n := float64(len(w))
	s, s2 := 0.0, 0.0
	for _, v := range w {
		e := math.Exp(v - m)
		s += e
		s2 += e * e
	}
	mean := s / n
	lme = m + math.Log(mean)
	ess = s * s / s2
	if len(w) < 2 {
		return lme, math.NaN(), ess
	}
	variance := (s2 - n*mean*mean) / (n - 1)
	se = math.Sqrt(math.Max(variance, 0)/n) / mean
	return lme, se, ess
}

// aisChunk is one independent group of AIS chains sharing an energy call and a step size.
type aisChunk struct {
	energy        Energy
	m, dim        int
	cfg           AISConfig
	rng           *rand.Rand
	eps           float64
	x, g, xp, gp  []float64 // state and dE/dx, proposal and its dE/dx
	e, ep         []float64
	p             []float64 // momentum
	buf32, gbuf32 []float32
	ebuf32        []float32
	logNorm0      float64 // D/2 log(2 pi RefStd^2)
	accSum        float64
	transitions   int
}

func newAISChunk(e Energy, m, dim int, cfg AISConfig, seed uint64) *aisChunk {
	nd := m * dim
	return &aisChunk{
		energy: e, m: m, dim: dim, cfg: cfg, rng: newRand(seed), eps: cfg.StepSize,
		x: make([]float64, nd), g: make([]float64, nd), xp: make([]float64, nd), gp: make([]float64, nd),
		e: make([]float64, m), ep: make([]float64, m), p: make([]float64, nd),
		buf32: make([]float32, nd), gbuf32: make([]float32, nd), ebuf32: make([]float32, m),
		logNorm0: 0.5 * float64(dim) * math.Log(2*math.Pi*cfg.RefStd*cfg.RefStd),
	}
}

// eval writes E and dE/dx at x (float64 state, float32 network).
func (a *aisChunk) eval(x, e, g []float64) {
	for i, v := range x {
		a.buf32[i] = float32(v)
	}
	a.energy.EnergyGrad(a.buf32, a.m, a.ebuf32, a.gbuf32)
	for i, v := range a.ebuf32 {
		e[i] = float64(v)
	}
	for i, v := range a.gbuf32 {
		g[i] = float64(v)
	}
}

// q returns |x_i - mu|^2 / (2 s^2) for chain i, so log p0(x_i) = -q - logNorm0.
func (a *aisChunk) q(x []float64, i int) float64 {
	s := 0.0
	for _, v := range x[i*a.dim : (i+1)*a.dim] {
		d := v - a.cfg.RefMean
		s += d * d
	}
	return s / (2 * a.cfg.RefStd * a.cfg.RefStd)
}

// u is the HMC potential -f_beta(x_i) up to a constant: (1-beta) q + beta E.
func (a *aisChunk) u(x, e []float64, i int, beta float64) float64 {
	return (1-beta)*a.q(x, i) + beta*e[i]
}

// kick does p -= h * grad U_beta(x) for all chains.
func (a *aisChunk) kick(x, g []float64, beta, h float64) {
	inv := 1 / (a.cfg.RefStd * a.cfg.RefStd)
	for j := range a.p {
		a.p[j] -= h * ((1-beta)*(x[j]-a.cfg.RefMean)*inv + beta*g[j])
	}
}

// anneal accumulates the log weights along betas (betas[0] is the distribution the state is
// drawn from) and applies HMC transitions at every intermediate beta.
func (a *aisChunk) anneal(ctx context.Context, betas []float64, logw []float64, report func(int)) error {
	k := len(betas) - 1
	every, last := max(1, k/100), 0
	for s := 1; s <= k; s++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		db := betas[s] - betas[s-1]
		for i := range a.m {
			logw[i] += db * (-a.e[i] + a.q(a.x, i) + a.logNorm0)
		}
		if s < k { // a transition at the last distribution cannot change the weights
			for range a.cfg.Transitions {
				a.hmc(betas[s])
			}
		}
		if s%every == 0 || s == k {
			report(s - last)
			last = s
		}
	}
	return nil
}

// hmc runs one HMC transition (L leapfrog steps, Metropolis correction per chain) that leaves
// exp(f_beta) invariant, then adapts the step size.
func (a *aisChunk) hmc(beta float64) {
	eps, d := a.eps, a.dim
	for j := range a.p {
		a.p[j] = a.rng.NormFloat64()
	}
	h0 := make([]float64, a.m)
	for i := range a.m {
		h0[i] = a.u(a.x, a.e, i, beta) + kinetic(a.p[i*d:(i+1)*d])
	}
	copy(a.xp, a.x)
	a.kick(a.x, a.g, beta, eps/2)
	for l := 1; l <= a.cfg.Leapfrog; l++ {
		for j := range a.xp {
			a.xp[j] += eps * a.p[j]
		}
		a.eval(a.xp, a.ep, a.gp)
		if l < a.cfg.Leapfrog {
			a.kick(a.xp, a.gp, beta, eps)
		} else {
			a.kick(a.xp, a.gp, beta, eps/2)
		}
	}
	acc := 0.0
	for i := range a.m {
		h1 := a.u(a.xp, a.ep, i, beta) + kinetic(a.p[i*d:(i+1)*d])
		prob := 0.0
		if dh := h0[i] - h1; !math.IsNaN(dh) {
			prob = math.Min(1, math.Exp(dh))
		}
		acc += prob
		if a.rng.Float64() < prob {
			copy(a.x[i*d:(i+1)*d], a.xp[i*d:(i+1)*d])
			copy(a.g[i*d:(i+1)*d], a.gp[i*d:(i+1)*d])
			a.e[i] = a.ep[i]
		}
	}
	acc /= float64(a.m)
	a.accSum += acc
	a.transitions++
	if !a.cfg.FixedStepSize {
		a.eps = math.Min(10, math.Max(1e-6, a.eps*math.Exp(0.1*(acc-a.cfg.TargetAccept))))
	}
}

func kinetic(p []float64) float64 {
	s := 0.0
	for _, v := range p {
		s += v * v
	}
	return s / 2
}

// LogLikelihood summarises log p(x_i) = -E(x_i) - logZ over n images of dim scalars, given their
// energies (e.g. EnergyScores with sigma0 = 0, or AISResult.DataEnergies) and a log Z estimate.
type LogLikelihood struct {
	// PerImage holds the negative log-likelihood E(x_i) + logZ of every image, in nats.
	PerImage []float64
	// MeanNats is the mean NLL in nats per image, SENats its standard error over images.
	MeanNats, SENats float64
	// BitsPerDim is BitsPerDim(MeanNats, Dim).
	BitsPerDim float64
	Dim        int
}

// NLL returns the negative log-likelihoods E(x_i) + logZ of images with the given energies and
// their summary. For the paper's reverse-AIS number pass the reverse result's LogZ (upper bound
// on log Z) or LogZMeanLog (the paper's average of per-image log densities).
func NLL(energies []float64, logZ float64, dim int) (LogLikelihood, error) {
	if len(energies) == 0 {
		return LogLikelihood{}, errors.New("sampling: nll of no images")
	}
	if dim < 1 {
		return LogLikelihood{}, fmt.Errorf("sampling: nll dimension %d must be >= 1", dim)
	}
	r := LogLikelihood{PerImage: make([]float64, len(energies)), Dim: dim}
	n := float64(len(energies))
	for i, e := range energies {
		r.PerImage[i] = e + logZ
		r.MeanNats += r.PerImage[i] / n
	}
	if len(energies) > 1 {
		v := 0.0
		for _, x := range r.PerImage {
			v += (x - r.MeanNats) * (x - r.MeanNats)
		}
		r.SENats = math.Sqrt(v / (n - 1) / n)
	}
	r.BitsPerDim = BitsPerDim(r.MeanNats, dim)
	return r, nil
}

// BitsPerDim converts a negative log-likelihood in nats per image, for the density of pixels in
// [0,1], to bits per dimension on the [0,255] convention (REFERENCE: Log-likelihood):
//
//	bits/dim = (NLL + D ln 256) / (D ln 2),
//
// D = pixels x channels: rescaling [0,1] to [0,256) divides the density by 256 per dimension.
func BitsPerDim(nllNats float64, dim int) float64 {
	d := float64(dim)
	return (nllNats + d*math.Log(256)) / (d * math.Ln2)
}
