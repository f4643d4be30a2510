package data

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"mdsm/internal/safefile"
)

// ErrChecksum is wrapped by the error for a downloaded file whose sha256 is not one of the
// expected values.
var ErrChecksum = errors.New("checksum mismatch")

// errStalled is the cancellation cause used when a server sends nothing for IdleTimeout.
var errStalled = errors.New("server stalled")

// Download defaults.
const (
	// DefaultIdleTimeout is how long a server may send nothing before the download fails.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultAttempts is how many times one file is requested (resuming where possible) when
	// the connection drops mid-file.
	DefaultAttempts = 4
)

// RemoteFile is one file of a downloadable dataset.
type RemoteFile struct {
	// Name is the file name on the mirror and on disk (or, in Source.Extracted, the path
	// relative to the dataset folder).
	Name string
	// Size is the expected size in bytes: used for the progress total (and, for extracted files,
	// to recognise a finished extraction). 0 means unknown.
	Size int64
	// SHA256 lists the accepted lower-case hex digests; a file matching any of them is good.
	SHA256 []string
}

// Source is a downloadable dataset: where its files come from and how to check them.
type Source struct {
	// Name is the dataset name and the folder under the data directory ("mnist").
	Name string
	// BaseURL is the mirror; a file's URL is BaseURL + file name.
	BaseURL string
	// Files are fetched in order into DIR/Name/ and each verified by sha256.
	Files []RemoteFile
	// Extract marks Files as .tar.gz archives to unpack into DIR/Name/ (then deleted).
	Extract bool
	// Extracted lists files (relative to DIR/Name, with sizes) that exist once the archives
	// are unpacked; when all are present the download is skipped.
	Extracted []RemoteFile
}

// Sources returns the catalogue of downloadable datasets (a fresh copy each call).
//
// Checksums: MNIST uses the official files' sha256 (docs/DATA.md).
// Fashion-MNIST accepts two copies: the files on the official mirror (sha256 08dc20ab...,
// b0197879..., 78dcbbfb..., 42bd1813...; their published md5s are 8d4fb7e6..., 25c81989...,
// bef4ecab..., bb300cfd...) and the byte-for-byte different re-compression listed in
// docs/DATA.md (Debian's dataset-fashion-mnist), so a copy of either verifies. CIFAR-10's
// archive has md5 c32a1d4ab5d03f1284b67883e8d87530 and the sha256 below.
func Sources() []Source {
	return []Source{
		{
			Name:    MNIST,
			BaseURL: "https://ossci-datasets.s3.amazonaws.com/mnist/",
			Files: []RemoteFile{
				{"train-images-idx3-ubyte.gz", 9912422, []string{"440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"}},
				{"train-labels-idx1-ubyte.gz", 28881, []string{"3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"}},
				{"t10k-images-idx3-ubyte.gz", 1648877, []string{"8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"}},
				{"t10k-labels-idx1-ubyte.gz", 4542, []string{"f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"}},
			},
		},
		{
			Name:    FashionMNIST,
			BaseURL: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
			Files: []RemoteFile{
				{"train-images-idx3-ubyte.gz", 26421880, []string{
					"08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
					"b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"}},
				{"train-labels-idx1-ubyte.gz", 29515, []string{
					"b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
					"0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"}},
				{"t10k-images-idx3-ubyte.gz", 4422102, []string{
					"78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
					"cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"}},
				{"t10k-labels-idx1-ubyte.gz", 5148, []string{
					"42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
					"8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"}},
			},
		},
		{
			Name:    CIFAR10,
			BaseURL: "https://www.cs.toronto.edu/~kriz/",
			Files: []RemoteFile{
				{"cifar-10-binary.tar.gz", 170052171, []string{"c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"}},
			},
			Extract: true,
			Extracted: func() []RemoteFile {
				var fs []RemoteFile
				for _, f := range append(slices.Clone(CIFARTrainFiles), CIFARTestFile) {
					fs = append(fs, RemoteFile{Name: "cifar-10-batches-bin/" + f, Size: 10000 * cifarRecordSize})
				}
				return fs
			}(),
		},
	}
}

