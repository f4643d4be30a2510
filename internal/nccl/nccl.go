// Package nccl binds NVIDIA's collective library for GPU buffers (libnccl.so.2), loaded at
// run time with purego (no cgo), for the GPU backend's data-parallel training: one
// communicator per rank and GPU, collectives on device pointers enqueued on CUDA streams.
//
// Buffers and streams are device addresses (CUdeviceptr, cudaStream_t) passed as uintptr;
// this package never touches their memory. The communicator's unique id is a 128-byte
// struct passed by value to ncclCommInitRank, which purego lays out as the C ABI does
// (on the stack on amd64, by reference to a copy on arm64).
package nccl

import (
	"errors"
	"fmt"
	"os"

	"github.com/ebitengine/purego"

	"mdsm/internal/cuda"
)

// LibEnv names the environment variable that gives the library's path, bypassing the
// search.
const LibEnv = "MDSM_NCCL_LIB"

// Spec is how internal/cuda's library search finds NCCL: the folders of MDSM_CUDA_LIBS
// and LD_LIBRARY_PATH, the system library cache, /usr/local/cuda*/lib64, and pip's
// nvidia-nccl-cu12 wheel (site-packages/nvidia/nccl/lib).
var Spec = cuda.LibSpec{Name: "libnccl (NCCL)", Files: []string{"libnccl.so.2", "libnccl.so"},
	Fix: "install NCCL (NVIDIA's CUDA repository: apt install libnccl2, dnf install libnccl; or pip install nvidia-nccl-cu12), load your cluster's module (module load nccl), or point " + LibEnv + " at libnccl.so.2"}

// ErrNotFound marks a missing NCCL library.
var ErrNotFound = errors.New("NCCL library not found")

// UniqueIDBytes is NCCL_UNIQUE_ID_BYTES.
const UniqueIDBytes = 128

// UniqueID is ncclUniqueId: rank 0 makes it (GetUniqueID) and every rank passes the same
// bytes to CommInitRank.
type UniqueID struct{ Internal [UniqueIDBytes]byte }

// DataType is ncclDataType_t.
type DataType int32

// The element types mdsm uses.
const (
	Float32 DataType = 7 // ncclFloat32
	Float64 DataType = 8 // ncclFloat64
)

// RedOp is ncclRedOp_t.
type RedOp int32

// The reductions.
const (
	Sum RedOp = 0
	Max RedOp = 2
)

// Lib is a loaded NCCL library.
type Lib struct {
	Path string

	getVersion    func(v *int32) int32
	getUniqueID   func(id *UniqueID) int32
	commInitRank  func(comm *uintptr, nranks int32, id UniqueID, rank int32) int32
	commDestroy   func(comm uintptr) int32
	commAbort     func(comm uintptr) int32
	asyncError    func(comm uintptr, res *int32) int32
	errorString   func(res int32) string
	allReduce     func(send, recv uintptr, count uint64, dt DataType, op RedOp, comm, stream uintptr) int32
	allGather     func(send, recv uintptr, sendcount uint64, dt DataType, comm, stream uintptr) int32
	broadcast     func(send, recv uintptr, count uint64, dt DataType, root int32, comm, stream uintptr) int32
	reduceScatter func(send, recv uintptr, recvcount uint64, dt DataType, op RedOp, comm, stream uintptr) int32
	send          func(buf uintptr, count uint64, dt DataType, peer int32, comm, stream uintptr) int32
	recv          func(buf uintptr, count uint64, dt DataType, peer int32, comm, stream uintptr) int32
	groupStart    func() int32
	groupEnd      func() int32
}

// Load opens NCCL ($MDSM_NCCL_LIB, else the first found by Spec's search) and resolves
// every symbol mdsm uses.
func Load() (*Lib, error) {
	l := &Lib{}
	var h uintptr
	var err error
	if p := os.Getenv(LibEnv); p != "" {
		if h, err = purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_GLOBAL); err != nil {
			return nil, fmt.Errorf("%w: %s=%s: %v: %s", ErrNotFound, LibEnv, p, err, Spec.Fix)
		}
		l.Path = p
	} else if h, l.Path, err = cuda.DefaultFinder().Find(Spec); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	for _, f := range []struct {
		fptr any
		name string
	}{{&l.getVersion, "ncclGetVersion"}, {&l.getUniqueID, "ncclGetUniqueId"}, {&l.commInitRank, "ncclCommInitRank"},
		{&l.commDestroy, "ncclCommDestroy"}, {&l.commAbort, "ncclCommAbort"}, {&l.asyncError, "ncclCommGetAsyncError"},
		{&l.errorString, "ncclGetErrorString"}, {&l.allReduce, "ncclAllReduce"}, {&l.allGather, "ncclAllGather"},
		{&l.broadcast, "ncclBroadcast"}, {&l.reduceScatter, "ncclReduceScatter"}, {&l.send, "ncclSend"}, {&l.recv, "ncclRecv"},
		{&l.groupStart, "ncclGroupStart"}, {&l.groupEnd, "ncclGroupEnd"}} {
		p, err := purego.Dlsym(h, f.name)
		if err != nil {
			return nil, fmt.Errorf("%s has no %s (NCCL 2.7 or newer is needed): %w", l.Path, f.name, err)
		}
		purego.RegisterFunc(f.fptr, p)
	}
	return l, nil
}

