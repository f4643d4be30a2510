package core

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"mdsm/data"
	"mdsm/nn"
)

// failingWriter passes writes through until the shared budget is spent, then fails with
// errno, like a disk that fills up.
type failingWriter struct {
	w      io.Writer
	budget *atomic.Int64
	errno  syscall.Errno
}

func (f failingWriter) Write(p []byte) (int, error) {
	if f.budget.Add(-int64(len(p))) < 0 {
		return 0, &os.PathError{Op: "write", Path: "injected", Err: f.errno}
	}
	return f.w.Write(p)
}

// injectDiskFull makes every run-directory write fail with errno once budget bytes have
// been written (budget < 0: from the first byte), until the test ends.
func injectDiskFull(t *testing.T, budget int64, errno syscall.Errno) *atomic.Int64 {
	t.Helper()
	b := new(atomic.Int64)
	b.Store(budget)
	wrapWrite = func(_ string, w io.Writer) io.Writer { return failingWriter{w, b, errno} }
	t.Cleanup(func() { wrapWrite = nil })
	return b
}

// waitErr drains a trainer's events and returns its final error.
func waitErr(t *testing.T, tr *Trainer) (error, []LogEvent) {
	t.Helper()
	var logs []LogEvent
	for _, ev := range events(t, tr) {
		if l, ok := ev.(LogEvent); ok {
			logs = append(logs, l)
		}
	}
	return tr.Err(), logs
}

// TestDiskFullKeepsCheckpoint: a disk that fills up mid-run stops training with an error
// that names the run directory and the fix; the last good checkpoint stays loadable, the
// failed one leaves no files behind, and the run resumes once there is space again.
func TestDiskFullKeepsCheckpoint(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	cfg.Steps = 40
	dir := filepath.Join(t.TempDir(), "r")
	tr, err := NewTrainer(cfg, ds, dir)
	if err != nil {
		t.Fatal(err)
	}
	tr.StopAtStep = 8
	tr.Start()
	if err, _ := waitErr(t, tr); err != nil {
		t.Fatal(err)
	}
	ck, _, err := LoadLatestCheckpoint(dir)
	if err != nil || ck.State.Step != 8 {
		t.Fatalf("checkpoint before the disk fills: %v", err)
	}
	// Room for about one more checkpoint (weights + moments), not two.
	size := int64(3*ck.Params.Count()*4) + 8<<10
	injectDiskFull(t, size+size/2, syscall.ENOSPC)
	tr, err = ResumeTrainer(dir, ds, ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr.Start()
	err, _ = waitErr(t, tr)
	if err == nil {
		t.Fatal("training went on with a full disk")
	}
	for _, want := range []string{"no space left on device", dir, "free space", "--resume", "intact"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q should contain %q", err, want)
		}
	}
	if tr.State() != Failed {
		t.Errorf("state %v after a full disk, want failed", tr.State())
	}
	wrapWrite = nil
	ck, skipped, err := LoadLatestCheckpoint(dir)
	if err != nil || len(skipped) > 0 || ck.State.Step <= 8 {
		t.Fatalf("last good checkpoint: %v, skipped %v", err, skipped)
	}
	steps, _ := checkpointSteps(dir)
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "*"))
	if len(files) != 3*len(steps) {
		t.Errorf("partial checkpoint files left behind: %v", files)
	}
	if _, err := ReadMetrics(filepath.Join(dir, "metrics.jsonl")); err != nil {
		t.Error(err)
	}
	good := ck.State.Step
	tr, err = ResumeTrainer(dir, ds, ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr.Start()
	if err, _ := waitErr(t, tr); err != nil {
		t.Fatal(err)
	}
	if tr.Step() != cfg.Steps {
		t.Fatalf("resumed from %d after the disk was freed, ended at %d", good, tr.Step())
	}
	recs, err := ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.Step != i+1 {
			t.Fatalf("metrics.jsonl record %d is step %d: steps lost or repeated", i, r.Step)
		}
	}
}

