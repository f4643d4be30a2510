package winograd

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkTransforms times the data transforms of a channel of n images, staging and
// write-back included, per tile.
func BenchmarkTransforms(b *testing.B) {
	for _, m := range []int{2, 4} {
		for _, s := range []int{7, 14, 28, 32} {
			const n = 64
			a, g := algoFor(m), NewGeom(m, s, n)
			r := rand.New(rand.NewPCG(1, 1))
			img := randF32(r, n*s*s)
			bw, nt := bandWidth(g), g.T
			ld := planeStride(g.Tiles())
			v := make([]float32, g.Points()*ld)
			band := make([]float32, a.alpha*bw*lanes)
			var im images[float32]
			each := func(b *testing.B, f func(grp int)) {
				for i := 0; i < b.N; i++ {
					for grp := 0; grp < n/lanes; grp++ {
						groupImages(&im, img, grp, n, s)
						f(grp)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*g.Tiles()), "ns/tile")
			}
			b.Run(fmt.Sprintf("input/F%d/s%d", m, s), func(b *testing.B) {
				each(b, func(grp int) { inputRows(a, g, &im, 0, nt, band, v[grp*nt*nt*lanes:], ld) })
			})
			b.Run(fmt.Sprintf("output/F%d/s%d", m, s), func(b *testing.B) {
				each(b, func(grp int) { outputRows(a, g, v[grp*nt*nt*lanes:], ld, 0, nt, band, 0, &im) })
			})
			b.Run(fmt.Sprintf("adjoint/F%d/s%d", m, s), func(b *testing.B) {
				each(b, func(grp int) { outputAdjointRows(a, g, &im, 0, nt, band, v[grp*nt*nt*lanes:], ld) })
			})
		}
	}
}
