package sampling

import (
	"math/rand/v2"
	"runtime"
	"sync"
)

// splitmix64 is the SplitMix64 finaliser: a bijective mixer used to derive independent seeds.
func splitmix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// deriveSeed returns the seed of sub-stream i of seed (batch i, chunk i, ...). Work split into
// numbered pieces seeded this way gives the same result whatever the number of workers.
func deriveSeed(seed, i uint64) uint64 {
	return splitmix64(splitmix64(seed) ^ splitmix64(i+0x5851f42d4c957f2d))
}

// newRand returns a PCG generator for seed.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, splitmix64(seed^0xda3e39cb94b95bdb)))
}

// workers is the number of goroutines to use for jobs independent pieces of work.
func workers(jobs int) int {
	return max(1, min(runtime.GOMAXPROCS(0), jobs))
}

// parallelFor runs f(w, i) for i in [0, n) on nw goroutines; w is the worker index, so per-worker
// state can be indexed by it. Jobs are handed out in increasing order. It returns when all
// started jobs are done; stop is polled before each job.
func parallelFor(n, nw int, stop func() bool, f func(w, i int)) {
	if n <= 0 {
		return
	}
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for w := range nw {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if stop != nil && stop() {
					return
				}
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(w, i)
			}
		}()
	}
	wg.Wait()
}
