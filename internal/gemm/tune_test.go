//go:build linux

package gemm

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain lets GEMM_TUNE="mc,kc,nc" override the active kernel's blocking (for tuning runs).
func TestMain(m *testing.M) {
	if s := os.Getenv("GEMM_TUNE"); s != "" {
		// GEMM_TUNE applies to every assembly kernel (kernels are shared structs).
		for _, k := range kernels()[1:] {
			if _, err := fmt.Sscanf(s, "%d,%d,%d", &k.mc, &k.kc, &k.nc); err != nil {
				panic(err)
			}
			k.mc = (k.mc + k.mr - 1) / k.mr * k.mr
			k.nc = (k.nc + k.nr - 1) / k.nr * k.nr
		}
	}
	os.Exit(m.Run())
}

// TestTuneCPUTime (GEMM_TUNE_RUN=reps) measures single-threaded GFLOP/s of every kernel on
// the benchmark shapes from thread CPU time (best of reps), which other processes sharing
// the cores disturb much less than wall time.
func TestTuneCPUTime(t *testing.T) {
	var reps int
	if _, err := fmt.Sscan(os.Getenv("GEMM_TUNE_RUN"), &reps); err != nil || reps <= 0 {
		t.Skip("set GEMM_TUNE_RUN=reps")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	names := os.Getenv("GEMM_TUNE_KERNELS")
	for _, kern := range kernels() {
		if names != "" && !strings.Contains(","+names+",", ","+kern.name+",") || names == "" && kern.name == "go" {
			continue
		}
		restore, _ := setKernel(kern.name)
		withThreads(1, func() {
			for _, s := range benchShapes {
				r := rand.New(rand.NewPCG(1, 1))
				lda, ldb := s.k, s.n
				if s.tA {
					lda = s.m
				}
				if s.tB {
					ldb = s.k
				}
				a, bb, c := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
				best := time.Duration(1 << 62)
				for i := 0; i < reps; i++ {
					t0 := now()
					Gemm(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
					best = min(best, now()-t0)
				}
				fmt.Printf("%-10s %-22s %7.1f GFLOP/s\n", currentKernel().name, s.name, 2*float64(s.m)*float64(s.n)*float64(s.k)/best.Seconds()/1e9)
			}
		})
		restore()
	}
}

// now is this thread's CPU time (callers lock the OS thread).
func now() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// TestMicroKernelCPU (GEMM_TUNE_RUN set) measures each micro-kernel alone on L1-resident panels.
func TestMicroKernelCPU(t *testing.T) {
	if os.Getenv("GEMM_TUNE_RUN") == "" {
		t.Skip("set GEMM_TUNE_RUN")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, kern := range kernels() {
		kc := 192
		a := make([]float32, kern.mr*kc)
		bb := make([]float32, kern.nr*kc)
		c := make([]float32, kern.mr*kern.nr)
		best := time.Duration(1 << 62)
		for r := 0; r < 20; r++ {
			t0 := now()
			for i := 0; i < 2000; i++ {
				kern.fn(kc, &a[0], &bb[0], &c[0], kern.nr, 1, 1)
			}
			best = min(best, now()-t0)
		}
		fmt.Printf("%-10s %6.1f GFLOP/s\n", kern.name, 2*float64(kern.mr*kern.nr*kc)*2000/best.Seconds()/1e9)
	}
}

// TestTuneParallel (GEMM_TUNE_RUN=reps) compares the parallel decompositions of the active
// kernel on the benchmark shapes: best wall time, and process CPU time relative to one thread.
func TestTuneParallel(t *testing.T) {
	var reps int
	if _, err := fmt.Sscan(os.Getenv("GEMM_TUNE_RUN"), &reps); err != nil || reps <= 0 {
		t.Skip("set GEMM_TUNE_RUN=reps")
	}
	procCPU := func() time.Duration {
		var ru unix.Rusage
		unix.Getrusage(unix.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for _, s := range benchShapes {
		r := rand.New(rand.NewPCG(1, 1))
		lda, ldb := s.k, s.n
		if s.tA {
			lda = s.m
		}
		if s.tB {
			ldb = s.k
		}
		a, bb, c := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
		flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		line := fmt.Sprintf("%-22s", s.name)
		for _, mode := range []struct {
			name  string
			nt    int
			split int
		}{{"1t", 1, splitAuto}, {"auto", 0, splitAuto}, {"cols", 0, splitCols}, {"rows", 0, splitRows}, {"depth", 0, splitDepth}} {
			forceSplit = mode.split
			wall, cpu := time.Duration(1<<62), time.Duration(1<<62)
			withThreads(mode.nt, func() {
				for i := 0; i < reps; i++ {
					c0, t0 := procCPU(), time.Now()
					Gemm(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
					wall, cpu = min(wall, time.Since(t0)), min(cpu, procCPU()-c0)
				}
			})
			forceSplit = splitAuto
			line += fmt.Sprintf("  %s %5.0f (cpu %5.0f)", mode.name, flops/wall.Seconds()/1e9, flops/cpu.Seconds()/1e9)
		}
		fmt.Println(line)
	}
}
