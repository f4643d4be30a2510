package gemm

import "unsafe"

// conv3Src describes, without materialising it, the im2col matrix of a 3x3 "same"
// convolution over a channel-major tensor in [ch][n][s][s]:
//
//	B[(c*9 + ky*3 + kx)][(b*s + y)*s + x] = in[c][b][y+ky-1][x+kx-1]  (0 outside the image)
//
// B has ch*9 rows and n*s*s columns. packB reads it straight from in ("implicit
// im2col"), so a convolution costs one pass over its input instead of an im2col pass that
// writes a (ch*9) x (n*s*s) matrix and a packing pass that reads it back.
type conv3Src struct {
	in       *float32
	ch, n, s int
	cols     int // n*s*s, the length of one channel plane
}

// SgemmConv3 computes C = alpha*A*B + beta*C where A is m x (ch*9) (row stride lda) and B is
// the im2col matrix of a 3x3 "same" convolution over in, a channel-major [ch][n][s][s]
// tensor (see nn's im2col3 for the layout); C is m x (n*s*s). B is never materialised.
// It panics on a short slice or bad stride, like Gemm.
func SgemmConv3(m int, alpha float32, a []float32, lda int, in []float32, ch, n, s int, beta float32, c []float32, ldc int) {
	src := newConv3Src(in, ch, n, s)
	k, cols := ch*9, src.cols
	if !checkArgs(false, false, m, cols, k, len(a), lda, -1, 0, len(c), ldc) {
		return
	}
	if alpha == 0 || k == 0 {
		scaleC(m, cols, beta, c, ldc)
		return
	}
	p := problem{m: m, n: cols, k: k, alpha: alpha, a: unsafe.SliceData(a), lda: lda,
		conv: src, beta: beta, c: unsafe.SliceData(c), ldc: ldc}
	run(currentKernel(), &p, Threads())
}

// newConv3Src checks the input of an implicit im2col matrix ([ch][n][s][s], panicking on a
// negative dimension or a short slice, like Gemm) and describes it.
func newConv3Src(in []float32, ch, n, s int) *conv3Src {
	if ch < 0 || n < 0 || s < 0 {
		panic("gemm: negative dimension")
	}
	cols := n * s * s
	if len(in) < ch*cols {
		panic(shortB)
	}
	return &conv3Src{in: unsafe.SliceData(in), ch: ch, n: n, s: s, cols: cols}
}

// packConv3 is packB for an implicit im2col matrix: it packs B[p0:p0+kb, j0:j0+nb] into dst
// as ceil(nb/nr) panels of kb rows of nr values (columns past nb zero).
//
// Row r of B is channel r/9's plane shifted by off = dy*s + dx, so each row of a panel is
// one contiguous copy from the plane; afterwards the entries whose source pixel lies
// outside its image are zeroed. Those depend only on the column (x = 0 or s-1, y = 0 or
// s-1) and the shift, so they are listed once per panel.
func packConv3(dst []float32, src *conv3Src, p0, kb, j0, nb, nr int, ws *workspace, vec bool) {
	s, cols := src.s, src.cols
	for jr := 0; jr < nb; jr += nr {
		w := min(nr, nb-jr)
		g0 := j0 + jr
		panel := dst[jr*kb : jr*kb+nr*kb]
		edge := ws.borders(g0, w, s) // border columns of this panel
		full := vec && w == nr && nr%8 == 0
		for q := 0; q < kb; {
			r := p0 + q
			c, kk := r/9, r%9
			off := (kk/3-1)*s + kk%3 - 1
			lo, hi := g0+off, g0+off+w
			// The three rows kx = 0, 1, 2 of one (c, ky) read runs one float apart: one
			// vector copy packs them when the panel is full and inside the plane.
			if full && kk%3 == 0 && q+3 <= kb && lo >= 0 && hi+2 <= cols {
				vecCopy(&panel[q*nr], add(src.in, c*cols+lo), 1, 3, nr/8)
				for i := 0; i < 3; i++ {
					zeroBorders(panel[(q+i)*nr:(q+i+1)*nr], kk+i, edge)
				}
				q += 3
				continue
			}
			d := panel[q*nr : q*nr+nr]
			plane := unsafe.Slice(add(src.in, c*cols), cols)
			if lo >= 0 && hi <= cols {
				copy(d[:w], plane[lo:hi])
			} else {
				// The first or last image of the batch: part of the shifted run lies outside
				// the plane (those entries are padding and are zeroed below anyway).
				for j := 0; j < w; j++ {
					if i := lo + j; i >= 0 && i < cols {
						d[j] = plane[i]
					} else {
						d[j] = 0
					}
				}
			}
			if w < nr {
				clear(d[w:])
			}
			zeroBorders(d, kk, edge)
			q++
		}
	}
}

// borders lists which of count consecutive pixels, from flat index g0 of a stack of s x s
// images, lie on an image border, as indices relative to g0: edge[0] x == 0, edge[1]
// x == s-1, edge[2] y == 0, edge[3] y == s-1. The lists live in ws.
func (ws *workspace) borders(g0, count, s int) *[4][]int32 {
	e := &ws.edge
	for i := range e {
		e[i] = e[i][:0]
	}
	rem := g0 % (s * s)
	y, x := rem/s, rem%s
	for j := 0; j < count; j++ {
		if x == 0 {
			e[0] = append(e[0], int32(j))
		}
		if x == s-1 {
			e[1] = append(e[1], int32(j))
		}
		if y == 0 {
			e[2] = append(e[2], int32(j))
		}
		if y == s-1 {
			e[3] = append(e[3], int32(j))
		}
		if x++; x == s {
			x = 0
			if y++; y == s {
				y = 0
			}
		}
	}
	return e
}

// shiftBorders returns the border lists whose pixels the shift kk (ky*3 + kx) takes outside
// their image: xs for the column (kx = 0 leaves at x == 0, kx = 2 at x == s-1), ys for the
// row; nil where the shift stays inside.
func shiftBorders(kk int, e *[4][]int32) (xs, ys []int32) {
	switch kk % 3 {
	case 0:
		xs = e[0]
	case 2:
		xs = e[1]
	}
	switch kk / 3 {
	case 0:
		ys = e[2]
	case 2:
		ys = e[3]
	}
	return xs, ys
}

// zeroBorders zeroes the entries of one packed row of shift kk whose source pixel lies
// outside its image.
func zeroBorders(d []float32, kk int, e *[4][]int32) {
	xs, ys := shiftBorders(kk, e)
	for _, j := range xs {
		d[j] = 0
	}
	for _, j := range ys {
		d[j] = 0
	}
}
