package gemm

import "unsafe"

// SgemmConv3W accumulates the weight gradient of a 3x3 "same" convolution,
//
//	gw[co][c*9 + k] += alpha * sum_p gout[co][p] * B[c*9 + k][p],
//
// where B is the im2col matrix of in ([ch][n][s][s], see SgemmConv3) and gout is m x
// (n*s*s) (row stride n*s*s); gw has row stride ldgw. B is never materialised: its rows are
// packed straight from in. The product runs with the rows of B in shift-major order
// (k*ch + c), in which 8 consecutive rows are 8 channels under one shift, 8 input planes a
// fixed distance apart, so that the vector transpose used for any transposed operand packs
// them; the result is added to gw in gw's own order.
func SgemmConv3W(m int, alpha float32, gout []float32, in []float32, ch, n, s int, gw []float32, ldgw int) {
	src := newConv3Src(in, ch, n, s)
	k, cols := ch*9, src.cols
	// The product C' = gout * op(B'), op(B') = B'^T with B' the shift-major im2col matrix:
	// m x k, inner dimension cols.
	if !checkArgs(false, true, m, k, cols, len(gout), max(1, cols), -1, 0, len(gw), ldgw) {
		return
	}
	if alpha == 0 || cols == 0 {
		return
	}
	tmp := getScratch(m * k)
	p := problem{transB: true, m: m, n: k, k: cols, alpha: alpha, a: unsafe.SliceData(gout), lda: max(1, cols),
		conv: src, beta: 0, c: unsafe.SliceData(tmp.buf), ldc: k}
	run(currentKernel(), &p, Threads())
	for co := 0; co < m; co++ {
		row := tmp.buf[co*k : (co+1)*k]
		g := gw[co*ldgw : co*ldgw+k]
		for kk := 0; kk < 9; kk++ {
			for c := 0; c < ch; c++ {
				g[c*9+kk] += row[kk*ch+c]
			}
		}
	}
	putScratch(tmp)
}

// packConv3T is packB for SgemmConv3W: op(B)[p][r] = B'[r][p], B' the shift-major im2col
// matrix (row r = k*ch + c: channel c's plane shifted by k's offset). It packs rows
// [p0, p0+kb) (pixels) and columns [j0, j0+nb) (shift-major weights) into panels of nr
// columns. Groups of 8 columns that share a shift are transposed from the input by the
// vector helper; the rest (groups straddling two shifts, the ends of the batch) element by
// element. Pixels whose source lies outside their image are then zeroed, per shift.
func packConv3T(dst []float32, src *conv3Src, p0, kb, j0, nb, nr int, ws *workspace, vec bool) {
	s, cols, ch := src.s, src.cols, src.ch
	edge := ws.borders(p0, kb, s) // border pixels of this depth range, as depth indices
	kb8 := kb &^ 7
	for jr := 0; jr < nb; jr += nr {
		w := min(nr, nb-jr)
		panel := dst[jr*kb : jr*kb+nr*kb]
		for j := 0; j < w; {
			r := j0 + jr + j
			kk, c := r/ch, r%ch
			off := (kk/3-1)*s + kk%3 - 1
			lo, hi := p0+off, p0+kb+off
			if vec && j+8 <= w && c+8 <= ch && kb8 > 0 && lo >= 0 && hi <= cols {
				base := add(src.in, c*cols+lo)
				vecT8(&panel[j], nr, base, cols, kb8, 1)
				for i := 0; i < 8; i++ {
					plane := unsafe.Slice(add(base, i*cols), kb)
					for q := kb8; q < kb; q++ {
						panel[q*nr+j+i] = plane[q]
					}
				}
				zeroBorderRows(panel, nr, j, 8, kk, edge)
				j += 8
				continue
			}
			plane := unsafe.Slice(add(src.in, c*cols), cols)
			for q := 0; q < kb; q++ {
				v := float32(0)
				if i := lo + q; i >= 0 && i < cols {
					v = plane[i]
				}
				panel[q*nr+j] = v
			}
			zeroBorderRows(panel, nr, j, 1, kk, edge)
			j++
		}
		if w < nr {
			for q := 0; q < kb; q++ {
				clear(panel[q*nr+w : q*nr+nr])
			}
		}
	}
}

// zeroBorderRows zeroes, in a packed panel of row length nr, the entries [j, j+g) of the
// depth rows whose pixel the shift kk takes outside its image (the lists of ws.borders).
func zeroBorderRows(panel []float32, nr, j, g, kk int, e *[4][]int32) {
	xs, ys := shiftBorders(kk, e)
	for _, l := range [2][]int32{xs, ys} {
		for _, q := range l {
			clear(panel[int(q)*nr+j : int(q)*nr+j+g])
		}
	}
}
