// Package par runs loops on all cores: the one fork-join helper of the layer kernels.
package par

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// MinWork is the estimated number of scalar operations below which For runs a loop inline:
// starting a goroutine costs more than such a loop.
const MinWork = 1 << 15

// For runs fn over [0, n) split into contiguous chunks, one per worker (GOMAXPROCS). Small
// jobs (work = estimated scalar operations, below MinWork) run inline. The calling
// goroutine runs the last chunk itself, so a 2-way split costs one hand-off.
//
// The other chunks go to a pool of worker goroutines that keep polling for the next loop
// for a short while (spinWait) before they sleep: a training step runs hundreds of loops
// of 50-500 µs each, and waking a sleeping thread for each one (a futex round trip, tens of
// µs) left a core idle a fifth of the time on 2 cores. A For called while the pool is busy
// (from inside another For's fn, or from a second goroutine) starts goroutines as before.
// The chunks are the same either way, so results never depend on which path ran.
func For(n, work int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 || work < MinWork {
		fn(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	if thePool.mu.TryLock() {
		thePool.run(n, chunk, fn)
		thePool.mu.Unlock()
		return
	}
	var wg sync.WaitGroup
	lo := 0
	for ; lo+chunk < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) { defer wg.Done(); fn(lo, hi) }(lo, lo+chunk)
	}
	fn(lo, n)
	wg.Wait()
}

// spinWait is how long an idle worker polls for the next loop before it sleeps.
const spinWait = 200 * time.Microsecond

// pool is the set of worker goroutines For hands its chunks to; mu is held by the one For
// using it.
type pool struct {
	mu      sync.Mutex
	workers []*worker
}

var thePool pool

// worker runs the chunks it is given: a job published in job, announced by seq; it sleeps
// on wake after spinWait without one.
type worker struct {
	seq  atomic.Uint64 // incremented by For for each job given to this worker
	done atomic.Uint64 // set to seq when the job is finished
	job  struct {
		fn     func(lo, hi int)
		lo, hi int
	}
	sleeping atomic.Bool
	wake     chan struct{}
}

// run splits [0, n) into chunks of chunk, gives all but the last to workers and runs the
// last itself, then waits for the workers.
func (p *pool) run(n, chunk int, fn func(lo, hi int)) {
	k := 0
	lo := 0
	for ; lo+chunk < n; lo += chunk {
		if k == len(p.workers) {
			w := &worker{wake: make(chan struct{}, 1)}
			p.workers = append(p.workers, w)
			go w.loop()
		}
		w := p.workers[k]
		w.job.fn, w.job.lo, w.job.hi = fn, lo, lo+chunk
		w.seq.Add(1) // publishes job (atomic store after the plain writes)
		if w.sleeping.Load() {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
		k++
	}
	fn(lo, n)
	for _, w := range p.workers[:k] {
		for spins := 0; w.done.Load() != w.seq.Load(); spins++ {
			if spins > 64 {
				runtime.Gosched()
			}
		}
		w.job.fn = nil
	}
}

// loop runs jobs as they come, polling for spinWait after each before it sleeps.
func (w *worker) loop() {
	var seen uint64
	for {
		start := time.Now()
		for spins := 0; w.seq.Load() == seen; spins++ {
			if spins&63 == 63 {
				if time.Since(start) > spinWait {
					w.sleeping.Store(true)
					if w.seq.Load() == seen {
						<-w.wake
					}
					w.sleeping.Store(false)
					start = time.Now()
				} else {
					runtime.Gosched()
				}
			}
		}
		seen = w.seq.Load()
		w.job.fn(w.job.lo, w.job.hi)
		w.done.Store(seen)
	}
}
