package dist

import (
	"fmt"
	"os"

	"mdsm/internal/mpi"
	"mdsm/internal/osthread"
)

// mpiComm is MPI_COMM_WORLD. MPI is initialised for one thread (MPI_THREAD_FUNNELED) and
// a goroutine wanders between OS threads, so every MPI call runs on the thread that
// initialised it (osthread); the methods hand it closures and wait.
type mpiComm struct {
	lib        *mpi.Lib
	rank, size int
	thread     *osthread.Thread
	name       string
}

// openMPI loads the MPI library and initialises it on a dedicated thread.
func openMPI(l Launch) (*mpiComm, error) {
	lib, err := mpi.Load()
	if err != nil {
		return nil, err
	}
	// Open MPI catches SIGSEGV, SIGBUS, SIGFPE and SIGABRT to print its own stack trace;
	// its handlers would replace the Go runtime's, which turns a nil dereference into a
	// recoverable panic. An empty list keeps the Go handlers (a user's setting wins).
	if _, set := os.LookupEnv("OMPI_MCA_opal_signal"); !set {
		os.Setenv("OMPI_MCA_opal_signal", "")
	}
	c := &mpiComm{lib: lib}
	c.thread, err = osthread.Start(func() (err error) {
		c.rank, c.size, err = lib.Init()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("MPI (%s): %w", lib.Path, err)
	}
	c.name = fmt.Sprintf("%s, %d ranks", lib.Version(), c.size)
	return c, nil
}

// do runs f on the MPI thread and returns its error.
func (c *mpiComm) do(f func() error) error { return c.thread.Do(f) }

func (c *mpiComm) Rank() int    { return c.rank }
func (c *mpiComm) Size() int    { return c.size }
func (c *mpiComm) Name() string { return c.name }

func (c *mpiComm) Close() error {
	err := c.do(c.lib.Finalize)
	c.thread.Stop()
	return err
}

func (c *mpiComm) Bcast(buf []byte) error {
	return c.do(func() error { return c.lib.BcastBytes(buf, 0) })
}

func (c *mpiComm) Alltoall(send, recv []float32) error {
	if len(send)%c.size != 0 || len(recv) < len(send) {
		return fmt.Errorf("dist: alltoall of %d values over %d ranks into %d", len(send), c.size, len(recv))
	}
	return c.do(func() error { return c.lib.AlltoallFloat32(send, recv, c.size) })
}

func (c *mpiComm) AllgatherF32(send, recv []float32) error {
	if len(recv) < len(send)*c.size || len(send) == 0 {
		return fmt.Errorf("dist: allgather of %d values into %d", len(send), len(recv))
	}
	return c.do(func() error { return c.lib.AllgatherFloat32(send, recv) })
}

func (c *mpiComm) AllgatherF64(send, recv []float64) error {
	if len(recv) < len(send)*c.size || len(send) == 0 {
		return fmt.Errorf("dist: allgather of %d values into %d", len(send), len(recv))
	}
	return c.do(func() error { return c.lib.AllgatherFloat64(send, recv) })
}

// gatherLayout turns counts into MPI's int32 counts and displacements on rank 0 (checking
// that its recv holds them all); the other ranks send without a layout.
func (c *mpiComm) gatherLayout(nsend, nrecv int, counts []int) ([]int32, []int32, error) {
	cs, ds := make([]int32, c.size), make([]int32, c.size)
	if c.rank != 0 {
		return cs, ds, nil
	}
	if len(counts) != c.size {
		return nil, nil, fmt.Errorf("dist: gather with %d counts for %d ranks", len(counts), c.size)
	}
	if nsend != counts[0] {
		return nil, nil, fmt.Errorf("dist: rank 0 gathers %d values, counts say %d", nsend, counts[0])
	}
	off := 0
	for q, n := range counts {
		cs[q], ds[q] = int32(n), int32(off)
		off += n
	}
	if nrecv < off {
		return nil, nil, fmt.Errorf("dist: gather of %d values into %d", off, nrecv)
	}
	return cs, ds, nil
}

func (c *mpiComm) GatherF32(send, recv []float32, counts []int) error {
	cs, ds, err := c.gatherLayout(len(send), len(recv), counts)
	if err != nil {
		return err
	}
	return c.do(func() error { return c.lib.GathervFloat32(send, recv, cs, ds, 0) })
}

func (c *mpiComm) GatherF64(send, recv []float64, counts []int) error {
	cs, ds, err := c.gatherLayout(len(send), len(recv), counts)
	if err != nil {
		return err
	}
	return c.do(func() error { return c.lib.GathervFloat64(send, recv, cs, ds, 0) })
}

// AllreduceSum sums send over the ranks into recv with the library's own algorithm,
// whose order of additions is the library's: for measuring the library, not for results
// that must be reproducible (the trainer uses Alltoall and a fixed order instead).
func (c *mpiComm) AllreduceSum(send, recv []float32) error {
	return c.do(func() error { return c.lib.AllreduceSumFloat32(send, recv) })
}

// Abort ends every process of the job through the launcher (MPI_Abort).
func (c *mpiComm) Abort(code int) {
	c.do(func() error { c.lib.Abort(code); return nil })
}
