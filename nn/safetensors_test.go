package nn

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
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

// writeFile writes tensors and metadata as a safetensors file in a test directory.
func writeFile(t *testing.T, names []string, ts map[string]*Tensor[float32], meta map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, names, ts, meta); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLoadParamsHostile: metadata that claims the largest network mdsm allows, in a 50 KB
// file, is refused without allocating that network; non-finite weights are refused naming
// the tensor; a FIFO is refused at once.
func TestLoadParamsHostile(t *testing.T) {
	c, _ := PresetConfig("tiny")
	p := InitParams[float32](c, rand.New(rand.NewPCG(1, 1)))
	huge := Config{Preset: "huge", InChannels: 4, ImageSize: 256, Filters: 1024, Stages: 6, ExtraBlocks: 8}
	if err := huge.Validate(); err != nil {
		t.Fatal(err)
	}
	cj, _ := json.Marshal(huge)
	path := writeFile(t, p.Names, p.T, map[string]string{"config": string(cj)})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := LoadParams(path)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("a tiny file claiming a huge network: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("refusing a 50 KB file allocated %d MiB", alloc>>20)
	}
	q := p.Clone()
	q.T["blocks.0.c2.bias"].Data[3] = float32(math.Inf(1))
	cj, _ = json.Marshal(c)
	path = writeFile(t, q.Names, q.T, map[string]string{"config": string(cj)})
	if _, _, err := LoadParams(path); err == nil || !strings.Contains(err.Error(), "blocks.0.c2.bias") || !strings.Contains(err.Error(), "not finite") {
		t.Errorf("infinite weight: %v", err)
	}
	fifo := filepath.Join(t.TempDir(), "f.safetensors")
	syscall.Mkfifo(fifo, 0o644)
	if _, _, err := LoadParams(fifo); err == nil || !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("FIFO: %v", err)
	}
}

// FuzzLoadParams: whatever the bytes, loading parameters never panics, and a file it
// accepts holds every parameter of the configuration it claims, finite (so nothing was
// allocated beyond what the file holds).
func FuzzLoadParams(f *testing.F) {
	c, _ := PresetConfig("tiny")
	c.Filters = 1
	p := InitParams[float32](c, rand.New(rand.NewPCG(1, 1)))
	cj, _ := json.Marshal(c)
	var buf bytes.Buffer
	WriteSafetensors(&buf, p.Names, p.T, map[string]string{"config": string(cj)})
	f.Add(buf.Bytes())
	huge, _ := json.Marshal(Config{Preset: "huge", InChannels: 4, ImageSize: 256, Filters: 1024, Stages: 6, ExtraBlocks: 8})
	buf.Reset()
	WriteSafetensors(&buf, p.Names, p.T, map[string]string{"config": string(huge)})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, meta, err := decodeSafetensors(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		q, err := paramsFromSafetensors(ts, meta, "fuzz")
		if err != nil {
			return
		}
		if q.Count() > len(b)/4 {
			t.Fatalf("accepted %d parameters from %d bytes", q.Count(), len(b))
		}
		if err := q.CheckFinite(); err != nil {
			t.Fatalf("accepted non-finite weights: %v", err)
		}
	})
}
