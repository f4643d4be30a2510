package termimg

import (
	"bytes"
	"strconv"
)

// Place builds the out-of-band sequence that draws an encoded image
// (from [EncodeSixel] or [EncodeKitty]) with its top-left corner at the
// 0-based screen cell (row, col): save cursor (ESC 7), move (CSI row+1;col+1
// H), payload, restore cursor (ESC 8). Restoring the cursor leaves the
// renderer's idea of the cursor intact. With tmux the payload is wrapped in
// passthrough (kitty chunk by chunk) while the cursor moves go to tmux,
// which maps pane coordinates to the screen.
//
// ProtoBlocks and ProtoNone have nothing to place (blocks are drawn in the View), so
// Place returns nil for them and for an empty payload. Send the result with
// tea.Raw(string(seq)).
func Place(proto Protocol, payload []byte, row, col int, tmux bool) []byte {
	if len(payload) == 0 || !proto.IsGraphics() {
		return nil
	}
	if row < 0 {
		row = 0
	}
	if col < 0 {
		col = 0
	}
	out := make([]byte, 0, len(payload)+len(payload)/64+32)
	out = append(out, "\x1b7\x1b["...)
	out = strconv.AppendInt(out, int64(row+1), 10)
	out = append(out, ';')
	out = strconv.AppendInt(out, int64(col+1), 10)
	out = append(out, 'H')
	switch {
	case !tmux:
		out = append(out, payload...)
	case proto == ProtoKitty:
		for _, seq := range splitST(payload) {
			out = append(out, TmuxWrap(seq)...)
		}
	default:
		out = append(out, TmuxWrap(payload)...)
	}
	return append(out, "\x1b8"...)
}

// splitST splits a run of escape strings (each ending with ESC \) into
// the individual sequences; trailing bytes without ST form a last piece.
func splitST(b []byte) [][]byte {
	var out [][]byte
	st := []byte("\x1b\\")
	for len(b) > 0 {
		i := bytes.Index(b, st)
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i+2])
		b = b[i+2:]
	}
	return out
}
