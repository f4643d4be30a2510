package sampling

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// nanEnergy returns NaN energies and gradients: a broken model.
type nanEnergy struct{}

func (nanEnergy) Energy(x []float32, n int, e []float32) {
	for i := range e {
		e[i] = float32(math.NaN())
	}
}

func (nanEnergy) EnergyGrad(x []float32, n int, e, g []float32) {
	nanEnergy{}.Energy(x, n, e)
	for i := range g {
		g[i] = float32(math.NaN())
	}
}

// TestNonFiniteResultsAreErrors: a sampler that diverges (a temperature or step length too
// large, a broken model) and every function that reports numbers return an error naming
// the cause instead of NaN.
func TestNonFiniteResultsAreErrors(t *testing.T) {
	ctx := context.Background()
	g := mustGaussian(t, 4, 0.5, 1, 0)
	for _, c := range []struct {
		name string
		e    Energy
		cfg  LangevinConfig
		want string
	}{
		{"huge temperature", g, LangevinConfig{Schedule: Schedule{Kind: KindConst, Steps: 5, T0: 1e300}, Eps: 0.02, InitStd: 1}, "state is not finite"},
		{"huge eps", quadEnergy{a: 1, b: make([]float64, 4)}, LangevinConfig{Schedule: Schedule{Kind: KindConst, Steps: 50, T0: 0}, Eps: 1e20, InitStd: 1}, "not finite"},
		{"NaN model", nanEnergy{}, oneStepConfig(1), "energy is not finite"},
	} {
		ch, err := NewChain(c.e, 2, 4, c.cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		err = ch.Run(ctx)
		if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "step") {
			t.Errorf("%s: Run = %v, want ErrDiverged naming the step and %q", c.name, err, c.want)
		}
		if err2 := ch.Step(ctx); !errors.Is(err2, ErrDiverged) {
			t.Errorf("%s: a step after the divergence returned %v", c.name, err2)
		}
		_, _, err = SampleBatches(ctx, func() Energy { return c.e }, 3, 2, 4, c.cfg, 1, nil)
		if !errors.Is(err, ErrDiverged) {
			t.Errorf("%s: SampleBatches = %v, want ErrDiverged", c.name, err)
		}
	}
	if _, err := Denoise(nanEnergy{}, make([]float32, 8), 2, 0.1); err == nil || !strings.Contains(err.Error(), "not a finite") {
		t.Errorf("Denoise with a NaN model: %v", err)
	}
	if _, err := EnergyScores(ctx, func() Energy { return nanEnergy{} }, make([]float32, 8), 2, 1, 0, 1); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("EnergyScores with a NaN model: %v", err)
	}
	a := []float32{0, 1, float32(math.NaN()), 0}
	if _, _, err := PSNR(a, make([]float32, 4), 2, 1); err == nil || !strings.Contains(err.Error(), "image 1") {
		t.Errorf("PSNR of a NaN image: %v", err)
	}
}

// TestNearestNeighborsNonFinite: NaN or Inf samples are an error, never a panic; a
// non-finite training image never breaks the order of the others.
func TestNearestNeighborsNonFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	train := []float32{0, 0, 1, 1, nan, 0, 2, 2}
	for _, s := range [][]float32{{nan, 0}, {inf, 0}, {0, float32(math.Inf(-1))}} {
		if _, _, err := NearestNeighbors(context.Background(), s, 1, train, 4, 3); err == nil || !strings.Contains(err.Error(), "not a finite") {
			t.Errorf("samples %v: %v", s, err)
		}
	}
	idx, dist, err := NearestNeighbors(context.Background(), []float32{0.9, 0.9}, 1, train, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 0, 3, 2}; !slices.Equal(idx[0], want) || !math.IsInf(dist[0][3], 1) {
		t.Errorf("neighbours %v (distances %v), want %v with the NaN image last", idx[0], dist[0], want)
	}
}

// FuzzNearestNeighbors: any samples and training images (NaN and Inf included) give either
// an error or k neighbours per sample with ascending distances; never a panic.
func FuzzNearestNeighbors(f *testing.F) {
	f.Add([]byte{0, 0, 0x80, 0x3f, 0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0x7f, 1, 2, 3, 4}, uint8(2), uint8(3))
	f.Fuzz(func(t *testing.T, raw []byte, dim8, k8 uint8) {
		dim, k := int(dim8%4)+1, int(k8%5)
		vals := make([]float32, len(raw)/4)
		for i := range vals {
			vals[i] = math.Float32frombits(uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24)
		}
		n := len(vals) / dim
		if n < 2 {
			return
		}
		ns := n / 2
		samples, train := vals[:ns*dim], vals[ns*dim:n*dim]
		idx, dist, err := NearestNeighbors(context.Background(), samples, ns, train, n-ns, k)
		if err != nil {
			return
		}
		for s := range idx {
			if len(idx[s]) != min(k, n-ns) {
				t.Fatalf("sample %d: %d neighbours, want %d", s, len(idx[s]), min(k, n-ns))
			}
			for i := 1; i < len(dist[s]); i++ {
				if dist[s][i] < dist[s][i-1] {
					t.Fatalf("sample %d: distances %v not ascending", s, dist[s])
				}
			}
		}
	})
}
