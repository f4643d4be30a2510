package termimg

import "testing"

func TestPlace(t *testing.T) {
	six := "\x1bP0;0;8q\"1;1;1;1#0;2;0;0;0#0~\x1b\\"
	kit := "\x1b_Ga=T,f=100,q=2,m=1;AAAA\x1b\\\x1b_Gm=0;BBBB\x1b\\"
	tests := []struct {
		name     string
		proto    Protocol
		payload  string
		row, col int
		tmux     bool
		want     string
	}{
		{"sixel", ProtoSixel, six, 0, 0, false, "\x1b7\x1b[1;1H" + six + "\x1b8"},
		{"sixel offset", ProtoSixel, six, 4, 10, false, "\x1b7\x1b[5;11H" + six + "\x1b8"},
		{"sixel tmux", ProtoSixel, six, 2, 3, true, "\x1b7\x1b[3;4H" + string(TmuxWrap([]byte(six))) + "\x1b8"},
		{"kitty tmux per chunk", ProtoKitty, kit, 0, 0, true,
			"\x1b7\x1b[1;1H" + string(TmuxWrap([]byte("\x1b_Ga=T,f=100,q=2,m=1;AAAA\x1b\\"))) +
				string(TmuxWrap([]byte("\x1b_Gm=0;BBBB\x1b\\"))) + "\x1b8"},
		{"negative clamps", ProtoKitty, kit, -3, -1, false, "\x1b7\x1b[1;1H" + kit + "\x1b8"},
		{"blocks has nothing", ProtoBlocks, six, 0, 0, false, ""},
		{"empty payload", ProtoSixel, "", 0, 0, false, ""},
	}
	for _, tt := range tests {
		if got := string(Place(tt.proto, []byte(tt.payload), tt.row, tt.col, tt.tmux)); got != tt.want {
			t.Errorf("%s: got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}
