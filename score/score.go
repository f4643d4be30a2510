// Package score measures the quality of generated images with a domain classifier
// (package classifier): the Frechet distance between the classifier's penultimate
// features of the samples and of the classifier's full test set (the "FID with a domain
// classifier" used for MNIST in the literature), the class histogram, the number of
// classes with at least 2% of the samples, the mean maximum class probability, and, for
// stacked MNIST, the number of modes covered.
//
// The Frechet distance is biased upward at small N (the covariance of N samples is noisier
// than that of 10,000 test images): compare scores only at equal N. Floor gives the score
// of N real test images brought to the samples' size and back, the best a perfect model at
// that size can do.
package score

import (
	"fmt"
	"math"
	"math/rand/v2"

	"mdsm/classifier"
	"mdsm/data"
)

// ClassShare is the share of the samples a class needs to count in Result.Classes.
const ClassShare = 0.02

// Result is the score of a set of images.
type Result struct {
	N       int    `json:"n"`                 // images scored
	Size    int    `json:"size"`              // their side before resizing
	Resized string `json:"resized,omitempty"` // how they were brought to 28x28 ("" if not)
	// FD is the Frechet distance of their features to the test set's.
	FD float64 `json:"fd"`
	// Hist counts the images the classifier puts in each class.
	Hist []int `json:"hist"`
	// Classes is the number of classes with at least ClassShare of the images.
	Classes int `json:"classes"`
	// MeanMaxSoftmax is the mean over images of the largest class probability: near 1 for
	// images the classifier is sure of, near 1/classes for unrecognisable ones.
	MeanMaxSoftmax float64 `json:"mean_max_softmax"`
}

// Scorer scores image sets with one classifier. Not safe for concurrent use.
type Scorer struct {
	c   *classifier.Classifier
	ref Stats
	net *classifier.Net[float32]
}

// New returns a Scorer over a classifier and the test-set statistics it carries.
func New(c *classifier.Classifier) *Scorer {
	h := c.Params.Config.Hidden
	return &Scorer{c: c, net: classifier.NewNet(c.Params, nil),
		ref: Stats{N: c.RefN, Dim: h, Mean: c.RefMean, Cov: c.RefCov}}
}

// Classifier is the scorer's classifier.
func (s *Scorer) Classifier() *classifier.Classifier { return s.c }

// chunk is how many images go through the classifier at once.
const chunk = 256

// Features runs 28x28 grey images through the classifier and returns their features
// (n rows of Hidden) and, per image, the predicted class and its probability.
func (s *Scorer) Features(ds *data.Dataset) (feats []float32, class []int, prob []float64) {
	cfg := s.c.Params.Config
	feats = make([]float32, 0, ds.N*cfg.Hidden)
	p := make([]float64, cfg.Classes)
	for lo := 0; lo < ds.N; lo += chunk {
		n := min(chunk, ds.N-lo)
		s.net.Forward(ds.Pixels[lo*ds.Dim():(lo+n)*ds.Dim()], n)
		feats = append(feats, s.net.Features()...)
		logits := s.net.Logits()
		for i := range n {
			classifier.Softmax(logits[i*cfg.Classes:(i+1)*cfg.Classes], p)
			k := 0
			for j, v := range p {
				if v > p[k] {
					k = j
				}
			}
			class, prob = append(class, k), append(prob, p[k])
		}
	}
	return feats, class, prob
}

