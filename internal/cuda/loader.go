// Package cuda loads NVIDIA's libraries at run time, without cgo or CUDA headers at build
// time, and binds the calls mdsm's GPU engine makes: the driver API (libcuda), NVRTC (run
// time compilation of the engine's kernels), cuDNN (convolutions) and NVML (device
// readings). A binary built with CGO_ENABLED=0 on a machine without CUDA runs on a GPU
// server: the libraries are found there by Find's search order, and their absence is one
// clear error, never a crash.
package cuda

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// LibSpec describes one library: the file names to try, most wanted first, and what to
// tell a person who does not have it.
type LibSpec struct {
	Name  string   // short name for messages: "libcuda (the NVIDIA driver)"
	Files []string // sonames in order of preference: "libcudnn.so.9", "libcudnn.so"
	Fix   string   // how to get it
}

// The libraries mdsm loads.
var (
	DriverLib = LibSpec{Name: "libcuda (the NVIDIA driver)", Files: []string{"libcuda.so.1", "libcuda.so"},
		Fix: "install the NVIDIA driver (it provides libcuda.so.1) or use --device cpu"}
	NVRTCLib = LibSpec{Name: "libnvrtc (CUDA run-time compiler)", Files: []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"},
		Fix: "pip install nvidia-cuda-nvrtc (or a CUDA toolkit), or set MDSM_CUDA_LIBS to the folder holding libnvrtc.so.*"}
	CuDNNLib = LibSpec{Name: "libcudnn (cuDNN 9)", Files: []string{"libcudnn.so.9", "libcudnn.so"},
		Fix: "pip install nvidia-cudnn-cu13 (or nvidia-cudnn-cu12), or set MDSM_CUDA_LIBS to the folder holding libcudnn.so.9"}
	NVMLLib = LibSpec{Name: "libnvidia-ml (NVML)", Files: []string{"libnvidia-ml.so.1", "libnvidia-ml.so"},
		Fix: "it comes with the NVIDIA driver; set MDSM_CUDA_LIBS to its folder if it is elsewhere"}
)

// SearchDirs returns the folders searched for a library, in order, each with where it
// came from:
//
//  1. every folder of MDSM_CUDA_LIBS (colon-separated),
//  2. every folder of LD_LIBRARY_PATH,
//  3. the system library cache (ldconfig -p), as the folders of the files it lists,
//  4. /usr/local/cuda*/lib64 (newest version first),
//  5. the nvidia/*/lib folders of Python environments, where pip's nvidia-* wheels put
//     the libraries: $VIRTUAL_ENV, $CONDA_PREFIX, /opt/*/.venv, ~/.local, /usr/local.
//
// The cache step is done by the caller (it maps file names, not folders); SearchDirs
// lists the rest.
func SearchDirs(env func(string) string) []SearchDir {
	var out []SearchDir
	add := func(from, list string) {
		for _, d := range filepath.SplitList(list) {
			if d != "" {
				out = append(out, SearchDir{Dir: d, From: from})
			}
		}
	}
	add("MDSM_CUDA_LIBS", env("MDSM_CUDA_LIBS"))
	add("LD_LIBRARY_PATH", env("LD_LIBRARY_PATH"))
	cuda, _ := filepath.Glob("/usr/local/cuda*/lib64")
	sort.Sort(sort.Reverse(sort.StringSlice(cuda)))
	for _, d := range cuda {
		out = append(out, SearchDir{Dir: d, From: "/usr/local/cuda*/lib64"})
	}
	var roots []string
	for _, v := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if r := env(v); r != "" {
			roots = append(roots, r)
		}
	}
	venvs, _ := filepath.Glob("/opt/*/.venv")
	roots = append(roots, venvs...)
	if h := env("HOME"); h != "" {
		roots = append(roots, filepath.Join(h, ".local"))
	}
	roots = append(roots, "/usr/local", "/usr")
	for _, r := range roots {
		for _, pat := range []string{"lib/python3*/site-packages/nvidia/*/lib", "lib/python3*/dist-packages/nvidia/*/lib", "lib/python3/dist-packages/nvidia/*/lib"} {
			dirs, _ := filepath.Glob(filepath.Join(r, pat))
			sort.Strings(dirs)
			for _, d := range dirs {
				out = append(out, SearchDir{Dir: d, From: "Python nvidia-* wheels under " + r})
			}
		}
	}
	return out
}

// SearchDir is one folder of the search and the rule that put it there.
type SearchDir struct{ Dir, From string }

