package sampling

import (
	"bytes"
	"context"
	"errors"
	"math"
	"reflect"
	"runtime"
	"testing"
)

func TestAUROC(t *testing.T) {
	cases := []struct {
		name     string
		pos, neg []float64
		want     float64
	}{
		{"perfect", []float64{3, 4, 5}, []float64{0, 1, 2}, 1},
		{"reversed", []float64{0, 1}, []float64{2, 3}, 0},
		{"all tied", []float64{1, 1}, []float64{1, 1, 1}, 0.5},
		// pairs (pos, neg): (1,0)>, (1,2)<, (3,0)>, (3,2)> -> 3/4
		{"mixed", []float64{1, 3}, []float64{0, 2}, 0.75},
		// pos 2 vs neg {1, 2, 3}: 1 + 0.5 + 0 = 1.5; pos 4: 3 -> 4.5/6
		{"ties count half", []float64{2, 4}, []float64{1, 2, 3}, 0.75},
		{"NaN dropped", []float64{math.NaN(), 5}, []float64{1}, 1},
		{"empty", nil, []float64{1}, math.NaN()},
	}
	for _, c := range cases {
		got := AUROC(c.pos, c.neg)
		if !(got == c.want || math.IsNaN(got) && math.IsNaN(c.want)) {
			t.Errorf("%s: AUROC = %v, want %v", c.name, got, c.want)
		}
	}
	// against the O(mn) definition on random data with many ties
	rng := newRand(3)
	pos, neg := make([]float64, 57), make([]float64, 41)
	for i := range pos {
		pos[i] = float64(rng.IntN(10))
	}
	for i := range neg {
		neg[i] = float64(rng.IntN(8))
	}
	brute := 0.0
	for _, p := range pos {
		for _, q := range neg {
			switch {
			case p > q:
				brute++
			case p == q:
				brute += 0.5
			}
		}
	}
	brute /= float64(len(pos) * len(neg))
	if got := AUROC(pos, neg); math.Abs(got-brute) > 1e-12 {
		t.Errorf("AUROC = %v, pairwise definition %v", got, brute)
	}
}

func TestHistogram(t *testing.T) {
	h, err := Histogram([]float64{0, 0.5, 1, 1.5, 2, -1, 3, math.NaN()}, 4, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.Counts, []int{1, 1, 1, 2}) || h.Under != 1 || h.Over != 1 || h.NaN != 1 {
		t.Errorf("histogram %+v", h)
	}
	if !reflect.DeepEqual(h.Edges, []float64{0, 0.5, 1, 1.5, 2}) {
		t.Errorf("edges %v", h.Edges)
	}
	auto, _ := Histogram([]float64{5, 7, 6}, 2, 0, 0)
	if auto.Edges[0] != 5 || auto.Edges[2] != 7 || auto.Counts[0]+auto.Counts[1] != 3 {
		t.Errorf("auto range %+v", auto)
	}
	if _, err := Histogram(nil, 0, 0, 1); err == nil {
		t.Error("0 bins accepted")
	}
}

func TestEnergyScores(t *testing.T) {
	const n, dim = 23, 4
	g := mustGaussian(t, dim, 0, 1, 2)
	imgs := make([]float32, n*dim)
	for i := range imgs {
		imgs[i] = float32(i%5) / 4
	}
	factory := func() Energy { return g }
	clean, err := EnergyScores(context.Background(), factory, imgs, n, 5, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	e := make([]float32, n)
	g.Energy(imgs, n, e)
	for i := range e {
		if clean[i] != float64(e[i]) {
			t.Fatalf("clean score %d = %v, want %v", i, clean[i], e[i])
		}
	}
	prev := runtime.GOMAXPROCS(1)
	a, _ := EnergyScores(context.Background(), factory, imgs, n, 5, 0.1, 7)
	runtime.GOMAXPROCS(3)
	b, _ := EnergyScores(context.Background(), factory, imgs, n, 5, 0.1, 7)
	runtime.GOMAXPROCS(prev)
	if !reflect.DeepEqual(a, b) || reflect.DeepEqual(a, clean) {
		t.Error("noisy scores not reproducible across worker counts, or noise missing")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := EnergyScores(ctx, factory, imgs, n, 5, 0.1, 7); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := EnergyScores(context.Background(), factory, imgs[:7], n, 5, 0.1, 7); err == nil {
		t.Error("bad length accepted")
	}
}

func TestWriteScoresCSV(t *testing.T) {
	var b bytes.Buffer
	err := WriteScoresCSV(&b, []ScoreSet{{"test", []float64{1.5, -2}}, {"svhn", []float64{1e-7}}})
	want := "split,index,score\ntest,0,1.5\ntest,1,-2\nsvhn,0,1e-07\n"
	if err != nil || b.String() != want {
		t.Errorf("csv %q (%v), want %q", b.String(), err, want)
	}
}
