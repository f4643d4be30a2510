package main

import (
	"flag"
	"fmt"

	"mdsm/core"
	"mdsm/data"
	"mdsm/sampling"
)

func init() {
	register(command{name: "neighbors", summary: "samples next to their nearest training images (overfitting check)", run: runNeighbors})
}

func runNeighbors(args []string) error {
	fs := flag.NewFlagSet("mdsm neighbors", flag.ContinueOnError)
	n := fs.Int("n", 10, "samples to draw")
	k := fs.Int("k", 10, "nearest training images per sample")
	seed := fs.Uint64("seed", 1, "random seed")
	dataDir := fs.String("data-dir", "", "directory of downloaded datasets")
	out := fs.String("out", "", "output prefix (default RUN_DIR/samples/neighbors)")
	threads := fs.Int("threads", 0, "compute threads")
	sf := bindScheduleFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mdsm neighbors [flags] RUN_DIR|CHECKPOINT.safetensors

Draws samples and shows each next to its k L2-nearest images of the training set (each row:
sample, then neighbours nearest first): a model that memorised its data shows near copies.

Flags:
`)
		fs.PrintDefaults()
	}
	src, err := parseModelCommand(fs, args, threads)
	if err != nil {
		return err
	}
	c := src.params.Config
	lc, err := sf.config(src)
	if err != nil {
		return err
	}
	name := src.data
	if src.runDir != "" {
		if rc, err := core.ReadRunConfig(src.runDir); err == nil && rc.DataDir != "" && *dataDir == "" {
			*dataDir = rc.DataDir
		}
	}
	train, err := data.LoadWith(name, "train", *dataDir, data.Options{Size: c.ImageSize})
	if err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	imgs, _, err := sampling.SampleBatches(ctx, src.energyFactory(), *n, *n, c.Dim(), lc, *seed, progressPrinter("samples"))
	if err != nil {
		return err
	}
	idx, dist, err := sampling.NearestNeighbors(ctx, imgs, *n, train.Pixels, train.N, *k)
	if err != nil {
		return err
	}
	d := c.Dim()
	var rows []float32
	for i := 0; i < *n; i++ {
		rows = append(rows, imgs[i*d:(i+1)*d]...)
		for _, j := range idx[i] {
			rows = append(rows, train.Image(j)...)
		}
		fmt.Printf("sample %2d: nearest L2 distance %.3f (training image %d)\n", i, dist[i][0], idx[i][0])
	}
	prefix := src.outputPrefix(*out, "neighbors")
	if err := writeImageSet(prefix, rows, *n*(*k+1), c, *k+1); err != nil {
		return err
	}
	fmt.Printf("grid (each row: sample, then its %d nearest %s training images) -> %s.png\n", *k, name, prefix)
	return nil
}
