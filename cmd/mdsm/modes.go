package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"mdsm/classifier"
	"mdsm/core"
	"mdsm/data"
	"mdsm/score"
)

func init() {
	register(command{name: "modes", summary: "stacked-MNIST mode coverage: modes (of 1,000) covered by N samples", run: runModes})
}

// modesReport is what mdsm modes prints (as text, or with --json as this JSON).
type modesReport struct {
	Source string       `json:"source"`
	Size   int          `json:"size"`
	Modes  score.Modes  `json:"samples"`
	Real   *score.Modes `json:"real,omitempty"` // real stacked test digits at the same N
	Note   string       `json:"real_note,omitempty"`
}

func runModes(args []string) error {
	fs := flag.NewFlagSet("mdsm modes", flag.ContinueOnError)
	n := fs.Int("n", 8000, "samples to draw from a run or checkpoint (the paper's 8,000; image files: all of theirs)")
	dataDir := fs.String("data-dir", "", "directory of downloaded datasets: MNIST test digits for the real-data line")
	seed := fs.Uint64("seed", 1, "seed of the chains")
	batch := fs.Int("batch", 64, "chains per batch when sampling")
	threads := fs.Int("threads", 0, "compute threads per GEMM (default GOMAXPROCS)")
	cell := fs.Int("cell", 0, "cell side of a GRID.png (default: found from the grey gaps)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	sf := bindScheduleFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mdsm modes [flags] RUN_DIR|CHECKPOINT.safetensors|SAMPLES.npy|GRID.png

Mode coverage on stacked MNIST (a run trained with --data stacked-mnist --in-channels 3),
the experiment of the paper's Mode Coverage paragraph (966 of 1,000 modes from 8,000
samples): every channel of every sample is classified by the built-in MNIST classifier,
the three classes make its mode (1,000 in all), and the modes with at least one sample are
counted. Also printed: KL(mode histogram || uniform) in nats, and the same numbers for N
real stacked test digits (N uniform draws from 1,000 modes cover 1000(1 - e^(-N/1000))
on average: 632 for N = 1,000, 1,000 for N = 8,000).

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args, "RUN_DIR|CHECKPOINT.safetensors|SAMPLES.npy|GRID.png"); err != nil {
		return err
	}
	if err := checkThreads(*threads); err != nil {
		return err
	}
	src := fs.Arg(0)
	var (
		ds  *data.Dataset
		err error
	)
	switch strings.ToLower(filepath.Ext(src)) {
	case ".npy":
		ds, err = readNPYImages(src)
	case ".png":
		ds, err = readGridImages(src, *cell)
	default:
		if *n < 1 {
			return fmt.Errorf("--n %d: need at least one sample", *n)
		}
		ds, _, err = sampleForScore(src, *n, *batch, *seed, *threads, sf)
	}
	if err != nil {
		return err
	}
	if ds.C != 3 {
		return fmt.Errorf("%s has %d-channel images; mode coverage needs stacked MNIST (train with --data stacked-mnist --in-channels 3)", src, ds.C)
	}
	cl, err := classifier.Builtin(data.MNIST)
	if err != nil {
		return err
	}
	sc := score.New(cl)
	rep := modesReport{Source: src, Size: ds.H}
	if rep.Modes, err = sc.Modes(ds); err != nil {
		return err
	}
	if real, note, err := realStacked(*dataDir, ds.N, ds.H); err != nil {
		rep.Note = err.Error()
	} else if m, err := sc.Modes(real); err != nil {
		rep.Note = err.Error()
	} else {
		rep.Real, rep.Note = &m, note
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Printf("source %s: %d stacked images of %dx%d\n\n", src, ds.N, ds.H, ds.H)
	fmt.Printf("%-8s %6s %14s %8s %17s\n", "", "N", "modes covered", "KL", "mean max-softmax")
	line := func(name string, m score.Modes, note string) {
		fmt.Printf("%-8s %6d %8d/%-5d %8.3f %17.3f  %s\n", name, m.N, m.Covered, m.Total, m.KL, m.MeanMaxSoftmax, note)
	}
	line("samples", rep.Modes, "")
	if rep.Real != nil {
		note := "real stacked test digits"
		if rep.Note != "" {
			note += " from " + rep.Note
		}
		line("real", *rep.Real, note)
	} else {
		fmt.Printf("real     not computed: %s\n", rep.Note)
	}
	return nil
}

// realStacked builds n stacked images from the MNIST test digits at the given size.
func realStacked(dataDir string, n, size int) (*data.Dataset, string, error) {
	digits, note, err := core.ScoreTestSet(data.MNIST, dataDir)
	if err != nil {
		return nil, "", err
	}
	if digits, err = digits.Resize(size); err != nil {
		return nil, "", err
	}
	st, err := data.Stack(digits, n)
	return st, note, err
}
