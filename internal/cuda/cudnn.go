package cuda

import "fmt"

// CuDNN is the bound cuDNN library: the three convolution passes of the engine (forward,
// backward-data, backward-filter) through cuDNN's legacy convolution API, which cuDNN 9
// still exports.
type CuDNN struct {
	Path    string
	Version int // cudnnGetVersion: 10000*major + 100*minor + patch (cuDNN 9)

	cudnnGetVersion                   func() uint64
	cudnnGetErrorString               func(status int32) string
	cudnnCreate                       func(h *uintptr) int32
	cudnnDestroy                      func(h uintptr) int32
	cudnnSetStream                    func(h, s uintptr) int32
	cudnnCreateTensorDescriptor       func(d *uintptr) int32
	cudnnSetTensor4dDescriptor        func(d uintptr, format, dtype, n, c, h, w int32) int32
	cudnnDestroyTensorDescriptor      func(d uintptr) int32
	cudnnCreateFilterDescriptor       func(d *uintptr) int32
	cudnnSetFilter4dDescriptor        func(d uintptr, dtype, format, k, c, h, w int32) int32
	cudnnDestroyFilterDescriptor      func(d uintptr) int32
	cudnnCreateConvolutionDescriptor  func(d *uintptr) int32
	cudnnSetConvolution2dDescriptor   func(d uintptr, padH, padW, u, v, dilH, dilW, mode, dtype int32) int32
	cudnnSetConvolutionMathType       func(d uintptr, math int32) int32
	cudnnDestroyConvolutionDescriptor func(d uintptr) int32
	getFwdAlgo                        func(h, x, w, conv, y uintptr, req int32, n *int32, perf *AlgoPerf) int32
	getBwdDataAlgo                    func(h, w, dy, conv, dx uintptr, req int32, n *int32, perf *AlgoPerf) int32
	getBwdFilterAlgo                  func(h, x, dy, conv, dw uintptr, req int32, n *int32, perf *AlgoPerf) int32
	fwdWorkspace                      func(h, x, w, conv, y uintptr, algo int32, size *uint64) int32
	bwdDataWorkspace                  func(h, w, dy, conv, dx uintptr, algo int32, size *uint64) int32
	bwdFilterWorkspace                func(h, x, dy, conv, dw uintptr, algo int32, size *uint64) int32
	convForward                       func(h uintptr, alpha *float32, xd uintptr, x uint64, wd uintptr, w uint64, conv uintptr, algo int32, ws uint64, wsSize uint64, beta *float32, yd uintptr, y uint64) int32
	convBackwardData                  func(h uintptr, alpha *float32, wd uintptr, w uint64, dyd uintptr, dy uint64, conv uintptr, algo int32, ws uint64, wsSize uint64, beta *float32, dxd uintptr, dx uint64) int32
	convBackwardFilter                func(h uintptr, alpha *float32, xd uintptr, x uint64, dyd uintptr, dy uint64, conv uintptr, algo int32, ws uint64, wsSize uint64, beta *float32, dwd uintptr, dw uint64) int32
}

// AlgoPerf is cuDNN's cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t (all three have
// this layout: 48 bytes on 64-bit Linux).
type AlgoPerf struct {
	Algo        int32
	Status      int32
	Time        float32
	_           int32 // padding before the size_t
	Memory      uint64
	Determinism int32 // 1 = CUDNN_DETERMINISTIC
	MathType    int32
	_           [3]int32
	_           int32 // tail padding to 8-byte alignment
}

// cuDNN enumerations used here.
const (
	cudnnTensorNCHW         = 0
	cudnnDataFloat          = 0
	cudnnCrossCorrelation   = 1
	cudnnDeterministic      = 1
	MathDefault             = 0 // may use TF32 tensor cores for float32
	MathFMA                 = 3 // float32 arithmetic only: no TF32
	cudnnStatusNotSupported = 9
)

