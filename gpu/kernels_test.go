package gpu

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// clangShim declares, for a CPU-side syntax check, what NVRTC provides built in.
const clangShim = `#include "__clang_cuda_builtin_vars.h"
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define __forceinline__ __attribute__((always_inline))
typedef unsigned long size_t;
__device__ void __syncthreads(void);
__device__ float expm1f(float);
__device__ float sqrtf(float);
__device__ float fminf(float, float);
__device__ int __float_as_int(float);
__device__ double sqrt(double);
__device__ double log(double);
__device__ void sincos(double, double *, double *);
__device__ double __dadd_rn(double, double);
__device__ double __dsub_rn(double, double);
__device__ double __dmul_rn(double, double);
`

// TestKernelsTypeCheck compiles kernels.cu for the device with clang (no CUDA toolkit:
// -nocudainc -nocudalib, a shim for NVRTC's built-ins) so that a kernel that would not
// compile on the GPU fails here, in CI.
func TestKernelsTypeCheck(t *testing.T) {
	clang, err := exec.LookPath("clang-14")
	if err != nil {
		if clang, err = exec.LookPath("clang"); err != nil {
			if os.Getenv("MDSM_REQUIRE_CLANG") != "" {
				t.Fatal("clang not found")
			}
			t.Skip("clang-14 not found: the CUDA kernels' syntax check needs it (apt-get install clang-14)")
		}
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "k.cu")
	if err := os.WriteFile(src, []byte(clangShim+kernelSource), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(clang, "--cuda-device-only", "-nocudainc", "-nocudalib", "--cuda-gpu-arch=sm_80",
		"-fsyntax-only", "-Werror", "-Wno-unknown-cuda-version", src).CombinedOutput()
	if err != nil {
		t.Fatalf("kernels.cu does not compile: %v\n%s", err, out)
	}
	// Every kernel the engine launches is defined.
	for _, n := range kernelNames {
		if !strings.Contains(kernelSource, `extern "C" __global__ void `+n+"(") {
			t.Errorf("kernel %s is launched but not defined in kernels.cu", n)
		}
	}
}