// TestUnwritableRunDir: a new run directory that cannot be written (read-only mount, no
// permission) is refused at once with a message naming it and the fix (not a resume).
func TestUnwritableRunDir(t *testing.T) {
	ds := testData(t)
	dir := filepath.Join(t.TempDir(), "r")
	for _, errno := range []syscall.Errno{syscall.EROFS, syscall.EACCES} {
		injectDiskFull(t, -1, errno)
		_, err := NewTrainer(testConfig(), ds, dir)
		// a new run has nothing to resume: the fix is another place for it
		if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "choose a writable --run-dir") || strings.Contains(err.Error(), "resume") {
			t.Errorf("%v: got %v", errno, err)
		}
		wrapWrite = nil
	}
}

// TestEstimateMemoryMatchesAllocation: EstimateMemory agrees with what a trainer really
// allocates (heap after one step, with a reader's snapshot held): the counted buffers are
// within 25% of the measured heap and under it plus the overhead allowance, and the cost
// per image (the difference between two batch sizes, free of fixed noise such as GEMM
// workspaces) within 10%.
func TestEstimateMemoryMatchesAllocation(t *testing.T) {
	ds := testData(t)
	var measured, counted [3]int64
	// A first run makes the GEMM workspaces, which the free lists keep for the life of the
	// process (their number follows the scheduling, not the run): none is counted below.
	for i, bm := range [][2]int{{32, 0}, {8, 0}, {32, 0}, {32, 8}} {
		i--
		cfg := testConfig()
		cfg.Model = nn.Config{Preset: "test", InChannels: 1, ImageSize: 28, Filters: 8, Stages: 2, ExtraBlocks: 1}
		cfg.BatchSize, cfg.MicroBatch, cfg.Steps, cfg.Warmup = bm[0], bm[1], 1, 0
		runtime.GC()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tr, err := NewTrainer(cfg, ds, filepath.Join(t.TempDir(), "r"))
		if err != nil {
			t.Fatal(err)
		}
		tr.Start()
		if err, _ := waitErr(t, tr); err != nil {
			t.Fatal(err)
		}
		snap, _ := tr.Snapshot()
		// Two collections empty sync.Pool's victim caches too: pooled GEMM workspaces, whose
		// number depends on scheduling (~3 MB of noise under load), are then not counted.
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if i < 0 {
			runtime.KeepAlive(tr)
			continue
		}
		measured[i] = int64(after.HeapAlloc) - int64(before.HeapAlloc)
		est := EstimateMemoryParts(cfg)
		counted[i] = est.Total() - est.Overhead
		ratio := float64(measured[i]) / float64(counted[i])
		t.Logf("batch %d micro %d: counted %d bytes (+%s overhead allowance), measured %d (%.2f)", bm[0], bm[1], counted[i], humanBytes(est.Overhead), measured[i], ratio)
		if ratio < 0.75 || ratio > 1.25 && measured[i] > est.Total() {
			t.Errorf("batch %d micro %d: estimate %d bytes, measured %d", bm[0], bm[1], counted[i], measured[i])
		}
		runtime.KeepAlive(tr)
		runtime.KeepAlive(snap)
	}
	slope := float64(measured[1]-measured[0]) / float64(counted[1]-counted[0])
	t.Logf("measured/estimated cost of 24 more images: %.3f", slope)
	if slope < 0.9 || slope > 1.1 {
		t.Errorf("per-image cost: measured %d bytes for 24 images, estimated %d", measured[1]-measured[0], counted[1]-counted[0])
	}
}

