package gemm

import (
	"mdsm/internal/isa"
	"mdsm/internal/par"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// kernel describes one micro-kernel and the cache blocking that suits it.
//
// fn computes the mr x nr tile  acc = Ap * Bp  over depth kc from packed panels
// (Ap: kc groups of mr floats, Bp: kc groups of nr floats) and writes it to C (row stride ldc,
// in elements): C = acc when load == 0, C = acc + beta*C otherwise.
type kernel struct {
	name       string
	mr, nr     int
	mc, kc, nc int // cache blocks: mc multiple of mr, nc multiple of nr
	fn         func(kc int, a, b, c *float32, ldc int, beta float32, load int)
	vec        bool // pack with the vector helpers vecCopy/vecT8
	free       freeList[*workspace]
}

var kernelGo = &kernel{name: "go", mr: 2, nr: 4, mc: 128, kc: 256, nc: 2048, fn: kernGo}

// byLevel is the micro-kernel of each instruction-set level this build has (the amd64 init
// fills in the assembly ones); a level without its own kernel runs the next lower one.
var byLevel = [...]*kernel{isa.Go: kernelGo, isa.AVX2: nil, isa.AVX512: nil}

// currentKernel is the kernel of the active level (isa.Active: the CPU's best, capped by
// MDSM_ISA or by a test's isa.Force).
func currentKernel() *kernel { return kernelAt(isa.Active()) }

// kernelAt is the kernel that runs at level l: its own, or the next lower level's.
func kernelAt(l isa.Level) *kernel {
	for ; l > isa.Go; l-- {
		if k := byLevel[l]; k != nil {
			return k
		}
	}
	return kernelGo
}

// KernelName reports which micro-kernel float32 Gemm runs on ("avx512", "avx2" or "go").
func KernelName() string { return currentKernel().name }

var threads atomic.Int64 // 0: GOMAXPROCS

// SetThreads sets how many goroutines one float32 Gemm call may use; n <= 0 restores the
// default, runtime.GOMAXPROCS(0) at call time.
func SetThreads(n int) {
	if n < 0 {
		n = 0
	}
	threads.Store(int64(n))
}

// Threads reports how many goroutines one float32 Gemm call may use.
func Threads() int {
	if t := int(threads.Load()); t > 0 {
		return t
	}
	return runtime.GOMAXPROCS(0)
}

const (
	badLdA = "gemm: bad lda"
	badLdB = "gemm: bad ldb"
	badLdC = "gemm: bad ldc"
	shortA = "gemm: insufficient length of a"
	shortB = "gemm: insufficient length of b"
	shortC = "gemm: insufficient length of c"
)

// sgemm is Gemm for float32: C = alpha*op(A)*op(B) + beta*C, row-major, with the BLAS
// argument checks of gonum (it panics on bad strides or short slices).
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc) {
		return
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	p := problem{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
		a: unsafe.SliceData(a), lda: lda, b: unsafe.SliceData(b), ldb: ldb,
		beta: beta, c: unsafe.SliceData(c), ldc: ldc}
	run(currentKernel(), &p, Threads())
}

// checkArgs applies the BLAS argument checks of gonum to C = op(A)*op(B), panicking on a
// negative dimension, a bad stride or a short slice, and reports whether C is not empty.
// lenB < 0 skips the checks of B (SgemmConv3's B is not a stored matrix).
func checkArgs(transA, transB bool, m, n, k, lenA, lda, lenB, ldb, lenC, ldc int) bool {
	if m < 0 || n < 0 || k < 0 {
		panic("gemm: negative dimension")
	}
	if transA {
		if lda < max(1, m) {
			panic(badLdA)
		}
	} else if lda < max(1, k) {
		panic(badLdA)
	}
	if lenB >= 0 {
		if transB {
			if ldb < max(1, k) {
				panic(badLdB)
			}
		} else if ldb < max(1, n) {
			panic(badLdB)
		}
	}
	if ldc < max(1, n) {
		panic(badLdC)
	}
	if m == 0 || n == 0 {
		return false
	}
	if transA {
		if lenA < (k-1)*lda+m {
			panic(shortA)
		}
	} else if lenA < (m-1)*lda+k {
		panic(shortA)
	}
	if lenB >= 0 {
		if transB {
			if lenB < (n-1)*ldb+k {
				panic(shortB)
			}
		} else if lenB < (k-1)*ldb+n {
			panic(shortB)
		}
	}
	if lenC < (m-1)*ldc+n {
		panic(shortC)
	}
	return true
}

