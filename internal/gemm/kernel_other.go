//go:build purego || !amd64

package gemm

// archKernels lists the assembly kernels usable on this CPU: none without amd64 assembly.
var archKernels []*kernel