// SourceFor returns the catalogue entry for a dataset name.
func SourceFor(name string) (Source, error) {
	for _, s := range Sources() {
		if s.Name == name {
			return s, nil
		}
	}
	if name == Embedded {
		return Source{}, fmt.Errorf("download %s: the embedded dataset is built into mdsm; there is nothing to download", name)
	}
	if name == StackedMNIST {
		return Source{}, fmt.Errorf("download %s: it is built from MNIST when loaded; download mnist", name)
	}
	var names []string
	for _, s := range Sources() {
		names = append(names, s.Name)
	}
	return Source{}, fmt.Errorf("download: unknown dataset %q (downloadable: %s)", name, strings.Join(names, ", "))
}

// Downloader fetches datasets into a data directory: resumable (FILE.part plus HTTP Range),
// verified (sha256 before a file is renamed into place) and stall-proof (IdleTimeout). The zero
// value is ready to use.
type Downloader struct {
	// Client is the HTTP client; nil means a client without an overall timeout (large files
	// take long; stalls are caught by IdleTimeout instead).
	Client *http.Client
	// BaseURL, when non-empty, replaces every Source's mirror (tests, private mirrors). It
	// should end in "/".
	BaseURL string
	// IdleTimeout fails a transfer when no bytes (or no response) arrive for this long;
	// 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Attempts is how many requests one file may take when connections drop mid-file, each
	// resuming from the bytes already saved; 0 means DefaultAttempts.
	Attempts int
	// Progress, when set, is called with bytes done and total for the whole dataset.
	Progress func(done, total int64)
}

// Download fetches a built-in dataset ("mnist", "fashion-mnist" or "cifar10") into
// DIR/NAME/, reporting progress (may be nil) with the default Downloader settings.
func Download(ctx context.Context, name, dir string, progress func(done, total int64)) error {
	d := &Downloader{Progress: progress}
	return d.Download(ctx, name, dir)
}

// Download fetches the built-in dataset name into DIR/NAME/ (see Get).
func (d *Downloader) Download(ctx context.Context, name, dir string) error {
	src, err := SourceFor(name)
	if err != nil {
		return err
	}
	return d.Get(ctx, src, dir)
}

// Get fetches src into DIR/src.Name/. Files already present with a good checksum are kept;
// others are downloaded to FILE.part (resuming an existing .part with a Range request when the
// server allows it), verified, and only then renamed to FILE. A checksum mismatch deletes the
// .part and reports both hashes. Archives are unpacked and then deleted.
func (d *Downloader) Get(ctx context.Context, src Source, dir string) error {
	if dir == "" {
		return fmt.Errorf("download %s: empty data directory", src.Name)
	}
	dsDir := filepath.Join(dir, src.Name)
	if err := os.MkdirAll(dsDir, 0o777); err != nil {
		return fmt.Errorf("download %s: %w", src.Name, err)
	}
	var total int64
	for _, f := range src.Files {
		total += f.Size
	}
	if src.Extract && extractedPresent(dsDir, src.Extracted) {
		d.progress(total, total)
		return nil
	}
	base := src.BaseURL
	if d.BaseURL != "" {
		base = d.BaseURL
	}
	var done int64
	for _, f := range src.Files {
		dest := filepath.Join(dsDir, f.Name)
		if ok, _ := fileMatches(dest, f.SHA256); ok {
			done += f.Size
			d.progress(done, total)
		} else {
			fc := f // fetch fills in an unknown size from Content-Length
			if err := d.fetch(ctx, base+f.Name, dest, &fc, done, &total); err != nil {
				return fmt.Errorf("download %s: %w", src.Name, err)
			}
			done += fc.Size
		}
		if src.Extract {
			if err := extractTarGz(dest, dsDir); err != nil {
				return fmt.Errorf("download %s: %w", src.Name, err)
			}
		}
	}
	if src.Extract {
		if !extractedPresent(dsDir, src.Extracted) {
			return fmt.Errorf("download %s: the archive did not contain the expected files %v", src.Name, names(src.Extracted))
		}
		for _, f := range src.Files {
			os.Remove(filepath.Join(dsDir, f.Name)) // unpacked; the archive is no longer needed
		}
	}
	d.progress(total, total)
	return nil
}

