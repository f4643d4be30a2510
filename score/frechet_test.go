package score

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// randomSPD draws a random symmetric positive definite d x d matrix.
func randomSPD(rng *rand.Rand, d int) []float64 {
	a := mat.NewDense(d, d, nil)
	for i := range d {
		for j := range d {
			a.Set(i, j, rng.NormFloat64())
		}
	}
	var s mat.Dense
	s.Mul(a, a.T())
	for i := range d {
		s.Set(i, i, s.At(i, i)+0.1)
	}
	return s.RawMatrix().Data
}

// traceSqrtDenmanBeavers is tr((A B)^(1/2)) by the Denman-Beavers iteration on the
// (non-symmetric) product: an independent route to the quantity FrechetDistance gets
// from two symmetric eigendecompositions.
func traceSqrtDenmanBeavers(a, b []float64, d int) float64 {
	var y mat.Dense
	y.Mul(mat.NewDense(d, d, a), mat.NewDense(d, d, b))
	z := mat.NewDense(d, d, nil)
	for i := range d {
		z.Set(i, i, 1)
	}
	for range 100 {
		var yi, zi mat.Dense
		if yi.Inverse(&y) != nil || zi.Inverse(z) != nil {
			break
		}
		var yn, zn mat.Dense
		yn.Add(&y, &zi)
		yn.Scale(0.5, &yn)
		zn.Add(z, &yi)
		zn.Scale(0.5, &zn)
		y, *z = yn, zn
	}
	return mat.Trace(&y)
}

func TestFrechetDistance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const d = 6
	mean := func() []float64 {
		m := make([]float64, d)
		for i := range m {
			m[i] = rng.NormFloat64()
		}
		return m
	}
	t.Run("diagonal closed form", func(t *testing.T) {
		// For diagonal covariances FD = |mu_a - mu_b|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2.
		a := Stats{Dim: d, Mean: mean(), Cov: make([]float64, d*d)}
		b := Stats{Dim: d, Mean: mean(), Cov: make([]float64, d*d)}
		want := 0.0
		for i := range d {
			va, vb := rng.Float64()*3, rng.Float64()*3
			a.Cov[i*d+i], b.Cov[i*d+i] = va, vb
			dm := a.Mean[i] - b.Mean[i]
			want += dm*dm + (math.Sqrt(va)-math.Sqrt(vb))*(math.Sqrt(va)-math.Sqrt(vb))
		}
		got, err := FrechetDistance(a, b)
		if err != nil || math.Abs(got-want) > 1e-9*want {
			t.Errorf("FD %.12g (err %v), closed form %.12g", got, err, want)
		}
	})
	t.Run("general covariances", func(t *testing.T) {
		a := Stats{Dim: d, Mean: mean(), Cov: randomSPD(rng, d)}
		b := Stats{Dim: d, Mean: mean(), Cov: randomSPD(rng, d)}
		want := mat.Trace(mat.NewDense(d, d, a.Cov)) + mat.Trace(mat.NewDense(d, d, b.Cov)) - 2*traceSqrtDenmanBeavers(a.Cov, b.Cov, d)
		for i := range d {
			want += (a.Mean[i] - b.Mean[i]) * (a.Mean[i] - b.Mean[i])
		}
		ab, err1 := FrechetDistance(a, b)
		ba, err2 := FrechetDistance(b, a)
		aa, err3 := FrechetDistance(a, a)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatal(err1, err2, err3)
		}
		if math.Abs(ab-want) > 1e-8*want || math.Abs(ab-ba) > 1e-8*want {
			t.Errorf("FD(a,b) %.12g, FD(b,a) %.12g, Denman-Beavers %.12g", ab, ba, want)
		}
		if aa > 1e-9 {
			t.Errorf("FD(a,a) = %g, want 0", aa)
		}
	})
	t.Run("rank-deficient", func(t *testing.T) {
		// Fewer samples than dimensions (a grid's N below the feature size): singular
		// covariances still give a finite, non-negative distance.
		feats := make([]float32, 3*d)
		for i := range feats {
			feats[i] = float32(rng.NormFloat64())
		}
		a, err := NewStats(feats, 3, d)
		if err != nil {
			t.Fatal(err)
		}
		b := Stats{Dim: d, Mean: make([]float64, d), Cov: randomSPD(rng, d)}
		fd, err := FrechetDistance(a, b)
		if err != nil || math.IsNaN(fd) || fd <= 0 {
			t.Errorf("FD %g, err %v", fd, err)
		}
	})
	if _, err := FrechetDistance(Stats{Dim: 2}, Stats{Dim: 3}); err == nil {
		t.Error("statistics of different dimensions: no error")
	}
}

func TestNewStats(t *testing.T) {
	feats := []float32{1, 2, 3, 6, 5, 10}
	s, err := NewStats(feats, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	// columns (1,3,5) and (2,6,10): means 3 and 6, variances 4 and 16, covariance 8
	want := Stats{N: 3, Dim: 2, Mean: []float64{3, 6}, Cov: []float64{4, 8, 8, 16}}
	for i, v := range want.Mean {
		if s.Mean[i] != v {
			t.Errorf("mean %v, want %v", s.Mean, want.Mean)
		}
	}
	for i, v := range want.Cov {
		if math.Abs(s.Cov[i]-v) > 1e-12 {
			t.Errorf("covariance %v, want %v", s.Cov, want.Cov)
		}
	}
	if _, err := NewStats(feats, 1, 2); err == nil {
		t.Error("one sample: no error")
	}
}
