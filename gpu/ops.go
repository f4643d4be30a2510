package gpu

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"mdsm/dist"
	"mdsm/internal/philox"
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

// i32s views a host buffer as int32s (flags, counters).
func (b Buf) i32s() []int32 { return unsafe.Slice((*int32)(unsafe.Pointer(&b.H[0])), b.N) }

// i32 reads int32 number i of a host buffer.
func (b Buf) i32(i int) int { return int(b.i32s()[i]) }

// f64sAsF32 views doubles as the float pairs a buffer of doubles holds, for upload and
// download.
func f64sAsF32(v []float64) []float32 {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&v[0])), 2*len(v))
}

// i32sAsF32 views int32s as floats, for upload and download.
func i32sAsF32(v []int32) []float32 {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&v[0])), len(v))
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
//
// Buffers of doubles (f64) hold two floats per value; buffers of int32 (the Langevin step
// counter, divergence flags) one float's bits per value.
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
	// capture records the work f enqueues (nothing runs) into a graph that replays it
	// with the arguments it had (a CUDA graph). Uploads and downloads may not be
	// captured.
	capture(f func() error) (graph, error)
	// epoch changes whenever memory captured work may refer to is replaced (the
	// convolutions' shared workspace): graphs captured before are stale.
	epoch() int
	// graphsOn says whether steps are captured and replayed as graphs (GraphsEnv);
	// noteGraphs records why a capture failed (GraphsNote).
	graphsOn() bool
	noteGraphs(err error)
	// collective opens the device's collectives among the ranks of comm (data-parallel
	// training); it runs inside do.
	collective(comm dist.Comm, l dist.Launch) (collective, error)

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

	philoxNormals(z Buf, key philox.Key, d uint64)
	langevinInput(x, truth, free, clampStd, step Buf, key philox.Key, in Buf, dim int)
	langevinTrace(e, trace, step Buf, n int)
	langevinUpdate(x, g, free, a, step Buf, h float64, key philox.Key, bad Buf, dim int)
	stepAdvance(step Buf)
	langevinDenoise(x, g, free Buf, s2 float64, out Buf, dim int)
	addChunks(acc, recv Buf, chunk, active int, first bool)
}

// graph is captured device work (device.capture).
type graph interface {
	launch() error
	destroy()
}

// hostOps is the device made of host memory and the Go twins: the engine's code path,
// runnable and testable without a GPU. Its capture records each operation with its
// arguments, as a CUDA graph does, and replays them in order: work that depends on a
// value passed at capture time rather than read from device memory shows up in the
// twin tests as a wrong replay, as it would on a GPU.
type hostOps struct {
	closed  bool
	graphs  bool      // capture and replay steps (the tests' switch)
	note    error     // the first failed capture
	replays int       // graph launches (the tests count them)
	rec     *[]func() // capturing: the operations so far
	capErr  error     // capturing: a copy was enqueued (not capturable)
}

// run executes op, or records it while capturing.
func (h *hostOps) run(op func()) {
	if h.rec != nil {
		*h.rec = append(*h.rec, op)
		return
	}
	op()
}

func (h *hostOps) do(f func() error) error {
	if h.closed {
		return errors.New("host device is closed")
	}
	return f()
}
func (h *hostOps) alloc(n int) (Buf, error) { return Buf{H: make([]float32, n), N: n}, nil }
func (h *hostOps) free(Buf)                 {}
func (h *hostOps) upload(dst Buf, src []float32) {
	h.noCapture("an upload")
	copy(dst.H, src)
}
func (h *hostOps) download(dst []float32, s Buf) {
	h.noCapture("a download")
	copy(dst, s.H)
}
func (h *hostOps) noCapture(what string) {
	if h.rec != nil && h.capErr == nil {
		h.capErr = fmt.Errorf("%s was enqueued while capturing a graph", what)
	}
}
func (h *hostOps) copyBuf(dst, src Buf) { h.run(func() { copy(dst.H, src.H) }) }
func (h *hostOps) err() error           { return nil }
func (h *hostOps) close() error         { h.closed = true; return nil }
func (h *hostOps) epoch() int           { return 0 }
func (h *hostOps) graphsOn() bool       { return h.graphs }
func (h *hostOps) graphFailure() error  { return h.note }
func (h *hostOps) noteGraphs(err error) {
	if h.note == nil {
		h.note = err
	}
}
func (h *hostOps) fill(dst Buf, v float32) {
	h.run(func() {
		for i := range dst.H {
			dst.H[i] = v
		}
	})
}
func (h *hostOps) conv(n, cin, cout, s, k int) (convOp, error) {
	return hostConv{h: h, n: n, cin: cin, cout: cout, s: s, k: k}, nil
}

