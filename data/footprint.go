package data

import (
	"path/filepath"

	"mdsm/internal/safefile"
)

// Footprint estimates the bytes LoadWith(name, split, dir, opt) allocates at its peak, from
// file sizes, IDX headers and file counts alone: nothing is decoded, so a caller can refuse
// a dataset that would not fit in memory before loading it. A dataset that cannot be found
// or whose header cannot be read returns the error LoadWith would give.
func Footprint(name, split, dir string, opt Options) (int64, error) {
	if dir == "" {
		dir = DefaultDataDir()
	}
	size := int64(opt.Size)
	if size <= 0 {
		size = DefaultSize
	}
	const f32 = 4
	// images of n x h x w bytes, read raw then converted to float32 at the output size (at
	// the native size first when downsampling).
	idx := func(n, h, w int64) int64 {
		out := n * size * size * f32
		if size < h || size < w {
			out += n * h * w * f32
		}
		return n*h*w + out
	}
	switch name {
	case Embedded:
		n := int64(EmbeddedTrainN)
		if split == "test" {
			n = EmbeddedTestN
		}
		return idx(n, 28, 28), nil
	case MNIST, FashionMNIST:
		prefix := "train"
		if split == "test" {
			prefix = "t10k"
		}
		ip, err := findFile(filepath.Join(dir, name, prefix+"-images-idx3-ubyte"))
		if err != nil {
			return 0, withFix(err, downloadFix(name, dir))
		}
		dims, err := idxDims(ip)
		if err != nil {
			return 0, withFix(err, downloadFix(name, dir))
		}
		if len(dims) != 3 {
			return 0, corruptf(ip, nil, "wrong dimensions %v: an IDX image file has 3 (count, rows, cols)", dims)
		}
		return idx(dims[0], dims[1], dims[2]), nil
	case CIFAR10:
		files := []string{CIFARTestFile}
		if split == "train" {
			files = CIFARTrainFiles
		}
		var total int64
		for _, fn := range files {
			p := filepath.Join(dir, CIFAR10, "cifar-10-batches-bin", fn)
			st, err := safefile.CheckRegular(p)
			if err != nil {
				return 0, withFix(openError(p, err), downloadFix(CIFAR10, dir))
			}
			total += st.Size()
		}
		n := total / cifarRecordSize
		pad := int64(0)
		if size > cifarSide {
			pad = n * 3 * size * size * f32
		}
		return n*cifarPixels*f32 + n*8 + pad, nil
	}
	folder, err := folderFor(name, split)
	if err != nil {
		return 0, err
	}
	files, err := ImageFiles(folder)
	if err != nil {
		return 0, err
	}
	n := int64(len(files))
	if opt.Limit > 0 && n > int64(opt.Limit) {
		n = int64(opt.Limit)
	}
	return n * 3 * size * size * f32, nil
}

// idxDims reads and checks the header of an IDX file, raw or gzip (readIDXHeader).
func idxDims(path string) ([]int64, error) {
	f, st, err := safefile.Open(path)
	if err != nil {
		return nil, openError(path, err)
	}
	defer f.Close()
	h, err := readIDXHeader(f, st.Size(), path)
	if err != nil {
		return nil, err
	}
	if h.closer != nil {
		h.closer.Close()
	}
	dims := make([]int64, len(h.dims))
	for i, d := range h.dims {
		dims[i] = int64(d)
	}
	return dims, nil
}
