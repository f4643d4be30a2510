package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"mdsm/internal/isa"
	"testing"
)

// refGemm is the naive float64-accumulated reference of C = alpha*op(A)*op(B) + beta*C. It
// also returns, per entry, the sum of the magnitudes of its terms, which scales the tolerance.
func refGemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want []float64, scale []float64) {
	// opA[i*k+p] = op(A)[i,p] and opBT[j*k+p] = op(B)[p,j], so that both dot products run
	// over contiguous memory; the abs copies give the term magnitudes.
	opA, absA := make([]float64, m*k), make([]float64, m*k)
	for i := 0; i < m; i++ {
		for p := 0; p < k; p++ {
			var v float32
			if tA {
				v = a[p*lda+i]
			} else {
				v = a[i*lda+p]
			}
			opA[i*k+p], absA[i*k+p] = float64(v), math.Abs(float64(v))
		}
	}
	opBT, absBT := make([]float64, n*k), make([]float64, n*k)
	for j := 0; j < n; j++ {
		for p := 0; p < k; p++ {
			var v float32
			if tB {
				v = b[j*ldb+p]
			} else {
				v = b[p*ldb+j]
			}
			opBT[j*k+p], absBT[j*k+p] = float64(v), math.Abs(float64(v))
		}
	}
	want = make([]float64, m*n)
	scale = make([]float64, m*n)
	for i := 0; i < m; i++ {
		ai, aai := opA[i*k:(i+1)*k], absA[i*k:(i+1)*k]
		for j := 0; j < n; j++ {
			bj, abj := opBT[j*k:(j+1)*k], absBT[j*k:(j+1)*k]
			var s, sa float64
			for p, v := range ai {
				s += v * bj[p]
				sa += aai[p] * abj[p]
			}
			r := float64(alpha) * s
			sc := math.Abs(float64(alpha)) * sa
			if beta != 0 {
				r += float64(beta) * float64(c[i*ldc+j])
				sc += math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			want[i*n+j], scale[i*n+j] = r, sc
		}
	}
	return want, scale
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

type gemmCase struct {
	tA, tB      bool
	m, n, k     int
	alpha, beta float32
	pad         int // extra leading-dimension padding
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,m=%d,n=%d,k=%d,alpha=%g,beta=%g,pad=%d", tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.pad)
}

// checkCase runs one case through Sgemm and compares with the reference; it also checks that
// C outside the m x n window (the leading-dimension padding) is untouched.
func checkCase(t *testing.T, r *rand.Rand, tc gemmCase) {
	t.Helper()
	m, n, k := tc.m, tc.n, tc.k
	lda := max(1, k) + tc.pad
	arows := m
	if tc.tA {
		lda, arows = max(1, m)+tc.pad, k
	}
	ldb := max(1, n) + tc.pad
	brows := k
	if tc.tB {
		ldb, brows = max(1, k)+tc.pad, n
	}
	ldc := max(1, n) + tc.pad
	a := randSlice(r, max(0, arows*lda))
	b := randSlice(r, max(0, brows*ldb))
	c := randSlice(r, m*ldc)
	if tc.beta == 0 {
		// beta = 0 must overwrite C, NaN and Inf included.
		for i := range c {
			switch i % 3 {
			case 0:
				c[i] = float32(math.NaN())
			case 1:
				c[i] = float32(math.Inf(1))
			}
		}
	}
	orig := append([]float32(nil), c...)
	want, scale := refGemm(tc.tA, tc.tB, m, n, k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	Gemm(tc.tA, tc.tB, m, n, k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	const eps = 1.0 / (1 << 23)
	bad := 0
	for i := 0; i < m; i++ {
		for j := 0; j < ldc; j++ {
			got := c[i*ldc+j]
			if j >= n {
				if math.Float32bits(got) != math.Float32bits(orig[i*ldc+j]) {
					t.Fatalf("%v: C[%d,%d] outside the matrix changed: %v -> %v", tc, i, j, orig[i*ldc+j], got)
				}
				continue
			}
			w, s := want[i*n+j], scale[i*n+j]
			tol := 2*float64(k+2)*eps*s + 1e-30
			if math.IsNaN(float64(got)) || math.Abs(float64(got)-w) > tol {
				bad++
				if bad <= 5 {
					t.Errorf("%v: C[%d,%d] = %v, want %v (tol %g)", tc, i, j, got, w, tol)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%v: %d of %d entries wrong", tc, bad, m*n)
	}
}

// kernels lists the micro-kernels this machine can run (one per isa level), pure Go first.
func kernels() []*kernel {
	var ks []*kernel
	for _, l := range isa.Levels() {
		if k := kernelAt(l); len(ks) == 0 || ks[len(ks)-1] != k {
			ks = append(ks, k)
		}
	}
	return ks
}

// setKernel forces the isa level whose kernel is named name ("go", "avx2", "avx512") and
// returns the function restoring the previous level; ok is false where the CPU lacks it.
func setKernel(name string) (restore func(), ok bool) {
	for _, l := range isa.Levels() {
		if kernelAt(l).name == name {
			return isa.Force(l)
		}
	}
	return func() {}, false
}

// forEachKernel runs f once per micro-kernel available on this CPU (the pure-Go one always).
func forEachKernel(t *testing.T, f func(t *testing.T)) {
	for _, kern := range kernels() {
		t.Run(kern.name, func(t *testing.T) {
			restore, ok := setKernel(kern.name)
			if !ok {
				t.Fatalf("kernel %q not selectable", kern.name)
			}
			defer restore()
			f(t)
		})
	}
}

func withThreads(n int, f func()) {
	old := int(threads.Load())
	SetThreads(n)
	defer SetThreads(old)
	f()
}

func TestSgemmSmall(t *testing.T) {
	sizes := []int{1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 24, 25, 33, 48, 49}
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, m := range sizes {
					for _, n := range sizes {
						k := sizes[(m*7+n*3)%len(sizes)]
						ab := [][2]float32{{1, 0}, {1, 1}, {-0.5, 2.5}, {2, 0}}[(m+n)%4]
						checkCase(t, r, gemmCase{tA, tB, m, n, k, ab[0], ab[1], (m + n) % 3})
					}
				}
			}
		}
	})
}

func TestSgemmBlocks(t *testing.T) {
	// Sizes crossing the mc/kc/nc block and panel boundaries, and ones that go parallel.
	cases := []struct{ m, n, k int }{
		{100, 257, 300}, {257, 100, 33}, {33, 4099, 17}, {7, 3100, 513},
		{130, 49, 1030}, {17, 33, 5000}, {300, 300, 300}, {6, 6200, 9},
		{64, 1024, 27}, {27, 600, 64}, {256, 48, 700},
	}
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, nt := range []int{1, 2, 3} {
			withThreads(nt, func() {
				for i, sz := range cases {
					for combo := 0; combo < 4; combo++ {
						tA, tB := combo&1 != 0, combo&2 != 0
						ab := [][2]float32{{1, 0}, {0.5, 1}, {-1.5, -0.25}, {1, 1}}[(i+combo)%4]
						checkCase(t, r, gemmCase{tA, tB, sz.m, sz.n, sz.k, ab[0], ab[1], (i + combo) % 5})
					}
				}
			})
		}
	})
}

// TestSgemmSplits runs each parallel decomposition (forced, and the automatic choice) on
// shapes that favour each of them, with 2 and 3 goroutines.
func TestSgemmSplits(t *testing.T) {
	cases := []gemmCase{
		{false, false, 16, 20000, 27, 1, 0, 0},   // wide: column split
		{true, false, 2000, 40, 64, 1, 1, 1},     // tall: row split
		{false, true, 20, 30, 20000, 1, 0.5, 2},  // long inner dimension: depth split
		{true, true, 10, 9, 30000, -2, 0, 0},     // depth split, beta 0
		{false, true, 128, 144, 4096, 1, 0, 0},   // weight-gradient-like
		{true, false, 144, 4096, 128, 1, 0, 3},   // input-gradient-like
		{false, false, 50, 300, 1100, 0.5, 2, 1}, // everything feasible
		{true, true, 3, 5, 7, 1, 1, 0},           // too small to split
	}
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, sp := range splitModes {
			for _, nt := range []int{2, 3} {
				withSplit(sp.mode, nt, func() {
					for _, tc := range cases {
						checkCase(t, r, tc)
					}
				})
			}
		}
	})
}