func (h *hostOps) capture(f func() error) (graph, error) {
	if h.rec != nil {
		return nil, errors.New("host device: capture inside a capture")
	}
	var ops []func()
	h.rec, h.capErr = &ops, nil
	err := f()
	h.rec = nil
	if err == nil {
		err = h.capErr
	}
	if err != nil {
		return nil, err
	}
	return hostGraph{h: h, ops: ops}, nil
}

// hostGraph is a recorded sequence of host operations.
type hostGraph struct {
	h   *hostOps
	ops []func()
}

func (g hostGraph) launch() error {
	if g.h.closed {
		return errors.New("host device is closed")
	}
	g.h.replays++
	for _, op := range g.ops {
		op()
	}
	return nil
}
func (g hostGraph) destroy() {}

func (h *hostOps) elu(z, a Buf)             { h.run(func() { eluTwin(z.H, a.H) }) }
func (h *hostOps) eluTangent(a, zd, ad Buf) { h.run(func() { eluTangentTwin(a.H, zd.H, ad.H) }) }
func (h *hostOps) eluBackward(a, g Buf)     { h.run(func() { eluBackwardTwin(a.H, g.H) }) }
func (h *hostOps) eluBackwardSecond(a, ga, ad, gtA, gtz Buf) {
	h.run(func() { eluBackwardSecondTwin(a.H, ga.H, ad.H, gtA.H, gtz.H) })
}
func (h *hostOps) meanPool(in, out Buf, planes, s int, acc bool) {
	h.run(func() { meanPoolTwin(in.H, out.H, planes, s, acc) })
}
func (h *hostOps) meanUnpool(g, out Buf, planes, s int, acc bool) {
	h.run(func() { meanUnpoolTwin(g.H, out.H, planes, s, acc) })
}
func (h *hostOps) addBias(out, b1, b2 Buf, n, c, plane int) {
	h.run(func() { addBiasTwin(out.H, b1.H, b2.H, n, c, plane) })
}
func (h *hostOps) add(dst, src Buf) { h.run(func() { addTwin(dst.H, src.H) }) }
func (h *hostOps) biasGrad(g, gb Buf, n, c, plane int) {
	h.run(func() { biasGradTwin(g.H, gb.H, n, c, plane) })
}
func (h *hostOps) headEnergy(hh, a, b1, c, b2, d, b3, u, w, e Buf, n, F int) {
	h.run(func() { headEnergyTwin(hh.H, a.H, b1.H, c.H, b2.H, d.H, b3.H, u.H, w.H, e.H, n, F) })
}
func (h *hostOps) headInputGrad(hh, a, c, d, u, w, g Buf, n, F int) {
	h.run(func() { headInputGradTwin(hh.H, a.H, c.H, d.H, u.H, w.H, g.H, n, F) })
}
func (h *hostOps) headTangent(hd, a, c, d, ud, wd, gP Buf, n, F int) {
	h.run(func() { headTangentTwin(hd.H, a.H, c.H, d.H, ud.H, wd.H, gP.H, n, F) })
}
func (h *hostOps) headWeightGrad(hh, hd, u, w, ud, wd, ga, gc, gd, gb1, gb2 Buf, n, F int) {
	h.run(func() { headWeightGradTwin(hh.H, hd.H, u.H, w.H, ud.H, wd.H, ga.H, gc.H, gd.H, gb1.H, gb2.H, n, F) })
}
func (h *hostOps) perturb(x, noise, sig, xn Buf, n, dim int) {
	h.run(func() { perturbTwin(x.H, noise.H, sig.H, xn.H, n, dim) })
}
func (h *hostOps) loss(g, noise, sig, v, part, acc Buf, n, dim int, inv0 float64, total int) {
	h.run(func() { lossTwin(g.H, noise.H, sig.H, v.H, part.f64(), &acc.f64()[0], n, dim, inv0, total) })
}
func (h *hostOps) adam(w, g, m, v Buf, b1, b2, step, eps float32, skipLo, skipHi int, flag Buf) {
	h.run(func() {
		if adamTwin(w.H, g.H, m.H, v.H, b1, b2, step, eps, skipLo, skipHi) {
			flag.H[0] = math.Float32frombits(1)
		}
	})
}
func (h *hostOps) philoxNormals(z Buf, key philox.Key, d uint64) {
	h.run(func() { philoxNormalsTwin(z.H, key, d) })
}
func (h *hostOps) langevinInput(x, truth, free, clampStd, step Buf, key philox.Key, in Buf, dim int) {
	h.run(func() { langevinInputTwin(x.H, truth.H, free.H, clampStd.f64(), step.i32(0), key, in.H, dim) })
}
func (h *hostOps) langevinTrace(e, trace, step Buf, n int) {
	h.run(func() { langevinTraceTwin(e.H[:n], trace.f64(), step.i32(0)) })
}
func (h *hostOps) langevinUpdate(x, g, free, a, step Buf, hh float64, key philox.Key, bad Buf, dim int) {
	h.run(func() { langevinUpdateTwin(x.H, g.H, free.H, a.f64(), step.i32(0), hh, key, bad.i32s(), dim) })
}
func (h *hostOps) stepAdvance(step Buf) {
	h.run(func() { step.H[0] = math.Float32frombits(math.Float32bits(step.H[0]) + 1) })
}
func (h *hostOps) langevinDenoise(x, g, free Buf, s2 float64, out Buf, dim int) {
	h.run(func() { langevinDenoiseTwin(x.H, g.H, free.H, s2, out.H, dim) })
}
func (h *hostOps) addChunks(acc, recv Buf, chunk, active int, first bool) {
	h.run(func() { addChunksTwin(acc.H, recv.H, chunk, active, first) })
}

