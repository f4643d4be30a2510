package gemm

import (
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
}

var (
	kernelGo = &kernel{name: "go", mr: 2, nr: 4, mc: 128, kc: 256, nc: 2048, fn: kernGo}
	// best is the fastest kernel this CPU supports (set by the per-arch init).
	best = kernelGo
	// active is the kernel float32 Gemm uses; tests switch it with setKernel.
	active atomic.Pointer[kernel]
)

func init() { active.Store(best) }

func currentKernel() *kernel { return active.Load() }

// setKernel selects the micro-kernel by name ("go", "avx2", "avx512", or "" for the best
// available one) and returns a function restoring the previous choice. For tests and benchmarks.
func setKernel(name string) (restore func(), ok bool) {
	var k *kernel
	switch name {
	case "":
		k = best
	default:
		for _, c := range kernels() {
			if c.name == name {
				k = c
			}
		}
	}
	if k == nil {
		return func() {}, false
	}
	old := active.Swap(k)
	return func() { active.Store(old) }, true
}

// kernels lists the kernels usable on this CPU, the pure-Go one first.
func kernels() []*kernel { return append([]*kernel{kernelGo}, archKernels...) }

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

// rows returns the sub-problem computing rows [i0, i0+mb) of C.
func (p problem) rows(i0, mb int) problem {
	if p.transA {
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
	if p.transA {
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

// run computes p on up to nt goroutines. C is cut by columns, by rows, or (when C is small and
// the inner dimension long, as for weight gradients) the inner dimension is cut and each
// goroutine sums its chunks into a private accumulator, added to C at the end; the choice
// minimises the duplicated packing work. Chunks are handed out dynamically, several per
// goroutine, so a core busy with something else does not stall the whole call.
func run(kern *kernel, p *problem, nt int) {
	work := p.m * p.n * p.k
	if nt > 1 && work < minParallelWork*nt {
		nt = max(1, work/minParallelWork)
	}
	if nt <= 1 {
		ws := getWorkspace(kern)
		serial(kern, ws, p)
		wsPool.Put(ws)
		return
	}
	runParallel(kern, *p, nt)
}

// forceSplit overrides the choice of parallel decomposition (tests and tuning only).
var forceSplit = splitAuto

const (
	splitAuto = iota
	splitCols
	splitRows
	splitDepth
)

// runParallel is run for nt > 1 (kept apart so that the serial path does not allocate).
func runParallel(kern *kernel, p problem, nt int) {
	// Cost model, in packed/touched elements duplicated by the split: columns: every chunk
	// packs all of A (m*k); rows: all of B (n*k); depth: a private m*n accumulator per
	// goroutine, read and written once per kc step and summed at the end (weighted 6, as
	// measured on Zen 5: it ties with the column split at about that weight).
	const inf = int(^uint(0) >> 1)
	colCost, rowCost, depCost := inf, inf, inf
	if p.n >= 2*max(kern.nr, minColChunk/2) {
		colCost = p.m * p.k * chunkCount(p.n, kern.nr, nt, minColChunk)
	}
	if p.m >= 2*max(kern.mr, minRowChunk/2) {
		rowCost = p.n * p.k * chunkCount(p.m, kern.mr, nt, minRowChunk)
	}
	if p.k >= 2*minDepthChunk {
		depCost = 6 * p.m * p.n * nt
	}
	switch forceSplit {
	case splitCols:
		colCost, rowCost, depCost = 0, inf, inf
	case splitRows:
		colCost, rowCost, depCost = inf, 0, inf
	case splitDepth:
		colCost, rowCost, depCost = inf, inf, 0
	}
	switch {
	case colCost == inf && rowCost == inf && depCost == inf:
		ws := getWorkspace(kern)
		serial(kern, ws, &p)
		wsPool.Put(ws)
	case colCost <= rowCost && colCost <= depCost:
		parts := chunks(p.n, kern.nr, nt, minColChunk)
		parallel(kern, nt, len(parts)-1, func(ws *workspace, _, i int) {
			sub := p.cols(parts[i], parts[i+1]-parts[i])
			serial(kern, ws, &sub)
		})
	case rowCost <= depCost:
		parts := chunks(p.m, kern.mr, nt, minRowChunk)
		parallel(kern, nt, len(parts)-1, func(ws *workspace, _, i int) {
			sub := p.rows(parts[i], parts[i+1]-parts[i])
			serial(kern, ws, &sub)
		})
	default:
		// The depth split sums partial products, so its result depends on how the depth is cut
		// and in which order the parts are added. Both are fixed here (one contiguous part per
		// goroutine, added in part order) so that a training step is bit-for-bit repeatable:
		// a resumed run reproduces an uninterrupted one exactly.
		parts := evenParts(p.k, kern.kc, nt)
		nt = len(parts) - 1
		mn := p.m * p.n
		acc := getScratch((nt - 1) * mn)
		var wg sync.WaitGroup
		for w := 0; w < nt; w++ {
			sub := p.depth(parts[w], parts[w+1]-parts[w])
			if w > 0 {
				sub.c, sub.ldc = &acc.buf[(w-1)*mn], p.n
				sub.beta = 0
			}
			run := func() {
				ws := getWorkspace(kern)
				serial(kern, ws, &sub)
				wsPool.Put(ws)
			}
			if w == nt-1 {
				run()
			} else {
				wg.Go(run)
			}
		}
		wg.Wait()
		c := unsafe.Slice(p.c, (p.m-1)*p.ldc+p.n)
		for w := 1; w < nt; w++ {
			part := acc.buf[(w-1)*mn : w*mn]
			for i := 0; i < p.m; i++ {
				addTo(c[i*p.ldc:i*p.ldc+p.n], part[i*p.n:(i+1)*p.n])
			}
		}
		putScratch(acc)
	}
}

// parallel runs f(ws, worker, chunk) for every chunk in [0, n) on nt goroutines (the caller
// included), handing chunks out in order as goroutines become free.
func parallel(kern *kernel, nt, n int, f func(ws *workspace, worker, chunk int)) {
	var next atomic.Int64
	work := func(w int) {
		ws := getWorkspace(kern)
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				break
			}
			f(ws, w, i)
		}
		wsPool.Put(ws)
	}
	nt = min(nt, n)
	var wg sync.WaitGroup
	for w := 1; w < nt; w++ {
		wg.Go(func() { work(w) })
	}
	work(0)
	wg.Wait()
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

var wsPool sync.Pool

func getWorkspace(kern *kernel) *workspace {
	na := kern.mc * kern.kc
	nb := kern.kc * kern.nc
	nt := kern.mr * kern.nr
	ws, _ := wsPool.Get().(*workspace)
	if ws == nil || cap(ws.a) < na || cap(ws.b) < nb || cap(ws.tile) < nt {
		ws = &workspace{}
		// Lay the three buffers out 64-byte aligned in one allocation.
		r := func(x int) int { return (x + 15) &^ 15 }
		ws.raw = make([]float32, r(na)+r(nb)+r(nt)+16)
		off := int((64 - uintptr(unsafe.Pointer(&ws.raw[0]))%64) % 64 / 4)
		ws.a = ws.raw[off : off+na : off+na]
		off += r(na)
		ws.b = ws.raw[off : off+nb : off+nb]
		off += r(nb)
		ws.tile = ws.raw[off : off+nt : off+nt]
	}
	return ws
}

type scratch struct{ buf []float32 }

var scratchPool sync.Pool

func getScratch(n int) *scratch {
	s, _ := scratchPool.Get().(*scratch)
	if s == nil || cap(s.buf) < n {
		return &scratch{buf: make([]float32, n)}
	}
	s.buf = s.buf[:n]
	return s
}

func putScratch(s *scratch) { scratchPool.Put(s) }

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
				packConv3T(ws.b, p.conv, p.pb+pc, kb, p.jb+jc, nb, nr, ws)
			case p.conv != nil:
				packConv3(ws.b, p.conv, p.pb+pc, kb, p.jb+jc, nb, nr, ws)
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
				packA(ws.a, p, ic, mb, pc, kb, mr, kern.vec)
				macro(kern, ws, p, ic, mb, jc, nb, kb, beta, load)
			}
		}
	}
}

// macro multiplies the packed mb x kb block of A by the packed kb x nb block of B into
// C[ic:ic+mb, jc:jc+nb].
func macro(kern *kernel, ws *workspace, p *problem, ic, mb, jc, nb, kb int, beta float32, load int) {
	mr, nr := kern.mr, kern.nr
	fn := kern.fn
	ldc := p.ldc
	tile := &ws.tile[0]
	for jr := 0; jr < nb; jr += nr {
		bp := &ws.b[jr*kb]
		nw := min(nr, nb-jr)
		for ir := 0; ir < mb; ir += mr {
			ap := &ws.a[ir*kb]
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
