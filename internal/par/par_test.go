package par

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// covers runs For over n with the given work and checks that every index ran exactly once,
// in the contiguous chunks For promises (one per worker, the last on the caller).
func covers(t *testing.T, n, work int) {
	t.Helper()
	hits := make([]atomic.Int32, n)
	var calls atomic.Int32
	For(n, work, func(lo, hi int) {
		calls.Add(1)
		for i := lo; i < hi; i++ {
			hits[i].Add(1)
		}
	})
	for i := range hits {
		if h := hits[i].Load(); h != 1 {
			t.Fatalf("n=%d work=%d: index %d ran %d times", n, work, i, h)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), n)
	want := int32(1)
	if workers > 1 && work >= MinWork {
		chunk := (n + workers - 1) / workers
		want = int32((n + chunk - 1) / chunk)
	}
	if c := calls.Load(); c != want {
		t.Fatalf("n=%d work=%d: fn called %d times, want %d chunks", n, work, c, want)
	}
}

func TestForCoversEveryIndexOnce(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 3, 4, 8} {
		runtime.GOMAXPROCS(procs)
		for _, n := range []int{1, 2, 3, 7, 64, 1000} {
			covers(t, n, MinWork)
			covers(t, n, MinWork-1) // inline
		}
	}
}

// TestForAfterWorkersSleep gives the pool's workers time to fall asleep between loops: the
// next loop must wake them (a lost wake-up hangs here).
func TestForAfterWorkersSleep(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(4)
	for range 20 {
		covers(t, 100, MinWork)
		time.Sleep(2 * spinWait)
	}
}

// TestForNestedAndConcurrent calls For from inside For and from several goroutines at once:
// the pool serves one caller, the others start goroutines; every index still runs once.
func TestForNestedAndConcurrent(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(4)
	const outer, inner = 8, 50
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				var hits [outer * inner]atomic.Int32
				For(outer, MinWork, func(lo, hi int) {
					for o := lo; o < hi; o++ {
						For(inner, MinWork, func(a, b int) {
							for i := a; i < b; i++ {
								hits[o*inner+i].Add(1)
							}
						})
					}
				})
				for i := range hits {
					if h := hits[i].Load(); h != 1 {
						t.Errorf("goroutine %d: index %d ran %d times", g, i, h)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
