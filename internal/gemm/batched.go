package gemm

import "unsafe"

// GemmBatched computes count independent products C_i = alpha*op(A_i)*op(B_i) + beta*C_i,
// i < count, where A_i starts strideA elements after A_{i-1} (likewise B_i, C_i); every
// product has the shape and strides of one Gemm call. The Winograd convolutions run their
// 16 or 36 transformed products through it.
//
// float32 spreads the products, cut into column or row chunks, over Threads() goroutines,
// each chunk computed on one goroutine over the whole inner dimension: no product's depth
// is split, so every entry is summed in the same order whatever the thread count.
func GemmBatched[T Float](count int, transA, transB bool, m, n, k int, alpha T, a []T, lda, strideA int, b []T, ldb, strideB int, beta T, c []T, ldc, strideC int) {
	gemmBatched(Threads(), count, transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC)
}

// gemmBatched is GemmBatched on up to nt goroutines.
func gemmBatched[T Float](nt, count int, transA, transB bool, m, n, k int, alpha T, a []T, lda, strideA int, b []T, ldb, strideB int, beta T, c []T, ldc, strideC int) {
	if count <= 0 || m == 0 || n == 0 {
		return
	}
	at := func(s []T, i, stride int) []T { return s[i*stride:] }
	switch any(alpha).(type) {
	case float32:
		a32, b32, c32 := any(a).([]float32), any(b).([]float32), any(c).([]float32)
		for i := 0; i < count; i++ {
			checkArgs(transA, transB, m, n, k, len(a32)-i*strideA, lda, len(b32)-i*strideB, ldb, len(c32)-i*strideC, ldc)
		}
		if alpha == 0 || k == 0 {
			for i := 0; i < count; i++ {
				scaleC(m, n, float32(beta), c32[i*strideC:], ldc)
			}
			return
		}
		p := problem{transA: transA, transB: transB, m: m, n: n, k: k, alpha: float32(alpha),
			a: unsafe.SliceData(a32), lda: lda, b: unsafe.SliceData(b32), ldb: ldb,
			beta: float32(beta), c: unsafe.SliceData(c32), ldc: ldc}
		runBatched(currentKernel(), &p, count, strideA, strideB, strideC, nt)
	default:
		for i := 0; i < count; i++ {
			Gemm(transA, transB, m, n, k, alpha, at(a, i, strideA), lda, at(b, i, strideB), ldb, beta, at(c, i, strideC), ldc)
		}
	}
}

// GemmBatchedSerial is GemmBatched on the calling goroutine only, for callers that spread
// their own work over the cores.
func GemmBatchedSerial[T Float](count int, transA, transB bool, m, n, k int, alpha T, a []T, lda, strideA int, b []T, ldb, strideB int, beta T, c []T, ldc, strideC int) {
	gemmBatched(1, count, transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC)
}

// runBatched computes count products like p (the i-th with its matrices i strides further)
// on up to nt goroutines. Each product is cut by columns or rows into about
// chunksPerThread*nt/count chunks; chunks are handed out in order.
func runBatched(kern *kernel, p *problem, count, strideA, strideB, strideC, nt int) {
	work := p.m * p.n * p.k * count
	if nt > 1 && work < minParallelWork*nt {
		nt = max(1, work/minParallelWork)
	}
	item := func(i int) problem {
		q := *p
		q.b, q.c = add(p.b, i*strideB), add(p.c, i*strideC)
		if p.packed != nil {
			q.packed = add(p.packed, i*strideA)
		} else {
			q.a = add(p.a, i*strideA)
		}
		return q
	}
	if nt <= 1 {
		ws := kern.getWorkspace()
		for i := 0; i < count; i++ {
			q := item(i)
			serial(kern, ws, &q)
		}
		kern.putWorkspace(ws)
		return
	}
	// Chunks per product: enough that all of them make chunksPerThread per goroutine; a
	// column chunk re-packs A, a row chunk B, so neither is cut below its minimum width.
	want := (chunksPerThread*nt + count - 1) / count
	parts, byCols := []int{0, p.n}, true
	if cc, rc := min(want, p.n/minColChunk), min(want, p.m/minRowChunk); cc >= rc && cc > 1 {
		parts = evenParts(p.n, kern.nr, cc)
	} else if rc > 1 {
		parts, byCols = evenParts(p.m, kern.mr, rc), false
	}
	per := len(parts) - 1
	parallel(kern, nt, count*per, func(ws *workspace, _, u int) {
		q := item(u / per)
		lo, hi := parts[u%per], parts[u%per+1]
		if byCols {
			q = q.cols(lo, hi-lo)
		} else {
			q = q.rows(lo, hi-lo)
		}
		serial(kern, ws, &q)
	})
}

