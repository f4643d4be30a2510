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

// maxNPYValues bounds what ReadNPY allocates, whatever a header claims.
const maxNPYValues = 1 << 30

// DecodeNPY parses a NumPy .npy file (format 1.0, 2.0 or 3.0) holding a C-order array of
// little-endian float32 ('<f4') or float64 ('<f8') values and returns it as float32 with
// its shape. The data size is checked against the file before anything is allocated, so a
// truncated or lying file is an error, never a crash; name is used in errors.
func DecodeNPY(b []byte, name string) ([]float32, []int, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("read %s: %s (not a float .npy array written by mdsm sample or numpy.save?)", name, fmt.Sprintf(format, a...))
	}
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return nil, nil, bad("no .npy magic")
	}
	var hlen, start int
	switch b[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, nil, bad("truncated header")
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return nil, nil, bad("format version %d", b[6])
	}
	if hlen < 0 || hlen > len(b)-start {
		return nil, nil, bad("header length %d past the end of the file", hlen)
	}
	hdr := string(b[start : start+hlen])
	field := func(key string) string {
		i := strings.Index(hdr, "'"+key+"'")
		if i < 0 {
			return ""
		}
		rest := strings.TrimLeft(hdr[i+len(key)+2:], " :")
		if strings.HasPrefix(rest, "(") {
			if j := strings.Index(rest, ")"); j >= 0 {
				return rest[:j+1]
			}
			return ""
		}
		if j := strings.IndexAny(rest, ",}"); j >= 0 {
			return strings.TrimSpace(rest[:j])
		}
		return ""
	}
	descr := strings.Trim(field("descr"), "'\"")
	size := 0
	switch descr {
	case "<f4":
		size = 4
	case "<f8":
		size = 8
	default:
		return nil, nil, bad("dtype %q; want float32 ('<f4') or float64 ('<f8')", descr)
	}
	if field("fortran_order") != "False" {
		return nil, nil, bad("Fortran order (save a C-order array)")
	}
	var shape []int
	count := 1
	for _, s := range strings.Split(strings.Trim(field("shape"), "()"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		d, err := strconv.Atoi(s)
		if err != nil || d < 0 || d > maxNPYValues || count*d > maxNPYValues {
			return nil, nil, bad("shape %s", field("shape"))
		}
		shape = append(shape, d)
		count *= d
	}
	body := b[start+hlen:]
	if len(body) != count*size {
		return nil, nil, bad("shape %v needs %d data bytes, the file has %d (truncated?)", shape, count*size, len(body))
	}
	out := make([]float32, count)
	for i := range out {
		if size == 4 {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
		} else {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(body[8*i:])))
		}
	}
	return out, shape, nil
}
