package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"mdsm/data"
	"mdsm/internal/safefile"
	"mdsm/nn"
)

// Size limits of the run files a run directory reads: far above what mdsm writes (a
// config.json or a checkpoint sidecar is about 1 KiB; metrics.jsonl grows by about 150
// bytes per logged step), far below what would hurt to read by mistake.
const (
	maxConfigBytes  = 1 << 20
	maxStateBytes   = 1 << 20
	maxMetricsBytes = 1 << 30
)

// A run directory holds everything of one training run:
//
//	RUN/config.json         the RunConfig
//	RUN/metrics.jsonl       one MetricRecord per logged step, appended and flushed
//	RUN/checkpoints/step-NNNNNNNN.safetensors       weights (PyTorch-loadable)
//	RUN/checkpoints/step-NNNNNNNN.adam.safetensors  Adam moments m.NAME, v.NAME
//	RUN/checkpoints/step-NNNNNNNN.json              TrainState; written last, so its presence
//	                                                 marks a complete checkpoint
//	RUN/samples/step-NNNNNNNN.png                   periodic sample grids
//	RUN/.lock                                       held (flock) by the process training it

// MetricRecord is one line of metrics.jsonl.
type MetricRecord struct {
	Step         int     `json:"step"`
	Loss         float64 `json:"loss"`
	NormLoss     float64 `json:"norm_loss"`
	LR           float64 `json:"lr"`
	ImagesPerSec float64 `json:"images_per_s"`
	Elapsed      float64 `json:"elapsed_s"`
	Time         string  `json:"time"`
	// WorldSize is the number of ranks of a distributed run (absent for one process), and
	// RankImagesPerSec each rank's images per second of compute (waiting excluded).
	WorldSize        int       `json:"world_size,omitempty"`
	RankImagesPerSec []float64 `json:"rank_images_per_s,omitempty"`
	// Score, on the first line logged after a periodic grid was scored, is that grid's
	// score; Score.Step is the step of the grid's weights (earlier than Step).
	Score *SampleScore `json:"score,omitempty"`
	// SigmaLoss is the step's loss per noise-level bin, raw like Loss (SigmaBins of
	// len(SigmaLoss) bins; absent for one noise level or an engine that does not report
	// the images' losses).
	SigmaLoss []float64 `json:"sigma_loss,omitempty"`
}

// TrainState is the checkpoint sidecar: what, beyond the weights, a resumed run needs to
// continue exactly as if it had never stopped.
type TrainState struct {
	Format    string            `json:"format"`
	Step      int               `json:"step"` // steps completed
	Config    RunConfig         `json:"config"`
	AdamT     int               `json:"adam_t"`
	NoiseRNG  []byte            `json:"noise_rng"` // PCG state of the noise generator
	Batcher   data.BatcherState `json:"batcher"`
	Loss      float64           `json:"loss"`
	Elapsed   float64           `json:"elapsed_s"`
	Time      string            `json:"time"`
	Weights   string            `json:"weights"`
	Optimizer string            `json:"optimizer"`
	// LRScale multiplies the learning-rate schedule: halved by each NaN rollback
	// (RunConfig.NaNRollback); 0 in older checkpoints means 1.
	LRScale float64 `json:"lr_scale,omitempty"`
	// Rollbacks counts the NaN rollbacks of the run so far.
	Rollbacks int `json:"rollbacks,omitempty"`
	// Kept marks a checkpoint the user asked for: the keep-N rotation never deletes it.
	Kept bool `json:"kept,omitempty"`
	// SamplePending is the step of a periodic sample grid the stop interrupted (0: none):
	// the resumed run draws a grid first.
	SamplePending int `json:"sample_pending,omitempty"`
	// WorldSize is the number of ranks that trained the run when the checkpoint was
	// written (0 in older checkpoints means 1). A run resumes at any world size.
	WorldSize int `json:"world_size,omitempty"`
	// Device is the device that trained up to this checkpoint ("cpu", "cuda:0 (NVIDIA
	// H200, ...)"); the files themselves are device-independent.
	Device string `json:"device,omitempty"`
	// EMA is the file of the moving average of the weights (RunConfig.EMA), next to the
	// sidecar; empty when the run keeps none.
	EMA string `json:"ema,omitempty"`
}

const stateFormat = "mdsm-train-state-v1"

