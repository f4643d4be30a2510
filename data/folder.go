package data

import (
	"fmt"
	"image"
	"image/draw"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"mdsm/internal/safefile"
)

// imageExts are the file extensions ReadImageFolder reads (case-insensitive).
var imageExts = []string{".png", ".jpg", ".jpeg"}

// ImageFiles lists the PNG and JPEG files directly inside dir (not in subfolders), sorted by
// name, so every run sees the same order. Other files are ignored.
func ImageFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, openError(dir, err)
	}
	var files []string
	for _, e := range entries {
		if e.IsDir() || !slices.Contains(imageExts, strings.ToLower(filepath.Ext(e.Name()))) {
			continue
		}
		files = append(files, filepath.Join(dir, e.Name()))
	}
	slices.Sort(files)
	return files, nil
}

// ReadImageFolder reads the PNG/JPEG images directly inside dir, in sorted file-name order,
// into a 3 x size x size Dataset without labels. Each image is centre-cropped to a square (the
// shorter side), then resized to size x size by area averaging: every output pixel is the mean
// of the source area it covers, weighted by overlap. That is the right filter for the large
// reductions typical here (CelebA 178 -> 32 or 64) and never aliases; enlarging a small image
// degenerates to nearest-neighbour blocks blended at the seams. Grey images become three equal
// channels; transparent pixels are composited onto black. limit > 0 keeps only the first limit
// files (a full CelebA at 64x64 is ~10 GB of float32). Images are decoded in parallel, but
// results do not depend on scheduling.
func ReadImageFolder(dir string, size, limit int) (*Dataset, error) {
	if size < 1 || size > 1024 {
		return nil, fmt.Errorf("read %s: image size %d out of range (want 1..1024, usually 32 or 64)", dir, size)
	}
	files, err := ImageFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, &FileError{Path: dir, Problem: "no .png, .jpg or .jpeg images in this folder",
			Fix: "put the images directly in the folder (subfolders are not searched)", Kind: ErrNotFound}
	}
	if limit > 0 && len(files) > limit {
		files = files[:limit]
	}
	dim := 3 * size * size
	if int64(len(files))*int64(dim) > maxDataBytes {
		return nil, &FileError{Path: dir, Problem: fmt.Sprintf("%d images of 3x%dx%d would need more than %d float32 values", len(files), size, size, int64(maxDataBytes)),
			Fix: "use fewer images or a smaller image size", Kind: ErrCorrupt}
	}
	// Every header first: a bad file (empty, a FIFO, not an image, a lying size) fails
	// before the dataset is allocated or anything decoded.
	if err := forEachFile(files, func(_ *resizer, i int) error { return checkImage(files[i]) }); err != nil {
		return nil, err
	}
	ds := &Dataset{Name: filepath.Base(filepath.Clean(dir)), N: len(files), C: 3, H: size, W: size, Pixels: make([]float32, len(files)*dim)}
	if err := forEachFile(files, func(r *resizer, i int) error { return r.loadInto(files[i], size, ds.Pixels[i*dim:(i+1)*dim]) }); err != nil {
		return nil, err
	}
	return ds, nil
}

