package cuda

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeWorld is a Finder over a made-up file system: which paths exist and which open.
func fakeWorld(env map[string]string, cache map[string]string, files ...string) (*Finder, *[]string) {
	exists := map[string]bool{}
	for _, f := range files {
		exists[f] = true
	}
	var opened []string
	return &Finder{
		Env:    func(k string) string { return env[k] },
		Cache:  func() map[string]string { return cache },
		Exists: func(p string) bool { return exists[p] },
		Open: func(p string) (uintptr, error) {
			opened = append(opened, p)
			if strings.Contains(p, "broken") {
				return 0, errors.New("wrong ELF class")
			}
			return 1, nil
		},
	}, &opened
}

func TestFindOrder(t *testing.T) {
	cases := []struct {
		name  string
		env   map[string]string
		cache map[string]string
		files []string
		want  string
	}{
		{"MDSM_CUDA_LIBS first", map[string]string{"MDSM_CUDA_LIBS": "/a:/b", "LD_LIBRARY_PATH": "/c"}, map[string]string{"libcudnn.so.9": "/d/libcudnn.so.9"},
			[]string{"/b/libcudnn.so.9", "/c/libcudnn.so.9", "/d/libcudnn.so.9"}, "/b/libcudnn.so.9"},
		{"LD_LIBRARY_PATH before the cache", map[string]string{"LD_LIBRARY_PATH": "/c"}, map[string]string{"libcudnn.so.9": "/d/libcudnn.so.9"},
			[]string{"/c/libcudnn.so.9", "/d/libcudnn.so.9"}, "/c/libcudnn.so.9"},
		{"the cache", nil, map[string]string{"libcudnn.so.9": "/d/libcudnn.so.9"}, []string{"/d/libcudnn.so.9"}, "/d/libcudnn.so.9"},
		{"preferred soname first within a folder", map[string]string{"MDSM_CUDA_LIBS": "/a"}, nil,
			[]string{"/a/libcudnn.so", "/a/libcudnn.so.9"}, "/a/libcudnn.so.9"},
		{"a broken file is skipped", map[string]string{"MDSM_CUDA_LIBS": "/broken:/a"}, nil,
			[]string{"/broken/libcudnn.so.9", "/a/libcudnn.so.9"}, "/a/libcudnn.so.9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := fakeWorld(tc.env, tc.cache, tc.files...)
			_, path, err := f.Find(CuDNNLib)
			if err != nil || path != tc.want {
				t.Fatalf("found %q (%v), want %q", path, err, tc.want)
			}
		})
	}
}

func TestFindPythonWheelsAndCUDAFolders(t *testing.T) {
	// Real folders: a virtual environment with pip's nvidia wheels.
	venv := t.TempDir()
	lib := filepath.Join(venv, "lib", "python3.12", "site-packages", "nvidia", "cu13", "lib")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lib, "libnvrtc.so.13"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VIRTUAL_ENV": venv}
	f := &Finder{Env: func(k string) string { return env[k] }, Exists: fileExists,
		Open: func(string) (uintptr, error) { return 1, nil }}
	_, path, err := f.Find(NVRTCLib)
	if err != nil || path != filepath.Join(lib, "libnvrtc.so.13") {
		t.Fatalf("found %q (%v)", path, err)
	}
	dirs := SearchDirs(func(k string) string { return env[k] })
	found := false
	for _, d := range dirs {
		if d.Dir == lib && strings.Contains(d.From, "Python nvidia-* wheels") {
			found = true
		}
	}
	if !found {
		t.Fatalf("the wheel folder is not among %v", dirs)
	}
}

func TestNotFoundIsOneClearLine(t *testing.T) {
	f, _ := fakeWorld(map[string]string{"MDSM_CUDA_LIBS": "/x", "LD_LIBRARY_PATH": "/y"}, map[string]string{}, "/x/other.so")
	_, _, err := f.Find(CuDNNLib)
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a LoadError", err)
	}
	msg := err.Error()
	for _, want := range []string{"libcudnn (cuDNN 9) not found", "libcudnn.so.9", "/x", "/y", "ldconfig -p", "pip install nvidia-cudnn", "MDSM_CUDA_LIBS"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message is more than one line: %q", msg)
	}

	f, _ = fakeWorld(map[string]string{"MDSM_CUDA_LIBS": "/broken"}, nil, "/broken/libcuda.so.1")
	_, _, err = f.Find(DriverLib)
	if err == nil || !strings.Contains(err.Error(), "could not be loaded: /broken/libcuda.so.1: wrong ELF class") || !strings.Contains(err.Error(), "install the NVIDIA driver") {
		t.Fatalf("broken library: %v", err)
	}
}

func TestRealMachineWithoutDriver(t *testing.T) {
	// On a machine without the NVIDIA driver (CI), the real search must end in a LoadError,
	// never a crash; on a GPU machine it finds the driver.
	_, path, err := DefaultFinder().Find(DriverLib)
	if err == nil {
		t.Logf("driver found at %s", path)
		return
	}
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a LoadError", err)
	}
}

func TestParseLdconfig(t *testing.T) {
	text := `1043 libs found in cache ` + "`/etc/ld.so.cache'" + `
	libcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1
	libcuda.so.1 (libc6) => /usr/lib/i386-linux-gnu/libcuda.so.1
	libcudnn.so.9 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcudnn.so.9
	libcudnn.so.9 (libc6,x86-64) => /opt/other/libcudnn.so.9
	garbage line
`
	got := parseLdconfig([]byte(text), map[string]string{})
	want := map[string]string{"libcuda.so.1": "/usr/lib/x86_64-linux-gnu/libcuda.so.1", "libcudnn.so.9": "/usr/lib/x86_64-linux-gnu/libcudnn.so.9"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s -> %q, want %q", k, got[k], v)
		}
	}
}
