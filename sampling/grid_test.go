package sampling

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestGridLayout(t *testing.T) {
	// 5 grey 2x3 images, 3 columns, pad 1: 2 rows; image i filled with value i/4
	const n, h, w, cols, pad = 5, 2, 3, 3, 1
	imgs := make([]float32, n*h*w)
	for i := range imgs {
		imgs[i] = float32(i/(h*w)) / 4
	}
	g, err := Grid(imgs, n, 1, h, w, cols, pad)
	if err != nil {
		t.Fatal(err)
	}
	if b := g.Bounds(); b.Dx() != cols*w+(cols+1)*pad || b.Dy() != 2*h+3*pad {
		t.Fatalf("size %v, want 13x7", b)
	}
	cell := func(x, y int) int { // which image covers pixel (x, y), -1 for padding
		cx, cy := (x-pad)/(w+pad), (y-pad)/(h+pad)
		if x < pad || y < pad || (x-pad)%(w+pad) >= w || (y-pad)%(h+pad) >= h {
			return -1
		}
		if i := cy*cols + cx; i < n {
			return i
		}
		return -1
	}
	for y := range g.Bounds().Dy() {
		for x := range g.Bounds().Dx() {
			c := g.RGBAAt(x, y)
			want := uint8(GridPadGrey)
			if i := cell(x, y); i >= 0 {
				want = uint8(math.Round(float64(i) / 4 * 255))
			}
			if c.R != want || c.G != want || c.B != want || c.A != 255 {
				t.Fatalf("pixel (%d,%d) = %v, want grey %d", x, y, c, want)
			}
		}
	}

	// RGB channels land in R, G, B; out-of-range values are clamped for display
	rgb := []float32{
		1.5, 0, // R plane (1x2 image)
		0, 0.5, // G
		-1, 1, // B
	}
	g, err = Grid(rgb, 1, 3, 1, 2, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c := g.RGBAAt(0, 0); c.R != 255 || c.G != 0 || c.B != 0 {
		t.Errorf("rgb pixel 0 = %v", c)
	}
	if c := g.RGBAAt(1, 0); c.R != 0 || c.G != 128 || c.B != 255 {
		t.Errorf("rgb pixel 1 = %v", c)
	}
	if rgb[0] != 1.5 {
		t.Error("Grid modified its input")
	}
	for _, c := range []struct{ n, c, h, w int }{{1, 2, 1, 2}, {2, 3, 1, 2}, {1, 3, 0, 2}} {
		if _, err := Grid(rgb, c.n, c.c, c.h, c.w, 0, 0); err == nil {
			t.Errorf("Grid(%+v) accepted", c)
		}
	}
}

func TestWritePNGAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "grid.png")
	g, _ := Grid([]float32{0, 0.5, 1, 0.25}, 1, 1, 2, 2, 0, 0)
	for range 2 { // overwrite works
		if err := WritePNG(path, g); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if r, _, _, _ := back.At(1, 0).RGBA(); r>>8 != 128 {
		t.Errorf("pixel (1,0) = %d, want 128", r>>8)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := WritePNG(filepath.Join(dir, "missing", "x.png"), g); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestNPYHeader(t *testing.T) {
	cases := []struct {
		shape []int
		dict  string
	}{
		{[]int{2, 3}, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"},
		{[]int{5}, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }"},
		{[]int{}, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"},
		{[]int{2, 1, 32, 32}, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 32, 32), }"},
	}
	for _, c := range cases {
		hdr, err := npyHeader(c.shape)
		if err != nil {
			t.Fatal(err)
		}
		if len(hdr)%64 != 0 {
			t.Errorf("%v: header length %d not a multiple of 64", c.shape, len(hdr))
		}
		if string(hdr[:8]) != "\x93NUMPY\x01\x00" {
			t.Errorf("%v: magic/version % x", c.shape, hdr[:8])
		}
		if hl := int(binary.LittleEndian.Uint16(hdr[8:10])); hl != len(hdr)-10 {
			t.Errorf("%v: HEADER_LEN %d, want %d", c.shape, hl, len(hdr)-10)
		}
		body := string(hdr[10:])
		if !strings.HasPrefix(body, c.dict) || !strings.HasSuffix(body, "\n") || strings.TrimLeft(body[len(c.dict):], " ") != "\n" {
			t.Errorf("%v: header %q", c.shape, body)
		}
	}
	// the exact bytes of a (2, 3) header: 10 + 59 + 58 spaces + '\n' = 128
	hdr, _ := npyHeader([]int{2, 3})
	want := "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" + strings.Repeat(" ", 58) + "\n"
	if string(hdr) != want {
		t.Errorf("header bytes\n%q\nwant\n%q", hdr, want)
	}
}

func TestWriteNPY(t *testing.T) {
	data := []float32{1, -2.5, 3, 0.125, float32(math.Inf(1)), 6}
	path := filepath.Join(t.TempDir(), "x.npy")
	if err := WriteNPY(path, data, []int{2, 3}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	hdr, _ := npyHeader([]int{2, 3})
	if !bytes.HasPrefix(b, hdr) || len(b) != len(hdr)+4*len(data) {
		t.Fatalf("file of %d bytes", len(b))
	}
	for i, v := range data {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(b[len(hdr)+4*i:])); got != v {
			t.Errorf("value %d = %v, want %v", i, got, v)
		}
	}
	if err := WriteNPY(path, data, []int{4, 2}); err == nil {
		t.Error("shape/length mismatch accepted")
	}
	if err := WriteNPY(path, data, []int{-2, -3}); err == nil {
		t.Error("negative shape accepted")
	}
	// numpy itself, when some python3 has it (Debian's lives in /usr/bin/python3)
	py := ""
	for _, cand := range []string{"python3", "/usr/bin/python3"} {
		if p, err := exec.LookPath(cand); err == nil && exec.Command(p, "-c", "import numpy").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		t.Log("numpy not available: skipped np.load check")
		return
	}
	out, err := exec.Command(py, "-c", "import numpy as n,sys; a=n.load(sys.argv[1]); print(a.dtype, a.shape, a[0,1], a[1,1])", path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "float32 (2, 3) -2.5 inf" {
		t.Errorf("np.load: %q, %v", out, err)
	}
}

func TestNearestNeighbors(t *testing.T) {
	// 1-D "images" (dim 2) with known distances
	train := []float32{0, 0, 3, 4, 1, 0, 0, 1, 10, 10}
	samples := []float32{0, 0, 9, 9}
	idx, dist, err := NearestNeighbors(context.Background(), samples, 2, train, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	// sample 0: train 0 (0), then 2 and 3 tie at 1: lower index first
	if !reflect.DeepEqual(idx[0], []int{0, 2, 3}) || !reflect.DeepEqual(dist[0], []float64{0, 1, 1}) {
		t.Errorf("sample 0: %v %v", idx[0], dist[0])
	}
	if idx[1][0] != 4 || math.Abs(dist[1][0]-math.Sqrt(2)) > 1e-12 || idx[1][1] != 1 {
		t.Errorf("sample 1: %v %v", idx[1], dist[1])
	}
	// against brute force on random data
	rng := newRand(1)
	const dim, ns, nt, k = 7, 13, 200, 5
	tr, sa := make([]float32, nt*dim), make([]float32, ns*dim)
	for i := range tr {
		tr[i] = float32(rng.NormFloat64())
	}
	for i := range sa {
		sa[i] = float32(rng.NormFloat64())
	}
	idx, dist, err = NearestNeighbors(context.Background(), sa, ns, tr, nt, k)
	if err != nil {
		t.Fatal(err)
	}
	for s := range ns {
		d := make([]float64, nt)
		for j := range nt {
			for c := range dim {
				r := float64(sa[s*dim+c]) - float64(tr[j*dim+c])
				d[j] += r * r
			}
		}
		for r := range k { // selection: the r-th smallest
			best := -1
			for j := range nt {
				taken := false
				for _, p := range idx[s][:r] {
					taken = taken || p == j
				}
				if !taken && (best < 0 || d[j] < d[best]) {
					best = j
				}
			}
			if idx[s][r] != best || math.Abs(dist[s][r]-math.Sqrt(d[best])) > 1e-9 {
				t.Fatalf("sample %d rank %d: got %d (%v), want %d (%v)", s, r, idx[s][r], dist[s][r], best, math.Sqrt(d[best]))
			}
		}
	}
	if _, _, err := NearestNeighbors(context.Background(), sa, ns, tr, nt+1, k); err == nil {
		t.Error("bad training length accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := NearestNeighbors(ctx, sa, ns, tr, nt, k); err == nil {
		t.Error("cancelled context: want error")
	}
	idx, _, _ = NearestNeighbors(context.Background(), samples, 2, train, 5, 50)
	if len(idx[0]) != 5 {
		t.Errorf("k capped at nt: got %d", len(idx[0]))
	}
}

// TestUngridRoundTrip: a grid written by Grid (grey or colour, full or with an unused end
// of the last row) cuts back into its images, at 8-bit precision.
func TestUngridRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ n, ch, side, cols int }{{10, 1, 14, 4}, {9, 3, 28, 3}, {1, 1, 8, 0}} {
		imgs := make([]float32, c.n*c.ch*c.side*c.side)
		for i := range imgs {
			imgs[i] = float32(rng.IntN(128)) / 255 // dark, like digits: never the gap grey
		}
		g, err := Grid(imgs, c.n, c.ch, c.side, c.side, c.cols, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, cell := range []int{0, c.side} {
			got, n, ch, side, err := UngridImage(g, cell, 2)
			if err != nil {
				t.Fatalf("%+v, cell %d: %v", c, cell, err)
			}
			if n != c.n || ch != c.ch || side != c.side {
				t.Fatalf("%+v, cell %d: got %d images of %d channels, side %d", c, cell, n, ch, side)
			}
			for i, v := range imgs {
				if math.Abs(float64(got[i]-v)) > 0.5/255 {
					t.Fatalf("%+v: value %d = %v, want %v", c, i, got[i], v)
				}
			}
		}
	}
	// Not a grid: a picture without grey gaps, and a grid given the wrong cell size.
	plain := image.NewRGBA(image.Rect(0, 0, 40, 40))
	if _, _, _, _, err := UngridImage(plain, 0, 2); err == nil {
		t.Error("a black picture was taken for a grid")
	}
	g, _ := Grid(make([]float32, 4*14*14), 4, 1, 14, 14, 2, 2)
	if _, _, _, _, err := UngridImage(g, 12, 2); err == nil {
		t.Error("wrong cell size accepted")
	}
}

// TestUngridReadsGridBack: Ungrid returns Grid's images to 8-bit precision, for grey and
// RGB, full and partial last rows, and refuses a picture of another size.
func TestUngridReadsGridBack(t *testing.T) {
	for _, tc := range []struct{ n, c, cols int }{{16, 1, 0}, {7, 3, 3}, {1, 1, 0}} {
		h, w := 5, 4
		imgs := make([]float32, tc.n*tc.c*h*w)
		for i := range imgs {
			imgs[i] = float32(i%97) / 96
		}
		g, err := Grid(imgs, tc.n, tc.c, h, w, tc.cols, 2)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Ungrid(g, tc.n, tc.c, h, w, tc.cols, 2)
		if err != nil {
			t.Fatal(err)
		}
		for i := range imgs {
			if d := math.Abs(float64(back[i] - imgs[i])); d > 0.5/255+1e-6 {
				t.Fatalf("n %d c %d: value %d is %g, was %g", tc.n, tc.c, i, back[i], imgs[i])
			}
		}
		if _, err := Ungrid(g, tc.n, tc.c, h+1, w, tc.cols, 2); err == nil {
			t.Errorf("n %d: a grid of taller images was read", tc.n)
		}
	}
}
