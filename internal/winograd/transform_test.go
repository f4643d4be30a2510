package winograd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"mdsm/internal/isa"
	"mdsm/internal/isa/isatest"
)

// transformSides cover one partial tile, odd sides (a last tile half outside the image),
// sides below, at and past a staging block (8 pixels) and rows of several blocks.
var transformSides = []int{1, 2, 3, 4, 7, 8, 9, 14, 16, 17, 33}

func randF32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// laneImages returns the n <= lanes images of side s in img as a group.
func laneImages(img []float32, n, s int) *images[float32] {
	var im images[float32]
	groupImages(&im, img, 0, n, s)
	return &im
}

// transformsAt runs, at the current level, the three row transforms of tile rows
// [ty0, ty1) of a group of n <= lanes images; every output starts as NaN so that a value
// left unwritten shows (the images' pixels outside the rows written back too).
func transformsAt(a *algo, s, n, ty0, ty1 int, img, mm, gout []float32) (v, mbar, out []float32) {
	g := NewGeom(a.m, s, n)
	bw := bandWidth(g)
	ld := (ty1-ty0)*g.T*lanes + 5 // a stride past the rows' tiles, as in a chunk
	nan := float32(math.NaN())
	fill := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = nan
		}
		return x
	}
	band := fill(a.alpha * bw * lanes)
	v, mbar, out = fill(g.Points()*ld), fill(g.Points()*ld), fill(n*s*s)
	inputRows(a, g, laneImages(img, n, s), ty0, ty1, band, v, ld)
	outputRows(a, g, mm, ld, ty0, ty1, band, 0.25, laneImages(out, n, s))
	outputAdjointRows(a, g, laneImages(gout, n, s), ty0, ty1, band, mbar, ld)
	return v, mbar, out
}

// TestTransformsSameAtEveryLevel: the assembly kernels (staging, transforms, write-back)
// give the bits of their Go twins and write exactly what they own: every tile of the rows,
// and the pixels of those rows of the images that exist.
func TestTransformsSameAtEveryLevel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, a := range []*algo{f2, f4} {
		for _, s := range transformSides {
			g := NewGeom(a.m, s, 1)
			for _, tc := range []struct{ n, ty0, ty1 int }{{lanes, 0, g.T}, {3, g.T - 1, g.T}, {lanes, g.T / 2, (g.T + 1) / 2}} {
				n, ty0, ty1 := tc.n, tc.ty0, tc.ty1
				if ty1 <= ty0 {
					ty1 = ty0 + 1
				}
				ld := (ty1-ty0)*g.T*lanes + 5
				img, gout := randF32(r, n*s*s), randF32(r, n*s*s)
				mm := randF32(r, g.Points()*ld)
				restore, _ := isa.Force(isa.Go)
				var want [3][]float32
				want[0], want[1], want[2] = transformsAt(a, s, n, ty0, ty1, img, mm, gout)
				restore()
				name := fmt.Sprintf("F(%d,3) s=%d n=%d rows %d..%d", a.m, s, n, ty0, ty1)
				isatest.ForEachLevel(t, func(t *testing.T) {
					var got [3][]float32
					got[0], got[1], got[2] = transformsAt(a, s, n, ty0, ty1, img, mm, gout)
					for k, what := range []string{"V", "Mbar", "image"} {
						for i := range want[k] {
							gb, wb := math.Float32bits(got[k][i]), math.Float32bits(want[k][i])
							if gb != wb && !(math.IsNaN(float64(got[k][i])) && math.IsNaN(float64(want[k][i]))) {
								t.Fatalf("%s: %s[%d] = %v, Go twin %v", name, what, i, got[k][i], want[k][i])
							}
						}
					}
				})
				// What the twin writes: every tile of the rows, and exactly the pixels of the
				// rows' images.
				for k := 0; k < 2; k++ {
					for i, x := range want[k] {
						if written := i%ld < (ty1-ty0)*g.T*lanes; written == math.IsNaN(float64(x)) {
							t.Fatalf("%s: transformed value %d written %v, want %v", name, i, !written, written)
						}
					}
				}
				for i, x := range want[2] {
					y := i % (s * s) / s
					if written := y >= a.m*ty0 && y < a.m*ty1; written == math.IsNaN(float64(x)) {
						t.Fatalf("%s: image pixel %d written %v, want %v", name, i, !written, written)
					}
				}
			}
		}
	}
}

// TestFloat32ConvMatchesFloat64 bounds the rounding of the float32 Winograd convolution, its
// data adjoint and weight gradient against the float64 direct definition, at every level.
func TestFloat32ConvMatchesFloat64(t *testing.T) {
	isatest.ForEachLevel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		var c Conv[float32]
		for _, m := range []int{2, 4} {
			worst := 0.0
			for _, sh := range []struct{ nOut, nIn, n, s int }{{16, 16, 3, 14}, {8, 24, 2, 7}, {32, 8, 2, 17}, {8, 8, 11, 9}} {
				w, in, gout := randVec(r, sh.nOut*sh.nIn*9), randVec(r, sh.nIn*sh.n*sh.s*sh.s), randVec(r, sh.nOut*sh.n*sh.s*sh.s)
				to32 := func(x []float64) []float32 {
					y := make([]float32, len(x))
					for i, v := range x {
						y[i] = float32(v)
					}
					return y
				}
				to64 := func(x []float32) []float64 {
					y := make([]float64, len(x))
					for i, v := range x {
						y[i] = float64(v)
					}
					return y
				}
				// Round the inputs to float32 first, so the comparison measures the algorithm.
				w, in, gout = to64(to32(w)), to64(to32(in)), to64(to32(gout))
				for _, adjoint := range []bool{false, true} {
					nOut, nIn, src := sh.nOut, sh.nIn, in
					if adjoint {
						nOut, nIn, src = sh.nIn, sh.nOut, gout
					}
					want := naiveConv(w, nOut, nIn, adjoint, src, sh.n, sh.s, nil)
					got := make([]float32, len(want))
					c.Forward(m, to32(w), nOut, nIn, adjoint, to32(src), sh.n, sh.s, nil, got)
					e := maxRel(to64(got), want)
					worst = math.Max(worst, e)
					if e > 2e-5*float64(m) {
						t.Errorf("F(%d,3) %+v adjoint=%v: float32 vs float64 relative error %.2e", m, sh, adjoint, e)
					}
				}
				want := naiveWeightGrad(gout, sh.nOut, in, sh.nIn, sh.n, sh.s)
				got := make([]float32, len(want))
				c.WeightGrad(m, sh.nOut, sh.nIn, sh.n, sh.s, got, GradTerm[float32]{to32(gout), to32(in)})
				e := maxRel(to64(got), want)
				worst = math.Max(worst, e)
				if e > 2e-5*float64(m) {
					t.Errorf("F(%d,3) %+v weight gradient: float32 vs float64 relative error %.2e", m, sh, e)
				}
			}
			t.Logf("F(%d,3): worst float32 relative error %.2e", m, worst)
		}
	})
}
