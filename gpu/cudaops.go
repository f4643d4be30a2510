package gpu

import (
	_ "embed"

	"mdsm/internal/cuda"
	"mdsm/internal/philox"
)

// kernelSource is kernels.cu, compiled by NVRTC for the GPU at start.
//
//go:embed kernels.cu
var kernelSource string

// kernelNames are the kernels of kernels.cu.
var kernelNames = []string{"elu", "elu_tangent", "elu_backward", "elu_backward_second", "mean_pool", "mean_unpool",
	"add_bias", "add", "bias_grad", "head_energy", "head_input_grad", "head_tangent_sums", "head_tangent_backward",
	"head_weight_grad", "perturb", "loss_residual", "loss_sum", "adam",
	"philox_normals", "langevin_input", "langevin_trace", "langevin_update", "step_advance", "langevin_denoise", "add_chunks"}

// redThreads is RED_THREADS of kernels.cu: the block size of the reduction kernels.
const redThreads = 256

// nvrtcOptions are the compile options: IEEE division and square root, no fast math, so
// that the kernels compute what their twins do up to contraction into FMAs.
var nvrtcOptions = []string{"--std=c++17", "-default-device", "--prec-div=true", "--prec-sqrt=true", "--ftz=false"}

// cudaOps is the device of a real GPU.
type cudaOps struct {
	c     *cuda.Context
	dnn   *cuda.Handle
	mod   *cuda.Module
	k     map[string]cuda.Function
	tf32  bool
	ws    Buf // cuDNN workspace, grown to the largest asked for
	first error
	convs []*cuda.Conv
	// gen counts the replacements of the workspace (epoch).
	gen int
	// graphs: GraphsEnv at open; graphErr: the first capture that failed.
	graphs   bool
	graphErr error
	// bytes and peak count the device memory this device allocated (as
	// torch.cuda.max_memory_allocated counts PyTorch's), for mdsm bench.
	bytes, peak int64
	sizes       map[uint64]int64
}

// openCUDA opens GPU ordinal with the loaded libraries: its context and stream, a cuDNN
// handle on that stream and the compiled kernels.
func openCUDA(l *libs, ordinal int, tf32 bool) (*cudaOps, error) {
	c, err := cuda.NewContext(l.drv, ordinal)
	if err != nil {
		return nil, err
	}
	o := &cudaOps{c: c, k: map[string]cuda.Function{}, tf32: tf32, graphs: graphsWanted()}
	err = c.Do(func() error {
		var err error
		if o.dnn, err = l.dnn.NewHandle(c.Stream); err != nil {
			return err
		}
		cubin, _, err := l.rtc.CompileCached("", "mdsm_kernels.cu", kernelSource, c.Info.Arch(), nvrtcOptions...)
		if err != nil {
			return err
		}
		if o.mod, err = c.LoadModule(cubin); err != nil {
			return err
		}
		for _, n := range kernelNames {
			f, err := o.mod.Function(n)
			if err != nil {
				return err
			}
			o.k[n] = f
		}
		return nil
	})
	if err != nil {
		o.close()
		return nil, err
	}
	return o, nil
}

func (o *cudaOps) do(f func() error) error { return o.c.Do(f) }

func (o *cudaOps) keep(err error) {
	if err != nil && o.first == nil {
		o.first = err
	}
}

func (o *cudaOps) err() error { e := o.first; o.first = nil; return e }

func (o *cudaOps) epoch() int          { return o.gen }
func (o *cudaOps) graphsOn() bool      { return o.graphs }
func (o *cudaOps) graphFailure() error { return o.graphErr }
func (o *cudaOps) noteGraphs(err error) {
	if o.graphErr == nil {
		o.graphErr = err
	}
}

// capture records f's work on the context's stream into a CUDA graph. A failure while
// capturing (a call the driver refuses to capture) ends the capture and is returned; the
// stream is then usable again and nothing of f has run.
func (o *cudaOps) capture(f func() error) (graph, error) {
	g, err := o.c.Capture(func() error {
		if err := f(); err != nil {
			return err
		}
		return o.err()
	})
	if err != nil {
		return nil, err
	}
	return cudaGraph{g}, nil
}

// cudaGraph is a captured and instantiated CUDA graph.
type cudaGraph struct{ g *cuda.Graph }

func (g cudaGraph) launch() error { return g.g.Launch() }
func (g cudaGraph) destroy()      { g.g.Destroy() }

