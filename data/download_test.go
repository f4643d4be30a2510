package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fileServer serves files by name. Each request is logged; behave may take over a request
// (returning true), otherwise the file is served with http.ServeContent (Range supported).
type fileServer struct {
	files  map[string][]byte
	behave func(w http.ResponseWriter, r *http.Request, name string, data []byte, n int) bool

	mu     sync.Mutex
	log    []string // "NAME RANGE"
	count  map[string]int
	served int64
}

func newFileServer(t *testing.T, files map[string][]byte) (*fileServer, *httptest.Server) {
	fs := &fileServer{files: files, count: map[string]int{}}
	srv := httptest.NewServer(fs)
	t.Cleanup(srv.Close)
	return fs, srv
}

func (fs *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	fs.mu.Lock()
	fs.log = append(fs.log, name+" "+r.Header.Get("Range"))
	fs.count[name]++
	n := fs.count[name]
	fs.mu.Unlock()
	data, ok := fs.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if fs.behave != nil && fs.behave(w, r, name, data, n) {
		return
	}
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, name, time.Time{}, bytes.NewReader(data))
	fs.mu.Lock()
	fs.served += cw.n
	fs.mu.Unlock()
}

func (fs *fileServer) requests() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]string(nil), fs.log...)
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

// truncate sends the headers of the whole file but only the first half of the body, then drops
// the connection.
func truncate(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Length", itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data[:len(data)/2])
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler) // close the connection without logging
}

func itoa(n int) string { return strconv.Itoa(n) }

// realFiles reads the real files of a dataset into memory (skipping when absent).
func realFiles(t *testing.T, name string) map[string][]byte {
	t.Helper()
	dir := needReal(t, name)
	src, _ := SourceFor(name)
	files := map[string][]byte{}
	for _, f := range src.Files {
		b, err := os.ReadFile(filepath.Join(dir, name, f.Name))
		if err != nil {
			t.Skipf("real %s not complete at %s: %v; these tests need ../shared/datasets", name, dir, err)
		}
		files[f.Name] = b
	}
	return files
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// progressLog records progress calls and checks they never go backwards past a restart.
type progressLog struct {
	mu    sync.Mutex
	calls [][2]int64
}

func (p *progressLog) f(done, total int64) {
	p.mu.Lock()
	p.calls = append(p.calls, [2]int64{done, total})
	p.mu.Unlock()
}

func (p *progressLog) last() [2]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.calls) == 0 {
		return [2]int64{-1, -1}
	}
	return p.calls[len(p.calls)-1]
}

func TestDownloadRealMNIST(t *testing.T) {
	files := realFiles(t, "mnist")
	fs, srv := newFileServer(t, files)
	dir := t.TempDir()
	var prog progressLog
	d := &Downloader{BaseURL: srv.URL + "/", Progress: prog.f}
	if err := d.Download(context.Background(), "mnist", dir); err != nil {
		t.Fatal(err)
	}
	var total int64
	for name, b := range files {
		total += int64(len(b))
		got, err := os.ReadFile(filepath.Join(dir, "mnist", name))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%s not downloaded intact: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "mnist", name+".part")); err == nil {
			t.Errorf("%s.part left behind", name)
		}
	}
	if last := prog.last(); last != [2]int64{total, total} {
		t.Errorf("last progress %v, want %d/%d", last, total, total)
	}
	ds, err := Load("mnist", "test", dir)
	if err != nil || ds.N != 10000 {
		t.Fatalf("Load after download: %v", err)
	}

	// A second run verifies the files and fetches nothing.
	n := len(fs.requests())
	if err := d.Download(context.Background(), "mnist", dir); err != nil {
		t.Fatal(err)
	}
	if len(fs.requests()) != n {
		t.Errorf("second download made requests: %v", fs.requests()[n:])
	}
	// A damaged file is fetched again (and only that one).
	writeFile(t, dir, "mnist/t10k-labels-idx1-ubyte.gz", []byte("damaged"))
	if err := d.Download(context.Background(), "mnist", dir); err != nil {
		t.Fatal(err)
	}
	if got := fs.requests()[n:]; len(got) != 1 || !strings.HasPrefix(got[0], "t10k-labels") {
		t.Errorf("repair requests %v, want just t10k-labels", got)
	}
}

