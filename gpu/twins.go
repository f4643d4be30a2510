package gpu

import (
	"math"

	"mdsm/internal/philox"
)

// The Go twins of the kernels in kernels.cu: the same function of the same inputs, written
// the way the kernel computes it (per element, double accumulators where the kernel has
// them). The host device (hostOps) runs them, so the whole GPU engine runs and is tested
// on a machine without a GPU; on a GPU, scripts/gpu_check.sh compares the kernels' results
// with the CPU engine's, which the twins are tested against here.
//
// Layout: NCHW float32 everywhere on a device (cuDNN's), unlike nn's channel-major CPU
// engine; "planes" is N*C, "plane" H*W.

// eluTwin is kernel elu: a = z for z > 0, expm1(z) otherwise.
func eluTwin(z, a []float32) {
	for i, v := range z {
		if v > 0 {
			a[i] = v
		} else {
			a[i] = float32(math.Expm1(float64(v)))
		}
	}
}

// eluTangentTwin is kernel elu_tangent: ad = elu'(z) zd, elu'(z) = min(a, 0) + 1.
func eluTangentTwin(a, zd, ad []float32) {
	for i, v := range a {
		ad[i] = (min(v, 0) + 1) * zd[i]
	}
}

// eluBackwardTwin is kernel elu_backward: g *= elu'(z).
func eluBackwardTwin(a, g []float32) {
	for i, v := range a {
		g[i] *= min(v, 0) + 1
	}
}

// eluBackwardSecondTwin is kernel elu_backward_second, the ELU step of the training pass:
// ga = ga elu'(z) + gtA elu”(z) zd, with elu”(z) zd = ad where a's sign bit is set (z <
// 0 or -0) and 0 elsewhere; gtz (when not nil) = gtA elu'(z).
func eluBackwardSecondTwin(a, ga, ad, gtA, gtz []float32) {
	for i, v := range a {
		d := min(v, 0) + 1
		t := float32(0)
		if math.Signbit(float64(v)) {
			t = gtA[i] * ad[i]
		}
		ga[i] = ga[i]*d + t
		if gtz != nil {
			gtz[i] = gtA[i] * d
		}
	}
}

// meanPoolTwin is kernel mean_pool: the 2x2 mean of planes of side s (out side s/2); with
// acc it adds into out.
func meanPoolTwin(in, out []float32, planes, s int, acc bool) {
	h := s / 2
	for p := 0; p < planes; p++ {
		for y := 0; y < h; y++ {
			for x := 0; x < h; x++ {
				i := p*s*s + 2*y*s + 2*x
				v := (in[i] + in[i+1] + in[i+s] + in[i+s+1]) * 0.25
				o := p*h*h + y*h + x
				if acc {
					out[o] += v
				} else {
					out[o] = v
				}
			}
		}
	}
}

// meanUnpoolTwin is kernel mean_unpool, the adjoint of mean_pool: every input pixel gets a
// quarter of its window's adjoint; with acc it adds into out.
func meanUnpoolTwin(gout, out []float32, planes, s int, acc bool) {
	h := s / 2
	for p := 0; p < planes; p++ {
		for y := 0; y < s; y++ {
			for x := 0; x < s; x++ {
				v := gout[p*h*h+(y/2)*h+x/2] * 0.25
				o := p*s*s + y*s + x
				if acc {
					out[o] += v
				} else {
					out[o] = v
				}
			}
		}
	}
}

// addBiasTwin is kernel add_bias: out[b][c][p] += b1[c] (+ b2[c] when b2 is not nil).
func addBiasTwin(out, b1, b2 []float32, n, c, plane int) {
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			v := b1[ch]
			if b2 != nil {
				v += b2[ch]
			}
			o := out[(b*c+ch)*plane : (b*c+ch+1)*plane]
			for i := range o {
				o[i] += v
			}
		}
	}
}

// addTwin is kernel add: dst += src.
func addTwin(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}

// biasGradTwin is kernel bias_grad: gb[c] += the sum of g over images and pixels of
// channel c (double accumulator).
func biasGradTwin(g, gb []float32, n, c, plane int) {
	for ch := 0; ch < c; ch++ {
		s := 0.0
		for b := 0; b < n; b++ {
			for _, v := range g[(b*c+ch)*plane : (b*c+ch+1)*plane] {
				s += float64(v)
			}
		}
		gb[ch] += float32(s)
	}
}

