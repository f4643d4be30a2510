package sampling

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"mdsm/internal/safefile"
	"strconv"
	"strings"
)

// npyAlign is the alignment of the data offset in .npy files written by NumPy (>= 1.14 uses 64).
const npyAlign = 64

// npyHeader returns the complete preamble of a NumPy format v1.0 file holding a little-endian
// float32 C-order array of the given shape: magic "\x93NUMPY", version 1.0, the little-endian
// uint16 header length, and the header dict padded with spaces and ended by '\n' so that the
// data start at a multiple of 64 bytes.
func npyHeader(shape []int) ([]byte, error) {
	var dims []string
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("sampling: npy shape %v has a negative dimension", shape)
		}
		dims = append(dims, strconv.Itoa(d))
	}
	s := "(" + strings.Join(dims, ", ")
	if len(dims) == 1 {
		s += ","
	}
	s += ")"
	dict := "{'descr': '<f4', 'fortran_order': False, 'shape': " + s + ", }"
	total := 10 + len(dict) + 1
	pad := (npyAlign - total%npyAlign) % npyAlign
	hlen := len(dict) + pad + 1
	if hlen > math.MaxUint16 {
		return nil, fmt.Errorf("sampling: npy header for shape %v too long", shape)
	}
	b := make([]byte, 0, 10+hlen)
	b = append(b, "\x93NUMPY\x01\x00"...)
	b = binary.LittleEndian.AppendUint16(b, uint16(hlen))
	b = append(b, dict...)
	b = append(b, strings.Repeat(" ", pad)...)
	b = append(b, '\n')
	return b, nil
}

// EncodeNPY writes data as a NumPy .npy v1.0 array ('<f4', C order) of the given shape to w.
// The product of shape must equal len(data) (an empty shape is a 0-d array of one value).
func EncodeNPY(w io.Writer, data []float32, shape []int) error {
	n := 1
	for _, d := range shape {
		n *= d
	}
	hdr, err := npyHeader(shape)
	if err != nil {
		return err
	}
	if n != len(data) {
		return fmt.Errorf("sampling: npy shape %v holds %d values, have %d", shape, n, len(data))
	}
	bw := bufio.NewWriter(w)
	if _, err := bw.Write(hdr); err != nil {
		return fmt.Errorf("sampling: writing npy: %w", err)
	}
	var buf [4]byte
	for _, v := range data {
		binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
		if _, err := bw.Write(buf[:]); err != nil {
			return fmt.Errorf("sampling: writing npy: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("sampling: writing npy: %w", err)
	}
	return nil
}

// WriteNPY writes data with the given shape (e.g. [n, c, h, w]) to path as a NumPy .npy v1.0
// file, '<f4', C order, so Python users can np.load it. The write is atomic (temporary file and
// rename), like WritePNG.
func WriteNPY(path string, data []float32, shape []int) error {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("sampling: npy shape %v has a negative dimension", shape)
		}
		n *= d
	}
	if n != len(data) {
		return fmt.Errorf("sampling: npy shape %v holds %d values, have %d", shape, n, len(data))
	}
	return safefile.WriteAtomic(path, func(w io.Writer) error { return EncodeNPY(w, data, shape) })
}