func (o *cudaOps) close() error {
	if o.c == nil {
		return nil
	}
	o.c.Do(func() error {
		for _, cv := range o.convs {
			cv.Destroy()
		}
		if o.ws.P != 0 {
			o.free(o.ws)
		}
		if o.dnn != nil {
			o.dnn.Destroy()
		}
		if o.mod != nil {
			o.mod.Unload()
		}
		return nil
	})
	err := o.c.Close()
	o.c = nil
	return err
}

func (o *cudaOps) alloc(n int) (Buf, error) {
	p, err := o.c.Alloc(4 * n)
	if err != nil {
		return Buf{}, err
	}
	if o.sizes == nil {
		o.sizes = map[uint64]int64{}
	}
	o.sizes[p] = int64(4 * n)
	o.bytes += int64(4 * n)
	o.peak = max(o.peak, o.bytes)
	return Buf{P: p, N: n}, nil
}

func (o *cudaOps) free(b Buf) {
	o.bytes -= o.sizes[b.P]
	delete(o.sizes, b.P)
	o.keep(o.c.Free(b.P))
}

func (o *cudaOps) peakBytes() int64 { return o.peak }
func (o *cudaOps) upload(dst Buf, src []float32) {
	o.keep(o.c.Upload(dst.P, src[:min(len(src), dst.N)]))
}
func (o *cudaOps) download(dst []float32, src Buf) {
	o.keep(o.c.Download(dst[:min(len(dst), src.N)], src.P))
}
func (o *cudaOps) fill(dst Buf, v float32) { o.keep(o.c.Fill(dst.P, v, dst.N)) }
func (o *cudaOps) copyBuf(dst, src Buf)    { o.keep(o.c.Copy(dst.P, src.P, min(dst.N, src.N))) }

// conv describes a convolution to cuDNN and grows the shared workspace to fit it.
func (o *cudaOps) conv(n, cin, cout, s, k int) (convOp, error) {
	cv, err := o.dnn.NewConv(n, cin, cout, s, k, o.tf32)
	if err != nil {
		return nil, err
	}
	o.convs = append(o.convs, cv)
	if need := (cv.Workspace + 3) / 4; need > o.ws.N {
		if o.ws.P != 0 {
			o.free(o.ws)
			o.ws = Buf{}
		}
		if o.ws, err = o.alloc(need); err != nil {
			return nil, err
		}
		o.gen++
	}
	return &cudaConv{o: o, cv: cv}, nil
}

type cudaConv struct {
	o  *cudaOps
	cv *cuda.Conv
}

func (c *cudaConv) forward(x, w, y Buf, beta float32) {
	c.o.keep(c.cv.Forward(x.P, w.P, y.P, beta, c.o.ws.P, 4*c.o.ws.N))
}
func (c *cudaConv) backwardData(w, dy, dx Buf, beta float32) {
	c.o.keep(c.cv.BackwardData(w.P, dy.P, dx.P, beta, c.o.ws.P, 4*c.o.ws.N))
}
func (c *cudaConv) backwardFilter(x, dy, dw Buf, beta float32) {
	c.o.keep(c.cv.BackwardFilter(x.P, dy.P, dw.P, beta, c.o.ws.P, 4*c.o.ws.N))
}

// each launches a grid-stride kernel over n elements.
func (o *cudaOps) each(name string, n int, args ...any) {
	if n == 0 {
		return
	}
	blocks := min((n+255)/256, 32*max(o.c.Info.SMs, 1))
	o.keep(o.c.Launch(o.k[name], cuda.Dim3{X: blocks}, cuda.Dim3{X: 256}, 0, args...))
}

// blocksOf launches a reduction kernel with one RED_THREADS block per item.
func (o *cudaOps) blocksOf(name string, items int, args ...any) {
	if items == 0 {
		return
	}
	o.keep(o.c.Launch(o.k[name], cuda.Dim3{X: items}, cuda.Dim3{X: redThreads}, 0, args...))
}

