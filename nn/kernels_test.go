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

// TestExpm1f compares expm1f with math.Expm1 rounded to float32 over a sweep of the
// negative float32s (every 61st bit pattern) plus small and special values: at most 1 ulp
// apart, and equal in all but a tiny fraction of cases.
func TestExpm1f(t *testing.T) {
	var n, diff int
	check := func(x float32) {
		got := expm1f(x)
		want := float32(math.Expm1(float64(x)))
		n++
		if got != want {
			diff++
			gb, wb := math.Float32bits(got), math.Float32bits(want)
			if gb+1 != wb && wb+1 != gb {
				t.Fatalf("expm1f(%v) = %v, want %v", x, got, want)
			}
		}
	}
	for b := uint32(0x80000000); b < 0xff800000; b += 61 {
		check(math.Float32frombits(b))
	}
	for _, x := range []float32{0, -0, 1e-30, -1e-30, 0.35, -0.35, 0.3500001, -0.3500001, -1, -17, -88, -100, -101, -1e30, 1, 10, 88} {
		check(x)
	}
	if got := expm1f(float32(math.Inf(-1))); got != -1 {
		t.Fatalf("expm1f(-Inf) = %v", got)
	}
	if diff*100000 > n {
		t.Fatalf("expm1f differs from math.Expm1 in %d of %d cases", diff, n)
	}
	t.Logf("%d of %d differ by 1 ulp", diff, n)
}

func BenchmarkExpm1f(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i) / 512
	}
	var s float32
	for i := 0; i < b.N; i++ {
		for _, v := range x {
			s += expm1f(v)
		}
	}
	_ = s
}

func BenchmarkExpm1Float64(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i) / 512
	}
	var s float32
	for i := 0; i < b.N; i++ {
		for _, v := range x {
			s += float32(math.Expm1(float64(v)))
		}
	}
	_ = s
}
