// Command mkembed regenerates the MNIST subset that package data compiles into the binary.
//
// It reads the official MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
// t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; sha256 in docs/DATA.md),
// keeps the FIRST -train images/labels of the training set and the FIRST -test of the test set,
// unchanged and in file order, and writes them as gzip IDX files (maximum compression, no file
// name or time stamp in the gzip header, so the output is reproducible) into -out:
//
//	mnist-train-6000-images-idx3-ubyte.gz   mnist-train-6000-labels-idx1-ubyte.gz
//	mnist-test-1000-images-idx3-ubyte.gz    mnist-test-1000-labels-idx1-ubyte.gz
//
// Run from the repository root:
//
//	go run ./data/internal/mkembed -src ../shared/datasets/mnist -out data/embedded
//
// If -train or -test change, update EmbeddedTrainN / EmbeddedTestN in data/embedded.go.
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	src := flag.String("src", "../shared/datasets/mnist", "folder with the official MNIST .gz files")
	out := flag.String("out", "data/embedded", "output folder")
	nTrain := flag.Int("train", 6000, "number of training images to keep (the first N)")
	nTest := flag.Int("test", 1000, "number of test images to keep (the first N)")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	jobs := []struct {
		in, kind, split string
		n               int
	}{
		{"train-images-idx3-ubyte.gz", "images-idx3", "train", *nTrain},
		{"train-labels-idx1-ubyte.gz", "labels-idx1", "train", *nTrain},
		{"t10k-images-idx3-ubyte.gz", "images-idx3", "test", *nTest},
		{"t10k-labels-idx1-ubyte.gz", "labels-idx1", "test", *nTest},
	}
	for _, j := range jobs {
		name := fmt.Sprintf("mnist-%s-%d-%s-ubyte.gz", j.split, j.n, j.kind)
		if err := subset(filepath.Join(*src, j.in), filepath.Join(*out, name), j.n); err != nil {
			fail(err)
		}
	}
}

// subset writes the first n records of the gzip IDX file in to out.
func subset(in, out string, n int) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", in, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return fmt.Errorf("read %s: %w", in, err)
	}
	if len(raw) < 8 || raw[0] != 0 || raw[1] != 0 || raw[2] != 8 {
		return fmt.Errorf("read %s: not an unsigned-byte IDX file", in)
	}
	nd := int(raw[3])
	hl := 4 + 4*nd
	if len(raw) < hl {
		return fmt.Errorf("read %s: truncated header", in)
	}
	rec := 1
	for i := 1; i < nd; i++ {
		rec *= int(binary.BigEndian.Uint32(raw[4+4*i:]))
	}
	if have := int(binary.BigEndian.Uint32(raw[4:])); have < n {
		return fmt.Errorf("read %s: has %d records, want %d", in, have, n)
	}
	if len(raw) < hl+n*rec {
		return fmt.Errorf("read %s: truncated data", in)
	}
	head := bytes.Clone(raw[:hl])
	binary.BigEndian.PutUint32(head[4:], uint32(n))

	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	zw.Write(head)
	zw.Write(raw[hl : hl+n*rec])
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s  %8d bytes  sha256 %x\n", out, buf.Len(), sha256.Sum256(buf.Bytes()))
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mkembed:", err)
	os.Exit(1)
}
