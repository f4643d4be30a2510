package core

// The loss per noise level: MDSM trains one network on every noise level of the run at
// once (NoiseLevels), and which of them it has learned shows in the loss of each level's
// images. The trainer splits each step's loss by noise level into SigmaBinCount bins of
// consecutive levels (equal numbers of batch images, since every level is used once per
// step) and logs the bins' mean losses in metrics.jsonl ("sigma_loss"). It costs an
// addition per image: the per-image terms are what the loss is summed from anyway.

// SigmaBinCount is the number of noise-level bins of the loss per noise level (fewer when
// the run has fewer distinct levels).
const SigmaBinCount = 8

// SigmaBin is one bin of noise levels: the smallest and the largest sigma in it.
type SigmaBin struct{ Lo, Hi float64 }

// sigmaBinCount is the number of bins a run logs: SigmaBinCount, at most one per noise
// level, and none (0) for single-noise training, which has one level.
func sigmaBinCount(c RunConfig) int {
	if c.NoiseMode != NoiseMultiscale || c.BatchSize < 2 {
		return 0
	}
	return min(SigmaBinCount, c.BatchSize)
}

// sigmaBinOf is the bin of noise level i (of levels, ascending) among k bins.
func sigmaBinOf(i, levels, k int) int { return i * k / levels }

// SigmaBins are the noise-level bins of a run whose metrics carry k bin losses ("sigma_loss"
// of k values): the run's levels, ascending, cut into k groups of consecutive levels. It
// returns nil when k does not fit the run (k < 1 or more bins than levels).
func SigmaBins(c RunConfig, k int) []SigmaBin {
	levels, err := NoiseLevels(c)
	if err != nil || k < 1 || k > len(levels) {
		return nil
	}
	out := make([]SigmaBin, k)
	for i := range out {
		out[i] = SigmaBin{Lo: -1}
	}
	for i, s := range levels {
		b := &out[sigmaBinOf(i, len(levels), k)]
		if b.Lo < 0 || s < b.Lo {
			b.Lo = s
		}
		b.Hi = max(b.Hi, s)
	}
	return out
}

// binLosses averages the images' loss terms (batch order) per noise-level bin: order[b] is
// the index of image b's noise level. It returns nil when there are no bins or no losses.
func binLosses(imgLoss []float64, order []int, k int, dst []float64) []float64 {
	if k < 1 || len(imgLoss) != len(order) || len(order) == 0 {
		return nil
	}
	if cap(dst) < k {
		dst = make([]float64, k)
	}
	dst = dst[:k]
	clear(dst)
	var counts [SigmaBinCount]int
	for b, l := range imgLoss {
		i := sigmaBinOf(order[b], len(order), k)
		dst[i] += l
		counts[i]++
	}
	for i := range dst {
		if counts[i] > 0 {
			dst[i] /= float64(counts[i])
		}
	}
	return dst
}
