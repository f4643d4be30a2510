package data

import (
	"bufio"
	"fmt"
	"io"

	"mdsm/internal/safefile"
)

// CIFAR-10 binary format (https://www.cs.toronto.edu/~kriz/cifar.html): each batch file is a
// plain sequence of 3073-byte records, 1 label byte (0..9) followed by 3072 pixel bytes: the
// 1024 red, then 1024 green, then 1024 blue values of a 32x32 image, row-major. That is already
// CHW, so records are copied without reordering.

// CIFAR-10 record geometry.
const (
	cifarSide       = 32
	cifarPixels     = 3 * cifarSide * cifarSide
	cifarRecordSize = 1 + cifarPixels
	cifarClasses    = 10
)

// CIFARTrainFiles and CIFARTestFile are the batch file names inside cifar-10-batches-bin/.
var (
	CIFARTrainFiles = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	CIFARTestFile   = "test_batch.bin"
)

// ReadCIFAR reads CIFAR-10 binary batch files, in the order given, into one 3x32x32 Dataset
// with labels. File sizes are checked (a positive multiple of 3073 bytes, at most 2 GiB) before
// anything is allocated; a bad size or a label outside 0..9 is an ErrCorrupt *FileError naming
// the file.
func ReadCIFAR(paths ...string) (*Dataset, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("read CIFAR-10: no batch files given")
	}
	sizes := make([]int64, len(paths))
	var total int64
	for i, p := range paths {
		st, err := safefile.CheckRegular(p)
		if err != nil {
			return nil, openError(p, err)
		}
		if err := checkCIFARSize(p, st.Size()); err != nil {
			return nil, err
		}
		sizes[i] = st.Size()
		total += st.Size()
		if total > maxDataBytes {
			return nil, corruptf(p, nil, "CIFAR-10 batch files add up to %d bytes, more than %d: refusing to read them", total, int64(maxDataBytes))
		}
	}
	n := int(total / cifarRecordSize)
	ds := &Dataset{Name: CIFAR10, N: n, C: 3, H: cifarSide, W: cifarSide,
		Pixels: make([]float32, n*cifarPixels), Labels: make([]int, n)}
	at := 0
	for i, p := range paths {
		f, _, err := safefile.Open(p)
		if err != nil {
			return nil, openError(p, err)
		}
		k := int(sizes[i] / cifarRecordSize)
		err = decodeCIFARInto(f, p, ds.Pixels[at*cifarPixels:(at+k)*cifarPixels], ds.Labels[at:at+k])
		f.Close()
		if err != nil {
			return nil, err
		}
		at += k
	}
	return ds, nil
}

// checkCIFARSize rejects a batch file whose length cannot be a whole number of records.
func checkCIFARSize(name string, size int64) error {
	switch {
	case size == 0:
		return corruptf(name, nil, "empty file: a CIFAR-10 batch holds 3073-byte records")
	case size > maxDataBytes:
		return corruptf(name, nil, "%d bytes is far larger than any CIFAR-10 batch: refusing to read it", size)
	case size%cifarRecordSize != 0:
		return corruptf(name, nil, "truncated or wrong file: %d bytes is not a multiple of the 3073-byte CIFAR-10 record (%d whole records and %d bytes left over)",
			size, size/cifarRecordSize, size%cifarRecordSize)
	}
	return nil
}

// decodeCIFAR decodes one batch of known length size from r; name is used in errors.
func decodeCIFAR(r io.Reader, size int64, name string) (*Dataset, error) {
	if err := checkCIFARSize(name, size); err != nil {
		return nil, err
	}
	n := int(size / cifarRecordSize)
	ds := &Dataset{N: n, C: 3, H: cifarSide, W: cifarSide,
		Pixels: make([]float32, n*cifarPixels), Labels: make([]int, n)}
	if err := decodeCIFARInto(r, name, ds.Pixels, ds.Labels); err != nil {
		return nil, err
	}
	return ds, nil
}

// decodeCIFARInto reads len(labels) records from r into pix and labels and checks that r ends
// there.
func decodeCIFARInto(r io.Reader, name string, pix []float32, labels []int) error {
	br := bufio.NewReaderSize(r, 1<<16)
	var rec [cifarRecordSize]byte
	for i := range labels {
		if _, err := io.ReadFull(br, rec[:]); err != nil {
			return corruptf(name, err, "truncated file: record %d of %d is incomplete", i, len(labels))
		}
		if rec[0] >= cifarClasses {
			return corruptf(name, nil, "record %d has label %d; CIFAR-10 labels are 0..9 (is this a CIFAR-100 file?)", i, rec[0])
		}
		labels[i] = int(rec[0])
		dst := pix[i*cifarPixels : (i+1)*cifarPixels]
		for j, b := range rec[1:] {
			dst[j] = float32(b) / 255
		}
	}
	if m, _ := io.ReadFull(br, rec[:1]); m > 0 {
		return corruptf(name, nil, "file grew while reading: data continues after %d records", len(labels))
	}
	return nil
}
