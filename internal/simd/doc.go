// Package simd holds the element-wise kernels of the energy network that Go does not
// vectorise by itself and that cost enough to be worth assembly: today the float32 ELU,
// whose exp-minus-one was a sixth of a small net's Langevin step in plain Go (a branch on
// the random sign of the input and a scalar float64 polynomial per element).
//
// Every kernel has a pure-Go version (build tag purego, non-amd64 CPUs, CPUs without
// AVX2+FMA) that gives the same results to within the accuracy the doc comment states.
package simd
