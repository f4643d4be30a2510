package winograd

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkTransforms times the data transforms over n images of one channel.
func BenchmarkTransforms(b *testing.B) {
	for _, m := range []int{2, 4} {
		for _, s := range []int{7, 14, 28, 32} {
			const n = 64
			a, g := algoFor(m), NewGeom(m, s, n)
			r := rand.New(rand.NewPCG(1, 1))
			img := randF32(r, n*s*s)
			t2 := g.T * g.T
			ld := planeStride(n*t2 + spill + 1)
			v := make([]float32, g.Points()*ld)
			b.Run(fmt.Sprintf("input/F%d/s%d", m, s), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					for im := 0; im < n; im++ {
						inputImage(a, g, img[im*s*s:(im+1)*s*s], v[im*t2:], ld)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*t2), "ns/tile")
			})
			b.Run(fmt.Sprintf("output/F%d/s%d", m, s), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					for im := 0; im < n; im++ {
						outputImage(a, g, v[im*t2:], ld, img[im*s*s:(im+1)*s*s], 0)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*t2), "ns/tile")
			})
			b.Run(fmt.Sprintf("adjoint/F%d/s%d", m, s), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					for im := 0; im < n; im++ {
						outputAdjointImage(a, g, img[im*s*s:(im+1)*s*s], v[im*t2:], ld)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*t2), "ns/tile")
			})
		}
	}
}
