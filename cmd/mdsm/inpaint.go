package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"mdsm/nn"
	"mdsm/sampling"
)

func init() {
	register(command{name: "inpaint", summary: "complete masked test images by masked annealed Langevin", run: runInpaint})
}

func runInpaint(args []string) error {
	fs := flag.NewFlagSet("mdsm inpaint", flag.ContinueOnError)
	maskSpec := fs.String("mask", "left", "mask of the pixels to fill: center[:size], left, right, top, bottom, random[:frac] or png:PATH (white = fill)")
	n := fs.Int("n", 16, "number of test images")
	offset := fs.Int("offset", 0, "index of the first test image")
	dataName := fs.String("data", "", "test set (default: the run's dataset)")
	dataDir := fs.String("data-dir", "", "directory of downloaded datasets")
	clamp := fs.String("clamp-noise", "sqrt", "noise on clamped pixels: sqrt (sigma0 sqrt(T)), quarter (the reference code's sigma0 T^(1/4)) or none")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "", "output prefix, or a directory ending in / (default RUN_DIR/samples/inpaint-MASK-DATE-TIME)")
	threads := fs.Int("threads", 0, "compute threads")
	force := bindForce(fs)
	bindSkipMemoryCheck(fs)
	sf := bindScheduleFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mdsm inpaint [flags] RUN_DIR|CHECKPOINT.safetensors

Fills the masked pixels of test images: only free pixels follow the Langevin update; the
clamped (known) pixels are fed to the network with noise matching the temperature. Writes a
grid with rows masked input | inpainted | ground truth and prints the masked-region MSE.

Flags:
`)
		fs.PrintDefaults()
	}
	src, err := parseModelCommand(fs, args, threads)
	if err != nil {
		return err
	}
	c := src.params.Config
	if err := positive("n", *n); err != nil {
		return err
	}
	if *offset < 0 {
		return fmt.Errorf("--offset %d: the index of the first test image must be 0 or more", *offset)
	}
	if err := checkSamplingMemory(c, *n, *n, 3**n); err != nil {
		return err
	}
	lc, err := sf.config(src)
	if err != nil {
		return err
	}
	mask, err := sampling.ParseMask(*maskSpec, c.ImageSize, c.ImageSize, *seed)
	if err != nil {
		return fmt.Errorf("--mask: %w", err)
	}
	prefix := src.outputPrefix(*out, "inpaint-"+maskName(*maskSpec))
	if err := checkOutputs(*force, prefix+".png", prefix+".npy"); err != nil {
		return err
	}
	name := *dataName
	if name == "" {
		name = src.data
	}
	ds, err := loadTestImages(name, *dataDir, c, *offset+*n)
	if err != nil {
		return err
	}
	if ds.N < *offset+*n {
		return fmt.Errorf("the %s test set has %d images; --offset %d --n %d asks for more", name, ds.N, *offset, *n)
	}
	truth := ds.Pixels[*offset*c.Dim() : (*offset+*n)*c.Dim()]
	chain, err := sampling.NewInpaintChain(src.energy(), truth, *n, c.InChannels, mask,
		sampling.InpaintConfig{Langevin: lc, ClampNoise: *clamp}, *seed)
	if err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	pr := progressPrinter("langevin steps")
	for !chain.Done() {
		if err := chain.StepN(ctx, 50); err != nil {
			if errors.Is(err, sampling.ErrDiverged) {
				return fmt.Errorf("inpainting with %s failed, nothing written: %w", src.path, err)
			}
			return fmt.Errorf("inpainting interrupted at step %d: %w", chain.StepIndex(), err)
		}
		pr(chain.StepIndex(), chain.Steps())
	}
	result := chain.Denoised()
	if err := sampling.CheckFinite("inpainted images", result); err != nil {
		return fmt.Errorf("%w: the denoising jump overflowed; nothing written", err)
	}
	_, mse, err := sampling.MaskedMSE(result, truth, *n, c.InChannels, mask)
	if err != nil {
		return err
	}
	masked := maskedView(truth, *n, c, mask)
	_, mseBlank, _ := sampling.MaskedMSE(masked, truth, *n, c.InChannels, mask)
	rows := append(append(append([]float32(nil), masked...), result...), truth...)
	if err := writeImageSet(prefix, rows, 3**n, c, *n, *force); err != nil {
		return err
	}
	fmt.Printf("inpainted %d %s test images (mask %s, %d free pixels): masked-region MSE %.4f (grey fill: %.4f)\n",
		*n, name, *maskSpec, mask.FreeCount(), mse, mseBlank)
	fmt.Printf("grid (rows: masked | inpainted | truth) -> %s.png\n", prefix)
	return nil
}

// maskName is a mask spec as a file-name part: "png:masks/m.png" becomes "png-m".
func maskName(spec string) string {
	name, arg, _ := strings.Cut(spec, ":")
	if name == "png" {
		arg = strings.TrimSuffix(filepath.Base(arg), filepath.Ext(arg))
	}
	s := name
	if arg != "" {
		s += "-" + arg
	}
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' || r < ' ' {
			return '-'
		}
		return r
	}, s)
}

// maskedView shows the free pixels as mid-grey, the way the grid's first row presents the
// input.
func maskedView(truth []float32, n int, c nn.Config, m sampling.Mask) []float32 {
	out := append([]float32(nil), truth...)
	plane := c.ImageSize * c.ImageSize
	for b := 0; b < n*c.InChannels; b++ {
		for p, free := range m.Free {
			if free {
				out[b*plane+p] = 0.5
			}
		}
	}
	return out
}
