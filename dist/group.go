package dist

import (
	"fmt"
	"sync"
)

// NewGroup returns n Comms that talk through shared memory, one per goroutine: the ranks of
// a job inside one process. It runs the trainer's and the sampling commands' distributed
// code paths in unit tests without MPI; each Comm must be used by one goroutine.
func NewGroup(n int) []Comm {
	g := &group{n: n, bufs: make([]any, n)}
	g.cond = sync.NewCond(&g.mu)
	cs := make([]Comm, n)
	for r := range cs {
		cs[r] = &member{g: g, rank: r}
	}
	return cs
}

type group struct {
	n       int
	mu      sync.Mutex
	cond    *sync.Cond
	arrived int
	gen     int
	bufs    []any // what each rank deposited for the current collective
}

type member struct {
	g    *group
	rank int
}

// barrier returns once every rank has called it (a reusable generation barrier).
func (g *group) barrier() {
	g.mu.Lock()
	gen := g.gen
	g.arrived++
	if g.arrived == g.n {
		g.arrived = 0
		g.gen++
		g.cond.Broadcast()
	} else {
		for gen == g.gen {
			g.cond.Wait()
		}
	}
	g.mu.Unlock()
}

// exchange deposits mine, lets f read every rank's deposit, and returns when all have read.
func (m *member) exchange(mine any, f func(all []any) error) error {
	g := m.g
	g.mu.Lock()
	g.bufs[m.rank] = mine
	g.mu.Unlock()
	g.barrier()
	g.mu.Lock()
	all := append([]any(nil), g.bufs...)
	g.mu.Unlock()
	err := f(all)
	g.barrier()
	return err
}

func (m *member) Rank() int    { return m.rank }
func (m *member) Size() int    { return m.g.n }
func (m *member) Name() string { return fmt.Sprintf("in-process group, %d ranks", m.g.n) }
func (m *member) Close() error { return nil }

func (m *member) Alltoall(send, recv []float32) error {
	blk := len(send) / m.g.n
	return m.exchange(send, func(all []any) error {
		for q, a := range all {
			src := a.([]float32)
			copy(recv[q*blk:(q+1)*blk], src[m.rank*blk:(m.rank+1)*blk])
		}
		return nil
	})
}

func (m *member) AllgatherF32(send, recv []float32) error { return allgather(m, send, recv) }
func (m *member) AllgatherF64(send, recv []float64) error { return allgather(m, send, recv) }

func allgather[T any](m *member, send, recv []T) error {
	k := len(send)
	return m.exchange(send, func(all []any) error {
		for q, a := range all {
			copy(recv[q*k:(q+1)*k], a.([]T))
		}
		return nil
	})
}

func (m *member) GatherF32(send, recv []float32, counts []int) error {
	return gather(m, send, recv, counts)
}
func (m *member) GatherF64(send, recv []float64, counts []int) error {
	return gather(m, send, recv, counts)
}

func gather[T any](m *member, send, recv []T, counts []int) error {
	return m.exchange(send, func(all []any) error {
		if m.rank != 0 {
			return nil
		}
		off := 0
		for q, a := range all {
			src := a.([]T)
			if q >= len(counts) || len(src) != counts[q] {
				return fmt.Errorf("dist: rank %d sent %d values, counts say %d", q, len(src), counts[q])
			}
			copy(recv[off:off+len(src)], src)
			off += len(src)
		}
		return nil
	})
}

func (m *member) Bcast(buf []byte) error {
	return m.exchange(buf, func(all []any) error {
		if m.rank != 0 {
			copy(buf, all[0].([]byte))
		}
		return nil
	})
}