// hostConv is a direct NCHW convolution ("same" padding), the host device's stand-in for
// cuDNN, in float64 accumulators.
type hostConv struct {
	h                  *hostOps
	n, cin, cout, s, k int
}

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

func (c hostConv) forward(x, w, y Buf, beta float32) { c.h.run(func() { c.forwardNow(x, w, y, beta) }) }
func (c hostConv) backwardData(w, dy, dx Buf, beta float32) {
	c.h.run(func() { c.backwardDataNow(w, dy, dx, beta) })
}
func (c hostConv) backwardFilter(x, dy, dw Buf, beta float32) {
	c.h.run(func() { c.backwardFilterNow(x, dy, dw, beta) })
}

func (c hostConv) forwardNow(x, w, y Buf, beta float32) {
	acc := make([]float64, c.n*c.cout*c.s*c.s)
	c.each(func(b, o, i, yy, xx, sy, sx, wi int) {
		acc[((b*c.cout+o)*c.s+yy)*c.s+xx] += float64(w.H[wi]) * float64(x.H[((b*c.cin+i)*c.s+sy)*c.s+sx])
	})
	scale(y.H, beta)
	for j, v := range acc {
		y.H[j] += float32(v)
	}
}

func (c hostConv) backwardDataNow(w, dy, dx Buf, beta float32) {
	acc := make([]float64, c.n*c.cin*c.s*c.s)
	c.each(func(b, o, i, yy, xx, sy, sx, wi int) {
		acc[((b*c.cin+i)*c.s+sy)*c.s+sx] += float64(w.H[wi]) * float64(dy.H[((b*c.cout+o)*c.s+yy)*c.s+xx])
	})
	scale(dx.H, beta)
	for j, v := range acc {
		dx.H[j] += float32(v)
	}
}

func (c hostConv) backwardFilterNow(x, dy, dw Buf, beta float32) {
	acc := make([]float64, c.cout*c.cin*c.k*c.k)
	c.each(func(b, o, i, yy, xx, sy, sx, wi int) {
		acc[wi] += float64(dy.H[((b*c.cout+o)*c.s+yy)*c.s+xx]) * float64(x.H[((b*c.cin+i)*c.s+sy)*c.s+sx])
	})
	scale(dw.H, beta)
	for j, v := range acc {
		dw.H[j] += float32(v)
	}
}