func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// problem is one (sub-)multiplication with validated arguments; the matrices are addressed
// through raw pointers so that sub-problems can be cut without re-slicing.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        *float32
	lda, ldb, ldc  int
	// conv, when set, replaces b: op(B) is its implicit im2col matrix, and jb, pb are the
	// column and row of op(B) where this (sub-)problem starts.
	conv   *conv3Src
	jb, pb int
	// packed, when set, replaces a (alpha 1): A already packed by Packing.Pack for the
	// kernel, panels of packMR rows packStride floats apart, this (sub-)problem's first row
	// and depth at packed.
	packed             *float32
	packMR, packStride int
}

func add(p *float32, off int) *float32 {
	return (*float32)(unsafe.Add(unsafe.Pointer(p), uintptr(off)*4))
}

// cols returns the sub-problem computing columns [j0, j0+nb) of C.
func (p problem) cols(j0, nb int) problem {
	if p.conv != nil {
		p.jb += j0
	} else if p.transB {
		p.b = add(p.b, j0*p.ldb)
	} else {
		p.b = add(p.b, j0)
	}
	p.c = add(p.c, j0)
	p.n = nb
	return p
}

// rows returns the sub-problem computing rows [i0, i0+mb) of C (i0 a multiple of the
// kernel's mr).
func (p problem) rows(i0, mb int) problem {
	if p.packed != nil {
		p.packed = add(p.packed, i0/p.packMR*p.packStride)
	} else if p.transA {
		p.a = add(p.a, i0)
	} else {
		p.a = add(p.a, i0*p.lda)
	}
	p.c = add(p.c, i0*p.ldc)
	p.m = mb
	return p
}

// depth returns the sub-problem over the inner indices [p0, p0+kb).
func (p problem) depth(p0, kb int) problem {
	if p.packed != nil {
		p.packed = add(p.packed, p0*p.packMR)
	} else if p.transA {
		p.a = add(p.a, p0*p.lda)
	} else {
		p.a = add(p.a, p0)
	}
	if p.conv != nil {
		p.pb += p0
	} else if p.transB {
		p.b = add(p.b, p0)
	} else {
		p.b = add(p.b, p0*p.ldb)
	}
	p.k = kb
	return p
}

// maxInt is the largest int (the cost of an impossible split).
const maxInt = int(^uint(0) >> 1)

// minParallelWork is the m*n*k below which a call stays on one goroutine (spawning and the
// extra packing cost more than they save).
const minParallelWork = 1 << 18

// Minimum chunk extents for the parallel decompositions: a column chunk re-packs all of A, a
// row chunk all of B, so chunks must be wide enough to amortise that.
const (
	minColChunk     = 256
	minRowChunk     = 64
	minDepthChunk   = 512
	chunksPerThread = 4
)

// Depth split: the number of parts is a function of the shape alone, never of the thread
// count, so that the sums (and so training) are bit-for-bit the same on 1, 2 or 64 threads.
const (
	// maxDepthParts bounds the parts (and the m*n accumulators) of a depth-split product.
	maxDepthParts = 16
	// nominalThreads is the thread count the cost model assumes when it decides whether to
	// split the depth: a fixed number, so the decision does not follow GOMAXPROCS.
	nominalThreads = 4
)

// run computes p on up to nt goroutines. C is cut by columns or by rows, which leaves every
// entry's sum as it is; or, when C is small and the inner dimension long (weight gradients),
// the inner dimension is cut into parts whose products are summed into private accumulators
// and added to C in part order. Whether and how the depth is cut depends only on the shape
// (see depthParts), so the result never depends on nt. Chunks are handed out dynamically,
// several per goroutine, so a core busy with something else does not stall the whole call.
func run(kern *kernel, p *problem, nt int) {
	if parts := depthParts(kern, p); parts != nil {
		runDepth(kern, p, parts, nt)
		return
	}
	work := p.m * p.n * p.k
	if nt > 1 && work < minParallelWork*nt {
		nt = max(1, work/minParallelWork)
	}
	if nt <= 1 {
		ws := kern.getWorkspace()
		serial(kern, ws, p)
		kern.putWorkspace(ws)
		return
	}
	runParallel(kern, *p, nt)
}

