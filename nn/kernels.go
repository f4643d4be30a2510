package nn

import (
	"math"
	"runtime"

	"mdsm/internal/gemm"
	"mdsm/internal/par"
	"mdsm/internal/simd"
	"mdsm/internal/winograd"
)

// The kernels below work on channel-major activations: a tensor of C channels for a batch
// of N images of side S is laid out as [C][N][S][S], so that a convolution over the whole
// batch is one GEMM of the weight matrix with an im2col matrix whose columns run over
// (image, y, x). In float32 that matrix is never written: gemm packs its panels straight
// from the activations (docs/DESIGN.md, decision 7); im2col3 and col2im3 below serve float64.

// parallelFor is par.For: fn over [0, n) on all cores, inline below par.MinWork operations.
func parallelFor(n, work int, fn func(lo, hi int)) { par.For(n, work, fn) }

// im2colBlock is how many floats of one im2col row im2col3 copies before fixing up the
// padding entries, so that the fix-up finds them still in L1.
const im2colBlock = 2048

// im2col3 fills col [(ci*9 + ky*3 + kx)][(b*S + y)*S + x] with in[ci][b][y+ky-1][x+kx-1],
// zero outside the image ("same" padding of a 3x3 kernel).
//
// Row (ci, ky, kx) of col is channel ci's [N][S][S] block shifted by off = dy*S + dx
// (dy = ky-1, dx = kx-1): one contiguous copy, after which the entries whose source lies
// outside the image (a whole image row where y+dy leaves [0,S), one column where x+dx does)
// are zeroed. The work is done a few images at a time so the fix-ups hit L1.
func im2col3[T Float](in []T, cin, n, s int, col []T) {
	plane := s * s
	cols := n * plane
	bp := max(1, im2colBlock/plane) // images per block
	parallelFor(cin*9, cin*9*cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ci, k := r/9, r%9
			dy, dx := k/3-1, k%3-1
			off := dy*s + dx
			src := in[ci*cols : (ci+1)*cols]
			dst := col[r*cols : (r+1)*cols]
			for b0 := 0; b0 < n; b0 += bp {
				b1 := min(b0+bp, n)
				qlo, qhi := b0*plane, b1*plane
				// Copy the in-range part of [qlo, qhi) + off, zero the rest.
				clo, chi := max(qlo, -off), min(qhi, cols-off)
				if clo < chi {
					clear(dst[qlo:clo])
					copy(dst[clo:chi], src[clo+off:chi+off])
					clear(dst[chi:qhi])
				} else {
					clear(dst[qlo:qhi])
				}
				switch dy {
				case -1:
					for b := b0; b < b1; b++ {
						clear(dst[b*plane : b*plane+s])
					}
				case 1:
					for b := b0; b < b1; b++ {
						clear(dst[(b+1)*plane-s : (b+1)*plane])
					}
				}
				switch dx {
				case -1:
					d := dst[qlo:qhi]
					for i := 0; i < len(d); i += s {
						d[i] = 0
					}
				case 1:
					d := dst[qlo:qhi]
					for i := s - 1; i < len(d); i += s {
						d[i] = 0
					}
				}
			}
		}
	})
}

