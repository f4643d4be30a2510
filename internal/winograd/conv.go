package winograd

import (
	"runtime"
	"sync"
	"unsafe"

	"mdsm/internal/gemm"
	"mdsm/internal/par"
)

// A convolution runs over its images in chunks, in one of two ways, chosen by shape:
//
//   - fused: each chunk runs end to end on one goroutine (input transform, the alpha^2
//     products, output transform) with its scratch in that core's cache, and the chunks are
//     spread over the cores: one fork-join per convolution. Used where a chunk that fits
//     fusedBytes still has enough tiles for efficient products (the small-channel layers).
//   - phased: the chunks (up to chunkBytes) run in turn, each phase threaded (the products
//     spread over the cores): the large-channel layers, whose products need many tiles.
//
// The weight gradient sums over the images: fused, every chunk's products go to a partial
// sum of its own and the partials are added in chunk order; phased, the chunks accumulate in
// order. Either way the chunks depend on the shape alone, so the result does not depend on
// the thread count.
var (
	chunkBytes = 4 << 20 // phased chunks (a variable for tests)
	fusedBytes = 1 << 20 // fused chunks: V and M of one chunk in a core's L2 cache
)

// forceMode overrides the choice of plan in tests: 0 by shape, 1 fused with one image per
// chunk, 2 phased with one image per chunk.
var forceMode = 0

const (
	minFusedTiles = 48 // fewer tiles per product run phased (48: one AVX-512 panel)
	maxParts      = 8  // fused weight gradient: at most this many chunks (and partial sums)
)

// Conv runs Winograd convolutions and keeps their scratch (the transformed weights, chunks
// of transformed inputs and products, partial weight gradients) between calls. Not safe for
// concurrent use.
type Conv[T Float] struct {
	u, v, mm, part, coef []T
	free                 []*chunkScratch[T] // fused chunks' scratch, one per goroutine in flight
	mu                   sync.Mutex
}

// chunkScratch is one goroutine's V and M of a fused chunk.
type chunkScratch[T Float] struct{ v, mm []T }

func (c *Conv[T]) getScratch() *chunkScratch[T] {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.free); n > 0 {
		cs := c.free[n-1]
		c.free = c.free[:n-1]
		return cs
	}
	return &chunkScratch[T]{}
}

func (c *Conv[T]) putScratch(cs *chunkScratch[T]) {
	c.mu.Lock()
	c.free = append(c.free, cs)
	c.mu.Unlock()
}

// grow returns s resized to n elements, reallocating only when it is too short.
func grow[T Float](s *[]T, n int) []T {
	if cap(*s) < n {
		*s = make([]T, n)
	}
	*s = (*s)[:n]
	return *s
}

// spill is how far past an image's last tile the vector transforms may write (garbage) in
// every transformed plane: they store whole 8-tile vectors (masked stores are slow on AMD).
// Images of a channel are transformed in order by one goroutine, so the spill lands on the
// next image's tiles before they are written; after the last image of a chunk it lands in
// the row's padding (rowStride).
const spill = 7

// rowStride is the stride of the rows (channels) of a transformed plane of pc tiles.
func rowStride(pc int) int { return pc + spill + 1 }

// planeStride returns the stride between the alpha^2 transformed planes of n floats: n
// rounded up to an odd multiple of 16 floats (64 bytes). The transforms write one value to
// every plane in turn; planes a multiple of 4 KiB apart would all map to the same L1 cache
// set and evict each other (measured: 3x slower transforms at batch 64 on 7x7 images).
func planeStride(n int) int { return (n+15)/32*32 + 16 }

// plan is how one convolution is cut into chunks of images.
type plan struct {
	g          Geom
	pts, t2    int
	fused      bool
	ipc        int // images per chunk
	chunks     int
	lv, lm, lu int // plane strides of V, M and U
}