// TestMemoryRefusal: a run that does not fit is refused before its run directory is
// made, with the largest micro-batch that fits; that micro-batch is then accepted.
func TestMemoryRefusal(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	cfg.BatchSize, cfg.MicroBatch = 64, 0
	split := cfg
	split.MicroBatch = 12 // the memory of micro-batches of 12 (with the split batch's scratch gradient)
	avail := int64(float64(EstimateMemoryParts(split).Total())*memSlack) + 1
	memoryAvailable = func() (int64, string, bool) { return avail, "a test limit", true }
	defer func() { memoryAvailable = MemoryAvailable }()
	dir := filepath.Join(t.TempDir(), "r")
	_, err := NewTrainer(cfg, ds, dir)
	if err == nil || !strings.Contains(err.Error(), "--micro-batch 12 ") || !strings.Contains(err.Error(), "a test limit") {
		t.Fatalf("want a refusal suggesting --micro-batch 12, got %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused run left its directory behind")
	}
	cfg.MicroBatch = 12
	tr, err := NewTrainer(cfg, ds, dir)
	if err != nil {
		t.Fatalf("micro-batch 12 should fit: %v", err)
	}
	tr.Stop()
	// Resuming on a smaller machine: refused, then accepted with the suggested micro-batch.
	cfg.MicroBatch = 0
	os.WriteFile(filepath.Join(dir, "config.json"), mustJSON(t, cfg), 0o644)
	if _, err := ResumeTrainer(dir, ds, ResumeOptions{}); err == nil || !strings.Contains(err.Error(), "--micro-batch 12 ") {
		t.Fatalf("resume: %v", err)
	}
	tr, err = ResumeTrainer(dir, ds, ResumeOptions{MicroBatch: 12})
	if err != nil {
		t.Fatal(err)
	}
	tr.Stop()
	memoryAvailable = func() (int64, string, bool) { return 1 << 20, "a test limit", true }
	if _, err := NewTrainer(cfg, ds, filepath.Join(t.TempDir(), "r")); err == nil || !strings.Contains(err.Error(), "smaller --preset") {
		t.Fatalf("nothing fits: %v", err)
	}
	if avail, src, ok := MemoryAvailable(); runtime.GOOS == "linux" && (!ok || avail <= 0) {
		t.Errorf("MemoryAvailable on Linux: %d from %q", avail, src)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// poisonedRun returns a copy of ds in which the images of batches from..to (1-based steps
// of a run with cfg's seed and batch size) are NaN.
func poisonedRun(ds *data.Dataset, cfg RunConfig, from, to int) *data.Dataset {
	out := ds.Subset(seq(ds.N))
	b, _ := data.NewBatcher(out, cfg.BatchSize, cfg.Seed, 2)
	buf := make([]float32, cfg.BatchSize*out.Dim())
	var bad []int
	for s := 1; s <= to; s++ {
		idx := b.Next(buf)
		if s >= from {
			bad = append(bad, idx...)
		}
	}
	for _, i := range bad {
		img := out.Image(i)
		for j := range img {
			img[j] = float32(math.NaN())
		}
	}
	return out
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// TestNaNRollback: with nan_rollback, a NaN at step 6 rolls back to the checkpoint at step
// 4 with the learning rate halved (persisted in the checkpoint), says so in a LogEvent and
// the run finishes; a fault that keeps coming gives up after MaxNaNRollbacks.
func TestNaNRollback(t *testing.T) {
	cfg := testConfig()
	cfg.Steps, cfg.NaNRollback = 16, true
	ds := poisonedRun(testData(t), cfg, 6, 6)
	dir := filepath.Join(t.TempDir(), "r")
	tr, err := NewTrainer(cfg, ds, dir)
	if err != nil {
		t.Fatal(err)
	}
	tr.Start()
	err, logs := waitErr(t, tr)
	if err != nil {
		t.Fatalf("run with one poisoned batch and nan_rollback failed: %v", err)
	}
	var said bool
	for _, l := range logs {
		if strings.Contains(l.Msg, "step 6: non-finite loss") && strings.Contains(l.Msg, "rolled back to the checkpoint at step 4") &&
			strings.Contains(l.Msg, "halved") && l.Level == "warn" {
			said = true
		}
	}
	if !said {
		t.Errorf("no LogEvent about the rollback: %v", logs)
	}
	ck, _, err := LoadLatestCheckpoint(dir)
	if err != nil || ck.State.Step != cfg.Steps || ck.State.LRScale != 0.5 || ck.State.Rollbacks != 1 {
		t.Fatalf("final checkpoint: %+v, %v", ck.State, err)
	}
	recs, _ := ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
	for i, r := range recs {
		if r.Step != i+1 {
			t.Fatalf("metrics record %d is step %d after the rollback", i, r.Step)
		}
		if r.Step > 4 && math.Abs(r.LR-0.5*LearningRate(cfg, r.Step-1)) > 1e-12 {
			t.Fatalf("step %d: lr %g, want half the schedule", r.Step, r.LR)
		}
	}
	// The halving survives a resume.
	tr, err = ResumeTrainer(dir, ds, ResumeOptions{Steps: cfg.Steps + 2})
	if err != nil {
		t.Fatal(err)
	}
	if tr.lrScale != 0.5 || tr.rollbacks != 1 {
		t.Errorf("resumed with lr scale %g, %d rollbacks", tr.lrScale, tr.rollbacks)
	}
	tr.Stop()

	// Every batch after step 5 is poisoned: three rollbacks, then a failure that says so.
	ds = poisonedRun(testData(t), cfg, 6, 30)
	dir = filepath.Join(t.TempDir(), "r2")
	if tr, err = NewTrainer(cfg, ds, dir); err != nil {
		t.Fatal(err)
	}
	tr.Start()
	err, _ = waitErr(t, tr)
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 rollbacks") || !strings.Contains(err.Error(), "step 5") {
		t.Fatalf("want a failure after 3 rollbacks naming the step, got %v", err)
	}
	if ck, _, err := LoadLatestCheckpoint(dir); err != nil || ck.State.Step != 4 || ck.State.Rollbacks != 3 {
		t.Fatalf("checkpoint after giving up: %v", err)
	}
}

// TestNonFiniteWeightsNameTensor: a weight that becomes infinite stops training with an
// error naming the step and the tensor.
func TestNonFiniteWeightsNameTensor(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	tr, err := NewTrainer(cfg, ds, filepath.Join(t.TempDir(), "r"))
	if err != nil {
		t.Fatal(err)
	}
	// The energy offset does not enter the loss or its gradient: only the weight check sees it.
	tr.params.T[nn.EnergyOffset].Data[0] = float32(math.Inf(1))
	tr.Start()
	err, _ = waitErr(t, tr)
	if err == nil || !strings.Contains(err.Error(), "step 1") || !strings.Contains(err.Error(), nn.EnergyOffset) || !errors.Is(err, ErrNonFinite) {
		t.Fatalf("want an error naming step 1 and %s, got %v", nn.EnergyOffset, err)
	}
	g := nn.NewParams[float32](cfg.Model)
	g.T["blocks.1.c2.bias"].Data[0] = float32(math.NaN())
	if err := g.CheckFinite(); err == nil || !strings.Contains(err.Error(), "blocks.1.c2.bias") {
		t.Fatalf("gradient check must name the tensor: %v", err)
	}
}

// TestConcurrentControl: Snapshot, State, Step, Pause, Resume, CheckpointNow and Stop
// from other goroutines while training runs (go test -race checks the locking).
func TestConcurrentControl(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	cfg.Steps, cfg.CheckpointEvery = 60, 7
	dir := filepath.Join(t.TempDir(), "r")
	tr, err := NewTrainer(cfg, ds, dir)
	if err != nil {
		t.Fatal(err)
	}
	tr.Start()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			last := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				switch g {
				case 0, 1:
					p, step := tr.Snapshot()
					if step < last {
						t.Errorf("snapshot step went back from %d to %d", last, step)
					}
					last = step
					if err := p.CheckFinite(); err != nil {
						t.Error(err)
					}
					_ = tr.State()
				case 2:
					switch rng.IntN(3) {
					case 0:
						tr.Pause()
					case 1:
						tr.Resume()
					case 2:
						tr.CheckpointNow()
					}
				case 3:
					_ = tr.Step()
					_ = tr.Err()
				}
				time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
			}
		}()
	}
	var events int
	done := make(chan struct{})
	go func() {
		for range tr.Events() {
			events++
		}
		close(done)
	}()
	deadline := time.Now().Add(time.Minute)
	for tr.Step() < 30 && time.Now().Before(deadline) {
		tr.Resume()
		time.Sleep(2 * time.Millisecond)
	}
	var stops sync.WaitGroup
	for range 2 {
		stops.Go(func() {
			if err := tr.Stop(); err != nil {
				t.Error(err)
			}
		})
	}
	stops.Wait()
	close(stop)
	wg.Wait()
	tr.Pause() // after the end: no-ops, no panic
	tr.Resume()
	tr.CheckpointNow()
	<-done
	if s := tr.State(); s != Stopped {
		t.Errorf("state %v after Stop", s)
	}
	ck, _, err := LoadLatestCheckpoint(dir)
	if err != nil || ck.State.Step != tr.Step() {
		t.Fatalf("checkpoint at the stop step %d: %v", tr.Step(), err)
	}
}

