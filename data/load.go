package data

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"mdsm/internal/safefile"
)

// Built-in dataset names accepted by Load (anything else must be a folder of images).
const (
	Embedded     = "embedded"
	MNIST        = "mnist"
	FashionMNIST = "fashion-mnist"
	CIFAR10      = "cifar10"
)

// Names returns the built-in dataset names, in the order a menu should offer them.
func Names() []string { return []string{Embedded, MNIST, FashionMNIST, StackedMNIST, CIFAR10} }

// Options tunes Load. The zero value is the default: 32x32 images, all of them.
type Options struct {
	// Size is the side of the square output images. 0 means DefaultSize (32). IDX datasets
	// (MNIST, Fashion-MNIST, embedded) are zero-padded to it when it is larger than 28 and
	// area-downsampled when smaller (14 halves them); image folders are resized
	// to it (typically 32 or 64); CIFAR-10 is zero-padded to it (>= 32).
	Size int
	// Limit > 0 keeps only the first Limit images (for quick runs, and for huge image folders
	// that would not fit in memory).
	Limit int
}

// DefaultDataDir returns where downloaded datasets live: $MDSM_DATA when set, otherwise
// mdsm/data under the user cache directory (~/.cache/mdsm/data on Linux), falling back to
// ./mdsm-data when there is no home directory.
func DefaultDataDir() string {
	if d := os.Getenv("MDSM_DATA"); d != "" {
		return d
	}
	if c, err := os.UserCacheDir(); err == nil {
		return filepath.Join(c, "mdsm", "data")
	}
	return "mdsm-data"
}

// Load reads a dataset split with default Options: name is "embedded", "mnist",
// "fashion-mnist", "cifar10" or the path of a folder of PNG/JPEG images; split is "train" or
// "test"; dir is the data directory that Download fills ("" means DefaultDataDir()). See
// LoadWith for the file layout.
func Load(name, split, dir string) (*Dataset, error) {
	return LoadWith(name, split, dir, Options{})
}

// LoadWith reads a dataset split. Files are expected where Download puts them:
//
//	DIR/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
//	DIR/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
//	DIR/cifar10/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin
//
// "embedded" needs no files. For an image folder, split "train" reads FOLDER/train when that
// exists and FOLDER itself otherwise; split "test" needs FOLDER/test (reporting test numbers on
// training images would be wrong). A missing dataset is an ErrNotFound *FileError that names the
// path and the command that fixes it; a damaged one wraps ErrCorrupt and says the same.
func LoadWith(name, split, dir string, opt Options) (*Dataset, error) {
	if split != "train" && split != "test" {
		return nil, fmt.Errorf("load %s: unknown split %q (want train or test)", name, split)
	}
	if dir == "" {
		dir = DefaultDataDir()
	}
	size := opt.Size
	if size == 0 {
		size = DefaultSize
	}
	if size < 0 {
		return nil, fmt.Errorf("load %s: negative image size %d", name, size)
	}
	var (
		ds  *Dataset
		err error
	)
	switch name {
	case Embedded:
		ds, err = readEmbedded(split, size)
	case MNIST, FashionMNIST:
		ds, err = loadIDX(name, split, dir, size)
	case StackedMNIST:
		ds, err = loadStacked(split, dir, size, opt.Limit)
	case CIFAR10:
		ds, err = loadCIFAR(split, dir, size)
	default:
		ds, err = loadFolder(name, split, size, opt.Limit)
	}
	if err != nil {
		return nil, err
	}
	ds.Name = datasetName(name) + "/" + split
	if opt.Limit > 0 && ds.N > opt.Limit {
		ds = ds.Slice(0, opt.Limit)
	}
	return ds, nil
}

// datasetName is the short name of a built-in dataset or the base name of a folder.
func datasetName(name string) string {
	switch name {
	case Embedded, MNIST, FashionMNIST, StackedMNIST, CIFAR10:
		return name
	}
	return filepath.Base(filepath.Clean(name))
}

