package data

import (
	"fmt"
	"math/rand/v2"
)

// StackedMNIST is the three-channel MNIST of the mode-coverage experiments (Metz et al.
// 2017, used by the MDSM paper): each channel of an image is an MNIST digit drawn at
// random, so the data have 10^3 = 1000 modes, one per combination of the three classes.
const StackedMNIST = "stacked-mnist"

// stackedSeed fixes the draws: the stacked set is the same on every machine.
const stackedSeed = 0x57ac4ed

// Stack builds a stacked-MNIST set of n images from a one-channel digit set: channel k of
// image i is digit j_k, j_k drawn uniformly (with replacement) by a PCG generator with a
// fixed seed, so the result depends on the digit set and n only. The label of image i is
// 100*label(j_0) + 10*label(j_1) + label(j_2), its mode (0..999).
func Stack(digits *Dataset, n int) (*Dataset, error) {
	if digits.C != 1 || digits.N < 1 || digits.Labels == nil {
		return nil, fmt.Errorf("stack %s: need a labelled one-channel digit set (have %d images of %d channels)", digits.Name, digits.N, digits.C)
	}
	if n < 1 {
		return nil, fmt.Errorf("stack %s: %d images requested", digits.Name, n)
	}
	plane := digits.H * digits.W
	if int64(n)*3*int64(plane) > maxDataBytes {
		return nil, fmt.Errorf("stack %s: %d images of 3x%dx%d would need more than %d float32 values: use fewer", digits.Name, n, digits.H, digits.W, int64(maxDataBytes))
	}
	rng := rand.New(rand.NewPCG(stackedSeed, uint64(digits.N)))
	out := &Dataset{Name: StackedMNIST, N: n, C: 3, H: digits.H, W: digits.W,
		Pixels: make([]float32, n*3*plane), Labels: make([]int, n)}
	for i := range n {
		mode := 0
		for k := range 3 {
			j := rng.IntN(digits.N)
			copy(out.Pixels[(i*3+k)*plane:(i*3+k+1)*plane], digits.Image(j))
			mode = 10*mode + digits.Labels[j]
		}
		out.Labels[i] = mode
	}
	return out, nil
}

// loadStacked builds stacked MNIST from the downloaded MNIST split (as many images as the
// split has, or limit), at the given size.
func loadStacked(split, dir string, size, limit int) (*Dataset, error) {
	digits, err := loadIDX(MNIST, split, dir, size)
	if err != nil {
		return nil, fmt.Errorf("stacked-mnist is built from MNIST: %w", err)
	}
	n := digits.N
	if limit > 0 {
		n = min(n, limit)
	}
	return Stack(digits, n)
}
