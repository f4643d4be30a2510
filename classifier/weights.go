package classifier

import (
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"mdsm/internal/safefile"
	"mdsm/nn"
)

// A classifier file is a safetensors file (PyTorch names and layouts, float32) holding
// the network's parameters, the test-set reference statistics of its features
// (ref.mean [Hidden], ref.cov [Hidden][Hidden]: what sample features are compared
// against) and, in its metadata, everything needed to check and reproduce it:
//
//	format         mdsm-classifier-v1
//	config         the network shape (Config, JSON)
//	dataset        the dataset it was trained on (mnist, fashion-mnist)
//	train          the TrainConfig (JSON): seed, epochs, batch, learning rate
//	command        the mdsm command that trains it again
//	test_accuracy  its accuracy on the dataset's test set, and test_n that set's size
//	kernel         the kernel level it was trained at (avx512, avx2, go)
//	check_steps    K, and check_losses the losses of the first K training steps (JSON);
//	check_sha256   the weight checksum after K steps at each kernel level (JSON object)
const fileFormat = "mdsm-classifier-v1"

// Reference-statistics tensor names.
const (
	refMean = "ref.mean"
	refCov  = "ref.cov"
)

// Classifier is a trained network with the feature statistics of its test set and the
// record of how it was made.
type Classifier struct {
	Params *Params[float32]
	// Dataset is the dataset it classifies (mnist, fashion-mnist).
	Dataset string
	// RefMean and RefCov are the mean and covariance of the features of the full test set.
	RefMean, RefCov []float64
	// RefN is the number of test images behind RefMean and RefCov.
	RefN int
	// Accuracy is the test-set accuracy recorded when it was trained.
	Accuracy float64
	// Meta is the file's whole metadata (see the file-format comment).
	Meta map[string]string
}

// Save writes c as a safetensors file, atomically.
func (c *Classifier) Save(path string) error {
	cfg := c.Params.Config
	names := append([]string(nil), c.Params.Names...)
	ts := map[string]*nn.Tensor[float32]{}
	for _, s := range cfg.ParamSpecs() {
		ts[s.Name] = &nn.Tensor[float32]{Shape: s.Shape, Data: c.Params.T[s.Name]}
	}
	ts[refMean] = &nn.Tensor[float32]{Shape: []int{cfg.Hidden}, Data: toFloat32(c.RefMean)}
	ts[refCov] = &nn.Tensor[float32]{Shape: []int{cfg.Hidden, cfg.Hidden}, Data: toFloat32(c.RefCov)}
	names = append(names, refMean, refCov)
	meta := map[string]string{}
	for k, v := range c.Meta {
		meta[k] = v
	}
	cj, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	meta["format"], meta["config"], meta["dataset"] = fileFormat, string(cj), c.Dataset
	meta["test_accuracy"], meta["ref_n"] = strconv.FormatFloat(c.Accuracy, 'f', 4, 64), strconv.Itoa(c.RefN)
	return safefile.WriteAtomic(path, func(w io.Writer) error { return nn.WriteSafetensors(w, names, ts, meta) })
}

// Load reads a classifier file written by Save.
func Load(path string) (*Classifier, error) {
	ts, meta, err := nn.ReadSafetensors(path)
	if err != nil {
		return nil, err
	}
	return fromTensors(ts, meta, path)
}

// fromTensors checks a decoded classifier file; name is used in errors.
func fromTensors(ts map[string]*nn.Tensor[float32], meta map[string]string, name string) (*Classifier, error) {
	if meta["format"] != fileFormat {
		return nil, fmt.Errorf("%s is not an mdsm classifier file (format %q, want %s)", name, meta["format"], fileFormat)
	}
	var cfg Config
	if err := json.Unmarshal([]byte(meta["config"]), &cfg); err != nil {
		return nil, fmt.Errorf("%s: classifier config: %w", name, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// The tensors are the file's own (checked against the file size when read): nothing is
	// allocated from the config's claims.
	p := &Params[float32]{Config: cfg, T: map[string][]float32{}}
	specs := cfg.ParamSpecs()
	for i, s := range append(specs, ParamSpec{refMean, []int{cfg.Hidden}}, ParamSpec{refCov, []int{cfg.Hidden, cfg.Hidden}}) {
		t, ok := ts[s.Name]
		if !ok || fmt.Sprint(t.Shape) != fmt.Sprint(s.Shape) {
			return nil, fmt.Errorf("%s: tensor %s is missing or not of shape %v", name, s.Name, s.Shape)
		}
		if i < len(specs) {
			p.Names = append(p.Names, s.Name)
			p.T[s.Name] = t.Data
		}
	}
	c := &Classifier{Params: p, Dataset: meta["dataset"], Meta: meta,
		RefMean: toFloat64(ts[refMean].Data), RefCov: toFloat64(ts[refCov].Data)}
	c.Accuracy, _ = strconv.ParseFloat(meta["test_accuracy"], 64)
	c.RefN, _ = strconv.Atoi(meta["ref_n"])
	return c, nil
}

//go:embed weights/*.safetensors
var builtin embed.FS

// BuiltinNames lists the datasets with a classifier compiled into the binary.
func BuiltinNames() []string { return []string{"mnist", "fashion-mnist"} }

// Builtin returns the compiled-in classifier for a dataset (mnist or fashion-mnist).
func Builtin(dataset string) (*Classifier, error) {
	b, err := builtin.ReadFile("weights/" + dataset + ".safetensors")
	if err != nil {
		return nil, fmt.Errorf("no built-in classifier for %q: there are %v (train one with `mdsm score --train-classifier DATASET` and pass it with --classifier FILE)", dataset, BuiltinNames())
	}
	ts, meta, err := nn.DecodeSafetensors(b, "built-in classifier "+dataset)
	if err != nil {
		return nil, err
	}
	return fromTensors(ts, meta, "built-in classifier "+dataset)
}

// BuiltinPath is where the built-in classifier of a dataset lives in the repository (the
// --out of the command that retrains it).
func BuiltinPath(dataset string) string { return "classifier/weights/" + dataset + ".safetensors" }

func toFloat32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

func toFloat64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}
