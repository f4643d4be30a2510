package tui

import (
	"fmt"
	"image"
	"strings"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"mdsm/tui/termimg"
)

// picture is an image shown in a pane. id changes whenever the pixels do, so that the
// image is encoded and sent to the terminal only when the picture changes.
type picture struct {
	img image.Image
	id  uint64
}

var pictureIDs atomic.Uint64

func newPicture(img image.Image) picture {
	if img == nil {
		return picture{}
	}
	return picture{img: img, id: pictureIDs.Add(1)}
}

func (p picture) ok() bool { return p.img != nil && !p.img.Bounds().Empty() }

// rect is a cell rectangle: column x, row y, w columns, h rows.
type rect struct{ x, y, w, h int }

// slot is where a pane wants its picture: the picture and its cell rectangle relative to
// the pane's top-left corner.
type slot struct {
	pic picture
	r   rect
}

// placement is a picture at a screen rectangle, drawn out of band.
type placement struct {
	id uint64
	r  rect
}

// imageState is the root model's bookkeeping for the one picture on screen.
type imageState struct {
	proto termimg.Protocol
	caps  termimg.Caps
	cell  termimg.CellSize // what pictures are scaled for (session.cell)

	placed  placement // what is on screen (id 0: nothing)
	pending placement // what is being encoded (id 0: nothing)
	gen     int
	kitty   uint32 // the kitty image id on screen (0: none)
	closed  bool   // the program is quitting: nothing is placed any more

	blocksWant map[blockKey]bool
}

type blockKey struct {
	id   uint64
	w, h int
}

// placeMsg carries an encoded, positioned image sequence back to the UI goroutine.
type placeMsg struct {
	gen   int
	seq   string
	kitty uint32 // the kitty image id it shows (0: sixel)
	err   error
}

// blocksMsg carries a rendered half-block picture.
type blocksMsg struct {
	key blockKey
	s   string
}

// keep stores a half-block rendering if it is still wanted, in the session's cache, which
// holds what blocksWant holds.
func (is *imageState) keep(m blocksMsg, cache map[blockKey]string) map[blockKey]string {
	if !is.blocksWant[m.key] {
		return cache
	}
	if cache == nil || len(cache) >= len(is.blocksWant) {
		next := map[blockKey]string{}
		for k, v := range cache {
			if is.blocksWant[k] {
				next[k] = v
			}
		}
		cache = next
	}
	cache[m.key] = m.s
	return cache
}

// imageBox renders the text for a picture's reserved w x h cells: blank cells for sixel
// and kitty (the image is drawn over them out of band), the cached half-block rendering
// for blocks, or a placeholder wrapped into the box.
func imageBox(s *session, pc picture, w, h int, empty string) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	placeholder := func(text string) string {
		return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center,
			s.st.placeholder.Render(strings.Join(wrap(text, w), "\n")))
	}
	if !pc.ok() {
		return placeholder(empty)
	}
	switch s.proto {
	case termimg.ProtoSixel, termimg.ProtoKitty:
		return blank(w, h)
	case termimg.ProtoBlocks:
		if txt, ok := s.blocks[blockKey{pc.id, w, h}]; ok {
			return txt
		}
		return blank(w, h)
	}
	b := pc.img.Bounds()
	return placeholder(fmt.Sprintf("[%dx%d image: images are off (--images none)]", b.Dx(), b.Dy()))
}

// blank is h lines of w spaces.
func blank(w, h int) string {
	line := strings.Repeat(" ", w)
	lines := make([]string, h)
	for i := range lines {
		lines[i] = line
	}
	return strings.Join(lines, "\n")
}

// sync decides what the terminal needs after an update: half-block renderings to
// compute, a graphics image to clear, encode or place. want is the picture the View
// shows at a screen rectangle (id 0: none). screenRows keeps a margin row.
func (is *imageState) sync(want placement, pic picture, screenRows int) []tea.Cmd {
	if is.closed {
		return nil
	}
	var cmds []tea.Cmd
	switch is.proto {
	case termimg.ProtoBlocks:
		if want.id == 0 {
			return nil
		}
		k := blockKey{want.id, want.r.w, want.r.h}
		if is.blocksWant[k] {
			return nil
		}
		if len(is.blocksWant) > 8 {
			is.blocksWant = nil // the renderings are dropped with it (blocksMsg)
		}
		if is.blocksWant == nil {
			is.blocksWant = map[blockKey]bool{}
		}
		is.blocksWant[k] = true
		img := pic.img
		return []tea.Cmd{func() tea.Msg {
			return blocksMsg{key: k, s: termimg.Blocks(img, k.w, k.h, true)}
		}}
	case termimg.ProtoSixel, termimg.ProtoKitty:
	default:
		return nil
	}
	if want == is.placed && is.pending.id == 0 {
		return nil
	}
	if want == is.pending && want.id != 0 {
		return nil // already on its way
	}
	if is.placed.id != 0 && (want.id == 0 || want.r != is.placed.r) {
		// The old image must go: the renderer only rewrites cells whose text changed, so
		// a full repaint is the way to wipe sixel pixels; kitty images are deleted. A new
		// picture in the same place simply covers the old one (no repaint, no flicker).
		cmds = append(cmds, tea.ClearScreen)
		cmds = append(cmds, is.deleteKitty()...)
		is.placed = placement{}
	}
	is.gen++
	is.pending = want
	if want.id == 0 {
		return cmds
	}
	cmds = append(cmds, encodeCmd(is.gen, is.proto, pic.img, want.r, is.cell, is.caps.Tmux, screenRows))
	return cmds
}