// col2im3 is the adjoint of im2col3: it adds every column entry back to the pixel it was
// read from. out is overwritten, and col, being scratch, is clobbered: its padding
// entries (those im2col3 would have zeroed) are set to zero.
//
// With the padding entries zero, out[p] is the sum over the nine rows k of
// row_k[p - off_k] (over those p - off_k inside the same run of images), in the order
// k = 0..8, which is the order of a row-by-row accumulation into a zeroed out. The sum is
// done in one pass over out, nine rows at a time.
func col2im3[T Float](col []T, cin, n, s int, out []T) {
	plane := s * s
	cols := n * plane
	workers := runtime.GOMAXPROCS(0)
	// Split channels, and the images of a channel when there are few channels.
	nb := 1
	if cin < 2*workers {
		nb = min(n, (2*workers+cin-1)/cin)
	}
	bper := (n + nb - 1) / nb
	nb = (n + bper - 1) / bper
	parallelFor(cin*nb, cin*9*cols, func(lo, hi int) {
		var rows [9][]T
		var offs [9]int
		for it := lo; it < hi; it++ {
			ci, bi := it/nb, it%nb
			b0, b1 := bi*bper, min((bi+1)*bper, n)
			qlo, qhi := b0*plane, b1*plane
			for k := 0; k < 9; k++ {
				dy, dx := k/3-1, k%3-1
				offs[k] = dy*s + dx
				row := col[(ci*9+k)*cols : (ci*9+k+1)*cols]
				rows[k] = row
				// Zero the padding entries of images [b0, b1).
				switch dy {
				case -1:
					for b := b0; b < b1; b++ {
						clear(row[b*plane : b*plane+s])
					}
				case 1:
					for b := b0; b < b1; b++ {
						clear(row[(b+1)*plane-s : (b+1)*plane])
					}
				}
				switch dx {
				case -1:
					d := row[qlo:qhi]
					for i := 0; i < len(d); i += s {
						d[i] = 0
					}
				case 1:
					d := row[qlo:qhi]
					for i := s - 1; i < len(d); i += s {
						d[i] = 0
					}
				}
			}
			o := out[ci*cols : (ci+1)*cols]
			// out[p] reads row_k[p - off_k], with p - off_k restricted to [qlo, qhi).
			// In [mlo, mhi) all nine are in range.
			mlo, mhi := qlo+s+1, qhi-s-1
			if mhi <= mlo {
				mlo, mhi = qhi, qhi
			}
			col2imEdge(&rows, &offs, o, qlo, mlo, qlo, qhi)
			if mlo < mhi {
				m := mhi - mlo
				oo := o[mlo:mhi]
				r0 := rows[0][mlo-offs[0] : mlo-offs[0]+m]
				r1 := rows[1][mlo-offs[1] : mlo-offs[1]+m]
				r2 := rows[2][mlo-offs[2] : mlo-offs[2]+m]
				r3 := rows[3][mlo-offs[3] : mlo-offs[3]+m]
				r4 := rows[4][mlo-offs[4] : mlo-offs[4]+m]
				r5 := rows[5][mlo-offs[5] : mlo-offs[5]+m]
				r6 := rows[6][mlo-offs[6] : mlo-offs[6]+m]
				r7 := rows[7][mlo-offs[7] : mlo-offs[7]+m]
				r8 := rows[8][mlo-offs[8] : mlo-offs[8]+m]
				col2imSum9(oo, r0, r1, r2, r3, r4, r5, r6, r7, r8)
			}
			col2imEdge(&rows, &offs, o, mhi, qhi, qlo, qhi)
		}
	})
}

// col2imSum9 writes o[i] = r0[i] + r1[i] + ... + r8[i], summed left to right.
func col2imSum9[T Float](o, r0, r1, r2, r3, r4, r5, r6, r7, r8 []T) {
	m := len(o)
	r0, r1, r2, r3, r4 = r0[:m], r1[:m], r2[:m], r3[:m], r4[:m]
	r5, r6, r7, r8 = r5[:m], r6[:m], r7[:m], r8[:m]
	for i := range o {
		o[i] = r0[i] + r1[i] + r2[i] + r3[i] + r4[i] + r5[i] + r6[i] + r7[i] + r8[i]
	}
}

// col2imEdge is col2im3's sum for out[p], p in [plo, phi), reading only entries in
// [qlo, qhi) of each row.
func col2imEdge[T Float](rows *[9][]T, offs *[9]int, o []T, plo, phi, qlo, qhi int) {
	for p := plo; p < phi; p++ {
		var sum T
		for k := 0; k < 9; k++ {
			if q := p - offs[k]; q >= qlo && q < qhi {
				sum += rows[k][q]
			}
		}
		o[p] = sum
	}
}