// TestStopBeforeStart: Stop on a trainer never started ends its event stream and frees
// the run directory; Start afterwards does nothing.
func TestStopBeforeStart(t *testing.T) {
	ds := testData(t)
	dir := filepath.Join(t.TempDir(), "r")
	tr, err := NewTrainer(testConfig(), ds, dir)
	if err != nil {
		t.Fatal(err)
	}
	tr.Stop()
	tr.Start()
	for range tr.Events() {
	}
	<-tr.Done()
	tr2, err := ResumeTrainer(dir, ds, ResumeOptions{})
	if err != nil {
		t.Fatalf("run directory still locked: %v", err)
	}
	tr2.Stop()
}

// TestResumeRejectsBadState: a checkpoint sidecar that points outside its directory or
// does not match config.json is refused (resume falls back to an older one).
func TestResumeRejectsBadState(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	dir := filepath.Join(t.TempDir(), "r")
	tr, err := NewTrainer(cfg, ds, dir)
	if err != nil {
		t.Fatal(err)
	}
	tr.StopAtStep = 8
	tr.Start()
	if err, _ := waitErr(t, tr); err != nil {
		t.Fatal(err)
	}
	side := checkpointBase(dir, 8) + ".json"
	b, _ := os.ReadFile(side)
	var st map[string]any
	json.Unmarshal(b, &st)
	st["weights"] = "../../../etc/passwd"
	os.WriteFile(side, mustJSON(t, st), 0o644)
	tr, err = ResumeTrainer(dir, ds, ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.step != 4 {
		t.Errorf("resumed at step %d, want the older good checkpoint 4", tr.step)
	}
	tr.Stop()
	if _, err := os.Stat(side + ".damaged"); err != nil {
		t.Errorf("damaged checkpoint not set aside: %v", err)
	}
	cfg.Model.Filters = 8
	os.WriteFile(filepath.Join(dir, "config.json"), mustJSON(t, cfg), 0o644)
	if _, err := ResumeTrainer(dir, ds, ResumeOptions{}); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("checkpoint for another network: %v", err)
	}
}

// TestDecodeRunConfigPreset: a config file that names only a preset gets that preset's
// network, not the default one relabelled.
func TestDecodeRunConfigPreset(t *testing.T) {
	c := DefaultRunConfig()
	if err := DecodeRunConfig([]byte(`{"model":{"preset":"tiny"}}`), &c); err != nil {
		t.Fatal(err)
	}
	if want, _ := nn.PresetConfig("tiny"); c.Model != want {
		t.Errorf("model %+v, want %+v", c.Model, want)
	}
	c = DefaultRunConfig()
	if err := DecodeRunConfig([]byte(`{"model":{"preset":"tiny","filters":8}}`), &c); err != nil || c.Model.Filters != 8 || c.Model.ImageSize != 14 {
		t.Errorf("preset with an override: %+v, %v", c.Model, err)
	}
}
