// Package dist lets several mdsm processes work as one: it reads where a process stands in
// a job from the launcher that started it (mpirun, srun, torchrun; see Detect), and gives
// the collectives the trainer and the sharded sampling commands need (Comm), backed by the
// system's MPI library loaded at run time (no cgo), by nothing at all for a single process,
// or by shared memory between goroutines for tests (NewGroup). It also opens NCCL
// communicators for GPU buffers (OpenNCCL).
//
// Every collective must be called by every rank, in the same order, with buffers of the
// agreed sizes: the callers derive both from state all ranks share (the step, the batch
// layout), never from local conditions.
package dist

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Comm is the group of processes of one job and the collectives between them. The
// receive buffers of a collective must not overlap its send buffers.
type Comm interface {
	// Rank is this process's number, 0..Size()-1; rank 0 writes the results.
	Rank() int
	// Size is the number of processes.
	Size() int
	// Alltoall sends block q of send (len(send)/Size() values) to rank q and receives
	// rank q's block for this rank into block q of recv.
	Alltoall(send, recv []float32) error
	// AllgatherF32 gathers len(send) values from every rank into recv (Size()*len(send)
	// values, in rank order) on every rank.
	AllgatherF32(send, recv []float32) error
	// AllgatherF64 is AllgatherF32 for float64.
	AllgatherF64(send, recv []float64) error
	// GatherF32 collects send from every rank into recv on rank 0, in rank order; counts[q]
	// is the length of rank q's send. counts and recv are read on rank 0 only (the other
	// ranks may pass nil).
	GatherF32(send, recv []float32, counts []int) error
	// GatherF64 is GatherF32 for float64.
	GatherF64(send, recv []float64, counts []int) error
	// Bcast copies rank 0's buf into every other rank's buf (the same length everywhere).
	Bcast(buf []byte) error
	// Close ends the group (MPI_Finalize); no collective may follow.
	Close() error
	// Name describes the transport, e.g. "Open MPI v4.1.4, 2 ranks".
	Name() string
}

// Single is the group of one process: collectives are copies and no library is loaded.
func Single() Comm { return single{} }

type single struct{}

func (single) Rank() int    { return 0 }
func (single) Size() int    { return 1 }
func (single) Name() string { return "single process" }
func (single) Close() error { return nil }
func (single) Bcast([]byte) error {
	return nil
}
func (single) Alltoall(send, recv []float32) error     { return copyChecked(recv, send) }
func (single) AllgatherF32(send, recv []float32) error { return copyChecked(recv, send) }
func (single) AllgatherF64(send, recv []float64) error { return copyChecked(recv, send) }
func (single) GatherF32(send, recv []float32, counts []int) error {
	return copyChecked(recv, send)
}
func (single) GatherF64(send, recv []float64, counts []int) error {
	return copyChecked(recv, send)
}

func copyChecked[T any](dst, src []T) error {
	if len(dst) < len(src) {
		return fmt.Errorf("dist: receive buffer of %d values for %d", len(dst), len(src))
	}
	copy(dst, src)
	return nil
}

// Span is rank's contiguous share [lo, hi) of n pieces split over size ranks as evenly as
// possible (the first n mod size ranks get one more).
func Span(n, rank, size int) (lo, hi int) {
	q, r := n/size, n%size
	lo = rank*q + min(rank, r)
	hi = lo + q
	if rank < r {
		hi++
	}
	return lo, hi
}

// PeerError says that other ranks failed: each prints its own error, this one stops too.
type PeerError struct{ Ranks []int }

func (e *PeerError) Error() string {
	return fmt.Sprintf("rank(s) %v failed (see their messages); stopping with them", e.Ranks)
}

// ErrPeer matches any PeerError with errors.Is.
var ErrPeer = errors.New("another rank failed")

// Is makes errors.Is(err, ErrPeer) true.
func (e *PeerError) Is(target error) bool { return target == ErrPeer }

// Agree is a collective that makes every rank learn whether any rank failed: it returns
// err on a rank that failed, a PeerError on the others when some rank failed, nil when no
// rank did. Call it after every step that can fail on one rank alone (loading data,
// creating the run directory), so that no rank waits forever in a collective the failed
// one never reaches.
func Agree(c Comm, err error) error {
	if c.Size() == 1 {
		return err
	}
	mine := []float64{0}
	if err != nil {
		mine[0] = 1
	}
	all := make([]float64, c.Size())
	if cerr := c.AllgatherF64(mine, all); cerr != nil {
		return errors.Join(err, cerr)
	}
	if err != nil {
		return err
	}
	var failed []int
	for q, v := range all {
		if v != 0 {
			failed = append(failed, q)
		}
	}
	if len(failed) > 0 {
		return &PeerError{Ranks: failed}
	}
	return nil
}

// BcastBytes sends rank 0's b to every rank, whatever its length, and returns it.
func BcastBytes(c Comm, b []byte) ([]byte, error) {
	if c.Size() == 1 {
		return b, nil
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
	if err := c.Bcast(n[:]); err != nil {
		return nil, err
	}
	size := binary.LittleEndian.Uint64(n[:])
	if size > math.MaxInt32 {
		return nil, fmt.Errorf("dist: broadcast of %d bytes is too large", size)
	}
	if c.Rank() != 0 {
		b = make([]byte, size)
	}
	if err := c.Bcast(b); err != nil {
		return nil, err
	}
	return b, nil
}

// BcastJSON sets v on every rank to rank 0's v, or, if rank 0 passes an error, returns
// that error's message on every rank (wrapped in a PeerError on the others). It is how
// rank 0 hands what only it can read (a run's config and checkpoint state) to the rest.
func BcastJSON(c Comm, v any, err error) error {
	if c.Size() == 1 {
		return err
	}
	type envelope struct {
		Err   string          `json:"err,omitempty"`
		Value json.RawMessage `json:"value,omitempty"`
	}
	var b []byte
	if c.Rank() == 0 {
		env := envelope{}
		if err != nil {
			env.Err = err.Error()
		} else if raw, merr := json.Marshal(v); merr != nil {
			env.Err, err = merr.Error(), merr
		} else {
			env.Value = raw
		}
		b, _ = json.Marshal(env)
	}
	b, cerr := BcastBytes(c, b)
	if cerr != nil {
		return cerr
	}
	if c.Rank() == 0 {
		return err
	}
	var env envelope
	if jerr := json.Unmarshal(b, &env); jerr != nil {
		return fmt.Errorf("dist: broadcast from rank 0 is damaged: %w", jerr)
	}
	if env.Err != "" {
		return fmt.Errorf("%w: rank 0: %s", &PeerError{Ranks: []int{0}}, env.Err)
	}
	return json.Unmarshal(env.Value, v)
}
