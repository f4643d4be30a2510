package data

import (
	"math"
	"testing"
)

// tinyDataset returns n 2x2x3 images whose pixel values encode (image, index).
func tinyDataset(n int, labels bool) *Dataset {
	ds := &Dataset{Name: "tiny", N: n, C: 2, H: 2, W: 3, Pixels: make([]float32, n*12)}
	for i := range ds.Pixels {
		ds.Pixels[i] = float32(i) / float32(len(ds.Pixels))
	}
	if labels {
		ds.Labels = make([]int, n)
		for i := range ds.Labels {
			ds.Labels[i] = i % 10
		}
	}
	return ds
}

func TestDatasetHelpers(t *testing.T) {
	ds := tinyDataset(5, true)
	if ds.Dim() != 12 {
		t.Fatalf("Dim %d", ds.Dim())
	}
	if img := ds.Image(3); len(img) != 12 || img[0] != ds.Pixels[36] || cap(img) != 12 {
		t.Errorf("Image(3) wrong")
	}
	if ds.Label(4) != 4 || (&Dataset{}).Label(0) != -1 {
		t.Errorf("Label wrong")
	}
	s := ds.Slice(1, 3)
	if s.N != 2 || s.Labels[0] != 1 || &s.Pixels[0] != &ds.Pixels[12] {
		t.Errorf("Slice should share memory")
	}
	sub := ds.Subset([]int{4, 0, 4})
	if sub.N != 3 || sub.Labels[0] != 4 || sub.Image(1)[5] != ds.Image(0)[5] || sub.Image(2)[0] != ds.Image(4)[0] {
		t.Errorf("Subset wrong")
	}
	sub.Pixels[0] = 0.5
	if ds.Image(4)[0] == 0.5 {
		t.Errorf("Subset should copy")
	}
	if err := ds.Validate(); err != nil {
		t.Error(err)
	}
}

func TestDatasetValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Dataset)
	}{
		{"pixel above 1", func(d *Dataset) { d.Pixels[3] = 1.5 }},
		{"NaN", func(d *Dataset) { d.Pixels[0] = float32(math.NaN()) }},
		{"short pixels", func(d *Dataset) { d.Pixels = d.Pixels[:10] }},
		{"labels", func(d *Dataset) { d.Labels = d.Labels[:1] }},
		{"shape", func(d *Dataset) { d.C = 0 }},
	}
	for _, tc := range tests {
		ds := tinyDataset(3, true)
		tc.mutate(ds)
		if ds.Validate() == nil {
			t.Errorf("%s: Validate passed", tc.name)
		}
	}
}

func TestDatasetPad(t *testing.T) {
	ds := tinyDataset(2, false)
	p, err := ds.Pad(6)
	if err != nil {
		t.Fatal(err)
	}
	// 2x3 in 6x6: top 2, left 1.
	for c := 0; c < 2; c++ {
		for y := 0; y < 2; y++ {
			for x := 0; x < 3; x++ {
				got := p.Image(1)[c*36+(y+2)*6+x+1]
				want := ds.Image(1)[c*6+y*3+x]
				if got != want {
					t.Fatalf("padded (%d,%d,%d) = %v want %v", c, y, x, got, want)
				}
			}
		}
	}
	var sum, want float32
	for _, v := range p.Pixels {
		sum += v
	}
	for _, v := range ds.Pixels {
		want += v
	}
	if sum != want {
		t.Errorf("padding changed the pixel sum")
	}
	if _, err := ds.Pad(2); err == nil {
		t.Error("pad to smaller: want an error")
	}
}
