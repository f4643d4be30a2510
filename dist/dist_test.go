package dist

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"mdsm/internal/mpi"
)

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want Launch
		err  string
	}{
		{"nothing: one process", nil, Launch{Launcher: LaunchSingle, Size: 1, LocalSize: 1}, ""},
		{"mpirun", map[string]string{"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "1", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"},
			Launch{Launcher: LaunchOpenMPI, Rank: 3, Size: 4, LocalRank: 1, LocalSize: 2}, ""},
		{"mpirun inside a Slurm batch script", map[string]string{"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2",
			"SLURM_PROCID": "0", "SLURM_NTASKS": "8"},
			Launch{Launcher: LaunchOpenMPI, Rank: 1, Size: 2, LocalSize: 1}, ""},
		{"srun step", map[string]string{"SLURM_PROCID": "5", "SLURM_STEP_NUM_TASKS": "6", "SLURM_LOCALID": "1", "SLURM_NODEID": "2",
			"SLURM_STEP_TASKS_PER_NODE": "2(x2),3"},
			Launch{Launcher: LaunchSlurm, Rank: 5, Size: 6, LocalRank: 1, LocalSize: 3}, ""},
		{"Slurm batch script without srun: one process", map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_JOB_ID": "7"},
			Launch{Launcher: LaunchSingle, Size: 1, LocalSize: 1}, ""},
		{"torchrun", map[string]string{"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
			"MASTER_ADDR": "node1", "MASTER_PORT": "29500", "TORCHELASTIC_RUN_ID": "x"},
			Launch{Launcher: LaunchTorchrun, Rank: 1, Size: 2, LocalRank: 1, LocalSize: 2, MasterAddr: "node1", MasterPort: 29500}, ""},
		{"torchrun under srun (one agent per node)", map[string]string{"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
			"SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "2"},
			Launch{Launcher: LaunchTorchrun, Rank: 3, Size: 4, LocalRank: 1, LocalSize: 2}, ""},
		{"MPICH mpiexec (PMI)", map[string]string{"PMI_RANK": "0", "PMI_SIZE": "2"},
			Launch{Launcher: LaunchPMI, Rank: 0, Size: 2, LocalSize: 1}, ""},
		{"rank outside the world", map[string]string{"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "2"}, Launch{}, "OMPI_COMM_WORLD_RANK=2 is outside"},
		{"not a number", map[string]string{"RANK": "one", "WORLD_SIZE": "2"}, Launch{}, `RANK="one" is not a number`},
		{"zero world", map[string]string{"SLURM_PROCID": "0", "SLURM_STEP_NUM_TASKS": "0"}, Launch{}, "SLURM_STEP_NUM_TASKS=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Detect(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestSpan(t *testing.T) {
	for _, tc := range []struct{ n, size int }{{10, 3}, {2, 3}, {0, 2}, {7, 7}, {5, 1}} {
		next := 0
		for r := range tc.size {
			lo, hi := Span(tc.n, r, tc.size)
			if lo != next || hi < lo || hi-lo > tc.n/tc.size+1 || hi-lo < tc.n/tc.size {
				t.Fatalf("Span(%d, %d, %d) = [%d, %d) after %d", tc.n, r, tc.size, lo, hi, next)
			}
			next = hi
		}
		if next != tc.n {
			t.Fatalf("spans of %d over %d end at %d", tc.n, tc.size, next)
		}
	}
}

// onGroup runs f on every rank of an in-process group of n.
func onGroup(n int, f func(c Comm) error) []error {
	cs := NewGroup(n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs[r] = f(cs[r]) }()
	}
	wg.Wait()
	return errs
}

// checkCollectives checks every collective of c on its size ranks, including a gather in
// which some ranks send nothing; it returns what went wrong.
func checkCollectives(c Comm) error {
	n := c.Size()
	r := float32(c.Rank())
	send := make([]float32, n)
	for q := range send {
		send[q] = 10*r + float32(q)
	}
	recv := make([]float32, n)
	if err := c.Alltoall(send, recv); err != nil {
		return err
	}
	for q := range n { // block q of rank q's send is 10q + rank
		if recv[q] != float32(10*q+c.Rank()) {
			return fmt.Errorf("alltoall: %v", recv)
		}
	}
	all := make([]float64, 2*n)
	if err := c.AllgatherF64([]float64{float64(c.Rank()), -1}, all); err != nil {
		return err
	}
	allF := make([]float32, n)
	if err := c.AllgatherF32([]float32{r}, allF); err != nil {
		return err
	}
	for q := range n {
		if all[2*q] != float64(q) || all[2*q+1] != -1 || allF[q] != float32(q) {
			return fmt.Errorf("allgather: %v %v", all, allF)
		}
	}
	// rank q sends q values q (rank 0 nothing); rank 0 receives 1, 2,2, 3,3,3, ...
	counts := make([]int, n)
	want := []float64{}
	for q := range n {
		counts[q] = q
		for range q {
			want = append(want, float64(q))
		}
	}
	mine := make([]float64, c.Rank())
	for i := range mine {
		mine[i] = float64(c.Rank())
	}
	var got []float64
	if c.Rank() == 0 {
		got = make([]float64, len(want))
	}
	if err := c.GatherF64(mine, got, counts); err != nil {
		return err
	}
	if c.Rank() == 0 && fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("gather: %v, want %v", got, want)
	}
	mine32 := make([]float32, c.Rank())
	var got32 []float32
	if c.Rank() == 0 {
		got32 = make([]float32, len(want))
	}
	if err := c.GatherF32(mine32, got32, counts); err != nil {
		return err
	}
	b := []byte("xyz")
	if c.Rank() == 0 {
		b = []byte("abc")
	}
	if err := c.Bcast(b); err != nil || string(b) != "abc" {
		return fmt.Errorf("bcast: %q, %v", b, err)
	}
	big, err := BcastBytes(c, []byte(strings.Repeat("m", 100000*(1-min(1, c.Rank())))))
	if err != nil || len(big) != 100000 {
		return fmt.Errorf("BcastBytes: %d bytes, %v", len(big), err)
	}
	return nil
}

func TestGroupCollectives(t *testing.T) {
	for _, n := range []int{1, 3} {
		for r, err := range onGroup(n, checkCollectives) {
			if err != nil {
				t.Errorf("%d ranks, rank %d: %v", n, r, err)
			}
		}
	}
	if err := checkCollectives(Single()); err != nil {
		t.Errorf("single process: %v", err)
	}
}

// TestMain lets the test binary act as an MPI rank for TestMPICollectives.
func TestMain(m *testing.M) {
	if os.Getenv("MDSM_DIST_MPI_CHILD") == "1" {
		c, l, err := Open()
		if err == nil {
			if err = checkCollectives(c); err == nil {
				err = c.Close()
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", l, err)
			os.Exit(1)
		}
		fmt.Printf("rank %d of %d (%s): collectives ok\n", c.Rank(), c.Size(), c.Name())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestMPICollectives runs checkCollectives on 3 ranks started by mpirun over Open MPI.
func TestMPICollectives(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mpirun")
	}
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		msg := "mpirun not found: install Open MPI (Debian/Ubuntu: apt install openmpi-bin) to run the distributed tests"
		if os.Getenv("MDSM_REQUIRE_MPI_TESTS") == "1" {
			t.Fatal(msg + " (MDSM_REQUIRE_MPI_TESTS=1)")
		}
		t.Skip(msg)
	}
	exe, _ := os.Executable()
	cmd := exec.Command(mpirun, "--oversubscribe", "-np", "3", "-x", "MDSM_DIST_MPI_CHILD=1", exe)
	cmd.Env = append(os.Environ(), "MDSM_DIST_MPI_CHILD=1", "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Count(string(out), "collectives ok") != 3 || !strings.Contains(string(out), "Open MPI") {
		t.Fatalf("mpirun -np 3: %v\n%s", err, out)
	}
}

// TestAgreeAndBcastJSON: a failure on one rank reaches all of them; rank 0's value (or its
// error) reaches the others.
func TestAgreeAndBcastJSON(t *testing.T) {
	errs := onGroup(3, func(c Comm) error {
		var mine error
		if c.Rank() == 2 {
			mine = errors.New("no data on this node")
		}
		err := Agree(c, mine)
		switch {
		case c.Rank() == 2 && err != mine:
			return errors.New("the failing rank should get its own error back")
		case c.Rank() != 2 && (!errors.Is(err, ErrPeer) || !strings.Contains(err.Error(), "[2]")):
			return errors.New("a peer's failure should be reported as a PeerError naming rank 2, got " + err.Error())
		}
		if err := Agree(c, nil); err != nil {
			return err
		}
		v := struct{ A int }{c.Rank() + 5}
		if err := BcastJSON(c, &v, nil); err != nil || v.A != 5 {
			return errors.New("BcastJSON did not deliver rank 0's value")
		}
		var rerr error
		if c.Rank() == 0 {
			rerr = errors.New("config.json unreadable")
		}
		err = BcastJSON(c, &v, rerr)
		if err == nil || !strings.Contains(err.Error(), "config.json unreadable") || (c.Rank() > 0 && !errors.Is(err, ErrPeer)) {
			return errors.New("rank 0's error should reach every rank")
		}
		return nil
	})
	for r, err := range errs {
		if err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

// TestMPILibraryErrors: a missing library is named with the package that provides it; a
// library that is not Open MPI is refused.
func TestMPILibraryErrors(t *testing.T) {
	t.Setenv(mpi.LibEnv, "/nonexistent/libmpi.so.40")
	_, err := mpi.Load()
	if !errors.Is(err, mpi.ErrNotFound) || !strings.Contains(err.Error(), "/nonexistent/libmpi.so.40") ||
		!strings.Contains(err.Error(), "openmpi-bin") || !strings.Contains(err.Error(), mpi.LibEnv) {
		t.Fatalf("missing library: %v", err)
	}
	t.Setenv(mpi.LibEnv, "libc.so.6")
	if _, err := mpi.Load(); err == nil || !strings.Contains(err.Error(), "not Open MPI") {
		t.Fatalf("libc as MPI: %v", err)
	}
}
