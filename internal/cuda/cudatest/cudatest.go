// Package cudatest builds the fake CUDA libraries (testdata/fakecuda.c: the driver, NVRTC, cuDNN
// and NVML entry points mdsm binds, on host memory) for the tests of the bindings
// (internal/cuda) and of the GPU engine's calls through them (gpu), on machines without
// a GPU.
package cudatest

import (
	_ "embed"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ebitengine/purego"
)

//go:embed testdata/fakecuda.c
var source string

var (
	once sync.Once
	dir  string
	err  error
)

// Libs builds the fake once per test binary with gcc, under every soname mdsm looks for,
// in one folder, and returns the folder (point MDSM_CUDA_LIBS or a Finder at it). It
// skips the test when gcc is missing (MDSM_REQUIRE_GCC=1 makes that a failure).
func Libs(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		gcc, lerr := exec.LookPath("gcc")
		if lerr != nil {
			err = errors.New("gcc not found: the tests build a fake CUDA library with it (apt-get install gcc)")
			return
		}
		if dir, err = os.MkdirTemp("", "mdsm-fakecuda-"); err != nil {
			return
		}
		src := filepath.Join(dir, "fakecuda.c")
		if err = os.WriteFile(src, []byte(source), 0o644); err != nil {
			return
		}
		so := filepath.Join(dir, "libfakecuda.so")
		if out, cerr := exec.Command(gcc, "-shared", "-fPIC", "-O1", "-o", so, src).CombinedOutput(); cerr != nil {
			err = errors.New("build the fake CUDA library: " + cerr.Error() + "\n" + string(out))
			return
		}
		for _, name := range []string{"libcuda.so.1", "libnvrtc.so.13", "libcudnn.so.9", "libnvidia-ml.so.1"} {
			if err = os.Symlink(so, filepath.Join(dir, name)); err != nil {
				return
			}
		}
	})
	if err != nil {
		if os.Getenv("MDSM_REQUIRE_GCC") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return dir
}

// Remove deletes the fake's folder; call it from TestMain after the tests.
func Remove() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// Record is the fake's record of its calls. Among its slots: 2-10 the last kernel
// launch, 11 the capture mode, 13 graph launches, 32 launches recorded while capturing,
// 33 launches of counted kernels, 34 captures begun.
type Record = [40]uint64

// Records returns the live record of the fake in dir.
func Records(t testing.TB, dir string) *Record {
	t.Helper()
	h, err := purego.Dlopen(filepath.Join(dir, "libcuda.so.1"), purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		t.Fatal(err)
	}
	var fn func() *Record
	purego.RegisterLibFunc(&fn, h, "fake_record")
	return fn()
}

// RecordString is the fake's last recorded string (a module image, a program's name).
func RecordString(t testing.TB, dir string) string {
	t.Helper()
	h, err := purego.Dlopen(filepath.Join(dir, "libcuda.so.1"), purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		t.Fatal(err)
	}
	var fn func() string
	purego.RegisterLibFunc(&fn, h, "fake_record_str")
	return fn()
}
