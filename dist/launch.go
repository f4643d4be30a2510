package dist

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// The launchers Detect recognises.
const (
	LaunchSingle   = "single"   // no launcher: one process
	LaunchOpenMPI  = "mpirun"   // Open MPI's mpirun/mpiexec (OMPI_COMM_WORLD_*)
	LaunchPMI      = "pmi"      // an MPICH-family mpiexec (PMI_RANK, PMI_SIZE)
	LaunchSlurm    = "srun"     // a Slurm job step (SLURM_PROCID, SLURM_STEP_NUM_TASKS)
	LaunchTorchrun = "torchrun" // torchrun / torch.distributed.run (RANK, WORLD_SIZE, ...)
)

// Launch is where this process stands in a job, as the launcher that started it says:
// one process per rank, Size ranks in all, LocalSize of them on this node.
type Launch struct {
	Launcher  string // one of the Launch* constants
	Rank      int
	Size      int
	LocalRank int
	LocalSize int
	// MasterAddr and MasterPort are torchrun's rendezvous address (empty otherwise).
	MasterAddr string
	MasterPort int
}

// Distributed reports whether the job has more than one rank.
func (l Launch) Distributed() bool { return l.Size > 1 }

// String is a short description for logs: "rank 1 of 4 (mpirun, local 1 of 2)".
func (l Launch) String() string {
	if !l.Distributed() {
		return "single process"
	}
	return fmt.Sprintf("rank %d of %d (%s, local %d of %d)", l.Rank, l.Size, l.Launcher, l.LocalRank, l.LocalSize)
}

// Detect reads rank, world size and local rank from the environment a launcher sets,
// getenv being os.Getenv or a test's map. Launchers are tried in order: Open MPI's mpirun
// (also when it runs inside a Slurm allocation), torchrun (also when srun starts one
// torchrun per node), an MPICH-family mpiexec (PMI), and a Slurm job step. With none of
// them the process is a single process (world size 1). Inconsistent values (a rank outside
// the world) are an error naming the variable.
//
// Slurm sets SLURM_PROCID and SLURM_NTASKS in the batch script itself too, where only one
// process runs; a job step (srun) is recognised by SLURM_STEP_NUM_TASKS.
func Detect(getenv func(string) string) (Launch, error) {
	type source struct {
		launcher                      string
		rank, size, localRank, localN string
		when                          func() bool
	}
	has := func(k string) bool { return getenv(k) != "" }
	sources := []source{
		{LaunchOpenMPI, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE",
			func() bool { return has("OMPI_COMM_WORLD_SIZE") }},
		{LaunchTorchrun, "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
			func() bool { return has("WORLD_SIZE") && has("RANK") }},
		{LaunchPMI, "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS",
			func() bool { return has("PMI_SIZE") && has("PMI_RANK") }},
		{LaunchSlurm, "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", "",
			func() bool { return has("SLURM_STEP_NUM_TASKS") && has("SLURM_PROCID") }},
	}
	for _, s := range sources {
		if !s.when() {
			continue
		}
		l := Launch{Launcher: s.launcher}
		var err error
		num := func(name string, def int) int {
			v := strings.TrimSpace(getenv(name))
			if name == "" || v == "" {
				return def
			}
			n, e := strconv.Atoi(v)
			if e != nil && err == nil {
				err = fmt.Errorf("launcher environment: %s=%q is not a number", name, v)
			}
			return n
		}
		l.Size = num(s.size, 1)
		l.Rank = num(s.rank, 0)
		l.LocalRank = num(s.localRank, 0)
		l.LocalSize = num(s.localN, 0)
		if s.launcher == LaunchSlurm {
			l.LocalSize = slurmLocalTasks(getenv("SLURM_STEP_TASKS_PER_NODE"), num("SLURM_NODEID", 0))
		}
		if s.launcher == LaunchTorchrun {
			l.MasterAddr = getenv("MASTER_ADDR")
			l.MasterPort = num("MASTER_PORT", 0)
		}
		if err != nil {
			return Launch{}, err
		}
		switch {
		case l.Size < 1:
			return Launch{}, fmt.Errorf("launcher environment (%s): %s=%d, the world size must be at least 1", s.launcher, s.size, l.Size)
		case l.Rank < 0 || l.Rank >= l.Size:
			return Launch{}, fmt.Errorf("launcher environment (%s): %s=%d is outside the world of %s=%d", s.launcher, s.rank, l.Rank, s.size, l.Size)
		}
		if l.LocalSize < 1 || l.LocalRank < 0 || l.LocalRank >= l.LocalSize {
			// unknown or inconsistent local layout: assume one rank on this node
			l.LocalRank, l.LocalSize = 0, 1
		}
		return l, nil
	}
	return Launch{Launcher: LaunchSingle, Size: 1, LocalSize: 1}, nil
}

// slurmLocalTasks reads this node's task count from SLURM_STEP_TASKS_PER_NODE, whose
// form is "2(x3),1": 2 tasks on each of the first 3 nodes, then 1. 0 when unreadable.
func slurmLocalTasks(spec string, node int) int {
	for _, part := range strings.Split(spec, ",") {
		tasks, rep := part, 1
		if i := strings.Index(part, "(x"); i >= 0 && strings.HasSuffix(part, ")") {
			tasks = part[:i]
			r, err := strconv.Atoi(part[i+2 : len(part)-1])
			if err != nil {
				return 0
			}
			rep = r
		}
		t, err := strconv.Atoi(tasks)
		if err != nil {
			return 0
		}
		if node < rep {
			return t
		}
		node -= rep
	}
	return 0
}

// DefaultThreads is the compute threads a rank should use when the user did not say:
// every CPU the process may run on, shared with the other ranks of this node unless the
// launcher already bound each rank to its own CPUs (as mpirun does for up to 2 ranks, and
// srun with --cpu-bind).
func DefaultThreads(l Launch) int {
	usable := runtime.NumCPU() // the affinity mask of this process
	if l.LocalSize <= 1 || usable < onlineCPUs() {
		return usable
	}
	return max(1, usable/l.LocalSize)
}

// onlineCPUs counts the machine's online CPUs (/sys/devices/system/cpu/online, a list
// such as "0-3,8-11"); 0 when unknown.
func onlineCPUs() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return 0
	}
	n := 0
	for _, r := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, found := strings.Cut(r, "-")
		a, err1 := strconv.Atoi(lo)
		z := a
		var err2 error
		if found {
			z, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || z < a {
			return 0
		}
		n += z - a + 1
	}
	return n
}
