package termimg

import "testing"

func TestPlace(t *testing.T) {
	six := "\x1bP0;0;8q\"1;1;1;1#0;2;0;0;0#0~\x1b\\"
	kit := "\x1b_Ga=t,f=100,i=7,q=2,m=1;AAAA\x1b\\\x1b_Gm=0;BBBB\x1b\\"
	show := "\x1b_Ga=p,i=7,C=1,q=2\x1b\\"
	wrap := func(s string) string { return string(TmuxWrap([]byte(s))) }
	pane := &PaneOffset{Row: 10, Col: 40}
	tests := []struct {
		name     string
		proto    Protocol
		payload  string
		row, col int
		tmux     bool
		pane     *PaneOffset
		want     string
	}{
		{"sixel", ProtoSixel, six, 0, 0, false, nil, "\x1b7\x1b[1;1H" + six + "\x1b8"},
		{"sixel offset", ProtoSixel, six, 4, 10, false, nil, "\x1b7\x1b[5;11H" + six + "\x1b8"},
		{"sixel tmux: the move travels with the image, in the outer terminal's cells", ProtoSixel, six, 2, 3, true, pane,
			wrap("\x1b7\x1b[13;44H" + six + "\x1b8")},
		{"sixel tmux without the pane's position", ProtoSixel, six, 2, 3, true, nil, "\x1b7\x1b[3;4H" + wrap(six) + "\x1b8"},
		{"kitty: transmit, then show at the cell", ProtoKitty, kit, 1, 2, false, nil, kit + "\x1b7\x1b[2;3H" + show + "\x1b8"},
		{"kitty tmux: chunks wrapped one by one, the placement with the move", ProtoKitty, kit, 0, 0, true, pane,
			wrap("\x1b_Ga=t,f=100,i=7,q=2,m=1;AAAA\x1b\\") + wrap("\x1b_Gm=0;BBBB\x1b\\") + wrap("\x1b7\x1b[11;41H"+show+"\x1b8")},
		{"negative clamps", ProtoKitty, kit, -3, -1, false, nil, kit + "\x1b7\x1b[1;1H" + show + "\x1b8"},
		{"blocks has nothing", ProtoBlocks, six, 0, 0, false, nil, ""},
		{"empty payload", ProtoSixel, "", 0, 0, false, nil, ""},
	}
	for _, tt := range tests {
		if got := string(Place(tt.proto, []byte(tt.payload), 7, tt.row, tt.col, tt.tmux, tt.pane)); got != tt.want {
			t.Errorf("%s: got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}
