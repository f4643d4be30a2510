package sampling

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"

	"mdsm/dist"
)

// Energy is what samplers need from an energy model. *nn.Model[float32] satisfies it.
// Implementations are not safe for concurrent use: give each goroutine its own.
type Energy interface {
	// Energy writes E(x_i) for n images (NCHW, len(x) = n*D) into e (len n).
	Energy(x []float32, n int, e []float32)
	// EnergyGrad writes E and dE/dx (len n*D) into e and g.
	EnergyGrad(x []float32, n int, e, g []float32)
}

// checkImages validates a batch of n images of dim scalars each.
func checkImages(x []float32, n, dim int) error {
	switch {
	case n < 1:
		return fmt.Errorf("sampling: need at least one image (n = %d)", n)
	case dim < 1:
		return fmt.Errorf("sampling: image size must be positive (dim = %d)", dim)
	case len(x) != n*dim:
		return fmt.Errorf("sampling: %d values do not hold %d images of %d", len(x), n, dim)
	}
	return nil
}

// imageDim returns len(x)/n after checking that it divides.
func imageDim(x []float32, n int) (int, error) {
	if n < 1 || len(x) == 0 || len(x)%n != 0 {
		return 0, fmt.Errorf("sampling: %d values do not hold %d images", len(x), n)
	}
	return len(x) / n, nil
}

// EnergyScores returns E(x_i + sigma0 z_i), z_i ~ N(0, I), for the n images in images (NCHW),
// evaluated batch images at a time on GOMAXPROCS workers, each with its own Energy from
// newEnergy. The paper measures energies of noisy images because the MDSM energy is only
// trained off the data manifold (REFERENCE: Evaluation; paper Sec. 4, "Outlier Detection").
// sigma0 = 0 scores the clean images. The noise of batch b is drawn from a generator seeded by
// (seed, b), so scores do not depend on the number of workers. Cancelling ctx stops between
// batches and returns ctx.Err().
func EnergyScores(ctx context.Context, newEnergy func() Energy, images []float32, n, batch int, sigma0 float64, seed uint64) ([]float64, error) {
	return EnergyScoresOn(ctx, nil, newEnergy, images, n, batch, sigma0, seed)
}

// EnergyScoresOn is EnergyScores with the batches shared by the ranks of c (see "Sharded
// work"): every rank passes all n images; rank 0 returns every score, the others nil.
func EnergyScoresOn(ctx context.Context, c dist.Comm, newEnergy func() Energy, images []float32, n, batch int, sigma0 float64, seed uint64) ([]float64, error) {
	c = orSingle(c)
	dim, err := imageDim(images, n)
	if err != nil {
		return nil, err
	}
	if newEnergy == nil {
		return nil, errors.New("sampling: nil energy factory")
	}
	if batch < 1 {
		return nil, fmt.Errorf("sampling: batch size %d must be >= 1", batch)
	}
	if !finite(sigma0) || sigma0 < 0 {
		return nil, fmt.Errorf("sampling: noise level sigma0 = %v must be finite and >= 0", sigma0)
	}
	nb := (n + batch - 1) / batch
	blo, bhi := dist.Span(nb, c.Rank(), c.Size())
	nw := workers(bhi - blo)
	models := make([]Energy, nw)
	for w := range models {
		if models[w] = newEnergy(); models[w] == nil {
			return nil, errors.New("sampling: energy factory returned nil")
		}
	}
	first, count := blo*batch, 0 // this rank's first image, and its number of images
	if bhi > blo {
		count = min(n, bhi*batch) - first
	}
	out := make([]float64, count)
	parallelFor(bhi-blo, nw, func() bool { return ctx.Err() != nil }, func(w, i int) {
		b := blo + i
		lo, hi := b*batch, min(n, (b+1)*batch)
		m := hi - lo
		x := make([]float32, m*dim)
		copy(x, images[lo*dim:hi*dim])
		if sigma0 > 0 {
			rng := newRand(deriveSeed(seed, uint64(b)))
			for i := range x {
				x[i] += float32(sigma0 * rng.NormFloat64())
			}
		}
		e := make([]float32, m)
		models[w].Energy(x, m, e)
		for i, v := range e {
			out[lo-first+i] = float64(v)
		}
	})
	err = ctx.Err()
	for i, v := range out {
		if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
			err = fmt.Errorf("sampling: the energy of image %d is %v: the model overflowed on this input (or the images hold NaN/Inf)", first+i, v)
		}
	}
	if err := dist.Agree(c, err); err != nil {
		return nil, err
	}
	return gatherPieces(c, nb, func(b int) int { return min(batch, n-b*batch) }, out)
}

