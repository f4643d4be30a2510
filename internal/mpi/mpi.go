// Package mpi binds the few MPI calls mdsm needs, loaded at run time from the system's MPI
// library with purego (no cgo), so that one statically built binary runs on any node that
// has MPI and on any machine that has not (single-process runs never load it).
//
// Only Open MPI's ABI is supported (libmpi.so.40, Open MPI 3 to 5): its handles
// (MPI_COMM_WORLD, MPI_FLOAT, ...) are addresses of exported objects, found with dlsym.
// MPICH-family libraries (libmpi.so.12: MPICH, Intel MPI, Cray MPICH) use integer handles
// and are refused with an error that says so.
//
// MPI is not safe for use from several threads at once, and a goroutine moves between
// threads; Lib therefore must be used from one locked OS thread (the dist package runs all
// calls on one such goroutine), and Init must be called on that thread.
package mpi

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// LibEnv names the environment variable that overrides the library path.
const LibEnv = "MDSM_MPI_LIB"

// Candidates are the library names tried, in order, when LibEnv is not set.
var Candidates = []string{"libmpi.so.40", "libmpi.so"}

// ErrNotFound marks a missing MPI library.
var ErrNotFound = errors.New("MPI library not found")

// Lib is a loaded MPI library.
type Lib struct {
	Path    string
	handle  uintptr
	world   uintptr // MPI_COMM_WORLD
	tByte   uintptr
	tInt    uintptr
	tFloat  uintptr
	tDouble uintptr
	opSum   uintptr
	opMax   uintptr
	errRet  uintptr // MPI_ERRORS_RETURN

	initThread   func(argc, argv uintptr, required int32, provided *int32) int32
	finalize     func() int32
	commRank     func(comm uintptr, rank *int32) int32
	commSize     func(comm uintptr, size *int32) int32
	setErrh      func(comm, errh uintptr) int32
	errorString  func(code int32, s *byte, n *int32) int32
	libVersion   func(s *byte, n *int32) int32
	abort        func(comm uintptr, code int32) int32
	barrier      func(comm uintptr) int32
	bcast        func(buf unsafe.Pointer, count int32, dt uintptr, root int32, comm uintptr) int32
	allreduce    func(send, recv unsafe.Pointer, count int32, dt, op, comm uintptr) int32
	allgather    func(send unsafe.Pointer, scount int32, st uintptr, recv unsafe.Pointer, rcount int32, rt, comm uintptr) int32
	alltoall     func(send unsafe.Pointer, scount int32, st uintptr, recv unsafe.Pointer, rcount int32, rt, comm uintptr) int32
	gatherv      func(send unsafe.Pointer, scount int32, st uintptr, recv unsafe.Pointer, rcounts, displs *int32, rt uintptr, root int32, comm uintptr) int32
	finalizedFn  func(flag *int32) int32
	threadFunnel int32
}

