package hostile

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rssBound is the resident-memory bound every case must stay under (peak RSS of the child,
// from rusage). The cases use the tiny preset on the embedded data; the hostile files claim
// gigabytes to terabytes. The largest legitimate case (training the small preset in the
// thread-count test) peaks near 60 MiB.
const rssBound = 256 << 20

// caseTimeout bounds every case: a hang (a FIFO read, a runaway loop) fails it.
const caseTimeout = 90 * time.Second

var (
	mdsmBin  string // the real binary, built once by TestMain
	fixtures string // shared read-only fixtures: the trained base run, big folders
	baseRun  string // a tiny run trained for 4 steps (checkpoints at steps 2 and 4)
	setupErr error
)

// goTool is the go command that runs this test.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	root, err := os.MkdirTemp("", "mdsm-hostile-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(root, 0o755) // a case runs the binary as an unprivileged user
	fixtures = root
	setupErr = setup(root)
	code := m.Run()
	os.RemoveAll(root)
	os.Exit(code)
}

// setup builds the binary (a plain build: the cases measure its memory and time, which the
// race detector would multiply; the race detector covers the packages' own tests) and trains
// the base run.
func setup(root string) error {
	mdsmBin = filepath.Join(root, "mdsm")
	if out, err := exec.Command(goTool(), "build", "-o", mdsmBin, "mdsm/cmd/mdsm").CombinedOutput(); err != nil {
		return fmt.Errorf("go build mdsm/cmd/mdsm: %v\n%s", err, out)
	}
	baseRun = filepath.Join(root, "base")
	cmd := exec.Command(mdsmBin, "train", "--run-dir", baseRun, "--preset", "tiny", "--batch", "8", "--steps", "4",
		"--checkpoint-every", "2", "--sample-every", "0", "--threads", "1", "--quiet")
	cmd.Env = childEnv(root)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("train the base run: %v\n%s", err, out)
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return err
	})
}

// childEnv is the environment of every child: no downloads (an empty data directory), two
// threads, no terminal.
func childEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MDSM_") && !strings.HasPrefix(kv, "GOMAXPROCS=") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "MDSM_DATA="+filepath.Join(dir, "no-data"), "HOME="+dir, "GOMAXPROCS=2", "TERM=dumb")
}

// world is one case's place: dir is the child's working directory (all it may write is in
// there); outside, beside it, holds a victim file that must never change.
type world struct {
	t       *testing.T
	dir     string
	outside string
	victim  string
	env     []string
	shell   string // when set, run the child as `sh -c SHELL mdsm ARGS...`
	nobody  bool   // run the child as an unprivileged user (root ignores permissions)
}

