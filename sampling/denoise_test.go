package sampling

import (
	"math"
	"testing"
)

func TestDenoiseJump(t *testing.T) {
	// Gaussian E with mu = 0.5, s = 0.2: jump x - s0^2 (x - mu)/s^2 = x - 0.25 (x - 0.5) for s0 = 0.1
	g := mustGaussian(t, 3, 0.5, 0.2, 0)
	noisy := []float32{0.5, 1.3, -0.3, 0.1, 0.9, 0.5}
	got, err := Denoise(g, noisy, 2, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.5, 1.1, -0.1, 0.2, 0.8, 0.5}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-6 {
			t.Errorf("Denoise[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if noisy[1] != 1.3 {
		t.Error("Denoise modified its input")
	}
	for _, c := range []struct {
		x     []float32
		n     int
		sigma float64
	}{{noisy, 4, 0.1}, {noisy, 0, 0.1}, {noisy, 2, -1}, {nil, 1, 0.1}} {
		if _, err := Denoise(g, c.x, c.n, c.sigma); err == nil {
			t.Errorf("Denoise(len %d, n %d, sigma %v) accepted", len(c.x), c.n, c.sigma)
		}
	}
}

func TestAddNoise(t *testing.T) {
	x := make([]float32, 20000)
	y := AddNoise(x, 0.3, 1)
	m, v := meanVar(y)
	if math.Abs(m) > 0.01 || math.Abs(math.Sqrt(v)-0.3) > 0.01 {
		t.Errorf("noise mean %v sd %v, want 0, 0.3", m, math.Sqrt(v))
	}
	if x[0] != 0 {
		t.Error("AddNoise modified its input")
	}
	z := AddNoise(x, 0.3, 1)
	for i := range y {
		if y[i] != z[i] {
			t.Fatal("AddNoise not reproducible")
		}
	}
}

func TestPSNR(t *testing.T) {
	cases := []struct {
		name string
		a, b []float32
		n    int
		peak float64
		per  []float64
		mean float64
	}{
		// MSE 0.01 -> 20 dB; MSE 0.0001 -> 40 dB
		{"two images", []float32{0.1, 0.1, 0.5, 0.5}, []float32{0, 0.2, 0.51, 0.49}, 2, 1, []float64{20, 40}, 30},
		// MSE 1 with peak 255: 20 log10(255) = 48.1308...
		{"peak 255", []float32{10, 12}, []float32{11, 11}, 1, 255, []float64{48.13080360867910}, 48.13080360867910},
		// MSE 0.25 with peak 1: 10 log10(4) = 6.0206
		{"half", []float32{0, 1}, []float32{0.5, 0.5}, 1, 1, []float64{6.020599913279624}, 6.020599913279624},
		{"identical", []float32{0.3, 0.7}, []float32{0.3, 0.7}, 1, 1, []float64{math.Inf(1)}, math.Inf(1)},
	}
	for _, c := range cases {
		per, mean, err := PSNR(c.a, c.b, c.n, c.peak)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for i := range per {
			if !(per[i] == c.per[i] || math.Abs(per[i]-c.per[i]) < 1e-4) {
				t.Errorf("%s: per[%d] = %v, want %v", c.name, i, per[i], c.per[i])
			}
		}
		if !(mean == c.mean || math.Abs(mean-c.mean) < 1e-4) {
			t.Errorf("%s: mean %v, want %v", c.name, mean, c.mean)
		}
	}
	if _, _, err := PSNR([]float32{1, 2}, []float32{1}, 1, 1); err == nil {
		t.Error("length mismatch accepted")
	}
	if _, _, err := PSNR([]float32{1, 2}, []float32{1, 2}, 1, 0); err == nil {
		t.Error("peak 0 accepted")
	}
}
