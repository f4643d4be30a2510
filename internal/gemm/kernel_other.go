//go:build purego || !amd64

package gemm

// This build has no assembly kernels: every level runs kernelGo (see byLevel).
