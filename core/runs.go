package core

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"mdsm/internal/safefile"
)

// RunSummary is one run directory as a list of runs shows it: what it trains, how far it
// got and whether a process trains it now, read from its files without reading them whole
// (config.json, the last line of metrics.jsonl, RUN/.lock and the control status).
type RunSummary struct {
	Dir  string // the run directory
	Name string // its base name
	// Config is the run's configuration (valid unless Damaged says config.json is not).
	Config RunConfig
	// State: Running or Paused (or Stopping) while a process trains it (PID), Finished
	// once its last step is logged, Idle before any step is, Stopped in between.
	State State
	PID   int
	// Damaged says why the run cannot be opened ("" when it can): config.json missing,
	// unreadable or invalid, or metrics.jsonl not a readable file.
	Damaged string
	// Step and Total: the newest logged step and the configured total.
	Step, Total int
	// NormLoss, Loss and ImagesPerSec are those of the newest logged step.
	NormLoss, Loss, ImagesPerSec float64
	WorldSize                    int
	// Updated is when the run last changed (its newest metrics line, else config.json).
	Updated time.Time
	// MetricsSize and MetricsMod identify the metrics file read: a curve of the run needs
	// reading again only when they change.
	MetricsSize int64
	MetricsMod  time.Time
}

// Training reports whether a process trains the run now.
func (s RunSummary) Training() bool { return s.PID > 0 }

// tailBytes is how much of the end of metrics.jsonl a scan reads first: a few lines.
const tailBytes = 4 << 10

// RunScanner lists the runs under a root folder, again and again (a list that refreshes
// itself): what has not changed since the last scan (config.json and metrics.jsonl of the
// same size and time) is not read again; whether a process trains a run is asked each
// time. One goroutine at a time; call Scan off the UI goroutine.
type RunScanner struct {
	Root  string
	cache map[string]scanned
}

type scanned struct {
	cfgMod, metMod time.Time
	metSize        int64
	sum            RunSummary
}

// NewRunScanner lists the runs under root.
func NewRunScanner(root string) *RunScanner {
	return &RunScanner{Root: root, cache: map[string]scanned{}}
}

// Scan lists the run directories directly under the root (a folder holding config.json,
// metrics.jsonl or checkpoints/), sorted by name. A root that does not exist is no runs and
// an error that says so; an unreadable run is listed as damaged.
func (sc *RunScanner) Scan() ([]RunSummary, error) {
	ents, err := os.ReadDir(sc.Root)
	if err != nil {
		return nil, fmt.Errorf("list runs in %s: %w", sc.Root, safefile.Describe(err))
	}
	seen := map[string]bool{}
	var out []RunSummary
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(sc.Root, e.Name())
		if !isRunDir(dir) {
			continue
		}
		seen[dir] = true
		out = append(out, sc.scanRun(dir))
	}
	for d := range sc.cache {
		if !seen[d] {
			delete(sc.cache, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// isRunDir reports whether dir looks like a run directory.
func isRunDir(dir string) bool {
	for _, n := range []string{"config.json", "metrics.jsonl", "checkpoints"} {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			return true
		}
	}
	return false
}

// ScanRun summarises one run directory.
func ScanRun(dir string) RunSummary { return NewRunScanner(filepath.Dir(dir)).scanRun(dir) }

func (sc *RunScanner) scanRun(dir string) RunSummary {
	var cfgMod, metMod time.Time
	var metSize int64
	if fi, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		cfgMod = fi.ModTime()
	}
	if fi, err := os.Stat(filepath.Join(dir, "metrics.jsonl")); err == nil {
		metMod, metSize = fi.ModTime(), fi.Size()
	}
	c, ok := sc.cache[dir]
	if !ok || !c.cfgMod.Equal(cfgMod) || !c.metMod.Equal(metMod) || c.metSize != metSize {
		c = scanned{cfgMod: cfgMod, metMod: metMod, metSize: metSize, sum: readRunSummary(dir)}
		sc.cache[dir] = c
	}
	s := c.sum
	s.State, s.PID = Idle, 0
	if s.Damaged != "" {
		s.State = Failed
		return s
	}
	if pid, ok := LockHolder(dir); ok {
		s.State, s.PID = Running, pid
		if st, err := ReadControlStatus(dir); err == nil && st.PID == pid {
			if v, ok := ParseState(st.State); ok && (v == Paused || v == Stopping) {
				s.State = v
			}
			if st.Total > 0 {
				s.Total = st.Total
			}
		}
		return s
	}
	switch {
	case s.Step >= s.Total && s.Step > 0:
		s.State = Finished
	case s.Step > 0:
		s.State = Stopped
	default:
		if steps, _ := checkpointSteps(dir); len(steps) > 0 {
			s.State = Stopped
		}
	}
	return s
}

// readRunSummary reads what a summary needs of a run's files.
func readRunSummary(dir string) RunSummary {
	s := RunSummary{Dir: dir, Name: filepath.Base(dir), WorldSize: 1}
	cfg, err := ReadRunConfig(dir)
	s.Config, s.Total = cfg, cfg.Steps
	if err != nil {
		s.Damaged = err.Error()
	}
	if fi, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		s.Updated = fi.ModTime()
	}
	path := filepath.Join(dir, "metrics.jsonl")
	rec, fi, err := lastMetric(path)
	switch {
	case err != nil && !errors.Is(err, os.ErrNotExist):
		if s.Damaged == "" {
			s.Damaged = err.Error()
		}
	case fi != nil:
		s.MetricsSize, s.MetricsMod = fi.Size(), fi.ModTime()
		s.Updated = fi.ModTime()
	}
	if rec != nil {
		s.Step, s.Loss, s.NormLoss, s.ImagesPerSec = rec.Step, rec.Loss, rec.NormLoss, rec.ImagesPerSec
		s.WorldSize = max(rec.WorldSize, 1)
	}
	return s
}

// lastMetric reads the newest complete record of a metrics file from its end (a few KiB,
// more only if the last lines are long or damaged).
func lastMetric(path string) (*MetricRecord, os.FileInfo, error) {
	f, fi, err := safefile.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	for n := int64(tailBytes); ; n *= 8 {
		start := max(0, fi.Size()-n)
		b := make([]byte, fi.Size()-start)
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return nil, fi, fmt.Errorf("read %s: %w", path, err)
		}
		if end := bytes.LastIndexByte(b, '\n'); end >= 0 {
			recs, _ := parseMetricsLenient(b[:end+1])
			if len(recs) > 0 {
				return &recs[len(recs)-1], fi, nil
			}
		}
		if start == 0 || n >= 1<<20 {
			return nil, fi, nil // only damaged lines (a resume drops them): no step yet
		}
	}
}
