package winograd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// naiveConv is the definition: out[o][b][y][x] = sum_i,ky,kx k(o,i)[ky][kx] in[i][b][y+ky-1][x+kx-1]
// (+ bias[o]), with k(o,i) = w[o][i] or, with adjoint, w[i][o] rotated by 180 degrees.
func naiveConv(w []float64, nOut, nIn int, adjoint bool, in []float64, n, s int, bias []float64) []float64 {
	plane := n * s * s
	out := make([]float64, nOut*plane)
	for o := 0; o < nOut; o++ {
		for i := 0; i < nIn; i++ {
			var k [9]float64
			for t := range 9 {
				if adjoint {
					k[t] = w[(i*nOut+o)*9+8-t]
				} else {
					k[t] = w[(o*nIn+i)*9+t]
				}
			}
			for b := 0; b < n; b++ {
				for y := 0; y < s; y++ {
					for x := 0; x < s; x++ {
						sum := 0.0
						for t := range 9 {
							yy, xx := y+t/3-1, x+t%3-1
							if yy >= 0 && yy < s && xx >= 0 && xx < s {
								sum += k[t] * in[i*plane+(b*s+yy)*s+xx]
							}
						}
						out[o*plane+(b*s+y)*s+x] += sum
					}
				}
			}
		}
		if bias != nil {
			for j := 0; j < plane; j++ {
				out[o*plane+j] += bias[o]
			}
		}
	}
	return out
}

// naiveWeightGrad is the definition: gw[o][i][ky][kx] = sum_b,y,x gout[o][b][y][x] in[i][b][y+ky-1][x+kx-1].
func naiveWeightGrad(gout []float64, nOut int, in []float64, nIn, n, s int) []float64 {
	plane := n * s * s
	gw := make([]float64, nOut*nIn*9)
	for o := 0; o < nOut; o++ {
		for i := 0; i < nIn; i++ {
			for t := range 9 {
				sum := 0.0
				for b := 0; b < n; b++ {
					for y := 0; y < s; y++ {
						for x := 0; x < s; x++ {
							yy, xx := y+t/3-1, x+t%3-1
							if yy >= 0 && yy < s && xx >= 0 && xx < s {
								sum += gout[o*plane+(b*s+y)*s+x] * in[i*plane+(b*s+yy)*s+xx]
							}
						}
					}
				}
				gw[(o*nIn+i)*9+t] = sum
			}
		}
	}
	return gw
}

func randVec(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

// maxRel is max|got-want| / max|want|.
func maxRel(got, want []float64) float64 {
	d, sc := 0.0, 0.0
	for i := range want {
		d = math.Max(d, math.Abs(got[i]-want[i]))
		sc = math.Max(sc, math.Abs(want[i]))
	}
	return d / sc
}

// convShapes cover partial tiles (s not a multiple of m), single tiles, images smaller than
// a tile, one channel and several, and batches of several image groups (8 images each; the
// last one partial) whose tile rows span chunks.
var convShapes = []struct{ nOut, nIn, n, s int }{
	{1, 1, 1, 1}, {2, 1, 1, 2}, {3, 2, 2, 3}, {2, 3, 3, 4}, {4, 4, 2, 5}, {3, 5, 2, 7},
	{5, 3, 3, 8}, {8, 8, 2, 14}, {4, 6, 1, 17}, {2, 2, 1, 32}, {3, 2, 17, 5}, {2, 3, 11, 9},
}

// TestForwardMatchesDirect: in float64 the Winograd convolution and its data adjoint equal
// the direct definition to rounding.
func TestForwardMatchesDirect(t *testing.T) { forEachChunking(t, testForwardMatchesDirect) }

// forEachChunking runs f with the plans chosen by shape and with one-unit chunks (one tile
// row of one image group), fused and phased.
func forEachChunking(t *testing.T, f func(t *testing.T)) {
	for _, mode := range []struct {
		name string
		mode int
	}{{"by shape", 0}, {"fused one-unit chunks", 1}, {"phased one-unit chunks", 2}} {
		t.Run(mode.name, func(t *testing.T) {
			old := forceMode
			forceMode = mode.mode
			defer func() { forceMode = old }()
			f(t)
		})
	}
}

func testForwardMatchesDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var c Conv[float64]
	worst := 0.0
	for _, m := range []int{2, 4} {
		for _, sh := range convShapes {
			for _, adjoint := range []bool{false, true} {
				name := fmt.Sprintf("F(%d,3) %+v adjoint=%v", m, sh, adjoint)
				w := randVec(r, sh.nOut*sh.nIn*9)
				in := randVec(r, sh.nIn*sh.n*sh.s*sh.s)
				bias := randVec(r, sh.nOut)
				want := naiveConv(w, sh.nOut, sh.nIn, adjoint, in, sh.n, sh.s, bias)
				got := randVec(r, len(want)) // garbage Forward must overwrite
				c.Forward(m, w, sh.nOut, sh.nIn, adjoint, in, sh.n, sh.s, bias, got)
				e := maxRel(got, want)
				worst = math.Max(worst, e)
				if e > 1e-13 {
					t.Errorf("%s: max relative error %.2e", name, e)
				}
			}
		}
	}
	t.Logf("worst relative error %.2e", worst)
}

// TestWeightGradMatchesDirect: the adjoint algorithm gives the weight gradient of the
// direct definition, summed over two terms and added to what gw held.
func TestWeightGradMatchesDirect(t *testing.T) { forEachChunking(t, testWeightGradMatchesDirect) }

func testWeightGradMatchesDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var c Conv[float64]
	worst := 0.0
	for _, m := range []int{2, 4} {
		for _, sh := range convShapes {
			name := fmt.Sprintf("F(%d,3) %+v", m, sh)
			size := sh.n * sh.s * sh.s
			gout, in := randVec(r, sh.nOut*size), randVec(r, sh.nIn*size)
			gout2, in2 := randVec(r, sh.nOut*size), randVec(r, sh.nIn*size)
			want := naiveWeightGrad(gout, sh.nOut, in, sh.nIn, sh.n, sh.s)
			want2 := naiveWeightGrad(gout2, sh.nOut, in2, sh.nIn, sh.n, sh.s)
			got := randVec(r, len(want))
			for i := range want {
				want[i] += got[i] + want2[i]
			}
			c.WeightGrad(m, sh.nOut, sh.nIn, sh.n, sh.s, got, GradTerm[float64]{gout, in}, GradTerm[float64]{gout2, in2})
			e := maxRel(got, want)
			worst = math.Max(worst, e)
			if e > 1e-13 {
				t.Errorf("%s: max relative error %.2e", name, e)
			}
		}
	}
	t.Logf("worst relative error %.2e", worst)
}
