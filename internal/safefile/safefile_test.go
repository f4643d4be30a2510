package safefile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// within fails the test if fn does not return within a few seconds (a FIFO that blocks).
func within(t *testing.T, name string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s blocked", name)
		return nil
	}
}

// hostilePaths makes a FIFO, a directory, a symlink to a device and a symlink loop.
func hostilePaths(t *testing.T, dir string) map[string]string {
	t.Helper()
	p := map[string]string{
		"fifo": filepath.Join(dir, "fifo"), "dir": filepath.Join(dir, "sub"),
		"device": filepath.Join(dir, "dev"), "loop": filepath.Join(dir, "loop1"),
	}
	if err := syscall.Mkfifo(p["fifo"], 0o644); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(p["dir"], 0o755)
	os.Symlink("/dev/zero", p["device"])
	os.Symlink(filepath.Join(dir, "loop2"), p["loop"])
	os.Symlink(p["loop"], filepath.Join(dir, "loop2"))
	return p
}

func TestReadRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	for what, path := range hostilePaths(t, dir) {
		for _, rd := range []struct {
			name string
			fn   func() error
		}{
			{"Open", func() error { f, _, err := Open(path); f.Close(); return err }},
			{"ReadFile", func() error { _, err := ReadFile(path, "test file", 1<<20); return err }},
			{"ReadImage", func() error { _, err := ReadImage(path, 0); return err }},
			{"CheckRegular", func() error { _, err := CheckRegular(path); return err }},
		} {
			err := within(t, rd.name+" "+what, rd.fn)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("%s(%s): %v, want an error naming the path", rd.name, what, err)
			}
			if what == "loop" && !strings.Contains(err.Error(), "loop") {
				t.Errorf("%s(symlink loop): %v, want it to say loop", rd.name, err)
			}
			if what != "loop" && !errors.Is(err, ErrNotRegular) {
				t.Errorf("%s(%s): %v, want ErrNotRegular", rd.name, what, err)
			}
		}
	}
}

func TestReadFileLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, make([]byte, 100), 0o644)
	if b, err := ReadFile(path, "test file", 100); err != nil || len(b) != 100 {
		t.Fatalf("100 bytes under a 100-byte limit: %d bytes, %v", len(b), err)
	}
	_, err := ReadFile(path, "test file", 99)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "test file") {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "absent"), "x", 10); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v, want fs.ErrNotExist", err)
	}
}

// TestWritesNeverFollowLinks: every writer refuses a symbolic link at the path, even one
// that dangles, and leaves the link's target untouched.
func TestWritesNeverFollowLinks(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	write := func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }
	for _, wr := range []struct {
		name string
		fn   func(path string) error
	}{
		{"WriteAtomic", func(p string) error { return WriteAtomic(p, write) }},
		{"WriteNew", func(p string) error { return WriteNew(p, false, write) }},
		{"WriteNew force", func(p string) error { return WriteNew(p, true, write) }},
		{"OpenAppend", func(p string) error { f, err := OpenAppend(p); f.Close(); return err }},
		{"OpenLock", func(p string) error { f, err := OpenLock(p); f.Close(); return err }},
	} {
		for _, dangling := range []bool{false, true} {
			os.Remove(victim)
			if !dangling {
				os.WriteFile(victim, []byte("precious"), 0o600)
			}
			link := filepath.Join(dir, "link")
			os.Remove(link)
			os.Symlink(victim, link)
			err := wr.fn(link)
			if err == nil || !strings.Contains(err.Error(), link) {
				t.Errorf("%s through a link (dangling %v): %v, want an error naming it", wr.name, dangling, err)
			}
			b, rerr := os.ReadFile(victim)
			if dangling && rerr == nil {
				t.Errorf("%s created the dangling link's target", wr.name)
			}
			if !dangling && string(b) != "precious" {
				t.Errorf("%s changed the link's target to %q", wr.name, b)
			}
			if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("%s replaced the link", wr.name)
			}
		}
	}
	fifo := filepath.Join(dir, "fifo")
	syscall.Mkfifo(fifo, 0o644)
	for name, fn := range map[string]func() error{
		"OpenAppend":  func() error { f, err := OpenAppend(fifo); f.Close(); return err },
		"OpenLock":    func() error { f, err := OpenLock(fifo); f.Close(); return err },
		"WriteAtomic": func() error { return WriteAtomic(fifo, write) },
		"WriteNew":    func() error { return WriteNew(fifo, true, write) },
	} {
		if err := within(t, name+" FIFO", fn); !errors.Is(err, ErrNotRegular) {
			t.Errorf("%s on a FIFO: %v, want ErrNotRegular", name, err)
		}
	}
}

// TestUmaskHonoured: created files get 0666 minus the umask, atomic ones included.
func TestUmaskHonoured(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	write := func(w io.Writer) error { return nil }
	files := map[string]func(string) error{
		"atomic": func(p string) error { return WriteAtomic(p, write) },
		"new":    func(p string) error { return WriteNew(p, false, write) },
		"append": func(p string) error { f, err := OpenAppend(p); f.Close(); return err },
		"lock":   func(p string) error { f, err := OpenLock(p); f.Close(); return err },
	}
	for name, fn := range files {
		p := filepath.Join(dir, name)
		if err := fn(p); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v under umask 077, want 0600", name, fi.Mode().Perm())
		}
	}
}

func TestWriteNewOverwritePolicy(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.png")
	put := func(s string) func(w io.Writer) error {
		return func(w io.Writer) error { _, err := w.Write([]byte(s)); return err }
	}
	if err := WriteNew(p, false, put("one")); err != nil {
		t.Fatal(err)
	}
	err := WriteNew(p, false, put("two"))
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), p) {
		t.Fatalf("second write without force: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Fatalf("refused write changed the file to %q", b)
	}
	if err := WriteNew(p, true, put("three")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "three" {
		t.Fatalf("forced write: %q", b)
	}
	if err := WriteNew(dir, true, put("x")); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("forced write over a directory: %v", err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(tmps) > 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
}
