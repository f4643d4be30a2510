package cuda

import (
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"mdsm/internal/osthread"
)

// MinDriverVersion is the oldest driver API (CUDA 12.0, as cuDriverGetVersion reports it)
// mdsm runs on: the one the pip wheels of cuDNN 9 and NVRTC 12 need at least.
const MinDriverVersion = 12000

// Driver is the bound CUDA driver API (libcuda.so.1). Its calls need a current context on
// the calling OS thread (Context.Do).
type Driver struct {
	Path    string
	Version int // cuDriverGetVersion: 1000*major + 10*minor

	cuInit                    func(flags uint32) int32
	cuDriverGetVersion        func(v *int32) int32
	cuGetErrorName            func(res int32, s **byte) int32
	cuGetErrorString          func(res int32, s **byte) int32
	cuDeviceGetCount          func(n *int32) int32
	cuDeviceGet               func(dev *int32, ordinal int32) int32
	cuDeviceGetName           func(name *byte, n int32, dev int32) int32
	cuDeviceGetAttribute      func(v *int32, attr int32, dev int32) int32
	cuDeviceTotalMem          func(b *uint64, dev int32) int32
	cuDeviceGetPCIBusId       func(id *byte, n int32, dev int32) int32
	cuDevicePrimaryCtxRetain  func(ctx *uintptr, dev int32) int32
	cuDevicePrimaryCtxRelease func(dev int32) int32
	cuCtxSetCurrent           func(ctx uintptr) int32
	cuStreamCreate            func(s *uintptr, flags uint32) int32
	cuStreamDestroy           func(s uintptr) int32
	cuStreamSynchronize       func(s uintptr) int32
	cuMemAlloc                func(p *uint64, size uint64) int32
	cuMemFree                 func(p uint64) int32
	cuMemGetInfo              func(free, total *uint64) int32
	cuMemcpyHtoDAsync         func(dst uint64, src unsafe.Pointer, n uint64, s uintptr) int32
	cuMemcpyDtoHAsync         func(dst unsafe.Pointer, src uint64, n uint64, s uintptr) int32
	cuMemcpyDtoDAsync         func(dst, src uint64, n uint64, s uintptr) int32
	cuMemsetD32Async          func(dst uint64, v uint32, n uint64, s uintptr) int32
	cuModuleLoadData          func(m *uintptr, image unsafe.Pointer) int32
	cuModuleUnload            func(m uintptr) int32
	cuModuleGetFunction       func(f *uintptr, m uintptr, name string) int32
	cuLaunchKernel            func(f uintptr, gx, gy, gz, bx, by, bz, shmem uint32, s uintptr, params, extra unsafe.Pointer) int32
	cuStreamBeginCapture      func(s uintptr, mode int32) int32
	cuStreamEndCapture        func(s uintptr, g *uintptr) int32
	cuGraphInstantiate        func(exec *uintptr, g uintptr, flags uint64) int32
	cuGraphLaunch             func(exec uintptr, s uintptr) int32
	cuGraphExecDestroy        func(exec uintptr) int32
	cuGraphDestroy            func(g uintptr) int32
}

// Device attributes read through cuDeviceGetAttribute.
const (
	attrComputeCapabilityMajor = 75
	attrComputeCapabilityMinor = 76
	attrMultiprocessorCount    = 16
)

// LoadDriver finds libcuda, binds it, initialises it and checks its version.
func LoadDriver(f *Finder) (*Driver, error) {
	h, path, err := f.Find(DriverLib)
	if err != nil {
		return nil, err
	}
	return bindDriver(h, path)
}

