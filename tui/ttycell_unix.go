//go:build unix

package tui

import (
	"os"

	"golang.org/x/sys/unix"

	"mdsm/tui/termimg"
)

// ttyCellSize is the cell size from the controlling terminal's window size (TIOCGWINSZ:
// ws_xpixel / ws_col, ws_ypixel / ws_row), which xterm, kitty, foot, WezTerm and sshd
// fill in even when the terminal does not answer CSI 16 t. ok is false when no standard
// stream is a terminal or the terminal leaves the pixel size at zero.
func ttyCellSize() (termimg.CellSize, bool) {
	for _, f := range []*os.File{os.Stdout, os.Stdin, os.Stderr} {
		rc, err := f.SyscallConn() // not f.Fd(): that would make the file blocking
		if err != nil {
			continue
		}
		var ws *unix.Winsize
		var werr error
		if err := rc.Control(func(fd uintptr) { ws, werr = unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ) }); err != nil || werr != nil {
			continue
		}
		if ws.Col == 0 || ws.Row == 0 || ws.Xpixel == 0 || ws.Ypixel == 0 {
			return termimg.CellSize{}, false
		}
		return termimg.CellSize{W: int(ws.Xpixel) / int(ws.Col), H: int(ws.Ypixel) / int(ws.Row)}, true
	}
	return termimg.CellSize{}, false
}
