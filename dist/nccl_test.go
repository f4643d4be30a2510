package dist

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"mdsm/internal/nccl"
)

// standInNCCL is a library with NCCL's ABI for the calls mdsm makes, to check the binding's
// argument passing (the 128-byte id by value above all) where no GPU is: ids are a fixed
// pattern (or, with NCCL_COMM_ID set, that string, as NCCL makes them the same on every
// rank), CommInitRank refuses any other id, and a one-rank all-reduce, all-gather or
// grouped send and receive to itself copies host memory, which is what NCCL's do with
// device memory. The real library is checked on a GPU.
const standInNCCL = `
#include <stdlib.h>
#include <string.h>
typedef struct { char internal[128]; } ncclUniqueId;
struct comm { int nranks, rank; };
static void expected(ncclUniqueId *id) {
	const char *env = getenv("NCCL_COMM_ID");
	memset(id, 0, sizeof *id);
	if (env) { strncpy(id->internal, env, 127); return; }
	for (int i = 0; i < 128; i++) id->internal[i] = (char)(i * 7 + 3);
}
int ncclGetVersion(int *v) { *v = 22305; return 0; }
int ncclGetUniqueId(ncclUniqueId *id) { expected(id); return 0; }
int ncclCommInitRank(struct comm **c, int nranks, ncclUniqueId id, int rank) {
	ncclUniqueId want; expected(&want);
	if (memcmp(&id, &want, sizeof id) != 0 || rank < 0 || rank >= nranks) return 4;
	*c = malloc(sizeof **c); (*c)->nranks = nranks; (*c)->rank = rank; return 0;
}
int ncclCommDestroy(struct comm *c) { free(c); return 0; }
int ncclCommAbort(struct comm *c) { free(c); return 0; }
int ncclCommGetAsyncError(struct comm *c, int *r) { *r = 0; return 0; }
const char *ncclGetErrorString(int r) { return r == 4 ? "invalid argument (run with NCCL_DEBUG=WARN for details)" : "error"; }
int ncclAllReduce(const void *s, void *r, size_t n, int dt, int op, struct comm *c, void *stream) {
	if (dt != 7 || op != 0 || c->nranks != 1 || stream != (void *)0x5) return 4;
	memcpy(r, s, n * 4); return 0;
}
int ncclAllGather(const void *s, void *r, size_t n, int dt, struct comm *c, void *st) {
	if (dt != 7 || c->nranks != 1 || st != (void *)0x5) return 4;
	memcpy(r, s, n * 4); return 0;
}
int ncclBroadcast(const void *s, void *r, size_t n, int dt, int root, struct comm *c, void *st) { return 5; }
int ncclReduceScatter(const void *s, void *r, size_t n, int dt, int op, struct comm *c, void *st) { return 5; }
static int group;
static const void *pending_send; static void *pending_recv; static size_t pending_n;
int ncclSend(const void *s, size_t n, int dt, int peer, struct comm *c, void *st) {
	if (!group || dt != 7 || peer != 0 || c->nranks != 1 || st != (void *)0x5) return 4;
	pending_send = s; pending_n = n; return 0;
}
int ncclRecv(void *r, size_t n, int dt, int peer, struct comm *c, void *st) {
	if (!group || dt != 7 || peer != 0 || c->nranks != 1 || st != (void *)0x5 || n != pending_n) return 4;
	pending_recv = r; return 0;
}
int ncclGroupStart(void) { group++; return 0; }
int ncclGroupEnd(void) {
	if (group == 0) return 4;
	if (--group == 0 && pending_send && pending_recv) memcpy(pending_recv, pending_send, pending_n * 4);
	pending_send = pending_recv = 0;
	return 0;
}
`

// buildStandInNCCL compiles standInNCCL into a libnccl.so.2 and points MDSM_NCCL_LIB at it.
func buildStandInNCCL(t *testing.T) {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler (cc) to build the stand-in NCCL library")
	}
	dir := t.TempDir()
	src, lib := filepath.Join(dir, "nccl.c"), filepath.Join(dir, "libnccl.so.2")
	if err := os.WriteFile(src, []byte(standInNCCL), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in NCCL: %v\n%s", err, out)
	}
	t.Setenv(nccl.LibEnv, lib)
}