// Load opens the MPI library ($MDSM_MPI_LIB, else the first of Candidates that loads) and
// resolves every symbol mdsm uses. It does not initialise MPI.
func Load() (*Lib, error) {
	names := Candidates
	if p := os.Getenv(LibEnv); p != "" {
		names = []string{p}
	}
	var h uintptr
	var tried []string
	var path string
	for _, n := range names {
		// RTLD_GLOBAL: Open MPI's plugins, opened later by the library itself, resolve
		// symbols of libmpi and need them global.
		hh, err := purego.Dlopen(n, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			h, path = hh, n
			break
		}
		tried = append(tried, fmt.Sprintf("%s (%v)", n, err))
	}
	if h == 0 {
		return nil, fmt.Errorf("%w: tried %s. Install Open MPI (Debian/Ubuntu: apt install openmpi-bin, which brings libopenmpi3 with libmpi.so.40; RHEL/Fedora: dnf install openmpi), load your cluster's module (module load openmpi), or point %s at libmpi.so",
			ErrNotFound, strings.Join(tried, "; "), LibEnv)
	}
	l := &Lib{Path: path, handle: h, threadFunnel: 1}
	sym := func(name string) (uintptr, error) {
		p, err := purego.Dlsym(h, name)
		if err != nil {
			return 0, fmt.Errorf("%s has no %s: %w", path, name, err)
		}
		return p, nil
	}
	var err error
	if l.world, err = sym("ompi_mpi_comm_world"); err != nil {
		return nil, fmt.Errorf("%s is not Open MPI (MPICH, Intel MPI and Cray MPICH have another ABI, which mdsm does not support): load Open MPI (module load openmpi) or set %s to Open MPI's libmpi.so.40: %w", path, LibEnv, err)
	}
	for _, s := range []struct {
		dst  *uintptr
		name string
	}{{&l.tByte, "ompi_mpi_byte"}, {&l.tInt, "ompi_mpi_int"}, {&l.tFloat, "ompi_mpi_float"}, {&l.tDouble, "ompi_mpi_double"},
		{&l.opSum, "ompi_mpi_op_sum"}, {&l.opMax, "ompi_mpi_op_max"}, {&l.errRet, "ompi_mpi_errors_return"}} {
		if *s.dst, err = sym(s.name); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		fptr any
		name string
	}{{&l.initThread, "MPI_Init_thread"}, {&l.finalize, "MPI_Finalize"},
		{&l.finalizedFn, "MPI_Finalized"}, {&l.commRank, "MPI_Comm_rank"}, {&l.commSize, "MPI_Comm_size"},
		{&l.setErrh, "MPI_Comm_set_errhandler"}, {&l.errorString, "MPI_Error_string"}, {&l.libVersion, "MPI_Get_library_version"},
		{&l.abort, "MPI_Abort"}, {&l.barrier, "MPI_Barrier"}, {&l.bcast, "MPI_Bcast"}, {&l.allreduce, "MPI_Allreduce"},
		{&l.allgather, "MPI_Allgather"}, {&l.alltoall, "MPI_Alltoall"}, {&l.gatherv, "MPI_Gatherv"}} {
		p, err := sym(f.name)
		if err != nil {
			return nil, err
		}
		purego.RegisterFunc(f.fptr, p)
	}
	return l, nil
}

// Init initialises MPI for use from the calling thread only (MPI_THREAD_FUNNELED) and makes
// errors on MPI_COMM_WORLD return codes instead of aborting, so that a failed collective
// (a peer that died) becomes an error mdsm can report. It returns the rank and world size.
func (l *Lib) Init() (rank, size int, err error) {
	var provided int32
	if rc := l.initThread(0, 0, l.threadFunnel, &provided); rc != 0 {
		return 0, 0, fmt.Errorf("MPI_Init_thread: %s", l.errString(rc))
	}
	if provided < l.threadFunnel {
		return 0, 0, fmt.Errorf("MPI_Init_thread: the library provides thread level %d, mdsm needs MPI_THREAD_FUNNELED (1)", provided)
	}
	if rc := l.setErrh(l.world, l.errRet); rc != 0 {
		return 0, 0, fmt.Errorf("MPI_Comm_set_errhandler: %s", l.errString(rc))
	}
	var r, s int32
	if rc := l.commRank(l.world, &r); rc != 0 {
		return 0, 0, fmt.Errorf("MPI_Comm_rank: %s", l.errString(rc))
	}
	if rc := l.commSize(l.world, &s); rc != 0 {
		return 0, 0, fmt.Errorf("MPI_Comm_size: %s", l.errString(rc))
	}
	return int(r), int(s), nil
}

// Version is MPI_Get_library_version's first line.
func (l *Lib) Version() string {
	buf := make([]byte, 8192) // MPI_MAX_LIBRARY_VERSION_STRING is 256 in Open MPI; be generous
	var n int32
	if l.libVersion(&buf[0], &n) != 0 || n <= 0 || int(n) > len(buf) {
		return "unknown MPI"
	}
	s := string(buf[:n])
	s, _, _ = strings.Cut(s, "\n")
	s, _, _ = strings.Cut(s, ",") // "Open MPI v4.1.4, package: ..."
	return strings.TrimRight(s, "\x00 ,")
}

// errString is MPI_Error_string of a return code.
func (l *Lib) errString(code int32) string {
	buf := make([]byte, 1024) // MPI_MAX_ERROR_STRING is 256 in Open MPI
	var n int32
	if l.errorString(code, &buf[0], &n) != 0 || n <= 0 || int(n) > len(buf) {
		return fmt.Sprintf("MPI error %d", code)
	}
	return fmt.Sprintf("%s (MPI error %d)", strings.TrimRight(string(buf[:n]), "\x00"), code)
}

