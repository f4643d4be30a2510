// Package safefile is the one place where mdsm opens files: a checked reader and one
// file-writing policy, so that no hostile path (a FIFO, a device, a symbolic link planted
// where an output goes, a file whose header lies about its size) can hang, crash or trick
// a command.
//
// Reading: Open and ReadFile accept only regular files (following symbolic links, which is
// harmless for reading) and never block on a FIFO; ReadFile refuses a file larger than the
// caller's limit before reading it; ReadImage checks an image's declared size before
// decoding it. Every error names the path and says what is wrong with it.
//
// Writing: no function here follows a symbolic link at the last component of a path it
// creates, truncates or appends to (O_NOFOLLOW, Lstat); every file is created with mode
// 0666 minus the umask, atomically written ones included; WriteAtomic replaces a regular
// file of the program's own (run files), WriteNew refuses to overwrite an existing output
// unless told to (--force).
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// ErrNotRegular marks a path that exists but is not a regular file (a FIFO, a device, a
// socket or a directory where a file was expected).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge marks a file larger than its kind of file may be.
var ErrTooLarge = errors.New("file too large")

// kind names the type of a non-regular file for messages.
func kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "a named pipe (FIFO)"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symbolic link"
	}
	return "a special file"
}

// notRegular is the error for a path of the wrong type.
func notRegular(path string, mode uint32) error {
	return fmt.Errorf("%s is %s: %w (give the path of a regular file)", path, kind(mode), ErrNotRegular)
}

// pathError wraps a system call error on path as an *os.PathError (so errors.Is(err,
// fs.ErrNotExist) works) and adds the fix where the bare error is unclear.
func pathError(op, path string, errno error) error {
	pe := &os.PathError{Op: op, Path: path, Err: errno}
	if errors.Is(errno, unix.ELOOP) {
		return fmt.Errorf("%w (a symbolic link loop, or a link where none may be: fix or remove the link)", pe)
	}
	return pe
}

// Describe rewords an error of the os package about path (a failed Stat, Open or ReadDir)
// so that a symbolic link loop says so instead of reading like a missing file. Other
// errors are returned as they are.
func Describe(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.ELOOP) {
		return fmt.Errorf("%w (a symbolic link loop: fix or remove the link)", err)
	}
	return err
}

// openNonblock opens path with flags plus O_NONBLOCK|O_CLOEXEC (so that opening a FIFO
// never waits for the other end), checks with fstat that it is a regular file, and clears
// O_NONBLOCK again.
func openNonblock(op, path string, flags int, perm uint32) (*os.File, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, flags|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, perm)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		if err == unix.ENXIO { // a FIFO opened for writing without a reader
			return nil, fmt.Errorf("%s is a named pipe (FIFO): %w (give the path of a regular file)", path, ErrNotRegular)
		}
		if err == unix.ELOOP && flags&unix.O_NOFOLLOW != 0 {
			if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return nil, fmt.Errorf("%s is a symbolic link: refusing to write through it (remove the link, or choose another path)", path)
			}
		}
		return nil, pathError(op, path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, pathError("stat", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, notRegular(path, st.Mode)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, pathError(op, path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Open opens a regular file for reading. A FIFO, device, socket or directory is refused
// at once (never waited on) with an error naming path; a symbolic link loop says so.
func Open(path string) (*os.File, os.FileInfo, error) {
	f, err := openNonblock("open", path, unix.O_RDONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("stat %s: %w", path, err)
	}
	return f, fi, nil
}

// ReadFile reads a whole regular file of at most limit bytes; what names the kind of file
// for the error ("run config", "schedule"). A larger file is refused before anything is
// read, so a wrong path (a disk image, a dataset) costs no memory.
func ReadFile(path, what string, limit int64) ([]byte, error) {
	f, fi, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than a %s may be (%d): %w (is it the right file?)", path, fi.Size(), what, limit, ErrTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s grew past %d bytes while being read: %w", path, limit, ErrTooLarge)
	}
	return b, nil
}

// CheckRegular returns the file info of path if it is a regular file (following symbolic
// links), and otherwise an error naming it.
func CheckRegular(path string) (os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, Describe(err)
	}
	if !fi.Mode().IsRegular() {
		var st unix.Stat_t
		mode := uint32(unix.S_IFIFO)
		if unix.Stat(path, &st) == nil {
			mode = st.Mode
		}
		return nil, notRegular(path, mode)
	}
	return fi, nil
}