// Hist is a histogram with len(Counts) equal-width bins between Edges[0] and Edges[len-1];
// bin i covers [Edges[i], Edges[i+1]) and the last bin also includes its upper edge. Values
// below or above the range are counted in Under and Over; NaNs in NaN.
type Hist struct {
	Edges  []float64
	Counts []int
	Under  int
	Over   int
	NaN    int
}

// Histogram bins values into bins equal-width bins over [lo, hi]. If lo >= hi the range is
// taken from the finite values (a single distinct value gets a unit-wide range around it).
// Energy histograms of train/test/OOD splits use a common range so they can be overlaid.
func Histogram(values []float64, bins int, lo, hi float64) (Hist, error) {
	if bins < 1 {
		return Hist{}, fmt.Errorf("sampling: histogram needs at least one bin (bins = %d)", bins)
	}
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return Hist{}, errors.New("sampling: histogram range is NaN")
	}
	if lo >= hi {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, v := range values {
			if finite(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		switch {
		case lo > hi: // no finite values
			lo, hi = 0, 1
		case lo == hi:
			lo, hi = lo-0.5, hi+0.5
		}
	}
	h := Hist{Edges: make([]float64, bins+1), Counts: make([]int, bins)}
	w := (hi - lo) / float64(bins)
	for i := range h.Edges {
		h.Edges[i] = lo + float64(i)*w
	}
	h.Edges[bins] = hi
	for _, v := range values {
		switch {
		case math.IsNaN(v):
			h.NaN++
		case v < lo:
			h.Under++
		case v > hi:
			h.Over++
		default:
			b := int((v - lo) / w)
			h.Counts[min(max(b, 0), bins-1)]++
		}
	}
	return h, nil
}

// AUROC returns the area under the ROC curve for telling positives from negatives by a score
// where higher means "more positive": the Mann-Whitney statistic
//
//	AUROC = P(s+ > s-) + P(s+ = s-)/2
//
// over all (positive, negative) pairs, computed exactly from mid-ranks of the pooled scores
// (ties get the average rank) in O((m+n) log(m+n)). 1 is perfect separation, 0.5 chance, 0
// perfectly reversed. For OOD detection with energies, pass the energies of the OOD set as
// positives and of the in-distribution set as negatives (higher energy = more outlying).
// NaN scores are dropped; if either set is then empty the result is NaN.
func AUROC(scoresPositive, scoresNegative []float64) float64 {
	type item struct {
		v   float64
		pos bool
	}
	all := make([]item, 0, len(scoresPositive)+len(scoresNegative))
	m, n := 0, 0
	for _, v := range scoresPositive {
		if !math.IsNaN(v) {
			all = append(all, item{v, true})
			m++
		}
	}
	for _, v := range scoresNegative {
		if !math.IsNaN(v) {
			all = append(all, item{v, false})
			n++
		}
	}
	if m == 0 || n == 0 {
		return math.NaN()
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	rankSum := 0.0 // sum of 1-based mid-ranks of the positives
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		mid := float64(i+1+j) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			if all[k].pos {
				rankSum += mid
			}
		}
		i = j
	}
	u := rankSum - float64(m)*float64(m+1)/2
	return u / (float64(m) * float64(n))
}

// ScoreSet is a named list of scores (energies of one data split) for WriteScoresCSV.
type ScoreSet struct {
	Name   string
	Scores []float64
}

// WriteScoresCSV writes a header "split,index,score" and one row per score of every set, in
// order, with full float64 precision, for plotting energy distributions outside the program.
func WriteScoresCSV(w io.Writer, sets []ScoreSet) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"split", "index", "score"}); err != nil {
		return fmt.Errorf("sampling: writing scores csv: %w", err)
	}
	for _, s := range sets {
		for i, v := range s.Scores {
			if err := cw.Write([]string{s.Name, strconv.Itoa(i), strconv.FormatFloat(v, 'g', -1, 64)}); err != nil {
				return fmt.Errorf("sampling: writing scores csv: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("sampling: writing scores csv: %w", err)
	}
	return nil
}
