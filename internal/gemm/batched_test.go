package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemmBatched checks every product of a batch against the float64 reference, for every
// kernel, the four transpositions and 1 to 3 goroutines, and that the results are the same
// bits whatever the number of goroutines (the products' depth is never split).
func TestGemmBatched(t *testing.T) {
	shapes := []struct{ count, m, n, k int }{
		{1, 5, 7, 3}, {16, 32, 98, 32}, {36, 8, 300, 16}, {16, 32, 32, 600}, {3, 70, 40, 20}, {2, 200, 600, 9},
	}
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(31, 32))
		for _, sh := range shapes {
			for combo := 0; combo < 4; combo++ {
				tA, tB := combo&1 != 0, combo&2 != 0
				lda, ldb, ldc := sh.k+1, sh.n+2, sh.n+3
				rowsA, rowsB := sh.m, sh.k
				if tA {
					lda, rowsA = sh.m+1, sh.k
				}
				if tB {
					ldb, rowsB = sh.k+2, sh.n
				}
				sa, sb, sc := rowsA*lda+5, rowsB*ldb+7, sh.m*ldc+11 // strides past each matrix
				a, b, c0 := randSlice(r, sh.count*sa), randSlice(r, sh.count*sb), randSlice(r, sh.count*sc)
				alpha, beta := float32(1), float32([]float32{0, 1, 0.5, 0}[combo])
				name := fmt.Sprintf("%+v tA=%v tB=%v", sh, tA, tB)
				var first []float32
				for _, nt := range []int{1, 2, 3} {
					c := append([]float32(nil), c0...)
					withThreads(nt, func() {
						GemmBatched(sh.count, tA, tB, sh.m, sh.n, sh.k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc)
					})
					if first == nil {
						first = c
						for i := 0; i < sh.count; i++ {
							want, scale := refGemm(tA, tB, sh.m, sh.n, sh.k, alpha, a[i*sa:], lda, b[i*sb:], ldb, beta, c0[i*sc:], ldc)
							for row := 0; row < sh.m; row++ {
								for col := 0; col < sh.n; col++ {
									got := float64(c[i*sc+row*ldc+col])
									if d := math.Abs(got - want[row*sh.n+col]); d > 1e-5*(scale[row*sh.n+col]+1e-30) {
										t.Fatalf("%s: product %d C[%d][%d] = %v, want %v", name, i, row, col, got, want[row*sh.n+col])
									}
								}
							}
							// The stride gaps are left alone.
							for j := i*sc + (sh.m-1)*ldc + sh.n; j < (i+1)*sc; j++ {
								if j%ldc >= sh.n || j >= i*sc+sh.m*ldc {
									if c[j] != c0[j] {
										t.Fatalf("%s: C[%d] outside product %d written", name, j, i)
									}
								}
							}
						}
						continue
					}
					for i := range c {
						if math.Float32bits(c[i]) != math.Float32bits(first[i]) {
							t.Fatalf("%s: %d threads give C[%d] = %v, 1 thread %v", name, nt, i, c[i], first[i])
						}
					}
				}
			}
		}
	})
}

// TestPackedGemmBatched: products with A packed once by Packing.Pack give the bits of the
// ordinary GemmBatched, for every kernel, both op(B), 1 to 3 goroutines and the serial call,
// on shapes with a partial last panel and several depth (kc) and row (mc) blocks.
func TestPackedGemmBatched(t *testing.T) {
	shapes := []struct{ count, m, n, k int }{
		{1, 5, 7, 3}, {3, 33, 70, 20}, {2, 130, 60, 300}, {4, 8, 300, 16},
	}
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(33, 34))
		pk := ActivePacking()
		for _, sh := range shapes {
			for _, tB := range []bool{false, true} {
				ldb, rowsB := sh.n+2, sh.k
				if tB {
					ldb, rowsB = sh.k+2, sh.n
				}
				sa := pk.Len(sh.m, sh.k) + 3
				sb, sc := rowsB*ldb+7, sh.m*(sh.n+1)+5
				a, b, c0 := randSlice(r, sh.count*sa), randSlice(r, sh.count*sb), randSlice(r, sh.count*sc)
				beta := float32(0.5)
				name := fmt.Sprintf("%+v tB=%v", sh, tB)
				want := append([]float32(nil), c0...)
				GemmBatched(sh.count, false, tB, sh.m, sh.n, sh.k, 1, a, sh.k, sa, b, ldb, sb, beta, want, sh.n+1, sc)
				packed := append([]float32(nil), a...)
				pk.Pack(sh.count, sh.m, sh.k, packed, sa)
				for _, nt := range []int{0, 1, 2, 3} {
					c := append([]float32(nil), c0...)
					if nt == 0 {
						pk.GemmBatchedSerial(sh.count, tB, sh.m, sh.n, sh.k, packed, sa, b, ldb, sb, beta, c, sh.n+1, sc)
					} else {
						withThreads(nt, func() {
							pk.GemmBatched(sh.count, tB, sh.m, sh.n, sh.k, packed, sa, b, ldb, sb, beta, c, sh.n+1, sc)
						})
					}
					for i := range c {
						if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s, %d threads: C[%d] = %v, unpacked %v", name, nt, i, c[i], want[i])
						}
					}
				}
			}
		}
	})
}
