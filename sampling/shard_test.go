package sampling

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"mdsm/dist"
	"mdsm/nn"
)

// tinyNet returns a factory of models of the tiny preset with seeded random weights.
func tinyNet(t *testing.T) (func() Energy, int) {
	t.Helper()
	c, err := nn.PresetConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	p := nn.InitParams[float32](c, rand.New(rand.NewPCG(3, 4)))
	return func() Energy { return nn.NewModel(p.Clone()) }, c.Dim()
}

// onRanks runs f on w in-process ranks and returns every rank's result.
func onRanks[T any](t *testing.T, w int, f func(c dist.Comm) (T, error)) []T {
	t.Helper()
	comms := dist.NewGroup(w)
	res := make([]T, w)
	errs := make([]error, w)
	var wg sync.WaitGroup
	for r := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[r], errs[r] = f(comms[r])
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	return res
}

// bitsEqual compares two values field by field with floats compared by their bits.
func bitsEqual(a, b any) bool {
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

// TestShardedEqualsSingleProcess: sampling, energy scores, AIS, reverse AIS and denoising
// split over 2 and 3 ranks (piece counts that do and do not divide, and fewer pieces than
// ranks) give rank 0 the single-process result bit for bit.
func TestShardedEqualsSingleProcess(t *testing.T) {
	newEnergy, dim := tinyNet(t)
	ctx := context.Background()
	lc := DefaultLangevinConfig()
	lc.Schedule = lc.Schedule.Rescaled(15, 10)
	ais := DefaultAISConfig()
	ais.Steps, ais.Chains, ais.Batch, ais.Leapfrog = 12, 10, 3, 3
	images := AddNoise(make([]float32, 7*dim), 0.5, 9) // 7 images
	for i := range images {
		images[i] += 0.5
	}
	type sampled struct {
		imgs  []float32
		trace []TracePoint
	}
	for _, tc := range []struct {
		name string
		run  func(c dist.Comm) (any, error)
	}{
		{"sample 5 in batches of 2", func(c dist.Comm) (any, error) {
			imgs, trace, err := SampleBatchesOn(ctx, c, newEnergy, 5, 2, dim, lc, 7, nil)
			if imgs == nil {
				return nil, err
			}
			return sampled{imgs, trace}, err
		}},
		{"energy scores of 7 in batches of 3", func(c dist.Comm) (any, error) {
			e, err := EnergyScoresOn(ctx, c, newEnergy, images, 7, 3, 0.1, 5)
			if e == nil {
				return nil, err
			}
			return e, err
		}},
		{"AIS 10 chains in chunks of 3", func(c dist.Comm) (any, error) {
			r, err := AISOn(ctx, c, newEnergy, dim, ais, 11)
			if r.LogWeights == nil {
				return nil, err
			}
			return r, err
		}},
		{"reverse AIS from 7 images", func(c dist.Comm) (any, error) {
			r, err := ReverseAISOn(ctx, c, newEnergy, images, 7, dim, ais, 12)
			if r.LogWeights == nil {
				return nil, err
			}
			return r, err
		}},
		{"denoise 7 in batches of 2", func(c dist.Comm) (any, error) {
			d, err := DenoiseOn(c, newEnergy(), images, 7, 2, 0.1)
			if d == nil {
				return nil, err
			}
			return d, err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := tc.run(nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range []int{2, 3} {
				got := onRanks(t, w, tc.run)
				if !bitsEqual(got[0], want) {
					t.Errorf("%d ranks: rank 0's result differs from the single process's", w)
				}
				for r := 1; r < w; r++ {
					if got[r] != nil {
						t.Errorf("%d ranks: rank %d got a result; only rank 0 should", w, r)
					}
				}
			}
		})
	}
}

// TestShardedAISMergesLogWeights: the merged forward AIS estimate is the log-mean-exp of
// all chains' weights, which is not the mean of the ranks' own estimates.
func TestShardedAISMergesLogWeights(t *testing.T) {
	newEnergy, dim := tinyNet(t)
	cfg := DefaultAISConfig()
	cfg.Steps, cfg.Chains, cfg.Batch, cfg.Leapfrog = 10, 8, 2, 2
	r := onRanks(t, 2, func(c dist.Comm) (AISResult, error) { return AISOn(context.Background(), c, newEnergy, dim, cfg, 3) })[0]
	if len(r.LogWeights) != cfg.Chains {
		t.Fatalf("%d log weights on rank 0, want %d", len(r.LogWeights), cfg.Chains)
	}
	m := math.Inf(-1)
	for _, w := range r.LogWeights {
		m = math.Max(m, w)
	}
	s := 0.0
	for _, w := range r.LogWeights {
		s += math.Exp(w - m)
	}
	if lz := m + math.Log(s/float64(cfg.Chains)); math.Abs(lz-r.LogZ) > 1e-12*math.Abs(lz) {
		t.Fatalf("log Z %v, log-mean-exp of the gathered weights %v", r.LogZ, lz)
	}
}