// forEachFile runs fn for every file on GOMAXPROCS workers, each with its own resizer,
// and returns the error of the first file (in file order) that failed; after a failure no
// further file is started.
func forEachFile(files []string, fn func(r *resizer, i int) error) error {
	errs := make([]error, len(files))
	var failed atomic.Bool
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r resizer
			for i := range next {
				if failed.Load() {
					continue
				}
				if errs[i] = fn(&r, i); errs[i] != nil {
					failed.Store(true)
				}
			}
		}()
	}
	for i := range files {
		if failed.Load() {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// openImage opens a folder image, refusing anything but a non-empty regular file.
func openImage(path string) (*os.File, error) {
	f, fi, err := safefile.Open(path)
	if err != nil {
		return nil, openError(path, err)
	}
	if fi.Size() == 0 {
		f.Close()
		return nil, &FileError{Path: path, Problem: "empty file, not an image", Fix: "remove or replace the file", Kind: ErrCorrupt}
	}
	return f, nil
}

// checkImage reads the header of a folder image and checks its declared size.
func checkImage(path string) error {
	f, err := openImage(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := safefile.DecodeImageConfig(f, 0); err != nil {
		return &FileError{Path: path, Problem: "not a usable image", Fix: "remove or replace the file", Kind: ErrCorrupt, Err: err}
	}
	return nil
}

// resizer holds per-worker scratch buffers for decoding and resizing.
type resizer struct {
	rgba *image.RGBA
	tmp  []float32
}

// loadInto decodes the image at path (its header checked first: a small file claiming an
// enormous size is refused, not allocated), crops and resizes it, and writes CHW pixels
// into dst.
func (r *resizer) loadInto(path string, size int, dst []float32) error {
	f, err := openImage(path)
	if err != nil {
		return err
	}
	defer f.Close()
	img, err := safefile.DecodeImage(f, 0)
	if err != nil {
		return &FileError{Path: path, Problem: "not a usable image", Fix: "remove or replace the file", Kind: ErrCorrupt, Err: err}
	}
	r.cropResize(img, size, dst)
	return nil
}

// cropResize centre-crops img to a square, converts it to RGB and area-resizes it to
// size x size, writing CHW values in [0,1] to dst (len 3*size*size).
func (r *resizer) cropResize(img image.Image, size int, dst []float32) {
	b := img.Bounds()
	s := min(b.Dx(), b.Dy())
	x0, y0 := b.Min.X+(b.Dx()-s)/2, b.Min.Y+(b.Dy()-s)/2
	if r.rgba == nil || r.rgba.Rect.Dx() != s {
		r.rgba = image.NewRGBA(image.Rect(0, 0, s, s))
	}
	// draw.Src converts any colour model (YCbCr, grey, paletted, 16-bit) to 8-bit RGBA.
	draw.Draw(r.rgba, r.rgba.Rect, img, image.Pt(x0, y0), draw.Src)

	taps := areaTaps(s, size)
	// Horizontal pass: s rows x size cols x 3 channels.
	need := s * size * 3
	if cap(r.tmp) < need {
		r.tmp = make([]float32, need)
	}
	tmp := r.tmp[:need]
	for y := 0; y < s; y++ {
		row := r.rgba.Pix[y*r.rgba.Stride:]
		for ox, tp := range taps {
			var cr, cg, cb float32
			for _, t := range tp {
				p := row[4*t.i:]
				cr += t.w * float32(p[0])
				cg += t.w * float32(p[1])
				cb += t.w * float32(p[2])
			}
			o := (y*size + ox) * 3
			tmp[o], tmp[o+1], tmp[o+2] = cr, cg, cb
		}
	}
	// Vertical pass into CHW.
	plane := size * size
	for oy, tp := range taps {
		for ox := 0; ox < size; ox++ {
			var cr, cg, cb float32
			for _, t := range tp {
				o := (t.i*size + ox) * 3
				cr += t.w * tmp[o]
				cg += t.w * tmp[o+1]
				cb += t.w * tmp[o+2]
			}
			k := oy*size + ox
			dst[k] = clamp01(cr / 255)
			dst[plane+k] = clamp01(cg / 255)
			dst[2*plane+k] = clamp01(cb / 255)
		}
	}
}

// tap is one source index and its weight in an output sample.
type tap struct {
	i int
	w float32
}

// areaTaps returns, for each of dst output samples, the source samples (of src) it overlaps
// and the overlap fractions, which sum to 1: output o covers [o*src/dst, (o+1)*src/dst).
func areaTaps(src, dst int) [][]tap {
	scale := float64(src) / float64(dst)
	taps := make([][]tap, dst)
	for o := range taps {
		lo, hi := float64(o)*scale, float64(o+1)*scale
		for i := int(math.Floor(lo)); i < src && float64(i) < hi; i++ {
			w := math.Min(hi, float64(i+1)) - math.Max(lo, float64(i))
			if w > 1e-9 {
				taps[o] = append(taps[o], tap{i, float32(w / scale)})
			}
		}
	}
	return taps
}

// clamp01 guards against float rounding pushing a value a hair outside [0,1].
func clamp01(v float32) float32 {
	return min(max(v, 0), 1)
}
