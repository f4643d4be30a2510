package gemm

import "unsafe"

// Vector packing helpers, set by the amd64 init when AVX2 is available; kernels with vec set
// use them for whole 8-wide groups and fall back to the scalar loops below for the rest.
var (
	// vecCopy copies rows rows of nv*8 floats (source rows lds apart) to consecutive rows of dst.
	vecCopy func(dst, src *float32, lds, rows, nv int)
	// vecT8 sets dst[q*lddst+r] = alpha*src[r*lds+q] for r < 8, q < cols (a multiple of 8).
	vecT8 func(dst *float32, lddst int, src *float32, lds, cols int, alpha float32)
	// vecT4 sets dst[q*4+r] = alpha*src[r*lds+q] for r < 4, q < cols (a multiple of 8): a
	// panel of an mr = 4 kernel.
	vecT4 func(dst *float32, src *float32, lds, cols int, alpha float32)
)

// packA packs alpha*op(A)[ic:ic+mb, pc:pc+kb] into dst as ceil(mb/mr) panels; panel q holds,
// for each p in [0,kb), the mr values op(A)[ic+q*mr+i, pc+p], i in [0,mr), rows past mb zero.
func packA(dst []float32, p *problem, ic, mb, pc, kb, mr int, vec bool) {
	alpha := p.alpha
	lda := p.lda
	for ir := 0; ir < mb; ir += mr {
		mh := min(mr, mb-ir)
		panel := dst[ir*kb : ir*kb+mr*kb]
		if !p.transA {
			// op(A)[i,p] = a[i*lda+p]: rows are contiguous in p.
			// Whole groups of 8 rows (mr a multiple of 8) or a full panel of 4 rows (the
			// AVX2 kernel) are transposed by the vector helpers, the depth past the last
			// multiple of 8 element by element.
			i := 0
			if vec && kb >= 8 {
				kb8 := kb &^ 7
				tail := func(r0, r1 int) {
					for r := r0; r < r1; r++ {
						src := unsafe.Slice(add(p.a, (ic+ir+r)*lda+pc), kb)
						for q := kb8; q < kb; q++ {
							panel[q*mr+r] = alpha * src[q]
						}
					}
				}
				switch {
				case mr == 4 && mh == 4:
					vecT4(&panel[0], add(p.a, (ic+ir)*lda+pc), lda, kb8, alpha)
					tail(0, 4)
					i = 4
				case mr%8 == 0:
					for ; i+8 <= mh; i += 8 {
						vecT8(&panel[i], mr, add(p.a, (ic+ir+i)*lda+pc), lda, kb8, alpha)
						tail(i, i+8)
					}
				}
			}
			for ; i < mh; i++ {
				src := unsafe.Slice(add(p.a, (ic+ir+i)*lda+pc), kb)
				d := panel[i:]
				if alpha == 1 {
					for q, v := range src {
						d[q*mr] = v
					}
				} else {
					for q, v := range src {
						d[q*mr] = alpha * v
					}
				}
			}
		} else {
			// op(A)[i,p] = a[p*lda+i]: each depth step is a contiguous run of mh values.
			for q := 0; q < kb; q++ {
				src := unsafe.Slice(add(p.a, (pc+q)*lda+ic+ir), mh)
				d := panel[q*mr : q*mr+mh]
				if alpha == 1 {
					copy(d, src)
				} else {
					for i, v := range src {
						d[i] = alpha * v
					}
				}
			}
		}
		if mh < mr {
			for q := 0; q < kb; q++ {
				clear(panel[q*mr+mh : q*mr+mr])
			}
		}
	}
}

// packB packs op(B)[pc:pc+kb, jc:jc+nb] into dst as ceil(nb/nr) panels; panel q holds, for
// each p in [0,kb), the nr values op(B)[pc+p, jc+q*nr+j], j in [0,nr), columns past nb zero.
func packB(dst []float32, p *problem, pc, kb, jc, nb, nr int, vec bool) {
	ldb := p.ldb
	if !p.transB {
		// op(B)[p,j] = b[p*ldb+j]: each depth step of a panel is a contiguous run of nr values.
		jr := 0
		if vec && nr%8 == 0 {
			for ; jr+nr <= nb; jr += nr {
				vecCopy(&dst[jr*kb], add(p.b, pc*ldb+jc+jr), ldb, kb, nr/8)
			}
		}
		for q := 0; q < kb; q++ {
			src := unsafe.Slice(add(p.b, (pc+q)*ldb+jc), nb)
			j := jr
			for ; j+nr <= nb; j += nr {
				off := j*kb + q*nr
				copy(dst[off:off+nr], src[j:j+nr])
			}
			if j < nb {
				off := j*kb + q*nr
				d := dst[off : off+nr]
				n := copy(d, src[j:])
				clear(d[n:])
			}
		}
		return
	}
	// op(B)[p,j] = b[j*ldb+p]: column j of op(B) is contiguous in p.
	for jr := 0; jr < nb; jr += nr {
		nw := min(nr, nb-jr)
		panel := dst[jr*kb : jr*kb+nr*kb]
		j := 0
		if vec && kb >= 8 {
			kb8 := kb &^ 7
			for ; j+8 <= nw; j += 8 {
				vecT8(&panel[j], nr, add(p.b, (jc+jr+j)*ldb+pc), ldb, kb8, 1)
				for c := j; c < j+8; c++ {
					src := unsafe.Slice(add(p.b, (jc+jr+c)*ldb+pc), kb)
					for q := kb8; q < kb; q++ {
						panel[q*nr+c] = src[q]
					}
				}
			}
		}
		for ; j < nw; j++ {
			src := unsafe.Slice(add(p.b, (jc+jr+j)*ldb+pc), kb)
			d := panel[j:]
			for q, v := range src {
				d[q*nr] = v
			}
		}
		if nw < nr {
			for q := 0; q < kb; q++ {
				clear(panel[q*nr+nw : q*nr+nr])
			}
		}
	}
}