// progress reports to d.Progress when set.
func (d *Downloader) progress(done, total int64) {
	if d.Progress != nil {
		d.Progress(done, total)
	}
}

// names lists the names of files.
func names(fs []RemoteFile) []string {
	var s []string
	for _, f := range fs {
		s = append(s, f.Name)
	}
	return s
}

// extractedPresent reports whether every expected extracted file exists with its size.
func extractedPresent(dsDir string, fs []RemoteFile) bool {
	if len(fs) == 0 {
		return false
	}
	for _, f := range fs {
		st, err := os.Stat(filepath.Join(dsDir, filepath.FromSlash(f.Name)))
		if err != nil || !st.Mode().IsRegular() || (f.Size > 0 && st.Size() != f.Size) {
			return false
		}
	}
	return true
}

// fileSHA256 returns the lower-case hex sha256 of a file.
func fileSHA256(path string) (string, error) {
	f, _, err := safefile.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fileMatches reports whether path exists and its sha256 is one of want.
func fileMatches(path string, want []string) (bool, error) {
	got, err := fileSHA256(path)
	if err != nil {
		return false, err
	}
	return slices.Contains(want, got), nil
}

// retryable marks transfer errors after which another (resuming) request is worth making.
type retryable struct{ err error }

// Error returns the wrapped error's message.
func (r retryable) Error() string { return r.err.Error() }

// Unwrap returns the wrapped error.
func (r retryable) Unwrap() error { return r.err }

// fetch downloads url to dest via dest.part, retrying dropped connections, and verifies it.
// base is the dataset's bytes done before this file; *total may grow if a size was unknown.
func (d *Downloader) fetch(ctx context.Context, url, dest string, f *RemoteFile, base int64, total *int64) error {
	part := dest + ".part"
	attempts := d.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	var err error
	for range attempts {
		if err = d.once(ctx, url, part, f, base, total); err == nil {
			break
		}
		var r retryable
		if !errors.As(err, &r) || ctx.Err() != nil {
			return err
		}
	}
	if err != nil {
		return fmt.Errorf("%w (gave up after %d attempts; run the download again to resume from %s)", err, attempts, part)
	}
	got, err := fileSHA256(part)
	if err != nil {
		return err
	}
	if !slices.Contains(f.SHA256, got) {
		os.Remove(part)
		return fmt.Errorf("%s: %w: got sha256 %s, want %s (deleted %s; run the download again, or check the mirror)",
			url, ErrChecksum, got, strings.Join(f.SHA256, " or "), part)
	}
	if err := os.Rename(part, dest); err != nil {
		return fmt.Errorf("save %s: %w", dest, err)
	}
	return nil
}

// once makes one request for url, appending to part from its current length when the server
// honours Range (206) and rewriting it otherwise (200).
func (d *Downloader) once(ctx context.Context, url, part string, f *RemoteFile, base int64, total *int64) error {
	var off int64
	if st, err := os.Stat(part); err == nil {
		off = st.Size()
	}
	idle := d.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(idle, func() { cancel(errStalled) })
	defer timer.Stop()
	// aborted returns the error to report when the request was stopped on purpose: by the idle
	// timer or by the caller's context. Such failures are not retried.
	aborted := func() error {
		if errors.Is(context.Cause(rctx), errStalled) {
			return fmt.Errorf("GET %s: %w: no data for %v (run the download again to resume)", url, errStalled, idle)
		}
		return ctx.Err()
	}

	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	req.Header.Set("Accept-Encoding", "identity") // checksums are over the bytes as stored
	if off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if e := aborted(); e != nil {
			return e
		}
		return retryable{fmt.Errorf("GET %s: %w", url, err)}
	}
	defer resp.Body.Close()

	open := safefile.OpenTrunc
	switch {
	case resp.StatusCode == http.StatusPartialContent && off > 0:
		if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || start != off {
			os.Remove(part) // the server answered a different range: start over
			return retryable{fmt.Errorf("GET %s: unexpected Content-Range %q for offset %d", url, resp.Header.Get("Content-Range"), off)}
		}
		open = safefile.OpenAppend
	case resp.StatusCode == http.StatusOK:
		// no Range support (or a fresh start): rewrite from zero
		off = 0
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		os.Remove(part) // the .part is as long as the file or longer: start over
		return retryable{fmt.Errorf("GET %s: %s for offset %d", url, resp.Status, off)}
	case resp.StatusCode >= 500:
		return retryable{fmt.Errorf("GET %s: %s", url, resp.Status)}
	default:
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if f.Size == 0 && resp.ContentLength > 0 {
		*total += off + resp.ContentLength
		f.Size = off + resp.ContentLength
	}

	out, err := open(part)
	if err != nil {
		return fmt.Errorf("save %s: %w", part, err)
	}
	done := off
	d.progress(base+done, *total)
	buf := make([]byte, 256<<10)
	var copyErr error
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			timer.Reset(idle)
			if _, werr := out.Write(buf[:n]); werr != nil {
				copyErr = fmt.Errorf("save %s: %w", part, werr)
				break
			}
			done += int64(n)
			d.progress(base+done, *total)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if e := aborted(); e != nil {
				copyErr = e
			} else {
				copyErr = retryable{fmt.Errorf("GET %s: connection dropped after %d bytes: %w", url, done, rerr)}
			}
			break
		}
	}
	if cerr := out.Close(); copyErr == nil && cerr != nil {
		copyErr = fmt.Errorf("save %s: %w", part, cerr)
	}
	if copyErr == nil && resp.ContentLength >= 0 && done-off < resp.ContentLength {
		copyErr = retryable{fmt.Errorf("GET %s: truncated: got %d of %d bytes", url, done-off, resp.ContentLength)}
	}
	return copyErr
}

