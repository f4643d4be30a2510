package core

import (
	"errors"
	"syscall"
)

// isNoSpace reports a full disk or an exceeded file-size or quota limit.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG)
}