// LoadError says that a library could not be loaded: which, where it was looked for, why,
// and the fix. Its message is one line.
type LoadError struct {
	Lib      LibSpec
	Searched []string // the places looked at, in order (folders and "ldconfig -p")
	Cause    string   // the last dlopen error, if a file was found but failed to load
}

func (e *LoadError) Error() string {
	where := strings.Join(e.Searched, ", ")
	if where == "" {
		where = "nowhere (MDSM_CUDA_LIBS and LD_LIBRARY_PATH unset, no library cache, no CUDA folders)"
	}
	msg := fmt.Sprintf("%s not found (looked for %s in %s)", e.Lib.Name, strings.Join(e.Lib.Files, ", "), where)
	if e.Cause != "" {
		msg = fmt.Sprintf("%s could not be loaded: %s (looked in %s)", e.Lib.Name, e.Cause, where)
	}
	return msg + ": " + e.Lib.Fix
}

// Finder locates libraries; its fields are the outside world, replaced in tests.
type Finder struct {
	Env     func(string) string
	Cache   func() map[string]string // soname -> path, from the system library cache
	Open    func(path string) (uintptr, error)
	Exists  func(path string) bool
	Verbose func(string) // when set, is told every attempt
}

// DefaultFinder searches the real environment and opens with dlopen.
func DefaultFinder() *Finder {
	return &Finder{Env: os.Getenv, Cache: ldconfigCache, Open: dlopen, Exists: fileExists}
}

func fileExists(p string) bool { st, err := os.Stat(p); return err == nil && !st.IsDir() }

// Find opens the first file of spec found by the search order of SearchDirs, with the
// system library cache between LD_LIBRARY_PATH and /usr/local/cuda. It returns the handle
// and the path it opened.
func (f *Finder) Find(spec LibSpec) (handle uintptr, path string, err error) {
	dirs := SearchDirs(f.Env)
	var searched []string
	cause := ""
	try := func(p string) bool {
		if !f.Exists(p) {
			return false
		}
		h, err := f.Open(p)
		if f.Verbose != nil {
			f.Verbose(fmt.Sprintf("%s: %v", p, err))
		}
		if err != nil {
			cause = fmt.Sprintf("%s: %v", p, err)
			return false
		}
		handle, path = h, p
		return true
	}
	seen := map[string]bool{}
	tryDirs := func(ds []SearchDir) bool {
		for _, d := range ds {
			if seen[d.Dir] {
				continue
			}
			seen[d.Dir] = true
			searched = append(searched, d.Dir)
			for _, name := range spec.Files {
				if try(filepath.Join(d.Dir, name)) {
					return true
				}
			}
		}
		return false
	}
	// MDSM_CUDA_LIBS and LD_LIBRARY_PATH first.
	var first, rest []SearchDir
	for _, d := range dirs {
		if d.From == "MDSM_CUDA_LIBS" || d.From == "LD_LIBRARY_PATH" {
			first = append(first, d)
		} else {
			rest = append(rest, d)
		}
	}
	if tryDirs(first) {
		return handle, path, nil
	}
	if f.Cache != nil {
		searched = append(searched, "the library cache (ldconfig -p)")
		cache := f.Cache()
		for _, name := range spec.Files {
			if p, ok := cache[name]; ok && try(p) {
				return handle, path, nil
			}
		}
	}
	if tryDirs(rest) {
		return handle, path, nil
	}
	return 0, "", &LoadError{Lib: spec, Searched: searched, Cause: cause}
}

// ldconfigCache reads the system library cache through `ldconfig -p` (the same cache
// dlopen consults) and maps each soname of this machine's word size to its path.
func ldconfigCache() map[string]string {
	out := map[string]string{}
	var text []byte
	for _, bin := range []string{"/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"} {
		b, err := exec.Command(bin, "-p").Output()
		if err == nil {
			text = b
			break
		}
	}
	return parseLdconfig(text, out)
}

// parseLdconfig parses `ldconfig -p` lines such as
//
//	libcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1
//
// keeping 64-bit entries (x86-64, AArch64) and the first path of each name.
func parseLdconfig(text []byte, out map[string]string) map[string]string {
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		name, rest, ok := strings.Cut(line, " (")
		if !ok {
			continue
		}
		tags, path, ok := strings.Cut(rest, ") => ")
		if !ok || !(strings.Contains(tags, "x86-64") || strings.Contains(tags, "AArch64") || strings.Contains(tags, "64bit")) {
			continue
		}
		if _, dup := out[name]; !dup {
			out[name] = strings.TrimSpace(path)
		}
	}
	return out
}
