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

// MaxKittyID is the largest kitty image id this package uses (ids are 1..MaxKittyID).
const MaxKittyID = 1<<24 - 1

// KittyID maps any number (a picture's generation) to a kitty image id in 1..MaxKittyID.
func KittyID(n uint64) uint32 { return uint32(n%MaxKittyID) + 1 }

// EncodeKitty encodes img for the kitty graphics protocol as image id: a PNG (f=100),
// base64 encoded, split into 4096-byte chunks and transmitted without being shown (a=t).
// [Place] then shows it with [KittyPlacement]; [KittyDelete] removes it. q=2 suppresses the
// terminal's OK/error replies, which would otherwise arrive as input to the TUI. Scale img
// first with [Scale]. Kitty images are drawn over the text and stay on screen until
// deleted.
func EncodeKitty(img image.Image, id uint32) ([]byte, error) {
	if img == nil {
		return nil, errors.New("termimg: encode kitty: nil image")
	}
	if img.Bounds().Empty() {
		return nil, errors.New("termimg: encode kitty: empty image")
	}
	if id == 0 || id > MaxKittyID {
		return nil, fmt.Errorf("termimg: encode kitty: image id %d outside 1..%d", id, MaxKittyID)
	}
	var pngBuf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&pngBuf, img); err != nil {
		return nil, fmt.Errorf("termimg: encode kitty: png: %w", err)
	}
	data := make([]byte, base64.StdEncoding.EncodedLen(pngBuf.Len()))
	base64.StdEncoding.Encode(data, pngBuf.Bytes())
	nChunks := (len(data) + kittyChunk - 1) / kittyChunk
	out := make([]byte, 0, len(data)+nChunks*16+48)
	for i := 0; i < len(data); i += kittyChunk {
		end := min(i+kittyChunk, len(data))
		more := 0
		if end < len(data) {
			more = 1
		}
		out = append(out, "\x1b_G"...)
		if i == 0 {
			out = fmt.Appendf(out, "a=t,f=100,i=%d,q=2,", id)
		}
		out = fmt.Appendf(out, "m=%d;", more)
		out = append(out, data[i:end]...)
		out = append(out, "\x1b\\"...)
	}
	return out, nil
}

// KittyPlacement shows a transmitted image at the cursor (a=p), leaving the cursor where
// it is (C=1).
func KittyPlacement(id uint32) []byte {
	return fmt.Appendf(nil, "\x1b_Ga=p,i=%d,C=1,q=2\x1b\\", id)
}

// KittyDelete removes image id: its placements and its data (a=d,d=I).
func KittyDelete(id uint32) []byte {
	return fmt.Appendf(nil, "\x1b_Ga=d,d=I,i=%d,q=2\x1b\\", id)
}

// KittyDeleteAll returns the kitty graphics command that deletes every image placement
// visible on screen (a=d,d=A). Kitty images are drawn over the text layer and are not
// erased when the cells below are redrawn. Inside tmux wrap it with [ForTmux], or tmux
// takes it for a window title and kitty never sees it.
func KittyDeleteAll() []byte {
	return []byte("\x1b_Ga=d,d=A,q=2\x1b\\")
}
