package nn

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// naiveIm2col3 is the definition of im2col3, one entry at a time.
func naiveIm2col3(in []float64, cin, n, s int) []float64 {
	plane := s * s
	cols := n * plane
	col := make([]float64, cin*9*cols)
	for ci := 0; ci < cin; ci++ {
		for ky := 0; ky < 3; ky++ {
			for kx := 0; kx < 3; kx++ {
				for b := 0; b < n; b++ {
					for y := 0; y < s; y++ {
						for x := 0; x < s; x++ {
							sy, sx := y+ky-1, x+kx-1
							var v float64
							if sy >= 0 && sy < s && sx >= 0 && sx < s {
								v = in[(ci*n+b)*plane+sy*s+sx]
							}
							col[(ci*9+ky*3+kx)*cols+(b*s+y)*s+x] = v
						}
					}
				}
			}
		}
	}
	return col
}

// naiveCol2im3 is the definition of col2im3 (the adjoint), one entry at a time.
func naiveCol2im3(col []float64, cin, n, s int) []float64 {
	plane := s * s
	cols := n * plane
	out := make([]float64, cin*cols)
	for ci := 0; ci < cin; ci++ {
		for ky := 0; ky < 3; ky++ {
			for kx := 0; kx < 3; kx++ {
				for b := 0; b < n; b++ {
					for y := 0; y < s; y++ {
						for x := 0; x < s; x++ {
							sy, sx := y+ky-1, x+kx-1
							if sy >= 0 && sy < s && sx >= 0 && sx < s {
								out[(ci*n+b)*plane+sy*s+sx] += col[(ci*9+ky*3+kx)*cols+(b*s+y)*s+x]
							}
						}
					}
				}
			}
		}
	}
	return out
}

func randVec(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

func TestIm2colCol2imAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, procs := range []int{1, 2, 3} {
		old := runtime.GOMAXPROCS(procs)
		for _, s := range []int{1, 2, 3, 7, 14} {
			for _, cin := range []int{1, 2, 3, 5} {
				for _, n := range []int{1, 2, 3, 64} {
					plane := s * s
					cols := n * plane
					in := randVec(r, cin*cols)
					col := randVec(r, cin*9*cols) // garbage im2col3 must overwrite
					im2col3(in, cin, n, s, col)
					want := naiveIm2col3(in, cin, n, s)
					for i := range want {
						if col[i] != want[i] {
							t.Fatalf("procs %d s %d cin %d n %d: im2col3[%d] = %v, want %v", procs, s, cin, n, i, col[i], want[i])
						}
					}

					y := randVec(r, cin*9*cols)
					wantOut := naiveCol2im3(y, cin, n, s)
					ycopy := append([]float64(nil), y...)
					out := randVec(r, cin*cols) // garbage col2im3 must overwrite
					col2im3(ycopy, cin, n, s, out)
					for i := range wantOut {
						if math.Abs(out[i]-wantOut[i]) > 1e-12*(1+math.Abs(wantOut[i])) {
							t.Fatalf("procs %d s %d cin %d n %d: col2im3[%d] = %v, want %v", procs, s, cin, n, i, out[i], wantOut[i])
						}
					}

					// Adjoint identity <im2col(x), y> = <x, col2im(y)>.
					var lhs, rhs float64
					for i := range y {
						lhs += col[i] * y[i]
					}
					for i := range in {
						rhs += in[i] * out[i]
					}
					if math.Abs(lhs-rhs) > 1e-10*(1+math.Abs(lhs)) {
						t.Fatalf("procs %d s %d cin %d n %d: <im2col x, y> = %v, <x, col2im y> = %v", procs, s, cin, n, lhs, rhs)
					}
				}
			}
		}
		runtime.GOMAXPROCS(old)
	}
}

// TestCol2imFloat32Exact checks that the float32 col2im3 sums in the row order (bit-for-bit
// equal to accumulating the nine rows one after another into a zeroed output).
func TestCol2imFloat32Exact(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range []int{1, 2, 7, 14} {
		cin, n := 3, 5
		cols := n * s * s
		y := make([]float32, cin*9*cols)
		for i := range y {
			y[i] = float32(r.NormFloat64())
		}
		want := make([]float32, cin*cols)
		for ci := 0; ci < cin; ci++ {
			for k := 0; k < 9; k++ {
				dy, dx := k/3-1, k%3-1
				for b := 0; b < n; b++ {
					for yy := 0; yy < s; yy++ {
						for x := 0; x < s; x++ {
							sy, sx := yy+dy, x+dx
							if sy >= 0 && sy < s && sx >= 0 && sx < s {
								want[(ci*n+b)*s*s+sy*s+sx] += y[(ci*9+k)*cols+(b*s+yy)*s+x]
							}
						}
					}
				}
			}
		}
		out := make([]float32, cin*cols)
		col2im3(y, cin, n, s, out)
		for i := range want {
			if out[i] != want[i] {
				t.Fatalf("s %d: col2im3[%d] = %v, want %v", s, i, out[i], want[i])
			}
		}
	}
}
