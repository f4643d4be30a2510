package termimg

import (
	"bytes"
	"context"
	"io"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseReplies(t *testing.T) {
	tests := []struct {
		name      string
		reply     string
		sixel     bool
		kitty     bool
		da1       []int
		cell      CellSize
		cellKnown bool
	}{
		{name: "xterm vt340 with sixel", reply: "\x1b[?62;4;9;22c", sixel: true, da1: []int{62, 4, 9, 22}, cell: DefaultCellSize},
		{name: "vt420 without sixel", reply: "\x1b[?64;1;2;6;9;15;18;21;22c", da1: []int{64, 1, 2, 6, 9, 15, 18, 21, 22}, cell: DefaultCellSize},
		{name: "14 is not 4", reply: "\x1b[?1;2;14c", da1: []int{1, 2, 14}, cell: DefaultCellSize},
		{name: "kitty OK then DA1", reply: "\x1b_Gi=31;OK\x1b\\\x1b[?62;c", kitty: true, da1: []int{62, 0}, cell: DefaultCellSize},
		{name: "kitty error", reply: "\x1b_Gi=31;ENOTSUPPORTED:nope\x1b\\\x1b[?62c", da1: []int{62}, cell: DefaultCellSize},
		{name: "kitty OK for another id", reply: "\x1b_Gi=7;OK\x1b\\\x1b[?62c", da1: []int{62}, cell: DefaultCellSize},
		{
			name:  "cell size 16t",
			reply: "\x1b[6;17;8t\x1b[4;680;960t\x1b[8;40;120t\x1b[?63;1;2;4;6;9;15;22c",
			sixel: true, da1: []int{63, 1, 2, 4, 6, 9, 15, 22}, cell: CellSize{W: 8, H: 17}, cellKnown: true,
		},
		{
			name:  "cell size from 14t and 18t",
			reply: "\x1b[4;800;1200t\x1b[8;40;120t\x1b[?62;4c",
			sixel: true, da1: []int{62, 4}, cell: CellSize{W: 10, H: 20}, cellKnown: true,
		},
		{name: "keys typed in between", reply: "abc\x1b[6;20;9tq\x1b[?62;4cx", sixel: true, da1: []int{62, 4}, cell: CellSize{W: 9, H: 20}, cellKnown: true},
		{name: "no reply", reply: "", cell: DefaultCellSize},
		{name: "truncated", reply: "\x1b[?62;4", cell: DefaultCellSize},
		{name: "zero cell size ignored", reply: "\x1b[6;0;0t\x1b[?1c", da1: []int{1}, cell: DefaultCellSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ParseReplies([]byte(tt.reply))
			if c.Sixel != tt.sixel || c.Kitty != tt.kitty {
				t.Errorf("sixel=%t kitty=%t, want %t %t", c.Sixel, c.Kitty, tt.sixel, tt.kitty)
			}
			if !reflect.DeepEqual(c.DA1, tt.da1) {
				t.Errorf("DA1 = %v, want %v", c.DA1, tt.da1)
			}
			if c.Cell != tt.cell || c.CellKnown != tt.cellKnown {
				t.Errorf("cell = %+v known=%t, want %+v %t", c.Cell, c.CellKnown, tt.cell, tt.cellKnown)
			}
		})
	}
}

func TestQueries(t *testing.T) {
	q := string(Queries(false))
	if !strings.HasPrefix(q, QueryKitty) || !strings.HasSuffix(q, QueryDA1) {
		t.Errorf("plain queries %q: want kitty query first and DA1 last", q)
	}
	for _, s := range []string{QueryCellSize, QueryWindowPixels, QueryWindowCells} {
		if !strings.Contains(q, s) {
			t.Errorf("queries lack %q", s)
		}
	}
	tq := string(Queries(true))
	if !strings.HasPrefix(tq, "\x1bPtmux;\x1b\x1b_G") || !strings.HasSuffix(tq, "\x1b\\"+QueryDA1) {
		t.Errorf("tmux queries %q: want passthrough then a plain DA1", tq)
	}
}

// fakeTerm answers queries written to it on the read side of a pipe.
type fakeTerm struct {
	reply  string
	w      io.Writer
	mu     sync.Mutex
	writes bytes.Buffer
}

func (f *fakeTerm) Write(p []byte) (int, error) {
	f.mu.Lock()
	f.writes.Write(p)
	f.mu.Unlock()
	if f.reply != "" {
		go func() { _, _ = io.WriteString(f.w, f.reply) }()
	}
	return len(p), nil
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name    string
		reply   string
		osPipe  bool
		tmux    bool
		want    Protocol
		maxWait time.Duration
	}{
		{name: "sixel io.Pipe", reply: "\x1b[6;16;8t\x1b[?62;4;9;22c", want: ProtoSixel, maxWait: time.Second},
		{name: "kitty os.Pipe", reply: "\x1b_Gi=31;OK\x1b\\\x1b[?62;22c", osPipe: true, want: ProtoKitty, maxWait: time.Second},
		{name: "silent io.Pipe times out", want: ProtoBlocks, maxWait: 2 * time.Second},
		{name: "silent os.Pipe times out", osPipe: true, want: ProtoBlocks, maxWait: 2 * time.Second},
		{name: "tmux two DA1 replies end the wait", reply: "\x1b[?1;2c\x1b[?62;4c", tmux: true, want: ProtoSixel, maxWait: 250 * time.Millisecond},
		{name: "tmux one DA1 waits to the timeout", reply: "\x1b[?1;2;4c", tmux: true, want: ProtoSixel, maxWait: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader
			var w io.Writer
			if tt.osPipe {
				pr, pw, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer pr.Close()
				defer pw.Close()
				r, w = pr, pw
			} else {
				pr, pw := io.Pipe()
				defer pw.Close()
				r, w = pr, pw
			}
			term := &fakeTerm{reply: tt.reply, w: w}
			start := time.Now()
			caps, err := detect(context.Background(), r, term, 300*time.Millisecond, tt.tmux)
			if err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el > tt.maxWait {
				t.Errorf("took %v", el)
			}
			if got := caps.Best(); got != tt.want {
				t.Errorf("Best() = %v, want %v (caps %v)", got, tt.want, caps)
			}
			if caps.Tmux != tt.tmux {
				t.Errorf("Tmux = %t", caps.Tmux)
			}
			term.mu.Lock()
			defer term.mu.Unlock()
			if !bytes.Equal(term.writes.Bytes(), Queries(tt.tmux)) {
				t.Errorf("wrote %q", term.writes.Bytes())
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestDetectWriteError(t *testing.T) {
	caps, err := detect(context.Background(), strings.NewReader(""), failWriter{}, time.Second, false)
	if err == nil || !strings.Contains(err.Error(), "closed pipe") {
		t.Fatalf("err = %v, want wrapped write error", err)
	}
	if caps.Best() != ProtoBlocks || caps.Cell != DefaultCellSize {
		t.Errorf("fallback caps = %v", caps)
	}
}