// MinCuDNNVersion is cuDNN 9.0.
const MinCuDNNVersion = 90000

// LoadCuDNN finds libcudnn and binds it.
func LoadCuDNN(f *Finder) (*CuDNN, error) {
	h, path, err := f.Find(CuDNNLib)
	if err != nil {
		return nil, err
	}
	return bindCuDNN(h, path)
}

func bindCuDNN(h uintptr, path string) (*CuDNN, error) {
	c := &CuDNN{Path: path}
	b := &binder{lib: CuDNNLib.Name, path: path, h: h}
	b.fn(&c.cudnnGetVersion, "cudnnGetVersion")
	b.fn(&c.cudnnGetErrorString, "cudnnGetErrorString")
	b.fn(&c.cudnnCreate, "cudnnCreate")
	b.fn(&c.cudnnDestroy, "cudnnDestroy")
	b.fn(&c.cudnnSetStream, "cudnnSetStream")
	b.fn(&c.cudnnCreateTensorDescriptor, "cudnnCreateTensorDescriptor")
	b.fn(&c.cudnnSetTensor4dDescriptor, "cudnnSetTensor4dDescriptor")
	b.fn(&c.cudnnDestroyTensorDescriptor, "cudnnDestroyTensorDescriptor")
	b.fn(&c.cudnnCreateFilterDescriptor, "cudnnCreateFilterDescriptor")
	b.fn(&c.cudnnSetFilter4dDescriptor, "cudnnSetFilter4dDescriptor")
	b.fn(&c.cudnnDestroyFilterDescriptor, "cudnnDestroyFilterDescriptor")
	b.fn(&c.cudnnCreateConvolutionDescriptor, "cudnnCreateConvolutionDescriptor")
	b.fn(&c.cudnnSetConvolution2dDescriptor, "cudnnSetConvolution2dDescriptor")
	b.fn(&c.cudnnSetConvolutionMathType, "cudnnSetConvolutionMathType")
	b.fn(&c.cudnnDestroyConvolutionDescriptor, "cudnnDestroyConvolutionDescriptor")
	b.fn(&c.getFwdAlgo, "cudnnGetConvolutionForwardAlgorithm_v7")
	b.fn(&c.getBwdDataAlgo, "cudnnGetConvolutionBackwardDataAlgorithm_v7")
	b.fn(&c.getBwdFilterAlgo, "cudnnGetConvolutionBackwardFilterAlgorithm_v7")
	b.fn(&c.fwdWorkspace, "cudnnGetConvolutionForwardWorkspaceSize")
	b.fn(&c.bwdDataWorkspace, "cudnnGetConvolutionBackwardDataWorkspaceSize")
	b.fn(&c.bwdFilterWorkspace, "cudnnGetConvolutionBackwardFilterWorkspaceSize")
	b.fn(&c.convForward, "cudnnConvolutionForward")
	b.fn(&c.convBackwardData, "cudnnConvolutionBackwardData")
	b.fn(&c.convBackwardFilter, "cudnnConvolutionBackwardFilter")
	if b.err != nil {
		return nil, b.err
	}
	c.Version = int(c.cudnnGetVersion())
	if c.Version < MinCuDNNVersion {
		return nil, fmt.Errorf("%s at %s is version %d, mdsm needs cuDNN 9 or newer: %s", CuDNNLib.Name, path, c.Version, CuDNNLib.Fix)
	}
	return c, nil
}

func (c *CuDNN) check(res int32, call string) error {
	if res == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s (%d)", call, c.cudnnGetErrorString(res), res)
}

// Handle is a cuDNN handle bound to a stream.
type Handle struct {
	L *CuDNN
	h uintptr
}