// TestNCCLBinding: one rank opens a communicator, all-reduces a buffer and is destroyed;
// a wrong id is refused with NCCL's message.
func TestNCCLBinding(t *testing.T) {
	buildStandInNCCL(t)
	c, err := OpenNCCL(Launch{Launcher: LaunchSingle, Size: 1, LocalSize: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	send := []float32{1, 2, 3, 4}
	recv := make([]float32, 4)
	if err := c.AllReduce(uintptr(unsafe.Pointer(&send[0])), uintptr(unsafe.Pointer(&recv[0])), 4, nccl.Float32, nccl.Sum, 0x5); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(send)
	if recv[3] != 4 || recv[0] != 1 {
		t.Fatalf("all-reduce gave %v", recv)
	}
	if err := c.AsyncError(); err != nil {
		t.Fatal(err)
	}
	if err := c.AllGather(0, 0, 1, nccl.Float32, 0); err == nil || !strings.Contains(err.Error(), "ncclAllGather") {
		t.Fatalf("a failed call should be an error naming it: %v", err)
	}
	// The data-parallel exchange's calls: the grouped all-to-all and the all-gather.
	clear(recv)
	if err := c.AllToAll(uintptr(unsafe.Pointer(&send[0])), uintptr(unsafe.Pointer(&recv[0])), 4, nccl.Float32, 0x5); err != nil {
		t.Fatal(err)
	}
	if recv[0] != 1 || recv[3] != 4 {
		t.Fatalf("all-to-all gave %v", recv)
	}
	clear(recv)
	if err := c.AllGather(uintptr(unsafe.Pointer(&send[1])), uintptr(unsafe.Pointer(&recv[0])), 3, nccl.Float32, 0x5); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(send)
	if recv[0] != 2 || recv[2] != 4 || recv[3] != 0 {
		t.Fatalf("all-gather gave %v", recv)
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	lib, err := nccl.Load()
	if err != nil {
		t.Fatal(err)
	}
	if v, err := lib.Version(); err != nil || v != 22305 {
		t.Fatalf("version %d, %v", v, err)
	}
	var bad nccl.UniqueID
	if _, err := lib.CommInitRank(1, bad, 0); err == nil || !strings.Contains(err.Error(), "invalid argument") {
		t.Fatalf("a wrong id should be refused: %v", err)
	}
}

// TestNCCLIdReachesEveryRank: under MPI the id goes from rank 0 to the others over the
// host communicator; under torchrun every rank derives it from NCCL_COMM_ID at the
// rendezvous host, port MASTER_PORT+1.
func TestNCCLIdReachesEveryRank(t *testing.T) {
	buildStandInNCCL(t)
	comms := NewGroup(2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *nccl.Comm
			c, errs[r] = OpenNCCL(Launch{Launcher: LaunchOpenMPI, Rank: r, Size: 2, LocalRank: r, LocalSize: 2}, comms[r])
			if c != nil && (c.Rank != r || c.Size != 2) {
				errs[r] = errors.New("communicator has the wrong rank or size")
			}
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Errorf("MPI rank %d: %v", r, err)
		}
	}
	os.Unsetenv("NCCL_COMM_ID")
	t.Cleanup(func() { os.Unsetenv("NCCL_COMM_ID") })
	for r := range 2 {
		l := Launch{Launcher: LaunchTorchrun, Rank: r, Size: 2, LocalRank: r, LocalSize: 2, MasterAddr: "127.0.0.1", MasterPort: 29500}
		if _, err := OpenNCCL(l, nil); err != nil {
			t.Errorf("torchrun rank %d: %v", r, err)
		}
	}
	if got := os.Getenv("NCCL_COMM_ID"); got != "127.0.0.1:29501" {
		t.Errorf("NCCL_COMM_ID = %q, want the rendezvous host and port+1", got)
	}
}

// TestNCCLMissing: without the library the error names it, where it was looked for and
// where to get it.
func TestNCCLMissing(t *testing.T) {
	t.Setenv(nccl.LibEnv, "/nonexistent/libnccl.so.2")
	_, err := OpenNCCL(Launch{Launcher: LaunchSingle, Size: 1, LocalSize: 1}, nil)
	if !errors.Is(err, nccl.ErrNotFound) || !strings.Contains(err.Error(), "libnccl2") || !strings.Contains(err.Error(), nccl.LibEnv) {
		t.Fatalf("missing NCCL: %v", err)
	}
	t.Setenv(nccl.LibEnv, "")
	t.Setenv("MDSM_CUDA_LIBS", t.TempDir())
	if _, err := nccl.Load(); err == nil {
		t.Skip("NCCL is installed here: no missing-library message to check")
	} else if !errors.Is(err, nccl.ErrNotFound) || !strings.Contains(err.Error(), "libnccl (NCCL) not found") ||
		!strings.Contains(err.Error(), "ldconfig") || !strings.Contains(err.Error(), "nvidia-nccl-cu12") {
		t.Fatalf("NCCL not found by the search: %v", err)
	}
}
