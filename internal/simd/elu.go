package simd

import "mdsm/internal/isa"

// ELU writes dst[i] = elu(src[i]) = src[i] for src[i] > 0, exp(src[i])-1 otherwise, for
// i < len(src) (dst must be at least as long). The result is within 2 ulp of the correctly
// rounded value (measured: TestELUAccuracy), a NaN stays NaN, and values below -88 give -1.
func ELU(dst, src []float32) {
	dst = dst[:len(src)]
	n := 0
	if eluVec != nil && isa.Active() >= isa.AVX2 {
		n = len(src) &^ 7
		if n > 0 {
			eluVec(&dst[0], &src[0], n)
		}
	}
	for i := n; i < len(src); i++ {
		dst[i] = eluScalar(src[i])
	}
}

// eluVec is the vector kernel for a multiple of 8 elements, nil where the build has none; it
// runs when the active isa level (isa.Active) is AVX2 or higher.
var eluVec func(dst, src *float32, n int)

// eluScalar is ELU for one element, for the tail and CPUs without the vector kernel.
func eluScalar(x float32) float32 {
	if x > 0 {
		return x
	}
	return expm1f(x)
}
