//go:build !purego

package gemm

import "mdsm/internal/isa"

//go:generate go run gen_amd64.go

// kernAVX2 computes a 4x24 tile with AVX2+FMA (12 ymm accumulators).
//
//go:noescape
func kernAVX2(kc int, a, b, c *float32, ldc int, beta float32, load int)

// kernAVX512x48 computes an 8x48 tile with AVX-512 (24 zmm accumulators).
//
//go:noescape
func kernAVX512x48(kc int, a, b, c *float32, ldc int, beta float32, load int)

// packCopy copies rows rows of nv*8 floats (source rows lds apart) to consecutive rows of dst.
//
//go:noescape
func packCopy(dst, src *float32, lds, rows, nv int)

// packT8 sets dst[q*lddst+r] = alpha*src[r*lds+q] for r < 8, q < cols (a multiple of 8).
//
//go:noescape
func packT8(dst *float32, lddst int, src *float32, lds, cols int, alpha float32)

// packT4 sets dst[q*4+r] = alpha*src[r*lds+q] for r < 4, q < cols (a multiple of 8).
//
//go:noescape
func packT4(dst *float32, src *float32, lds, cols int, alpha float32)

var (
	kernelAVX2      = &kernel{name: "avx2", mr: 4, nr: 24, mc: 128, kc: 256, nc: 3072, fn: kernAVX2, vec: true}
	kernelAVX512x48 = &kernel{name: "avx512", mr: 8, nr: 48, mc: 128, kc: 192, nc: 1536, fn: kernAVX512x48, vec: true}
)

func init() {
	if isa.Supported() >= isa.AVX2 {
		vecCopy, vecT8, vecT4 = packCopy, packT8, packT4
		byLevel[isa.AVX2] = kernelAVX2
	}
	if isa.Supported() >= isa.AVX512 {
		byLevel[isa.AVX512] = kernelAVX512x48
	}
}
