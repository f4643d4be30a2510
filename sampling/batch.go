package sampling

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"mdsm/dist"
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
	return SampleBatchesOn(ctx, nil, newEnergy, total, batch, dim, cfg, seed, progress)
}

// SampleBatchesOn is SampleBatches with the batches shared by the ranks of c (see
// "Sharded work"): rank 0 returns what SampleBatches returns, the other ranks nothing.
// progress counts this rank's share. A rank's Ctrl-C stops its own batches; rank 0 then
// returns the batches every rank completed, with an error that wraps context.Canceled.
func SampleBatchesOn(ctx context.Context, c dist.Comm, newEnergy func() Energy, total, batch, dim int, cfg LangevinConfig, seed uint64, progress func(done, total int)) ([]float32, []TracePoint, error) {
	c = orSingle(c)
	if newEnergy == nil {
		return nil, nil, errors.New("sampling: nil energy factory")
	}
	if total < 1 || batch < 1 || dim < 1 {
		return nil, nil, fmt.Errorf("sampling: need total >= 1, batch >= 1, dim >= 1 (got %d, %d, %d)", total, batch, dim)
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	temps, err := cfg.Schedule.Temperatures(0)
	if err != nil {
		return nil, nil, fmt.Errorf("sampling: langevin schedule: %w", err)
	}
	nb := (total + batch - 1) / batch
	size := func(b int) int { return min(batch, total-b*batch) }
	lo, hi := dist.Span(nb, c.Rank(), c.Size())
	share := 0
	for b := lo; b < hi; b++ {
		share += size(b)
	}
	nw := workers(hi - lo)
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
	parallelFor(hi-lo, nw, func() bool { return ctx.Err() != nil }, func(w, i int) {
		b := lo + i
		m := size(b)
		ch, err := NewChain(models[w], m, dim, cfg, deriveSeed(seed, uint64(b)))
		if err == nil {
			err = ch.Run(ctx)
		}
		if err != nil {
			mu.Lock()
			if firstErr == nil && ctx.Err() == nil {
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
			progress(done, share)
		}
		mu.Unlock()
	})
	if err := dist.Agree(c, firstErr); err != nil {
		return nil, nil, err
	}
	if c.Size() > 1 {
		if imgs, traces, err = gatherBatches(c, imgs, traces, lo, hi, size, dim, temps); err != nil || c.Rank() != 0 {
			return nil, nil, err
		}
	}
	out, trace, missing := mergeBatches(imgs, traces, dim)
	if err := ctx.Err(); err != nil {
		return out, trace, err
	}
	if missing > 0 {
		return out, trace, fmt.Errorf("sampling: %d of %d batches were interrupted on other ranks: %w", missing, nb, context.Canceled)
	}
	return out, trace, nil
}

// mergeBatches puts the completed batches' samples one after the other (in batch order)
// and averages their traces weighted by batch size; missing counts the batches not done.
func mergeBatches(imgs [][]float32, traces [][]TracePoint, dim int) (out []float32, trace []TracePoint, missing int) {
	count := 0
	for b := range imgs {
		if imgs[b] == nil {
			missing++
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
	return out, trace, missing
}

// gatherBatches collects every rank's batches on rank 0: a done flag per batch, its
// samples and its trace's mean energies (steps and temperatures follow from temps).
func gatherBatches(c dist.Comm, imgs [][]float32, traces [][]TracePoint, lo, hi int, size func(int) int, dim int, temps []float64) ([][]float32, [][]TracePoint, error) {
	nb, steps := len(imgs), len(temps)
	var flags, energies []float64
	var pix []float32
	for b := lo; b < hi; b++ {
		if imgs[b] == nil {
			flags = append(flags, 0)
			pix = append(pix, make([]float32, size(b)*dim)...)
			energies = append(energies, make([]float64, steps)...)
			continue
		}
		flags = append(flags, 1)
		pix = append(pix, imgs[b]...)
		for _, p := range traces[b] {
			energies = append(energies, p.MeanEnergy)
		}
	}
	allFlags, err := gatherPieces(c, nb, func(int) int { return 1 }, flags)
	if err != nil {
		return nil, nil, err
	}
	allPix, err := gatherPieces(c, nb, func(b int) int { return size(b) * dim }, pix)
	if err != nil {
		return nil, nil, err
	}
	allE, err := gatherPieces(c, nb, func(int) int { return steps }, energies)
	if err != nil || c.Rank() != 0 {
		return nil, nil, err
	}
	off := 0
	for b := range nb {
		n := size(b) * dim
		if allFlags[b] != 0 {
			imgs[b] = allPix[off : off+n]
			traces[b] = make([]TracePoint, steps)
			for k := range steps {
				traces[b][k] = TracePoint{Step: k, T: temps[k], MeanEnergy: allE[b*steps+k]}
			}
		}
		off += n
	}
	return imgs, traces, nil
}
