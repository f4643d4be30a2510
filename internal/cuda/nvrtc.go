package cuda

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"mdsm/internal/safefile"
)

// NVRTC is the bound CUDA run-time compiler: mdsm compiles its own kernels (CUDA C source
// embedded in the binary) for the GPU it finds, at start, and caches the result.
type NVRTC struct {
	Path         string
	Major, Minor int

	nvrtcVersion           func(major, minor *int32) int32
	nvrtcGetErrorString    func(res int32) string
	nvrtcCreateProgram     func(prog *uintptr, src string, name string, numHeaders int32, headers, includeNames unsafe.Pointer) int32
	nvrtcCompileProgram    func(prog uintptr, numOptions int32, options unsafe.Pointer) int32
	nvrtcGetProgramLogSize func(prog uintptr, n *uint64) int32
	nvrtcGetProgramLog     func(prog uintptr, log *byte) int32
	nvrtcGetCUBINSize      func(prog uintptr, n *uint64) int32
	nvrtcGetCUBIN          func(prog uintptr, out *byte) int32
	nvrtcDestroyProgram    func(prog *uintptr) int32
}

// LoadNVRTC finds libnvrtc and binds it.
func LoadNVRTC(f *Finder) (*NVRTC, error) {
	h, path, err := f.Find(NVRTCLib)
	if err != nil {
		return nil, err
	}
	return bindNVRTC(h, path)
}

func bindNVRTC(h uintptr, path string) (*NVRTC, error) {
	n := &NVRTC{Path: path}
	b := &binder{lib: NVRTCLib.Name, path: path, h: h}
	b.fn(&n.nvrtcVersion, "nvrtcVersion")
	b.fn(&n.nvrtcGetErrorString, "nvrtcGetErrorString")
	b.fn(&n.nvrtcCreateProgram, "nvrtcCreateProgram")
	b.fn(&n.nvrtcCompileProgram, "nvrtcCompileProgram")
	b.fn(&n.nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize")
	b.fn(&n.nvrtcGetProgramLog, "nvrtcGetProgramLog")
	b.fn(&n.nvrtcGetCUBINSize, "nvrtcGetCUBINSize")
	b.fn(&n.nvrtcGetCUBIN, "nvrtcGetCUBIN")
	b.fn(&n.nvrtcDestroyProgram, "nvrtcDestroyProgram")
	if b.err != nil {
		return nil, b.err
	}
	var ma, mi int32
	if err := n.check(n.nvrtcVersion(&ma, &mi), "nvrtcVersion"); err != nil {
		return nil, err
	}
	n.Major, n.Minor = int(ma), int(mi)
	return n, nil
}

func (n *NVRTC) check(res int32, call string) error {
	if res == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s (%d)", call, n.nvrtcGetErrorString(res), res)
}

// CompileError is a kernel source NVRTC rejected, with its log.
type CompileError struct {
	Name, Log string
	Err       error
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("compile %s: %v:\n%s", e.Name, e.Err, strings.TrimSpace(e.Log))
}

// Compile compiles CUDA C source to a cubin for arch ("sm_90"), with extra options.
func (n *NVRTC) Compile(name, src, arch string, opts ...string) ([]byte, error) {
	var prog uintptr
	if err := n.check(n.nvrtcCreateProgram(&prog, src, name, 0, nil, nil), "nvrtcCreateProgram"); err != nil {
		return nil, err
	}
	defer n.nvrtcDestroyProgram(&prog)
	all := append([]string{"--gpu-architecture=" + arch}, opts...)
	arr, unpin := cstringArray(all)
	res := n.nvrtcCompileProgram(prog, int32(len(all)), arr)
	unpin()
	if res != 0 {
		return nil, &CompileError{Name: name, Log: n.log(prog), Err: n.check(res, "nvrtcCompileProgram")}
	}
	var size uint64
	if err := n.check(n.nvrtcGetCUBINSize(prog, &size), "nvrtcGetCUBINSize"); err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, fmt.Errorf("compile %s: NVRTC produced no cubin for %s", name, arch)
	}
	out := make([]byte, size)
	if err := n.check(n.nvrtcGetCUBIN(prog, &out[0]), "nvrtcGetCUBIN"); err != nil {
		return nil, err
	}
	return out, nil
}

func (n *NVRTC) log(prog uintptr) string {
	var size uint64
	if n.nvrtcGetProgramLogSize(prog, &size) != 0 || size == 0 {
		return ""
	}
	buf := make([]byte, size)
	if n.nvrtcGetProgramLog(prog, &buf[0]) != 0 {
		return ""
	}
	return goString(buf)
}

// CacheDir is where compiled kernels are kept: $MDSM_KERNEL_CACHE, else
// $XDG_CACHE_HOME/mdsm/kernels, else ~/.cache/mdsm/kernels.
func CacheDir() string {
	if d := os.Getenv("MDSM_KERNEL_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "mdsm", "kernels")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "mdsm", "kernels")
	}
	return ""
}

// CacheKey names a compiled kernel by everything that decides its bytes: the source, the
// architecture, the options and the compiler's version.
func CacheKey(src, arch string, nvrtcMajor, nvrtcMinor int, opts ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d.%d\x00%s\x00", arch, nvrtcMajor, nvrtcMinor, strings.Join(opts, "\x00"))
	h.Write([]byte(src))
	return hex.EncodeToString(h.Sum(nil))[:32] + "-" + arch + ".cubin"
}

// CompileCached is Compile with a cache in dir (CacheDir() when empty): a cubin compiled
// once for a source, architecture, options and NVRTC version is read back next time. A
// cache that cannot be written only costs the compile.
func (n *NVRTC) CompileCached(dir, name, src, arch string, opts ...string) (cubin []byte, cached bool, err error) {
	if dir == "" {
		dir = CacheDir()
	}
	path := ""
	if dir != "" {
		path = filepath.Join(dir, CacheKey(src, arch, n.Major, n.Minor, opts...))
		if b, err := safefile.ReadFile(path, "cached kernel", 256<<20); err == nil && len(b) > 0 {
			return b, true, nil
		}
	}
	cubin, err = n.Compile(name, src, arch, opts...)
	if err != nil || path == "" {
		return cubin, false, err
	}
	if os.MkdirAll(dir, 0o777) == nil {
		safefile.WriteAtomic(path, func(w io.Writer) error { _, err := w.Write(cubin); return err })
	}
	return cubin, false, nil
}
