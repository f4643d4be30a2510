package sampling

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// SampleBatches draws total samples of dim scalars each by annealed Langevin (Chain) in batches
// of batch chains, running GOMAXPROCS batches at a time, each worker with its own Energy from
// newEnergy (called once per worker). Each returned sample is the denoising jump of the chain's
// final state (paper eq. 9; the raw state if cfg.Sigma0 = 0).
//
// Batch b is seeded with a seed derived from (seed, b), so the result depends only on seed,
// total, batch and cfg, not on the number of cores. The trace is the mean energy per step over
// all completed samples (a sample-weighted average of the batch traces).
//
// progress, if not nil, is called after each batch with the number of samples done so far and
// total; calls are serialised but come from worker goroutines. If ctx is cancelled the running
// chains stop within one step and SampleBatches returns the samples of the batches that had
// completed (in batch order), their trace, and ctx.Err().
func SampleBatches(ctx context.Context, newEnergy func() Energy, total, batch, dim int, cfg LangevinConfig, seed uint64, progress func(done, total int)) ([]float32, []TracePoint, error) {
	if newEnergy == nil {
		return nil, nil, errors.New("sampling: nil energy factory")
	}
	if total < 1 || batch < 1 || dim < 1 {
		return nil, nil, fmt.Errorf("sampling: need total >= 1, batch >= 1, dim >= 1 (got %d, %d, %d)", total, batch, dim)
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	nb := (total + batch - 1) / batch
	nw := workers(nb)
	models := make([]Energy, nw)
	for w := range models {
		if models[w] = newEnergy(); models[w] == nil {
			return nil, nil, errors.New("sampling: energy factory returned nil")
		}
	}
	imgs := make([][]float32, nb)
	traces := make([][]TracePoint, nb)
	var (
		mu       sync.Mutex
		done     int
		firstErr error
	)
	parallelFor(nb, nw, func() bool { return ctx.Err() != nil }, func(w, b int) {
		m := min(batch, total-b*batch)
		ch, err := NewChain(models[w], m, dim, cfg, deriveSeed(seed, uint64(b)))
		if err == nil {
			err = ch.Run(ctx)
		}
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			return
		}
		den := ch.Denoised()
		if err := CheckFinite("sampling: denoised samples", den); err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = fmt.Errorf("%w (%w; lower the temperature or eps, or check the model)", err, ErrDiverged)
			}
			mu.Unlock()
			return
		}
		imgs[b] = den
		traces[b] = ch.Trace()
		mu.Lock()
		done += m
		if progress != nil {
			progress(done, total)
		}
		mu.Unlock()
	})

	out := make([]float32, 0, done*dim)
	var trace []TracePoint
	count := 0
	for b := range nb {
		if imgs[b] == nil {
			continue
		}
		m := len(imgs[b]) / dim
		out = append(out, imgs[b]...)
		if trace == nil {
			trace = make([]TracePoint, len(traces[b]))
			for k, p := range traces[b] {
				trace[k] = TracePoint{Step: p.Step, T: p.T}
			}
		}
		for k, p := range traces[b] {
			trace[k].MeanEnergy += p.MeanEnergy * float64(m)
		}
		count += m
	}
	for k := range trace {
		trace[k].MeanEnergy /= float64(count)
	}
	if err := ctx.Err(); err != nil {
		return out, trace, err
	}
	if firstErr != nil {
		return out, trace, firstErr
	}
	return out, trace, nil
}