// headEnergyTwin is kernel head_energy: per sample b, u = a.h + b1, w = c.h + b2,
// E = u w + sum_j d_j h_j^2 + b3 (double accumulators), over F features per sample.
func headEnergyTwin(h, a, b1, c, b2, d, b3, u, w, e []float32, n, F int) {
	for b := 0; b < n; b++ {
		hs := h[b*F : (b+1)*F]
		su, sw, sq := float64(b1[0]), float64(b2[0]), 0.0
		for j, v := range hs {
			fv := float64(v)
			su += float64(a[j]) * fv
			sw += float64(c[j]) * fv
			sq += float64(d[j]) * fv * fv
		}
		u[b], w[b] = float32(su), float32(sw)
		e[b] = float32(su*sw + sq + float64(b3[0]))
	}
}

// headInputGradTwin is kernel head_input_grad: g = dE/dh = a w + c u + 2 d h.
func headInputGradTwin(h, a, c, d, u, w, g []float32, n, F int) {
	for b := 0; b < n; b++ {
		for j := 0; j < F; j++ {
			i := b*F + j
			g[i] = a[j]*w[b] + c[j]*u[b] + 2*d[j]*h[i]
		}
	}
}

// headTangentTwin is kernels head_tangent_sums and head_tangent_backward: ud = a.hd,
// wd = c.hd per sample (double), then the primal adjoint gP = a wd + c ud + 2 d hd of
// S = sum_b Edot_b. (Its tangent adjoint a w + c u + 2 d h is dE/dh, which the energy's
// backward pass has kept.)
func headTangentTwin(hd, a, c, d, ud, wd, gP []float32, n, F int) {
	for b := 0; b < n; b++ {
		su, sw := 0.0, 0.0
		for j, v := range hd[b*F : (b+1)*F] {
			su += float64(a[j]) * float64(v)
			sw += float64(c[j]) * float64(v)
		}
		ud[b], wd[b] = float32(su), float32(sw)
	}
	for b := 0; b < n; b++ {
		for j := 0; j < F; j++ {
			i := b*F + j
			gP[i] = a[j]*wd[b] + c[j]*ud[b] + 2*d[j]*hd[i]
		}
	}
}

// headWeightGradTwin is kernel head_weight_grad: the head's weight gradients of
// S = sum_b Edot_b, accumulated (sums over the batch in order, double):
// ga += sum_b hd w + h wd, gc += sum_b ud h + u hd, gd += sum_b 2 h hd,
// gb1 += sum_b wd, gb2 += sum_b ud.
func headWeightGradTwin(h, hd, u, w, ud, wd, ga, gc, gd, gb1, gb2 []float32, n, F int) {
	for j := 0; j < F; j++ {
		sa, sc, sd := 0.0, 0.0, 0.0
		for b := 0; b < n; b++ {
			hv, hdv := float64(h[b*F+j]), float64(hd[b*F+j])
			sa += hdv*float64(w[b]) + hv*float64(wd[b])
			sc += float64(ud[b])*hv + float64(u[b])*hdv
			sd += 2 * hv * hdv
		}
		ga[j] += float32(sa)
		gc[j] += float32(sc)
		gd[j] += float32(sd)
	}
	s1, s2 := 0.0, 0.0
	for b := 0; b < n; b++ {
		s1 += float64(wd[b])
		s2 += float64(ud[b])
	}
	gb1[0] += float32(s1)
	gb2[0] += float32(s2)
}

// perturbTwin is kernel perturb: xn = x + sigma_b noise, per sample b of dim values.
func perturbTwin(x, noise, sig, xn []float32, n, dim int) {
	for b := 0; b < n; b++ {
		for j := 0; j < dim; j++ {
			i := b*dim + j
			xn[i] = x[i] + sig[b]*noise[i]
		}
	}
}

// lossTwin is kernel loss_residual: per sample b, with r = g - sigma_b noise / sigma0^2
// and weight wb = 1/(sigma_b^2 total), v = 2 r wb and part[b] = wb sum r^2 (double);
// then kernel loss_sum adds part into acc[0] in sample order.
func lossTwin(g, noise, sig, v []float32, part []float64, acc *float64, n, dim int, inv0 float64, total int) {
	for b := 0; b < n; b++ {
		s := float64(sig[b])
		wb := 1 / (s * s) / float64(total)
		sum := 0.0
		for j := 0; j < dim; j++ {
			i := b*dim + j
			r := float64(g[i]) - s*float64(noise[i])*inv0
			sum += r * r
			v[i] = float32(2 * r * wb)
		}
		part[b] = sum * wb
	}
	for b := 0; b < n; b++ {
		*acc += part[b]
	}
}

