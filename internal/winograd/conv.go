package winograd

import (
	"runtime"
	"sync"
	"unsafe"

	"mdsm/internal/gemm"
	"mdsm/internal/par"
)

// A convolution runs over its tiles in chunks of units, a unit being one tile row of one
// group of lanes images (T tiles of 8 images: 8T columns of the transformed data). Two
// ways, chosen by shape:
//
//   - fused: each chunk runs end to end on one goroutine (input transform, the alpha^2
//     products, output transform) with its scratch in that core's cache, and the chunks are
//     spread over the cores: one fork-join per convolution. Used where a chunk that fits
//     fusedBytes still has enough columns for efficient products (the small-channel layers).
//   - phased: the chunks (up to chunkBytes) run in turn, each phase threaded (the products
//     spread over the cores): the large-channel layers, whose products need many columns.
//
// The weight gradient sums over the tiles: fused, the chunks are cut into gradParts fixed
// ranges, each summed in order into a partial sum of its own (the first into the buffer of
// the sum), and the partials are added in order; phased, the chunks accumulate in order.
// Either way the chunks depend on the shape alone, so the result does not depend on the
// thread count.
var (
	chunkBytes = 4 << 20 // phased chunks (a variable for tests)
	fusedBytes = 1 << 20 // fused chunks: V and M of one chunk in a core's L2 cache
)

// forceMode overrides the choice of plan in tests: 0 by shape, 1 fused with one unit per
// chunk, 2 phased with one unit per chunk.
var forceMode = 0

const (
	minFusedCols = 48 // fewer columns per product run phased (48: one AVX-512 panel)
	gradParts    = 4  // fused weight gradient: the partial sums (and the parallelism)
)

// Conv runs Winograd convolutions and keeps their scratch (the transformed weights, chunks
// of transformed inputs and products, partial weight gradients) between calls. Not safe for
// concurrent use.
type Conv[T Float] struct {
	u, v, mm, part, coef []T
	free                 []*chunkScratch[T] // goroutines' scratch, one per goroutine in flight
	mu                   sync.Mutex
	// reserved is the scratch announced by Reserve: the first call that grows a buffer
	// allocates it at its reserved size, so the buffers are allocated once, not grown layer
	// by layer (every growth left the smaller buffer as garbage: tens of MiB of peak memory
	// for the paper presets).
	reserved sizes
}

// sizes are the scratch lengths (floats) of one call: the shared buffers, and one
// goroutine's chunk scratch (vm: V and M of a fused chunk; band).
type sizes struct{ u, v, mm, part, vm, band int }

// max returns the larger of a and b, field by field.
func (a sizes) max(b sizes) sizes {
	return sizes{max(a.u, b.u), max(a.v, b.v), max(a.mm, b.mm), max(a.part, b.part), max(a.vm, b.vm), max(a.band, b.band)}
}

// chunkScratch is one goroutine's V and M of a fused chunk, in one buffer, and its band
// (transform.go). One buffer sized for the largest V and M of one call, not one for V and
// one for M each sized for the largest of any call: a call with many input channels (a
// large V) has fewer output channels (a smaller M) than the widest layer, and the other
// way round (small preset: 0.85 MiB per goroutine instead of 1.13).
type chunkScratch[T Float] struct{ vm, band []T }

// chunk returns V and M of a fused chunk of plan p from cs, allocating at least reserve
// floats.
func (cs *chunkScratch[T]) chunk(p *plan, reserve int) (v, mm []T) {
	nv, nm := p.pts*p.lv, p.pts*p.lm
	vm := grow(&cs.vm, nv+nm, reserve)
	return vm[:nv:nv], vm[nv:]
}

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

// grow returns s resized to n elements, reallocating, at reserve elements if that is more,
// only when it is too short.
func grow[T Float](s *[]T, n, reserve int) []T {
	if cap(*s) < n {
		*s = make([]T, max(n, reserve))
	}
	*s = (*s)[:n]
	return *s
}

