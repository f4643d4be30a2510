package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"mdsm/data"
	"mdsm/nn"
	"mdsm/sampling"
)

// The energy view: the energies E(x + sigma0 n) of a run's test images, of its newest
// periodic samples and of an out-of-distribution set under its newest weights, the data of
// `mdsm energy` as a workbench job. A model that has learned the data gives its test
// images low energies, its samples energies like them, and outliers high ones (the paper's
// outlier detection, Sec. 4; AUROC of the energy as an outlier score).

// Out-of-distribution sets of the energy view besides the datasets: the test images with
// their pixels inverted (1 - x), and uniform noise.
const (
	OODInverted = "inverted"
	OODNoise    = "noise"
)

// OODChoices lists the out-of-distribution sets the energy view offers for a run's data:
// the other MNIST-like dataset (when the run's data are MNIST-like), then the inverted test
// images and uniform noise, which need no files.
func OODChoices(dataName string) []string {
	switch dataName {
	case data.Embedded, data.MNIST, data.StackedMNIST:
		return []string{data.FashionMNIST, OODInverted, OODNoise}
	case data.FashionMNIST:
		return []string{data.MNIST, OODInverted, OODNoise}
	}
	return []string{OODInverted, OODNoise}
}

// EnergySpec is an energy job: N images per set, the OOD set (OODChoices; "" the first),
// the noise added before scoring (Sigma0, as `mdsm energy` and the paper do) and the seed.
type EnergySpec struct {
	N      int
	OOD    string
	Sigma0 float64
	Seed   uint64
}

// EnergySet is one set's energies.
type EnergySet struct {
	Name     string // "test", "samples" or the OOD set's name
	Energies []float64
	// Note says where the images came from, or why the set is missing or was replaced.
	Note string
}

// EnergyUpdate is a report of an energy job: one after each set, the last with Done
// (and Err when it failed or was cancelled).
type EnergyUpdate struct {
	Sets    []EnergySet
	Weights string // which weights scored them
	Step    int    // the step of those weights
	// AUROC is that of the energy as an outlier score, OOD set against test images (NaN
	// until both are scored).
	AUROC float64
	Done  bool
	Err   error
	Took  time.Duration
}

// StartEnergies scores the test images of cfg's dataset, the newest periodic grid of the
// run in runDir (its SampleCount chains, read back from the picture; none before the first
// grid) and an OOD set under src's newest weights, on its own goroutine; cancel ctx to stop
// it between batches. A dataset that is not on disk (fashion-mnist before `mdsm download`)
// is replaced by the inverted test images, and the set's note says so.
func StartEnergies(ctx context.Context, src WeightSource, cfg RunConfig, runDir string, spec EnergySpec) <-chan EnergyUpdate {
	out := make(chan EnergyUpdate, 1)
	if spec.N < 1 {
		spec.N = 500
	}
	if spec.OOD == "" {
		spec.OOD = OODChoices(cfg.Data)[0]
	}
	go func() {
		defer close(out)
		start := time.Now()
		u := EnergyUpdate{AUROC: math.NaN()}
		send := func(done bool, err error) bool {
			u.Done, u.Err, u.Took = done, err, time.Since(start)
			u.Sets = append([]EnergySet(nil), u.Sets...)
			return deliver(ctx, out, u, done)
		}
		w, err := src.Weights()
		if err != nil {
			send(true, err)
			return
		}
		c := w.params.Config
		u.Weights, u.Step = w.Source, w.Step
		newEnergy := func() sampling.Energy { return nn.NewModel(w.params) }
		score := func(name, note string, imgs []float32, n int) error {
			e, err := sampling.EnergyScores(ctx, newEnergy, imgs, n, 100, spec.Sigma0, spec.Seed)
			if err != nil {
				return fmt.Errorf("energies of %s: %w", name, err)
			}
			u.Sets = append(u.Sets, EnergySet{Name: name, Energies: e, Note: note})
			return nil
		}
		test, err := LoadTestImages(cfg, spec.N)
		if err != nil {
			send(true, err)
			return
		}
		tn := test.ds.N
		if err := score("test", fmt.Sprintf("%d images of %s", tn, test.ds.Name), test.ds.Pixels, tn); err != nil {
			send(true, err)
			return
		}
		if !send(false, nil) {
			return
		}
		if _, step := newestGrid(runDir); step >= 0 {
			var imgs []float32
			g, err := ReadGrid(runDir, step)
			if err == nil {
				imgs, err = sampling.Ungrid(g, cfg.SampleCount, c.InChannels, c.ImageSize, c.ImageSize, 0, 2)
			}
			if err != nil {
				u.Sets = append(u.Sets, EnergySet{Name: "samples", Note: fmt.Sprintf("the grid of step %d: %v", step, err)})
			} else if err := score("samples", fmt.Sprintf("the %d chains of the periodic grid of step %d", cfg.SampleCount, step), imgs, cfg.SampleCount); err != nil {
				send(true, err)
				return
			}
		} else {
			u.Sets = append(u.Sets, EnergySet{Name: "samples", Note: "no periodic grid yet"})
		}
		if !send(false, nil) {
			return
		}
		ood, name, note, err := oodImages(cfg, spec, test)
		if err != nil {
			send(true, err)
			return
		}
		if err := score(name, note, ood, tn); err != nil {
			send(true, err)
			return
		}
		u.AUROC = sampling.AUROC(u.Sets[len(u.Sets)-1].Energies, u.Sets[0].Energies)
		send(true, nil)
	}()
	return out
}

// oodImages makes the OOD set, its name and a note on where it came from: as many images
// as the test set, of the network's shape. A dataset not on disk stands down for the
// inverted test images, and the note says so.
func oodImages(cfg RunConfig, spec EnergySpec, test *TestImages) (imgs []float32, name, note string, err error) {
	ds := test.ds
	n, dim := ds.N, ds.Dim()
	switch spec.OOD {
	case OODInverted:
		return inverted(ds.Pixels[:n*dim]), OODInverted, fmt.Sprintf("%d test images, inverted (1 - x)", n), nil
	case OODNoise:
		rng := rand.New(rand.NewPCG(spec.Seed, 7))
		x := make([]float32, n*dim)
		for i := range x {
			x[i] = rng.Float32()
		}
		return x, OODNoise, fmt.Sprintf("%d images of uniform noise", n), nil
	}
	c := cfg
	c.Data = spec.OOD
	o, err := LoadTestImages(c, n)
	if errors.Is(err, data.ErrNotFound) {
		return inverted(ds.Pixels[:n*dim]), OODInverted,
			fmt.Sprintf("%s is not downloaded (mdsm download %s): the inverted test images instead", spec.OOD, spec.OOD), nil
	}
	if err != nil {
		return nil, "", "", err
	}
	if o.ds.N < n || o.ds.Dim() != dim {
		return nil, "", "", fmt.Errorf("OOD set %s: %d images of %d values, want %d of %d", spec.OOD, o.ds.N, o.ds.Dim(), n, dim)
	}
	return o.ds.Pixels[:n*dim], spec.OOD, fmt.Sprintf("%d test images of %s", n, o.ds.Name), nil
}

func inverted(x []float32) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = 1 - v
	}
	return out
}
