// Package gemm multiplies dense row-major matrices. It is the one hot loop of the energy
// network that is not a layer: every convolution is lowered to it.
//
// float32 runs on a blocked, packed SGEMM of this package (AVX-512 or AVX2+FMA micro-kernels in
// Go assembly on amd64, a pure-Go micro-kernel elsewhere and under the build tag purego),
// threaded over Threads() goroutines. float64 is only used by gradient tests and delegates to
// gonum.
package gemm

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Float is the element type of the kernels: float32 for training, float64 for gradient tests.
type Float interface{ ~float32 | ~float64 }

var impl gonum.Implementation

// Gemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, as BLAS xGEMM does:
// op(A) is m x k, op(B) is k x n, C is m x n; lda, ldb, ldc are row strides.
func Gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	switch any(alpha).(type) {
	case float32:
		sgemm(transA, transB, m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case float64:
		ta, tb := blas.NoTrans, blas.NoTrans
		if transA {
			ta = blas.Trans
		}
		if transB {
			tb = blas.Trans
		}
		impl.Dgemm(ta, tb, m, n, k, float64(alpha), any(a).([]float64), lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	default:
		panic("gemm: unsupported element type")
	}
}
