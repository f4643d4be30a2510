package score

import (
	"fmt"

	"mdsm/data"
)

// Modes is the mode coverage of a set of stacked-MNIST images (data.StackedMNIST): each
// channel is classified on its own, and the three classes make the image's mode
// 100*c0 + 10*c1 + c2, one of 1,000.
type Modes struct {
	N       int `json:"n"`       // images
	Covered int `json:"covered"` // modes with at least one image
	Total   int `json:"total"`   // modes there are (1,000)
	// KL is KL(mode histogram || uniform) in nats: 0 for perfectly even coverage.
	KL float64 `json:"kl"`
	// Hist counts the images per mode.
	Hist []int `json:"-"`
	// MeanMaxSoftmax is the mean over channels and images of the largest class probability.
	MeanMaxSoftmax float64 `json:"mean_max_softmax"`
}

// Modes classifies every channel of n three-channel images (of any size, as Score) and
// counts the modes they cover.
func (s *Scorer) Modes(ds *data.Dataset) (Modes, error) {
	if ds.C != 3 {
		return Modes{}, fmt.Errorf("modes: %s has %d channels; stacked MNIST has 3", ds.Name, ds.C)
	}
	classes := s.c.Params.Config.Classes
	total := classes * classes * classes
	m := Modes{N: ds.N, Total: total, Hist: make([]int, total)}
	if ds.N == 0 {
		return m, nil
	}
	modes := make([]int, ds.N)
	plane := ds.H * ds.W
	for ch := range 3 {
		one := &data.Dataset{Name: fmt.Sprintf("%s channel %d", ds.Name, ch), N: ds.N, C: 1, H: ds.H, W: ds.W,
			Pixels: make([]float32, ds.N*plane)}
		for i := range ds.N {
			copy(one.Pixels[i*plane:(i+1)*plane], ds.Pixels[(i*3+ch)*plane:(i*3+ch+1)*plane])
		}
		x, _, err := To28(Clamped(one))
		if err != nil {
			return Modes{}, err
		}
		_, class, prob := s.Features(x)
		for i, k := range class {
			modes[i] = modes[i]*classes + k
			m.MeanMaxSoftmax += prob[i]
		}
	}
	m.MeanMaxSoftmax /= float64(3 * ds.N)
	for _, k := range modes {
		if m.Hist[k] == 0 {
			m.Covered++
		}
		m.Hist[k]++
	}
	m.KL = KLUniform(m.Hist)
	return m, nil
}