// NewHandle creates a handle whose work is ordered on stream (call inside Context.Do).
func (c *CuDNN) NewHandle(stream uintptr) (*Handle, error) {
	hd := &Handle{L: c}
	if err := c.check(c.cudnnCreate(&hd.h), "cudnnCreate"); err != nil {
		return nil, err
	}
	if err := c.check(c.cudnnSetStream(hd.h, stream), "cudnnSetStream"); err != nil {
		c.cudnnDestroy(hd.h)
		return nil, err
	}
	return hd, nil
}

// Destroy frees the handle.
func (h *Handle) Destroy() error { return h.L.check(h.L.cudnnDestroy(h.h), "cudnnDestroy") }

// Conv is one convolution shape, NCHW float32: n images of cin x s x s, a cout x cin x k x k
// filter, "same" padding (k = 3: 1, k = 1: 0), stride 1, with a deterministic algorithm
// chosen for each of the three passes.
type Conv struct {
	h                     *Handle
	N, Cin, Cout, S, K    int
	x, y, w, conv         uintptr
	fwd, bwdData, bwdFilt int32
	// Workspace is the largest workspace the three algorithms need, in bytes.
	Workspace int
}

// NewConv describes a convolution and picks, for each pass, the first algorithm of
// cuDNN's heuristic ranking that is deterministic and supported (with tf32 false, among
// float32-arithmetic ones only).
func (h *Handle) NewConv(n, cin, cout, s, k int, tf32 bool) (*Conv, error) {
	L := h.L
	c := &Conv{h: h, N: n, Cin: cin, Cout: cout, S: s, K: k}
	chk := func(res int32, call string) error { return L.check(res, call) }
	if err := chk(L.cudnnCreateTensorDescriptor(&c.x), "cudnnCreateTensorDescriptor"); err != nil {
		return nil, err
	}
	if err := chk(L.cudnnCreateTensorDescriptor(&c.y), "cudnnCreateTensorDescriptor"); err != nil {
		return nil, err
	}
	if err := chk(L.cudnnCreateFilterDescriptor(&c.w), "cudnnCreateFilterDescriptor"); err != nil {
		return nil, err
	}
	if err := chk(L.cudnnCreateConvolutionDescriptor(&c.conv), "cudnnCreateConvolutionDescriptor"); err != nil {
		return nil, err
	}
	pad := int32(k / 2)
	math := int32(MathFMA)
	if tf32 {
		math = MathDefault
	}
	for _, e := range []error{
		chk(L.cudnnSetTensor4dDescriptor(c.x, cudnnTensorNCHW, cudnnDataFloat, int32(n), int32(cin), int32(s), int32(s)), "cudnnSetTensor4dDescriptor"),
		chk(L.cudnnSetTensor4dDescriptor(c.y, cudnnTensorNCHW, cudnnDataFloat, int32(n), int32(cout), int32(s), int32(s)), "cudnnSetTensor4dDescriptor"),
		chk(L.cudnnSetFilter4dDescriptor(c.w, cudnnDataFloat, cudnnTensorNCHW, int32(cout), int32(cin), int32(k), int32(k)), "cudnnSetFilter4dDescriptor"),
		chk(L.cudnnSetConvolution2dDescriptor(c.conv, pad, pad, 1, 1, 1, 1, cudnnCrossCorrelation, cudnnDataFloat), "cudnnSetConvolution2dDescriptor"),
		chk(L.cudnnSetConvolutionMathType(c.conv, math), "cudnnSetConvolutionMathType"),
	} {
		if e != nil {
			c.Destroy()
			return nil, e
		}
	}
	var perf [16]AlgoPerf
	var got int32
	pick := func(what string, res int32) (int32, error) {
		if err := chk(res, what); err != nil {
			return 0, err
		}
		for _, p := range perf[:got] {
			if p.Status == 0 && p.Determinism == cudnnDeterministic && (tf32 || p.MathType != 1 && p.MathType != 2) {
				return p.Algo, nil
			}
		}
		return 0, fmt.Errorf("%s: no deterministic algorithm for a %dx%d convolution of %d images of %dx%dx%d (cuDNN %d offered %d)", what, k, k, n, cin, s, s, L.Version, got)
	}
	var err error
	if c.fwd, err = pick("cudnnGetConvolutionForwardAlgorithm_v7", L.getFwdAlgo(h.h, c.x, c.w, c.conv, c.y, int32(len(perf)), &got, &perf[0])); err != nil {
		c.Destroy()
		return nil, err
	}
	if c.bwdData, err = pick("cudnnGetConvolutionBackwardDataAlgorithm_v7", L.getBwdDataAlgo(h.h, c.w, c.y, c.conv, c.x, int32(len(perf)), &got, &perf[0])); err != nil {
		c.Destroy()
		return nil, err
	}
	if c.bwdFilt, err = pick("cudnnGetConvolutionBackwardFilterAlgorithm_v7", L.getBwdFilterAlgo(h.h, c.x, c.y, c.conv, c.w, int32(len(perf)), &got, &perf[0])); err != nil {
		c.Destroy()
		return nil, err
	}
	var a, b, d uint64
	for _, e := range []error{
		chk(L.fwdWorkspace(h.h, c.x, c.w, c.conv, c.y, c.fwd, &a), "cudnnGetConvolutionForwardWorkspaceSize"),
		chk(L.bwdDataWorkspace(h.h, c.w, c.y, c.conv, c.x, c.bwdData, &b), "cudnnGetConvolutionBackwardDataWorkspaceSize"),
		chk(L.bwdFilterWorkspace(h.h, c.x, c.y, c.conv, c.w, c.bwdFilt, &d), "cudnnGetConvolutionBackwardFilterWorkspaceSize"),
	} {
		if e != nil {
			c.Destroy()
			return nil, e
		}
	}
	c.Workspace = int(max(a, b, d))
	return c, nil
}