// conv is a 3x3 ("same" padding) or 1x1 convolution with an optional bias.
type conv[T Float] struct {
	w, b      []T // weight [cout][cin*k*k], bias [cout] or nil
	cin, cout int
	k         int             // 3 or 1
	gw, gb    []T             // gradient accumulators, same shapes (nil when not training)
	flip      *flipScratch[T] // the rotated, transposed kernel of backwardData (3x3, float32)
	tile      int             // Winograd output tile of forward and data adjoint (2 or 4; 3x3 only), 0: direct
	tileW     int             // the same for the weight gradient
	wc        *winograd.Conv[T]
}

// flipScratch is the rotated kernel of the direct data adjoints, one buffer shared by a
// model's layers (it is written afresh by every call): size floats, the largest layer's
// kernel, allocated at the first use.
type flipScratch[T Float] struct {
	buf  []T
	size int
}

// get returns n floats of the buffer.
func (f *flipScratch[T]) get(n int) []T {
	if len(f.buf) < n {
		f.buf = make([]T, max(n, f.size))
	}
	return f.buf[:n]
}

// forward computes out = w * in (+ bias). col is scratch of at least cin*k*k*n*s*s.
//
// In float32 a 3x3 convolution packs its im2col matrix straight from in
// (gemm.SgemmConv3); float64, used by the gradient tests, writes it out with im2col3 and
// so checks the implicit path.
func (c *conv[T]) forward(in []T, n, s int, out, col []T, withBias bool) {
	cols := n * s * s
	kk := c.cin * c.k * c.k
	if c.tile != 0 {
		var bias []T
		if withBias {
			bias = c.b
		}
		c.wc.Forward(c.tile, c.w, c.cout, c.cin, false, in, n, s, bias, out)
		return
	}
	if c.k == 3 {
		if conv3(c.cout, c.w, kk, in, c.cin, n, s, out) {
			c.addBias(out, cols, withBias)
			return
		}
		im2col3(in, c.cin, n, s, col)
		gemm.Gemm(false, false, c.cout, cols, kk, 1, c.w, kk, col, cols, 0, out, cols)
		c.addBias(out, cols, withBias)
		return
	}
	gemm.Gemm(false, false, c.cout, cols, kk, 1, c.w, kk, in, cols, 0, out, cols)
	c.addBias(out, cols, withBias)
}

// isFloat32 reports whether T is float32 (the implicit-im2col paths).
func isFloat32[T Float](x []T) bool { _, ok := any(x).([]float32); return ok }

// conv3 computes out = w * im2col3(in) with the implicit im2col of gemm.SgemmConv3 when T is
// float32 and reports whether it did.
func conv3[T Float](m int, w []T, ldw int, in []T, ch, n, s int, out []T) bool {
	w32, ok := any(w).([]float32)
	if !ok {
		return false
	}
	gemm.SgemmConv3(m, 1, w32, ldw, any(in).([]float32), ch, n, s, 0, any(out).([]float32), n*s*s)
	return true
}

