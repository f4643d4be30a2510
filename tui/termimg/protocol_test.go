package termimg

import (
	"strings"
	"testing"
)

func TestParseProtocol(t *testing.T) {
	tests := []struct {
		in      string
		want    Protocol
		wantErr bool
	}{
		{"sixel", ProtoSixel, false},
		{"KITTY", ProtoKitty, false},
		{" blocks ", ProtoBlocks, false},
		{"none", ProtoNone, false},
		{"auto", ProtoAuto, false},
		{"", ProtoNone, true},
		{"iterm", ProtoNone, true},
	}
	for _, tt := range tests {
		got, err := ParseProtocol(tt.in)
		if (err != nil) != tt.wantErr {
			t.Fatalf("ParseProtocol(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "sixel, kitty, blocks, none, auto") {
				t.Errorf("error %q does not list the valid values", err)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("ParseProtocol(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if got.String() != strings.ToLower(strings.TrimSpace(tt.in)) {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		req  Protocol
		caps Caps
		want Protocol
	}{
		{ProtoAuto, Caps{Sixel: true, Kitty: true}, ProtoSixel},
		{ProtoAuto, Caps{Kitty: true}, ProtoKitty},
		{ProtoAuto, Caps{}, ProtoBlocks},
		{ProtoKitty, Caps{Sixel: true}, ProtoKitty},
		{ProtoNone, Caps{Sixel: true}, ProtoNone},
	}
	for _, tt := range tests {
		if got := Resolve(tt.req, tt.caps); got != tt.want {
			t.Errorf("Resolve(%v, %+v) = %v, want %v", tt.req, tt.caps, got, tt.want)
		}
	}
}
