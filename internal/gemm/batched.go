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
		q.a, q.b, q.c = add(p.a, i*strideA), add(p.b, i*strideB), add(p.c, i*strideC)
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