// forceSplit overrides the choice of decomposition (tests and tuning only).
var forceSplit = splitAuto

const (
	splitAuto = iota
	splitCols
	splitRows
	splitDepth
)

// splitCosts returns the cost model of the three decompositions at nt goroutines, in
// packed/touched elements duplicated by the split: columns: every chunk packs all of A
// (m*k); rows: all of B (n*k); depth: a private m*n accumulator per part, read and written
// once per kc step and summed at the end (weighted 6, as measured on Zen 5: it ties with the
// column split at about that weight). An impossible split costs the maximum int.
func splitCosts(kern *kernel, p *problem, nt int) (colCost, rowCost, depCost int) {
	colCost, rowCost, depCost = maxInt, maxInt, maxInt
	if p.n >= 2*max(kern.nr, minColChunk/2) {
		colCost = p.m * p.k * chunkCount(p.n, kern.nr, nt, minColChunk)
	}
	if p.m >= 2*max(kern.mr, minRowChunk/2) {
		rowCost = p.n * p.k * chunkCount(p.m, kern.mr, nt, minRowChunk)
	}
	if p.k >= 2*minDepthChunk {
		depCost = 6 * p.m * p.n * nt
	}
	return colCost, rowCost, depCost
}

// depthParts returns the boundaries of the depth parts when p is to be computed by a depth
// split, else nil. The decision and the parts depend on the shape and the kernel only.
func depthParts(kern *kernel, p *problem) []int {
	switch forceSplit {
	case splitCols, splitRows:
		return nil
	case splitAuto:
		if p.m*p.n*p.k < 2*minParallelWork {
			return nil
		}
		col, row, dep := splitCosts(kern, p, nominalThreads)
		if dep >= col || dep >= row {
			return nil
		}
	}
	if p.k < 2*kern.kc {
		return nil
	}
	parts := evenParts(p.k, kern.kc, min(maxDepthParts, max(2, p.k/minDepthChunk)))
	if len(parts) < 3 {
		return nil
	}
	return parts
}

// runDepth computes p as the sum of the products over the depth parts (boundaries parts):
// part 0 goes straight into C (with p's beta), the others into private accumulators, which
// are then added to C in part order, so the result is the same for every nt.
func runDepth(kern *kernel, p *problem, parts []int, nt int) {
	np := len(parts) - 1
	mn := p.m * p.n
	acc := getScratch((np - 1) * mn)
	q := *p
	parallel(kern, nt, np, func(ws *workspace, _, i int) {
		sub := q.depth(parts[i], parts[i+1]-parts[i])
		if i > 0 {
			sub.c, sub.ldc = &acc.buf[(i-1)*mn], q.n
			sub.beta = 0
		}
		serial(kern, ws, &sub)
	})
	c := unsafe.Slice(p.c, (p.m-1)*p.ldc+p.n)
	for w := 1; w < np; w++ {
		part := acc.buf[(w-1)*mn : w*mn]
		for i := 0; i < p.m; i++ {
			addTo(c[i*p.ldc:i*p.ldc+p.n], part[i*p.n:(i+1)*p.n])
		}
	}
	putScratch(acc)
}

// runParallel is run's column or row split for nt > 1 (kept apart so that the serial path
// does not allocate).
func runParallel(kern *kernel, p problem, nt int) {
	colCost, rowCost, _ := splitCosts(kern, &p, nt)
	switch forceSplit {
	case splitCols:
		colCost, rowCost = 0, 1
	case splitRows:
		colCost, rowCost = 1, 0
	}
	switch {
	case colCost == maxInt && rowCost == maxInt:
		ws := kern.getWorkspace()
		serial(kern, ws, &p)
		kern.putWorkspace(ws)
	case colCost <= rowCost:
		parts := chunks(p.n, kern.nr, nt, minColChunk)
		parallel(kern, nt, len(parts)-1, func(ws *workspace, _, i int) {
			sub := p.cols(parts[i], parts[i+1]-parts[i])
			serial(kern, ws, &sub)
		})
	default:
		parts := chunks(p.m, kern.mr, nt, minRowChunk)
		parallel(kern, nt, len(parts)-1, func(ws *workspace, _, i int) {
			sub := p.rows(parts[i], parts[i+1]-parts[i])
			serial(kern, ws, &sub)
		})
	}
}

