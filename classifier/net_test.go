package classifier

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mdsm/internal/isa/isatest"
	"mdsm/nn"
)

// tinyConfig is small enough for finite differences over every parameter.
var tinyConfig = Config{Widths: [3]int{2, 3, 2}, Hidden: 4, Classes: 3}

func randomImages(rng *rand.Rand, n int) []float64 {
	x := make([]float64, n*Side*Side)
	for i := range x {
		x[i] = rng.Float64()
	}
	return x
}

// TestGradientsMatchFiniteDifferences checks LossGrad's gradient of every parameter of
// every layer type (three convolutions, two mean pools, ReLUs, two linear layers, softmax
// cross-entropy) against central differences, in float64.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := InitParams[float64](tinyConfig, rng)
	for _, name := range p.Names { // nonzero biases, so that every bias gradient is exercised
		if len(p.T[name]) <= 3 || name[len(name)-4:] == "bias" {
			for i := range p.T[name] {
				p.T[name][i] = 0.1 * rng.NormFloat64()
			}
		}
	}
	const n = 3
	x := randomImages(rng, n)
	labels := []int{0, 2, 1}
	g := NewParams[float64](tinyConfig)
	net := NewNet(p, g)
	net.LossGrad(x, labels, n)
	loss := func() float64 { return NewNet(p, NewParams[float64](tinyConfig)).LossGrad(x, labels, n) }
	const h = 1e-6
	worst, checked := 0.0, 0
	for _, name := range p.Names {
		for i := range p.T[name] {
			w := p.T[name][i]
			p.T[name][i] = w + h
			up := loss()
			p.T[name][i] = w - h
			down := loss()
			p.T[name][i] = w
			fd := (up - down) / (2 * h)
			an := g.T[name][i]
			err := math.Abs(fd-an) / math.Max(1e-4, math.Abs(fd)+math.Abs(an))
			if err > 1e-5 {
				t.Errorf("%s[%d]: analytic %.9g, finite difference %.9g", name, i, an, fd)
			}
			worst = max(worst, err)
			checked++
		}
	}
	t.Logf("%d parameters, worst relative error %.2g", checked, worst)
}

// TestFloat32MatchesFloat64: the float32 network (implicit im2col, the production path)
// computes the float64 network's features and logits, at every kernel level.
func TestFloat32MatchesFloat64(t *testing.T) {
	isatest.ForEachLevel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		c := DefaultConfig()
		p32 := InitParams[float32](c, rng)
		p64 := NewParams[float64](c)
		for _, name := range p32.Names {
			for i, v := range p32.T[name] {
				p64.T[name][i] = float64(v)
			}
		}
		const n = 5
		x64 := randomImages(rng, n)
		x32 := make([]float32, len(x64))
		for i, v := range x64 {
			x32[i] = float32(v)
		}
		a, b := NewNet(p32, nil), NewNet(p64, nil)
		a.Forward(x32, n)
		b.Forward(x64, n)
		for _, pair := range []struct {
			what string
			f32  []float32
			f64  []float64
		}{{"features", a.Features(), b.Features()}, {"logits", a.Logits(), b.Logits()}} {
			for i, v := range pair.f64 {
				if d := math.Abs(float64(pair.f32[i]) - v); d > 1e-4*(1+math.Abs(v)) {
					t.Fatalf("%s[%d]: float32 %g, float64 %g", pair.what, i, pair.f32[i], v)
				}
			}
		}
	})
}

// TestSmallerBatchAfterLarger: a Net reused with a smaller batch gives the results of a
// fresh Net (no stale rows from the larger batch leak in).
func TestSmallerBatchAfterLarger(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	p := InitParams[float32](DefaultConfig(), rng)
	x := make([]float32, 6*Side*Side)
	for i := range x {
		x[i] = rng.Float32()
	}
	reused := NewNet(p, nil)
	reused.Forward(x, 6)
	reused.Forward(x[2*Side*Side:], 3)
	fresh := NewNet(p, nil)
	fresh.Forward(x[2*Side*Side:], 3)
	for i, v := range fresh.Logits() {
		if reused.Logits()[i] != v {
			t.Fatalf("logit %d: reused net %g, fresh net %g", i, reused.Logits()[i], v)
		}
	}
}

// TestSaveLoad: a classifier file round-trips, and damaged or foreign files are errors
// that name the file.
func TestSaveLoad(t *testing.T) {
	c, err := Builtin("mnist")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "c.safetensors")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	d, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if d.Params.Checksum() != c.Params.Checksum() || d.Accuracy != c.Accuracy || d.RefN != c.RefN || d.Meta["command"] != c.Meta["command"] {
		t.Errorf("round trip changed the classifier")
	}
	b, _ := os.ReadFile(path)
	for _, bad := range []struct {
		name string
		b    []byte
	}{{"truncated", b[:len(b)/2]}, {"energy checkpoint", energyCheckpoint(t)}} {
		p := filepath.Join(dir, bad.name)
		os.WriteFile(p, bad.b, 0o644)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v; want an error naming %s", bad.name, err, p)
		}
	}
	if _, err := Builtin("cifar10"); err == nil || !strings.Contains(err.Error(), "--train-classifier") {
		t.Errorf("no built-in for cifar10: %v", err)
	}
}

// energyCheckpoint is a valid safetensors file that is not a classifier.
func energyCheckpoint(t *testing.T) []byte {
	cfg, _ := nn.PresetConfig("tiny")
	p := filepath.Join(t.TempDir(), "e.safetensors")
	if err := nn.SaveParams(p, nn.NewParams[float32](cfg), nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	return b
}