// newPlan plans a convolution from nIn to nOut channels (elemBytes per float); grad plans
// a weight gradient, whose fused chunks depend on the shape only (maxParts of them at most).
func newPlan(m, nOut, nIn, n, s, elemBytes int, grad bool) plan {
	g := NewGeom(m, s, n)
	p := plan{g: g, pts: g.Points(), t2: g.T * g.T}
	perImage := p.pts * (nIn + nOut) * p.t2 * elemBytes
	switch forceMode {
	case 1:
		p.fused, p.ipc = true, 1
	case 2:
		p.ipc = 1
	default:
		p.plan(n, perImage, grad)
	}
	p.chunks = (n + p.ipc - 1) / p.ipc
	rs := rowStride(p.ipc * p.t2)
	p.lv, p.lm, p.lu = planeStride(nIn*rs), planeStride(nOut*rs), planeStride(nOut*nIn)
	return p
}

// plan chooses fused or phased chunks for n images of perImage bytes of V and M.
func (p *plan) plan(n, perImage int, grad bool) {
	if f := fusedBytes / perImage; f >= 1 && f*p.t2 >= minFusedTiles && n > 1 {
		p.fused = true
		if grad {
			p.ipc = min(f, (n+maxParts-1)/maxParts)
		} else {
			// Enough chunks for about four per goroutine (the thread count may matter here:
			// no sums cross chunks), but not fewer than minFusedTiles tiles per product.
			p.ipc = min(f, max((minFusedTiles+p.t2-1)/p.t2, n/(4*runtime.GOMAXPROCS(0))))
		}
		return
	}
	p.ipc = max(1, min(n, chunkBytes/perImage))
}

// Scratch returns the scratch floats of a Conv after Forward (grad false; its adjoint, nIn
// and nOut swapped, needs about the same) or WeightGrad (grad true) from nIn to nOut
// channels of n images of side s with tile m: the transformed weights, the chunks of
// transformed inputs and products (one per goroutine when fused) and the partial weight
// gradients.
func Scratch(m, nOut, nIn, n, s, elemBytes int, grad bool) int {
	p := newPlan(m, nOut, nIn, n, s, elemBytes, grad)
	chunk := p.pts * (p.lv + p.lm)
	if p.fused {
		chunk *= min(p.chunks, runtime.GOMAXPROCS(0))
	}
	t := p.pts*p.lu + chunk
	if grad && p.fused {
		t += p.chunks * p.pts * p.lu
	}
	return t
}