func TestDownloadRealFashionMNIST(t *testing.T) {
	// The files in ../shared/datasets are a re-compression of the official ones; the catalogue
	// accepts both, so serving them must verify.
	files := realFiles(t, "fashion-mnist")
	_, srv := newFileServer(t, files)
	dir := t.TempDir()
	d := &Downloader{BaseURL: srv.URL + "/"}
	if err := d.Download(context.Background(), "fashion-mnist", dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Load("fashion-mnist", "test", dir); err != nil {
		t.Fatal(err)
	}
}

func TestDownloadTruncatedThenResumed(t *testing.T) {
	files := realFiles(t, "mnist")
	fs, srv := newFileServer(t, files)
	// Every file's first request is cut in half; the retry must resume with a Range request.
	fs.behave = func(w http.ResponseWriter, r *http.Request, name string, data []byte, n int) bool {
		if n == 1 {
			truncate(w, data)
			return true
		}
		return false
	}
	dir := t.TempDir()
	d := &Downloader{BaseURL: srv.URL + "/"}
	if err := d.Download(context.Background(), "mnist", dir); err != nil {
		t.Fatal(err)
	}
	name := "t10k-images-idx3-ubyte.gz"
	want := name + " bytes=" + itoa(len(files[name])/2) + "-"
	found := false
	for _, r := range fs.requests() {
		found = found || r == want
	}
	if !found {
		t.Errorf("no resume request %q in %v", want, fs.requests())
	}
	if _, err := Load("mnist", "test", dir); err != nil {
		t.Fatal(err)
	}
}

func TestDownloadAlwaysTruncated(t *testing.T) {
	data := idxBytes([]uint32{100}, seq(100))
	src := Source{Name: "tiny", Files: []RemoteFile{{Name: "f.idx", SHA256: []string{sha(data)}}}}
	fs, srv := newFileServer(t, map[string][]byte{"f.idx": data})
	fs.behave = func(w http.ResponseWriter, r *http.Request, name string, data []byte, n int) bool {
		truncate(w, data) // ignores Range and always drops half-way
		return true
	}
	dir := t.TempDir()
	d := &Downloader{BaseURL: srv.URL + "/", Attempts: 3}
	err := d.Get(context.Background(), src, dir)
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") || !strings.Contains(err.Error(), "f.idx.part") {
		t.Fatalf("error %v, want a give-up naming the .part", err)
	}
	if len(fs.requests()) != 3 {
		t.Errorf("%d requests, want 3", len(fs.requests()))
	}
	if _, err := os.Stat(filepath.Join(dir, "tiny", "f.idx")); err == nil {
		t.Error("truncated file renamed into place")
	}
	// The .part survives; a healthy server then completes it with one Range request.
	fs.behave = nil
	if err := d.Get(context.Background(), src, dir); err != nil {
		t.Fatal(err)
	}
	if last := fs.requests()[len(fs.requests())-1]; last != "f.idx bytes="+itoa(len(data)/2)+"-" {
		t.Errorf("resume request %q", last)
	}
}

func TestDownloadResumeFromPart(t *testing.T) {
	files := realFiles(t, "mnist")
	name := "t10k-images-idx3-ubyte.gz"
	data := files[name]
	fs, srv := newFileServer(t, map[string][]byte{name: data})
	src := Source{Name: "m", Files: []RemoteFile{{Name: name, Size: int64(len(data)), SHA256: []string{sha(data)}}}}
	dir := t.TempDir()
	const have = 1000000
	writeFile(t, dir, "m/"+name+".part", data[:have])
	var prog progressLog
	d := &Downloader{BaseURL: srv.URL + "/", Progress: prog.f}
	if err := d.Get(context.Background(), src, dir); err != nil {
		t.Fatal(err)
	}
	if got := fs.requests(); len(got) != 1 || got[0] != name+" bytes=1000000-" {
		t.Errorf("requests %v, want one Range request from 1000000", got)
	}
	if fs.served != int64(len(data)-have) {
		t.Errorf("served %d bytes, want only the missing %d", fs.served, len(data)-have)
	}
	if prog.calls[0][0] != have {
		t.Errorf("progress started at %d, want %d (the bytes already there)", prog.calls[0][0], have)
	}
}

func TestDownloadNoRangeSupport(t *testing.T) {
	data := seq(5000)
	fs, srv := newFileServer(t, map[string][]byte{"f": data})
	fs.behave = func(w http.ResponseWriter, r *http.Request, name string, data []byte, n int) bool {
		w.Write(data) // ignores Range: 200 with the whole file
		return true
	}
	dir := t.TempDir()
	writeFile(t, dir, "x/f.part", []byte("stale junk that must not be kept"))
	src := Source{Name: "x", Files: []RemoteFile{{Name: "f", SHA256: []string{sha(data)}}}}
	if err := (&Downloader{BaseURL: srv.URL + "/"}).Get(context.Background(), src, dir); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "x", "f"))
	if !bytes.Equal(got, data) {
		t.Error("file not restarted from zero")
	}
}

func TestDownloadWrongChecksum(t *testing.T) {
	data := seq(3000)
	_, srv := newFileServer(t, map[string][]byte{"f": data})
	want := strings.Repeat("ab", 32)
	src := Source{Name: "x", Files: []RemoteFile{{Name: "f", SHA256: []string{want}}}}
	dir := t.TempDir()
	err := (&Downloader{BaseURL: srv.URL + "/"}).Get(context.Background(), src, dir)
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), sha(data)) {
		t.Fatalf("error %v, want a checksum mismatch showing both hashes", err)
	}
	for _, p := range []string{"f", "f.part"} {
		if _, err := os.Stat(filepath.Join(dir, "x", p)); err == nil {
			t.Errorf("%s exists after a checksum mismatch", p)
		}
	}
}

