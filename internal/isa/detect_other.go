//go:build purego || !amd64

package isa

// detect reports Go: this build has no assembly kernels.
func detect() Level { return Go }
