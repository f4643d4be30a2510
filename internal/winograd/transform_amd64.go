//go:build !purego

package winograd

import "mdsm/internal/isa"

// inputF2AVX2 is inputImage for F(2,3) and float32 (transform_amd64.s): zero points to a row
// of at least s+24 zeros.
//
//go:noescape
func inputF2AVX2(img *float32, s, nt int, v *float32, ld int, zero *float32)

// outputF2AVX2 is outputImage for F(2,3) and float32.
//
//go:noescape
func outputF2AVX2(mm *float32, ld, nt int, out *float32, s int, bias float32)

// outputAdjointF2AVX2 is outputAdjointImage for F(2,3) and float32.
//
//go:noescape
func outputAdjointF2AVX2(gout *float32, s, nt int, mbar *float32, ld int, zero *float32)

// inputF4AVX2, outputF4AVX2 and outputAdjointF4AVX2 are the F(4,3) kernels.
//
//go:noescape
func inputF4AVX2(img *float32, s, nt int, v *float32, ld int, zero *float32)

//go:noescape
func outputF4AVX2(mm *float32, ld, nt int, out *float32, s int, bias float32)

//go:noescape
func outputAdjointF4AVX2(gout *float32, s, nt int, mbar *float32, ld int, zero *float32)

func init() {
	if isa.Supported() >= isa.AVX2 {
		f2.vec = &vecKernels{input: inputF2AVX2, output: outputF2AVX2, outputAdjoint: outputAdjointF2AVX2}
		f4.vec = &vecKernels{input: inputF4AVX2, output: outputF4AVX2, outputAdjoint: outputAdjointF4AVX2}
	}
}