// Reserve announces a convolution the Conv will run (Forward from nIn to nOut channels, or
// with grad WeightGrad, of n images of side s with tile m), so that its buffers are
// allocated once at the largest size any announced call needs. Optional: calls that were
// not announced grow the buffers as they need.
func (c *Conv[T]) Reserve(m, nOut, nIn, n, s int, grad bool) {
	var z T
	p := newPlan(m, nOut, nIn, n, s, int(unsafe.Sizeof(z)), grad)
	c.reserved = c.reserved.max(p.needs(grad, nOut, nIn))
}

// planeStride returns the stride between the alpha^2 transformed planes of n floats: n
// rounded up to an odd multiple of 16 floats (64 bytes). The transforms write one vector to
// every plane in turn; planes a multiple of 4 KiB apart would all map to the same L1 cache
// set and evict each other (measured: 3x slower transforms at batch 64 on 7x7 images).
func planeStride(n int) int { return (n+15)/32*32 + 16 }

// plan is how one convolution is cut into chunks of units.
type plan struct {
	g          Geom
	pts        int
	bw         int // band width (transform.go)
	units      int // image groups times tile rows
	ucols      int // columns per unit, T*lanes
	fused      bool
	upc        int // units per chunk
	chunks     int
	rs         int // row (channel) stride of a chunk's V and M: upc*ucols
	lv, lm, lu int // plane strides of V, M and U
}

// newPlan plans a convolution from nIn to nOut channels (elemBytes per float); grad plans
// a weight gradient, whose fused chunks depend on the shape only.
func newPlan(m, nOut, nIn, n, s, elemBytes int, grad bool) plan {
	g := NewGeom(m, s, n)
	p := plan{g: g, pts: g.Points(), bw: bandWidth(g)}
	p.units = (n + lanes - 1) / lanes * g.T
	p.ucols = g.T * lanes
	perUnit := p.pts * (nIn + nOut) * p.ucols * elemBytes
	switch forceMode {
	case 1:
		p.fused, p.upc = true, 1
	case 2:
		p.upc = 1
	default:
		p.plan(perUnit, grad)
	}
	p.chunks = (p.units + p.upc - 1) / p.upc
	p.rs = p.upc * p.ucols
	// U's planes have room for the packed layout (gemm.Packing: rows rounded up to a panel,
	// of at most 8 rows).
	p.lv, p.lm, p.lu = planeStride(nIn*p.rs), planeStride(nOut*p.rs), planeStride((nOut+7)/8*8*nIn)
	return p
}

// plan chooses fused or phased chunks for units of perUnit bytes of V and M.
func (p *plan) plan(perUnit int, grad bool) {
	minUnits := (minFusedCols + p.ucols - 1) / p.ucols
	if f := fusedBytes / perUnit; f >= minUnits && p.units > 1 {
		p.fused = true
		if grad {
			p.upc = min(f, max(minUnits, (p.units+gradParts-1)/gradParts))
		} else {
			// Enough chunks for about four per goroutine (the thread count may matter here:
			// no sums cross chunks), but not fewer than minFusedCols columns per product.
			p.upc = min(f, max(minUnits, p.units/(4*runtime.GOMAXPROCS(0))))
		}
		return
	}
	p.upc = max(1, min(p.units, chunkBytes/perUnit))
}

// parts is the number of partial sums of a fused weight gradient.
func (p *plan) parts() int { return min(gradParts, p.chunks) }

// span returns the units [u0, u1) of chunk k and its columns.
func (p *plan) span(k int) (u0, u1, cols int) {
	u0 = k * p.upc
	u1 = min(u0+p.upc, p.units)
	return u0, u1, (u1 - u0) * p.ucols
}

