package dist

import (
	"fmt"
	"os"
)

// Open joins the job this process was started in (Detect on the process environment):
// a single process gets Single() and loads nothing; ranks started by mpirun, an MPI
// mpiexec or srun get MPI_COMM_WORLD. torchrun starts no MPI, so host collectives cannot
// run under it: Open explains what to do instead.
func Open() (Comm, Launch, error) {
	l, err := Detect(os.Getenv)
	if err != nil {
		return nil, l, err
	}
	if !l.Distributed() {
		return Single(), l, nil
	}
	if l.Launcher == LaunchTorchrun {
		return nil, l, fmt.Errorf("started by torchrun as %s: CPU work is shared through MPI, which torchrun does not start; launch it with mpirun -np %d (or srun) instead; torchrun is for GPU runs, whose collectives go through NCCL",
			l, l.Size)
	}
	c, err := openMPI(l)
	if err != nil {
		return nil, l, fmt.Errorf("%s: %w", l, err)
	}
	if c.size != l.Size || c.rank != l.Rank {
		c.Close()
		hint := ""
		if l.Launcher == LaunchSlurm {
			hint = " (srun needs an MPI plugin Open MPI understands: try srun --mpi=pmix, see srun --mpi=list, or run mpirun inside the allocation)"
		}
		return nil, l, fmt.Errorf("%s says rank %d of %d, but MPI started rank %d of %d%s", l.Launcher, l.Rank, l.Size, c.rank, c.size, hint)
	}
	return c, l, nil
}

// LibraryAllreducer is implemented by Comms whose library has its own all-reduce (MPI):
// mdsm bench measures it beside the fixed-order reduction the trainer uses.
type LibraryAllreducer interface {
	AllreduceSum(send, recv []float32) error
}

// Aborter is implemented by Comms that can end the whole job at once (MPI_Abort).
type Aborter interface {
	Abort(code int)
}
