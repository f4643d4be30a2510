package sampling

import (
	"context"
	"fmt"
	"math"
)

// NearestNeighbors returns, for each of the ns samples, the indices into train (nt images) of
// its k nearest training images in Euclidean (L2) distance and those distances, nearest first;
// ties go to the lower training index. The paper's overfitting check shows samples next to
// their 10 nearest training images (REFERENCE: Evaluation). Samples are spread over GOMAXPROCS
// workers; each compares against every training image (exact, O(ns nt D)). k is capped at nt.
// Samples holding NaN or Inf are an error. Cancelling ctx stops between samples and returns
// ctx.Err().
func NearestNeighbors(ctx context.Context, samples []float32, ns int, train []float32, nt, k int) ([][]int, [][]float64, error) {
	dim, err := imageDim(samples, ns)
	if err != nil {
		return nil, nil, fmt.Errorf("sampling: neighbours: samples: %w", err)
	}
	if err := checkImages(train, nt, dim); err != nil {
		return nil, nil, fmt.Errorf("sampling: neighbours: training set: %w", err)
	}
	if k < 1 {
		return nil, nil, fmt.Errorf("sampling: neighbours: k = %d must be >= 1", k)
	}
	if err := CheckFinite("sampling: neighbours: samples", samples); err != nil {
		return nil, nil, err
	}
	k = min(k, nt)
	idx := make([][]int, ns)
	dist := make([][]float64, ns)
	parallelFor(ns, workers(ns), func() bool { return ctx.Err() != nil }, func(_, s int) {
		x := samples[s*dim : (s+1)*dim]
		bi := make([]int, 0, k)
		bd := make([]float64, 0, k) // squared distances, ascending
		for t := range nt {
			y := train[t*dim : (t+1)*dim]
			d := 0.0
			for j, v := range x {
				r := float64(v) - float64(y[j])
				d += r * r
			}
			if math.IsNaN(d) { // a non-finite training image is farthest, never out of order
				d = math.Inf(1)
			}
			if len(bd) == k && d >= bd[k-1] {
				continue
			}
			// insertion: after all entries <= d, so earlier (lower) indices win ties
			p := len(bd)
			for p > 0 && bd[p-1] > d {
				p--
			}
			if len(bd) < k {
				bd, bi = append(bd, 0), append(bi, 0)
			}
			copy(bd[p+1:], bd[p:len(bd)-1])
			copy(bi[p+1:], bi[p:len(bi)-1])
			bd[p], bi[p] = d, t
		}
		for i := range bd {
			bd[i] = math.Sqrt(bd[i])
		}
		idx[s], dist[s] = bi, bd
	})
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return idx, dist, nil
}
