package data

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadMissing(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, split string
		path        string
	}{
		{"mnist", "train", filepath.Join(dir, "mnist", "train-images-idx3-ubyte.gz")},
		{"fashion-mnist", "test", filepath.Join(dir, "fashion-mnist", "t10k-images-idx3-ubyte.gz")},
		{"cifar10", "train", filepath.Join(dir, "cifar10", "cifar-10-batches-bin", "data_batch_1.bin")},
		{"cifar10", "test", filepath.Join(dir, "cifar10", "cifar-10-batches-bin", "test_batch.bin")},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/"+tc.split, func(t *testing.T) {
			_, err := Load(tc.name, tc.split, dir)
			wantFileErr(t, err, ErrNotFound, tc.path, "mdsm download "+tc.name+" --data-dir "+dir)
		})
	}
}

func TestLoadCorruptSaysHowToFix(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "mnist/train-images-idx3-ubyte.gz", gz(idxBytes([]uint32{10, 28, 28}, seq(100))))
	writeFile(t, dir, "mnist/train-labels-idx1-ubyte.gz", gz(idxBytes([]uint32{10}, seq(10))))
	_, err := Load("mnist", "train", dir)
	wantFileErr(t, err, ErrCorrupt, p, "truncated", "mdsm download mnist --data-dir "+dir)
}

func TestLoadRawIDXFallback(t *testing.T) {
	// Uncompressed files (as left by gunzip) are found when the .gz is absent.
	dir := t.TempDir()
	writeFile(t, dir, "fashion-mnist/t10k-images-idx3-ubyte", idxBytes([]uint32{2, 28, 28}, seq(2*784)))
	writeFile(t, dir, "fashion-mnist/t10k-labels-idx1-ubyte", idxBytes([]uint32{2}, []byte{3, 4}))
	ds, err := Load("fashion-mnist", "test", dir)
	if err != nil {
		t.Fatal(err)
	}
	if ds.N != 2 || ds.H != 32 || ds.Labels[1] != 4 || ds.Name != "fashion-mnist/test" {
		t.Errorf("got %+v", ds.Name)
	}
}

func TestLoadArguments(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, split string
		fragment    string
	}{
		{"mnist", "val", "unknown split"},
		{"imagenet", "train", "unknown dataset"},
		{filepath.Join(dir, "no-such-folder"), "train", "does not exist"},
		{dir, "train", "no .png"},
		{dir, "test", "no test split"},
	}
	for _, tc := range tests {
		_, err := Load(tc.name, tc.split, dir)
		if err == nil || !strings.Contains(err.Error(), tc.fragment) {
			t.Errorf("Load(%q, %q): error %v, want one mentioning %q", tc.name, tc.split, err, tc.fragment)
		}
	}
}

func TestLoadFolderSplits(t *testing.T) {
	root := filepath.Join(t.TempDir(), "faces")
	writeFile(t, root, "train/a.png", encodePNG(t, quadrantImage(20, 20)))
	writeFile(t, root, "train/b.png", encodePNG(t, quadrantImage(20, 20)))
	writeFile(t, root, "test/c.png", encodePNG(t, quadrantImage(20, 20)))
	for _, tc := range []struct {
		split string
		n     int
	}{{"train", 2}, {"test", 1}} {
		ds, err := LoadWith(root, tc.split, "", Options{Size: 64})
		if err != nil {
			t.Fatal(err)
		}
		if ds.N != tc.n || ds.H != 64 || ds.C != 3 || ds.Name != "faces/"+tc.split {
			t.Errorf("%s: N=%d H=%d name %q", tc.split, ds.N, ds.H, ds.Name)
		}
	}
	// A flat folder serves train.
	flat := t.TempDir()
	writeFile(t, flat, "x.jpg", encodeJPEG(t, quadrantImage(20, 20)))
	ds, err := Load(flat, "train", "")
	if err != nil || ds.N != 1 || ds.H != 32 {
		t.Fatalf("flat folder: %v", err)
	}
}

func TestDefaultDataDir(t *testing.T) {
	t.Setenv("MDSM_DATA", "/some/where")
	if got := DefaultDataDir(); got != "/some/where" {
		t.Errorf("with MDSM_DATA: %q", got)
	}
	t.Setenv("MDSM_DATA", "")
	t.Setenv("XDG_CACHE_HOME", "/cache")
	if got := DefaultDataDir(); got != filepath.Join("/cache", "mdsm", "data") {
		t.Errorf("default: %q", got)
	}
}
