package termimg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// Escape sequences used for detection.
const (
	// QueryDA1 asks for the primary device attributes; every terminal answers
	// it, so it is sent last and its reply marks the end of the answers.
	QueryDA1 = "\x1b[c"
	// QueryKitty is a kitty graphics query (a=q) for a 1x1 RGB image with id
	// 31; kitty-capable terminals answer ESC _Gi=31;OK ESC \ before the DA1 reply.
	QueryKitty = "\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
	// QueryCellSize asks for the cell size in pixels (reply ESC [6;H;Wt).
	QueryCellSize = "\x1b[16t"
	// QueryWindowPixels asks for the text area size in pixels (reply ESC [4;H;Wt).
	QueryWindowPixels = "\x1b[14t"
	// QueryWindowCells asks for the text area size in cells (reply ESC [8;rows;colst).
	QueryWindowCells = "\x1b[18t"
)

// DefaultCellSize is used when the terminal does not report its cell size.
var DefaultCellSize = CellSize{W: 10, H: 20}

// Caps is what the terminal reported about itself.
type Caps struct {
	// Sixel is true when a primary device attributes reply contains 4.
	Sixel bool
	// Kitty is true when the kitty graphics query was answered with OK.
	Kitty bool
	// DA1 holds the parameters of the first primary device attributes reply.
	DA1 []int
	// DA1Replies counts the DA1 replies seen (the end-of-answers marker).
	DA1Replies int
	// Cell is the size of one character cell in pixels; DefaultCellSize
	// unless CellKnown.
	Cell CellSize
	// CellKnown is true when Cell came from the terminal (16t, or 14t with 18t).
	CellKnown bool
	// WindowW and WindowH are the text area in pixels (0 when unknown).
	WindowW, WindowH int
	// Cols and Rows are the text area in cells (0 when unknown).
	Cols, Rows int
	// Tmux is true when running inside tmux: sequences need [TmuxWrap].
	Tmux bool
}

// Best returns the preferred protocol the terminal supports: sixel, then
// kitty, then blocks.
func (c Caps) Best() Protocol {
	switch {
	case c.Sixel:
		return ProtoSixel
	case c.Kitty:
		return ProtoKitty
	default:
		return ProtoBlocks
	}
}

// Queries returns the detection request: kitty query, cell size, window
// pixels, window cells, then DA1, so that the DA1 reply tells that every
// other answer (if any) has arrived. Inside tmux the queries are wrapped in
// passthrough and a plain DA1 (answered by tmux itself) ends the request.
func Queries(tmux bool) []byte {
	q := []byte(QueryKitty + QueryCellSize + QueryWindowPixels + QueryWindowCells + QueryDA1)
	if !tmux {
		return q
	}
	return append(TmuxWrap(q), QueryDA1...)
}

// ParseReplies parses the bytes a terminal sent in answer to [Queries] (in
// any order, with unrelated bytes such as typed keys in between) into
// capabilities. Unanswered queries leave their fields at fallback values:
// Cell is DefaultCellSize unless the terminal reported it.
func ParseReplies(b []byte) Caps {
	c := Caps{Cell: DefaultCellSize}
	var cell14 CellSize
	for i := 0; i < len(b); i++ {
		if b[i] != 0x1b || i+1 >= len(b) {
			continue
		}
		switch b[i+1] {
		case '[':
			end, prefix, params, final, ok := parseCSI(b, i+2)
			if !ok {
				continue
			}
			i = end
			switch {
			case final == 'c' && prefix == '?':
				c.DA1Replies++
				if c.DA1 == nil {
					c.DA1 = params
				}
				for _, p := range params {
					if p == 4 {
						c.Sixel = true
					}
				}
			case final == 't' && prefix == 0 && len(params) == 3:
				switch params[0] {
				case 6:
					if params[1] > 0 && params[2] > 0 {
						c.Cell = CellSize{W: params[2], H: params[1]}
						c.CellKnown = true
					}
				case 4:
					c.WindowH, c.WindowW = params[1], params[2]
				case 8:
					c.Rows, c.Cols = params[1], params[2]
				}
			}
		case '_':
			end, body, ok := parseString(b, i+2)
			if !ok {
				continue
			}
			i = end
			if parseKittyOK(body) {
				c.Kitty = true
			}
		}
	}
	if !c.CellKnown && c.WindowW > 0 && c.WindowH > 0 && c.Cols > 0 && c.Rows > 0 {
		cell14 = CellSize{W: c.WindowW / c.Cols, H: c.WindowH / c.Rows}
		if cell14.W > 0 && cell14.H > 0 {
			c.Cell, c.CellKnown = cell14, true
		}
	}
	return c
}

// parseKittyOK reports whether an APC body is the OK answer to QueryKitty.
func parseKittyOK(body []byte) bool {
	if len(body) == 0 || body[0] != 'G' {
		return false
	}
	semi := bytes.IndexByte(body, ';')
	if semi < 0 {
		return false
	}
	keys, msg := body[1:semi], body[semi+1:]
	if !bytes.Equal(msg, []byte("OK")) {
		return false
	}
	for _, kv := range bytes.Split(keys, []byte(",")) {
		if bytes.Equal(kv, []byte("i=31")) {
			return true
		}
	}
	return false
}

