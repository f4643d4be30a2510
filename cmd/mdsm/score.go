package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mdsm/classifier"
	"mdsm/core"
	"mdsm/data"
	"mdsm/internal/gemm"
	"mdsm/internal/safefile"
	"mdsm/sampling"
	"mdsm/score"
)

func init() {
	register(command{name: "score", summary: "sample quality: Frechet distance of classifier features, class histogram (and --train-classifier)", run: runScore})
}

// scoreReport is what mdsm score prints (as text, or with --json as this JSON).
type scoreReport struct {
	Source     string        `json:"source"`
	Classifier string        `json:"classifier"`
	Accuracy   float64       `json:"classifier_test_accuracy"`
	Samples    score.Result  `json:"samples"`
	Floor      *score.Result `json:"floor,omitempty"`
	FloorNote  string        `json:"floor_note,omitempty"`
}

func runScore(args []string) error {
	fs := flag.NewFlagSet("mdsm score", flag.ContinueOnError)
	n := fs.Int("n", 256, "samples to draw from a run or checkpoint (image files: all of theirs)")
	clsName := fs.String("classifier", "", "mnist, fashion-mnist or a classifier .safetensors (default: the run's dataset; mnist for image files)")
	dataDir := fs.String("data-dir", "", "directory of downloaded datasets: the test set of the floor (default $MDSM_DATA or ~/.cache/mdsm/data)")
	seed := fs.Uint64("seed", 1, "seed of the chains and of the floor's test images")
	batch := fs.Int("batch", 64, "chains per batch when sampling")
	threads := fs.Int("threads", 0, "compute threads per GEMM (default GOMAXPROCS)")
	cell := fs.Int("cell", 0, "cell side of a GRID.png (default: found from the grey gaps)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	train := fs.String("train-classifier", "", "train the classifier of a dataset (mnist or fashion-mnist) instead of scoring; see below")
	out := fs.String("out", "", "with --train-classifier: the file to write (default classifier/weights/DATASET.safetensors)")
	tc := classifier.DefaultTrainConfig()
	fs.IntVar(&tc.Epochs, "epochs", tc.Epochs, "with --train-classifier: passes over the training set")
	fs.IntVar(&tc.Batch, "train-batch", tc.Batch, "with --train-classifier: images per step")
	fs.Float64Var(&tc.LR, "lr", tc.LR, "with --train-classifier: peak Adam learning rate (cosine decay to 1/100 of it)")
	sf := bindScheduleFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mdsm score [flags] RUN_DIR|CHECKPOINT.safetensors|SAMPLES.npy|GRID.png
       mdsm score --train-classifier DATASET [--data-dir DIR] [--seed 1] [--out FILE]

Scores samples with a classifier of the run's dataset (built in for MNIST and
Fashion-MNIST): the Frechet distance (FD) between the classifier's penultimate features of
the samples and of its full test set, the class histogram, the classes holding at least 2%%
of the samples and the mean largest class probability. From a run or checkpoint it first
draws --n samples with the run's sampler defaults (as mdsm sample does).

Images of another size are brought to 28x28 (32x32 centre-cropped, smaller ones upsampled
bilinearly), and the floor is printed beside them: --n real test images taken to the
samples' size the way the data readers do and back the same way, the score of a perfect
model at that size. FD is biased upward at small N: compare only at equal N.

--train-classifier trains the classifier of a dataset from its downloaded training set,
reproducibly (same seed and data, same weights bit for bit on the same kernel level), and
writes it with its test accuracy and test-set feature statistics: the built-in files are
made by "mdsm score --train-classifier mnist --data-dir DIR" (and fashion-mnist).

Flags:
`)
		fs.PrintDefaults()
	}
	want := []string{"RUN_DIR|CHECKPOINT.safetensors|SAMPLES.npy|GRID.png"}
	for _, a := range args {
		if strings.HasPrefix(strings.TrimLeft(a, "-"), "train-classifier") {
			want = nil // --train-classifier takes no RUN or file argument
		}
	}
	if err := parseArgs(fs, args, want...); err != nil {
		return err
	}
	if err := checkThreads(*threads); err != nil {
		return err
	}
	if *train != "" {
		return trainClassifier(*train, *dataDir, *seed, tc, *out, *threads)
	}
	src := fs.Arg(0)
	if *n < 2 {
		return fmt.Errorf("--n %d: the Frechet distance needs at least 2 samples (256 or more for a number worth comparing)", *n)
	}
	var (
		ds      *data.Dataset
		runData string
		err     error
	)
	switch strings.ToLower(filepath.Ext(src)) {
	case ".npy":
		ds, err = readNPYImages(src)
	case ".png":
		ds, err = readGridImages(src, *cell)
	default:
		ds, runData, err = sampleForScore(src, *n, *batch, *seed, *threads, sf)
	}
	if err != nil {
		return err
	}
	sc, clsLabel, err := loadScorer(*clsName, runData)
	if err != nil {
		return err
	}
	rep := scoreReport{Source: src, Classifier: clsLabel, Accuracy: sc.Classifier().Accuracy}
	if rep.Samples, err = sc.Score(ds); err != nil {
		return err
	}
	if test, note, err := core.ScoreTestSet(sc.Classifier().Dataset, *dataDir); err != nil {
		rep.FloorNote = err.Error()
	} else if f, err := sc.Floor(test, ds.H, ds.N, *seed); err != nil {
		rep.FloorNote = err.Error()
	} else {
		rep.Floor, rep.FloorNote = &f, note
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printScore(rep)
	return nil
}

// sampleForScore draws n samples from a run directory or checkpoint with the run's sampler
// defaults and returns them with the run's dataset name.
func sampleForScore(path string, n, batch int, seed uint64, threads int, sf *scheduleFlags) (*data.Dataset, string, error) {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	src, err := parseModelCommand(fs, []string{path}, &threads)
	if err != nil {
		return nil, "", err
	}
	cfg, err := sf.config(src)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := interruptible()
	defer cancel()
	c := src.params.Config
	fmt.Fprintf(os.Stderr, "drawing %d samples from %s (T0 %g, %d steps)\n", n, src.path, cfg.Schedule.T0, cfg.Schedule.Steps)
	imgs, _, err := sampling.SampleBatches(ctx, src.energyFactory(), n, min(batch, n), c.Dim(), cfg, seed, progressPrinter("samples"))
	if err != nil {
		return nil, "", err
	}
	if got := len(imgs) / c.Dim(); got < n {
		return nil, "", fmt.Errorf("interrupted after %d of %d samples; nothing scored", got, n)
	}
	ds := &data.Dataset{Name: src.path, N: n, C: c.InChannels, H: c.ImageSize, W: c.ImageSize, Pixels: imgs}
	return ds, src.data, nil
}

// maxSamplesFile bounds a .npy of samples to score (a 10,000-image 32x32 RGB set is 123 MB).
const maxSamplesFile = 2 << 30

// readNPYImages reads a float .npy array of images, [n,h,w] or [n,c,h,w].
func readNPYImages(path string) (*data.Dataset, error) {
	b, err := safefile.ReadFile(path, "samples file", maxSamplesFile)
	if err != nil {
		return nil, fmt.Errorf("read samples: %w", err)
	}
	px, shape, err := sampling.DecodeNPY(b, path)
	if err != nil {
		return nil, err
	}
	ds := &data.Dataset{Name: path, Pixels: px}
	switch len(shape) {
	case 3:
		ds.N, ds.C, ds.H, ds.W = shape[0], 1, shape[1], shape[2]
	case 4:
		ds.N, ds.C, ds.H, ds.W = shape[0], shape[1], shape[2], shape[3]
	default:
		return nil, fmt.Errorf("read %s: shape %v is not images [n,h,w] or [n,c,h,w]", path, shape)
	}
	if ds.H < 1 || ds.W < 1 || (ds.C != 1 && ds.C != 3) {
		return nil, fmt.Errorf("read %s: shape %v is not images of 1 or 3 channels", path, shape)
	}
	return ds, nil
}

// readGridImages cuts a sample grid PNG (as mdsm sample and training write them) into images.
func readGridImages(path string, cell int) (*data.Dataset, error) {
	img, err := safefile.ReadImage(path, 0)
	if err != nil {
		return nil, fmt.Errorf("read grid: %w", err)
	}
	px, n, c, side, err := sampling.UngridImage(img, cell, 2)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return &data.Dataset{Name: path, N: n, C: c, H: side, W: side, Pixels: px}, nil
}

// loadScorer loads the classifier named by --classifier, or the built-in one of a run's
// dataset (mnist for image files).
func loadScorer(name, runData string) (*score.Scorer, string, error) {
	if name == "" {
		name = "mnist"
		if runData != "" {
			if name = core.ScoreClassifier(runData); name == "" {
				return nil, "", fmt.Errorf("no built-in classifier for the run's dataset %q (there are %v): train one with --train-classifier and pass it with --classifier FILE", runData, classifier.BuiltinNames())
			}
		}
	}
	var (
		c   *classifier.Classifier
		err error
	)
	if strings.HasSuffix(name, ".safetensors") {
		c, err = classifier.Load(name)
	} else {
		c, err = classifier.Builtin(name)
	}
	if err != nil {
		return nil, "", err
	}
	return score.New(c), name, nil
}

func printScore(r scoreReport) {
	s := r.Samples
	fmt.Printf("source      %s: %d images of %dx%d", r.Source, s.N, s.Size, s.Size)
	if s.Resized != "" {
		fmt.Printf(", %s", s.Resized)
	}
	fmt.Printf("\nclassifier  %s (test accuracy %.2f%%); FD to the features of its full test set\n\n", r.Classifier, 100*r.Accuracy)
	fmt.Printf("%-8s %6s %9s %12s %17s\n", "", "N", "FD", "classes>=2%", "mean max-softmax")
	row := func(name string, x score.Result) {
		fmt.Printf("%-8s %6d %9.2f %12d %17.3f\n", name, x.N, x.FD, x.Classes, x.MeanMaxSoftmax)
	}
	row("samples", s)
	if r.Floor != nil {
		row("floor", *r.Floor)
	}
	fmt.Printf("\nclass histogram of the samples (%% of %d):\n", s.N)
	for k, c := range s.Hist {
		fmt.Printf("  %d: %5.1f", k, 100*float64(c)/float64(s.N))
		if k%5 == 4 || k == len(s.Hist)-1 {
			fmt.Println()
		}
	}
	fmt.Println()
	switch {
	case r.Floor == nil:
		fmt.Printf("floor: not computed: %s\n", r.FloorNote)
	case s.Size != classifier.Side:
		fmt.Printf("floor: %d real test images taken to %dx%d and back the same way", s.N, s.Size, s.Size)
	default:
		fmt.Printf("floor: %d real test images", s.N)
	}
	if r.Floor != nil && r.FloorNote != "" {
		fmt.Printf(", from %s", r.FloorNote)
	}
	if r.Floor != nil {
		fmt.Println(".")
	}
	fmt.Println("FD is biased upward at small N: compare scores at equal N only.")
}

// trainClassifier trains and writes the classifier of a dataset (--train-classifier).
func trainClassifier(name, dataDir string, seed uint64, tc classifier.TrainConfig, out string, threads int) error {
	if name != data.MNIST && name != data.FashionMNIST {
		return fmt.Errorf("--train-classifier %q: only mnist and fashion-mnist have classifiers", name)
	}
	if out == "" {
		out = classifier.BuiltinPath(name)
	}
	tc.Seed = seed
	gemm.SetThreads(threads)
	opt := data.Options{Size: classifier.Side}
	train, err := data.LoadWith(name, "train", dataDir, opt)
	if err != nil {
		return err
	}
	test, err := data.LoadWith(name, "test", dataDir, opt)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := classifier.TrainRecorded(classifier.DefaultConfig(), tc, train, test, progressPrinter("classifier steps"))
	if err != nil {
		return err
	}
	// the reference statistics: features of the full test set
	sc := score.New(&classifier.Classifier{Params: res.Params})
	feats, _, _ := sc.Features(test)
	st, err := score.NewStats(feats, test.N, res.Params.Config.Hidden)
	if err != nil {
		return err
	}
	c := &classifier.Classifier{Params: res.Params, Dataset: name, RefMean: st.Mean, RefCov: st.Cov, RefN: test.N,
		Accuracy: res.Accuracy, Meta: res.Meta}
	c.Meta["command"] = fmt.Sprintf("mdsm score --train-classifier %s --data-dir DIR --seed %d --epochs %d --train-batch %d --lr %g", name, seed, tc.Epochs, tc.Batch, tc.LR)
	c.Meta["data"] = fmt.Sprintf("%s/train (%d images, 28x28) and %s/test (%d images), the official IDX files", name, train.N, name, test.N)
	if err := c.Save(out); err != nil {
		return fmt.Errorf("write classifier: %w", err)
	}
	fmt.Printf("%s classifier: test accuracy %.2f%% (%d of %d), %d parameters, trained in %s -> %s\n",
		name, 100*res.Accuracy, res.Correct, test.N, res.Params.Count(), time.Since(start).Round(time.Second), out)
	return nil
}