// RunDir is an open run directory, locked against a second trainer.
type RunDir struct {
	Path    string
	lock    *os.File
	metrics *os.File
}

// ErrLocked says another process is training in the run directory.
var ErrLocked = errors.New("run directory is in use by another mdsm process")

// CreateRunDir makes a new run directory and writes config.json. It refuses a directory
// that already holds a run (resume it instead).
func CreateRunDir(path string, cfg RunConfig) (*RunDir, error) {
	if _, err := os.Lstat(filepath.Join(path, "config.json")); err == nil {
		return nil, fmt.Errorf("run directory %s already holds a run: resume it with --resume %s, or choose another --run-dir", path, path)
	}
	for _, d := range []string{path, filepath.Join(path, "checkpoints"), filepath.Join(path, "samples")} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			return nil, newRunError(fmt.Errorf("create run directory: %w", safefile.Describe(err)), path)
		}
	}
	r, err := lockRunDir(path)
	if err != nil {
		return nil, newRunError(err, path)
	}
	// metrics.jsonl before config.json: a run directory that cannot take its metrics (a
	// link planted there) is refused without becoming a run that "already exists".
	if err := r.openMetrics(); err != nil {
		r.Close()
		return nil, newRunError(err, path)
	}
	if err := writeJSONAtomic(filepath.Join(path, "config.json"), cfg); err != nil {
		r.Close()
		return nil, newRunError(err, path)
	}
	return r, nil
}

// OpenRunDir locks an existing run directory for resuming and returns its config.
func OpenRunDir(path string) (*RunDir, RunConfig, error) {
	cfg, err := ReadRunConfig(path)
	if err != nil {
		return nil, cfg, err
	}
	for _, d := range []string{filepath.Join(path, "checkpoints"), filepath.Join(path, "samples")} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			return nil, cfg, storageError(fmt.Errorf("open run directory: %w", safefile.Describe(err)), path)
		}
	}
	r, err := lockRunDir(path)
	if err != nil {
		return nil, cfg, storageError(err, path)
	}
	return r, cfg, nil
}

// ReadRunConfig reads RUN/config.json without locking (for readers such as `mdsm watch`).
func ReadRunConfig(path string) (RunConfig, error) {
	c := DefaultRunConfig()
	b, err := safefile.ReadFile(filepath.Join(path, "config.json"), "run config", maxConfigBytes)
	if err != nil {
		return c, fmt.Errorf("%s is not a run directory (no readable config.json): %w", path, err)
	}
	if err := DecodeRunConfig(b, &c); err != nil {
		return c, fmt.Errorf("run config %s: %w", filepath.Join(path, "config.json"), err)
	}
	return c, nil
}