// parallel runs f(ws, worker, chunk) for every chunk in [0, n) on nt goroutines (the caller
// included), handing chunks out in order as goroutines become free.
func parallel(kern *kernel, nt, n int, f func(ws *workspace, worker, chunk int)) {
	var next atomic.Int64
	work := func(w int) {
		ws := kern.getWorkspace()
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				break
			}
			f(ws, w, i)
		}
		kern.putWorkspace(ws)
	}
	// The workers come from par's pool (its workers poll between loops, so a product that
	// follows a layer's loop does not wait for a sleeping thread, nor for a spinning one to
	// give up its core). par.For gives each worker index to one goroutine at a time.
	nt = min(nt, n)
	par.For(nt, par.MinWork, func(lo, hi int) {
		for w := lo; w < hi; w++ {
			work(w)
		}
	})
}

// evenParts cuts [0,n) into at most parts contiguous pieces of whole units (the last may be
// shorter), as even as possible; it returns the boundaries.
func evenParts(n, unit, parts int) []int {
	units := (n + unit - 1) / unit
	parts = max(1, min(parts, units))
	b := make([]int, 0, parts+1)
	for i := 0; i <= parts; i++ {
		b = append(b, min(n, (units*i/parts)*unit))
	}
	return b
}

func addTo(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// chunkCount is the number of chunks chunks(n, unit, nt, minSize) returns.
func chunkCount(n, unit, nt, minSize int) int {
	units := (n + unit - 1) / unit
	minUnits := max(1, (minSize+unit-1)/unit)
	c := min(chunksPerThread*nt, units/minUnits)
	return max(1, min(units, max(c, nt)))
}

// chunks cuts [0,n) into contiguous parts whose sizes are multiples of unit (except the last),
// about chunksPerThread per goroutine but none shorter than minSize where possible, as even as
// possible; it returns the boundaries.
func chunks(n, unit, nt, minSize int) []int {
	units := (n + unit - 1) / unit
	c := chunkCount(n, unit, nt, minSize)
	parts := make([]int, 0, c+1)
	parts = append(parts, 0)
	for t := 1; t <= c; t++ {
		parts = append(parts, min(n, units*t/c*unit))
	}
	return parts
}

// workspace holds one goroutine's packed blocks.
type workspace struct {
	a, b []float32 // packed A block (mc x kc), packed B block (kc x nc)
	tile []float32 // mr x nr scratch tile for edges
	raw  []float32
	edge [4][]int32 // border columns of a panel (packConv3)
}

// getWorkspace takes a workspace sized for kern from its free list, or makes one.
//
// Not a sync.Pool: a Pool may drop its items at any garbage collection (and, under the race
// detector, a quarter of all Puts at random), so a steady-state Gemm would now and then
// allocate megabytes; the free list keeps up to a few workspaces per CPU for the life of the
// process instead.
func (kern *kernel) getWorkspace() *workspace {
	if ws := kern.free.get(); ws != nil {
		return ws
	}
	na := kern.mc * kern.kc
	nb := kern.kc * kern.nc
	nt := kern.mr * kern.nr
	ws := &workspace{}
	// Lay the three buffers out 64-byte aligned in one allocation.
	r := func(x int) int { return (x + 15) &^ 15 }
	ws.raw = make([]float32, r(na)+r(nb)+r(nt)+16)
	off := int((64 - uintptr(unsafe.Pointer(&ws.raw[0]))%64) % 64 / 4)
	ws.a = ws.raw[off : off+na : off+na]
	off += r(na)
	ws.b = ws.raw[off : off+nb : off+nb]
	off += r(nb)
	ws.tile = ws.raw[off : off+nt : off+nt]
	return ws
}

// putWorkspace returns ws (made by kern.getWorkspace) to kern's free list.
func (kern *kernel) putWorkspace(ws *workspace) { kern.free.put(ws) }

// freeList is a bounded LIFO of reusable items, safe for concurrent use.
type freeList[T any] struct {
	mu    sync.Mutex
	items []T
}

// maxFree is how many items a free list keeps: enough for every goroutine of two concurrent
// threaded calls (the trainer and a sampler) on this machine.
func maxFree() int { return 2*runtime.GOMAXPROCS(0) + 2 }

func (f *freeList[T]) get() (x T) {
	f.mu.Lock()
	if n := len(f.items); n > 0 {
		x = f.items[n-1]
		var zero T
		f.items[n-1] = zero
		f.items = f.items[:n-1]
	}
	f.mu.Unlock()
	return x
}

func (f *freeList[T]) put(x T) {
	f.mu.Lock()
	if len(f.items) < maxFree() {
		f.items = append(f.items, x)
	}
	f.mu.Unlock()
}

type scratch struct{ buf []float32 }

var scratchFree freeList[*scratch]

// getScratch returns a buffer of n floats (contents undefined) from the free list.
func getScratch(n int) *scratch {
	s := scratchFree.get()
	if s == nil || cap(s.buf) < n {
		return &scratch{buf: make([]float32, n)}
	}
	s.buf = s.buf[:n]
	return s
}

func putScratch(s *scratch) { scratchFree.put(s) }

// blocks returns the step that cuts n into ceil(n/max) near-equal blocks, rounded up to a
// multiple of unit (so only the last block is short).
func blocks(n, maxBlock, unit int) int {
	nb := (n + maxBlock - 1) / maxBlock
	step := (n + nb - 1) / nb
	return min(maxBlock, (step+unit-1)/unit*unit)
}

// serial runs the blocked algorithm on the calling goroutine:
//
//	for each nc-wide column block of C
//	  for each kc-deep slice of the inner dimension: pack B(kc x nc)
//	    for each mc-high row block: pack alpha*A(mc x kc)
//	      for each nr-wide B panel, for each mr-high A panel: micro-kernel
//
// Block sizes are evened out (k = 576 runs as 3 x 192, not 256+256+64).
func serial(kern *kernel, ws *workspace, p *problem) {
	mr, nr := kern.mr, kern.nr
	ncs := blocks(p.n, kern.nc, nr)
	kcs := blocks(p.k, kern.kc, 1)
	mcs := blocks(p.m, kern.mc, mr)
	for jc := 0; jc < p.n; jc += ncs {
		nb := min(ncs, p.n-jc)
		for pc := 0; pc < p.k; pc += kcs {
			kb := min(kcs, p.k-pc)
			switch {
			case p.conv != nil && p.transB:
				packConv3T(ws.b, p.conv, p.pb+pc, kb, p.jb+jc, nb, nr, ws, kern.vec)
			case p.conv != nil:
				packConv3(ws.b, p.conv, p.pb+pc, kb, p.jb+jc, nb, nr, ws, kern.vec)
			default:
				packB(ws.b, p, pc, kb, jc, nb, nr, kern.vec)
			}
			beta, load := p.beta, 1
			if pc > 0 {
				beta = 1
			} else if beta == 0 {
				load = 0
			}
			for ic := 0; ic < p.m; ic += mcs {
				mb := min(mcs, p.m-ic)
				a, aStride := &ws.a[0], kb*mr
				if p.packed != nil {
					a, aStride = add(p.packed, ic/mr*p.packStride+pc*mr), p.packStride
				} else {
					packA(ws.a, p, ic, mb, pc, kb, mr, kern.vec)
				}
				macro(kern, ws, p, a, aStride, ic, mb, jc, nb, kb, beta, load)
			}
		}
	}
}

// macro multiplies the packed mb x kb block of A (panels aStride floats apart from a) by
// the packed kb x nb block of B into C[ic:ic+mb, jc:jc+nb].
func macro(kern *kernel, ws *workspace, p *problem, a *float32, aStride, ic, mb, jc, nb, kb int, beta float32, load int) {
	mr, nr := kern.mr, kern.nr
	fn := kern.fn
	ldc := p.ldc
	tile := &ws.tile[0]
	for jr := 0; jr < nb; jr += nr {
		bp := &ws.b[jr*kb]
		nw := min(nr, nb-jr)
		for ir := 0; ir < mb; ir += mr {
			ap := add(a, ir/mr*aStride)
			mh := min(mr, mb-ir)
			cp := add(p.c, (ic+ir)*ldc+jc+jr)
			if mh == mr && nw == nr {
				fn(kb, ap, bp, cp, ldc, beta, load)
				continue
			}
			fn(kb, ap, bp, tile, nr, 0, 0)
			t := ws.tile
			for i := 0; i < mh; i++ {
				crow := unsafe.Slice(add(cp, i*ldc), nw)
				trow := t[i*nr : i*nr+nw]
				if load == 0 {
					copy(crow, trow)
				} else {
					for j, v := range trow {
						crow[j] = v + beta*crow[j]
					}
				}
			}
		}
	}
}
