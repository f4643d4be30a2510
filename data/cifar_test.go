package data

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

// cifarRecords builds n synthetic CIFAR-10 records: label i%10, and pixel j of record i equal to
// (i*7 + j) mod 256, so each record and channel is distinguishable.
func cifarRecords(n, first int) []byte {
	b := make([]byte, 0, n*cifarRecordSize)
	for i := first; i < first+n; i++ {
		b = append(b, byte(i%10))
		for j := 0; j < cifarPixels; j++ {
			b = append(b, byte(i*7+j))
		}
	}
	return b
}

func TestReadCIFAR(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "cifar10", "cifar-10-batches-bin")
	for k, f := range CIFARTrainFiles {
		writeFile(t, base, f, cifarRecords(3, 3*k))
	}
	writeFile(t, base, CIFARTestFile, cifarRecords(4, 100))

	tests := []struct {
		split string
		n     int
		first int
	}{{"train", 15, 0}, {"test", 4, 100}}
	for _, tc := range tests {
		ds, err := Load("cifar10", tc.split, dir)
		if err != nil {
			t.Fatal(err)
		}
		if ds.N != tc.n || ds.C != 3 || ds.H != 32 || ds.W != 32 || len(ds.Labels) != tc.n {
			t.Fatalf("%s: shape N=%d C=%d H=%d W=%d", tc.split, ds.N, ds.C, ds.H, ds.W)
		}
		if err := ds.Validate(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < ds.N; i++ {
			rec := tc.first + i
			if ds.Labels[i] != rec%10 {
				t.Fatalf("%s: label %d = %d", tc.split, i, ds.Labels[i])
			}
			img := ds.Image(i)
			// CHW straight from the record: red plane, then green, then blue.
			for _, j := range []int{0, 1, 1023, 1024, 2048 + 32*5 + 7, 3071} {
				if want := float32(byte(rec*7+j)) / 255; img[j] != want {
					t.Fatalf("%s: image %d value %d = %v, want %v", tc.split, i, j, img[j], want)
				}
			}
		}
	}
	if _, err := LoadWith("cifar10", "test", dir, Options{Size: 28}); err == nil {
		t.Error("size 28 for CIFAR: want an error")
	}
}

func TestReadCIFARCorrupt(t *testing.T) {
	dir := t.TempDir()
	badLabel := cifarRecords(2, 0)
	badLabel[cifarRecordSize] = 57
	tests := []struct {
		name      string
		b         []byte
		fragments []string
	}{
		{"empty", nil, []string{"empty"}},
		{"truncated", cifarRecords(2, 0)[:2*cifarRecordSize-10], []string{"truncated", "1 whole records"}},
		{"extra bytes", append(cifarRecords(1, 0), 1, 2), []string{"not a multiple"}},
		{"label out of range", badLabel, []string{"record 1 has label 57"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, tc.name+".bin", tc.b)
			_, err := ReadCIFAR(p)
			wantFileErr(t, err, ErrCorrupt, p, tc.fragments...)
		})
	}
	missing := filepath.Join(dir, "nope.bin")
	_, err := ReadCIFAR(missing)
	wantFileErr(t, err, ErrNotFound, missing)
}

// FuzzReadCIFAR feeds arbitrary bytes to the CIFAR-10 decoder: error or consistent result,
// never a panic.
func FuzzReadCIFAR(f *testing.F) {
	f.Add(cifarRecords(1, 0))
	f.Add(cifarRecords(2, 5)[:100])
	f.Add([]byte{10})
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := decodeCIFAR(bytes.NewReader(b), int64(len(b)), "fuzz")
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if err := ds.Validate(); err != nil {
			t.Fatal(err)
		}
		if ds.N*cifarRecordSize != len(b) {
			t.Fatalf("%d records from %d bytes", ds.N, len(b))
		}
	})
}
