// Package par runs loops on all cores: the one fork-join helper of the layer kernels.
package par

import (
	"runtime"
	"sync"
)

// MinWork is the estimated number of scalar operations below which For runs a loop inline:
// starting a goroutine costs more than such a loop.
const MinWork = 1 << 15

// For runs fn over [0, n) split into contiguous chunks, one per worker (GOMAXPROCS). Small
// jobs (work = estimated scalar operations, below MinWork) run inline. The calling
// goroutine runs the last chunk itself, so a 2-way split costs one hand-off.
func For(n, work int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 || work < MinWork {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	lo := 0
	for ; lo+chunk < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) { defer wg.Done(); fn(lo, hi) }(lo, lo+chunk)
	}
	fn(lo, n)
	wg.Wait()
}