// Algorithms reports the chosen algorithm numbers (forward, backward-data, backward-filter).
func (c *Conv) Algorithms() (fwd, bwdData, bwdFilter int) {
	return int(c.fwd), int(c.bwdData), int(c.bwdFilt)
}

// Forward computes y = beta*y + conv(x, w).
func (c *Conv) Forward(x, w, y uint64, beta float32, ws uint64, wsSize int) error {
	one := float32(1)
	return c.h.L.check(c.h.L.convForward(c.h.h, &one, c.x, x, c.w, w, c.conv, c.fwd, ws, uint64(wsSize), &beta, c.y, y), "cudnnConvolutionForward")
}

// BackwardData computes dx = beta*dx + conv^T(dy, w).
func (c *Conv) BackwardData(w, dy, dx uint64, beta float32, ws uint64, wsSize int) error {
	one := float32(1)
	return c.h.L.check(c.h.L.convBackwardData(c.h.h, &one, c.w, w, c.y, dy, c.conv, c.bwdData, ws, uint64(wsSize), &beta, c.x, dx), "cudnnConvolutionBackwardData")
}

// BackwardFilter computes dw = beta*dw + dy (*) x, the weight gradient.
func (c *Conv) BackwardFilter(x, dy, dw uint64, beta float32, ws uint64, wsSize int) error {
	one := float32(1)
	return c.h.L.check(c.h.L.convBackwardFilter(c.h.h, &one, c.x, x, c.y, dy, c.conv, c.bwdFilt, ws, uint64(wsSize), &beta, c.w, dw), "cudnnConvolutionBackwardFilter")
}

// Destroy frees the descriptors.
func (c *Conv) Destroy() {
	L := c.h.L
	if c.x != 0 {
		L.cudnnDestroyTensorDescriptor(c.x)
	}
	if c.y != 0 {
		L.cudnnDestroyTensorDescriptor(c.y)
	}
	if c.w != 0 {
		L.cudnnDestroyFilterDescriptor(c.w)
	}
	if c.conv != 0 {
		L.cudnnDestroyConvolutionDescriptor(c.conv)
	}
}