// parseCSI parses a CSI sequence whose parameters start at b[i]. It returns
// the index of the final byte, the private prefix byte (or 0), the numeric
// parameters (missing ones are 0) and the final byte.
func parseCSI(b []byte, i int) (end int, prefix byte, params []int, final byte, ok bool) {
	if i < len(b) && b[i] >= '<' && b[i] <= '?' {
		prefix = b[i]
		i++
	}
	cur, have := 0, false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			if cur < 1<<24 {
				cur = cur*10 + int(c-'0')
			}
			have = true
		case c == ';' || c == ':':
			params = append(params, cur)
			cur, have = 0, false
		case c >= 0x40 && c <= 0x7e:
			if have || len(params) > 0 {
				params = append(params, cur)
			}
			return i, prefix, params, c, true
		case c >= 0x20 && c <= 0x2f: // intermediate bytes
		default:
			return i, 0, nil, 0, false
		}
	}
	return 0, 0, nil, 0, false
}

// parseString finds the end of an APC/DCS/OSC string starting at b[i],
// terminated by ST (ESC \) or BEL. It returns the index of the last
// terminator byte and the body.
func parseString(b []byte, i int) (end int, body []byte, ok bool) {
	for j := i; j < len(b); j++ {
		switch b[j] {
		case 0x07:
			return j, b[i:j], true
		case 0x1b:
			if j+1 < len(b) && b[j+1] == '\\' {
				return j + 1, b[i:j], true
			}
		}
	}
	return 0, nil, false
}

// Detect writes [Queries] to out and reads the replies from in until the
// DA1 reply arrives, ctx ends or timeout passes, then parses them. The
// caller must have put the terminal in raw mode (no echo, no line
// buffering) and must call Detect before the TUI starts reading input.
//
// A timeout is not an error: the capabilities seen so far (at worst blocks
// with the default cell size) are returned with a nil error. Only a failed
// write or read is an error.
//
// If in has working read deadlines (an *os.File opened on /dev/tty does,
// as long as nobody called its Fd method, which makes it blocking; os.Stdin
// usually does not) reads stop cleanly at the deadline; [DetectTerminal]
// does this. Otherwise a
// goroutine reads, and when the terminal never answers it stays blocked
// until the next byte (a keystroke, which is then lost) arrives.
func Detect(ctx context.Context, in io.Reader, out io.Writer, timeout time.Duration) (Caps, error) {
	return detect(ctx, in, out, timeout, InTmux())
}

func detect(ctx context.Context, in io.Reader, out io.Writer, timeout time.Duration, tmux bool) (Caps, error) {
	fallback := Caps{Cell: DefaultCellSize, Tmux: tmux}
	if _, err := out.Write(Queries(tmux)); err != nil {
		return fallback, fmt.Errorf("termimg: write terminal queries: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	want := 1
	if tmux {
		want = 2
	}
	buf, err := readReplies(ctx, in, want)
	c := ParseReplies(buf)
	c.Tmux = tmux
	if err != nil {
		return c, fmt.Errorf("termimg: read terminal replies: %w", err)
	}
	return c, nil
}

// deadliner is an input that supports read deadlines (*os.File on a tty).
type deadliner interface {
	SetReadDeadline(t time.Time) error
}

// readReplies collects bytes until ParseReplies sees want DA1 replies or ctx
// ends. Inside tmux, tmux answers its own DA1 at once and the outer
// terminal's answer to the wrapped query comes a round trip later (over SSH,
// tens to hundreds of milliseconds; on a loaded machine, more), so the wait
// for the second reply runs to the timeout rather than to a short grace,
// which proved flaky.
func readReplies(ctx context.Context, in io.Reader, want int) ([]byte, error) {
	var buf []byte
	done := func() bool { return ParseReplies(buf).DA1Replies >= want }
	if d, ok := in.(deadliner); ok {
		if dl, hasDL := ctx.Deadline(); hasDL && d.SetReadDeadline(dl) == nil {
			defer d.SetReadDeadline(time.Time{}) //nolint:errcheck // best effort reset
			return readWithDeadline(ctx, in, &buf, done)
		}
	}
	return readWithGoroutine(ctx, in, &buf, done)
}

func readWithDeadline(ctx context.Context, in io.Reader, buf *[]byte, done func() bool) ([]byte, error) {
	chunk := make([]byte, 1024)
	for {
		n, err := in.Read(chunk)
		*buf = append(*buf, chunk[:n]...)
		if done() {
			return *buf, nil
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.EOF) {
				return *buf, nil
			}
			return *buf, err
		}
		if ctx.Err() != nil {
			return *buf, nil
		}
	}
}

type readResult struct {
	b   []byte
	err error
}

func readWithGoroutine(ctx context.Context, in io.Reader, buf *[]byte, done func() bool) ([]byte, error) {
	ch := make(chan readResult, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		chunk := make([]byte, 1024)
		for {
			n, err := in.Read(chunk)
			r := readResult{b: append([]byte(nil), chunk[:n]...), err: err}
			select {
			case ch <- r:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return *buf, nil
		case r := <-ch:
			*buf = append(*buf, r.b...)
			if done() {
				return *buf, nil
			}
			if r.err != nil {
				if errors.Is(r.err, io.EOF) {
					return *buf, nil
				}
				return *buf, r.err
			}
		}
	}
}

// String summarises c for logs and a --debug line, e.g.
// "sixel=true kitty=false cell=10x20(default) da1=62;4;9 tmux=false".
func (c Caps) String() string {
	cell := fmt.Sprintf("%dx%d", c.Cell.W, c.Cell.H)
	if !c.CellKnown {
		cell += "(default)"
	}
	return fmt.Sprintf("sixel=%t kitty=%t cell=%s da1=%s tmux=%t", c.Sixel, c.Kitty, cell, formatInts(c.DA1), c.Tmux)
}

// formatInts joins v with semicolons, as in a CSI parameter list.
func formatInts(v []int) string {
	var b []byte
	for i, x := range v {
		if i > 0 {
			b = append(b, ';')
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return string(b)
}