// Score scores a set of one-channel images of any size (at least 2 of them); pixels
// outside [0,1] are clamped (NaN counts as 0), and images that are not 28x28 are brought
// to it by To28.
func (s *Scorer) Score(ds *data.Dataset) (Result, error) {
	if ds.C != 1 {
		return Result{}, fmt.Errorf("score: %s has %d channels; the classifier reads one (score each channel of a stacked image with Modes)", ds.Name, ds.C)
	}
	if ds.N < 2 {
		return Result{}, fmt.Errorf("score: %s has %d images; the Frechet distance needs at least 2 (256 or more for a number worth comparing)", ds.Name, ds.N)
	}
	x, how, err := To28(Clamped(ds))
	if err != nil {
		return Result{}, err
	}
	feats, class, prob := s.Features(x)
	st, err := NewStats(feats, x.N, s.c.Params.Config.Hidden)
	if err != nil {
		return Result{}, err
	}
	fd, err := FrechetDistance(st, s.ref)
	if err != nil {
		return Result{}, err
	}
	r := Result{N: ds.N, Size: ds.H, Resized: how, FD: fd, Hist: make([]int, s.c.Params.Config.Classes)}
	for i, k := range class {
		r.Hist[k]++
		r.MeanMaxSoftmax += prob[i]
	}
	r.MeanMaxSoftmax /= float64(ds.N)
	for _, c := range r.Hist {
		if float64(c) >= ClassShare*float64(ds.N) {
			r.Classes++
		}
	}
	return r, nil
}

// Floor scores n real images of test (28x28, the classifier's test set or part of it),
// chosen at random by seed, after bringing them to size x size the way the data readers
// do (data.Dataset.Resize: zero padding up, area averaging down) and back to 28x28 the
// way samples are (To28): the score a perfect model at that size would get at that N.
func (s *Scorer) Floor(test *data.Dataset, size, n int, seed uint64) (Result, error) {
	if test.N < n {
		return Result{}, fmt.Errorf("score: the floor at N=%d needs %d test images, %s has %d (use the full test set: --data-dir)", n, n, test.Name, test.N)
	}
	sub := test.Subset(rand.New(rand.NewPCG(seed, 0xf1002)).Perm(test.N)[:n])
	small, err := sub.Resize(size)
	if err != nil {
		return Result{}, err
	}
	return s.Score(small)
}

// To28 brings images to the classifier's 28x28 and says how ("" when they already are):
// larger images are centre-cropped (the data readers zero-pad MNIST's 28x28 to 32x32),
// smaller ones upsampled bilinearly.
func To28(ds *data.Dataset) (*data.Dataset, string, error) {
	const side = classifier.Side
	switch {
	case ds.H == side && ds.W == side:
		return ds, "", nil
	case ds.H >= side && ds.W >= side:
		out, err := ds.Crop(side)
		return out, fmt.Sprintf("centre 28x28 of %dx%d", ds.H, ds.W), err
	case ds.H <= side && ds.W <= side:
		out, err := ds.Upsample(side)
		return out, fmt.Sprintf("bilinear %dx%d -> 28x28", ds.H, ds.W), err
	}
	return nil, "", fmt.Errorf("score: cannot bring %dx%d images to 28x28 (one side larger, one smaller)", ds.H, ds.W)
}

// Clamped returns ds with its pixels clamped to [0,1] (NaN to 0), a copy when any was
// outside: Langevin samples overshoot a little, and the classifier saw only [0,1].
func Clamped(ds *data.Dataset) *data.Dataset {
	bad := false
	for _, v := range ds.Pixels {
		if !(v >= 0 && v <= 1) {
			bad = true
			break
		}
	}
	if !bad {
		return ds
	}
	out := *ds
	out.Pixels = make([]float32, len(ds.Pixels))
	for i, v := range ds.Pixels {
		if v > 0 { // false for NaN
			out.Pixels[i] = min(v, 1)
		}
	}
	return &out
}

// KLUniform is KL(q || uniform) in nats for a histogram over k bins: 0 when every bin is
// equally full, log k when one bin holds everything.
func KLUniform(hist []int) float64 {
	total := 0
	for _, c := range hist {
		total += c
	}
	if total == 0 {
		return 0
	}
	kl := 0.0
	for _, c := range hist {
		if c > 0 {
			q := float64(c) / float64(total)
			kl += q * math.Log(q*float64(len(hist)))
		}
	}
	return kl
}
