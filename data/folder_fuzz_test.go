package data

import (
	"bytes"
	"errors"
	"image"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadImageFolder: a folder holding one arbitrary file named like an image reads as
// a valid one-image dataset or fails with an error naming the file, never a panic.
func FuzzReadImageFolder(f *testing.F) {
	f.Add(encodePNG(f, quadrantImage(6, 4)))
	f.Add(encodeJPEG(f, quadrantImage(5, 9)))
	f.Add(encodePNG(f, quadrantImage(1, 1)))
	f.Add(encodePNG(f, quadrantImage(3, 3))[:40])
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add([]byte{0xff, 0xd8, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Headers claiming big images only cost time here (the 64-Mpixel refusal has its
		// own test): keep each input cheap.
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(b)); err == nil && int64(cfg.Width)*int64(cfg.Height) > 1<<20 {
			return
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "img.png")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ds, err := ReadImageFolder(dir, 4, 0)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || fe.Path != path {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if ds.N != 1 || ds.C != 3 || ds.H != 4 || ds.W != 4 {
			t.Fatalf("dataset %dx%dx%dx%d from one image", ds.N, ds.C, ds.H, ds.W)
		}
		if err := ds.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}
