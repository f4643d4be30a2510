package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// realDatasetsDir returns ../shared/datasets (seen from the repository root), or
// $MDSM_TEST_DATASETS when set.
func realDatasetsDir() string {
	if d := os.Getenv("MDSM_TEST_DATASETS"); d != "" {
		return d
	}
	d, _ := filepath.Abs(filepath.Join("..", "..", "shared", "datasets"))
	return d
}

// needReal skips the test unless the real IDX files of name ("mnist" or "fashion-mnist") are
// present, and returns the datasets directory.
func needReal(t testing.TB, name string) string {
	t.Helper()
	dir := realDatasetsDir()
	p := filepath.Join(dir, name, "train-images-idx3-ubyte.gz")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("real %s not found at %s; these tests need ../shared/datasets", name, p)
	}
	return dir
}

// cached real datasets, loaded once per test binary (they take a moment on a 2-core machine).
var (
	realOnce  sync.Map // key -> *sync.Once
	realCache sync.Map // key -> *Dataset or error
)

// loadReal loads name/split from the real datasets once and returns it (skipping when absent).
func loadReal(t testing.TB, name, split string) *Dataset {
	t.Helper()
	dir := needReal(t, name)
	key := name + "/" + split
	once, _ := realOnce.LoadOrStore(key, new(sync.Once))
	once.(*sync.Once).Do(func() {
		ds, err := Load(name, split, dir)
		if err != nil {
			realCache.Store(key, err)
		} else {
			realCache.Store(key, ds)
		}
	})
	v, _ := realCache.Load(key)
	if err, ok := v.(error); ok {
		t.Fatalf("Load(%s, %s): %v", name, split, err)
	}
	return v.(*Dataset)
}

// idxBytes builds a raw unsigned-byte IDX file with the given dimensions and data.
func idxBytes(dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, idxTypeUbyte, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	return b.Bytes()
}

// gz compresses b.
func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// seq returns n bytes 0,1,2,... (mod 256).
func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// writeFile writes b to dir/name and returns the path.
func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantFileErr checks that err wraps kind and that its message names path and contains every
// fragment.
func wantFileErr(t testing.TB, err error, kind error, path string, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error about %s, got nil", path)
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q does not wrap %v", err, kind)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file %s", err, path)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}
