// Package termimg shows images in a terminal: it detects what the terminal
// can draw (sixel, the kitty graphics protocol, or only text), encodes
// images for each protocol, and builds the escape sequences that place an
// image at a screen cell.
//
// # Why images are placed out of band
//
// A sixel or kitty image printed inside a bubbletea View is corrupted or
// wiped by the cell renderer (verified in a real xterm for bubbletea v1 and
// v2). The working recipe is: leave blank cells for the picture in the
// View, then, a frame or two after that frame is drawn, send the image with
// tea.Raw:
//
//	seq := termimg.Place(proto, payload, id, row, col, caps.Tmux, pane)
//	return m, tea.Raw(string(seq)) // a string: tea.Raw prints with fmt.Sprint
//
// Send it again after every resize or closed overlay, and only when the
// picture changes (a 526 px sixel grid is ~280 KB, which matters over SSH).
// An image whose bottom touches the last screen row scrolls the whole
// screen; [ClampRows] and [CellSize.PixelBox] keep one row of margin.
//
// # Detection
//
// Over SSH only TERM arrives, so capabilities are asked in-band: [Queries]
// builds the request bytes, [ParseReplies] reads the terminal's answers and
// [Detect] does both on a tty that the caller has put in raw mode, before
// the TUI starts. Preference order is sixel, kitty, blocks.
//
// # tmux
//
// tmux 3.3 swallows sixel and kitty graphics. Inside tmux ($TMUX set) the
// image sequences are wrapped in tmux passthrough ([TmuxWrap]), which tmux
// forwards only when the user has enabled it:
//
//	set -g allow-passthrough on
//
// in ~/.tmux.conf (or `tmux set -g allow-passthrough on` in a running
// server). tmux does not move the outer terminal's cursor for a passthrough
// sequence, so the cursor move travels inside the same passthrough sequence
// as the image, in the outer terminal's coordinates: the pane's position
// ([TmuxPaneOffset]) plus the cell. Kitty images live in a layer over the
// text that tmux does not redraw: they are deleted by id with the delete
// command wrapped too ([ForTmux]). Detection sends its queries wrapped too, followed by a
// plain DA1 that tmux answers itself: with passthrough on (verified with
// tmux 3.3a in xterm) the outer terminal's answers come back and sixel is
// detected; with it off only tmux answers and detection falls back to
// blocks, which is right because images would be swallowed anyway. Use
// --images sixel (or kitty) to force a protocol.
package termimg