// check turns an ncclResult_t into an error naming the call.
func (l *Lib) check(what string, res int32) error {
	if res == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s (ncclResult %d)", what, l.errorString(res), res)
}

// Version is ncclGetVersion: major*10000 + minor*100 + patch (NCCL 2.9 and newer).
func (l *Lib) Version() (int, error) {
	var v int32
	err := l.check("ncclGetVersion", l.getVersion(&v))
	return int(v), err
}

// GetUniqueID makes a new communicator id (on rank 0; with NCCL_COMM_ID set, every rank
// gets the same id and rank 0 listens at that address).
func (l *Lib) GetUniqueID() (UniqueID, error) {
	var id UniqueID
	return id, l.check("ncclGetUniqueId", l.getUniqueID(&id))
}

// Comm is one rank's NCCL communicator.
type Comm struct {
	lib    *Lib
	handle uintptr
	Rank   int
	Size   int
}

// CommInitRank joins rank of an nranks communicator made from id; the calling thread's
// current CUDA device is the communicator's. It blocks until every rank has joined.
func (l *Lib) CommInitRank(nranks int, id UniqueID, rank int) (*Comm, error) {
	var h uintptr
	if err := l.check("ncclCommInitRank", l.commInitRank(&h, int32(nranks), id, int32(rank))); err != nil {
		return nil, err
	}
	return &Comm{lib: l, handle: h, Rank: rank, Size: nranks}, nil
}

// AllReduce enqueues recv = op over ranks of send (count elements) on stream.
func (c *Comm) AllReduce(send, recv uintptr, count int, dt DataType, op RedOp, stream uintptr) error {
	return c.lib.check("ncclAllReduce", c.lib.allReduce(send, recv, uint64(count), dt, op, c.handle, stream))
}

// AllGather enqueues the gather of every rank's sendcount elements into recv, in rank order.
func (c *Comm) AllGather(send, recv uintptr, sendcount int, dt DataType, stream uintptr) error {
	return c.lib.check("ncclAllGather", c.lib.allGather(send, recv, uint64(sendcount), dt, c.handle, stream))
}

// Broadcast enqueues the copy of root's send into every rank's recv.
func (c *Comm) Broadcast(send, recv uintptr, count int, dt DataType, root int, stream uintptr) error {
	return c.lib.check("ncclBroadcast", c.lib.broadcast(send, recv, uint64(count), dt, int32(root), c.handle, stream))
}

// ReduceScatter enqueues the reduction of send over ranks, rank q receiving block q
// (recvcount elements).
func (c *Comm) ReduceScatter(send, recv uintptr, recvcount int, dt DataType, op RedOp, stream uintptr) error {
	return c.lib.check("ncclReduceScatter", c.lib.reduceScatter(send, recv, uint64(recvcount), dt, op, c.handle, stream))
}

// Send and Recv are point-to-point transfers; several of them between GroupStart and
// GroupEnd form one operation (an all-to-all, for a reduction in a fixed order).
func (c *Comm) Send(buf uintptr, count int, dt DataType, peer int, stream uintptr) error {
	return c.lib.check("ncclSend", c.lib.send(buf, uint64(count), dt, int32(peer), c.handle, stream))
}

// Recv: see Send.
func (c *Comm) Recv(buf uintptr, count int, dt DataType, peer int, stream uintptr) error {
	return c.lib.check("ncclRecv", c.lib.recv(buf, uint64(count), dt, int32(peer), c.handle, stream))
}

// AllToAll enqueues the exchange of blocks: block q (count elements) of send goes to rank
// q, and rank q's block for this rank arrives in block q of recv. It is Send and Recv to
// and from every rank, this one included, in one group.
func (c *Comm) AllToAll(send, recv uintptr, count int, dt DataType, stream uintptr) error {
	size := uintptr(count) * dt.Bytes()
	if err := c.lib.GroupStart(); err != nil {
		return err
	}
	var first error
	for q := 0; q < c.Size; q++ {
		if err := c.Send(send+uintptr(q)*size, count, dt, q, stream); err != nil && first == nil {
			first = err
		}
		if err := c.Recv(recv+uintptr(q)*size, count, dt, q, stream); err != nil && first == nil {
			first = err
		}
	}
	if err := c.lib.GroupEnd(); err != nil && first == nil {
		first = err
	}
	return first
}

// Bytes is the size of one element.
func (t DataType) Bytes() uintptr {
	if t == Float64 {
		return 8
	}
	return 4
}

// GroupStart opens a group of calls issued together.
func (l *Lib) GroupStart() error { return l.check("ncclGroupStart", l.groupStart()) }

// GroupEnd issues the group.
func (l *Lib) GroupEnd() error { return l.check("ncclGroupEnd", l.groupEnd()) }

// AsyncError reports an error raised by the communicator in the background (a peer gone).
func (c *Comm) AsyncError() error {
	var res int32
	if err := c.lib.check("ncclCommGetAsyncError", c.lib.asyncError(c.handle, &res)); err != nil {
		return err
	}
	return c.lib.check("NCCL communicator", res)
}

// Destroy frees the communicator after its operations finished.
func (c *Comm) Destroy() error { return c.lib.check("ncclCommDestroy", c.lib.commDestroy(c.handle)) }

// Abort frees the communicator at once, cancelling what is in flight (a peer died).
func (c *Comm) Abort() error { return c.lib.check("ncclCommAbort", c.lib.commAbort(c.handle)) }