// splitModes are the parallel decompositions the tests force, and the automatic choice.
var splitModes = []struct {
	name string
	mode int
}{{"auto", splitAuto}, {"cols", splitCols}, {"rows", splitRows}, {"depth", splitDepth}}

// withSplit runs f with the decomposition forced to mode and nt goroutines per call.
func withSplit(mode, nt int, f func()) {
	forceSplit = mode
	defer func() { forceSplit = splitAuto }()
	withThreads(nt, f)
}

func TestSgemmSpecial(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		// k = 0 and alpha = 0: C = beta*C, A and B not read.
		for _, k := range []int{0, 5} {
			for _, beta := range []float32{0, 1, 3} {
				c := []float32{float32(math.NaN()), 2, 3, 4, 5, 6}
				a := randSlice(r, 10)
				b := randSlice(r, 15)
				alpha := float32(0)
				if k == 0 {
					alpha = 1
				}
				Gemm(false, false, 2, 3, k, alpha, a, max(k, 1), b, 3, beta, c, 3)
				for i, v := range c {
					var w float64
					if beta != 0 {
						w = float64(beta) * float64([]float32{float32(math.NaN()), 2, 3, 4, 5, 6}[i])
					}
					if !(v == float32(w) || (math.IsNaN(w) && math.IsNaN(float64(v)))) {
						t.Errorf("k=%d beta=%g: c[%d] = %v, want %v", k, beta, i, v, w)
					}
				}
			}
		}
		// m = 0 or n = 0 with nil slices is a no-op.
		Gemm[float32](false, false, 0, 3, 3, 1, nil, 3, nil, 3, 0, nil, 3)
		Gemm[float32](true, true, 3, 0, 3, 1, nil, 3, nil, 3, 0, nil, 1)
	})
}

