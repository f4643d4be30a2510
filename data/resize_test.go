package data

import (
	"errors"
	"math"
	"strings"
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

func TestUpsampleBilinear(t *testing.T) {
	// 2x2 -> 4x4: output pixel o samples the input at (o+0.5)/2 - 0.5, i.e. -0.25, 0.25,
	// 0.75, 1.25, clamped to [0, 1]: weights (1,0), (0.75,0.25), (0.25,0.75), (0,1).
	d := &Dataset{Name: "t", N: 1, C: 1, H: 2, W: 2, Pixels: []float32{0, 1, 0, 1}}
	got, err := d.Upsample(4)
	if err != nil {
		t.Fatal(err)
	}
	row := []float32{0, 0.25, 0.75, 1}
	for y := range 4 {
		for x := range 4 {
			if v := got.Pixels[y*4+x]; math.Abs(float64(v-row[x])) > 1e-6 {
				t.Fatalf("pixel (%d,%d) = %g, want %g (all %v)", y, x, v, row[x], got.Pixels)
			}
		}
	}
	// Constant images stay constant, and area-down then bilinear-up keeps total ink.
	full, _ := LoadWith(Embedded, "test", "", Options{Size: 28, Limit: 4})
	small, _ := full.Downsample(14)
	back, err := small.Upsample(28)
	if err != nil || back.H != 28 || back.N != 4 {
		t.Fatalf("14 -> 28: %v", err)
	}
	var a, b float64
	for i := range full.Pixels {
		a, b = a+float64(full.Pixels[i]), b+float64(back.Pixels[i])
	}
	if math.Abs(a-b) > 0.02*a {
		t.Errorf("ink before %.1f, after the 14x14 round trip %.1f", a, b)
	}
	if _, err := full.Upsample(14); err == nil {
		t.Error("downsampling by Upsample: no error")
	}
}

func TestCropUndoesPad(t *testing.T) {
	full, _ := LoadWith(Embedded, "test", "", Options{Size: 28, Limit: 3})
	padded, err := full.Resize(32) // the readers' padding
	if err != nil || padded.H != 32 {
		t.Fatalf("resize to 32: %v", err)
	}
	back, err := padded.Crop(28)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range full.Pixels {
		if back.Pixels[i] != v {
			t.Fatalf("pixel %d: %g after pad and crop, %g before", i, back.Pixels[i], v)
		}
	}
	small, err := full.Resize(14)
	if err != nil || small.H != 14 {
		t.Fatalf("resize to 14: %v", err)
	}
	if _, err := full.Crop(30); err == nil {
		t.Error("crop to a larger size: no error")
	}
}

func TestStackIsDeterministic(t *testing.T) {
	digits, _ := LoadWith(Embedded, "test", "", Options{Size: 28})
	a, err := Stack(digits, 50)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Stack(digits, 50)
	if a.C != 3 || a.N != 50 || a.Validate() != nil {
		t.Fatalf("stacked set: %d images of %d channels (%v)", a.N, a.C, a.Validate())
	}
	for i := range a.Pixels {
		if a.Pixels[i] != b.Pixels[i] {
			t.Fatal("two stacks of the same digits differ")
		}
	}
	// Every channel is one of the digits, and the label spells the three classes.
	plane := 28 * 28
	for i := range a.N {
		mode := 0
		for ch := range 3 {
			found := -1
			for j := range digits.N {
				if equal(a.Pixels[(i*3+ch)*plane:(i*3+ch+1)*plane], digits.Image(j)) {
					found = digits.Labels[j]
					break
				}
			}
			if found < 0 {
				t.Fatalf("image %d channel %d is no digit of the set", i, ch)
			}
			mode = 10*mode + found
		}
		if a.Labels[i] != mode {
			t.Fatalf("image %d: label %d, channels spell %d", i, a.Labels[i], mode)
		}
	}
	if _, err := Stack(a, 5); err == nil {
		t.Error("stacking a three-channel set: no error")
	}
}

func TestLoadStackedMNIST(t *testing.T) {
	dir := needReal(t, MNIST)
	ds, err := LoadWith(StackedMNIST, "test", dir, Options{Size: 32, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if ds.N != 100 || ds.C != 3 || ds.H != 32 || ds.Name != "stacked-mnist/test" || ds.Validate() != nil {
		t.Errorf("stacked-mnist test: %d images of %dx%dx%d named %q", ds.N, ds.C, ds.H, ds.W, ds.Name)
	}
	_, err = Load(StackedMNIST, "train", t.TempDir())
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "mdsm download mnist") {
		t.Errorf("stacked-mnist without MNIST: %v; want not found, naming the download", err)
	}
}
