package core

import (
	"errors"
	"fmt"

	"mdsm/classifier"
	"mdsm/data"
	"mdsm/nn"
	"mdsm/score"
)

// ScoreClassifier names the built-in classifier that scores samples of a dataset: mnist
// for the embedded subset, MNIST and stacked MNIST (per channel), fashion-mnist for
// Fashion-MNIST, and "" for datasets without one (CIFAR-10, image folders).
func ScoreClassifier(dataset string) string {
	switch dataset {
	case data.Embedded, data.MNIST, data.StackedMNIST:
		return "mnist"
	case data.FashionMNIST:
		return "fashion-mnist"
	}
	return ""
}

// ScoreTestSet loads, at 28x28, the test images a score's floor is drawn from: the
// classifier's full test set from dataDir, or, for MNIST when it has not been downloaded,
// the 1,000 embedded test digits (the returned note says so).
func ScoreTestSet(classifierName, dataDir string) (ds *data.Dataset, note string, err error) {
	ds, err = data.LoadWith(classifierName, "test", dataDir, data.Options{Size: classifier.Side})
	if err != nil && classifierName == data.MNIST && errors.Is(err, data.ErrNotFound) {
		ds, err = data.LoadWith(data.Embedded, "test", "", data.Options{Size: classifier.Side})
		note = "the embedded 1,000 MNIST test digits (mdsm download mnist for all 10,000)"
	}
	if err != nil {
		return nil, "", fmt.Errorf("the score's floor needs the %s test set: %w", classifierName, err)
	}
	return ds, note, nil
}

// SampleScore is the quality score of a periodic grid's chains (package score), as
// metrics.jsonl and SampleEvent carry it. The grid's N is small, and the Frechet distance
// is biased upward at small N: compare scores at equal N only, and against Floor.
type SampleScore struct {
	Step int `json:"step"` // the step whose weights drew the grid
	N    int `json:"n"`    // chains scored
	// FD is the Frechet distance of the chains' classifier features to the test set's,
	// and Floor that of N real test images brought to the model's size and back.
	FD    float64 `json:"fd"`
	Floor float64 `json:"floor"`
	// Classes is the number of classes with at least 2% of the chains.
	Classes int `json:"classes"`
	// MaxSoftmax is the mean largest class probability (near 1: recognisable images).
	MaxSoftmax float64 `json:"max_softmax"`
	// Modes is the number of stacked-MNIST modes covered (stacked runs only; FD, Floor
	// and Classes are then 0).
	Modes int `json:"modes,omitempty"`
}

// liveScorer scores periodic grids for one run. Built lazily on the sampler goroutine
// (one grid at a time), it loads the classifier and computes the floor on first use.
type liveScorer struct {
	name, dataDir string
	sc            *score.Scorer
	floor         map[[2]int]float64 // (N, size) -> floor FD
}

// newLiveScorer returns the scorer of a run's periodic grids, or nil when the run's data
// have no built-in classifier.
func newLiveScorer(c RunConfig) *liveScorer {
	name := ScoreClassifier(c.Data)
	if name == "" {
		return nil
	}
	return &liveScorer{name: name, dataDir: c.DataDir, floor: map[[2]int]float64{}}
}

// score scores n images (NCHW, the model's shape) drawn from the weights of step.
func (l *liveScorer) score(imgs []float32, n int, c nn.Config, step int) (*SampleScore, error) {
	if l.sc == nil {
		cl, err := classifier.Builtin(l.name)
		if err != nil {
			return nil, err
		}
		l.sc = score.New(cl)
	}
	ds := &data.Dataset{Name: fmt.Sprintf("grid at step %d", step), N: n, C: c.InChannels, H: c.ImageSize, W: c.ImageSize, Pixels: imgs[:n*c.Dim()]}
	if c.InChannels == 3 {
		m, err := l.sc.Modes(ds)
		if err != nil {
			return nil, err
		}
		return &SampleScore{Step: step, N: n, Modes: m.Covered, MaxSoftmax: m.MeanMaxSoftmax}, nil
	}
	r, err := l.sc.Score(ds)
	if err != nil {
		return nil, err
	}
	key := [2]int{n, c.ImageSize}
	floor, ok := l.floor[key]
	if !ok { // once per run: the test set is loaded for it and let go
		test, _, err := ScoreTestSet(l.name, l.dataDir)
		if err != nil {
			return nil, err
		}
		f, err := l.sc.Floor(test, c.ImageSize, n, 1)
		if err != nil {
			return nil, err
		}
		floor, l.floor[key] = f.FD, f.FD
	}
	return &SampleScore{Step: step, N: n, FD: r.FD, Floor: floor, Classes: r.Classes, MaxSoftmax: r.MeanMaxSoftmax}, nil
}

// Summary is the score in a few words for a log line, e.g. "FD 47.2 (floor 12.3) at N=36,
// 9 classes"; "" for nil.
func (s *SampleScore) Summary() string {
	switch {
	case s == nil:
		return ""
	case s.Modes > 0:
		return fmt.Sprintf("%d stacked-MNIST modes covered by N=%d", s.Modes, s.N)
	}
	return fmt.Sprintf("FD %.1f (floor %.1f) at N=%d, %d classes", s.FD, s.Floor, s.N, s.Classes)
}
