package winograd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"mdsm/internal/isa"
	"mdsm/internal/isa/isatest"
)

// transformSides cover one partial tile, odd sides (a last tile half outside the image), a
// tile row shorter than a vector (8 tiles) and rows of one, two and three vectors.
var transformSides = []int{1, 2, 3, 4, 7, 14, 15, 16, 17, 32, 33, 50}

func randF32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// transformsAt runs the three data transforms of one image at the current level; the
// outputs start as NaN so that a value left unwritten shows.
func transformsAt(a *algo, s int, img, mm, gout []float32) (v, out, mbar []float32) {
	g := NewGeom(a.m, s, 1)
	ld := g.T*g.T + spill + 3 // a stride with room for the spill, as in a chunk
	nan := float32(math.NaN())
	fill := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = nan
		}
		return x
	}
	v, out, mbar = fill(g.Points()*ld), fill(s*s), fill(g.Points()*ld)
	inputImage(a, g, img, v, ld)
	outputImage(a, g, mm, ld, out, 0.25)
	outputAdjointImage(a, g, gout, mbar, ld)
	return v, out, mbar
}

// TestTransformsSameAtEveryLevel: the assembly transforms give the bits of their Go twins,
// write every value of every tile, and write at most spill floats past an image's tiles.
func TestTransformsSameAtEveryLevel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, a := range []*algo{f2, f4} {
		for _, s := range transformSides {
			g := NewGeom(a.m, s, 1)
			ld := g.T*g.T + spill + 3
			img, gout := randF32(r, s*s), randF32(r, s*s)
			mm := randF32(r, g.Points()*ld)
			restore, _ := isa.Force(isa.Go)
			wantV, wantOut, wantMbar := transformsAt(a, s, img, mm, gout)
			restore()
			isatest.ForEachLevel(t, func(t *testing.T) {
				v, out, mbar := transformsAt(a, s, img, mm, gout)
				// Every tile is written with the twin's bits; past an image's tiles at most
				// spill floats may be (vector stores), never more.
				check := func(what string, got, want []float32, stride, used int) {
					for i := range want {
						inTile := stride == 0 || i%stride < used
						gb, wb := math.Float32bits(got[i]), math.Float32bits(want[i])
						if inTile && (gb != wb || math.IsNaN(float64(got[i]))) {
							t.Fatalf("F(%d,3) s=%d %s[%d] = %v, Go twin %v", a.m, s, what, i, got[i], want[i])
						}
						if !inTile && i%stride >= used+spill && !math.IsNaN(float64(got[i])) {
							t.Fatalf("F(%d,3) s=%d %s[%d] written past the spill after the tiles", a.m, s, what, i)
						}
					}
				}
				check("V", v, wantV, ld, g.T*g.T)
				check("out", out, wantOut, 0, 0)
				check("Mbar", mbar, wantMbar, ld, g.T*g.T)
			})
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
			for _, sh := range []struct{ nOut, nIn, n, s int }{{16, 16, 3, 14}, {8, 24, 2, 7}, {32, 8, 2, 17}} {
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
	_ = fmt.Sprint
}
