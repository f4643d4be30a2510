package data

import (
	"fmt"
	"strings"
)

// FileError reports a problem with one dataset file or folder: which path, what is wrong with
// it, and what the user should do about it. It wraps Kind (ErrCorrupt or ErrNotFound) and the
// underlying cause, so errors.Is works for both.
type FileError struct {
	// Path is the file or folder the problem is about.
	Path string
	// Problem says what is wrong, e.g. "truncated gzip stream".
	Problem string
	// Fix tells the user how to repair it; Load fills in the exact download command.
	Fix string
	// Kind is ErrCorrupt or ErrNotFound.
	Kind error
	// Err is the underlying cause, or nil.
	Err error
}

// Error formats the problem as "read PATH: PROBLEM: CAUSE (fix: FIX)".
func (e *FileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "read %s: %s", e.Path, e.Problem)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Fix != "" {
		fmt.Fprintf(&b, " (fix: %s)", e.Fix)
	}
	return b.String()
}

// Unwrap returns Kind and the cause, so errors.Is(err, ErrCorrupt) and errors.Is(err,
// io.ErrUnexpectedEOF) both work.
func (e *FileError) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// fixRedownload is the generic advice for a damaged file; Load replaces it with the exact
// download command for the dataset.
const fixRedownload = "the file is damaged or is not what its name says; delete it and download it again"

// corruptf builds a FileError of kind ErrCorrupt with the generic re-download advice.
func corruptf(path string, cause error, format string, args ...any) *FileError {
	return &FileError{Path: path, Problem: fmt.Sprintf(format, args...), Fix: fixRedownload, Kind: ErrCorrupt, Err: cause}
}