func (l *Lib) check(what string, rc int32) error {
	if rc != 0 {
		return fmt.Errorf("%s: %s", what, l.errString(rc))
	}
	return nil
}

// Finalize ends MPI (after which no call may be made).
func (l *Lib) Finalize() error {
	var f int32
	if l.finalizedFn(&f) == 0 && f != 0 {
		return nil
	}
	return l.check("MPI_Finalize", l.finalize())
}

// Abort asks the launcher to end every process of the job with code.
func (l *Lib) Abort(code int) { l.abort(l.world, int32(code)) }

// Barrier waits for every rank.
func (l *Lib) Barrier() error { return l.check("MPI_Barrier", l.barrier(l.world)) }

// BcastBytes broadcasts buf from root to every rank (same length everywhere).
func (l *Lib) BcastBytes(buf []byte, root int) error {
	if len(buf) == 0 {
		return nil
	}
	return l.check("MPI_Bcast", l.bcast(unsafe.Pointer(&buf[0]), int32(len(buf)), l.tByte, int32(root), l.world))
}

// BcastInt64 broadcasts v from root.
func (l *Lib) BcastInt64(v *int64, root int) error {
	return l.check("MPI_Bcast", l.bcast(unsafe.Pointer(v), 8, l.tByte, int32(root), l.world))
}

// AllgatherFloat64 gathers len(send) values from every rank into recv (len(send) x size,
// rank order) on every rank.
func (l *Lib) AllgatherFloat64(send, recv []float64) error {
	return l.check("MPI_Allgather", l.allgather(unsafe.Pointer(&send[0]), int32(len(send)), l.tDouble,
		unsafe.Pointer(&recv[0]), int32(len(send)), l.tDouble, l.world))
}

// AllgatherFloat32 is AllgatherFloat64 for float32.
func (l *Lib) AllgatherFloat32(send, recv []float32) error {
	return l.check("MPI_Allgather", l.allgather(unsafe.Pointer(&send[0]), int32(len(send)), l.tFloat,
		unsafe.Pointer(&recv[0]), int32(len(send)), l.tFloat, l.world))
}

// AlltoallFloat32 sends block q of send (len(send)/size values) to rank q and receives
// rank q's block for this rank into block q of recv.
func (l *Lib) AlltoallFloat32(send, recv []float32, size int) error {
	blk := int32(len(send) / size)
	return l.check("MPI_Alltoall", l.alltoall(unsafe.Pointer(&send[0]), blk, l.tFloat, unsafe.Pointer(&recv[0]), blk, l.tFloat, l.world))
}

// AllreduceSumFloat32 sums send over the ranks into recv (the library's order: used only
// for measuring the library's all-reduce, never where results must be reproducible).
func (l *Lib) AllreduceSumFloat32(send, recv []float32) error {
	return l.check("MPI_Allreduce", l.allreduce(unsafe.Pointer(&send[0]), unsafe.Pointer(&recv[0]), int32(len(send)), l.tFloat, l.opSum, l.world))
}

// GathervFloat32 gathers send from every rank into recv on root, rank q's values at
// displs[q] (counts[q] of them); counts and displs matter on root only.
func (l *Lib) GathervFloat32(send, recv []float32, counts, displs []int32, root int) error {
	return l.check("MPI_Gatherv", l.gatherv(ptr32(send), int32(len(send)), l.tFloat, ptr32(recv), &counts[0], &displs[0], l.tFloat, int32(root), l.world))
}

// GathervFloat64 is GathervFloat32 for float64.
func (l *Lib) GathervFloat64(send, recv []float64, counts, displs []int32, root int) error {
	return l.check("MPI_Gatherv", l.gatherv(ptr64(send), int32(len(send)), l.tDouble, ptr64(recv), &counts[0], &displs[0], l.tDouble, int32(root), l.world))
}

// ptr32 is the address of a slice's first element, or nil for an empty slice (a rank that
// sends nothing, or a non-root receive buffer).
func ptr32(s []float32) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(&s[0])
}

func ptr64(s []float64) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(&s[0])
}