// downloadFix is the advice for a missing or damaged downloadable dataset.
func downloadFix(name, dir string) string {
	return fmt.Sprintf("run `mdsm download %s --data-dir %s` (it fetches missing files and replaces damaged ones), or pass --data-dir pointing at the folder that holds %s/", name, dir, name)
}

// withFix sets the advice on a *FileError inside err (missing or damaged downloaded files).
func withFix(err error, fix string) error {
	var fe *FileError
	if errors.As(err, &fe) && fe.Kind != nil {
		fe.Fix = fix
	}
	return err
}

// findFile returns path+".gz" or path, whichever exists (gzip first), or a not-found error;
// a path that is there but unusable (a symbolic link loop, no permission) is that error.
func findFile(path string) (string, error) {
	for _, p := range []string{path + ".gz", path} {
		_, err := os.Stat(p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", openError(p, err)
		}
	}
	return "", &FileError{Path: path + ".gz", Problem: "file does not exist", Kind: ErrNotFound}
}

// loadIDX loads MNIST or Fashion-MNIST from DIR/NAME.
func loadIDX(name, split, dir string, size int) (*Dataset, error) {
	prefix := "train"
	if split == "test" {
		prefix = "t10k"
	}
	base := filepath.Join(dir, name)
	ip, err := findFile(filepath.Join(base, prefix+"-images-idx3-ubyte"))
	if err != nil {
		return nil, withFix(err, downloadFix(name, dir))
	}
	lp, err := findFile(filepath.Join(base, prefix+"-labels-idx1-ubyte"))
	if err != nil {
		return nil, withFix(err, downloadFix(name, dir))
	}
	ds, err := ReadIDXImages(ip, lp, size)
	return ds, withFix(err, downloadFix(name, dir))
}

// loadCIFAR loads CIFAR-10 from DIR/cifar10/cifar-10-batches-bin.
func loadCIFAR(split, dir string, size int) (*Dataset, error) {
	base := filepath.Join(dir, CIFAR10, "cifar-10-batches-bin")
	files := []string{CIFARTestFile}
	if split == "train" {
		files = CIFARTrainFiles
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(base, f)
	}
	if size < cifarSide {
		return nil, fmt.Errorf("load cifar10: image size %d is smaller than CIFAR-10's 32x32 (use 32)", size)
	}
	ds, err := ReadCIFAR(paths...)
	if err != nil {
		return nil, withFix(err, downloadFix(CIFAR10, dir))
	}
	return ds.Pad(size)
}

// loadFolder loads an image folder (see LoadWith for how split picks the folder).
func loadFolder(name, split string, size, limit int) (*Dataset, error) {
	folder, err := folderFor(name, split)
	if err != nil {
		return nil, err
	}
	return ReadImageFolder(folder, size, limit)
}

// folderFor is the folder of images an image-folder dataset reads for split.
func folderFor(name, split string) (string, error) {
	st, err := os.Stat(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", &FileError{Path: name, Problem: "cannot open the image folder", Fix: "check the path and its permissions", Kind: ErrNotFound, Err: safefile.Describe(err)}
	}
	if err != nil || !st.IsDir() {
		if !strings.ContainsAny(name, `/\.`) && err != nil {
			return "", fmt.Errorf("load: unknown dataset %q: want one of %s, or the path of a folder of PNG/JPEG images", name, strings.Join(Names(), ", "))
		}
		if err == nil {
			return "", &FileError{Path: name, Problem: "not a folder", Fix: "give a folder of PNG/JPEG images or one of " + strings.Join(Names(), ", "), Kind: ErrNotFound}
		}
		return "", &FileError{Path: name, Problem: "image folder does not exist", Fix: "check the path, or use one of " + strings.Join(Names(), ", "), Kind: ErrNotFound, Err: err}
	}
	folder := name
	sub := filepath.Join(name, split)
	if st, err := os.Stat(sub); err == nil && st.IsDir() {
		folder = sub
	} else if split == "test" {
		return "", &FileError{Path: sub, Problem: "image folder has no test split",
			Fix: fmt.Sprintf("put held-out images in %s (and training images in %s), or use split train", sub, filepath.Join(name, "train")), Kind: ErrNotFound}
	}
	return folder, nil
}