// addBias adds the bias of every output channel to its plane when withBias is set.
func (c *conv[T]) addBias(out []T, cols int, withBias bool) {
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
//
// For a 3x3 "same" convolution the adjoint is itself a 3x3 "same" convolution of gout,
// with input and output channels swapped and the kernel rotated by 180 degrees
// (wflip[ci][co*9+k] = w[co][ci*9+8-k]); in float32 it runs as one (gemm.SgemmConv3), which
// replaces the GEMM into a (cin*9) x (n*s*s) matrix and the col2im pass that sums it back.
func (c *conv[T]) backwardData(gout []T, n, s int, gin, col []T) {
	cols := n * s * s
	kk := c.cin * c.k * c.k
	if c.k == 1 {
		gemm.Gemm(true, false, kk, cols, c.cout, 1, c.w, kk, gout, cols, 0, gin, cols)
		return
	}
	if c.tile != 0 {
		c.wc.Forward(c.tile, c.w, c.cin, c.cout, true, gout, n, s, nil, gin)
		return
	}
	if isFloat32(c.w) {
		wflip := c.flip.get(len(c.w))
		for co := 0; co < c.cout; co++ {
			for ci := 0; ci < c.cin; ci++ {
				src := c.w[co*kk+ci*9 : co*kk+ci*9+9]
				dst := wflip[ci*c.cout*9+co*9 : ci*c.cout*9+co*9+9]
				for k := range 9 {
					dst[k] = src[8-k]
				}
			}
		}
		conv3(c.cin, wflip, c.cout*9, gout, c.cout, n, s, gin)
		return
	}
	gemm.Gemm(true, false, kk, cols, c.cout, 1, c.w, kk, gout, cols, 0, col, cols)
	col2im3(col, c.cin, n, s, gin)
}

// backwardWeights accumulates the weight gradient of the training pass's primal and
// tangent products, gw += gout * in^T + goutT * inT^T (inT, goutT nil: the primal alone),
// and gb += the row sums of gout (the tangent pass has no bias). col is scratch.
//
// In float32 a direct 3x3 convolution packs its im2col rows straight from in
// (gemm.SgemmConv3W); a Winograd one sums both products before its weight transform.
func (c *conv[T]) backwardWeights(in, gout, inT, goutT []T, n, s int, col []T) {
	cols := n * s * s
	kk := c.cin * c.k * c.k
	terms := [][2][]T{{gout, in}, {goutT, inT}}
	if inT == nil {
		terms = terms[:1]
	}
	switch {
	case c.tileW != 0:
		var wt [2]winograd.GradTerm[T]
		for i, t := range terms {
			wt[i] = winograd.GradTerm[T]{Gout: t[0], In: t[1]}
		}
		c.wc.WeightGrad(c.tileW, c.cout, c.cin, n, s, c.gw, wt[:len(terms)]...)
	case c.k != 3:
		for _, t := range terms {
			gemm.Gemm(false, true, c.cout, kk, cols, 1, t[0], cols, t[1], cols, 1, c.gw, kk)
		}
	case isFloat32(in):
		for _, t := range terms {
			gemm.SgemmConv3W(c.cout, 1, any(t[0]).([]float32), any(t[1]).([]float32), c.cin, n, s, any(c.gw).([]float32), kk)
		}
	default:
		for _, t := range terms {
			im2col3(t[1], c.cin, n, s, col)
			gemm.Gemm(false, true, c.cout, kk, cols, 1, t[0], cols, col, cols, 1, c.gw, kk)
		}
	}
	if c.gb != nil {
		for co := 0; co < c.cout; co++ {
			var sum T
			for _, v := range gout[co*cols : (co+1)*cols] {
				sum += v
			}
			c.gb[co] += sum
		}
	}
}

// elu writes a = elu(z) = z for z > 0, exp(z)-1 otherwise. float32 runs simd.ELU (within
// 2 ulp of the rounded exact value, vectorised), float64 math.Expm1.
func elu[T Float](z, a []T) {
	if z32, ok := any(z).([]float32); ok {
		// Split at multiples of 8: the vector kernel and the scalar tail may round an
		// element differently, so every element must take the same path whatever the
		// thread count (TestThreadCountIndependence).
		a32 := any(a).([]float32)
		groups := (len(z) + 7) / 8
		parallelFor(groups, 8*len(z), func(lo, hi int) {
			lo, hi = 8*lo, min(8*hi, len(z32))
			simd.ELU(a32[lo:hi], z32[lo:hi])
		})
		return
	}
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

// The loops below are branch-free: elu'(z) = min(a,0)+1 (a = elu(z)), and a branch on the
// sign of a, which is random, mispredicts half the time (measured: 4 ns per element).

// eluTangent writes adot = elu'(z) * zdot.
func eluTangent[T Float](a, zdot, adot []T) {
	parallelFor(len(a), 2*len(a), func(lo, hi int) {
		a, zdot, adot := a[lo:hi], zdot[lo:hi], adot[lo:hi]
		zdot, adot = zdot[:len(a)], adot[:len(a)]
		for i, v := range a {
			adot[i] = (min(v, 0) + 1) * zdot[i]
		}
	})
}

// eluBackward turns the output adjoints ga into input adjoints, in place:
// ga *= elu'(z).
func eluBackward[T Float](a, ga []T) {
	parallelFor(len(a), 2*len(a), func(lo, hi int) {
		a, ga := a[lo:hi], ga[lo:hi]
		ga = ga[:len(a)]
		for i, v := range a {
			ga[i] *= min(v, 0) + 1
		}
	})
}

// eluBackwardSecond is the ELU step of the training pass (backwardTrain). ga, the primal
// adjoint dS/da, becomes dS/dz in place: ga elu'(z) + gtA elu”(z) zdot, where gtA is the
// tangent adjoint dS/d(adot) (= dE/da) and elu”(z) zdot = adot for z <= 0, 0 elsewhere.
// If gtz is not nil it receives the tangent adjoint at z, gtA elu'(z).
func eluBackwardSecond[T Float](a, ga, adot, gtA, gtz []T) {
	a32, ok := any(a).([]float32)
	if !ok {
		eluBackwardSecondRef(a, ga, adot, gtA, gtz)
		return
	}
	ga32, adot32, gtA32 := any(ga).([]float32), any(adot).([]float32), any(gtA).([]float32)
	gtz32, _ := any(gtz).([]float32)
	parallelFor(len(a), 4*len(a), func(lo, hi int) {
		a, ga, adot, gtA := a32[lo:hi], ga32[lo:hi], adot32[lo:hi], gtA32[lo:hi]
		ga, adot, gtA = ga[:len(a)], adot[:len(a)], gtA[:len(a)]
		var gtz []float32
		if gtz32 != nil {
			gtz = gtz32[lo:hi]
			gtz = gtz[:len(a)]
		}
		for i, v := range a {
			// neg is all ones where a has its sign bit set (z < 0, or z = -0), else 0.
			neg := uint32(int32(math.Float32bits(v)) >> 31)
			d := min(v, 0) + 1
			t := math.Float32frombits(math.Float32bits(gtA[i]*adot[i]) & neg)
			ga[i] = ga[i]*d + t
			if gtz != nil {
				gtz[i] = gtA[i] * d
			}
		}
	})
}

// eluBackwardSecondRef is eluBackwardSecond for float64 (the gradient tests).
func eluBackwardSecondRef[T Float](a, ga, adot, gtA, gtz []T) {
	for i, v := range a {
		d := min(v, 0) + 1
		if v <= 0 {
			ga[i] = ga[i]*d + gtA[i]*adot[i]
		}
		if gtz != nil {
			gtz[i] = gtA[i] * d
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
			src := gout[p*h*h : (p+1)*h*h]
			dst := out[p*s*s : (p+1)*s*s]
			for y := 0; y < s; y++ {
				row := dst[y*s : (y+1)*s]
				g := src[(y/2)*h : (y/2+1)*h]
				row = row[:2*len(g)]
				if accumulate {
					for x, v := range g {
						v *= 0.25
						row[2*x] += v
						row[2*x+1] += v
					}
				} else {
					for x, v := range g {
						v *= 0.25
						row[2*x] = v
						row[2*x+1] = v
					}
				}
			}
		}
	})
}

// addInto computes dst += src.
func addInto[T Float](dst, src []T) {
	parallelFor(len(src), len(src), func(lo, hi int) {
		src, dst := src[lo:hi], dst[lo:hi]
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] += v
		}
	})
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
