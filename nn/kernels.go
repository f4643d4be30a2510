package nn

import (
	"math"
	"runtime"
	"sync"

	"mdsm/internal/gemm"
)

// The kernels below work on channel-major activations: a tensor of C channels for a batch
// of N images of side S is laid out as [C][N][S][S], so that a convolution over the whole
// batch is one GEMM of the weight matrix with an im2col matrix whose columns run over
// (image, y, x).

// parallelFor runs fn over [0, n) split into contiguous chunks, one per worker. Small jobs
// (work = estimated scalar operations) run inline: a goroutine costs more than they do.
func parallelFor(n, work int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 || work < 1<<15 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() { defer wg.Done(); fn(lo, hi) }()
	}
	wg.Wait()
}

// im2col3 fills col [(ci*9 + ky*3 + kx)][(b*S + y)*S + x] with in[ci][b][y+ky-1][x+kx-1],
// zero outside the image ("same" padding of a 3x3 kernel).
func im2col3[T Float](in []T, cin, n, s int, col []T) {
	plane := s * s
	cols := n * plane
	parallelFor(cin, cin*9*cols, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			for ky := 0; ky < 3; ky++ {
				for kx := 0; kx < 3; kx++ {
					row := col[((ci*9)+ky*3+kx)*cols : ((ci*9)+ky*3+kx+1)*cols]
					dx := kx - 1
					for b := 0; b < n; b++ {
						src := in[(ci*n+b)*plane : (ci*n+b+1)*plane]
						dst := row[b*plane : (b+1)*plane]
						for y := 0; y < s; y++ {
							d := dst[y*s : (y+1)*s]
							sy := y + ky - 1
							if sy < 0 || sy >= s {
								clear(d)
								continue
							}
							sr := src[sy*s : (sy+1)*s]
							switch dx {
							case -1:
								d[0] = 0
								copy(d[1:], sr[:s-1])
							case 0:
								copy(d, sr)
							case 1:
								copy(d[:s-1], sr[1:])
								d[s-1] = 0
							}
						}
					}
				}
			}
		}
	})
}

// col2im3 is the adjoint of im2col3: it adds every column entry back to the pixel it was
// read from. out is overwritten.
func col2im3[T Float](col []T, cin, n, s int, out []T) {
	plane := s * s
	cols := n * plane
	parallelFor(cin, cin*9*cols, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			o := out[ci*n*plane : (ci+1)*n*plane]
			clear(o)
			for ky := 0; ky < 3; ky++ {
				for kx := 0; kx < 3; kx++ {
					row := col[((ci*9)+ky*3+kx)*cols : ((ci*9)+ky*3+kx+1)*cols]
					dx := kx - 1
					for b := 0; b < n; b++ {
						src := row[b*plane : (b+1)*plane]
						dst := o[b*plane : (b+1)*plane]
						for y := 0; y < s; y++ {
							sy := y + ky - 1
							if sy < 0 || sy >= s {
								continue
							}
							d := dst[sy*s : (sy+1)*s]
							sr := src[y*s : (y+1)*s]
							switch dx {
							case -1:
								for x := 1; x < s; x++ {
									d[x-1] += sr[x]
								}
							case 0:
								for x := 0; x < s; x++ {
									d[x] += sr[x]
								}
							case 1:
								for x := 0; x < s-1; x++ {
									d[x+1] += sr[x]
								}
							}
						}
					}
				}
			}
		}
	})
}

// conv is a 3x3 ("same" padding) or 1x1 convolution with an optional bias.
type conv[T Float] struct {
	w, b      []T // weight [cout][cin*k*k], bias [cout] or nil
	cin, cout int
	k         int // 3 or 1
	gw, gb    []T // gradient accumulators, same shapes (nil when not training)
}

// forward computes out = w * in (+ bias). col is scratch of at least cin*k*k*n*s*s.
func (c *conv[T]) forward(in []T, n, s int, out, col []T, withBias bool) {
	cols := n * s * s
	src := in
	if c.k == 3 {
		im2col3(in, c.cin, n, s, col)
		src = col
	}
	kk := c.cin * c.k * c.k
	gemm.Gemm(false, false, c.cout, cols, kk, 1, c.w, kk, src, cols, 0, out, cols)
	if withBias && c.b != nil {
		for co := 0; co < c.cout; co++ {
			bv := c.b[co]
			o := out[co*cols : (co+1)*cols]
			for i := range o {
				o[i] += bv
			}
		}
	}
}

// backwardData computes gin = w^T * gout (the input adjoint). col is scratch.
func (c *conv[T]) backwardData(gout []T, n, s int, gin, col []T) {
	cols := n * s * s
	kk := c.cin * c.k * c.k
	if c.k == 1 {
		gemm.Gemm(true, false, kk, cols, c.cout, 1, c.w, kk, gout, cols, 0, gin, cols)
		return
	}
	gemm.Gemm(true, false, kk, cols, c.cout, 1, c.w, kk, gout, cols, 0, col, cols)
	col2im3(col, c.cin, n, s, gin)
}

