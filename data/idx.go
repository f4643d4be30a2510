package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"mdsm/internal/safefile"
)

// IDX file format (http://yann.lecun.com/exdb/mnist/): a 4-byte magic 0x00 0x00 TYPE NDIMS,
// NDIMS big-endian uint32 sizes, then the data, row-major. MNIST and Fashion-MNIST use TYPE 0x08
// (unsigned byte): images are N x 28 x 28, labels are N. Files may be gzip-compressed (detected
// by the gzip magic 0x1f 0x8b, whatever the file name says) or raw.

// maxDataBytes caps the payload any dataset file may claim (2 GiB): no real MNIST-like or CIFAR
// file comes close, and a lying header must not make us allocate more.
const maxDataBytes = 1 << 31

// maxDeflateRatio bounds how much a deflate stream can expand (the format's limit is about
// 1032:1), so a gzip file's header claim can be checked against its compressed length.
const maxDeflateRatio = 1032

// idxTypeUbyte is the only IDX element type the readers accept (unsigned byte).
const idxTypeUbyte = 0x08

// IDX is the decoded content of one IDX file: its dimension sizes and its raw unsigned bytes.
type IDX struct {
	// Dims are the sizes from the header, outermost first (N, rows, cols for images).
	Dims []int
	// Data holds prod(Dims) bytes, row-major.
	Data []byte
}

// ReadIDX reads an unsigned-byte IDX file, gzip-compressed or raw. It checks the magic, that
// the header's sizes fit the file (before allocating anything) and that the file holds exactly
// that much data; any violation is a *FileError wrapping ErrCorrupt that names path.
func ReadIDX(path string) (*IDX, error) {
	f, st, err := safefile.Open(path)
	if err != nil {
		return nil, openError(path, err)
	}
	defer f.Close()
	return decodeIDX(f, st.Size(), path)
}

// openError turns a failure to open or stat path into a FileError (ErrNotFound when the
// file is missing; a FIFO, a device or a symbolic link loop says so).
func openError(path string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return &FileError{Path: path, Problem: "file does not exist", Kind: ErrNotFound}
	}
	return fmt.Errorf("read %s: %w", path, safefile.Describe(err))
}

// decodeIDX decodes an IDX stream of known total length size (the length of r's bytes, gzip or
// not); name is used in errors.
func decodeIDX(r io.Reader, size int64, name string) (*IDX, error) {
	h, err := readIDXHeader(r, size, name)
	if err != nil {
		return nil, err
	}
	if h.closer != nil {
		defer h.closer.Close()
	}
	content, dims, total, trusted, what := h.content, h.dims, h.total, h.trusted, h.what
	buf, err := readN(content, total, trusted)
	if err != nil {
		return nil, corruptf(name, err, "truncated %s: header says %v = %d data bytes, only %d could be read", what, dims, total, len(buf))
	}
	// The data must end exactly here; for gzip this read also verifies the CRC-32 and length.
	var one [1]byte
	switch m, err := io.ReadFull(content, one[:]); {
	case m > 0:
		return nil, corruptf(name, nil, "wrong dimensions: data continues after the %d bytes the header %v describes", total, dims)
	case err != io.EOF:
		return nil, corruptf(name, err, "damaged %s after the data (truncated or failed checksum)", what)
	}
	return &IDX{Dims: dims, Data: buf}, nil
}

// idxHeader is a parsed IDX header and the stream positioned at its data.
type idxHeader struct {
	content io.Reader // the (decompressed) stream, at the first data byte
	closer  io.Closer // the gzip reader to close, or nil
	dims    []int
	total   int64 // data bytes the header claims
	trusted bool  // total was checked against the real length of a raw file
	what    string
}

// readIDXHeader reads an IDX header from a stream of known total length size (gzip or
// raw) and checks its claim against that length before anything is allocated: a raw
// file must hold exactly the data the header describes, a gzip file can expand at most
// maxDeflateRatio-fold.
func readIDXHeader(r io.Reader, size int64, name string) (*idxHeader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	h := &idxHeader{content: br, what: "file"}
	gz := false
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, corruptf(name, err, "bad gzip header")
		}
		h.content, h.closer, h.what, gz = zr, zr, "gzip stream", true
	}
	fail := func(err error) (*idxHeader, error) {
		if h.closer != nil {
			h.closer.Close()
		}
		return nil, err
	}
	what, content := h.what, h.content
	var head [4]byte
	if n, err := io.ReadFull(content, head[:]); err != nil {
		if n == 0 && err == io.EOF {
			return fail(corruptf(name, nil, "empty %s: not an IDX file", what))
		}
		return fail(corruptf(name, err, "truncated %s: only %d of 4 header bytes", what, n))
	}
	if head[0] != 0 || head[1] != 0 {
		return fail(corruptf(name, nil, "wrong magic %#08x: not an IDX file (want 0x0000 08 NN)", binary.BigEndian.Uint32(head[:])))
	}
	if head[2] != idxTypeUbyte {
		return fail(corruptf(name, nil, "unsupported IDX element type %#02x (only unsigned byte 0x08 is supported)", head[2]))
	}
	nd := int(head[3])
	if nd < 1 || nd > 4 {
		return fail(corruptf(name, nil, "IDX header claims %d dimensions (want 1 to 4)", nd))
	}
	dimBytes := make([]byte, 4*nd)
	if n, err := io.ReadFull(content, dimBytes); err != nil {
		return fail(corruptf(name, err, "truncated %s: only %d of %d header bytes", what, 4+n, 4+4*nd))
	}
	dims := make([]int, nd)
	total := int64(1)
	for i := range dims {
		d := int64(binary.BigEndian.Uint32(dimBytes[4*i:]))
		dims[i] = int(d)
		total *= d // each d < 2^32 and total stays <= 2^31 below, so this cannot overflow
		if total > maxDataBytes {
			return fail(corruptf(name, nil, "IDX header claims dimensions %v, more than %d bytes: refusing to read it", dimsPrefix(dimBytes, i+1), int64(maxDataBytes)))
		}
	}
	headerLen := int64(4 + 4*nd)
	if size >= 0 {
		if gz {
			if total > maxDeflateRatio*size+1024 {
				return fail(corruptf(name, nil, "IDX header claims %d bytes (dimensions %v), impossible for a %d-byte gzip file", total, dims, size))
			}
		} else {
			switch have := size - headerLen; {
			case have < total:
				return fail(corruptf(name, nil, "truncated file: header says %v = %d data bytes, the file holds %d", dims, total, have))
			case have > total:
				return fail(corruptf(name, nil, "wrong dimensions: header says %v = %d data bytes, but the file holds %d", dims, total, have))
			}
			h.trusted = true
		}
	}
	h.dims, h.total = dims, total
	return h, nil
}

