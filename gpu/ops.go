package gpu

import (
	"errors"
	"math"
	"unsafe"
)

// Buf is float32 memory of a device: a device pointer on a GPU, a host slice on the host
// device. N counts float32 values.
type Buf struct {
	P uint64
	H []float32
	N int
}

// At is the part of b from float offset off, n values long.
func (b Buf) At(off, n int) Buf {
	if off < 0 || n < 0 || off+n > b.N {
		panic("gpu: buffer slice out of range")
	}
	r := Buf{N: n}
	if b.H != nil {
		r.H = b.H[off : off+n : off+n]
	} else {
		r.P = b.P + uint64(4*off)
	}
	return r
}

// isNil reports an absent optional buffer.
func (b Buf) isNil() bool { return b.H == nil && b.P == 0 }

// f64 views a host buffer of 2n floats as n doubles (the loss partials).
func (b Buf) f64() []float64 {
	return unsafe.Slice((*float64)(unsafe.Pointer(&b.H[0])), b.N/2)
}

// convOp is one convolution shape's three passes; beta 1 accumulates into the output.
type convOp interface {
	forward(x, w, y Buf, beta float32)
	backwardData(w, dy, dx Buf, beta float32)
	backwardFilter(x, dy, dw Buf, beta float32)
}

// device is what the engine needs of a GPU: memory, cuDNN convolutions and the kernels of
// kernels.cu. Calls enqueue work in order; the first failure is kept and reported by err
// (the engine checks it where results cross to the host). Calls other than close run
// inside do.
type device interface {
	do(f func() error) error
	alloc(n int) (Buf, error)
	free(b Buf)
	upload(dst Buf, src []float32)
	download(dst []float32, src Buf) // waits for the device
	fill(dst Buf, v float32)
	copyBuf(dst, src Buf)
	conv(n, cin, cout, s, k int) (convOp, error)
	err() error
	close() error

	elu(z, a Buf)
	eluTangent(a, zd, ad Buf)
	eluBackward(a, g Buf)
	eluBackwardSecond(a, ga, ad, gtA, gtz Buf)
	meanPool(in, out Buf, planes, s int, acc bool)
	meanUnpool(gout, out Buf, planes, s int, acc bool)
	addBias(out, b1, b2 Buf, n, c, plane int)
	add(dst, src Buf)
	biasGrad(g, gb Buf, n, c, plane int)
	headEnergy(h, a, b1, c, b2, d, b3, u, w, e Buf, n, F int)
	headInputGrad(h, a, c, d, u, w, g Buf, n, F int)
	headTangent(hd, a, c, d, ud, wd, gP Buf, n, F int)
	headWeightGrad(h, hd, u, w, ud, wd, ga, gc, gd, gb1, gb2 Buf, n, F int)
	perturb(x, noise, sig, xn Buf, n, dim int)
	loss(g, noise, sig, v, part, acc Buf, n, dim int, inv0 float64, total int)
	adam(w, g, m, v Buf, b1, b2, step, eps float32, skipLo, skipHi int, flag Buf)
}

// hostOps is the device made of host memory and the Go twins: the engine's code path,
// runnable and testable without a GPU.
type hostOps struct{ closed bool }

func (h *hostOps) do(f func() error) error {
	if h.closed {
		return errors.New("host device is closed")
	}
	return f()
}
func (h *hostOps) alloc(n int) (Buf, error)      { return Buf{H: make([]float32, n), N: n}, nil }
func (h *hostOps) free(Buf)                      {}
func (h *hostOps) upload(dst Buf, src []float32) { copy(dst.H, src) }
func (h *hostOps) download(dst []float32, s Buf) { copy(dst, s.H) }
func (h *hostOps) copyBuf(dst, src Buf)          { copy(dst.H, src.H) }
func (h *hostOps) err() error                    { return nil }
func (h *hostOps) close() error                  { h.closed = true; return nil }
func (h *hostOps) fill(dst Buf, v float32) {
	for i := range dst.H {
		dst.H[i] = v
	}
}
func (h *hostOps) conv(n, cin, cout, s, k int) (convOp, error) {
	return hostConv{n: n, cin: cin, cout: cout, s: s, k: k}, nil
}