func TestSgemmPanics(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	a, b, c := make([]float32, 12), make([]float32, 12), make([]float32, 12)
	mustPanic("lda", func() { Gemm(false, false, 3, 4, 3, 1, a, 2, b, 4, 0, c, 4) })
	mustPanic("ldb", func() { Gemm(false, false, 3, 4, 3, 1, a, 3, b, 3, 0, c, 4) })
	mustPanic("ldc", func() { Gemm(false, false, 3, 4, 3, 1, a, 3, b, 4, 0, c, 3) })
	mustPanic("shortA", func() { Gemm(false, false, 3, 4, 3, 1, a[:8], 3, b, 4, 0, c, 4) })
	mustPanic("shortB", func() { Gemm(false, false, 3, 4, 3, 1, a, 3, b[:11], 4, 0, c, 4) })
	mustPanic("shortC", func() { Gemm(false, false, 3, 4, 3, 1, a, 3, b, 4, 0, c[:11], 4) })
}

// TestGemmFloat64 checks the float64 path (gonum) against the same reference.
func TestGemmFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	m, n, k := 7, 9, 11
	for combo := 0; combo < 4; combo++ {
		tA, tB := combo&1 != 0, combo&2 != 0
		a32, b32, c32 := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, m*n)
		lda, ldb := k, n
		if tA {
			lda = m
		}
		if tB {
			ldb = k
		}
		want, _ := refGemm(tA, tB, m, n, k, 1.5, a32, lda, b32, ldb, 0.5, c32, n)
		f64 := func(s []float32) []float64 {
			d := make([]float64, len(s))
			for i, v := range s {
				d[i] = float64(v)
			}
			return d
		}
		c := f64(c32)
		Gemm(tA, tB, m, n, k, 1.5, f64(a32), lda, f64(b32), ldb, 0.5, c, n)
		for i := range c {
			if math.Abs(c[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
				t.Fatalf("combo %d: c[%d] = %v, want %v", combo, i, c[i], want[i])
			}
		}
	}
}

func TestThreads(t *testing.T) {
	old := int(threads.Load())
	defer SetThreads(old)
	SetThreads(3)
	if Threads() != 3 {
		t.Fatalf("Threads() = %d, want 3", Threads())
	}
	SetThreads(0)
	if Threads() < 1 {
		t.Fatalf("Threads() = %d after reset", Threads())
	}
}

func TestSgemmAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	m, n, k := 64, 2048, 144
	a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	withThreads(1, func() {
		Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		if got := testing.AllocsPerRun(20, func() { Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n) }); got > 0.5 {
			t.Errorf("single-threaded Gemm allocates %v times per call", got)
		}
	})
}

// TestThreadCountIndependence checks that every product, whatever decomposition the shape
// gets, is bit-for-bit the same on 1, 2, 3, 4 and 7 goroutines: the property that makes a
// run resumed on a machine with another core count continue exactly.
func TestThreadCountIndependence(t *testing.T) {
	cases := []gemmCase{
		{false, false, 16, 20000, 27, 1, 0, 0},  // column split
		{true, false, 2000, 40, 64, 1, 1, 1},    // row split
		{false, true, 20, 30, 20000, 1, 0.5, 2}, // depth split
		{false, true, 32, 288, 3136, 1, 1, 0},   // a weight gradient
		{true, false, 144, 4096, 128, 1, 0, 3},  // an input gradient
	}
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 22))
		for _, tc := range cases {
			lda, ldb := tc.k, tc.n
			if tc.tA {
				lda = tc.m
			}
			if tc.tB {
				ldb = tc.k
			}
			lda, ldb = lda+tc.pad, ldb+tc.pad
			ldc := tc.n + tc.pad
			rowsA, rowsB := tc.m, tc.k
			if tc.tA {
				rowsA = tc.k
			}
			if tc.tB {
				rowsB = tc.n
			}
			a, b, c0 := randSlice(r, rowsA*lda), randSlice(r, rowsB*ldb), randSlice(r, tc.m*ldc)
			var want []float32
			for _, nt := range []int{1, 2, 3, 4, 7} {
				c := append([]float32(nil), c0...)
				withThreads(nt, func() { Gemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc) })
				if want == nil {
					want = c
					continue
				}
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%v: %d threads give C[%d] = %v, 1 thread %v", tc, nt, i, c[i], want[i])
					}
				}
			}
		}
		// The implicit-im2col weight gradient (depth split over the pixels of the batch).
		ch, n, s, m := 16, 8, 14, 16
		in, gout := randSlice(r, ch*n*s*s), randSlice(r, m*n*s*s)
		var want []float32
		for _, nt := range []int{1, 2, 3, 4, 7} {
			gw := make([]float32, m*ch*9)
			withThreads(nt, func() { SgemmConv3W(m, 1, gout, in, ch, n, s, gw, ch*9) })
			if want == nil {
				want = gw
				continue
			}
			for i := range gw {
				if math.Float32bits(gw[i]) != math.Float32bits(want[i]) {
					t.Fatalf("SgemmConv3W: %d threads give gw[%d] = %v, 1 thread %v", nt, i, gw[i], want[i])
				}
			}
		}
	})
}
