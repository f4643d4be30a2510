package main

import (
	"flag"
	"fmt"
	"image/png"
	"io"
	"math"
	"strconv"
	"strings"

	"mdsm/dist"
	"mdsm/nn"
	"mdsm/sampling"
)

func init() {
	register(command{name: "denoise", summary: "denoise noisy test images with the single jump; PSNR table", run: runDenoise, distributed: true})
}

// DenoiseRow is the result for one noise level.
type denoiseRow struct {
	Sigma, NoisyPSNR, DenoisedPSNR float64
}

// maxSigmas bounds --sigmas: each level is a pass over the test images and a grid row.
const maxSigmas = 64

func runDenoise(args []string) error {
	fs := flag.NewFlagSet("mdsm denoise", flag.ContinueOnError)
	sigmas := fs.String("sigmas", "0.1,0.3,0.6,1.0", "comma-separated noise standard deviations")
	n := fs.Int("n", 500, "number of test images")
	dataName := fs.String("data", "", "test set (default: the run's dataset)")
	dataDir := fs.String("data-dir", "", "directory of downloaded datasets")
	seed := fs.Uint64("seed", 1, "noise seed")
	out := fs.String("out", "", "grid prefix, or a directory ending in / (default RUN_DIR/samples/denoise-DATE-TIME); rows: noisy | denoised | clean per sigma")
	threads := fs.Int("threads", 0, "compute threads")
	force := bindForce(fs)
	bindSkipMemoryCheck(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mdsm denoise [flags] RUN_DIR|CHECKPOINT.safetensors

Adds Gaussian noise of each sigma to test images and removes it with the single denoising
jump x - sigma0^2 dE/dx (paper eq. 9). Prints the mean PSNR of the noisy input and of the
result per sigma and writes a grid.

Flags:
`)
		fs.PrintDefaults()
	}
	src, err := parseModelCommand(fs, args, threads)
	if err != nil {
		return err
	}
	levels, err := parseFloats(*sigmas)
	if err != nil {
		return fmt.Errorf("--sigmas %q: %w", *sigmas, err)
	}
	if len(levels) > maxSigmas {
		return fmt.Errorf("--sigmas: %d noise levels, at most %d", len(levels), maxSigmas)
	}
	for _, v := range levels {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("--sigmas %q: %v is not a noise level (each must be a finite number > 0)", *sigmas, v)
		}
	}
	if err := positive("n", *n); err != nil {
		return err
	}
	name := *dataName
	if name == "" {
		name = src.data
	}
	c := src.params.Config
	prefix := src.outputPrefix(*out, "denoise")
	err = nil
	if leader() {
		err = checkOutputs(*force, prefix+".png")
	}
	if err := dist.Agree(job.comm, err); err != nil {
		return err
	}
	ds, err := loadTestImages(name, *dataDir, c, *n)
	if err != nil {
		return err
	}
	rows, grid, err := denoiseTable(src.energy(), ds.Pixels, ds.N, c, levels, src.sigma0, *seed)
	if err != nil {
		return fmt.Errorf("denoising with %s: %w", src.path, err)
	}
	if !leader() {
		return nil
	}
	fmt.Printf("denoising %d %s test images with %s (sigma0 %.3g)\n", ds.N, name, src.path, src.sigma0)
	fmt.Printf("%8s %12s %14s %8s\n", "sigma", "noisy dB", "denoised dB", "gain")
	for _, r := range rows {
		fmt.Printf("%8.3g %12.2f %14.2f %+8.2f\n", r.Sigma, r.NoisyPSNR, r.DenoisedPSNR, r.DenoisedPSNR-r.NoisyPSNR)
	}
	img, err := sampling.Grid(grid, len(grid)/c.Dim(), c.InChannels, c.ImageSize, c.ImageSize, 8, 2)
	if err != nil {
		return err
	}
	if err := writeOutput(prefix+".png", *force, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return err
	}
	fmt.Printf("grid (per sigma: 8 noisy, 8 denoised, 8 clean) -> %s.png\n", prefix)
	return nil
}

// denoiseTable measures PSNR before and after the jump for each sigma, and returns grid
// rows (8 noisy, 8 denoised, 8 clean per sigma). The images are shared by the ranks of the
// job; rank 0 gets the table, the others nothing.
func denoiseTable(e sampling.Energy, clean []float32, n int, c nn.Config, sigmas []float64, sigma0 float64, seed uint64) ([]denoiseRow, []float32, error) {
	var rows []denoiseRow
	var grid []float32
	d := c.Dim()
	show := min(8, n)
	const batch = 100
	for i, s := range sigmas {
		noisy := sampling.AddNoise(clean[:n*d], s, seed+uint64(i))
		den, err := sampling.DenoiseOn(job.comm, e, noisy, n, batch, sigma0)
		if err != nil {
			return nil, nil, err
		}
		if !leader() {
			continue
		}
		_, pn, err := sampling.PSNR(noisy, clean[:n*d], n, 1)
		if err != nil {
			return nil, nil, err
		}
		_, pd, err := sampling.PSNR(den, clean[:n*d], n, 1)
		if err != nil {
			return nil, nil, err
		}
		if math.IsNaN(pn) || math.IsNaN(pd) || math.IsInf(pn, -1) || math.IsInf(pd, -1) {
			return nil, nil, fmt.Errorf("PSNR at sigma %g is not a number (noisy %v, denoised %v dB)", s, pn, pd)
		}
		rows = append(rows, denoiseRow{s, pn, pd})
		grid = append(grid, noisy[:show*d]...)
		grid = append(grid, den[:show*d]...)
		grid = append(grid, clean[:show*d]...)
	}
	return rows, grid, nil
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
