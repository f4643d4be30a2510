package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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

func runDenoise(args []string) error {
	fs := flag.NewFlagSet("mdsm denoise", flag.ContinueOnError)
	sigmas := fs.String("sigmas", "0.1,0.3,0.6,1.0", "comma-separated noise standard deviations")
	n := fs.Int("n", 500, "number of test images")
	dataName := fs.String("data", "", "test set (default: the run's dataset)")
	dataDir := fs.String("data-dir", "", "directory of downloaded datasets")
	seed := fs.Uint64("seed", 1, "noise seed")
	out := fs.String("out", "", "grid prefix (default RUN_DIR/samples/denoise); rows: noisy | denoised | clean per sigma")
	threads := fs.Int("threads", 0, "compute threads")
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
		return fmt.Errorf("--sigmas: %w", err)
	}
	name := *dataName
	if name == "" {
		name = src.data
	}
	c := src.params.Config
	ds, err := loadTestImages(name, *dataDir, c, *n)
	if err != nil {
		return err
	}
	rows, grid, err := denoiseTable(src.energy(), ds.Pixels, ds.N, c, levels, src.sigma0, *seed)
	if err != nil || !leader() {
		return err
	}
	fmt.Printf("denoising %d %s test images with %s (sigma0 %.3g)\n", ds.N, name, src.path, src.sigma0)
	fmt.Printf("%8s %12s %14s %8s\n", "sigma", "noisy dB", "denoised dB", "gain")
	for _, r := range rows {
		fmt.Printf("%8.3g %12.2f %14.2f %+8.2f\n", r.Sigma, r.NoisyPSNR, r.DenoisedPSNR, r.DenoisedPSNR-r.NoisyPSNR)
	}
	prefix := src.outputPrefix(*out, "denoise")
	if err := os.MkdirAll(filepath.Dir(prefix), 0o755); err != nil {
		return err
	}
	img, err := sampling.Grid(grid, len(grid)/c.Dim(), c.InChannels, c.ImageSize, c.ImageSize, 8, 2)
	if err != nil {
		return err
	}
	if err := sampling.WritePNG(prefix+".png", img); err != nil {
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
