package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFootprintMatchesLoad: the footprint estimated from headers and file counts alone is
// at least the pixels LoadWith allocates and at most 8 times them (downsampling decodes at the native size first), for every kind of
// dataset, and reading it costs no decoding.
func TestFootprintMatchesLoad(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "mnist/train-images-idx3-ubyte.gz", gz(idxBytes([]uint32{5, 28, 28}, seq(5*784))))
	writeFile(t, dir, "mnist/train-labels-idx1-ubyte.gz", gz(idxBytes([]uint32{5}, seq(5))))
	rec := make([]byte, cifarRecordSize*3)
	writeFile(t, dir, "cifar10/cifar-10-batches-bin/test_batch.bin", rec)
	folder := filepath.Join(dir, "imgs")
	for i := range 3 {
		writeFile(t, folder, strings.Repeat("a", i+1)+".png", encodePNG(t, quadrantImage(8, 6)))
	}
	for _, c := range []struct {
		name, split string
		size        int
	}{
		{"embedded", "test", 14}, {"embedded", "train", 32}, {"mnist", "train", 32}, {"mnist", "train", 14},
		{"cifar10", "test", 32}, {"cifar10", "test", 64}, {folder, "train", 16},
	} {
		opt := Options{Size: c.size}
		fp, err := Footprint(c.name, c.split, dir, opt)
		if err != nil {
			t.Fatalf("%s/%s: %v", c.name, c.split, err)
		}
		ds, err := LoadWith(c.name, c.split, dir, opt)
		if err != nil {
			t.Fatal(err)
		}
		pix := int64(4 * len(ds.Pixels))
		if fp < pix || fp > 8*pix {
			t.Errorf("%s/%s at %d: footprint %d bytes, the dataset holds %d", c.name, c.split, c.size, fp, pix)
		}
	}
	// a header that claims more than the file holds is an error naming it, before any
	// allocation
	p := writeFile(t, dir, "fashion-mnist/train-images-idx3-ubyte", idxBytes([]uint32{1 << 20, 28, 28}, seq(100)))
	_, err := Footprint("fashion-mnist", "train", dir, Options{})
	wantFileErr(t, err, ErrCorrupt, p, "truncated", "mdsm download fashion-mnist")
}

// TestReadersRefuseSpecialFiles: a FIFO or a symbolic link loop where a dataset file or a
// folder image is expected is an error naming it, at once.
func TestReadersRefuseSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	mk := func(p string) string {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	idx := mk(filepath.Join(dir, "mnist", "t10k-images-idx3-ubyte.gz"))
	writeFile(t, dir, "mnist/t10k-labels-idx1-ubyte.gz", gz(idxBytes([]uint32{1}, []byte{1})))
	cifar := mk(filepath.Join(dir, "cifar10", "cifar-10-batches-bin", "test_batch.bin"))
	img := mk(filepath.Join(dir, "folder", "test", "a.png"))
	loopDir := filepath.Join(dir, "fashion-mnist")
	os.MkdirAll(loopDir, 0o755)
	loop := filepath.Join(loopDir, "t10k-images-idx3-ubyte.gz")
	os.Symlink(loop+"2", loop)
	os.Symlink(loop, loop+"2")
	for _, c := range []struct {
		name, path, want string
	}{
		{"mnist", idx, "FIFO"}, {"cifar10", cifar, "FIFO"}, {filepath.Join(dir, "folder"), img, "FIFO"}, {"fashion-mnist", loop, "loop"},
	} {
		done := make(chan error, 1)
		go func() { _, err := LoadWith(c.name, "test", dir, Options{}); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %v, want an error naming %s and saying %s", c.name, err, c.path, c.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: loading blocked on %s", c.name, c.path)
		}
		if _, err := Footprint(c.name, "test", dir, Options{}); err == nil && c.name != filepath.Join(dir, "folder") {
			t.Errorf("%s: Footprint accepted %s", c.name, c.path)
		}
	}
}

// TestFolderOfEmptyFiles: a folder of empty .png files fails at its first file, naming it,
// without decoding the rest.
func TestFolderOfEmptyFiles(t *testing.T) {
	dir := t.TempDir()
	for i := range 2000 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%05d.png", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	_, err := ReadImageFolder(dir, 32, 0)
	wantFileErr(t, err, ErrCorrupt, filepath.Join(dir, "00000.png"), "empty file")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}
