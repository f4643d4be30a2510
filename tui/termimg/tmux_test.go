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