func (h *hostOps) elu(z, a Buf)             { eluTwin(z.H, a.H) }
func (h *hostOps) eluTangent(a, zd, ad Buf) { eluTangentTwin(a.H, zd.H, ad.H) }
func (h *hostOps) eluBackward(a, g Buf)     { eluBackwardTwin(a.H, g.H) }
func (h *hostOps) eluBackwardSecond(a, ga, ad, gtA, gtz Buf) {
	eluBackwardSecondTwin(a.H, ga.H, ad.H, gtA.H, gtz.H)
}
func (h *hostOps) meanPool(in, out Buf, planes, s int, acc bool) {
	meanPoolTwin(in.H, out.H, planes, s, acc)
}
func (h *hostOps) meanUnpool(g, out Buf, planes, s int, acc bool) {
	meanUnpoolTwin(g.H, out.H, planes, s, acc)
}
func (h *hostOps) addBias(out, b1, b2 Buf, n, c, plane int) {
	addBiasTwin(out.H, b1.H, b2.H, n, c, plane)
}
func (h *hostOps) add(dst, src Buf)                    { addTwin(dst.H, src.H) }
func (h *hostOps) biasGrad(g, gb Buf, n, c, plane int) { biasGradTwin(g.H, gb.H, n, c, plane) }
func (h *hostOps) headEnergy(hh, a, b1, c, b2, d, b3, u, w, e Buf, n, F int) {
	headEnergyTwin(hh.H, a.H, b1.H, c.H, b2.H, d.H, b3.H, u.H, w.H, e.H, n, F)
}
func (h *hostOps) headInputGrad(hh, a, c, d, u, w, g Buf, n, F int) {
	headInputGradTwin(hh.H, a.H, c.H, d.H, u.H, w.H, g.H, n, F)
}
func (h *hostOps) headTangent(hd, a, c, d, ud, wd, gP Buf, n, F int) {
	headTangentTwin(hd.H, a.H, c.H, d.H, ud.H, wd.H, gP.H, n, F)
}
func (h *hostOps) headWeightGrad(hh, hd, u, w, ud, wd, ga, gc, gd, gb1, gb2 Buf, n, F int) {
	headWeightGradTwin(hh.H, hd.H, u.H, w.H, ud.H, wd.H, ga.H, gc.H, gd.H, gb1.H, gb2.H, n, F)
}
func (h *hostOps) perturb(x, noise, sig, xn Buf, n, dim int) {
	perturbTwin(x.H, noise.H, sig.H, xn.H, n, dim)
}
func (h *hostOps) loss(g, noise, sig, v, part, acc Buf, n, dim int, inv0 float64, total int) {
	lossTwin(g.H, noise.H, sig.H, v.H, part.f64(), &acc.f64()[0], n, dim, inv0, total)
}
func (h *hostOps) adam(w, g, m, v Buf, b1, b2, step, eps float32, skipLo, skipHi int, flag Buf) {
	if adamTwin(w.H, g.H, m.H, v.H, b1, b2, step, eps, skipLo, skipHi) {
		flag.H[0] = math.Float32frombits(1)
	}
}

// hostConv is a direct NCHW convolution ("same" padding), the host device's stand-in for
// cuDNN, in float64 accumulators.
type hostConv struct{ n, cin, cout, s, k int }

func (c hostConv) each(f func(b, o, i, y, x, sy, sx, wi int)) {
	p := c.k / 2
	for b := 0; b < c.n; b++ {
		for o := 0; o < c.cout; o++ {
			for i := 0; i < c.cin; i++ {
				for ky := 0; ky < c.k; ky++ {
					for kx := 0; kx < c.k; kx++ {
						wi := ((o*c.cin+i)*c.k+ky)*c.k + kx
						for y := 0; y < c.s; y++ {
							sy := y + ky - p
							if sy < 0 || sy >= c.s {
								continue
							}
							for x := 0; x < c.s; x++ {
								sx := x + kx - p
								if sx < 0 || sx >= c.s {
									continue
								}
								f(b, o, i, y, x, sy, sx, wi)
							}
						}
					}
				}
			}
		}
	}
}

// scale is out *= beta, except that beta 0 overwrites (a NaN in out does not survive),
// as cuDNN's beta does.
func scale(out []float32, beta float32) {
	if beta == 0 {
		clear(out)
		return
	}
	for i := range out {
		out[i] *= beta
	}
}

func (c hostConv) forward(x, w, y Buf, beta float32) {
	acc := make([]float64, c.n*c.cout*c.s*c.s)
	c.each(func(b, o, i, yy, xx, sy, sx, wi int) {
		acc[((b*c.cout+o)*c.s+yy)*c.s+xx] += float64(w.H[wi]) * float64(x.H[((b*c.cin+i)*c.s+sy)*c.s+sx])
	})
	scale(y.H, beta)
	for j, v := range acc {
		y.H[j] += float32(v)
	}
}

func (c hostConv) backwardData(w, dy, dx Buf, beta float32) {
	acc := make([]float64, c.n*c.cin*c.s*c.s)
	c.each(func(b, o, i, yy, xx, sy, sx, wi int) {
		acc[((b*c.cin+i)*c.s+sy)*c.s+sx] += float64(w.H[wi]) * float64(dy.H[((b*c.cout+o)*c.s+yy)*c.s+xx])
	})
	scale(dx.H, beta)
	for j, v := range acc {
		dx.H[j] += float32(v)
	}
}

func (c hostConv) backwardFilter(x, dy, dw Buf, beta float32) {
	acc := make([]float64, c.cout*c.cin*c.k*c.k)
	c.each(func(b, o, i, yy, xx, sy, sx, wi int) {
		acc[wi] += float64(dy.H[((b*c.cout+o)*c.s+yy)*c.s+xx]) * float64(x.H[((b*c.cin+i)*c.s+sy)*c.s+sx])
	})
	scale(dw.H, beta)
	for j, v := range acc {
		dw.H[j] += float32(v)
	}
}