func lockRunDir(path string) (*RunDir, error) {
	f, err := safefile.OpenLock(filepath.Join(path, ".lock"))
	if err != nil {
		return nil, fmt.Errorf("lock run directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w (stop that process first, or use `mdsm watch %s` to follow it)", path, ErrLocked, path)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return &RunDir{Path: path, lock: f}, nil
}

// LockHolder returns the process that trains the run in dir: the PID its lock holder wrote
// into RUN/.lock, if that process is alive. A trainer clears the PID when it closes the run;
// one killed leaves it behind, but its process is gone. (Reading the PID, rather than
// trying the lock, never makes a trainer starting at that moment find the run locked.)
func LockHolder(dir string) (pid int, ok bool) {
	b, err := safefile.ReadFile(filepath.Join(dir, ".lock"), "run lock", 64)
	if err != nil {
		return 0, false
	}
	if _, err := fmt.Sscanf(string(b), "%d", &pid); err != nil || pid <= 0 {
		return 0, false
	}
	err = syscall.Kill(pid, 0)
	return pid, err == nil || errors.Is(err, syscall.EPERM)
}

func (r *RunDir) openMetrics() error {
	f, err := safefile.OpenAppend(filepath.Join(r.Path, "metrics.jsonl"))
	if err != nil {
		return fmt.Errorf("open metrics: %w", err)
	}
	r.metrics = f
	return nil
}

// Close releases the lock (clearing the PID in it, see LockHolder) and the metrics file.
// It does nothing on a nil RunDir (the ranks of a distributed run other than rank 0 have
// none).
func (r *RunDir) Close() error {
	if r == nil {
		return nil
	}
	if r.metrics != nil {
		r.metrics.Close()
		r.metrics = nil
	}
	if r.lock != nil {
		r.lock.Truncate(0)
		syscall.Flock(int(r.lock.Fd()), syscall.LOCK_UN)
		r.lock.Close()
		r.lock = nil
	}
	return nil
}

// AppendMetrics writes one record as a line of metrics.jsonl. A line is written with a
// single write call, so a crash leaves at most one partial last line, which readers skip.
func (r *RunDir) AppendMetrics(rec MetricRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	path := filepath.Join(r.Path, "metrics.jsonl")
	if r.metrics == nil {
		return fmt.Errorf("append %s: %w", path, os.ErrClosed)
	}
	var w io.Writer = r.metrics
	if wrapWrite != nil {
		w = wrapWrite(path, w)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return storageError(fmt.Errorf("append %s: %w", path, err), r.Path)
	}
	return nil
}

// TruncateMetrics rewrites metrics.jsonl without records after step (they belong to steps
// a resumed run will redo), without a partial last line and without damaged lines (a
// power cut can leave zeros in an unsynced file); it returns how many damaged lines it
// dropped.
func (r *RunDir) TruncateMetrics(step int) (damaged int, err error) {
	path := filepath.Join(r.Path, "metrics.jsonl")
	b, err := safefile.ReadFile(path, "metrics file", maxMetricsBytes)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("read metrics: %w", err)
	}
	recs, damaged := parseMetricsLenient(b)
	if r.metrics != nil {
		r.metrics.Close()
		r.metrics = nil
	}
	var keep bytes.Buffer
	for _, rec := range keepMetrics(recs, step) {
		line, _ := json.Marshal(rec)
		keep.Write(append(line, '\n'))
	}
	if !bytes.Equal(keep.Bytes(), b) { // a file that holds just these records stays untouched
		err = writeAtomic(path, func(w io.Writer) error { _, err := w.Write(keep.Bytes()); return err })
		if err != nil {
			return damaged, storageError(err, r.Path)
		}
	}
	return damaged, storageError(r.openMetrics(), r.Path)
}

// keepMetrics returns the records of steps up to step. A dropped record may carry the
// score of a grid drawn at or before step (a grid is scored while training goes on): that
// score moves to the last kept record, since the resumed run will not draw the grid again.
func keepMetrics(recs []MetricRecord, step int) []MetricRecord {
	var kept []MetricRecord
	var orphan *SampleScore
	for _, rec := range recs {
		switch {
		case rec.Step <= step:
			kept = append(kept, rec)
		case rec.Score != nil && rec.Score.Step <= step:
			orphan = rec.Score
		}
	}
	if orphan != nil && len(kept) > 0 && kept[len(kept)-1].Score == nil {
		kept[len(kept)-1].Score = orphan
	}
	return kept
}

// parseMetricsLenient keeps every parseable record and counts the lines it could not parse
// (a partial last line is not counted).
func parseMetricsLenient(b []byte) (recs []MetricRecord, damaged int) {
	lines := bytes.Split(b, []byte{'\n'})
	for i, line := range lines {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var rec MetricRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			if i < len(lines)-1 {
				damaged++
			}
			continue
		}
		recs = append(recs, rec)
	}
	return recs, damaged
}

// ReadMetrics reads every complete, parseable line of a metrics.jsonl file. A partial last
// line (a crash mid-write) is skipped; a damaged line in the middle is an error naming it.
func ReadMetrics(path string) ([]MetricRecord, error) {
	b, err := safefile.ReadFile(path, "metrics file", maxMetricsBytes)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return ParseMetrics(b, path)
}

