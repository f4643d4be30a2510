package winograd

import (
	"unsafe"

	"mdsm/internal/gemm"
	"mdsm/internal/par"
)

// chunkBytes bounds the transformed input and products held at once: a convolution runs
// over its tile rows in chunks whose V and M together stay under it (a variable for tests).
var chunkBytes = 4 << 20

// Conv runs Winograd convolutions and keeps their scratch (the transformed weights and one
// chunk of transformed inputs and products) between calls. Not safe for concurrent use.
type Conv[T Float] struct {
	u, v, mm []T
}

// grow returns s resized to n elements, reallocating only when it is too short.
func grow[T Float](s *[]T, n int) []T {
	if cap(*s) < n {
		*s = make([]T, n)
	}
	*s = (*s)[:n]
	return *s
}

// planeStride returns the stride between the alpha^2 transformed planes of n floats: n
// rounded up to an odd multiple of 16 floats (64 bytes). The transforms write one value to
// every plane in turn; planes a multiple of 4 KiB apart would all map to the same L1 cache
// set and evict each other (measured: 3x slower transforms at batch 64 on 7x7 images).
func planeStride(n int) int { return (n+15)/32*32 + 16 }

// Scratch returns the scratch floats (transformed weights, inputs and products) a Conv
// holds after a convolution from nIn to nOut channels of n images of side s with tile m:
// Forward, its adjoint (nIn and nOut swapped) and WeightGrad need the same. A Conv keeps
// each of the three buffers at the largest size any call needed.
func Scratch(m, nOut, nIn, n, s, elemBytes int) (u, v, mm int) {
	g := NewGeom(m, s, n)
	pts := g.Points()
	ipc := chunkImagesBytes(g, nIn+nOut, elemBytes)
	pc := ipc * g.T * g.T
	return pts * planeStride(nOut*nIn), pts * planeStride(nIn*pc), pts * planeStride(nOut*pc)
}

// chunkImages is how many images a chunk holds: as many as fit chunkBytes with ch channels
// transformed (ch = input plus output channels), at least one.
func chunkImages[T Float](g Geom, ch int) int {
	var z T
	return chunkImagesBytes(g, ch, int(unsafe.Sizeof(z)))
}

func chunkImagesBytes(g Geom, ch, elemBytes int) int {
	perImage := g.Points() * ch * g.T * g.T * elemBytes
	return max(1, min(g.N, chunkBytes/perImage))
}

// Forward computes the 3x3 "same" correlation out = w * in (+ bias) of n images of side s
// by F(m x m, 3 x 3): in is [nIn][n][s][s], out [nOut][n][s][s], bias nil or [nOut]. The
// kernel is w[o][i] of w = [nOut][nIn][3][3]; with adjoint it is w[i][o] rotated by 180
// degrees, w = [nIn][nOut][3][3]: out is then the data adjoint (input gradient) of w's
// convolution, in its output gradient.
func (c *Conv[T]) Forward(m int, w []T, nOut, nIn int, adjoint bool, in []T, n, s int, bias, out []T) {
	a, g := algoFor(m), NewGeom(m, s, n)
	pts, nt, plane := g.Points(), g.T, n*s*s
	lu := planeStride(nOut * nIn)
	u := grow(&c.u, pts*lu)
	par.For(nOut, pts*nOut*nIn*8, func(lo, hi int) { weightsRange(a, u, w, lu, nOut, nIn, lo, hi, adjoint) })
	t2, img := nt*nt, s*s
	ipc := chunkImages[T](g, nIn+nOut)
	for b0 := 0; b0 < n; b0 += ipc {
		nb := min(ipc, n-b0)
		pc := nb * t2
		lv, lm := planeStride(nIn*pc), planeStride(nOut*pc)
		v := grow(&c.v, pts*lv)
		mm := grow(&c.mm, pts*lm)
		par.For(nIn*nb, nIn*pc*pts*8, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				ch, b := j/nb, j%nb
				src := in[ch*plane+(b0+b)*img:]
				inputImage(a, g, src[:img], v[ch*pc+b*t2:], lv)
			}
		})
		gemm.GemmBatched(pts, false, false, nOut, pc, nIn, 1, u, nIn, lu, v, pc, lv, 0, mm, pc, lm)
		par.For(nOut*nb, nOut*pc*pts*4, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				ch, b := j/nb, j%nb
				var bv T
				if bias != nil {
					bv = bias[ch]
				}
				dst := out[ch*plane+(b0+b)*img:]
				outputImage(a, g, mm[ch*pc+b*t2:], lm, dst[:img], bv)
			}
		})
	}
}

// GradTerm is one (output gradient, input) pair of a weight gradient: gout is
// [nOut][n][s][s], in is [nIn][n][s][s].
type GradTerm[T Float] struct{ Gout, In []T }

// WeightGrad adds to gw ([nOut][nIn][3][3]) the gradient, with respect to w, of the
// convolutions out = w * in summed over the terms, given each output gradient, by the
// adjoint of F(m x m, 3 x 3): the products Ubar = Mbar V^T of all terms are summed before
// the one weight transform back. Chunks of images (and the terms within a chunk) are summed
// in order and every product runs over a whole chunk on one goroutine, so the result does
// not depend on the thread count.
func (c *Conv[T]) WeightGrad(m int, nOut, nIn, n, s int, gw []T, terms ...GradTerm[T]) {
	a, g := algoFor(m), NewGeom(m, s, n)
	pts, nt, plane := g.Points(), g.T, n*s*s
	lu := planeStride(nOut * nIn)
	ubar := grow(&c.u, pts*lu)
	t2, img := nt*nt, s*s
	ipc := chunkImages[T](g, nIn+nOut)
	first := true
	for b0 := 0; b0 < n; b0 += ipc {
		nb := min(ipc, n-b0)
		pc := nb * t2
		lv, lm := planeStride(nIn*pc), planeStride(nOut*pc)
		v := grow(&c.v, pts*lv)
		mbar := grow(&c.mm, pts*lm)
		for _, term := range terms {
			par.For((nIn+nOut)*nb, (nIn+nOut)*pc*pts*8, func(lo, hi int) {
				for j := lo; j < hi; j++ {
					ch, b := j/nb, j%nb
					if ch < nIn {
						src := term.In[ch*plane+(b0+b)*img:]
						inputImage(a, g, src[:img], v[ch*pc+b*t2:], lv)
					} else {
						ch -= nIn
						src := term.Gout[ch*plane+(b0+b)*img:]
						outputAdjointImage(a, g, src[:img], mbar[ch*pc+b*t2:], lm)
					}
				}
			})
			var beta T = 1
			if first {
				beta, first = 0, false
			}
			gemm.GemmBatched(pts, false, true, nOut, nIn, pc, 1, mbar, pc, lm, v, pc, lv, beta, ubar, nIn, lu)
		}
	}
	if first {
		return
	}
	par.For(nOut, pts*nOut*nIn*8, func(lo, hi int) { weightsAdjointRange(a, gw, ubar, lu, nOut, nIn, lo, hi) })
}