func (o *cudaOps) elu(z, a Buf)             { o.each("elu", z.N, z.P, a.P, z.N) }
func (o *cudaOps) eluTangent(a, zd, ad Buf) { o.each("elu_tangent", a.N, a.P, zd.P, ad.P, a.N) }
func (o *cudaOps) eluBackward(a, g Buf)     { o.each("elu_backward", a.N, a.P, g.P, a.N) }
func (o *cudaOps) eluBackwardSecond(a, ga, ad, gtA, gtz Buf) {
	o.each("elu_backward_second", a.N, a.P, ga.P, ad.P, gtA.P, gtz.P, a.N)
}
func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}
func (o *cudaOps) meanPool(in, out Buf, planes, s int, acc bool) {
	o.each("mean_pool", planes*(s/2)*(s/2), in.P, out.P, planes, s, b2i(acc))
}
func (o *cudaOps) meanUnpool(g, out Buf, planes, s int, acc bool) {
	o.each("mean_unpool", planes*s*s, g.P, out.P, planes, s, b2i(acc))
}
func (o *cudaOps) addBias(out, b1, b2 Buf, n, c, plane int) {
	o.each("add_bias", n*c*plane, out.P, b1.P, b2.P, n, c, plane)
}
func (o *cudaOps) add(dst, src Buf) { o.each("add", src.N, dst.P, src.P, src.N) }
func (o *cudaOps) biasGrad(g, gb Buf, n, c, plane int) {
	o.blocksOf("bias_grad", c, g.P, gb.P, n, c, plane)
}
func (o *cudaOps) headEnergy(h, a, b1, c, b2, d, b3, u, w, e Buf, n, F int) {
	o.blocksOf("head_energy", n, h.P, a.P, b1.P, c.P, b2.P, d.P, b3.P, u.P, w.P, e.P, F)
}
func (o *cudaOps) headInputGrad(h, a, c, d, u, w, g Buf, n, F int) {
	o.each("head_input_grad", n*F, h.P, a.P, c.P, d.P, u.P, w.P, g.P, n, F)
}
func (o *cudaOps) headTangent(hd, a, c, d, ud, wd, gP Buf, n, F int) {
	o.blocksOf("head_tangent_sums", n, hd.P, a.P, c.P, ud.P, wd.P, F)
	o.each("head_tangent_backward", n*F, hd.P, a.P, c.P, d.P, ud.P, wd.P, gP.P, n, F)
}
func (o *cudaOps) headWeightGrad(h, hd, u, w, ud, wd, ga, gc, gd, gb1, gb2 Buf, n, F int) {
	o.each("head_weight_grad", F+1, h.P, hd.P, u.P, w.P, ud.P, wd.P, ga.P, gc.P, gd.P, gb1.P, gb2.P, n, F)
}
func (o *cudaOps) perturb(x, noise, sig, xn Buf, n, dim int) {
	o.each("perturb", n*dim, x.P, noise.P, sig.P, xn.P, n, dim)
}
func (o *cudaOps) loss(g, noise, sig, v, part, acc Buf, n, dim int, inv0 float64, total int) {
	o.blocksOf("loss_residual", n, g.P, noise.P, sig.P, v.P, part.P, dim, inv0, total)
	o.keep(o.c.Launch(o.k["loss_sum"], cuda.Dim3{X: 1}, cuda.Dim3{X: 1}, 0, part.P, acc.P, n))
}
func (o *cudaOps) adam(w, g, m, v Buf, b1, b2, step, eps float32, skipLo, skipHi int, flag Buf) {
	o.each("adam", w.N, w.P, g.P, m.P, v.P, w.N, b1, b2, step, eps, skipLo, skipHi, flag.P)
}

func (o *cudaOps) philoxNormals(z Buf, key philox.Key, d uint64) {
	o.each("philox_normals", (z.N+3)/4, z.P, key[0], key[1], d, z.N)
}
func (o *cudaOps) langevinInput(x, truth, free, clampStd, step Buf, key philox.Key, in Buf, dim int) {
	o.each("langevin_input", (x.N+3)/4, x.P, truth.P, free.P, clampStd.P, step.P, key[0], key[1], in.P, x.N, dim)
}
func (o *cudaOps) langevinTrace(e, trace, step Buf, n int) {
	o.keep(o.c.Launch(o.k["langevin_trace"], cuda.Dim3{X: 1}, cuda.Dim3{X: 1}, 0, e.P, trace.P, step.P, n))
}
func (o *cudaOps) langevinUpdate(x, g, free, a, step Buf, h float64, key philox.Key, bad Buf, dim int) {
	o.each("langevin_update", (x.N+3)/4, x.P, g.P, free.P, a.P, step.P, h, key[0], key[1], bad.P, x.N, dim)
}
func (o *cudaOps) stepAdvance(step Buf) {
	o.keep(o.c.Launch(o.k["step_advance"], cuda.Dim3{X: 1}, cuda.Dim3{X: 1}, 0, step.P))
}
func (o *cudaOps) langevinDenoise(x, g, free Buf, s2 float64, out Buf, dim int) {
	o.each("langevin_denoise", x.N, x.P, g.P, free.P, s2, out.P, x.N, dim)
}
func (o *cudaOps) addChunks(acc, recv Buf, chunk, active int, first bool) {
	o.each("add_chunks", chunk, acc.P, recv.P, chunk, active, b2i(first))
}
