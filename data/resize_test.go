package data

import (
	"math"
	"testing"
)

func TestDownsampleAreaAverage(t *testing.T) {
	// A 4x4 image with one bright 2x2 quadrant and a lone pixel: halving must average blocks.
	d := &Dataset{Name: "t", N: 1, C: 1, H: 4, W: 4, Pixels: []float32{
		1, 1, 0, 0,
		1, 1, 0, 0,
		0, 0, 0, 1,
		0, 0, 0, 0,
	}}
	got, err := d.Downsample(2)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 0, 0, 0.25}
	for i := range want {
		if math.Abs(float64(got.Pixels[i]-want[i])) > 1e-6 {
			t.Fatalf("pixel %d = %g, want %g (all %v)", i, got.Pixels[i], want[i], got.Pixels)
		}
	}
	if _, err := d.Downsample(8); err == nil {
		t.Fatal("upsampling must be refused")
	}
}

func TestEmbeddedDownsampledTo14(t *testing.T) {
	ds, err := LoadWith(Embedded, "train", "", Options{Size: 14, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	full, _ := LoadWith(Embedded, "train", "", Options{Size: 28, Limit: 10})
	if ds.H != 14 || ds.W != 14 || ds.N != 10 {
		t.Fatalf("got %dx%d x %d", ds.H, ds.W, ds.N)
	}
	// Total ink is preserved up to the factor 4 of the area.
	var a, b float64
	for _, v := range ds.Pixels {
		a += float64(v)
	}
	for _, v := range full.Pixels {
		b += float64(v)
	}
	if math.Abs(4*a-b) > 1e-3*b {
		t.Fatalf("ink %g at 14x14 vs %g at 28x28", 4*a, b)
	}
}