// ParseMetrics parses metrics.jsonl content; name is used in errors.
func ParseMetrics(b []byte, name string) ([]MetricRecord, error) {
	var out []MetricRecord
	lines := bytes.Split(b, []byte{'\n'})
	for i, line := range lines {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var rec MetricRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			if i == len(lines)-1 { // no newline after it: an interrupted write
				break
			}
			return out, fmt.Errorf("%s line %d: %w", name, i+1, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

func writeJSONAtomic(path string, v any) error {
	return writeAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

func checkpointBase(dir string, step int) string {
	return filepath.Join(dir, "checkpoints", fmt.Sprintf("step-%08d", step))
}

// SaveCheckpoint writes weights, optimizer moments, the weight average when ema is not nil
// and the state sidecar (in that order, each atomically), then deletes checkpoints beyond
// the newest keep. A failed write leaves the earlier checkpoints as they were and removes
// what it wrote of this one.
func (r *RunDir) SaveCheckpoint(st TrainState, p *nn.Params[float32], opt *Adam, ema *nn.Params[float32], keep int) (path string, err error) {
	if err := p.CheckFinite(); err != nil {
		return "", fmt.Errorf("refusing to checkpoint non-finite weights at step %d: %w", st.Step, err)
	}
	if ema != nil {
		if err := ema.CheckFinite(); err != nil {
			return "", fmt.Errorf("refusing to checkpoint a non-finite weight average at step %d: %w", st.Step, err)
		}
	}
	base := checkpointBase(r.Path, st.Step)
	defer func() {
		if err == nil {
			return
		}
		// free the space of an incomplete checkpoint (one without its sidecar: a complete
		// one at the same step, written earlier, has the same weights and is kept).
		if _, serr := os.Stat(base + ".json"); errors.Is(serr, os.ErrNotExist) {
			removeCheckpointFiles(base)
		}
	}()
	// nn.SaveParams' format, written through the wrapWrite seam.
	cj, err := json.Marshal(p.Config)
	if err != nil {
		return "", err
	}
	meta := map[string]string{"step": fmt.Sprint(st.Step), "config": string(cj), "format": "mdsm-energy-v1"}
	err = writeAtomic(base+".safetensors", func(w io.Writer) error { return nn.WriteSafetensors(w, p.Names, p.T, meta) })
	if err != nil {
		return "", err
	}
	names := make([]string, 0, 2*len(p.Names))
	ts := map[string]*nn.Tensor[float32]{}
	for _, n := range p.Names {
		names = append(names, "m."+n, "v."+n)
		ts["m."+n], ts["v."+n] = opt.M.T[n], opt.V.T[n]
	}
	err = writeAtomic(base+".adam.safetensors", func(w io.Writer) error {
		return nn.WriteSafetensors(w, names, ts, map[string]string{"adam_t": fmt.Sprint(opt.T)})
	})
	if err != nil {
		return "", err
	}
	st.EMA = ""
	if ema != nil {
		// the average in the weights' own format, so that it loads as a checkpoint file too
		meta["ema"] = fmt.Sprint(st.Config.EMA)
		err = writeAtomic(base+".ema.safetensors", func(w io.Writer) error { return nn.WriteSafetensors(w, ema.Names, ema.T, meta) })
		if err != nil {
			return "", err
		}
		st.EMA = filepath.Base(base + ".ema.safetensors")
	}
	st.Format = stateFormat
	st.AdamT = opt.T
	st.Time = time.Now().UTC().Format(time.RFC3339)
	st.Weights, st.Optimizer = filepath.Base(base+".safetensors"), filepath.Base(base+".adam.safetensors")
	if err := writeJSONAtomic(base+".json", st); err != nil {
		return "", err
	}
	r.prune(keep)
	return base + ".safetensors", nil
}

// prune removes all but the newest keep complete checkpoints that are not kept ones
// (TrainState.Kept), and stray temp files.
func (r *RunDir) prune(keep int) {
	all, _ := checkpointSteps(r.Path)
	var steps []int
	for _, s := range all {
		if !isKept(checkpointBase(r.Path, s) + ".json") {
			steps = append(steps, s)
		}
	}
	for i := 0; i < len(steps)-keep; i++ {
		base := checkpointBase(r.Path, steps[i])
		os.Remove(base + ".json") // first: the checkpoint stops counting as complete
		removeCheckpointFiles(base)
	}
	tmps, _ := filepath.Glob(filepath.Join(r.Path, "checkpoints", ".*.tmp-*"))
	for _, t := range tmps {
		os.Remove(t)
	}
}

// removeCheckpointFiles removes the data files of the checkpoint at base (not its sidecar).
func removeCheckpointFiles(base string) {
	for _, ext := range []string{".safetensors", ".adam.safetensors", ".ema.safetensors"} {
		os.Remove(base + ext)
	}
}

// isKept reads whether a checkpoint's sidecar marks it kept; an unreadable one is not.
func isKept(statePath string) bool {
	b, err := safefile.ReadFile(statePath, "checkpoint state", maxStateBytes)
	if err != nil {
		return false
	}
	var st struct {
		Kept bool `json:"kept"`
	}
	return json.Unmarshal(b, &st) == nil && st.Kept
}

// KeepCheckpoint marks the complete checkpoint of step as kept (rewriting its sidecar), so
// the rotation leaves it; it returns the weights file.
func (r *RunDir) KeepCheckpoint(step int) (string, error) {
	base := checkpointBase(r.Path, step)
	b, err := safefile.ReadFile(base+".json", "checkpoint state", maxStateBytes)
	if err != nil {
		return "", fmt.Errorf("read checkpoint state: %w", err)
	}
	var st TrainState
	if err := json.Unmarshal(b, &st); err != nil {
		return "", fmt.Errorf("checkpoint state %s: %w", base+".json", err)
	}
	if err := CheckState(st, filepath.Base(base+".json")); err != nil { // rewritten, it must stay what it was
		return "", fmt.Errorf("checkpoint state %s is damaged: %w", base+".json", err)
	}
	st.Kept = true
	if err := writeJSONAtomic(base+".json", st); err != nil {
		return "", err
	}
	return base + ".safetensors", nil
}

// checkpointSteps lists the steps that have a state sidecar, ascending.
func checkpointSteps(dir string) ([]int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "checkpoints", "step-*.json"))
	if err != nil {
		return nil, err
	}
	var steps []int
	for _, f := range files {
		var s int
		if _, err := fmt.Sscanf(filepath.Base(f), "step-%08d.json", &s); err == nil {
			steps = append(steps, s)
		}
	}
	sort.Ints(steps)
	return steps, nil
}

// setAsideDamaged renames the sidecars of checkpoints newer than step (those skipped as
// damaged or non-finite in favour of the one at step) to step-N.json.damaged: counted as
// complete they would be loaded again, and make pruning delete the good ones.
func setAsideDamaged(dir string, step int) {
	steps, _ := checkpointSteps(dir)
	for _, s := range steps {
		if s > step {
			b := checkpointBase(dir, s) + ".json"
			os.Rename(b, b+".damaged")
		}
	}
}

// Checkpoint is a loaded checkpoint.
type Checkpoint struct {
	State  TrainState
	Params *nn.Params[float32]
	Adam   *Adam
	Path   string // the weights file
	// EMA is the moving average of the weights (RunConfig.EMA), nil when the run keeps
	// none; EMAPath its file.
	EMA     *nn.Params[float32]
	EMAPath string
}

// Sampling returns the weights a run is sampled with, the average when the checkpoint has
// one, and their file.
func (c *Checkpoint) Sampling() (*nn.Params[float32], string) {
	if c.EMA != nil {
		return c.EMA, c.EMAPath
	}
	return c.Params, c.Path
}

// LoadLatestCheckpoint loads the newest complete, readable checkpoint of a run. A damaged
// newer one is skipped (and reported in skipped) in favour of an older good one.
func LoadLatestCheckpoint(dir string) (ck *Checkpoint, skipped []error, err error) {
	steps, err := checkpointSteps(dir)
	if err != nil {
		return nil, nil, err
	}
	for i := len(steps) - 1; i >= 0; i-- {
		ck, err := LoadCheckpoint(checkpointBase(dir, steps[i]) + ".json")
		if err == nil {
			return ck, skipped, nil
		}
		skipped = append(skipped, err)
	}
	if len(skipped) > 0 {
		return nil, skipped, fmt.Errorf("no readable checkpoint in %s: %w", dir, errors.Join(skipped...))
	}
	return nil, nil, fmt.Errorf("no checkpoint in %s/checkpoints yet", dir)
}

// LoadCheckpoint loads a checkpoint from its state sidecar path (step-N.json). The sidecar
// is checked against its file name and itself (CheckState), the weights and moments
// against the sidecar, and every value must be finite: a checkpoint that fails any check
// is an error naming the file, which LoadLatestCheckpoint skips like a damaged one.
func LoadCheckpoint(statePath string) (*Checkpoint, error) {
	b, err := safefile.ReadFile(statePath, "checkpoint state", maxStateBytes)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint state: %w", err)
	}
	var st TrainState
	if err := json.Unmarshal(b, &st); err != nil || st.Format != stateFormat {
		return nil, fmt.Errorf("checkpoint state %s is damaged or not an mdsm checkpoint (%v)", statePath, err)
	}
	if err := CheckState(st, filepath.Base(statePath)); err != nil {
		return nil, fmt.Errorf("checkpoint state %s is damaged: %w", statePath, err)
	}
	dir := filepath.Dir(statePath)
	p, meta, err := nn.LoadParams(filepath.Join(dir, st.Weights))
	if err != nil {
		return nil, err
	}
	if meta["step"] != fmt.Sprint(st.Step) {
		return nil, fmt.Errorf("checkpoint %s: its weights %s are of step %q, not %d (files of two checkpoints mixed?)", statePath, st.Weights, meta["step"], st.Step)
	}
	if p.Config.InChannels != st.Config.Model.InChannels || p.Config.Filters != st.Config.Model.Filters ||
		p.Config.Stages != st.Config.Model.Stages || p.Config.ExtraBlocks != st.Config.Model.ExtraBlocks ||
		p.Config.ImageSize != st.Config.Model.ImageSize {
		return nil, fmt.Errorf("checkpoint %s: weights are for %+v but the run config says %+v", statePath, p.Config, st.Config.Model)
	}
	ts, ometa, err := nn.ReadSafetensors(filepath.Join(dir, st.Optimizer))
	if err != nil {
		return nil, err
	}
	if ometa["adam_t"] != fmt.Sprint(st.AdamT) {
		return nil, fmt.Errorf("checkpoint %s: optimizer state %s is of Adam step %q, not %d (files of two checkpoints mixed?)", statePath, st.Optimizer, ometa["adam_t"], st.AdamT)
	}
	opt := &Adam{Beta1: st.Config.Beta1, Beta2: st.Config.Beta2, Eps: 1e-8, T: st.AdamT}
	mt := map[string]*nn.Tensor[float32]{}
	vt := map[string]*nn.Tensor[float32]{}
	for _, n := range p.Names {
		m, v := ts["m."+n], ts["v."+n]
		if m == nil || v == nil || len(m.Data) != len(p.T[n].Data) || len(v.Data) != len(p.T[n].Data) {
			return nil, fmt.Errorf("optimizer state %s: moments of %s missing or misshapen", filepath.Join(dir, st.Optimizer), n)
		}
		for i := range m.Data {
			if !finite32(m.Data[i]) || !finite32(v.Data[i]) || v.Data[i] < 0 {
				return nil, fmt.Errorf("optimizer state %s: moments of %s are not finite (or negative second moments) at index %d: the checkpoint is unusable", filepath.Join(dir, st.Optimizer), n, i)
			}
		}
		mt[n], vt[n] = m, v
	}
	// copied into place (ParamsFromTensors): the tensors share Params.Flat, which engines upload
	if opt.M, err = nn.ParamsFromTensors(p.Config, mt); err != nil {
		return nil, fmt.Errorf("optimizer state %s: %w", filepath.Join(dir, st.Optimizer), err)
	}
	if opt.V, err = nn.ParamsFromTensors(p.Config, vt); err != nil {
		return nil, fmt.Errorf("optimizer state %s: %w", filepath.Join(dir, st.Optimizer), err)
	}
	ck := &Checkpoint{State: st, Params: p, Adam: opt, Path: filepath.Join(dir, st.Weights)}
	if st.EMA != "" {
		ck.EMAPath = filepath.Join(dir, st.EMA)
		e, emeta, err := nn.LoadParams(ck.EMAPath)
		if err != nil {
			return nil, err
		}
		if emeta["step"] != fmt.Sprint(st.Step) {
			return nil, fmt.Errorf("checkpoint %s: its weight average %s is of step %q, not %d (files of two checkpoints mixed?)", statePath, st.EMA, emeta["step"], st.Step)
		}
		if e.Config.InChannels != p.Config.InChannels || e.Config.Filters != p.Config.Filters || e.Config.Stages != p.Config.Stages ||
			e.Config.ExtraBlocks != p.Config.ExtraBlocks || e.Config.ImageSize != p.Config.ImageSize {
			return nil, fmt.Errorf("checkpoint %s: its weight average %s is for %+v, the weights for %+v", statePath, st.EMA, e.Config, p.Config)
		}
		if err := e.CheckFinite(); err != nil {
			return nil, fmt.Errorf("checkpoint %s: weight average %s: %w: the checkpoint is unusable", statePath, st.EMA, err)
		}
		ck.EMA = e
	}
	return ck, nil
}

func finite32(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// CheckState checks a checkpoint sidecar against the name of its file (name "step-N.json"
// must hold step N; another name is accepted for a sidecar copied elsewhere) and its fields
// against each other: the weight and optimizer files it names are those of its step, next
// to it; the Adam step equals the training step; the learning-rate scale is that of its
// rollback count; counts and times are finite and not negative; the generator states decode;
// the run config is valid.
func CheckState(st TrainState, name string) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	var fileStep int
	if _, err := fmt.Sscanf(name, "step-%d.json", &fileStep); err == nil && strings.HasPrefix(name, "step-") && strings.HasSuffix(name, ".json") {
		if fileStep != st.Step {
			bad("file name %s says step %d but the state says step %d", name, fileStep, st.Step)
		}
	}
	if st.Step < 0 {
		bad("step %d is negative", st.Step)
	}
	base := fmt.Sprintf("step-%08d", st.Step)
	if st.Weights != base+".safetensors" {
		bad("weights file %q is not %s.safetensors, the weights of step %d", st.Weights, base, st.Step)
	}
	if st.Optimizer != base+".adam.safetensors" {
		bad("optimizer file %q is not %s.adam.safetensors, the optimizer state of step %d", st.Optimizer, base, st.Step)
	}
	if st.EMA != "" && st.EMA != base+".ema.safetensors" {
		bad("weight average file %q is not %s.ema.safetensors, the average of step %d", st.EMA, base, st.Step)
	}
	if st.AdamT != st.Step {
		bad("Adam step %d differs from the training step %d", st.AdamT, st.Step)
	}
	if st.Rollbacks < 0 || st.Rollbacks > MaxNaNRollbacks {
		bad("rollbacks = %d: must be in 0..%d", st.Rollbacks, MaxNaNRollbacks)
	} else if want := math.Ldexp(1, -st.Rollbacks); !(st.LRScale == want || (st.LRScale == 0 && st.Rollbacks == 0)) {
		bad("lr_scale = %v after %d rollbacks: must be %v (halved by each)", st.LRScale, st.Rollbacks, want)
	}
	if st.WorldSize < 0 {
		bad("world_size = %d is negative", st.WorldSize)
	}
	if st.SamplePending < 0 {
		bad("sample_pending = %d is negative", st.SamplePending)
	}
	if math.IsNaN(st.Elapsed) || math.IsInf(st.Elapsed, 0) || st.Elapsed < 0 {
		bad("elapsed_s = %v: must be finite and >= 0", st.Elapsed)
	}
	if math.IsNaN(st.Loss) || math.IsInf(st.Loss, 0) {
		bad("loss = %v: must be finite", st.Loss)
	}
	if err := new(rand.PCG).UnmarshalBinary(st.NoiseRNG); err != nil {
		bad("noise generator state: %v", err)
	}
	if err := new(rand.PCG).UnmarshalBinary(st.Batcher.RNG); err != nil {
		bad("batcher generator state: %v", err)
	}
	if st.Batcher.N < 1 || st.Batcher.Pos < 0 || st.Batcher.Pos > st.Batcher.N || st.Batcher.Epoch < 0 {
		bad("batcher position epoch %d, image %d of %d is impossible", st.Batcher.Epoch, st.Batcher.Pos, st.Batcher.N)
	}
	if err := st.Config.Validate(); err != nil {
		bad("run config: %v", err)
	}
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// LoadWeights loads just the weights from a run directory (its newest checkpoint) or from a
// .safetensors file: what sampling commands accept as RUN_DIR|CHECKPOINT. A run or sidecar
// whose checkpoint keeps a weight average (RunConfig.EMA) gives the average.
func LoadWeights(path string) (*nn.Params[float32], string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("load weights: %w", safefile.Describe(err))
	}
	if st.IsDir() {
		ck, _, err := LoadLatestCheckpoint(path)
		if err != nil {
			return nil, "", err
		}
		p, wpath := ck.Sampling()
		return p, wpath, nil
	}
	if strings.HasSuffix(path, ".json") {
		ck, err := LoadCheckpoint(path)
		if err != nil {
			return nil, "", err
		}
		p, wpath := ck.Sampling()
		return p, wpath, nil
	}
	p, _, err := nn.LoadParams(path)
	return p, path, err
}