// adamTwin is kernel adam: one Adam update with the bias corrections folded into step and
// eps (core.Adam), skipping indices [skipLo, skipHi) (the energy offset). It returns
// whether a gradient or an updated weight is not finite (the kernel's flag).
func adamTwin(w, g, m, v []float32, b1, b2, step, eps float32, skipLo, skipHi int) (nonFinite bool) {
	for i := range w {
		if i >= skipLo && i < skipHi {
			continue
		}
		gi := g[i]
		mi := b1*m[i] + (1-b1)*gi
		vi := b2*v[i] + (1-b2)*gi*gi
		m[i], v[i] = mi, vi
		w[i] -= step * mi / (float32(math.Sqrt(float64(vi))) + eps)
		if !finite(gi) || !finite(w[i]) {
			nonFinite = true
		}
	}
	return nonFinite
}

func finite(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }

// philoxNormalsTwin is kernel philox_normals: draw d of the counter-based normals.
func philoxNormalsTwin(z []float32, key philox.Key, d uint64) { philox.Normals(key, d, z) }

// isFree reads a free mask (1 or 0 per pixel of one image; nil: every pixel moves).
func isFree(free []float32, i, dim int) bool { return free == nil || free[i%dim] != 0 }

// langevinInputTwin is kernel langevin_input: the network input of step k, x on free
// pixels, truth + clampStd[k] z (draw 2k+1) on clamped ones.
func langevinInputTwin(x, truth, free []float32, clampStd []float64, k int, key philox.Key, in []float32, dim int) {
	s := clampStd[k]
	var z []float32
	if s > 0 {
		z = make([]float32, len(x))
		philox.Normals(key, uint64(2*k+1), z)
	}
	for i := range x {
		switch {
		case free[i%dim] != 0:
			in[i] = x[i]
		case s > 0:
			in[i] = float32(float64(truth[i]) + float64(s*float64(z[i])))
		default:
			in[i] = truth[i]
		}
	}
}

// langevinTraceTwin is kernel langevin_trace: trace[k] = the mean energy, summed in order.
func langevinTraceTwin(e []float32, trace []float64, k int) {
	s := 0.0
	for _, v := range e {
		s += float64(v)
	}
	trace[k] = s / float64(len(e))
}

// langevinUpdateTwin is kernel langevin_update: x <- x - h g + a[k] z (draw 2k+2) on free
// pixels, bad[k] = 1 when a new value is not finite.
func langevinUpdateTwin(x, g, free []float32, a []float64, k int, h float64, key philox.Key, bad []int32, dim int) {
	ak := a[k]
	var z []float32
	if ak > 0 {
		z = make([]float32, len(x))
		philox.Normals(key, uint64(2*k+2), z)
	}
	for i := range x {
		if !isFree(free, i, dim) {
			continue
		}
		v := float64(x[i]) - float64(h*float64(g[i]))
		if ak > 0 {
			v += float64(ak * float64(z[i]))
		}
		x[i] = float32(v)
		if !finite(x[i]) {
			bad[k] = 1
		}
	}
}

// langevinDenoiseTwin is kernel langevin_denoise: out = x - s2 g on free pixels.
func langevinDenoiseTwin(x, g, free []float32, s2 float64, out []float32, dim int) {
	for i := range x {
		if isFree(free, i, dim) {
			out[i] = float32(float64(x[i]) - float64(s2*float64(g[i])))
		} else {
			out[i] = x[i]
		}
	}
}

// addChunksTwin is kernel add_chunks: acc (+)= the active chunks of recv, one by one in
// order; first starts the sum at recv's first chunk.
func addChunksTwin(acc, recv []float32, chunk, active int, first bool) {
	for i := 0; i < chunk; i++ {
		v := recv[i]
		if !first {
			v = acc[i] + recv[i]
		}
		for q := 1; q < active; q++ {
			v += recv[q*chunk+i]
		}
		acc[i] = v
	}
}
