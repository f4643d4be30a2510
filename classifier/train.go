package classifier

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"

	"mdsm/data"
	"mdsm/internal/optim"
)

// TrainConfig is how a classifier is trained: Adam (0.9, 0.999) on the mean
// cross-entropy, the learning rate decayed from LR to LR/100 by a cosine over all steps,
// shuffled mini-batches drawn by data.Batcher. The same config and data give the same
// weights, bit for bit, at a given kernel level (thread counts do not matter).
type TrainConfig struct {
	Seed   uint64  `json:"seed"`
	Epochs int     `json:"epochs"`
	Batch  int     `json:"batch"`
	LR     float64 `json:"lr"`
}

// DefaultTrainConfig is the training the built-in classifiers got (docs/SCORE.md).
func DefaultTrainConfig() TrainConfig { return TrainConfig{Seed: 1, Epochs: 5, Batch: 64, LR: 2e-3} }

// Validate reports an unusable setting.
func (tc TrainConfig) Validate() error {
	if tc.Epochs < 1 || tc.Batch < 1 || tc.Batch > 4096 || !(tc.LR > 0 && tc.LR < 1) {
		return fmt.Errorf("classifier training: epochs %d (>= 1), batch %d (1..4096) and lr %g (0..1) out of range", tc.Epochs, tc.Batch, tc.LR)
	}
	return nil
}

// Trainer trains a classifier step by step.
type Trainer struct {
	cfg        Config
	tc         TrainConfig
	ds         *data.Dataset
	P, G, M, V *Params[float32]
	net        *Net[float32]
	batcher    *data.Batcher
	batch      []float32
	labels     []int
	step       int
	total      int
}

// NewTrainer starts training a cfg network on ds (28x28 grey images with labels below
// cfg.Classes). Weights come from PCG(seed, 1), batches from PCG(seed, 2).
func NewTrainer(cfg Config, tc TrainConfig, ds *data.Dataset) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := tc.Validate(); err != nil {
		return nil, err
	}
	if err := checkDataset(ds, cfg); err != nil {
		return nil, err
	}
	if ds.Labels == nil {
		return nil, fmt.Errorf("classifier: dataset %s has no labels", ds.Name)
	}
	b, err := data.NewBatcher(ds, tc.Batch, tc.Seed, 2)
	if err != nil {
		return nil, err
	}
	t := &Trainer{cfg: cfg, tc: tc, ds: ds, batcher: b,
		P: InitParams[float32](cfg, rand.New(rand.NewPCG(tc.Seed, 1))),
		G: NewParams[float32](cfg), M: NewParams[float32](cfg), V: NewParams[float32](cfg),
		batch: make([]float32, tc.Batch*Side*Side), labels: make([]int, tc.Batch),
		total: tc.Epochs * ((ds.N + tc.Batch - 1) / tc.Batch)}
	t.net = NewNet(t.P, t.G)
	return t, nil
}

// checkDataset checks that ds holds 28x28 grey images whose labels are classes of cfg.
func checkDataset(ds *data.Dataset, cfg Config) error {
	if ds.C != 1 || ds.H != Side || ds.W != Side {
		return fmt.Errorf("classifier: dataset %s has %dx%dx%d images, want 1x%dx%d", ds.Name, ds.C, ds.H, ds.W, Side, Side)
	}
	for i, l := range ds.Labels {
		if l < 0 || l >= cfg.Classes {
			return fmt.Errorf("classifier: image %d of %s has label %d, not a class 0..%d", i, ds.Name, l, cfg.Classes-1)
		}
	}
	return nil
}

// Steps returns the steps done and the total.
func (t *Trainer) Steps() (done, total int) { return t.step, t.total }

// Step trains one mini-batch and returns its loss.
func (t *Trainer) Step() float64 {
	idx := t.batcher.Next(t.batch)
	for k, i := range idx {
		t.labels[k] = t.ds.Labels[i]
	}
	t.G.Zero()
	loss := t.net.LossGrad(t.batch, t.labels, t.tc.Batch)
	lrMin := t.tc.LR / 100
	lr := lrMin + 0.5*(t.tc.LR-lrMin)*(1+math.Cos(math.Pi*float64(t.step)/float64(t.total)))
	t.step++
	const b1, b2 = 0.9, 0.999
	step, eps := optim.AdamScales(b1, b2, lr, 1e-8, t.step)
	for _, name := range t.P.Names {
		optim.AdamUpdate(t.P.T[name], t.G.T[name], t.M.T[name], t.V.T[name], b1, b2, step, eps)
	}
	return loss
}

// Checksum is the SHA-256 of the weights (little-endian float32 in ParamSpecs order): two
// trainings followed the same trajectory exactly when their checksums agree.
func (p *Params[T]) Checksum() string {
	h := sha256.New()
	var b [8]byte
	for _, name := range p.Names {
		for _, v := range p.T[name] {
			switch x := any(v).(type) {
			case float32:
				binary.LittleEndian.PutUint32(b[:4], math.Float32bits(x))
				h.Write(b[:4])
			case float64:
				binary.LittleEndian.PutUint64(b[:], math.Float64bits(x))
				h.Write(b[:])
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Evaluate returns the fraction of ds's images that p classifies as their label, and how
// many that is.
func Evaluate(p *Params[float32], ds *data.Dataset) (acc float64, correct int, err error) {
	if err := checkDataset(ds, p.Config); err != nil {
		return 0, 0, err
	}
	if ds.Labels == nil || ds.N == 0 {
		return 0, 0, fmt.Errorf("classifier: dataset %s has no labelled images", ds.Name)
	}
	net := NewNet(p, nil)
	const chunk = 500
	for lo := 0; lo < ds.N; lo += chunk {
		n := min(chunk, ds.N-lo)
		net.Forward(ds.Pixels[lo*Side*Side:(lo+n)*Side*Side], n)
		for i, k := range Argmax(net.Logits(), n, p.Config.Classes) {
			if k == ds.Labels[lo+i] {
				correct++
			}
		}
	}
	return float64(correct) / float64(ds.N), correct, nil
}

// Argmax returns the index of the largest logit of each of n rows.
func Argmax(logits []float32, n, classes int) []int {
	out := make([]int, n)
	for i := range n {
		row := logits[i*classes : (i+1)*classes]
		for k, v := range row {
			if v > row[out[i]] {
				out[i] = k
			}
		}
	}
	return out
}