// needs returns the scratch of a call with this plan (grad: a weight gradient).
func (p *plan) needs(grad bool, nOut, nIn int) sizes {
	z := sizes{u: p.pts * p.lu}
	if p.fused {
		z.vm = p.pts * (p.lv + p.lm)
	} else {
		z.v, z.mm = p.pts*p.lv, p.pts*p.lm
	}
	z.band = maxAlpha * p.bw * lanes
	if grad {
		z.v = max(z.v, 9*nOut*nIn) // the weight transform back
		if p.fused {
			z.part = (p.parts() - 1) * p.pts * p.lu // part 0 is summed in U's buffer
		}
	}
	return z
}

// Scratch returns the scratch floats of a Conv after Forward (grad false; its adjoint, nIn
// and nOut swapped, needs about the same) or WeightGrad (grad true) from nIn to nOut
// channels of n images of side s with tile m: the transformed weights, the chunks of
// transformed inputs and products (one per goroutine when fused), the bands and the
// partial weight gradients.
func Scratch(m, nOut, nIn, n, s, elemBytes int, grad bool) int {
	p := newPlan(m, nOut, nIn, n, s, elemBytes, grad)
	z := p.needs(grad, nOut, nIn)
	goroutines := runtime.GOMAXPROCS(0)
	if p.fused {
		if grad {
			goroutines = min(p.parts(), goroutines)
		} else {
			goroutines = min(p.chunks, goroutines)
		}
	}
	return z.u + z.v + z.mm + z.part + goroutines*(z.vm+z.band)
}

// groupImages sets im to the images of group grp (lanes images from image grp*lanes) of
// one channel plane of n images of side s, nil for a missing image.
func groupImages[T Float](im *images[T], plane []T, grp, n, s int) {
	for l := range im {
		if b := grp*lanes + l; b < n {
			im[l] = plane[b*s*s : (b+1)*s*s]
		} else {
			im[l] = nil
		}
	}
}

