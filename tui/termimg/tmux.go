package termimg

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// InTmux reports whether the program runs inside tmux ($TMUX is set), in
// which case image sequences must be wrapped with [TmuxWrap].
func InTmux() bool { return os.Getenv("TMUX") != "" }

// TmuxWrap wraps payload in a tmux passthrough sequence
// (ESC P tmux; payload-with-every-ESC-doubled ESC \) so that tmux forwards it
// to the outer terminal. tmux only does so with `set -g allow-passthrough on`.
// tmux buffers at most about 1 MiB per sequence; kitty payloads are wrapped
// chunk by chunk by [Place] for that reason.
func TmuxWrap(payload []byte) []byte {
	n := bytes.Count(payload, []byte{0x1b})
	out := make([]byte, 0, len(payload)+n+len("\x1bPtmux;")+2)
	out = append(out, "\x1bPtmux;"...)
	for _, c := range payload {
		if c == 0x1b {
			out = append(out, 0x1b)
		}
		out = append(out, c)
	}
	return append(out, 0x1b, '\\')
}

// ForTmux wraps seq in tmux passthrough when inTmux, else returns it as it is: for
// sequences meant for the outer terminal (a kitty delete command, say).
func ForTmux(seq []byte, inTmux bool) []byte {
	if inTmux {
		return TmuxWrap(seq)
	}
	return seq
}

// PaneOffset is where a tmux pane's top-left cell is on the outer terminal, 0-based.
type PaneOffset struct{ Row, Col int }

// TmuxPaneOffset asks the tmux server ($TMUX) where this pane ($TMUX_PANE) is on the
// client's terminal: the pane's position in its window, below the status lines when the
// status bar is at the top. It runs the tmux binary; ask again after a resize (panes move).
func TmuxPaneOffset() (PaneOffset, error) {
	if !InTmux() {
		return PaneOffset{}, fmt.Errorf("termimg: not inside tmux ($TMUX is not set)")
	}
	args := []string{"display-message", "-p"}
	if p := os.Getenv("TMUX_PANE"); p != "" {
		args = append(args, "-t", p)
	}
	args = append(args, "#{pane_top} #{pane_left} #{status} #{status-position}")
	out, err := exec.Command("tmux", args...).Output()
	if err != nil {
		return PaneOffset{}, fmt.Errorf("termimg: ask tmux for the pane position: %w", err)
	}
	return parsePaneOffset(string(out))
}

// parsePaneOffset reads "TOP LEFT STATUS POSITION" as tmux formats it (STATUS is on, off
// or a number of lines).
func parsePaneOffset(s string) (PaneOffset, error) {
	f := strings.Fields(s)
	if len(f) != 4 {
		return PaneOffset{}, fmt.Errorf("termimg: tmux pane position %q: want 4 fields", s)
	}
	top, err1 := strconv.Atoi(f[0])
	left, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || top < 0 || left < 0 {
		return PaneOffset{}, fmt.Errorf("termimg: tmux pane position %q", s)
	}
	lines := 0
	switch f[2] {
	case "on":
		lines = 1
	case "off":
	default:
		if n, err := strconv.Atoi(f[2]); err == nil && n > 0 && n < 10 {
			lines = n
		}
	}
	if f[3] == "top" {
		top += lines
	}
	return PaneOffset{Row: top, Col: left}, nil
}
