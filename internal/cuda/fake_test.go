package cuda

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"mdsm/internal/cuda/cudatest"
)

func fakeLibs(t *testing.T) string { return cudatest.Libs(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	cudatest.Remove()
	os.Exit(code)
}

// fakeFinder searches only the fake folder (no cache, no system folders).
func fakeFinder(dir string) *Finder {
	env := map[string]string{"MDSM_CUDA_LIBS": dir}
	return &Finder{Env: func(k string) string { return env[k] }, Open: dlopen, Exists: fileExists}
}

// record reads the fake's record of its last calls.
func record(t *testing.T, dir string) *cudatest.Record { return cudatest.Records(t, dir) }

func recordString(t *testing.T, dir string) string { return cudatest.RecordString(t, dir) }

func TestDriverAgainstFake(t *testing.T) {
	dir := fakeLibs(t)
	d, err := LoadDriver(fakeFinder(dir))
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != 13000 || d.Path != filepath.Join(dir, "libcuda.so.1") {
		t.Fatalf("version %d path %s", d.Version, d.Path)
	}
	info, err := d.Device(0)
	if err != nil {
		t.Fatal(err)
	}
	want := DeviceInfo{Ordinal: 0, Name: "Fake GPU", Major: 9, Minor: 0, SMs: 132, TotalMem: 1 << 30, PCIBusID: "0000:01:00.0"}
	if info != want {
		t.Fatalf("device info %+v, want %+v", info, want)
	}
	if info.Arch() != "sm_90" {
		t.Fatalf("arch %s", info.Arch())
	}
	if _, err := d.Device(1); err == nil || !strings.Contains(err.Error(), "sees 1 GPU") {
		t.Fatalf("GPU 1 of 1: %v", err)
	}

	c, err := NewContext(d, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	x := []float32{1, 2, 3, 4, 5}
	y := []float32{10, 20, 30, 40, 50}
	got := make([]float32, len(y))
	err = c.Do(func() error {
		px, err := c.Alloc(4 * len(x))
		if err != nil {
			return err
		}
		py, err := c.Alloc(4 * len(y))
		if err != nil {
			return err
		}
		if err := c.Upload(px, x); err != nil {
			return err
		}
		if err := c.Upload(py, y); err != nil {
			return err
		}
		m, err := c.LoadModule([]byte("fake module image"))
		if err != nil {
			return err
		}
		f, err := m.Function("axpy")
		if err != nil {
			return err
		}
		// y += 0.5 x over the first 4 values: pointers, a float and an int through the
		// kernel's argument array.
		if err := c.Launch(f, Dim3{3, 2, 1}, Dim3{128, 1, 1}, 256, py, px, float32(0.5), 4); err != nil {
			return err
		}
		if err := c.Download(got, py); err != nil {
			return err
		}
		if err := c.Fill(py, 2.5, 2); err != nil {
			return err
		}
		if err := c.Copy(px, py, 2); err != nil {
			return err
		}
		if err := c.Download(got[:2], px); err != nil {
			return err
		}
		if _, err := m.Function("missing"); err == nil {
			return errors.New("a missing kernel was found")
		}
		if _, err := c.Alloc(2 << 30); err == nil || !strings.Contains(err.Error(), "out of memory") || !strings.Contains(err.Error(), "--micro-batch") {
			return errors.New("an allocation past the fake's 1 GiB: " + err.Error())
		}
		if err := c.Launch(f, Dim3{1, 1, 1}, Dim3{1, 1, 1}, 0, "a string"); err == nil {
			return errors.New("a string kernel argument was accepted")
		}
		return errors.Join(c.Free(px), c.Free(py), m.Unload())
	})
	if err != nil {
		t.Fatal(err)
	}
	want32 := []float32{2.5, 2.5, 31.5, 42, 50}
	for i := range want32 {
		if got[i] != want32[i] {
			t.Fatalf("after axpy, fill and copy: %v, want %v", got, want32)
		}
	}
	r := record(t, dir)
	if r[2] != 3 || r[3] != 2 || r[4] != 1 || r[5] != 128 || r[8] != 256 || r[9] != 0x5678 || r[10] != 0 {
		t.Fatalf("launch record grid %v block %v shmem %d stream %#x extra %d", r[2:5], r[5:8], r[8], r[9], r[10])
	}
	if r[1] != 1 {
		t.Fatalf("stream flags %d, want CU_STREAM_NON_BLOCKING", r[1])
	}
	if s := recordString(t, dir); s != "fake module image" {
		t.Fatalf("module image %q", s)
	}
}

func TestGraphAgainstFake(t *testing.T) {
	dir := fakeLibs(t)
	d, err := LoadDriver(fakeFinder(dir))
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewContext(d, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := record(t, dir)[13]
	err = c.Do(func() error {
		g, err := c.Capture(func() error { return nil })
		if err != nil {
			return err
		}
		if err := g.Launch(); err != nil {
			return err
		}
		if err := g.Launch(); err != nil {
			return err
		}
		if _, err := c.Capture(func() error { return errors.New("boom") }); err == nil || err.Error() != "boom" {
			return errors.New("a failed capture did not return its error")
		}
		return g.Destroy()
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := record(t, dir); r[13]-before != 2 || r[11] != 2 {
		t.Fatalf("graph launches %d, capture mode %d", r[13]-before, r[11])
	}
}

func TestDriverErrors(t *testing.T) {
	dir := fakeLibs(t)
	t.Setenv("FAKE_CUDA_VERSION", "11080")
	_, err := LoadDriver(fakeFinder(dir))
	if err == nil || !strings.Contains(err.Error(), "supports CUDA 11.8, mdsm needs CUDA 12.0") || !strings.Contains(err.Error(), "--device cpu") {
		t.Fatalf("old driver: %v", err)
	}
	t.Setenv("FAKE_CUDA_VERSION", "")
	t.Setenv("FAKE_CUDA_NO_DEVICE", "1")
	_, err = LoadDriver(fakeFinder(dir))
	if err == nil || !strings.Contains(err.Error(), "CUDA_ERROR_NO_DEVICE") || !strings.Contains(err.Error(), "does not start") {
		t.Fatalf("no device: %v", err)
	}
}

func TestNVRTCAgainstFake(t *testing.T) {
	dir := fakeLibs(t)
	n, err := LoadNVRTC(fakeFinder(dir))
	if err != nil {
		t.Fatal(err)
	}
	if n.Major != 13 || n.Minor != 0 {
		t.Fatalf("version %d.%d", n.Major, n.Minor)
	}
	out, err := n.Compile("k.cu", "__global__ void k(){}", "sm_90", "--std=c++17")
	if err != nil {
		t.Fatal(err)
	}
	if want := "--gpu-architecture=sm_90;--std=c++17;__global__ void k(){}"; strings.TrimRight(string(out), "\x00") != want {
		t.Fatalf("cubin %q, want %q (the options array and source as the compiler saw them)", out, want)
	}
	_, err = n.Compile("bad.cu", "#error nope", "sm_90")
	var ce *CompileError
	if !errors.As(err, &ce) || ce.Log != "fake: error" || !strings.Contains(err.Error(), "NVRTC_ERROR_COMPILATION") {
		t.Fatalf("compile error: %v", err)
	}

	cache := t.TempDir()
	a, cached, err := n.CompileCached(cache, "k.cu", "__global__ void k(){}", "sm_90")
	if err != nil || cached {
		t.Fatalf("first compile: cached %v, %v", cached, err)
	}
	b, cached, err := n.CompileCached(cache, "k.cu", "__global__ void k(){}", "sm_90")
	if err != nil || !cached || string(a) != string(b) {
		t.Fatalf("second compile: cached %v, same %v, %v", cached, string(a) == string(b), err)
	}
	if _, cached, _ := n.CompileCached(cache, "k.cu", "__global__ void k(){}", "sm_80"); cached {
		t.Fatal("a cubin for sm_90 was reused for sm_80")
	}
	if _, cached, _ := n.CompileCached(cache, "k.cu", "__global__ void k2(){}", "sm_90"); cached {
		t.Fatal("a cubin was reused for another source")
	}
}

func TestCuDNNAgainstFake(t *testing.T) {
	dir := fakeLibs(t)
	if unsafe.Sizeof(AlgoPerf{}) != 48 {
		t.Fatalf("AlgoPerf is %d bytes, cuDNN's struct 48", unsafe.Sizeof(AlgoPerf{}))
	}
	L, err := LoadCuDNN(fakeFinder(dir))
	if err != nil {
		t.Fatal(err)
	}
	h, err := L.NewHandle(0x5678)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Destroy()
	if r := record(t, dir); r[14] != 0x5678 {
		t.Fatalf("handle stream %#x", r[14])
	}
	for _, tc := range []struct {
		tf32     bool
		algo, ws int
		math     uint64
	}{{false, 2, 4096, MathFMA}, {true, 1, 1024, MathDefault}} {
		c, err := h.NewConv(2, 3, 4, 5, 3, tc.tf32)
		if err != nil {
			t.Fatal(err)
		}
		f, bd, bf := c.Algorithms()
		if f != tc.algo || bd != tc.algo || bf != tc.algo || c.Workspace != tc.ws || record(t, dir)[15] != tc.math {
			t.Fatalf("tf32 %v: algorithms %d %d %d workspace %d math %d; want the first deterministic (%d)", tc.tf32, f, bd, bf, c.Workspace, record(t, dir)[15], tc.algo)
		}
		c.Destroy()
	}
	// A real forward pass through the 13-argument call: 1 image, 2 -> 1 channels, 3x3.
	c, err := h.NewConv(1, 2, 1, 3, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	x := make([]float32, 18)
	w := make([]float32, 18)
	for i := range x {
		x[i] = float32(i%5) - 1
		w[i] = float32(i%3) * 0.5
	}
	y := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}
	ptr := func(s []float32) uint64 { return uint64(uintptr(unsafe.Pointer(&s[0]))) }
	if err := c.Forward(ptr(x), ptr(w), ptr(y), 1, 0xabc, 77); err != nil {
		t.Fatal(err)
	}
	want := naiveConv(x, w, 1, 2, 1, 3, 3)
	for i := range want {
		if math.Abs(float64(y[i]-(want[i]+1))) > 1e-5 {
			t.Fatalf("forward with beta 1: %v, want %v + 1", y, want)
		}
	}
	r := record(t, dir)
	if r[16] != 2 || r[17] != 77 || r[18] != 0xabc {
		t.Fatalf("forward algo %d workspace %d at %#x", r[16], r[17], r[18])
	}
	if err := c.BackwardData(11, 22, 33, 0.25, 0, 5); err != nil {
		t.Fatal(err)
	}
	if err := c.BackwardFilter(44, 55, 66, 1, 0, 0); err != nil {
		t.Fatal(err)
	}
	r = record(t, dir)
	if r[19] != 11 || r[20] != 22 || r[21] != 33 || r[22] != 2 || r[23] != 5 || r[24] != 1000 || r[25] != 250 {
		t.Fatalf("backward-data record %v", r[19:26])
	}
	if r[26] != 44 || r[27] != 55 || r[28] != 66 || r[29] != 2 || r[30] != 1000 {
		t.Fatalf("backward-filter record %v", r[26:31])
	}
	t.Setenv("FAKE_CUDNN_VERSION", "8907")
	if _, err := LoadCuDNN(fakeFinder(dir)); err == nil || !strings.Contains(err.Error(), "needs cuDNN 9") {
		t.Fatalf("cuDNN 8: %v", err)
	}
}

// naiveConv is a "same"-padded NCHW convolution.
func naiveConv(x, w []float32, n, cin, cout, s, k int) []float32 {
	y := make([]float32, n*cout*s*s)
	p := k / 2
	for b := 0; b < n; b++ {
		for o := 0; o < cout; o++ {
			for yy := 0; yy < s; yy++ {
				for xx := 0; xx < s; xx++ {
					var acc float32
					for i := 0; i < cin; i++ {
						for ky := 0; ky < k; ky++ {
							for kx := 0; kx < k; kx++ {
								sy, sx := yy+ky-p, xx+kx-p
								if sy < 0 || sy >= s || sx < 0 || sx >= s {
									continue
								}
								acc += w[((o*cin+i)*k+ky)*k+kx] * x[((b*cin+i)*s+sy)*s+sx]
							}
						}
					}
					y[((b*cout+o)*s+yy)*s+xx] = acc
				}
			}
		}
	}
	return y
}

func TestNVMLAgainstFake(t *testing.T) {
	dir := fakeLibs(t)
	n, err := LoadNVML(fakeFinder(dir))
	if err != nil {
		t.Fatal(err)
	}
	r, err := n.Read("0000:01:00.0")
	if err != nil {
		t.Fatal(err)
	}
	if r != (Reading{Name: "Fake GPU", MemUsed: 1 << 28, MemTot: 1 << 30, Util: 42}) {
		t.Fatalf("reading %+v", r)
	}
	if _, err := n.Read("0000:02:00.0"); err == nil || !strings.Contains(err.Error(), "Not Found") {
		t.Fatalf("unknown bus: %v", err)
	}
}

func TestMissingSymbolIsAnError(t *testing.T) {
	dir := fakeLibs(t)
	// The NVML fake lacks the driver's symbols: binding it as a driver must fail cleanly.
	libc, err := dlopen(filepath.Join(dir, "libnvidia-ml.so.1"))
	if err != nil {
		t.Fatal(err)
	}
	b := &binder{lib: "test", path: "x", h: libc}
	var f func() int32
	b.fn(&f, "cuNoSuchCall")
	if b.err == nil || !strings.Contains(b.err.Error(), "has no cuNoSuchCall") || !strings.Contains(b.err.Error(), "too old") {
		t.Fatalf("missing symbol: %v", b.err)
	}
}
