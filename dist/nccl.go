package dist

import (
	"fmt"
	"os"
	"strconv"

	"mdsm/internal/nccl"
)

// OpenNCCL makes this rank's NCCL communicator for GPU buffers; the GPU backend calls it
// once it has made its device current (one GPU per rank, device LocalRank). Every rank of
// the job calls it. The communicator's unique id reaches the ranks without networking of
// our own:
//   - ranks started by mpirun or srun: rank 0 makes the id and host (MPI) broadcasts it;
//   - torchrun: NCCL's own bootstrap at the launcher's rendezvous host, port
//     MASTER_PORT+1 (NCCL_COMM_ID; a value the user set wins): every rank then computes
//     the same id and rank 0 listens there;
//   - one process: its own id.
//
// Not checked on a GPU in this project yet (no GPU session so far); the binding's calls
// are checked against a stand-in library in the tests.
func OpenNCCL(l Launch, host Comm) (*nccl.Comm, error) {
	if l.Launcher == LaunchTorchrun && l.Distributed() {
		if _, set := os.LookupEnv("NCCL_COMM_ID"); !set {
			if l.MasterAddr == "" || l.MasterPort == 0 {
				return nil, fmt.Errorf("NCCL under torchrun needs MASTER_ADDR and MASTER_PORT (or NCCL_COMM_ID=host:port)")
			}
			// before NCCL reads it: Setenv reaches the C environment (purego's runtime)
			os.Setenv("NCCL_COMM_ID", l.MasterAddr+":"+strconv.Itoa(l.MasterPort+1))
		}
	}
	lib, err := nccl.Load()
	if err != nil {
		return nil, err
	}
	var id nccl.UniqueID
	switch {
	case l.Launcher == LaunchTorchrun || !l.Distributed():
		if id, err = lib.GetUniqueID(); err != nil {
			return nil, err
		}
	default:
		if host == nil || host.Size() != l.Size {
			return nil, fmt.Errorf("NCCL for %s needs the job's MPI communicator to share its id", l)
		}
		if host.Rank() == 0 {
			id, err = lib.GetUniqueID()
		}
		if err := Agree(host, err); err != nil {
			return nil, err
		}
		if err := host.Bcast(id.Internal[:]); err != nil {
			return nil, fmt.Errorf("broadcasting the NCCL id: %w", err)
		}
	}
	c, err := lib.CommInitRank(l.Size, id, l.Rank)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l, err)
	}
	return c, nil
}
