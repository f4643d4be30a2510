package sampling

import (
	"fmt"

	"mdsm/dist"
)

// Sharded work: the *On variants of the sampling functions (SampleBatchesOn,
// EnergyScoresOn, AISOn, ReverseAISOn, DenoiseOn) split their numbered pieces (batches,
// chunks) over the ranks of a dist.Comm, each rank a contiguous span (dist.Span), and
// gather the pieces' results on rank 0, which then combines them with the very code the
// single-process function uses. Every piece is seeded from (seed, piece number) alone, so
// rank 0's result equals the single-process result bit for bit; the other ranks get empty
// results. A nil Comm is one process.

// orSingle is c, or the group of one process for nil.
func orSingle(c dist.Comm) dist.Comm {
	if c == nil {
		return dist.Single()
	}
	return c
}

// gatherPieces collects on rank 0 the values of n pieces, piece i holding size(i) values,
// each rank having computed its span of pieces into local (their values in piece order).
// It returns all n pieces' values in order on rank 0 and nil elsewhere.
func gatherPieces[T float32 | float64](c dist.Comm, n int, size func(i int) int, local []T) ([]T, error) {
	if c.Size() == 1 {
		return local, nil
	}
	var counts []int
	total := 0
	if c.Rank() == 0 {
		counts = make([]int, c.Size())
		for q := range counts {
			lo, hi := dist.Span(n, q, c.Size())
			for i := lo; i < hi; i++ {
				counts[q] += size(i)
			}
			total += counts[q]
		}
	}
	out := make([]T, total)
	var err error
	switch l := any(local).(type) {
	case []float32:
		err = c.GatherF32(l, any(out).([]float32), counts)
	case []float64:
		err = c.GatherF64(l, any(out).([]float64), counts)
	}
	if err != nil {
		return nil, fmt.Errorf("sampling: gathering results on rank 0: %w", err)
	}
	if c.Rank() != 0 {
		return nil, nil
	}
	return out, nil
}
