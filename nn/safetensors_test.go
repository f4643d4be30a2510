package nn

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	c, _ := PresetConfig("tiny")
	p := InitParams[float32](c, rand.New(rand.NewPCG(1, 1)))
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := SaveParams(path, p, map[string]string{"step": "7"}); err != nil {
		t.Fatal(err)
	}
	q, meta, err := LoadParams(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta["step"] != "7" || q.Config != p.Config {
		t.Fatalf("metadata or config lost: %v %+v", meta, q.Config)
	}
	for _, n := range p.Names {
		if !slicesEqual(p.T[n].Data, q.T[n].Data) {
			t.Fatalf("tensor %s changed in the round trip", n)
		}
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	c, _ := PresetConfig("tiny")
	p := InitParams[float32](c, rand.New(rand.NewPCG(1, 1)))
	good := filepath.Join(dir, "good.safetensors")
	if err := SaveParams(good, p, nil); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)

	truncated := filepath.Join(dir, "trunc.safetensors")
	os.WriteFile(truncated, raw[:len(raw)-100], 0o644)
	garbage := filepath.Join(dir, "garbage.safetensors")
	os.WriteFile(garbage, []byte("\xff\xff\xff\xff\xff\xff\xff\x7fnot a header"), 0o644)

	// A file from another network: load its tensors into the wrong configuration.
	small, _ := PresetConfig("small")
	for _, tc := range []struct {
		name, path, want string
	}{
		{"truncated", truncated, "truncated"},
		{"garbage header", garbage, "header length"},
		{"missing", filepath.Join(dir, "nope.safetensors"), "no such file"},
	} {
		_, _, err := LoadParams(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Base(tc.path)) {
			t.Errorf("%s: error %v, want one naming the file and mentioning %q", tc.name, err, tc.want)
		}
	}
	ts, _, err := ReadSafetensors(good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParamsFromTensors(small, ts); err == nil || !strings.Contains(err.Error(), "blocks.0.c1.weight has shape") {
		t.Errorf("wrong preset: got %v", err)
	}
	delete(ts, "head.l2.bias")
	if _, err := ParamsFromTensors(c, ts); err == nil || !strings.Contains(err.Error(), "head.l2.bias is missing") {
		t.Errorf("missing tensor: got %v", err)
	}
}

func FuzzDecodeSafetensors(f *testing.F) {
	c, _ := PresetConfig("tiny")
	c.Filters = 1
	p := NewParams[float32](c)
	var buf bytes.Buffer
	WriteSafetensors(&buf, p.Names, p.T, map[string]string{"a": "b"})
	f.Add(buf.Bytes())
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '})
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeSafetensors(bytes.NewReader(b), int64(len(b)))
	})
}