// Packing is how one kernel packs the A operand of a product: in panels of MR rows, each
// holding for every depth p the MR values of its rows at p (element (i, p) at
// (i/MR)*(MR*k) + p*MR + i%MR; rows past m zero). A matrix used by many products (the
// transformed weights of a Winograd convolution, shared by all its chunks) is packed once
// by Pack and multiplied by GemmBatched; results are bit for bit those of the ordinary
// GemmBatched, which packs A again for every product and column chunk.
type Packing struct {
	kern *kernel
	MR   int // rows per panel
}

// ActivePacking is the packing of the active kernel (isa.Active); a Packing stays valid
// for its own kernel if the level changes.
func ActivePacking() Packing { k := currentKernel(); return Packing{kern: k, MR: k.mr} }

// Len is the floats one packed m x k matrix takes: ceil(m/MR)*MR*k.
func (pk Packing) Len(m, k int) int { return (m + pk.MR - 1) / pk.MR * pk.MR * k }

// Pack rewrites in place count row-major m x k matrices (row stride k), the i-th starting
// i*stride floats into a, in the packed layout; each must have Len(m, k) floats of room.
func (pk Packing) Pack(count, m, k int, a []float32, stride int) {
	if count <= 0 || m == 0 || k == 0 {
		return
	}
	mr := pk.MR
	if l := pk.Len(m, k); stride < l || len(a) < (count-1)*stride+l {
		panic(shortA)
	}
	tmp := getScratch(mr * k)
	defer putScratch(tmp)
	for i := 0; i < count; i++ {
		for i0 := 0; i0 < m; i0 += mr {
			// The panel's rows are the floats it replaces (fewer for a last, partial one):
			// copied aside, then packed back by packA.
			at := a[i*stride+i0*k:]
			rows := min(mr, m-i0)
			copy(tmp.buf, at[:rows*k])
			src := problem{m: rows, k: k, alpha: 1, a: &tmp.buf[0], lda: k}
			packA(at[:mr*k], &src, 0, rows, 0, k, mr, pk.kern.vec)
		}
	}
}

// GemmBatched computes count products C_i = A_i*op(B_i) + beta*C_i like the package's
// GemmBatched (alpha 1, A not transposed), with A_i packed by Pack, strideA floats apart.
func (pk Packing) GemmBatched(count int, transB bool, m, n, k int, a []float32, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int) {
	pk.gemmBatched(Threads(), count, transB, m, n, k, a, strideA, b, ldb, strideB, beta, c, ldc, strideC)
}

// GemmBatchedSerial is GemmBatched on the calling goroutine only.
func (pk Packing) GemmBatchedSerial(count int, transB bool, m, n, k int, a []float32, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int) {
	pk.gemmBatched(1, count, transB, m, n, k, a, strideA, b, ldb, strideB, beta, c, ldc, strideC)
}

func (pk Packing) gemmBatched(nt, count int, transB bool, m, n, k int, a []float32, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int) {
	if count <= 0 || m == 0 || n == 0 {
		return
	}
	l := pk.Len(m, k)
	if strideA < l || len(a) < (count-1)*strideA+l {
		panic(shortA)
	}
	for i := 0; i < count; i++ {
		// A was checked above (its packed length); these check B and C.
		checkArgs(false, transB, m, n, k, m*max(1, k), max(1, k), len(b)-i*strideB, ldb, len(c)-i*strideC, ldc)
	}
	if k == 0 {
		for i := 0; i < count; i++ {
			scaleC(m, n, beta, c[i*strideC:], ldc)
		}
		return
	}
	p := problem{transB: transB, m: m, n: n, k: k, alpha: 1, b: unsafe.SliceData(b), ldb: ldb,
		beta: beta, c: unsafe.SliceData(c), ldc: ldc,
		packed: unsafe.SliceData(a), packMR: pk.MR, packStride: pk.MR * k}
	runBatched(pk.kern, &p, count, strideA, strideB, strideC, nt)
}
