package data

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestRealMNIST(t *testing.T) {
	tests := []struct {
		name, split string
		n           int
		firstLabels []int
	}{
		{"mnist", "train", 60000, []int{5, 0, 4, 1, 9, 2, 1, 3, 1, 4}},
		{"mnist", "test", 10000, []int{7, 2, 1, 0, 4, 1, 4, 9, 5, 9}},
		{"fashion-mnist", "train", 60000, []int{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}},
		{"fashion-mnist", "test", 10000, []int{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/"+tc.split, func(t *testing.T) {
			ds := loadReal(t, tc.name, tc.split)
			if ds.N != tc.n || ds.C != 1 || ds.H != 32 || ds.W != 32 {
				t.Fatalf("shape N=%d C=%d H=%d W=%d, want %d x 1 x 32 x 32", ds.N, ds.C, ds.H, ds.W, tc.n)
			}
			if ds.Name != tc.name+"/"+tc.split {
				t.Errorf("Name = %q", ds.Name)
			}
			if err := ds.Validate(); err != nil { // lengths and every pixel in [0,1]
				t.Fatal(err)
			}
			var counts [10]int
			for i, l := range ds.Labels {
				if l < 0 || l > 9 {
					t.Fatalf("label %d = %d", i, l)
				}
				counts[l]++
			}
			for c, k := range counts {
				if k < tc.n/20 {
					t.Errorf("class %d has only %d images", c, k)
				}
			}
			for i, want := range tc.firstLabels {
				if ds.Labels[i] != want {
					t.Errorf("label %d = %d, want %d", i, ds.Labels[i], want)
				}
			}
			// The 2-pixel padding border is zero in every image.
			for i := 0; i < ds.N; i++ {
				img := ds.Image(i)
				for y := 0; y < 32; y++ {
					for x := 0; x < 32; x++ {
						if (y < 2 || y >= 30 || x < 2 || x >= 30) && img[y*32+x] != 0 {
							t.Fatalf("image %d: border pixel (%d,%d) = %v", i, y, x, img[y*32+x])
						}
					}
				}
			}
		})
	}
}

func TestRealMNISTKnownPixels(t *testing.T) {
	ds := loadReal(t, "mnist", "train")
	img := ds.Image(0)
	// Raw pixel (row 5, col 16) of training image 0 is 126; padding shifts it by (2,2).
	if got, want := img[7*32+18], float32(126)/255; got != want {
		t.Errorf("train[0] pixel (7,18) = %v, want %v", got, want)
	}
	var sum float64
	for _, v := range img {
		sum += float64(v)
	}
	if want := 27525.0 / 255; sum < want-1e-3 || sum > want+1e-3 {
		t.Errorf("train[0] pixel sum = %v, want %v", sum, want)
	}
	var all float64
	for _, v := range ds.Pixels {
		all += float64(v)
	}
	// The well-known MNIST mean 0.1307 is over 28x28; over the padded 32x32 it is x 784/1024.
	if mean := all / float64(len(ds.Pixels)) * 1024 / 784; mean < 0.1306 || mean > 0.1308 {
		t.Errorf("mean pixel (28x28) = %v, want 0.1307", mean)
	}
}

func TestLoadIDXPadOption(t *testing.T) {
	dir := needReal(t, "mnist")
	tests := []struct {
		size, want int
		wantErr    bool
	}{{28, 28, false}, {36, 36, false}, {0, 32, false}, {14, 14, false}, {-1, 0, true}}
	for _, tc := range tests {
		ds, err := LoadWith("mnist", "test", dir, Options{Size: tc.size, Limit: 100})
		if tc.wantErr {
			if err == nil {
				t.Errorf("size %d: want an error", tc.size)
			}
			continue
		}
		if err != nil {
			t.Fatalf("size %d: %v", tc.size, err)
		}
		if ds.H != tc.want || ds.W != tc.want || ds.N != 100 || len(ds.Labels) != 100 {
			t.Errorf("size %d: got N=%d %dx%d", tc.size, ds.N, ds.H, ds.W)
		}
	}
}

func TestReadIDXRawAndGzip(t *testing.T) {
	dir := t.TempDir()
	pix := seq(3 * 4 * 5)
	lab := []byte{1, 2, 3}
	for _, compress := range []bool{false, true} {
		ib, lb := idxBytes([]uint32{3, 4, 5}, pix), idxBytes([]uint32{3}, lab)
		if compress {
			ib, lb = gz(ib), gz(lb)
		}
		// The gzip magic decides, not the name: store both under misleading names.
		name := map[bool]string{false: "raw.gz", true: "compressed"}[compress]
		ip := writeFile(t, dir, name+"-images", ib)
		lp := writeFile(t, dir, name+"-labels", lb)
		ds, err := ReadIDXImages(ip, lp, 0)
		if err != nil {
			t.Fatal(err)
		}
		if ds.N != 3 || ds.H != 4 || ds.W != 5 || ds.C != 1 {
			t.Fatalf("shape %d %d %d %d", ds.N, ds.C, ds.H, ds.W)
		}
		for i, b := range pix {
			if ds.Pixels[i] != float32(b)/255 {
				t.Fatalf("pixel %d = %v, want %v", i, ds.Pixels[i], float32(b)/255)
			}
		}
		if ds.Labels[2] != 3 {
			t.Errorf("labels %v", ds.Labels)
		}
		// Padding 4x5 to 8: top 2, left 1.
		p, err := ReadIDXImages(ip, "", 8)
		if err != nil {
			t.Fatal(err)
		}
		if p.Labels != nil || p.H != 8 || p.Image(1)[2*8+1] != float32(pix[20])/255 || p.Image(1)[1*8+1] != 0 {
			t.Errorf("padding wrong: %v", p.Image(1))
		}
	}
}