func newWorld(t *testing.T) *world {
	base, err := os.MkdirTemp(fixtures, "case-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chmodTree(base); os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	w := &world{t: t, dir: filepath.Join(base, "work"), outside: filepath.Join(base, "outside")}
	os.Mkdir(w.dir, 0o777)
	os.Mkdir(w.outside, 0o755)
	w.victim = filepath.Join(w.outside, "victim")
	if err := os.WriteFile(w.victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

func chmodTree(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
}

func (w *world) abs(rel string) string { return filepath.Join(w.dir, rel) }

// write creates rel (and its directories) with content b.
func (w *world) write(rel string, b []byte) string {
	w.t.Helper()
	os.MkdirAll(filepath.Dir(w.abs(rel)), 0o755)
	if err := os.WriteFile(w.abs(rel), b, 0o644); err != nil {
		w.t.Fatal(err)
	}
	return rel
}

// sparse creates rel as a sparse file of size bytes (no disk used).
func (w *world) sparse(rel string, size int64) string {
	w.t.Helper()
	w.write(rel, nil)
	if err := os.Truncate(w.abs(rel), size); err != nil {
		w.t.Fatal(err)
	}
	return rel
}

// fifo makes rel a named pipe nobody writes to.
func (w *world) fifo(rel string) string {
	w.t.Helper()
	os.MkdirAll(filepath.Dir(w.abs(rel)), 0o755)
	os.Remove(w.abs(rel))
	if err := syscall.Mkfifo(w.abs(rel), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return rel
}

// link makes rel a symbolic link to target.
func (w *world) link(rel, target string) string {
	w.t.Helper()
	os.MkdirAll(filepath.Dir(w.abs(rel)), 0o755)
	os.Remove(w.abs(rel))
	if err := os.Symlink(target, w.abs(rel)); err != nil {
		w.t.Fatal(err)
	}
	return rel
}

// run copies the base run to dir/run and returns "run".
func (w *world) run() string {
	w.t.Helper()
	if err := os.CopyFS(w.abs("run"), os.DirFS(baseRun)); err != nil {
		w.t.Fatal(err)
	}
	os.Remove(w.abs("run/.lock"))
	return "run"
}

const (
	ckpt4         = "run/checkpoints/step-00000004"
	ckpt2         = "run/checkpoints/step-00000002"
	victimContent = "precious\n"
)

// safetensors encodes float32 tensors (name -> shape, values) with metadata.
func safetensors(meta map[string]string, names []string, shapes [][]int, vals [][]float32) []byte {
	type entry struct {
		DType   string `json:"dtype"`
		Shape   []int  `json:"shape"`
		Offsets [2]int `json:"data_offsets"`
	}
	hdr := map[string]any{"__metadata__": meta}
	var data []byte
	for i, n := range names {
		off := len(data)
		for _, v := range vals[i] {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
		hdr[n] = entry{"F32", shapes[i], [2]int{off, len(data)}}
	}
	hj := mustJSON(hdr)
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hj)))
	return append(append(out, hj...), data...)
}

// rewriteWeights applies f to every float32 of a weights file, keeping its header.
func (w *world) rewriteWeights(rel string, f func(i int, v float32) float32) {
	w.t.Helper()
	b, err := os.ReadFile(w.abs(rel))
	if err != nil {
		w.t.Fatal(err)
	}
	hl := int(binary.LittleEndian.Uint64(b))
	for i, off := 0, 8+hl; off+4 <= len(b); i, off = i+1, off+4 {
		binary.LittleEndian.PutUint32(b[off:], math.Float32bits(f(i, math.Float32frombits(binary.LittleEndian.Uint32(b[off:])))))
	}
	w.write(rel, b)
}

// editState rewrites fields of a checkpoint sidecar.
func (w *world) editState(rel string, edit func(st map[string]any)) {
	w.t.Helper()
	var st map[string]any
	b, _ := os.ReadFile(w.abs(rel))
	if err := json.Unmarshal(b, &st); err != nil {
		w.t.Fatal(err)
	}
	edit(st)
	w.write(rel, mustJSON(st))
}

// idx encodes a raw IDX header with dims and data.
func idx(dims []uint32, data []byte) []byte {
	b := []byte{0, 0, 8, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, data...)
}

// hcase is one hostile case.
type hcase struct {
	class string
	name  string
	setup func(w *world) []string // prepares the world, returns the arguments
	code  int                     // the exit status it must have: 0 or 1
	says  []string                // fragments the output must contain (the file or flag, the fix)
	allow []string                // globs (relative to the world) of paths it may create, change or remove
	check func(w *world, out string) error
}

// result is what one child did.
type result struct {
	code    int
	out     string
	rss     int64
	elapsed time.Duration
}

// exec runs mdsm in the world under the case timeout.
func (w *world) exec(args []string) (result, error) {
	var cmd *exec.Cmd
	if w.shell != "" {
		cmd = exec.Command("sh", append([]string{"-c", w.shell + ` && exec "$0" "$@"`, mdsmBin}, args...)...)
	} else {
		cmd = exec.Command(mdsmBin, args...)
	}
	cmd.Dir = w.dir
	cmd.Env = append(childEnv(w.dir), w.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if w.nobody && os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(caseTimeout):
		cmd.Process.Kill()
		<-done
		return result{out: out.String()}, fmt.Errorf("hung: killed after %v", caseTimeout)
	}
	r := result{out: out.String(), elapsed: time.Since(start)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rss = ru.Maxrss << 10
	}
	var ee *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return r, fmt.Errorf("killed by %v", ws.Signal())
		}
	default:
		return r, werr
	}
	return r, nil
}

// entry is a path's state in a snapshot.
type entry struct {
	mode  fs.FileMode
	size  int64
	mtime time.Time
	sum   [32]byte
	link  string
}

// snapshot records every path under root (hashing files up to 1 MiB; larger ones by size
// and time: the sparse multi-GB files).
func snapshot(root string) map[string]entry {
	snap := map[string]entry{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		e := entry{mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime()}
		switch {
		case fi.IsDir():
			e.size, e.mtime = 0, time.Time{} // a directory changes when a file in it does
		case fi.Mode()&fs.ModeSymlink != 0:
			e.link, _ = os.Readlink(p)
		case fi.Mode().IsRegular() && fi.Size() <= 1<<20:
			b, _ := os.ReadFile(p)
			e.sum = sha256.Sum256(b)
		}
		snap[rel] = e
		return nil
	})
	return snap
}