// dimsPrefix returns the first k dimensions in b for error messages.
func dimsPrefix(b []byte, k int) []uint32 {
	out := make([]uint32, k)
	for i := range out {
		out[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	return out
}

// readN reads exactly n bytes. When the size is trusted (already checked against the file
// length) it allocates n at once; otherwise it grows the buffer as data actually arrives, so a
// header that lies about a short gzip stream costs at most about twice the real data.
func readN(r io.Reader, n int64, trusted bool) ([]byte, error) {
	const chunk = 16 << 20
	initial := n
	if !trusted {
		initial = min(n, chunk)
	}
	buf := make([]byte, 0, initial)
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(n-int64(len(buf)), int64(len(buf)))))
		}
		end := int(min(int64(cap(buf)), n))
		m, err := io.ReadFull(r, buf[len(buf):end])
		buf = buf[:len(buf)+m]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
	return buf, nil
}

// ReadIDXImages reads an MNIST-style pair of IDX files (images N x H x W, labels N) into a
// one-channel Dataset with pixels scaled to [0,1]. size > 0 zero-pads every image, centred, to
// size x size (28 -> 32 puts 2 pixels on each side), or area-downsamples it when size is
// smaller than the native size (28 -> 14); size 0 keeps the native size. labelsPath ""
// means no labels. A label count that differs from the image count is an ErrCorrupt error
// naming both files.
func ReadIDXImages(imagesPath, labelsPath string, size int) (*Dataset, error) {
	img, err := ReadIDX(imagesPath)
	if err != nil {
		return nil, err
	}
	var lab *IDX
	if labelsPath != "" {
		if lab, err = ReadIDX(labelsPath); err != nil {
			return nil, err
		}
	}
	ds, err := idxDataset(img, imagesPath, lab, labelsPath, size)
	if err != nil {
		return nil, err
	}
	ds.Name = filepath.Base(imagesPath)
	return ds, nil
}

// idxDataset checks the shapes of decoded image and label IDX files and converts them.
func idxDataset(img *IDX, imagesPath string, lab *IDX, labelsPath string, size int) (*Dataset, error) {
	if len(img.Dims) != 3 {
		return nil, corruptf(imagesPath, nil, "wrong dimensions %v: an IDX image file has 3 (count, rows, cols); is this a label file?", img.Dims)
	}
	n, h, w := img.Dims[0], img.Dims[1], img.Dims[2]
	if n == 0 || h == 0 || w == 0 {
		return nil, corruptf(imagesPath, nil, "wrong dimensions %v: no images", img.Dims)
	}
	if size > 0 && (size < h || size < w) { // smaller than native: area-downsample
		ds, err := idxDataset(img, imagesPath, lab, labelsPath, 0)
		if err != nil {
			return nil, err
		}
		return ds.Downsample(size)
	}
	var labels []int
	if lab != nil {
		if len(lab.Dims) != 1 {
			return nil, corruptf(labelsPath, nil, "wrong dimensions %v: an IDX label file has 1 (count); is this an image file?", lab.Dims)
		}
		if lab.Dims[0] != n {
			return nil, corruptf(labelsPath, nil, "label count mismatch: %s has %d labels but %s has %d images; the two files are from different sets", labelsPath, lab.Dims[0], imagesPath, n)
		}
		labels = make([]int, n)
		for i, b := range lab.Data {
			labels[i] = int(b)
		}
	}
	oh, ow := h, w
	if size > 0 {
		oh, ow = size, size
	}
	if int64(n)*int64(oh)*int64(ow) > maxDataBytes {
		return nil, fmt.Errorf("read %s: %d images of %dx%d would need more than %d float32 values: refusing", imagesPath, n, oh, ow, int64(maxDataBytes))
	}
	top, left := (oh-h)/2, (ow-w)/2
	pix := make([]float32, n*oh*ow)
	for i := 0; i < n; i++ {
		src := img.Data[i*h*w : (i+1)*h*w]
		dst := pix[i*oh*ow : (i+1)*oh*ow]
		for y := 0; y < h; y++ {
			row := dst[(y+top)*ow+left : (y+top)*ow+left+w]
			for x, b := range src[y*w : (y+1)*w] {
				row[x] = float32(b) / 255
			}
		}
	}
	return &Dataset{N: n, C: 1, H: oh, W: ow, Pixels: pix, Labels: labels}, nil
}
