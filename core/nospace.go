package core

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"mdsm/internal/safefile"
)

// isNoSpace reports a full disk or an exceeded file-size or quota limit.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG)
}

// isNotWritable reports a permission problem or a read-only file system.
func isNotWritable(err error) bool {
	return errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// storageError adds to a failed write in run directory dir what went wrong and the fix.
func storageError(err error, dir string) error {
	switch {
	case err == nil:
		return nil
	case isNoSpace(err):
		return fmt.Errorf("%w (the disk, quota or file-size limit of run directory %s is exhausted: free space there and resume with `mdsm train --resume %s`, or copy the run directory to a bigger disk and resume it there; the last good checkpoint is intact)", err, dir, dir)
	case isNotWritable(err):
		return fmt.Errorf("%w (run directory %s is not writable: fix its permissions or mount and resume with `mdsm train --resume %s`, or copy it somewhere writable and resume it there; the last good checkpoint is intact)", err, dir, dir)
	}
	return err
}

// newRunError is storageError for a run that has not started: there is no checkpoint to
// resume from, so the fix is another place for the run.
func newRunError(err error, dir string) error {
	switch {
	case err == nil:
		return nil
	case isNoSpace(err):
		return fmt.Errorf("%w (no room for a new run in %s: free disk space there, or choose a --run-dir on another disk)", err, dir)
	case isNotWritable(err):
		return fmt.Errorf("%w (cannot create the new run directory %s: choose a writable --run-dir, or fix the permissions of its parent)", err, dir)
	case errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EEXIST):
		return fmt.Errorf("%w (a file stands where the run directory %s goes: choose another --run-dir)", err, dir)
	}
	return err
}

// wrapWrite, when set (tests only), wraps the writer of every file a run directory writes:
// the seam through which tests inject a full disk.
var wrapWrite func(path string, w io.Writer) io.Writer

// writeAtomic is safefile.WriteAtomic through the wrapWrite seam.
func writeAtomic(path string, write func(w io.Writer) error) error {
	return safefile.WriteAtomic(path, func(w io.Writer) error {
		if wrapWrite != nil {
			w = wrapWrite(path, w)
		}
		return write(w)
	})
}
