package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
)

// benchShapes are convolution GEMMs of a 3x3 network at batch 32 (n = 32*H*W).
var benchShapes = []struct {
	name    string
	tA, tB  bool
	m, n, k int
}{
	{"fwd_64to128_32x32", false, false, 128, 32768, 576},  // forward: W(128x576) * col(576 x NHW)
	{"dgrad_64to128_32x32", true, false, 576, 32768, 128}, // input gradient: Wᵀ * dY
	{"wgrad_64to128_32x32", false, true, 128, 576, 32768}, // weight gradient: dY * colᵀ
	{"fwd_rgb_3to64_32x32", false, false, 64, 32768, 27},  // first layer: tiny k
	{"fwd_256to256_8x8", false, false, 256, 2048, 2304},   // deep layer
}

func BenchmarkSgemm(b *testing.B) {
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
		report := func(b *testing.B) {
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		}
		for _, kern := range kernels()[1:] {
			for _, nt := range []int{1, 0} {
				name := fmt.Sprintf("%s/%s_1thread", s.name, kern.name)
				if nt == 0 {
					name = fmt.Sprintf("%s/%s_%dthreads", s.name, kern.name, Threads())
				}
				b.Run(name, func(b *testing.B) {
					restore, _ := setKernel(kern.name)
					defer restore()
					withThreads(nt, func() {
						for b.Loop() {
							Gemm(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
						}
					})
					report(b)
				})
			}
		}
		b.Run(s.name+"/go_1thread", func(b *testing.B) {
			restore, _ := setKernel("go")
			defer restore()
			withThreads(1, func() {
				for b.Loop() {
					Gemm(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
				}
			})
			report(b)
		})
		b.Run(s.name+"/gonum", func(b *testing.B) {
			ta, tb := blas.NoTrans, blas.NoTrans
			if s.tA {
				ta = blas.Trans
			}
			if s.tB {
				tb = blas.Trans
			}
			for b.Loop() {
				impl.Sgemm(ta, tb, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
			}
			report(b)
		})
	}
}