// eachRun calls f for the runs of units [u0, u1) that share an image group: group grp,
// tile rows [ty0, ty1), at column col of the chunk (of nt tile rows per group).
func eachRun(u0, u1, nt int, f func(grp, ty0, ty1, col int)) {
	for un := u0; un < u1; {
		grp, ty := un/nt, un%nt
		ty1 := min(nt, ty+u1-un)
		f(grp, ty, ty1, (un-u0)*nt*lanes)
		un += ty1 - ty
	}
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
	u := grow(&c.u, p.pts*p.lu, c.reserved.u)
	if adjoint {
		gemm.GemmBatched(nOut, false, true, p.pts, nIn, 9, 1, c.coeffs(a.kronRot), 9, 0, w, nOut*9, 9, 0, u, p.lu, nIn)
	} else {
		gemm.Gemm(false, true, p.pts, nOut*nIn, 9, 1, c.coeffs(a.kron), 9, w, 9, 0, u, p.lu)
	}
	// In float32, U is packed once for the kernel (gemm.Packing) and every chunk's products
	// use it as it is, instead of packing it again for each chunk and column split.
	u32, packed := any(u).([]float32)
	var pk gemm.Packing
	if packed {
		pk = gemm.ActivePacking()
		pk.Pack(p.pts, nOut, nIn, u32, p.lu)
	}
	// products computes M[xi] = U[xi] V[xi] of a chunk of cols columns, on the calling
	// goroutine (serial) or on all.
	products := func(serial bool, cols int, v, mm []T) {
		switch {
		case packed && serial:
			pk.GemmBatchedSerial(p.pts, false, nOut, cols, nIn, u32, p.lu, f32(v), p.rs, p.lv, 0, f32(mm), p.rs, p.lm)
		case packed:
			pk.GemmBatched(p.pts, false, nOut, cols, nIn, u32, p.lu, f32(v), p.rs, p.lv, 0, f32(mm), p.rs, p.lm)
		case serial:
			gemm.GemmBatchedSerial(p.pts, false, false, nOut, cols, nIn, 1, u, nIn, p.lu, v, p.rs, p.lv, 0, mm, p.rs, p.lm)
		default:
			gemm.GemmBatched(p.pts, false, false, nOut, cols, nIn, 1, u, nIn, p.lu, v, p.rs, p.lv, 0, mm, p.rs, p.lm)
		}
	}
	plane, nt := n*s*s, p.g.T
	// inputs transforms units [u0, u1) of channels [clo, chi) into v, staging in band.
	inputs := func(band, v []T, u0, u1, clo, chi int) {
		var im images[T]
		for ch := clo; ch < chi; ch++ {
			eachRun(u0, u1, nt, func(grp, ty0, ty1, col int) {
				groupImages(&im, in[ch*plane:], grp, n, s)
				inputRows(a, p.g, &im, ty0, ty1, band, v[ch*p.rs+col:], p.lv)
			})
		}
	}
	// outputs writes units [u0, u1) of channels [clo, chi) from mm.
	outputs := func(band, mm []T, u0, u1, clo, chi int) {
		var im images[T]
		for ch := clo; ch < chi; ch++ {
			var bv T
			if bias != nil {
				bv = bias[ch]
			}
			eachRun(u0, u1, nt, func(grp, ty0, ty1, col int) {
				groupImages(&im, out[ch*plane:], grp, n, s)
				outputRows(a, p.g, mm[ch*p.rs+col:], p.lm, ty0, ty1, band, bv, &im)
			})
		}
	}
	bandLen := a.alpha * p.bw * lanes
	if p.fused {
		par.For(p.chunks, p.units*(nIn+nOut)*p.ucols*p.pts*8, func(lo, hi int) {
			cs := c.getScratch()
			defer c.putScratch(cs)
			v, mm := cs.chunk(&p, c.reserved.vm)
			band := grow(&cs.band, bandLen, c.reserved.band)
			for k := lo; k < hi; k++ {
				u0, u1, cols := p.span(k)
				inputs(band, v, u0, u1, 0, nIn)
				products(true, cols, v, mm)
				outputs(band, mm, u0, u1, 0, nOut)
			}
		})
		return
	}
	v, mm := grow(&c.v, p.pts*p.lv, c.reserved.v), grow(&c.mm, p.pts*p.lm, c.reserved.mm)
	withBand := func(f func(band []T, lo, hi int)) func(lo, hi int) {
		return func(lo, hi int) {
			cs := c.getScratch()
			defer c.putScratch(cs)
			f(grow(&cs.band, bandLen, c.reserved.band), lo, hi)
		}
	}
	for k := 0; k < p.chunks; k++ {
		u0, u1, cols := p.span(k)
		par.For(nIn, nIn*cols*p.pts*8, withBand(func(band []T, lo, hi int) { inputs(band, v, u0, u1, lo, hi) }))
		products(false, cols, v, mm)
		par.For(nOut, nOut*cols*p.pts*4, withBand(func(band []T, lo, hi int) { outputs(band, mm, u0, u1, lo, hi) }))
	}
}

// GradTerm is one (output gradient, input) pair of a weight gradient: gout is
// [nOut][n][s][s], in is [nIn][n][s][s].
type GradTerm[T Float] struct{ Gout, In []T }

