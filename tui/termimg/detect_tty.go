package termimg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/charmbracelet/x/term"
)

// DetectTerminal runs [Detect] on the controlling terminal: it opens
// /dev/tty (a pollable file, so the read deadline stops reading cleanly),
// puts it in raw mode, asks, and restores the mode. Call it before the TUI
// starts. When there is no terminal (output piped, CI) it returns fallback
// capabilities (blocks, default cell size) and an error saying why; callers
// may ignore that error and use the returned Caps.
func DetectTerminal(ctx context.Context, timeout time.Duration) (Caps, error) {
	fallback := Caps{Cell: DefaultCellSize, Tmux: InTmux()}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return fallback, fmt.Errorf("termimg: open terminal: %w", err)
	}
	defer tty.Close()
	// Never call tty.Fd(): it switches the file to blocking mode, after
	// which read deadlines silently stop working and a silent terminal
	// would block Detect forever. Use the raw descriptor via SyscallConn.
	rc, err := tty.SyscallConn()
	if err != nil {
		return fallback, fmt.Errorf("termimg: terminal descriptor: %w", err)
	}
	var state *term.State
	var rawErr error
	if err := rc.Control(func(fd uintptr) {
		if !term.IsTerminal(fd) {
			rawErr = errors.New("termimg: /dev/tty is not a terminal")
			return
		}
		state, rawErr = term.MakeRaw(fd)
	}); err != nil {
		return fallback, fmt.Errorf("termimg: terminal descriptor: %w", err)
	}
	if rawErr != nil {
		return fallback, fmt.Errorf("termimg: raw mode: %w", rawErr)
	}
	caps, derr := Detect(ctx, tty, tty, timeout)
	var restoreErr error
	if err := rc.Control(func(fd uintptr) { restoreErr = term.Restore(fd, state) }); err != nil && restoreErr == nil {
		restoreErr = err
	}
	if restoreErr != nil && derr == nil {
		derr = fmt.Errorf("termimg: restore terminal mode: %w", restoreErr)
	}
	return caps, derr
}
