package core

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"mdsm/internal/safefile"
)

// MetricsTail reads a run's metrics.jsonl as it grows: each Read returns the complete lines
// appended since the last one. A file replaced by a resume (a new file, or a shorter one)
// is read again from the start and Read says so (restarted), for the steps then go back.
// It is what a follower of a run and a curve of another run in the workbench read with;
// one goroutine at a time.
type MetricsTail struct {
	path   string
	offset int64       // bytes read
	fi     os.FileInfo // the file read (a rewrite replaces it)
}

// NewMetricsTail reads the metrics of the run in dir.
func NewMetricsTail(dir string) *MetricsTail {
	return &MetricsTail{path: filepath.Join(dir, "metrics.jsonl")}
}

// Read returns the records of the complete lines appended since the last Read, how many
// lines were damaged (skipped), and whether the file was read again from the start. A
// missing file is no records and no error; a FIFO, a device or a file over the size of a
// metrics file is an error (checked reader), never a hang.
func (m *MetricsTail) Read() (recs []MetricRecord, damaged int, restarted bool, err error) {
	file, fi, err := safefile.Open(m.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, 0, false, nil
		}
		return nil, 0, false, fmt.Errorf("read %s: %w", m.path, err)
	}
	defer file.Close()
	if fi.Size() > maxMetricsBytes {
		return nil, 0, false, fmt.Errorf("%s is %d bytes, more than a metrics file (%d at most): not read", m.path, fi.Size(), maxMetricsBytes)
	}
	// A resume rewrites the file (a new file renamed over it) and may have appended to it
	// by the time we look: a new file, or a shorter one, is read from the start.
	if m.fi != nil && (!os.SameFile(fi, m.fi) || fi.Size() < m.offset) {
		m.offset, restarted = 0, true
	}
	m.fi = fi
	if _, err := file.Seek(m.offset, io.SeekStart); err != nil {
		return nil, 0, restarted, fmt.Errorf("read %s: %w", m.path, err)
	}
	// no more than the limit, even if the file grew since Stat
	b, err := io.ReadAll(io.LimitReader(file, maxMetricsBytes-m.offset))
	if err != nil {
		err = fmt.Errorf("read %s: %w", m.path, err)
	}
	end := bytes.LastIndexByte(b, '\n')
	if end < 0 {
		return nil, 0, restarted, err // no complete line yet
	}
	m.offset += int64(end + 1)
	recs, damaged = parseMetricsLenient(b[:end+1])
	return recs, damaged, restarted, err
}

// Path is the metrics file read.
func (m *MetricsTail) Path() string { return m.path }
