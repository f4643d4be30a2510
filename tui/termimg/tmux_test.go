package termimg

import "testing"

func TestTmuxWrap(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "\x1bPtmux;\x1b\\"},
		{"abc", "\x1bPtmux;abc\x1b\\"},
		{"\x1bPq#0!5~\x1b\\", "\x1bPtmux;\x1b\x1bPq#0!5~\x1b\x1b\\\x1b\\"},
		{"\x1b\x1b", "\x1bPtmux;\x1b\x1b\x1b\x1b\x1b\\"},
	}
	for _, tt := range tests {
		if got := string(TmuxWrap([]byte(tt.in))); got != tt.want {
			t.Errorf("TmuxWrap(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPaneOffset(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want PaneOffset
		ok   bool
	}{
		{"0 0 on bottom\n", PaneOffset{0, 0}, true},
		{"0 0 on top\n", PaneOffset{1, 0}, true},
		{"12 81 off top", PaneOffset{12, 81}, true},
		{"3 0 2 top", PaneOffset{5, 0}, true},
		{"3 0 2 bottom", PaneOffset{3, 0}, true},
		{"3 x on top", PaneOffset{}, false},
		{"3 0 on", PaneOffset{}, false},
	} {
		got, err := parsePaneOffset(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%q: %+v, %v", tt.in, got, err)
		}
	}
	if got := string(ForTmux([]byte("x"), false)); got != "x" {
		t.Errorf("ForTmux outside tmux: %q", got)
	}
	if got := string(ForTmux(KittyDeleteAll(), true)); got != string(TmuxWrap(KittyDeleteAll())) {
		t.Errorf("ForTmux inside tmux: %q", got)
	}
}
