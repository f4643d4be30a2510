package termimg

import (
	"bytes"
	"strconv"
)

// Place builds the out-of-band sequence that draws an encoded image with its top-left
// corner at the 0-based cell (row, col) of the program's screen: save cursor (ESC 7),
// move (CSI row+1;col+1 H), the image, restore cursor (ESC 8), so that the renderer's idea
// of the cursor stays right. payload is [EncodeSixel]'s output, or for kitty
// [EncodeKitty]'s transmission of image id (sent first, then shown by [KittyPlacement]).
//
// Inside tmux (tmux true) the image must go through tmux passthrough ([TmuxWrap]), and
// the cursor move must reach the outer terminal with it: a move sent to tmux only moves
// tmux's cursor in the pane, and the image lands wherever tmux last left the outer
// terminal's cursor. With pane (where the pane's top-left cell is on the outer terminal,
// [TmuxPaneOffset]) the move is made in the outer terminal's coordinates inside the same
// passthrough sequence as the sixel image or the kitty placement; a kitty transmission
// goes first, chunk by chunk (tmux buffers at most about 1 MiB per sequence), and shows
// nothing. Without pane the moves go to tmux and only the image is wrapped (the old way,
// right only when tmux has just drawn its cursor there).
//
// ProtoBlocks and ProtoNone have nothing to place (blocks are drawn in the View), so Place
// returns nil for them and for an empty payload. Send the result with tea.Raw(string(seq)).
func Place(proto Protocol, payload []byte, id uint32, row, col int, tmux bool, pane *PaneOffset) []byte {
	if len(payload) == 0 || !proto.IsGraphics() {
		return nil
	}
	row, col = max(row, 0), max(col, 0)
	image := payload
	if proto == ProtoKitty {
		image = KittyPlacement(id)
	}
	var out []byte
	if tmux && proto == ProtoKitty {
		for _, seq := range splitST(payload) {
			out = append(out, TmuxWrap(seq)...)
		}
	} else if proto == ProtoKitty {
		out = append(out, payload...)
	}
	switch {
	case !tmux:
		out = append(out, positioned(row, col, image)...)
	case pane != nil:
		out = append(out, TmuxWrap(positioned(pane.Row+row, pane.Col+col, image))...)
	default:
		out = append(out, positioned(row, col, TmuxWrap(image))...)
	}
	return out
}

// positioned is seq drawn at the 0-based cell (row, col), the cursor saved and restored.
func positioned(row, col int, seq []byte) []byte {
	out := make([]byte, 0, len(seq)+24)
	out = append(out, "\x1b7\x1b["...)
	out = strconv.AppendInt(out, int64(row+1), 10)
	out = append(out, ';')
	out = strconv.AppendInt(out, int64(col+1), 10)
	out = append(out, 'H')
	out = append(out, seq...)
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
