package termimg

import (
	"bytes"
	"os"
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