// WeightGrad adds to gw ([nOut][nIn][3][3]) the gradient, with respect to w, of the
// convolutions out = w * in summed over the terms, given each output gradient, by the
// adjoint of F(m x m, 3 x 3): the products Ubar = Mbar V^T of all terms are summed before
// the one weight transform back. The sums over tiles run in a fixed order of chunks fixed
// by the shape (see plan), so the result does not depend on the thread count.
func (c *Conv[T]) WeightGrad(m int, nOut, nIn, n, s int, gw []T, terms ...GradTerm[T]) {
	if len(terms) == 0 {
		return
	}
	var z T
	a, p := algoFor(m), newPlan(m, nOut, nIn, n, s, int(unsafe.Sizeof(z)), true)
	plane, nt := n*s*s, p.g.T
	lu := p.lu
	ubar := grow(&c.u, p.pts*lu, c.reserved.u)
	// transforms fills V and Mbar of units [u0, u1) of one term, channels [clo, chi) of the
	// nIn+nOut (inputs first), staging in band.
	transforms := func(band, v, mbar []T, term GradTerm[T], u0, u1, clo, chi int) {
		var im images[T]
		for ch := clo; ch < chi; ch++ {
			eachRun(u0, u1, nt, func(grp, ty0, ty1, col int) {
				if ch < nIn {
					groupImages(&im, term.In[ch*plane:], grp, n, s)
					inputRows(a, p.g, &im, ty0, ty1, band, v[ch*p.rs+col:], p.lv)
					return
				}
				o := ch - nIn
				groupImages(&im, term.Gout[o*plane:], grp, n, s)
				outputAdjointRows(a, p.g, &im, ty0, ty1, band, mbar[o*p.rs+col:], p.lm)
			})
		}
	}
	bandLen := a.alpha * p.bw * lanes
	if p.fused {
		// Part q sums its range of chunks, in order, into partial sum q; the partials are
		// then added in order. Part 0 sums straight into ubar, the others into part.
		parts := p.parts()
		part := grow(&c.part, (parts-1)*p.pts*lu, c.reserved.part)
		partOf := func(q int) []T {
			if q == 0 {
				return ubar
			}
			return part[(q-1)*p.pts*lu:]
		}
		par.For(parts, p.units*(nIn+nOut)*p.ucols*p.pts*8*len(terms), func(lo, hi int) {
			cs := c.getScratch()
			defer c.putScratch(cs)
			v, mbar := cs.chunk(&p, c.reserved.vm)
			band := grow(&cs.band, bandLen, c.reserved.band)
			for q := lo; q < hi; q++ {
				var beta T
				for k := q * p.chunks / parts; k < (q+1)*p.chunks/parts; k++ {
					u0, u1, cols := p.span(k)
					for _, term := range terms {
						transforms(band, v, mbar, term, u0, u1, 0, nIn+nOut)
						gemm.GemmBatchedSerial(p.pts, false, true, nOut, nIn, cols, 1, mbar, p.rs, p.lm, v, p.rs, p.lv, beta, partOf(q), nIn, lu)
						beta = 1
					}
				}
			}
		})
		size := p.pts * lu
		par.For(size, size*parts, func(lo, hi int) {
			dst := ubar[lo:hi]
			for k := 1; k < parts; k++ {
				src := part[(k-1)*size+lo : (k-1)*size+hi]
				for i, x := range src {
					dst[i] += x
				}
			}
		})
	} else {
		v, mbar := grow(&c.v, p.pts*p.lv, c.reserved.v), grow(&c.mm, p.pts*p.lm, c.reserved.mm)
		var beta T
		for k := 0; k < p.chunks; k++ {
			u0, u1, cols := p.span(k)
			for _, term := range terms {
				par.For(nIn+nOut, (nIn+nOut)*cols*p.pts*8, func(lo, hi int) {
					cs := c.getScratch()
					defer c.putScratch(cs)
					transforms(grow(&cs.band, bandLen, c.reserved.band), v, mbar, term, u0, u1, lo, hi)
				})
				gemm.GemmBatched(p.pts, false, true, nOut, nIn, cols, 1, mbar, p.rs, p.lm, v, p.rs, p.lv, beta, ubar, nIn, lu)
				beta = 1
			}
		}
	}
	// gbar[k][pair] = sum_xi kron[xi][k] Ubar[xi][pair] (the adjoint of the weight
	// transform), one product into scratch, then added to gw[pair][k].
	pairs := nOut * nIn
	kt := c.coeffsT(a.kron, p.pts)
	gt := grow(&c.v, 9*pairs, c.reserved.v)
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
	out := grow(&c.coef, len(k), 0)
	for i, v := range k {
		out[i] = T(v)
	}
	return out
}

// coeffsT returns kron as T, laid out for op(A) = kron^T (9 x pts) with transA: the same
// row-major alpha^2 x 9 storage.
func (c *Conv[T]) coeffsT(k []float64, pts int) []T { return c.coeffs(k[:pts*9]) }