// changes lists the paths created, changed or removed between two snapshots.
func changes(before, after map[string]entry) []string {
	var out []string
	for p, a := range after {
		if b, ok := before[p]; !ok || b != a {
			out = append(out, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

var (
	nanWord   = regexp.MustCompile(`\bNaN\b|[+-]Inf\b|\bInf\b`)
	crashWord = regexp.MustCompile(`panic:|fatal error:|goroutine \d+ \[|runtime error`)
)

// finiteOutputs checks the .npy and .csv files among paths for NaN and Inf.
func finiteOutputs(dir string, paths []string) error {
	for _, p := range paths {
		if fi, err := os.Lstat(filepath.Join(dir, p)); err != nil || !fi.Mode().IsRegular() || fi.Size() > 1<<20 {
			continue // a FIFO set aside as damaged is not an output
		}
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			continue
		}
		switch filepath.Ext(p) {
		case ".csv", ".json", ".jsonl":
			if nanWord.Match(b) {
				return fmt.Errorf("%s holds NaN or Inf", p)
			}
		case ".npy":
			if len(b) < 10 {
				return fmt.Errorf("%s is truncated", p)
			}
			hl := int(binary.LittleEndian.Uint16(b[8:]))
			for off := 10 + hl; off+4 <= len(b); off += 4 {
				v := float64(math.Float32frombits(binary.LittleEndian.Uint32(b[off:])))
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("%s holds %v at byte %d", p, v, off)
				}
			}
		}
	}
	return nil
}

// stats gathers what the battery did, for its summary.
var stats struct {
	sync.Mutex
	byClass map[string]int
	maxRSS  int64
	maxName string
	slowest time.Duration
	slowOne string
}

// runCase runs one case and checks the battery's promises.
func runCase(t *testing.T, c hcase) {
	w := newWorld(t)
	args := c.setup(w)
	before, outside := snapshot(w.dir), snapshot(w.outside)
	r, err := w.exec(args)
	if err != nil {
		t.Fatalf("mdsm %q: %v\n%s", args, err, r.out)
	}
	stats.Lock()
	stats.byClass[c.class]++
	if r.rss > stats.maxRSS {
		stats.maxRSS, stats.maxName = r.rss, c.class+"/"+c.name
	}
	if r.elapsed > stats.slowest {
		stats.slowest, stats.slowOne = r.elapsed, c.class+"/"+c.name
	}
	stats.Unlock()
	fail := func(format string, a ...any) {
		t.Helper()
		t.Errorf("mdsm %q (exit %d, %v, peak RSS %d MiB): %s\noutput:\n%s", args, r.code, r.elapsed.Round(time.Millisecond), r.rss>>20, fmt.Sprintf(format, a...), r.out)
	}
	if crashWord.MatchString(r.out) {
		fail("crashed")
	}
	if r.code != c.code {
		fail("exit status %d, want %d", r.code, c.code)
	}
	if r.rss > rssBound {
		fail("peak RSS %d MiB over the bound %d MiB", r.rss>>20, rssBound>>20)
	}
	for _, s := range c.says {
		if !strings.Contains(r.out, s) {
			fail("output does not say %q", s)
		}
	}
	if c.code != 0 && !regexp.MustCompile(`(?m)^mdsm: `).MatchString(r.out) {
		fail("no mdsm error message")
	}
	if ch := changes(outside, snapshot(w.outside)); len(ch) > 0 {
		fail("wrote outside its place: %v changed", ch)
	}
	changed := changes(before, snapshot(w.dir))
	for _, p := range changed {
		if !allowed(p, c.allow) {
			fail("changed %s, which it may not (allowed: %v)", p, c.allow)
		}
	}
	if r.code == 0 {
		if nanWord.MatchString(results(r.out)) {
			fail("status 0 with NaN or Inf in the output")
		}
		if err := finiteOutputs(w.dir, changed); err != nil {
			fail("status 0 but %v", err)
		}
	}
	if c.check != nil {
		if err := c.check(w, r.out); err != nil {
			fail("%v", err)
		}
	}
}

// allowed reports whether path matches one of the globs; "DIR/**" matches DIR and
// everything under it.
func allowed(path string, globs []string) bool {
	for _, g := range globs {
		if m, _ := filepath.Match(g, path); m {
			return true
		}
		if dir, ok := strings.CutSuffix(g, "/**"); ok && (path == dir || strings.HasPrefix(path, dir+"/")) {
			return true
		}
	}
	return false
}

// results is the output without warnings (which may quote the NaN of a skipped file).
func results(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "warn: ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// TestBattery runs every hostile case (cases.go) as a subtest, in parallel.
func TestBattery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the mdsm binary on ~240 hostile cases")
	}
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	stats.byClass = map[string]int{}
	seen := map[string]bool{}
	t.Run("cases", func(t *testing.T) {
		for _, c := range cases() {
			id := c.class + "/" + c.name
			if seen[id] {
				t.Fatalf("two cases named %s", id)
			}
			seen[id] = true
			t.Run(id, func(t *testing.T) {
				t.Parallel()
				runCase(t, c)
			})
		}
	})
	classes := slices.Sorted(func(yield func(string) bool) {
		for k := range stats.byClass {
			if !yield(k) {
				return
			}
		}
	})
	total := 0
	for _, k := range classes {
		t.Logf("class %-12s %3d cases", k, stats.byClass[k])
		total += stats.byClass[k]
	}
	t.Logf("%d cases; peak RSS %d MiB (%s), bound %d MiB; slowest %v (%s)", total, stats.maxRSS>>20, stats.maxName, rssBound>>20,
		stats.slowest.Round(time.Millisecond), stats.slowOne)
	for _, k := range []string{"alloc", "nonregular", "writes", "silent", "flags", "panic", "unclear"} {
		if stats.byClass[k] < 3 && !t.Failed() {
			t.Errorf("class %s has %d cases, want several", k, stats.byClass[k])
		}
	}
}

// victimIntact is a check that the victim file outside the world is unchanged.
func victimIntact(w *world, _ string) error {
	b, err := os.ReadFile(w.victim)
	if err != nil || string(b) != victimContent {
		return fmt.Errorf("the victim file changed: %q, %v", b, err)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// sync1 returns f's result, computing it once.
func sync1(f func() string) func() string {
	var once sync.Once
	var v string
	return func() string { once.Do(func() { v = f() }); return v }
}

// gzipped compresses b.
func gzipped(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// pngHeader is the start of a PNG file that declares w x h pixels (8-bit RGB) and holds no
// image data: all a decoder reads to learn the size.
func pngHeader(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	chunk := []byte("IHDR")
	chunk = binary.BigEndian.AppendUint32(chunk, w)
	chunk = binary.BigEndian.AppendUint32(chunk, h)
	chunk = append(chunk, 8, 2, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, chunk...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(chunk))
}

// TestResumeAcrossThreadCounts: a run trained on 1 thread and resumed on 2 and then 4
// (and one going 4, 2, 1) ends with bit-identical weights and optimizer moments to the
// uninterrupted run on 1 thread, and to the uninterrupted run on 4. The threads are both
// --threads (the GEMM) and GOMAXPROCS (everything else). The small preset at batch 64 has
// products whose depth the GEMM splits: before the split stopped following the thread
// count (docs/DESIGN.md, decision 6) this test failed.
func TestResumeAcrossThreadCounts(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the small preset five times with the mdsm binary")
	}
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	dir := t.TempDir()
	common := []string{"--preset", "small", "--batch", "64", "--checkpoint-every", "2",
		"--sample-every", "0", "--quiet"}
	train := func(threads int, args ...string) {
		t.Helper()
		cmd := exec.Command(mdsmBin, append(append([]string{"train"}, args...), "--threads", fmt.Sprint(threads))...)
		cmd.Dir = dir
		cmd.Env = append(childEnv(dir), fmt.Sprintf("GOMAXPROCS=%d", threads))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mdsm %q on %d threads: %v\n%s", args, threads, err, out)
		}
	}
	final := func(run string) [2][]byte {
		t.Helper()
		var out [2][]byte
		for i, ext := range []string{".safetensors", ".adam.safetensors"} {
			b, err := os.ReadFile(filepath.Join(dir, run, "checkpoints", "step-00000006"+ext))
			if err != nil {
				t.Fatal(err)
			}
			out[i] = b
		}
		return out
	}
	const steps = "6"
	train(1, append([]string{"--run-dir", "straight1", "--steps", steps}, common...)...)
	want := final("straight1")
	train(4, append([]string{"--run-dir", "straight4", "--steps", steps}, common...)...)
	if got := final("straight4"); !bytes.Equal(got[0], want[0]) || !bytes.Equal(got[1], want[1]) {
		t.Errorf("the uninterrupted run on 4 threads differs from the one on 1")
	}
	for _, seq := range [][3]int{{1, 2, 4}, {4, 2, 1}} {
		run := fmt.Sprintf("resumed%d%d%d", seq[0], seq[1], seq[2])
		train(seq[0], append([]string{"--run-dir", run, "--steps", "2"}, common...)...)
		train(seq[1], "--resume", run, "--steps", "4", "--quiet")
		train(seq[2], "--resume", run, "--steps", steps, "--quiet")
		got := final(run)
		if !bytes.Equal(got[0], want[0]) {
			t.Errorf("threads %v: weights differ from the uninterrupted run", seq)
		}
		if !bytes.Equal(got[1], want[1]) {
			t.Errorf("threads %v: optimizer moments differ from the uninterrupted run", seq)
		}
	}
}
