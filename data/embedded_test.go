package data

import (
	"testing"
)

func TestEmbedded(t *testing.T) {
	tests := []struct {
		split       string
		n           int
		firstLabels []int
	}{
		{"train", EmbeddedTrainN, []int{5, 0, 4, 1, 9, 2, 1, 3, 1, 4}},
		{"test", EmbeddedTestN, []int{7, 2, 1, 0, 4, 1, 4, 9, 5, 9}},
	}
	for _, tc := range tests {
		t.Run(tc.split, func(t *testing.T) {
			ds, err := Load("embedded", tc.split, "/nonexistent")
			if err != nil {
				t.Fatal(err)
			}
			if ds.N != tc.n || ds.C != 1 || ds.H != 32 || ds.W != 32 || len(ds.Labels) != tc.n {
				t.Fatalf("shape N=%d C=%d H=%d W=%d labels %d", ds.N, ds.C, ds.H, ds.W, len(ds.Labels))
			}
			if ds.Name != "embedded/"+tc.split {
				t.Errorf("Name %q", ds.Name)
			}
			if err := ds.Validate(); err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.firstLabels {
				if ds.Labels[i] != want {
					t.Errorf("label %d = %d, want %d", i, ds.Labels[i], want)
				}
			}
			var counts [10]int
			for _, l := range ds.Labels {
				counts[l]++
			}
			for c, k := range counts {
				if k < tc.n/20 {
					t.Errorf("class %d has only %d images", c, k)
				}
			}
		})
	}
	// Raw pixel (5,16) of training image 0 is 126, at (7,18) after padding.
	ds, err := LoadWith("embedded", "train", "", Options{Size: 28, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if ds.N != 10 || ds.H != 28 || ds.Image(0)[5*28+16] != float32(126)/255 {
		t.Errorf("embedded 28x28 wrong: N=%d H=%d", ds.N, ds.H)
	}
}

// TestEmbeddedMatchesOfficial checks the provenance claim: the embedded sets are exactly the
// first images and labels of the official MNIST files.
func TestEmbeddedMatchesOfficial(t *testing.T) {
	for _, split := range []string{"train", "test"} {
		official := loadReal(t, "mnist", split)
		emb, err := Load("embedded", split, "")
		if err != nil {
			t.Fatal(err)
		}
		want := official.Slice(0, emb.N)
		if !equal(emb.Pixels, want.Pixels) {
			t.Errorf("%s: embedded pixels differ from the first %d official images", split, emb.N)
		}
		for i := range emb.Labels {
			if emb.Labels[i] != want.Labels[i] {
				t.Fatalf("%s: embedded label %d differs", split, i)
			}
		}
	}
}