// contentRangeStart parses the first byte position of "bytes START-END/TOTAL".
func contentRangeStart(h string) (int64, bool) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, false
	}
	startStr, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	start, err := strconv.ParseInt(startStr, 10, 64)
	return start, err == nil
}

// extractTarGz unpacks the regular files of a .tar.gz archive into dir, refusing entries that
// would land outside it; each file is written to FILE.part and renamed when complete.
func extractTarGz(archive, dir string) error {
	f, _, err := safefile.Open(archive)
	if err != nil {
		return fmt.Errorf("extract %s: %w", archive, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("extract %s: %w", archive, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("extract %s: %w", archive, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue // directories are created as needed; links and devices are skipped
		}
		rel := filepath.FromSlash(h.Name)
		if !filepath.IsLocal(rel) {
			return fmt.Errorf("extract %s: unsafe path %q in archive", archive, h.Name)
		}
		if h.Size < 0 || h.Size > maxDataBytes {
			return fmt.Errorf("extract %s: entry %q claims %d bytes", archive, h.Name, h.Size)
		}
		dest := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(dest), 0o777); err != nil {
			return fmt.Errorf("extract %s: %w", archive, err)
		}
		if err := safefile.WriteAtomic(dest, func(w io.Writer) error { _, err := io.Copy(w, tr); return err }); err != nil {
			return fmt.Errorf("extract %s: %s: %w", archive, h.Name, err)
		}
	}
}

// ProgressBar returns a progress callback that draws a one-line text bar on w, e.g.
//
//	42% [############----------------]  11.2 / 26.4 MB
//
// redrawn at most every 100 ms with a carriage return, and ended with a newline when done
// reaches total. For the CLI's download command.
func ProgressBar(w io.Writer) func(done, total int64) {
	const width = 30
	var last time.Time
	finished := false
	return func(done, total int64) {
		complete := total > 0 && done >= total
		if complete && finished {
			return
		}
		if !complete && time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		finished = complete
		if total <= 0 {
			fmt.Fprintf(w, "\r%7.1f MB", float64(done)/1e6)
			return
		}
		frac := min(float64(done)/float64(total), 1)
		fill := int(frac * width)
		fmt.Fprintf(w, "\r%3d%% [%s%s] %6.1f / %.1f MB", int(frac*100), strings.Repeat("#", fill), strings.Repeat("-", width-fill),
			float64(done)/1e6, float64(total)/1e6)
		if complete {
			fmt.Fprintln(w)
		}
	}
}