func TestReadIDXCorrupt(t *testing.T) {
	dir := t.TempDir()
	good := idxBytes([]uint32{10, 28, 28}, seq(10*28*28))
	goodGz := gz(good)
	badCRC := bytes.Clone(goodGz)
	badCRC[len(badCRC)-6] ^= 0xff // inside the CRC-32 of the trailer
	labels9 := idxBytes([]uint32{9}, seq(9))
	labels10 := idxBytes([]uint32{10}, seq(10))

	tests := []struct {
		name      string
		images    []byte
		labels    []byte // nil: no labels file
		badFile   string // "images" or "labels": which file the error must name
		fragments []string
	}{
		{"wrong magic", append([]byte{0x12, 0x34}, good[2:]...), nil, "images", []string{"wrong magic"}},
		{"PNG not IDX", []byte("\x89PNG\r\n\x1a\n0000000000000000"), nil, "images", []string{"wrong magic"}},
		{"float element type", append([]byte{0, 0, 0x0d}, good[3:]...), nil, "images", []string{"element type"}},
		{"zero dimensions", []byte{0, 0, 8, 0}, nil, "images", []string{"dimensions"}},
		{"empty file", []byte{}, nil, "images", []string{"empty"}},
		{"header only", good[:10], nil, "images", []string{"truncated"}},
		{"truncated raw", good[:len(good)-100], nil, "images", []string{"truncated"}},
		{"trailing data raw", append(bytes.Clone(good), 1, 2, 3), nil, "images", []string{"wrong dimensions"}},
		{"truncated gzip", goodGz[:len(goodGz)/2], nil, "images", []string{"truncated"}},
		{"truncated gzip trailer", goodGz[:len(goodGz)-3], nil, "images", []string{"gzip"}},
		{"gzip bad crc", badCRC, nil, "images", []string{"checksum"}},
		{"gzip of truncated data", gz(good[:len(good)-5]), nil, "images", []string{"truncated"}},
		{"labels as images", labels10, nil, "images", []string{"wrong dimensions"}},
		{"images as labels", good, good, "labels", []string{"wrong dimensions"}},
		{"label count mismatch", good, labels9, "labels", []string{"mismatch", "9 labels", "10 images"}},
		{"lying header raw", idxBytes([]uint32{60000, 28, 28}, seq(100)), nil, "images", []string{"truncated"}},
		{"lying header gzip", gz(idxBytes([]uint32{1 << 20, 32, 32}, seq(100))), nil, "images", []string{"impossible"}},
		{"lying header 2^31", idxBytes([]uint32{0xffffffff, 0xffffffff, 2}, nil), nil, "images", []string{"refusing"}},
		{"no images", idxBytes([]uint32{0, 28, 28}, nil), nil, "images", []string{"no images"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ip := writeFile(t, dir, filepath.Join(string(rune('a'+i)), "train-images-idx3-ubyte.gz"), tc.images)
			lp := ""
			if tc.labels != nil {
				lp = writeFile(t, dir, filepath.Join(string(rune('a'+i)), "train-labels-idx1-ubyte.gz"), tc.labels)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ReadIDXImages(ip, lp, 32)
			runtime.ReadMemStats(&after)
			bad := ip
			if tc.badFile == "labels" {
				bad = lp
			}
			wantFileErr(t, err, ErrCorrupt, bad, tc.fragments...)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
				t.Errorf("allocated %d bytes for a %d-byte file", alloc, len(tc.images))
			}
		})
	}
}

func TestReadIDXTruncatedRealGzip(t *testing.T) {
	dir := needReal(t, "mnist")
	b, err := os.ReadFile(filepath.Join(dir, "mnist", "t10k-images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, t.TempDir(), "t10k-images-idx3-ubyte.gz", b[:len(b)*3/4])
	_, err = ReadIDX(p)
	wantFileErr(t, err, ErrCorrupt, p, "truncated gzip stream")
	if !errors.Is(err, ErrCorrupt) {
		t.Fatal("not ErrCorrupt")
	}
}

func TestReadIDXMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.gz")
	_, err := ReadIDX(p)
	wantFileErr(t, err, ErrNotFound, p, "does not exist")
}

// FuzzReadIDX feeds arbitrary bytes (raw and gzip) to the IDX decoder: it must return an error
// or a consistent result, never panic or allocate wildly.
func FuzzReadIDX(f *testing.F) {
	f.Add(idxBytes([]uint32{2, 3, 3}, seq(18)))
	f.Add(gz(idxBytes([]uint32{2, 3, 3}, seq(18))))
	f.Add(idxBytes([]uint32{4}, seq(4)))
	f.Add([]byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 28, 0, 0, 0, 28})
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := decodeIDX(bytes.NewReader(b), int64(len(b)), "fuzz")
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		n := 1
		for _, d := range idx.Dims {
			n *= d
		}
		if n != len(idx.Data) {
			t.Fatalf("dims %v but %d bytes", idx.Dims, len(idx.Data))
		}
		if len(idx.Dims) == 3 {
			if ds, err := idxDataset(idx, "fuzz", nil, "", 0); err == nil {
				if err := ds.Validate(); err != nil {
					t.Fatal(err)
				}
			}
			if idx.Dims[1] >= 8 && idx.Dims[2] >= 8 {
				idxDataset(idx, "fuzz", nil, "", 32)
			}
		}
	})
}
