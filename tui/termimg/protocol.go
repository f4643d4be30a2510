package termimg

import (
	"fmt"
	"strings"
)

// Protocol is a way of drawing an image in a terminal. The zero value is
// ProtoAuto, meaning "ask the terminal" (see [Resolve]).
type Protocol int

const (
	// ProtoAuto picks the best protocol the terminal reports (sixel, kitty, blocks).
	ProtoAuto Protocol = iota
	// ProtoNone draws no images (panes show a text placeholder).
	ProtoNone
	// ProtoBlocks draws images as Unicode upper half blocks with fg/bg colours:
	// works in every colour terminal, two pixels per cell.
	ProtoBlocks
	// ProtoSixel draws DEC sixel graphics (xterm -ti vt340, mlterm, foot, WezTerm...).
	ProtoSixel
	// ProtoKitty draws with the kitty graphics protocol (kitty, WezTerm, Ghostty).
	ProtoKitty
)

// protocolNames is in flag order; its index is not the Protocol value.
var protocolNames = []struct {
	name string
	p    Protocol
}{
	{"sixel", ProtoSixel}, {"kitty", ProtoKitty}, {"blocks", ProtoBlocks}, {"none", ProtoNone}, {"auto", ProtoAuto},
}

// ProtocolNames lists the values accepted by [ParseProtocol], for help text.
func ProtocolNames() []string {
	out := make([]string, len(protocolNames))
	for i, n := range protocolNames {
		out[i] = n.name
	}
	return out
}

// ParseProtocol parses the value of the --images flag
// (sixel|kitty|blocks|none|auto, case-insensitive). The error lists the
// valid values.
func ParseProtocol(s string) (Protocol, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for _, n := range protocolNames {
		if n.name == t {
			return n.p, nil
		}
	}
	return ProtoNone, fmt.Errorf("termimg: unknown image protocol %q (valid: %s)", s, strings.Join(ProtocolNames(), ", "))
}

// String returns the flag spelling of p.
func (p Protocol) String() string {
	for _, n := range protocolNames {
		if n.p == p {
			return n.name
		}
	}
	return fmt.Sprintf("Protocol(%d)", int(p))
}

// IsGraphics reports whether p draws real pixels out of band (sixel or
// kitty) rather than text in the View.
func (p Protocol) IsGraphics() bool { return p == ProtoSixel || p == ProtoKitty }

// Resolve turns a requested protocol into the one to use: ProtoAuto becomes the
// best protocol in caps, anything else is returned unchanged (an explicit
// choice wins over detection, e.g. inside tmux where detection is unreliable).
func Resolve(requested Protocol, caps Caps) Protocol {
	if requested == ProtoAuto {
		return caps.Best()
	}
	return requested
}
