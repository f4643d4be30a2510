package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// naiveIm2col3 is the im2col matrix SgemmConv3 packs implicitly, written out element by element.
func naiveIm2col3(in []float32, ch, n, s int) []float32 {
	cols := n * s * s
	b := make([]float32, ch*9*cols)
	for c := 0; c < ch; c++ {
		for k := 0; k < 9; k++ {
			dy, dx := k/3-1, k%3-1
			for img := 0; img < n; img++ {
				for y := 0; y < s; y++ {
					for x := 0; x < s; x++ {
						yy, xx := y+dy, x+dx
						if yy < 0 || yy >= s || xx < 0 || xx >= s {
							continue
						}
						b[(c*9+k)*cols+(img*s+y)*s+x] = in[c*cols+(img*s+yy)*s+xx]
					}
				}
			}
		}
	}
	return b
}

// TestSgemmConv3MatchesExplicit: the implicit-im2col product equals, bit for bit, Sgemm on
// the explicit im2col matrix (the packed panels are the same, so is the arithmetic), for
// every kernel, thread count and parallel decomposition, on shapes whose panels cross
// image, row and plane boundaries.
func TestSgemmConv3MatchesExplicit(t *testing.T) {
	shapes := []struct{ m, ch, n, s int }{
		{1, 1, 1, 1}, {3, 1, 3, 5}, {8, 2, 2, 14}, {33, 3, 5, 7}, {16, 16, 7, 4},
		{32, 32, 10, 14}, {5, 5, 64, 3}, {64, 1, 40, 28}, {9, 40, 3, 9},
	}
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, sh := range shapes {
			k, cols := sh.ch*9, sh.n*sh.s*sh.s
			a := randSlice(r, sh.m*k)
			in := randSlice(r, sh.ch*cols)
			b := naiveIm2col3(in, sh.ch, sh.n, sh.s)
			c0 := randSlice(r, sh.m*cols)
			for _, sp := range splitModes {
				for _, nt := range []int{1, 2, 3} {
					for _, ab := range [][2]float32{{1, 0}, {-0.5, 1.5}} {
						name := fmt.Sprintf("%+v %s nt=%d alpha=%g beta=%g", sh, sp.name, nt, ab[0], ab[1])
						want := append([]float32(nil), c0...)
						got := append([]float32(nil), c0...)
						withSplit(sp.mode, nt, func() {
							Gemm(false, false, sh.m, cols, k, ab[0], a, k, b, cols, ab[1], want, cols)
							SgemmConv3(sh.m, ab[0], a, k, in, sh.ch, sh.n, sh.s, ab[1], got, cols)
						})
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s: C[%d] = %v, explicit im2col gives %v", name, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	})
}

func TestSgemmConv3Panics(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"short input", func() {
			SgemmConv3(2, 1, make([]float32, 18), 9, make([]float32, 10), 1, 1, 4, 0, make([]float32, 32), 16)
		}},
		{"short c", func() {
			SgemmConv3(2, 1, make([]float32, 18), 9, make([]float32, 16), 1, 1, 4, 0, make([]float32, 20), 16)
		}},
		{"bad lda", func() {
			SgemmConv3(2, 1, make([]float32, 18), 8, make([]float32, 16), 1, 1, 4, 0, make([]float32, 32), 16)
		}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.f()
		}()
	}
}

// TestSgemmConv3WMatchesExplicit: the implicit weight gradient equals Sgemm on the explicit
// im2col matrix, gw = gout * B^T: bit for bit when gw starts at zero (same packed values, same
// blocking and summation order), to rounding when it accumulates onto a non-zero gw. Every
// kernel, thread count and split; channel counts that are and are not multiples of 8 (the
// vector and the element-wise packing).
func TestSgemmConv3WMatchesExplicit(t *testing.T) {
	shapes := []struct{ m, ch, n, s int }{
		{1, 1, 1, 1}, {4, 1, 3, 5}, {8, 8, 2, 14}, {33, 3, 5, 7}, {16, 16, 7, 4},
		{32, 32, 10, 14}, {5, 12, 64, 3}, {64, 1, 40, 28}, {9, 40, 3, 9},
	}
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, sh := range shapes {
			k, cols := sh.ch*9, sh.n*sh.s*sh.s
			gout := randSlice(r, sh.m*cols)
			in := randSlice(r, sh.ch*cols)
			b := naiveIm2col3(in, sh.ch, sh.n, sh.s)
			g0 := randSlice(r, sh.m*k)
			for _, sp := range splitModes {
				for _, nt := range []int{1, 2, 3} {
					name := fmt.Sprintf("%+v %s nt=%d", sh, sp.name, nt)
					want := make([]float32, sh.m*k)
					got := make([]float32, sh.m*k)
					want1 := append([]float32(nil), g0...)
					got1 := append([]float32(nil), g0...)
					withSplit(sp.mode, nt, func() {
						Gemm(false, true, sh.m, k, cols, 0.5, gout, cols, b, cols, 0, want, k)
						SgemmConv3W(sh.m, 0.5, gout, in, sh.ch, sh.n, sh.s, got, k)
						Gemm(false, true, sh.m, k, cols, 0.5, gout, cols, b, cols, 1, want1, k)
						SgemmConv3W(sh.m, 0.5, gout, in, sh.ch, sh.n, sh.s, got1, k)
					})
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s: gw[%d] = %v, explicit im2col gives %v", name, i, got[i], want[i])
						}
						// Different association of the same float32 sums: a rounding allowance
						// of 2 eps per term (standard normal inputs, alpha 0.5); the exact
						// match above already pins the arithmetic.
						tol := 2 * float64(cols+2) * 6e-8 * 0.5
						if d := math.Abs(float64(got1[i] - want1[i])); d > tol {
							t.Fatalf("%s: accumulated gw[%d] = %v, want %v", name, i, got1[i], want1[i])
						}
					}
				}
			}
		}
	})
}