// Forward computes the 3x3 "same" correlation out = w * in (+ bias) of n images of side s
// by F(m x m, 3 x 3): in is [nIn][n][s][s], out [nOut][n][s][s], bias nil or [nOut]. The
// kernel is w[o][i] of w = [nOut][nIn][3][3]; with adjoint it is w[i][o] rotated by 180
// degrees, w = [nIn][nOut][3][3]: out is then the data adjoint (input gradient) of w's
// convolution, in its output gradient.
func (c *Conv[T]) Forward(m int, w []T, nOut, nIn int, adjoint bool, in []T, n, s int, bias, out []T) {
	var z T
	a, p := algoFor(m), newPlan(m, nOut, nIn, n, s, int(unsafe.Sizeof(z)), false)
	// U[xi][o][i] = sum_k kron[xi][k] g(o,i)[k]: one product over all kernels. With adjoint
	// g(o,i) is w[i][o] rotated (kronRot rotates it); the kernels of one o are then nIn rows
	// of w nOut*9 apart, so the product is cut into one per o (a batch).
	u := grow(&c.u, p.pts*p.lu)
	if adjoint {
		gemm.GemmBatched(nOut, false, true, p.pts, nIn, 9, 1, c.coeffs(a.kronRot), 9, 0, w, nOut*9, 9, 0, u, p.lu, nIn)
	} else {
		gemm.Gemm(false, true, p.pts, nOut*nIn, 9, 1, c.coeffs(a.kron), 9, w, 9, 0, u, p.lu)
	}
	img := s * s
	plane := n * img
	// chunk runs the transforms of images [b0, b0+nb) on channels [clo, chi) with V, M.
	inputs := func(v []T, b0, nb, clo, chi int) {
		pc := nb * p.t2
		rs := rowStride(pc)
		for j := clo * nb; j < chi*nb; j++ {
			ch, b := j/nb, j%nb
			src := in[ch*plane+(b0+b)*img:]
			inputImage(a, p.g, src[:img], v[ch*rs+b*p.t2:], p.lv)
		}
	}
	outputs := func(mm []T, b0, nb, clo, chi int) {
		pc := nb * p.t2
		rs := rowStride(pc)
		for j := clo * nb; j < chi*nb; j++ {
			ch, b := j/nb, j%nb
			var bv T
			if bias != nil {
				bv = bias[ch]
			}
			dst := out[ch*plane+(b0+b)*img:]
			outputImage(a, p.g, mm[ch*rs+b*p.t2:], p.lm, dst[:img], bv)
		}
	}
	if p.fused {
		par.For(p.chunks, n*(nIn+nOut)*p.t2*p.pts*8, func(lo, hi int) {
			cs := c.getScratch()
			defer c.putScratch(cs)
			v, mm := grow(&cs.v, p.pts*p.lv), grow(&cs.mm, p.pts*p.lm)
			for k := lo; k < hi; k++ {
				b0 := k * p.ipc
				nb := min(p.ipc, n-b0)
				pc := nb * p.t2
				rs := rowStride(pc)
				inputs(v, b0, nb, 0, nIn)
				gemm.GemmBatchedSerial(p.pts, false, false, nOut, pc, nIn, 1, u, nIn, p.lu, v, rs, p.lv, 0, mm, rs, p.lm)
				outputs(mm, b0, nb, 0, nOut)
			}
		})
		return
	}
	v, mm := grow(&c.v, p.pts*p.lv), grow(&c.mm, p.pts*p.lm)
	for b0 := 0; b0 < n; b0 += p.ipc {
		nb := min(p.ipc, n-b0)
		pc := nb * p.t2
		rs := rowStride(pc)
		par.For(nIn, nIn*pc*p.pts*8, func(lo, hi int) { inputs(v, b0, nb, lo, hi) })
		gemm.GemmBatched(p.pts, false, false, nOut, pc, nIn, 1, u, nIn, p.lu, v, rs, p.lv, 0, mm, rs, p.lm)
		par.For(nOut, nOut*pc*p.pts*4, func(lo, hi int) { outputs(mm, b0, nb, lo, hi) })
	}
}

// GradTerm is one (output gradient, input) pair of a weight gradient: gout is
// [nOut][n][s][s], in is [nIn][n][s][s].
type GradTerm[T Float] struct{ Gout, In []T }

