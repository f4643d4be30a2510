package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"mdsm/core"
	"mdsm/dist"
	"mdsm/internal/gemm"
)

// job is the group of processes this one belongs to: set by joinJob in the commands that
// run distributed (train, sample, nll, energy, denoise); a single process otherwise.
var job = struct {
	comm   dist.Comm
	launch dist.Launch
}{comm: dist.Single(), launch: dist.Launch{Launcher: dist.LaunchSingle, Size: 1, LocalSize: 1}}

// joinJob joins the job a launcher started this process in (mpirun, srun; a single
// process when none did) and sets the compute threads: threads if the user gave them,
// else this rank's share of the node (dist.DefaultThreads).
func joinJob(threads int) (dist.Comm, error) {
	comm, l, err := dist.Open()
	if err != nil {
		return nil, err
	}
	job.comm, job.launch = comm, l
	if threads == 0 && l.Distributed() {
		threads = dist.DefaultThreads(l)
	}
	gemm.SetThreads(threads)
	return comm, nil
}

// leaveJob ends the job's collectives (MPI_Finalize) after a command. After an error
// the other ranks may be stuck or gone, so it waits at most a few seconds.
func leaveJob(failed bool) {
	if job.comm.Size() == 1 {
		return
	}
	done := make(chan struct{})
	go func() { job.comm.Close(); close(done) }()
	wait := time.Minute
	if failed {
		wait = 3 * time.Second
	}
	select {
	case <-done:
	case <-time.After(wait):
	}
}

// refuseJob is for commands that do not run distributed: under a launcher with more than
// one rank they stop with a message instead of running N copies.
func refuseJob(name string) error {
	l, err := dist.Detect(os.Getenv)
	if err != nil || !l.Distributed() {
		return nil
	}
	return fmt.Errorf("mdsm %s does not run distributed (started as %s): run it as one process, without mpirun/srun/torchrun", name, l)
}

// openCommandDevice opens --device for a model command. In a distributed job each rank
// takes its own GPU: cuda (and auto, when GPUs are there) means GPU LocalRank of the node.
func openCommandDevice(spec string, tf32 bool) (core.Device, string, error) {
	kind, _, err := core.ParseDevice(spec)
	numbered := strings.Contains(spec, ":") // cuda:N: the user chose
	if err != nil || !job.launch.Distributed() || numbered || (kind != "auto" && kind != "cuda") {
		return core.OpenDevice(spec, tf32)
	}
	d, note, err := core.OpenDevice(fmt.Sprintf("cuda:%d", job.launch.LocalRank), tf32)
	if err != nil && kind == "auto" {
		return core.OpenDevice("cpu", tf32)
	}
	return d, note, err
}

// leader reports whether this process prints and writes results (rank 0).
func leader() bool { return job.comm.Rank() == 0 }

// errorPrefix names the process in error messages of a distributed run.
func errorPrefix() string {
	if job.comm.Size() == 1 {
		return "mdsm"
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("mdsm (rank %d of %d on %s)", job.comm.Rank(), job.comm.Size(), host)
}

// quietPeerError reports whether err only says that another rank failed (that rank
// prints the cause): the other ranks then exit without adding a message each.
func quietPeerError(err error) bool {
	return errors.Is(err, dist.ErrPeer) && job.comm.Rank() != 0
}