func TestDownloadStalled(t *testing.T) {
	tests := []struct {
		name   string
		behave func(w http.ResponseWriter, r *http.Request)
	}{
		{"after some bytes", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100000")
			w.Write(make([]byte, 1000))
			w.(http.Flusher).Flush()
		}},
		{"before the headers", func(w http.ResponseWriter, r *http.Request) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, srv := newFileServer(t, map[string][]byte{"f": seq(10)})
			fs.behave = func(w http.ResponseWriter, r *http.Request, _ string, _ []byte, _ int) bool {
				tc.behave(w, r)
				select { // hang until the client gives up
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
				return true
			}
			src := Source{Name: "x", Files: []RemoteFile{{Name: "f", SHA256: []string{sha(seq(10))}}}}
			start := time.Now()
			err := (&Downloader{BaseURL: srv.URL + "/", IdleTimeout: 150 * time.Millisecond}).Get(context.Background(), src, t.TempDir())
			if err == nil || !errors.Is(err, errStalled) || !strings.Contains(err.Error(), "no data for 150ms") {
				t.Fatalf("error %v, want a stall", err)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("took %v to notice a stall", el)
			}
			if len(fs.requests()) != 1 {
				t.Errorf("a stall was retried: %v", fs.requests())
			}
		})
	}
}

func TestDownloadHTTPErrorAndCancel(t *testing.T) {
	_, srv := newFileServer(t, map[string][]byte{})
	src := Source{Name: "x", Files: []RemoteFile{{Name: "missing", SHA256: []string{"00"}}}}
	err := (&Downloader{BaseURL: srv.URL + "/"}).Get(context.Background(), src, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("error %v, want 404", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (&Downloader{BaseURL: srv.URL + "/"}).Get(ctx, src, t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v", err)
	}
	for _, name := range []string{"embedded", "imagenet"} {
		if err := Download(context.Background(), name, t.TempDir(), nil); err == nil {
			t.Errorf("Download(%s) succeeded", name)
		}
	}
}

// tarGz builds a .tar.gz with the given regular files (in order).
func tarGz(t *testing.T, files [][2]string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "cifar-10-batches-bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f[1]))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f[1]))
	}
	tw.Close()
	zw.Close()
	return b.Bytes()
}

func TestDownloadCIFARArchive(t *testing.T) {
	var entries [][2]string
	var extracted []RemoteFile
	for k, f := range append(CIFARTrainFiles, CIFARTestFile) {
		name := "cifar-10-batches-bin/" + f
		entries = append(entries, [2]string{name, string(cifarRecords(2, 2*k))})
		extracted = append(extracted, RemoteFile{Name: name, Size: 2 * cifarRecordSize})
	}
	entries = append(entries, [2]string{"cifar-10-batches-bin/readme.html", "<p>hi</p>"})
	archive := tarGz(t, entries)
	real, _ := SourceFor(CIFAR10)
	src := real
	src.Files = []RemoteFile{{Name: real.Files[0].Name, Size: int64(len(archive)), SHA256: []string{sha(archive)}}}
	src.Extracted = extracted

	fs, srv := newFileServer(t, map[string][]byte{src.Files[0].Name: archive})
	dir := t.TempDir()
	d := &Downloader{BaseURL: srv.URL + "/"}
	if err := d.Get(context.Background(), src, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cifar10", "cifar-10-binary.tar.gz")); err == nil {
		t.Error("archive kept after extraction")
	}
	for _, split := range []string{"train", "test"} {
		ds, err := Load("cifar10", split, dir)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"train": 10, "test": 2}[split]; ds.N != want {
			t.Errorf("%s: N=%d want %d", split, ds.N, want)
		}
	}
	n := len(fs.requests())
	if err := d.Get(context.Background(), src, dir); err != nil || len(fs.requests()) != n {
		t.Errorf("second download: %v, requests %v", err, fs.requests()[n:])
	}
}

func TestExtractRejectsUnsafePaths(t *testing.T) {
	for _, name := range []string{"../evil.bin", "/abs/evil.bin", "a/../../evil.bin"} {
		dir := t.TempDir()
		archive := writeFile(t, dir, "a.tar.gz", tarGz(t, [][2]string{{name, "x"}}))
		out := filepath.Join(dir, "out")
		os.Mkdir(out, 0o755)
		if err := extractTarGz(archive, out); err == nil || !strings.Contains(err.Error(), "unsafe path") {
			t.Errorf("%s: error %v, want unsafe path", name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "evil.bin")); err == nil {
			t.Errorf("%s escaped the folder", name)
		}
	}
}

func TestProgressBar(t *testing.T) {
	var b bytes.Buffer
	p := ProgressBar(&b)
	p(0, 2_000_000)
	p(1_000_000, 2_000_000) // within 100 ms: skipped
	p(2_000_000, 2_000_000)
	p(2_000_000, 2_000_000) // already finished: nothing more
	out := b.String()
	if !strings.HasPrefix(out, "\r  0% [") || !strings.HasSuffix(out, "100% ["+strings.Repeat("#", 30)+"]    2.0 / 2.0 MB\n") || strings.Contains(out, " 50%") {
		t.Errorf("progress output %q", out)
	}
}
