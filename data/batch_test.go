package data

import (
	"encoding/json"
	"slices"
	"testing"
)

// drawBatches takes k batches and returns their indices, checking that pixels were copied.
func drawBatches(t *testing.T, b *Batcher, ds *Dataset, k int) [][]int {
	t.Helper()
	dst := make([]float32, b.BatchSize()*ds.Dim())
	var out [][]int
	for range k {
		idx := b.Next(dst)
		for j, i := range idx {
			if !equal(dst[j*ds.Dim():(j+1)*ds.Dim()], ds.Image(i)) {
				t.Fatalf("batch slot %d does not hold image %d", j, i)
			}
		}
		out = append(out, idx)
	}
	return out
}

func TestBatcherEpochs(t *testing.T) {
	ds := tinyDataset(10, true)
	b, err := NewBatcher(ds, 4, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	// 5 batches of 4 = exactly two epochs of 10; each epoch covers every image once.
	var flat []int
	for _, idx := range drawBatches(t, b, ds, 5) {
		flat = append(flat, idx...)
	}
	for e := 0; e < 2; e++ {
		ep := slices.Clone(flat[10*e : 10*(e+1)])
		slices.Sort(ep)
		for i, v := range ep {
			if v != i {
				t.Fatalf("epoch %d is not a permutation: %v", e, flat[10*e:10*(e+1)])
			}
		}
	}
	if slices.Equal(flat[:10], flat[10:]) {
		t.Error("two epochs drew the same order")
	}
	if slices.Equal(flat[:10], []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Error("first epoch not shuffled")
	}
	if b.Epoch() != 1 {
		t.Errorf("Epoch = %d after exactly 2 passes (the third starts on the next draw)", b.Epoch())
	}
}

func TestBatcherDeterministic(t *testing.T) {
	ds := tinyDataset(37, false)
	a, _ := NewBatcher(ds, 8, 42, 7)
	b, _ := NewBatcher(ds, 8, 42, 7)
	c, _ := NewBatcher(ds, 8, 43, 7)
	da, db, dc := drawBatches(t, a, ds, 20), drawBatches(t, b, ds, 20), drawBatches(t, c, ds, 20)
	for i := range da {
		if !slices.Equal(da[i], db[i]) {
			t.Fatalf("same seeds, batch %d differs", i)
		}
	}
	same := 0
	for i := range da {
		if slices.Equal(da[i], dc[i]) {
			same++
		}
	}
	if same == len(da) {
		t.Error("different seeds gave the same batches")
	}
}

func TestBatcherRestore(t *testing.T) {
	ds := tinyDataset(23, false)
	// Save after k batches (including at and across epoch boundaries), restore into a Batcher
	// with other seeds via JSON, and compare the next 15 batches with an uninterrupted run.
	for _, k := range []int{0, 1, 5, 6, 11, 12, 30} {
		ref, _ := NewBatcher(ds, 4, 9, 10)
		want := drawBatches(t, ref, ds, k+15)[k:]

		run, _ := NewBatcher(ds, 4, 9, 10)
		drawBatches(t, run, ds, k)
		js, err := json.Marshal(run.State())
		if err != nil {
			t.Fatal(err)
		}
		var st BatcherState
		if err := json.Unmarshal(js, &st); err != nil {
			t.Fatal(err)
		}
		resumed, _ := NewBatcher(ds, 4, 1, 1)
		if err := resumed.Restore(st); err != nil {
			t.Fatal(err)
		}
		got := drawBatches(t, resumed, ds, 15)
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Fatalf("after %d batches: resumed batch %d = %v, want %v (state %s)", k, i, got[i], want[i], js)
			}
		}
		if resumed.Epoch() != ref.Epoch() {
			t.Errorf("epoch %d, want %d", resumed.Epoch(), ref.Epoch())
		}
	}
}

func TestBatcherErrors(t *testing.T) {
	ds := tinyDataset(5, false)
	if _, err := NewBatcher(ds, 0, 1, 1); err == nil {
		t.Error("batch size 0 accepted")
	}
	if _, err := NewBatcher(&Dataset{C: 1, H: 1, W: 1}, 2, 1, 1); err == nil {
		t.Error("empty dataset accepted")
	}
	b, _ := NewBatcher(ds, 2, 1, 1)
	st := b.State()
	other, _ := NewBatcher(tinyDataset(6, false), 2, 1, 1)
	if err := other.Restore(st); err == nil {
		t.Error("restore onto a different-size dataset accepted")
	}
	st.RNG = []byte("junk")
	if err := b.Restore(st); err == nil {
		t.Error("bad RNG state accepted")
	}
	st = b.State()
	st.Pos = 99
	if err := b.Restore(st); err == nil {
		t.Error("bad position accepted")
	}
	defer func() {
		if recover() == nil {
			t.Error("short dst did not panic")
		}
	}()
	b.Next(make([]float32, 3))
}
