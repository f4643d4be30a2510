//go:build !purego

package simd

import "mdsm/internal/isa"

// eluAVX2 computes dst[i] = elu(src[i]) for i < n, n a multiple of 8 (elu_amd64.s):
// in 8-wide float32: m = max(min(x,0), -88), k = round(m/ln2), r = m - k ln2
// (two-part ln2), expm1(r) by its Taylor series to r^7 (truncation below 2e-8 relative for
// |r| <= ln2/2), expm1(m) = 2^k expm1(r) + (2^k - 1), elu = max(x,0) + expm1(m).
//
//go:noescape
func eluAVX2(dst, src *float32, n int)

func init() {
	if isa.Supported() >= isa.AVX2 {
		eluVec = eluAVX2
	}
}
