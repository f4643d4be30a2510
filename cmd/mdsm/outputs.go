package main

import (
	"flag"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mdsm/internal/safefile"
	"mdsm/nn"
	"mdsm/sampling"
)

// The output policy of every command that writes files (sample, denoise, inpaint,
// neighbors, energy): default names carry the date and time, so they never collide; an
// existing file is never overwritten unless --force is given; a symbolic link (or anything
// but a regular file) where an output goes is refused even with --force; all of a
// command's outputs are checked before the first is written; files are written atomically
// with mode 0666 minus the umask (safefile.WriteNew).

// bindForce binds the --force flag of a command that writes outputs.
func bindForce(fs *flag.FlagSet) *bool {
	return fs.Bool("force", false, "overwrite output files that already exist (never a symbolic link)")
}

// stamp is the date-time suffix of default output names.
func stamp() string { return time.Now().Format("20060102-150405") }

// outputPath resolves --out for an output named name by default: "" keeps def; a value
// ending in a slash, or naming an existing directory, puts the default name inside it
// (never a hidden ".png" in it); anything else is the path (or prefix) itself.
func outputPath(out, def string) string {
	if out == "" {
		return def
	}
	if st, err := os.Stat(out); strings.HasSuffix(out, string(filepath.Separator)) || (err == nil && st.IsDir()) {
		return filepath.Join(out, filepath.Base(def))
	}
	return out
}

// checkOutputs refuses the whole set of outputs when any may not be written. It creates
// nothing: a command that fails later leaves no trace.
func checkOutputs(force bool, paths ...string) error {
	for _, p := range paths {
		if err := safefile.CheckNew(p, force); err != nil {
			return err
		}
	}
	return nil
}

// writeOutput writes one output file under the policy above, creating its directory.
func writeOutput(path string, force bool, write func(w io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return fmt.Errorf("create the output directory: %w", safefile.Describe(err))
	}
	return safefile.WriteNew(path, force, write)
}

// writeImageSet writes PREFIX.png (a grid) and PREFIX.npy (the raw float32 images), after
// checking both may be written and that the images are finite numbers.
func writeImageSet(prefix string, imgs []float32, n int, c nn.Config, cols int, force bool) error {
	imgs = imgs[:n*c.Dim()]
	if err := sampling.CheckFinite("images to write", imgs); err != nil {
		return fmt.Errorf("%w: nothing written", err)
	}
	if err := checkOutputs(force, prefix+".png", prefix+".npy"); err != nil {
		return err
	}
	if cols <= 0 {
		cols = gridCols(n)
	}
	grid, err := sampling.Grid(imgs, n, c.InChannels, c.ImageSize, c.ImageSize, cols, 2)
	if err != nil {
		return err
	}
	if err := writeOutput(prefix+".png", force, func(w io.Writer) error { return png.Encode(w, grid) }); err != nil {
		return err
	}
	return writeOutput(prefix+".npy", force, func(w io.Writer) error {
		return sampling.EncodeNPY(w, imgs, []int{n, c.InChannels, c.ImageSize, c.ImageSize})
	})
}

func gridCols(n int) int {
	c := 1
	for c*c < n {
		c++
	}
	return c
}
