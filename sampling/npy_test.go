package sampling

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecodeNPYRoundTrip(t *testing.T) {
	data := []float32{1, -2.5, 3, 0.125, float32(math.Inf(1)), 6}
	for _, shape := range [][]int{{2, 3}, {6}, {1, 2, 1, 3}} {
		var buf bytes.Buffer
		if err := EncodeNPY(&buf, data, shape); err != nil {
			t.Fatal(err)
		}
		got, gotShape, err := DecodeNPY(buf.Bytes(), "x.npy")
		if err != nil {
			t.Fatalf("%v: %v", shape, err)
		}
		if len(gotShape) != len(shape) || len(got) != len(data) {
			t.Fatalf("shape %v came back as %v with %d values", shape, gotShape, len(got))
		}
		for i := range shape {
			if gotShape[i] != shape[i] {
				t.Errorf("shape %v came back as %v", shape, gotShape)
			}
		}
		for i, v := range data {
			if got[i] != v {
				t.Errorf("value %d: %v, want %v", i, got[i], v)
			}
		}
	}
}

func TestDecodeNPYErrors(t *testing.T) {
	var good bytes.Buffer
	EncodeNPY(&good, []float32{1, 2, 3, 4}, []int{2, 2})
	g := good.Bytes()
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "no .npy magic"},
		{"truncated data", g[:len(g)-3], "truncated"},
		{"lying header length", append(append([]byte{}, g[:8]...), 0xff, 0xff), "past the end"},
		{"int dtype", bytes.Replace(g, []byte("<f4"), []byte("<i4"), 1), "dtype"},
		{"fortran", bytes.Replace(g, []byte("False"), []byte("True "), 1), "Fortran"},
		{"huge shape", bytes.Replace(g, []byte("(2, 2)"), []byte("(9, 9)"), 1), "needs"},
	} {
		_, _, err := DecodeNPY(c.b, "x.npy")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "x.npy") {
			t.Errorf("%s: %v; want an error naming the file and %q", c.name, err, c.want)
		}
	}
}

// TestDecodeNPYFromNumpy reads what numpy.save writes (float64 too), when a python3 with
// numpy is at hand.
func TestDecodeNPYFromNumpy(t *testing.T) {
	py := ""
	for _, cand := range []string{"python3", "/usr/bin/python3"} {
		if p, err := exec.LookPath(cand); err == nil && exec.Command(p, "-c", "import numpy").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		t.Skip("no python3 with numpy: np.save check not run")
	}
	path := filepath.Join(t.TempDir(), "x.npy")
	script := "import numpy as np; np.save(r'" + path + "', np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 8)"
	if out, err := exec.Command(py, "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, shape, err := DecodeNPY(b, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 3 || shape[0] != 2 || shape[1] != 3 || shape[2] != 4 || got[23] != 23.0/8 {
		t.Errorf("shape %v, last value %v", shape, got[len(got)-1])
	}
}

func FuzzDecodeNPY(f *testing.F) {
	var good bytes.Buffer
	EncodeNPY(&good, []float32{1, 2, 3, 4, 5, 6}, []int{1, 2, 3})
	f.Add(good.Bytes())
	f.Add([]byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		px, shape, err := DecodeNPY(b, "fuzz.npy")
		if err != nil {
			return
		}
		n := 1
		for _, d := range shape {
			n *= d
		}
		if n != len(px) {
			t.Fatalf("shape %v but %d values", shape, len(px))
		}
	})
}