// WeightGrad adds to gw ([nOut][nIn][3][3]) the gradient, with respect to w, of the
// convolutions out = w * in summed over the terms, given each output gradient, by the
// adjoint of F(m x m, 3 x 3): the products Ubar = Mbar V^T of all terms are summed before
// the one weight transform back. The sums over images run in a fixed order of chunks fixed
// by the shape (see plan), so the result does not depend on the thread count.
func (c *Conv[T]) WeightGrad(m int, nOut, nIn, n, s int, gw []T, terms ...GradTerm[T]) {
	if len(terms) == 0 {
		return
	}
	var z T
	a, p := algoFor(m), newPlan(m, nOut, nIn, n, s, int(unsafe.Sizeof(z)), true)
	img := s * s
	plane := n * img
	lu := p.lu
	ubar := grow(&c.u, p.pts*lu)
	// transforms fills V and Mbar of images [b0, b0+nb) of one term, channels [clo, chi) of
	// the nIn+nOut (inputs first).
	transforms := func(v, mbar []T, term GradTerm[T], b0, nb, clo, chi int) {
		pc := nb * p.t2
		rs := rowStride(pc)
		for j := clo * nb; j < chi*nb; j++ {
			ch, b := j/nb, j%nb
			if ch < nIn {
				src := term.In[ch*plane+(b0+b)*img:]
				inputImage(a, p.g, src[:img], v[ch*rs+b*p.t2:], p.lv)
			} else {
				ch -= nIn
				src := term.Gout[ch*plane+(b0+b)*img:]
				outputAdjointImage(a, p.g, src[:img], mbar[ch*rs+b*p.t2:], p.lm)
			}
		}
	}
	if p.fused {
		// Chunk k's products go to partial sum k; the partials are then added in order.
		part := grow(&c.part, p.chunks*p.pts*lu)
		par.For(p.chunks, n*(nIn+nOut)*p.t2*p.pts*8*len(terms), func(lo, hi int) {
			cs := c.getScratch()
			defer c.putScratch(cs)
			v, mbar := grow(&cs.v, p.pts*p.lv), grow(&cs.mm, p.pts*p.lm)
			for k := lo; k < hi; k++ {
				b0 := k * p.ipc
				nb := min(p.ipc, n-b0)
				pc := nb * p.t2
				rs := rowStride(pc)
				for ti, term := range terms {
					transforms(v, mbar, term, b0, nb, 0, nIn+nOut)
					var beta T
					if ti > 0 {
						beta = 1
					}
					gemm.GemmBatchedSerial(p.pts, false, true, nOut, nIn, pc, 1, mbar, rs, p.lm, v, rs, p.lv, beta, part[k*p.pts*lu:], nIn, lu)
				}
			}
		})
		size := p.pts * lu
		par.For(size, size*p.chunks, func(lo, hi int) {
			dst := ubar[lo:hi]
			copy(dst, part[lo:hi])
			for k := 1; k < p.chunks; k++ {
				src := part[k*size+lo : k*size+hi]
				for i, x := range src {
					dst[i] += x
				}
			}
		})
	} else {
		v, mbar := grow(&c.v, p.pts*p.lv), grow(&c.mm, p.pts*p.lm)
		first := true
		for b0 := 0; b0 < n; b0 += p.ipc {
			nb := min(p.ipc, n-b0)
			pc := nb * p.t2
			rs := rowStride(pc)
			for _, term := range terms {
				par.For(nIn+nOut, (nIn+nOut)*pc*p.pts*8, func(lo, hi int) { transforms(v, mbar, term, b0, nb, lo, hi) })
				var beta T = 1
				if first {
					beta, first = 0, false
				}
				gemm.GemmBatched(p.pts, false, true, nOut, nIn, pc, 1, mbar, rs, p.lm, v, rs, p.lv, beta, ubar, nIn, lu)
			}
		}
	}
	// gbar[k][pair] = sum_xi kron[xi][k] Ubar[xi][pair] (the adjoint of the weight
	// transform), one product into scratch, then added to gw[pair][k].
	pairs := nOut * nIn
	kt := c.coeffsT(a.kron, p.pts)
	gt := grow(&c.v, 9*pairs)
	gemm.Gemm(true, false, 9, pairs, p.pts, 1, kt, 9, ubar, lu, 0, gt, pairs)
	par.For(pairs, 9*pairs, func(lo, hi int) {
		for q := lo; q < hi; q++ {
			g := gw[q*9 : q*9+9]
			for k := range g {
				g[k] += gt[k*pairs+q]
			}
		}
	})
}

// coeffs returns a weight-transform matrix (alpha^2 x 9) in T, in scratch of c.
func (c *Conv[T]) coeffs(k []float64) []T {
	out := grow(&c.coef, len(k))
	for i, v := range k {
		out[i] = T(v)
	}
	return out
}

// coeffsT returns kron as T, laid out for op(A) = kron^T (9 x pts) with transA: the same
// row-major alpha^2 x 9 storage.
func (c *Conv[T]) coeffsT(k []float64, pts int) []T { return c.coeffs(k[:pts*9]) }
