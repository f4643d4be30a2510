package data

import (
	"bytes"
	"embed"
	"fmt"
)

// The embedded MNIST subset lets the program train and sample with no download and no network.
// Provenance: the files under embedded/ are the FIRST 6000 images and labels of the official
// MNIST training set (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz) and the FIRST 1000
// of the official test set (t10k-*), unchanged and in file order, re-written as gzip IDX with only
// the count in the header changed. The official files are those with the sha256 listed in
// docs/DATA.md. Regenerate with
//
//	go run ./data/internal/mkembed -src ../shared/datasets/mnist -out data/embedded
//
// TestEmbeddedMatchesOfficial checks the files against the official ones when those are present.
//
//go:embed embedded/*.gz
var embeddedFS embed.FS

// Sizes of the embedded MNIST subset.
const (
	// EmbeddedTrainN is the number of embedded training images (the first of MNIST's 60000).
	EmbeddedTrainN = 6000
	// EmbeddedTestN is the number of embedded test images (the first of MNIST's 10000).
	EmbeddedTestN = 1000
)

// embeddedPaths returns the embedded image and label file names for a split.
func embeddedPaths(split string) (images, labels string) {
	n := EmbeddedTrainN
	if split == "test" {
		n = EmbeddedTestN
	}
	return fmt.Sprintf("embedded/mnist-%s-%d-images-idx3-ubyte.gz", split, n),
		fmt.Sprintf("embedded/mnist-%s-%d-labels-idx1-ubyte.gz", split, n)
}

// readEmbedded decodes the embedded MNIST subset for split ("train" or "test"), padded to size
// (0 keeps 28x28).
func readEmbedded(split string, size int) (*Dataset, error) {
	ip, lp := embeddedPaths(split)
	img, err := readEmbeddedIDX(ip)
	if err != nil {
		return nil, err
	}
	lab, err := readEmbeddedIDX(lp)
	if err != nil {
		return nil, err
	}
	return idxDataset(img, ip, lab, lp, size)
}

// readEmbeddedIDX decodes one embedded IDX file.
func readEmbeddedIDX(name string) (*IDX, error) {
	b, err := embeddedFS.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read embedded %s: %w (this build is broken: rebuild mdsm)", name, err)
	}
	return decodeIDX(bytes.NewReader(b), int64(len(b)), "embedded "+name)
}
