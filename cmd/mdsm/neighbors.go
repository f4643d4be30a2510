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

// maxNeighbors bounds --k: a grid row per sample of k+1 images.
const maxNeighbors = 1000

func runNeighbors(args []string) error {
	fs := flag.NewFlagSet("mdsm neighbors", flag.ContinueOnError)
	n := fs.Int("n", 10, "samples to draw")
	k := fs.Int("k", 10, "nearest training images per sample")
	seed := fs.Uint64("seed", 1, "random seed")
	dataDir := fs.String("data-dir", "", "directory of downloaded datasets")
	out := fs.String("out", "", "output prefix, or a directory ending in / (default RUN_DIR/samples/neighbors-DATE-TIME)")
	threads := fs.Int("threads", 0, "compute threads")
	force := bindForce(fs)
	bindSkipMemoryCheck(fs)
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
	if err := positive("n", *n, "k", *k); err != nil {
		return err
	}
	if *k > maxNeighbors {
		return fmt.Errorf("--k %d: at most %d neighbours per sample", *k, maxNeighbors)
	}
	if err := checkSamplingMemory(c, *n, *n, *n*(*k+1)); err != nil {
		return err
	}
	lc, err := sf.config(src)
	if err != nil {
		return err
	}
	prefix := src.outputPrefix(*out, "neighbors")
	if err := checkOutputs(*force, prefix+".png", prefix+".npy"); err != nil {
		return err
	}
	name := src.data
	if src.runDir != "" {
		if rc, err := core.ReadRunConfig(src.runDir); err == nil && rc.DataDir != "" && *dataDir == "" {
			*dataDir = rc.DataDir
		}
	}
	train, err := core.LoadDataset(name, "train", *dataDir, data.Options{Size: c.ImageSize})
	if err != nil {
		return err
	}
	d := c.Dim()
	if train.C != c.InChannels || train.Dim() != d {
		return fmt.Errorf("training set %s has %dx%dx%d images, the model %dx%dx%d", train.Name, train.C, train.H, train.W, c.InChannels, c.ImageSize, c.ImageSize)
	}
	ctx, cancel := interruptible()
	defer cancel()
	imgs, _, err := sampling.SampleBatches(ctx, src.energyFactory(), *n, *n, c.Dim(), lc, *seed, progressPrinter("samples"))
	if err != nil {
		return fmt.Errorf("sampling from %s: %w; nothing written", src.path, err)
	}
	idx, dist, err := sampling.NearestNeighbors(ctx, imgs, *n, train.Pixels, train.N, *k)
	if err != nil {
		return err
	}
	var rows []float32
	for i := 0; i < *n; i++ {
		rows = append(rows, imgs[i*d:(i+1)*d]...)
		for _, j := range idx[i] {
			rows = append(rows, train.Image(j)...)
		}
		fmt.Printf("sample %2d: nearest L2 distance %.3f (training image %d)\n", i, dist[i][0], idx[i][0])
	}
	if err := writeImageSet(prefix, rows, *n*(min(*k, train.N)+1), c, min(*k, train.N)+1, *force); err != nil {
		return err
	}
	fmt.Printf("grid (each row: sample, then its %d nearest %s training images) -> %s.png\n", *k, name, prefix)
	return nil
}