// deleteKitty removes the kitty image on screen, if any (wrapped for tmux: unwrapped, tmux
// takes the command for a window title and kitty never sees it).
func (is *imageState) deleteKitty() []tea.Cmd {
	if is.kitty == 0 {
		return nil
	}
	seq := termimg.ForTmux(termimg.KittyDelete(is.kitty), is.caps.Tmux)
	is.kitty = 0
	return []tea.Cmd{tea.Raw(string(seq))}
}

// invalidate forgets what is on screen (after a resize or a full repaint), so that the
// picture is sent again.
func (is *imageState) invalidate() {
	is.placed = placement{}
	is.pending = placement{}
	is.gen++
}

// hide removes a kitty image while the terminal shows something else (another tmux
// window, which tmux redraws as text: kitty's image layer would stay over it) and forgets
// the placement, so that the picture is sent again when the pane is back.
func (is *imageState) hide() []tea.Cmd {
	cmds := is.deleteKitty()
	is.invalidate()
	return cmds
}

// placeDelay keeps an image from arriving in the same frame as the text it is drawn
// over: bubbletea writes raw output before the frame of the same tick.
const placeDelay = 60 * time.Millisecond

// pixelBox is the pixel box a picture reserved at the screen cell rectangle r is scaled
// to fit (keeping its aspect ratio): r's cells at the given cell size, its height a whole
// number of sixel bands, and never down to the last screen row (an image touching it
// scrolls the screen).
func pixelBox(r rect, cell termimg.CellSize, screenRows int) (wPx, hPx int) {
	rows := termimg.ClampRows(r.y, r.h, screenRows)
	return cell.PixelBox(r.w, rows)
}

// encodeCmd scales and encodes img for the screen cell rectangle r and builds the placing
// sequence, off the UI goroutine.
func encodeCmd(gen int, proto termimg.Protocol, img image.Image, r rect, cell termimg.CellSize, tmux bool, screenRows int) tea.Cmd {
	return func() tea.Msg {
		start := time.Now()
		wpx, hpx := pixelBox(r, cell, screenRows)
		if wpx <= 0 || hpx <= 0 {
			return placeMsg{gen: gen}
		}
		scaled := termimg.Scale(img, wpx, hpx)
		var payload []byte
		var err error
		id := termimg.KittyID(uint64(gen))
		if proto == termimg.ProtoKitty {
			payload, err = termimg.EncodeKitty(scaled, id)
		} else {
			payload, err = termimg.EncodeSixel(scaled)
		}
		if err != nil {
			return placeMsg{gen: gen, err: fmt.Errorf("encode image: %w", err)}
		}
		var pane *termimg.PaneOffset
		if tmux { // asked each time: panes move when the window is split or resized
			if off, err := termimg.TmuxPaneOffset(); err == nil {
				pane = &off
			}
		}
		seq := termimg.Place(proto, payload, id, r.y, r.x, tmux, pane)
		if d := placeDelay - time.Since(start); d > 0 {
			time.Sleep(d)
		}
		m := placeMsg{gen: gen, seq: string(seq)}
		if proto == termimg.ProtoKitty {
			m.kitty = id
		}
		return m
	}
}

// handlePlace applies an encoded image if it is still the one wanted.
func (is *imageState) handlePlace(m placeMsg) tea.Cmd {
	if m.gen != is.gen || is.pending.id == 0 || is.closed {
		return nil
	}
	want := is.pending
	is.pending = placement{}
	if m.err != nil || m.seq == "" {
		return nil
	}
	is.placed = want
	seq := m.seq
	if m.kitty != 0 { // the new image is up, then the old one goes: no blank frame between
		if is.kitty != 0 {
			seq += string(termimg.ForTmux(termimg.KittyDelete(is.kitty), is.caps.Tmux))
		}
		is.kitty = m.kitty
	}
	return tea.Raw(seq)
}