func bindDriver(h uintptr, path string) (*Driver, error) {
	d := &Driver{Path: path}
	b := &binder{lib: DriverLib.Name, path: path, h: h}
	b.fn(&d.cuInit, "cuInit")
	b.fn(&d.cuDriverGetVersion, "cuDriverGetVersion")
	b.fn(&d.cuGetErrorName, "cuGetErrorName")
	b.fn(&d.cuGetErrorString, "cuGetErrorString")
	b.fn(&d.cuDeviceGetCount, "cuDeviceGetCount")
	b.fn(&d.cuDeviceGet, "cuDeviceGet")
	b.fn(&d.cuDeviceGetName, "cuDeviceGetName")
	b.fn(&d.cuDeviceGetAttribute, "cuDeviceGetAttribute")
	b.fn(&d.cuDeviceTotalMem, "cuDeviceTotalMem_v2")
	b.fn(&d.cuDeviceGetPCIBusId, "cuDeviceGetPCIBusId")
	b.fn(&d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain")
	b.fn(&d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2")
	b.fn(&d.cuCtxSetCurrent, "cuCtxSetCurrent")
	b.fn(&d.cuStreamCreate, "cuStreamCreate")
	b.fn(&d.cuStreamDestroy, "cuStreamDestroy_v2")
	b.fn(&d.cuStreamSynchronize, "cuStreamSynchronize")
	b.fn(&d.cuMemAlloc, "cuMemAlloc_v2")
	b.fn(&d.cuMemFree, "cuMemFree_v2")
	b.fn(&d.cuMemGetInfo, "cuMemGetInfo_v2")
	b.fn(&d.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2")
	b.fn(&d.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2")
	b.fn(&d.cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2")
	b.fn(&d.cuMemsetD32Async, "cuMemsetD32Async")
	b.fn(&d.cuModuleLoadData, "cuModuleLoadData")
	b.fn(&d.cuModuleUnload, "cuModuleUnload")
	b.fn(&d.cuModuleGetFunction, "cuModuleGetFunction")
	b.fn(&d.cuLaunchKernel, "cuLaunchKernel")
	b.fn(&d.cuStreamBeginCapture, "cuStreamBeginCapture_v2")
	b.fn(&d.cuStreamEndCapture, "cuStreamEndCapture")
	b.fn(&d.cuGraphInstantiate, "cuGraphInstantiateWithFlags")
	b.fn(&d.cuGraphLaunch, "cuGraphLaunch")
	b.fn(&d.cuGraphExecDestroy, "cuGraphExecDestroy")
	b.fn(&d.cuGraphDestroy, "cuGraphDestroy")
	if b.err != nil {
		return nil, b.err
	}
	if err := d.check(d.cuInit(0), "cuInit"); err != nil {
		return nil, fmt.Errorf("the NVIDIA driver at %s does not start (no GPU visible, or a driver/kernel-module mismatch): %w", path, err)
	}
	var v int32
	if err := d.check(d.cuDriverGetVersion(&v), "cuDriverGetVersion"); err != nil {
		return nil, err
	}
	d.Version = int(v)
	if d.Version < MinDriverVersion {
		return nil, fmt.Errorf("the NVIDIA driver at %s supports CUDA %s, mdsm needs CUDA %s or newer: update the driver or use --device cpu",
			path, versionString(d.Version), versionString(MinDriverVersion))
	}
	return d, nil
}

func versionString(v int) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }

// Error is a failed CUDA driver call.
type Error struct {
	Call string
	Code int32
	Name string // CUDA_ERROR_OUT_OF_MEMORY ...
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s (%d): %s", e.Call, e.Name, e.Code, e.Msg) }

// ErrOutOfMemory is the driver's CUDA_ERROR_OUT_OF_MEMORY.
const ErrOutOfMemory = 2

func (d *Driver) check(res int32, call string) error {
	if res == 0 {
		return nil
	}
	e := &Error{Call: call, Code: res, Name: "CUDA_ERROR", Msg: "unknown error"}
	var s *byte
	if d.cuGetErrorName != nil && d.cuGetErrorName(res, &s) == 0 && s != nil {
		e.Name = cGoString(s)
	}
	s = nil
	if d.cuGetErrorString != nil && d.cuGetErrorString(res, &s) == 0 && s != nil {
		e.Msg = cGoString(s)
	}
	return e
}

// cGoString copies a C string owned by C (static strings of the libraries).
func cGoString(p *byte) string {
	if p == nil {
		return ""
	}
	var n int
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// DeviceInfo describes one GPU.
type DeviceInfo struct {
	Ordinal      int
	Name         string
	Major, Minor int // compute capability
	SMs          int
	TotalMem     int64
	PCIBusID     string
}

// Arch is the NVRTC architecture of the device, e.g. "sm_90".
func (i DeviceInfo) Arch() string { return fmt.Sprintf("sm_%d%d", i.Major, i.Minor) }

// DeviceCount is the number of GPUs the driver sees.
func (d *Driver) DeviceCount() (int, error) {
	var n int32
	if err := d.check(d.cuDeviceGetCount(&n), "cuDeviceGetCount"); err != nil {
		return 0, err
	}
	return int(n), nil
}

// Device describes GPU ordinal.
func (d *Driver) Device(ordinal int) (DeviceInfo, error) {
	n, err := d.DeviceCount()
	if err != nil {
		return DeviceInfo{}, err
	}
	if ordinal < 0 || ordinal >= n {
		return DeviceInfo{}, fmt.Errorf("no GPU number %d: the driver sees %d GPU(s) (numbered from 0; CUDA_VISIBLE_DEVICES may hide some)", ordinal, n)
	}
	var dev int32
	if err := d.check(d.cuDeviceGet(&dev, int32(ordinal)), "cuDeviceGet"); err != nil {
		return DeviceInfo{}, err
	}
	info := DeviceInfo{Ordinal: ordinal}
	name := make([]byte, 256)
	if err := d.check(d.cuDeviceGetName(&name[0], int32(len(name)), dev), "cuDeviceGetName"); err != nil {
		return info, err
	}
	info.Name = goString(name)
	var v int32
	for _, a := range []struct {
		attr int32
		dst  *int
	}{{attrComputeCapabilityMajor, &info.Major}, {attrComputeCapabilityMinor, &info.Minor}, {attrMultiprocessorCount, &info.SMs}} {
		if err := d.check(d.cuDeviceGetAttribute(&v, a.attr, dev), "cuDeviceGetAttribute"); err != nil {
			return info, err
		}
		*a.dst = int(v)
	}
	var mem uint64
	if err := d.check(d.cuDeviceTotalMem(&mem, dev), "cuDeviceTotalMem"); err != nil {
		return info, err
	}
	info.TotalMem = int64(mem)
	bus := make([]byte, 64)
	if err := d.check(d.cuDeviceGetPCIBusId(&bus[0], int32(len(bus)), dev), "cuDeviceGetPCIBusId"); err != nil {
		return info, err
	}
	info.PCIBusID = goString(bus)
	return info, nil
}

// Context is a GPU's primary context with one stream, bound to one locked OS thread: CUDA
// keeps the current context per thread and Go moves goroutines between threads, so every
// call runs inside Do, on that thread.
type Context struct {
	D      *Driver
	Info   DeviceInfo
	Stream uintptr
	dev    int32
	ctx    uintptr
	thread *osthread.Thread
	closed bool
}

// NewContext retains GPU ordinal's primary context and creates the stream all of mdsm's
// work on it is ordered by.
func NewContext(d *Driver, ordinal int) (*Context, error) {
	info, err := d.Device(ordinal)
	if err != nil {
		return nil, err
	}
	c := &Context{D: d, Info: info}
	c.thread, err = osthread.Start(func() error {
		var dev int32
		err := d.check(d.cuDeviceGet(&dev, int32(ordinal)), "cuDeviceGet")
		if err == nil {
			err = d.check(d.cuDevicePrimaryCtxRetain(&c.ctx, dev), "cuDevicePrimaryCtxRetain")
		}
		if err == nil {
			c.dev = dev
			err = d.check(d.cuCtxSetCurrent(c.ctx), "cuCtxSetCurrent")
		}
		if err == nil {
			err = d.check(d.cuStreamCreate(&c.Stream, 1 /* CU_STREAM_NON_BLOCKING */), "cuStreamCreate")
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open GPU %d (%s): %w", ordinal, info.Name, err)
	}
	return c, nil
}

// Do runs f on the context's thread and returns its error.
func (c *Context) Do(f func() error) error {
	if c.closed {
		return fmt.Errorf("GPU %d: context is closed", c.Info.Ordinal)
	}
	return c.thread.Do(f)
}

// Close destroys the stream, releases the primary context and ends the thread.
func (c *Context) Close() error {
	if c.closed {
		return nil
	}
	err := c.Do(func() error {
		e1 := c.D.check(c.D.cuStreamDestroy(c.Stream), "cuStreamDestroy")
		e2 := c.D.check(c.D.cuDevicePrimaryCtxRelease(c.dev), "cuDevicePrimaryCtxRelease")
		if e1 != nil {
			return e1
		}
		return e2
	})
	c.closed = true
	c.thread.Stop()
	return err
}

// The calls below must run inside Do.

// Alloc allocates n bytes of device memory.
func (c *Context) Alloc(n int) (uint64, error) {
	var p uint64
	if err := c.D.check(c.D.cuMemAlloc(&p, uint64(n)), "cuMemAlloc"); err != nil {
		if e, ok := err.(*Error); ok && e.Code == ErrOutOfMemory {
			free, total, _ := c.MemInfo()
			return 0, fmt.Errorf("GPU %d (%s) is out of memory: %d MiB asked, %d of %d MiB free: use a smaller --batch or --micro-batch: %w",
				c.Info.Ordinal, c.Info.Name, n>>20, free>>20, total>>20, err)
		}
		return 0, err
	}
	return p, nil
}

// Free frees device memory from Alloc.
func (c *Context) Free(p uint64) error { return c.D.check(c.D.cuMemFree(p), "cuMemFree") }

// MemInfo reports the free and total device memory in bytes.
func (c *Context) MemInfo() (free, total int64, err error) {
	var f, t uint64
	err = c.D.check(c.D.cuMemGetInfo(&f, &t), "cuMemGetInfo")
	return int64(f), int64(t), err
}

// Upload copies host floats to device memory, ordered on the stream. The driver copies
// pageable host memory before the call returns, so src may be reused at once.
func (c *Context) Upload(dst uint64, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	var p runtime.Pinner
	p.Pin(&src[0])
	defer p.Unpin()
	return c.D.check(c.D.cuMemcpyHtoDAsync(dst, unsafe.Pointer(&src[0]), uint64(4*len(src)), c.Stream), "cuMemcpyHtoDAsync")
}

// Download copies device floats to host memory and waits for the copy (and everything
// before it on the stream).
func (c *Context) Download(dst []float32, src uint64) error {
	if len(dst) == 0 {
		return nil
	}
	var p runtime.Pinner
	p.Pin(&dst[0])
	defer p.Unpin()
	if err := c.D.check(c.D.cuMemcpyDtoHAsync(unsafe.Pointer(&dst[0]), src, uint64(4*len(dst)), c.Stream), "cuMemcpyDtoHAsync"); err != nil {
		return err
	}
	return c.Sync()
}

// Copy copies n floats between device buffers, ordered on the stream.
func (c *Context) Copy(dst, src uint64, n int) error {
	if n == 0 {
		return nil
	}
	return c.D.check(c.D.cuMemcpyDtoDAsync(dst, src, uint64(4*n), c.Stream), "cuMemcpyDtoDAsync")
}

// Fill sets n floats to v, ordered on the stream.
func (c *Context) Fill(dst uint64, v float32, n int) error {
	if n == 0 {
		return nil
	}
	return c.D.check(c.D.cuMemsetD32Async(dst, math.Float32bits(v), uint64(n), c.Stream), "cuMemsetD32Async")
}

// Sync waits for the stream.
func (c *Context) Sync() error {
	return c.D.check(c.D.cuStreamSynchronize(c.Stream), "cuStreamSynchronize")
}

// Module is loaded GPU code.
type Module struct {
	c *Context
	h uintptr
}

// LoadModule loads a cubin or PTX image.
func (c *Context) LoadModule(image []byte) (*Module, error) {
	img := append(append([]byte(nil), image...), 0) // PTX must be NUL-terminated
	var p runtime.Pinner
	p.Pin(&img[0])
	defer p.Unpin()
	m := &Module{c: c}
	if err := c.D.check(c.D.cuModuleLoadData(&m.h, unsafe.Pointer(&img[0])), "cuModuleLoadData"); err != nil {
		return nil, err
	}
	return m, nil
}

// Function looks up a kernel by its (extern "C") name.
func (m *Module) Function(name string) (Function, error) {
	var f uintptr
	if err := m.c.D.check(m.c.D.cuModuleGetFunction(&f, m.h, name), "cuModuleGetFunction "+name); err != nil {
		return Function{}, err
	}
	return Function{h: f, Name: name}, nil
}

// Unload unloads the module.
func (m *Module) Unload() error { return m.c.D.check(m.c.D.cuModuleUnload(m.h), "cuModuleUnload") }

// Function is a kernel of a loaded module.
type Function struct {
	h    uintptr
	Name string
}

// Dim3 is a grid or block shape.
type Dim3 struct{ X, Y, Z int }

// Launch enqueues kernel f on the stream. Each argument is a uint64 (a device pointer),
// an int32 (or an int that fits one), a uint32, a float32 or a float64, passed as the kernel's parameters in order. The
// parameter values live in one pinned Go array and the driver reads them through an
// array of pointers into it (cuLaunchKernel's void** kernelParams) before returning.
func (c *Context) Launch(f Function, grid, block Dim3, shmem int, args ...any) error {
	vals := make([]uint64, len(args)+1) // +1: never empty
	ptrs := make([]unsafe.Pointer, len(args)+1)
	var p runtime.Pinner
	p.Pin(&vals[0])
	p.Pin(&ptrs[0])
	defer p.Unpin()
	for i, a := range args {
		switch v := a.(type) {
		case uint64:
			vals[i] = v
		case int32:
			*(*int32)(unsafe.Pointer(&vals[i])) = v
		case uint32:
			*(*uint32)(unsafe.Pointer(&vals[i])) = v
		case float32:
			*(*float32)(unsafe.Pointer(&vals[i])) = v
		case float64:
			vals[i] = math.Float64bits(v)
		case int:
			if v != int(int32(v)) {
				return fmt.Errorf("launch %s: argument %d = %d does not fit an int", f.Name, i, v)
			}
			*(*int32)(unsafe.Pointer(&vals[i])) = int32(v)
		default:
			return fmt.Errorf("launch %s: argument %d has type %T (want uint64, int32, uint32, float32, float64 or int)", f.Name, i, a)
		}
		ptrs[i] = unsafe.Pointer(&vals[i])
	}
	g := func(v int) uint32 { return uint32(max(v, 1)) }
	res := c.D.cuLaunchKernel(f.h, g(grid.X), g(grid.Y), g(grid.Z), g(block.X), g(block.Y), g(block.Z), uint32(shmem), c.Stream,
		unsafe.Pointer(&ptrs[0]), nil)
	return c.D.check(res, "cuLaunchKernel "+f.Name)
}

// Graph is a captured sequence of the stream's work, replayed with one launch.
type Graph struct {
	c    *Context
	g    uintptr
	exec uintptr
}

// Capture records what f enqueues on the stream (nothing runs) into a graph.
func (c *Context) Capture(f func() error) (*Graph, error) {
	if err := c.D.check(c.D.cuStreamBeginCapture(c.Stream, 2 /* CU_STREAM_CAPTURE_MODE_RELAXED */), "cuStreamBeginCapture"); err != nil {
		return nil, err
	}
	ferr := f()
	gr := &Graph{c: c}
	err := c.D.check(c.D.cuStreamEndCapture(c.Stream, &gr.g), "cuStreamEndCapture")
	if ferr != nil {
		if gr.g != 0 {
			c.D.cuGraphDestroy(gr.g)
		}
		return nil, ferr
	}
	if err != nil {
		return nil, err
	}
	if err := c.D.check(c.D.cuGraphInstantiate(&gr.exec, gr.g, 0), "cuGraphInstantiateWithFlags"); err != nil {
		c.D.cuGraphDestroy(gr.g)
		return nil, err
	}
	return gr, nil
}

// Launch replays the graph on the stream.
func (g *Graph) Launch() error {
	return g.c.D.check(g.c.D.cuGraphLaunch(g.exec, g.c.Stream), "cuGraphLaunch")
}

// Destroy frees the graph.
func (g *Graph) Destroy() error {
	e1 := g.c.D.check(g.c.D.cuGraphExecDestroy(g.exec), "cuGraphExecDestroy")
	e2 := g.c.D.check(g.c.D.cuGraphDestroy(g.g), "cuGraphDestroy")
	if e1 != nil {
		return e1
	}
	return e2
}
