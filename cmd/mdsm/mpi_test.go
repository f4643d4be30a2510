package main

// Distributed mdsm under the real launcher: mpirun -np 2 --oversubscribe on localhost starts
// the real binary (the test binary acting as mdsm, or $MDSM_MPI_BINARY, which CI builds
// with CGO_ENABLED=0), and the results are compared with one process's.

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mdsm/core"
)

// mpirunOrSkip returns the mpirun path, skipping the test when Open MPI is not installed
// (failing instead when MDSM_REQUIRE_MPI_TESTS=1, as in CI).
func mpirunOrSkip(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts mdsm under mpirun")
	}
	p, err := exec.LookPath("mpirun")
	if err != nil {
		msg := "mpirun not found: install Open MPI (Debian/Ubuntu: apt install openmpi-bin) to run the distributed tests"
		if os.Getenv("MDSM_REQUIRE_MPI_TESTS") == "1" {
			t.Fatal(msg + " (MDSM_REQUIRE_MPI_TESTS=1)")
		}
		t.Skip(msg)
	}
	return p
}

// mdsmBinary is the program mpirun starts: $MDSM_MPI_BINARY, else this test binary.
func mdsmBinary(t *testing.T) string {
	if b := os.Getenv("MDSM_MPI_BINARY"); b != "" {
		return b
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// mpiCommand is mpirun starting one mdsm per element of ranks, rank r in directory
// ranks[r] (MPMD: "-np 1 -wdir DIR mdsm ARGS : -np 1 ..."), so that each rank's relative
// paths land in its own directory.
func mpiCommand(t *testing.T, ranks []string, args ...string) *exec.Cmd {
	t.Helper()
	mpirun := mpirunOrSkip(t)
	bin := mdsmBinary(t)
	var a []string
	a = append(a, "--oversubscribe", "-x", "MDSM_TEST_AS_MAIN=1")
	for r, dir := range ranks {
		if r > 0 {
			a = append(a, ":")
		}
		a = append(a, "-np", "1", "-wdir", dir, bin)
		a = append(a, args...)
	}
	cmd := exec.Command(mpirun, a...)
	cmd.Env = append(os.Environ(), "MDSM_TEST_AS_MAIN=1", "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
		"OMPI_MCA_rmaps_base_oversubscribe=1")
	return cmd
}

// runIn runs mdsm (one process) in dir and returns its stdout; it fails the test on error.
func runIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := mdsmCommand(t, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("mdsm %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// mpiRun runs mdsm on 2 ranks (rank r in dirs[r]) and returns rank 0's stdout... mpirun
// merges them, so the other ranks must print nothing on stdout.
func mpiRun(t *testing.T, dirs []string, args ...string) string {
	t.Helper()
	cmd := mpiCommand(t, dirs, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("mpirun mdsm %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// rankDirs makes one working directory per rank.
func rankDirs(t *testing.T, n int) []string {
	root := t.TempDir()
	dirs := make([]string, n)
	for r := range dirs {
		dirs[r] = filepath.Join(root, fmt.Sprintf("rank%d", r))
		if err := os.MkdirAll(dirs[r], 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dirs
}

// sameWeights fails unless two checkpoints hold the same weights, bit for bit.
func sameWeights(t *testing.T, a, b string) {
	t.Helper()
	pa, _, err := core.LoadWeights(a)
	if err != nil {
		t.Fatal(err)
	}
	pb, _, err := core.LoadWeights(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range pa.Names {
		x, y := pa.T[n].Data, pb.T[n].Data
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				t.Fatalf("%s and %s differ at %s[%d]: %v vs %v", a, b, n, i, x[i], y[i])
			}
		}
	}
}

func tinyTrain(dir string, steps int, extra ...string) []string {
	return append([]string{"train", "--run-dir", dir, "--preset", "tiny", "--batch", "8", "--steps", strconv.Itoa(steps),
		"--checkpoint-every", "2", "--log-every", "1", "--sample-every", "0", "--threads", "1", "--quiet"}, extra...)
}

// TestMPITrainEqualsSingleProcess: 2 ranks at batch 8 (micro-batch 4 each by default) give
// the weights of one process at batch 8 with micro-batch 4, bit for bit; only rank 0 writes
// the run directory, which records the world size.
func TestMPITrainEqualsSingleProcess(t *testing.T) {
	mpirunOrSkip(t)
	single := t.TempDir()
	runIn(t, single, tinyTrain("run", 6, "--micro-batch", "4")...)
	dirs := rankDirs(t, 2)
	mpiRun(t, dirs, tinyTrain("run", 6)...)
	sameWeights(t, filepath.Join(single, "run", "checkpoints", "step-00000006.safetensors"),
		filepath.Join(dirs[0], "run", "checkpoints", "step-00000006.safetensors"))
	if _, err := os.Stat(filepath.Join(dirs[1], "run")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rank 1 wrote a run directory (%v): only rank 0 writes", err)
	}
	_, recs := checkRun(t, filepath.Join(dirs[0], "run"))
	checkContiguous(t, recs, 6)
	if last := recs[5]; last.WorldSize != 2 || len(last.RankImagesPerSec) != 2 {
		t.Errorf("metrics record %+v lacks the world size and per-rank rates", last)
	}
	ck, _, err := core.LoadLatestCheckpoint(filepath.Join(dirs[0], "run"))
	if err != nil || ck.State.WorldSize != 2 || ck.State.Config.MicroBatch != 4 {
		t.Fatalf("checkpoint: world size %d, micro-batch %d, %v", ck.State.WorldSize, ck.State.Config.MicroBatch, err)
	}
}

// rankPids lists the processes mpirun (pid) started, by rank (read from their
// OMPI_COMM_WORLD_RANK).
func rankPids(t *testing.T, mpirun int) map[int]int {
	t.Helper()
	out := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(mpirun) {
			continue
		}
		env, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		for _, kv := range bytes.Split(env, []byte{0}) {
			if r, ok := bytes.CutPrefix(kv, []byte("OMPI_COMM_WORLD_RANK=")); ok {
				if rank, err := strconv.Atoi(string(r)); err == nil {
					out[rank] = pid
				}
			}
		}
	}
	return out
}

// alive reports whether pid is a running process (not gone, not a zombie).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// startMPI starts mpirun and returns it as a proc (its output collected).
func startMPI(t *testing.T, dirs []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: mpiCommand(t, dirs, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

// TestMPIRankDeathStopsJobAndResumes: SIGKILL of rank 1 ends the job (mpirun exits with
// an error, rank 0 is gone, no rank is left waiting); the run directory holds a loadable
// checkpoint, and the run resumes from it on one process and gives the weights of an
// uninterrupted run.
func TestMPIRankDeathStopsJobAndResumes(t *testing.T) {
	mpirunOrSkip(t)
	dirs := []string{t.TempDir(), t.TempDir()}
	run := filepath.Join(dirs[0], "run")
	p := startMPI(t, dirs, tinyTrain(run, 1000000, "--micro-batch", "4", "--checkpoint-every", "20")...)
	waitProgress(t, p, run, 20)
	pids := rankPids(t, p.cmd.Process.Pid)
	if len(pids) != 2 {
		t.Fatalf("found ranks %v under mpirun", pids)
	}
	syscall.Kill(pids[1], syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the job did not end after rank 1 died:\n%s", p.out.String())
	}
	if p.err == nil {
		t.Errorf("mpirun exited with status 0 after a rank died:\n%s", p.out.String())
	}
	// mpirun kills the surviving rank as it exits; give the kernel a moment to reap it.
	for deadline := time.Now().Add(10 * time.Second); alive(pids[0]); {
		if time.Now().After(deadline) {
			t.Fatalf("rank 0 (pid %d) still runs after the job ended", pids[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	step, recs := checkRun(t, run)
	if len(recs) < step {
		t.Fatalf("metrics.jsonl has %d records, the checkpoint is at step %d", len(recs), step)
	}
	total := step + 6
	runIn(t, dirs[0], "train", "--resume", "run", "--steps", strconv.Itoa(total), "--threads", "1", "--quiet")
	_, recs = checkRun(t, run)
	checkContiguous(t, recs, total)
	straight := t.TempDir()
	runIn(t, straight, tinyTrain("run", total, "--micro-batch", "4", "--checkpoint-every", "20")...)
	sameWeights(t, filepath.Join(straight, "run"), run)
}

// TestMPIStopSignal: SIGUSR1 to mpirun (which forwards it to every rank) stops both ranks
// after the same step with a checkpoint, and mpirun exits with status 0; the run resumes on
// 2 ranks.
func TestMPIStopSignal(t *testing.T) {
	mpirunOrSkip(t)
	dirs := []string{t.TempDir(), t.TempDir()}
	run := filepath.Join(dirs[0], "run")
	p := startMPI(t, dirs, tinyTrain(run, 1000000, "--checkpoint-every", "50")...)
	waitProgress(t, p, run, 0)
	p.cmd.Process.Signal(syscall.SIGUSR1)
	if code := p.wait(t); code != 0 {
		t.Fatalf("mpirun exited with %d after SIGUSR1:\n%s", code, p.out.String())
	}
	step, recs := checkRun(t, run)
	checkContiguous(t, recs, step)
	if out := p.out.String(); !strings.Contains(out, "mdsm train: stopped") || !strings.Contains(out, "at step "+strconv.Itoa(step)+" with a checkpoint") {
		t.Errorf("rank 0 should report the stop at step %d:\n%s", step, p.out.String())
	}
	mpiRun(t, dirs, "train", "--resume", run, "--steps", strconv.Itoa(step+4), "--threads", "1", "--quiet")
	_, recs = checkRun(t, run)
	checkContiguous(t, recs, step+4)
}

// TestMPIShardedCommandsEqualSingleProcess: sample, nll (forward and reverse AIS), energy
// and denoise on 2 ranks print and write what one process does.
func TestMPIShardedCommandsEqualSingleProcess(t *testing.T) {
	mpirunOrSkip(t)
	base := t.TempDir()
	runIn(t, base, tinyTrain("run", 4)...)
	run := filepath.Join(base, "run")
	for _, tc := range []struct {
		name  string
		args  []string
		files []string
	}{
		{"sample", []string{"sample", run, "--n", "5", "--batch", "2", "--steps", "30", "--threads", "1", "--out", "s"}, []string{"s.npy", "s-energy.csv", "s.png"}},
		{"nll", []string{"nll", run, "--steps", "12", "--chains", "6", "--batch", "2", "--n", "5", "--leapfrog", "2", "--threads", "1"}, nil},
		{"energy", []string{"energy", run, "--n", "250", "--ood", "embedded", "--threads", "1", "--out", "e.csv"}, []string{"e.csv"}},
		{"denoise", []string{"denoise", run, "--n", "150", "--sigmas", "0.3,0.6", "--threads", "1", "--out", "d"}, []string{"d.png"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			single := filepath.Join(base, tc.name+"-single")
			os.MkdirAll(single, 0o755)
			want := runIn(t, single, tc.args...)
			dirs := rankDirs(t, 2)
			got := mpiRun(t, dirs, tc.args...)
			if got != want {
				t.Errorf("2 ranks printed\n%s\none process printed\n%s", got, want)
			}
			for _, f := range tc.files {
				a, err1 := os.ReadFile(filepath.Join(single, f))
				b, err2 := os.ReadFile(filepath.Join(dirs[0], f))
				if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
					t.Errorf("%s differs between one process and rank 0 (%v, %v)", f, err1, err2)
				}
				if _, err := os.Stat(filepath.Join(dirs[1], f)); err == nil {
					t.Errorf("rank 1 wrote %s", f)
				}
			}
		})
	}
}

// torchrunRefusal fails unless out is the error of a CPU run started by torchrun, which
// says to use mpirun.
func torchrunRefusal(t *testing.T, how string, out []byte, err error) {
	t.Helper()
	if err == nil || !strings.Contains(string(out), "mpirun -np 2") || !strings.Contains(string(out), "torchrun") {
		t.Fatalf("%s, 2 CPU ranks: %v\n%s", how, err, out)
	}
}

// TestTorchrunEnvCPURefused: with the environment torchrun gives its workers (no MPI), a
// CPU run stops at once with a message that says to use mpirun.
func TestTorchrunEnvCPURefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mdsm processes")
	}
	for rank := range 2 {
		cmd := mdsmCommand(t, "train", "--preset", "tiny", "--steps", "2", "--run-dir", filepath.Join(t.TempDir(), "run"))
		cmd.Env = append(cmd.Env, "RANK="+strconv.Itoa(rank), "WORLD_SIZE=2", "LOCAL_RANK="+strconv.Itoa(rank), "LOCAL_WORLD_SIZE=2",
			"MASTER_ADDR=127.0.0.1", "MASTER_PORT=29500", "TORCHELASTIC_RUN_ID=test")
		out, err := cmd.CombinedOutput()
		torchrunRefusal(t, "torchrun's environment", out, err)
	}
}

// TestTorchrunCPURefused is TestTorchrunEnvCPURefused under a real torchrun, where one
// is installed and works.
func TestTorchrunCPURefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts torchrun")
	}
	torchrun, err := exec.LookPath("torchrun")
	if err != nil {
		t.Skip("torchrun not found (PyTorch's launcher)")
	}
	// the underscore spellings work with every torchrun (the dashed ones from PyTorch 2)
	cmd := exec.Command(torchrun, "--standalone", "--no_python", "--nproc_per_node", "2", mdsmBinary(t), "train", "--preset", "tiny", "--steps", "2",
		"--run-dir", filepath.Join(t.TempDir(), "run"))
	cmd.Env = append(os.Environ(), "MDSM_TEST_AS_MAIN=1")
	out, err := cmd.CombinedOutput()
	if bytes.Contains(out, []byte("Traceback")) && !bytes.Contains(out, []byte("mpirun -np")) {
		t.Skipf("this torchrun fails before starting any worker:\n%s", lastLines(out, 3))
	}
	torchrunRefusal(t, "torchrun", out, err)
}

// lastLines is the last n lines of b.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
