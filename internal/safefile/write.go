package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrExists marks an output that already exists and was not overwritten.
var ErrExists = errors.New("already exists")

// perm is the mode every file is created with; the kernel takes the umask off it.
const perm = 0o666

// checkReplaceable allows path to be replaced when it does not exist or is a regular file.
// A symbolic link is refused (replacing it would surprise whoever made it; writing
// through it would write outside the intended place), as is anything else.
func checkReplaceable(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return Describe(err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: refusing to write through or replace it (remove the link, or choose another path)", path)
	case !fi.Mode().IsRegular():
		var st unix.Stat_t
		mode := uint32(unix.S_IFIFO)
		if unix.Lstat(path, &st) == nil {
			mode = st.Mode
		}
		return notRegular(path, mode)
	}
	return nil
}

// CheckNew reports whether an output may be written at path: it must not exist, unless
// force is set and it is a regular file. Commands check all their outputs with it before
// writing any, so that a refusal leaves nothing half written.
func CheckNew(path string, force bool) error {
	if force {
		return checkReplaceable(path)
	}
	if _, err := os.Lstat(path); err == nil {
		return existsError(path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Describe(err)
	}
	return nil
}

func existsError(path string) error {
	return fmt.Errorf("%s %w: not overwritten (pass --force to replace it, or choose another --out)", path, ErrExists)
}

// createTemp creates ".BASE.tmp-RANDOM" next to path, exclusively and without following
// a link, with mode 0666 minus the umask.
func createTemp(path string) (*os.File, error) {
	dir, base := filepath.Split(path)
	for range 100 {
		name := filepath.Join(dir, fmt.Sprintf(".%s.tmp-%08x", base, rand.Uint32()))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, Describe(err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("write %s: cannot create a temporary file beside it", path)
}

// writeTemp writes, fsyncs and closes a temporary file beside path and returns its name.
func writeTemp(path string, write func(w io.Writer) error) (name string, err error) {
	tmp, err := createTemp(path)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return "", fmt.Errorf("sync %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return "", fmt.Errorf("close %s: %w", path, err)
	}
	return tmp.Name(), nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// WriteAtomic writes a file so that a crash leaves either the old file or the complete new
// one, never a torn one: write calls write on a temporary file ".BASE.tmp-*" beside path,
// which is fsynced and renamed over path, and the directory is fsynced. path may be absent
// or a regular file (replaced); a symbolic link or anything else there is refused. The new
// file has mode 0666 minus the umask. On any error the temporary file is removed and path
// is untouched. This is how run files (config, checkpoints, metrics rewrites, sample grids,
// saved schedules) are written.
func WriteAtomic(path string, write func(w io.Writer) error) error {
	if err := checkReplaceable(path); err != nil {
		return err
	}
	tmp, err := writeTemp(path, write)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// WriteNew writes an output file the way WriteAtomic does, but refuses to replace an
// existing path unless force is set (ErrExists; even a file that appears between the check
// and the write is not overwritten), and with force still refuses a symbolic link or
// anything but a regular file. This is how command outputs (--out) are written.
func WriteNew(path string, force bool, write func(w io.Writer) error) error {
	if err := CheckNew(path, force); err != nil {
		return err
	}
	tmp, err := writeTemp(path, write)
	if err != nil {
		return err
	}
	if force {
		err = os.Rename(tmp, path)
	} else {
		err = renameNoReplace(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			return existsError(path)
		}
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// renameNoReplace renames old to new unless new exists (fs.ErrExist): renameat2 with
// RENAME_NOREPLACE, or where the file system lacks it a hard link and an unlink.
func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if err == nil {
		return nil
	}
	if err == unix.EEXIST {
		return fs.ErrExist
	}
	if err != unix.EINVAL && err != unix.ENOSYS && err != unix.ENOTSUP {
		return err
	}
	if err := os.Link(old, new); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fs.ErrExist
		}
		// no hard links either: check, then rename (the check can race; nothing better)
		if err := CheckNew(new, false); err != nil {
			return fs.ErrExist
		}
		return os.Rename(old, new)
	}
	return os.Remove(old)
}

// OpenAppend opens (creating it with mode 0666 minus the umask) a regular file for
// appending, without following a symbolic link at path and without waiting on a FIFO.
func OpenAppend(path string) (*os.File, error) {
	return openNonblock("open", path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW, perm)
}

// OpenTrunc opens (creating it) a regular file for writing from zero, with the same checks
// as OpenAppend.
func OpenTrunc(path string) (*os.File, error) {
	return openNonblock("open", path, unix.O_WRONLY|unix.O_TRUNC|unix.O_CREAT|unix.O_NOFOLLOW, perm)
}

// OpenLock opens (creating it) a lock file for reading and writing, with the same checks
// as OpenAppend: the caller may truncate it without touching anything outside path.
func OpenLock(path string) (*os.File, error) {
	return openNonblock("open", path, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW, perm)
}
