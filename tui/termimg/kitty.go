package termimg

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/png"
)

// kittyChunk is the largest base64 payload per kitty graphics escape.
const kittyChunk = 4096

// EncodeKitty encodes img for the kitty graphics protocol: a PNG (f=100),
// base64 encoded and split into 4096-byte chunks, transmitted and displayed
// at the cursor in one go (a=T). q=2 suppresses the terminal's OK/error
// replies, which would otherwise arrive as input to the TUI. Scale img first
// with [Scale]; kitty images stay on screen over text until deleted with
// [KittyDeleteAll].
func EncodeKitty(img image.Image) ([]byte, error) {
	if img == nil {
		return nil, errors.New("termimg: encode kitty: nil image")
	}
	if img.Bounds().Empty() {
		return nil, errors.New("termimg: encode kitty: empty image")
	}
	var pngBuf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&pngBuf, img); err != nil {
		return nil, fmt.Errorf("termimg: encode kitty: png: %w", err)
	}
	data := make([]byte, base64.StdEncoding.EncodedLen(pngBuf.Len()))
	base64.StdEncoding.Encode(data, pngBuf.Bytes())
	nChunks := (len(data) + kittyChunk - 1) / kittyChunk
	out := make([]byte, 0, len(data)+nChunks*16+32)
	for i := 0; i < len(data); i += kittyChunk {
		end := min(i+kittyChunk, len(data))
		more := 0
		if end < len(data) {
			more = 1
		}
		out = append(out, "\x1b_G"...)
		if i == 0 {
			out = append(out, "a=T,f=100,q=2,"...)
		}
		out = fmt.Appendf(out, "m=%d;", more)
		out = append(out, data[i:end]...)
		out = append(out, "\x1b\\"...)
	}
	return out, nil
}

// KittyDeleteAll returns the kitty graphics command that deletes every
// image placement visible on screen (a=d,d=A). Kitty images are drawn over
// the text layer and are not erased when the cells below are redrawn, so
// send it before redrawing an image or leaving an image pane. Wrap it with
// [TmuxWrap] inside tmux.
func KittyDeleteAll() []byte {
	return []byte("\x1b_Ga=d,d=A,q=2\x1b\\")
}