// backwardWeights accumulates gw += gout * in^T (and gb += row sums of gout when
// withBias). col is scratch.
func (c *conv[T]) backwardWeights(in, gout []T, n, s int, col []T, withBias bool) {
	cols := n * s * s
	kk := c.cin * c.k * c.k
	src := in
	if c.k == 3 {
		im2col3(in, c.cin, n, s, col)
		src = col
	}
	gemm.Gemm(false, true, c.cout, kk, cols, 1, gout, cols, src, cols, 1, c.gw, kk)
	if withBias && c.gb != nil {
		for co := 0; co < c.cout; co++ {
			var sum T
			for _, v := range gout[co*cols : (co+1)*cols] {
				sum += v
			}
			c.gb[co] += sum
		}
	}
}

// elu writes a = elu(z) = z for z > 0, exp(z)-1 otherwise.
func elu[T Float](z, a []T) {
	parallelFor(len(z), 8*len(z), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if v := z[i]; v > 0 {
				a[i] = v
			} else {
				a[i] = T(math.Expm1(float64(v)))
			}
		}
	})
}

// The ELU derivatives are recovered from the output a = elu(z) alone, since a > 0 exactly
// when z > 0: elu'(z) = 1 or a+1, elu''(z) = 0 or a+1. So only outputs are stored.

// eluTangent writes adot = elu'(z) * zdot.
func eluTangent[T Float](a, zdot, adot []T) {
	for i, v := range a {
		if v > 0 {
			adot[i] = zdot[i]
		} else {
			adot[i] = (v + 1) * zdot[i]
		}
	}
}

// eluBackward turns output adjoints into input adjoints. With a tangent (adot != nil) it
// also propagates the tangent adjoint gta: the primal adjoint picks up
// gta * elu”(z) * zdot, and elu”(z) zdot = adot where z <= 0 and 0 elsewhere.
// ga and gta are overwritten in place with the input adjoints.
func eluBackward[T Float](a, ga, adot, gta []T) {
	if adot == nil {
		for i, v := range a {
			if v <= 0 {
				ga[i] *= v + 1
			}
		}
		return
	}
	for i, v := range a {
		if v <= 0 {
			d := v + 1
			ga[i] = ga[i]*d + gta[i]*adot[i]
			gta[i] *= d
		}
	}
}

// meanPool writes the 2x2 mean pool of planes of side s (out side s/2). planes = C*N.
func meanPool[T Float](in []T, planes, s int, out []T) {
	h := s / 2
	parallelFor(planes, planes*s*s, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src := in[p*s*s:]
			dst := out[p*h*h:]
			for y := 0; y < h; y++ {
				r0 := src[2*y*s:]
				r1 := src[(2*y+1)*s:]
				for x := 0; x < h; x++ {
					dst[y*h+x] = (r0[2*x] + r0[2*x+1] + r1[2*x] + r1[2*x+1]) * 0.25
				}
			}
		}
	})
}

// meanUnpool is the adjoint of meanPool: each input pixel receives a quarter of its
// window's output adjoint. If accumulate, it adds into out instead of overwriting.
func meanUnpool[T Float](gout []T, planes, s int, out []T, accumulate bool) {
	h := s / 2
	parallelFor(planes, planes*s*s, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src := gout[p*h*h:]
			dst := out[p*s*s:]
			for y := 0; y < s; y++ {
				row := dst[y*s : (y+1)*s]
				g := src[(y/2)*h:]
				if accumulate {
					for x := range row {
						row[x] += g[x/2] * 0.25
					}
				} else {
					for x := range row {
						row[x] = g[x/2] * 0.25
					}
				}
			}
		}
	})
}

// addInto computes dst += src.
func addInto[T Float](dst, src []T) {
	for i, v := range src {
		dst[i] += v
	}
}

// toChannelMajor copies NCHW images into [C][N][plane] order.
func toChannelMajor[T Float](x []T, n, c, plane int, out []T) {
	if c == 1 {
		copy(out, x[:n*plane])
		return
	}
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			copy(out[(ch*n+b)*plane:(ch*n+b+1)*plane], x[(b*c+ch)*plane:(b*c+ch+1)*plane])
		}
	}
}

// fromChannelMajor is the inverse of toChannelMajor.
func fromChannelMajor[T Float](in []T, n, c, plane int, x []T) {
	if c == 1 {
		copy(x, in[:n*plane])
		return
	}
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			copy(x[(b*c+ch)*plane:(b*c+ch+1)*plane], in[(ch*n+b)*plane:(ch*n+b+1)*plane])
		}
	}
}
