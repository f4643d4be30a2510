// Package core trains energy networks with multiscale denoising score matching (MDSM): the
// objective, the optimiser, the background trainer with its event stream and weight
// snapshots, and the run directory that makes every run resumable.
package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"mdsm/internal/safefile"
	"mdsm/nn"
)

// RunConfig is everything that defines a training run. It is saved as config.json in the
// run directory; the Configure pane of the workbench edits it.
type RunConfig struct {
	Model   nn.Config `json:"model"`
	Data    string    `json:"data"`     // embedded, mnist, fashion-mnist, cifar10 or an image folder
	DataDir string    `json:"data_dir"` // where downloaded datasets live ("" = default)
	Seed    uint64    `json:"seed"`

	Steps      int `json:"steps"`
	BatchSize  int `json:"batch_size"`
	MicroBatch int `json:"micro_batch"` // images per forward/backward; 0 = the whole batch

	LR         float64 `json:"lr"`
	LRSchedule string  `json:"lr_schedule"` // cosine or constant
	LRMin      float64 `json:"lr_min"`      // cosine decays to this
	Warmup     int     `json:"warmup_steps"`
	Beta1      float64 `json:"beta1"`
	Beta2      float64 `json:"beta2"`

	Sigma0       float64 `json:"sigma0"`
	SigmaMin     float64 `json:"sigma_min"`
	SigmaMax     float64 `json:"sigma_max"`
	NoiseSpacing string  `json:"noise_spacing"` // geometric or linear
	NoiseMode    string  `json:"noise_mode"`    // multiscale (MDSM) or single (Appendix B DSM baseline)
	SingleSigma  float64 `json:"single_sigma"`  // the one sigma of single-noise DSM

	LogEvery        int `json:"log_every"`
	CheckpointEvery int `json:"checkpoint_every"`
	KeepCheckpoints int `json:"keep_checkpoints"`
	SampleEvery     int `json:"sample_every"` // 0 = no periodic sample grids
	SampleCount     int `json:"sample_count"` // images in a periodic grid
	SampleSteps     int `json:"sample_steps"` // Langevin steps of a periodic grid (the exp schedule rescaled)
	// SampleT0 is the start temperature of this run's sampler (periodic grids, `mdsm sample`,
	// the workbench). The paper uses 100; the small CPU presets sample best from 10 (README).
	SampleT0 float64 `json:"sample_t0"`
	// SampleShare bounds the share of wall time a periodic sample grid takes while it is
	// drawn: the grid's Langevin steps run between training steps, on all cores, until they
	// have had this share of the time since the grid began (0 = DefaultSampleShare). A grid
	// due while the last one is still being drawn is skipped.
	SampleShare float64 `json:"sample_share,omitempty"`
	// EMA is the decay of an exponential moving average of the weights, kept beside the
	// trained weights and used wherever the run is sampled (periodic grids, the workbench,
	// `mdsm sample`, `mdsm score` and the other commands that load a run): after step t the
	// average moves toward the new weights by 1 - min(EMA, (1+t)/(10+t)). 0 = off: the
	// trained weights themselves. Training never reads it.
	EMA float64 `json:"ema,omitempty"`

	// NaNRollback: when a step produces a NaN or an infinity, roll back to the newest good
	// checkpoint with the learning rate halved and go on, at most MaxNaNRollbacks times,
	// instead of stopping.
	NaNRollback bool `json:"nan_rollback,omitempty"`

	// Device is where the network runs: auto, cpu, cuda or cuda:N (OpenDevice). A run
	// may change it on resume; checkpoints do not depend on it.
	Device string `json:"device,omitempty"`
	// TF32 lets a GPU use TF32 tensor-core arithmetic in float32 convolutions: faster,
	// about 1e-3 relative error per product instead of float32's 1e-7. Off by default.
	TF32 bool `json:"tf32,omitempty"`
}

// DefaultSampleShare is the share of wall time a periodic sample grid may take while it is
// drawn, when a run config does not set one: training keeps 85% of its speed. With the
// default small preset a grid of 36 images x 1,000 Langevin steps costs about 190 training
// steps of compute, so one takes about 1,060 steps to draw and the run draws one every
// 1,500 steps (measured in BENCHMARKS.md, "Periodic sample grids").
const DefaultSampleShare = 0.15

// DefaultRunConfig is the first run a newcomer gets: the default CPU preset on the
// embedded MNIST subset. The noise range and learning rate of the small presets were
// chosen by measurement (README "Presets"); the paper's values are in PaperRunConfig.
func DefaultRunConfig() RunConfig {
	m, _ := nn.PresetConfig(nn.DefaultPreset)
	return RunConfig{
		Model: m, Data: "embedded", Seed: 1,
		Steps: 6000, BatchSize: 64,
		LR: 1e-3, LRSchedule: LRCosine, LRMin: 1e-6, Warmup: 100, Beta1: 0.9, Beta2: 0.95,
		Sigma0: 0.1, SigmaMin: 0.05, SigmaMax: 1.2, NoiseSpacing: SpacingLinear, NoiseMode: NoiseMultiscale,
		SingleSigma: 0.3,
		LogEvery:    5, CheckpointEvery: 500, KeepCheckpoints: 3, SampleEvery: 500, SampleCount: 36, SampleSteps: 1000, SampleT0: 10,
		SampleShare: DefaultSampleShare, Device: "auto",
	}
}

// PaperRunConfig returns the authors' settings for a dataset (docs/REFERENCE.md "Training").
func PaperRunConfig(dataset string) RunConfig {
	c := DefaultRunConfig()
	c.Data = dataset
	c.BatchSize, c.Steps, c.Warmup = 128, 100000, 0
	c.SampleSteps, c.SampleT0 = 2700, 100
	if dataset == "cifar10" {
		c.Model, _ = nn.PresetConfig("paper-cifar")
		c.LR, c.Steps = 5e-5, 300000
		c.SigmaMin, c.SigmaMax, c.NoiseSpacing = 0.05, 1.2, SpacingLinear
	} else {
		c.Model, _ = nn.PresetConfig("paper-mnist")
		c.LR = 1e-4
		c.SigmaMin, c.SigmaMax, c.NoiseSpacing = 0.1, 3, SpacingGeometric
	}
	return c
}

// Validate reports every invalid field (see Problems), each with the field's name and what
// would be valid.
func (c RunConfig) Validate() error {
	var errs []error
	for _, p := range c.Problems() {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// MaxSampleShare is the largest share of wall time a run may give its sample grids.
const MaxSampleShare = 0.9

// sampleShare is the effective SampleShare.
func (c RunConfig) sampleShare() float64 {
	if c.SampleShare == 0 {
		return DefaultSampleShare
	}
	return c.SampleShare
}

// ResumeChangeable lists the fields (by JSON name, in table order) that may differ between
// the configuration a checkpoint was trained with and the one a resumed run continues with:
// those RunFields marks Resume (see Field.Resume). Everything else would silently change
// the run.
func ResumeChangeable() []string {
	var names []string
	for _, f := range RunFields() {
		if f.Resume {
			names = append(names, f.Name)
		}
	}
	return names
}

// ConfigChanges lists the fields (JSON names) in which b differs from a, other than those
// a resumed run may change (ResumeChangeable); nested model fields read "model.filters".
func ConfigChanges(a, b RunConfig) []string {
	changeable := ResumeChangeable()
	flat := func(c RunConfig) map[string]string {
		raw, _ := json.Marshal(c)
		var m map[string]json.RawMessage
		json.Unmarshal(raw, &m)
		out := map[string]string{}
		for k, v := range m {
			if k == "model" {
				var mm map[string]json.RawMessage
				json.Unmarshal(v, &mm)
				for mk, mv := range mm {
					out["model."+mk] = string(mv)
				}
				continue
			}
			out[k] = string(v)
		}
		return out
	}
	fa, fb := flat(a), flat(b)
	var diff []string
	for k, va := range fa {
		if vb := fb[k]; vb != va && !slices.Contains(changeable, k) {
			diff = append(diff, fmt.Sprintf("%s (%s, now %s)", k, va, vb))
		}
	}
	for k, vb := range fb {
		if _, ok := fa[k]; !ok && !slices.Contains(changeable, k) {
			diff = append(diff, fmt.Sprintf("%s (unset, now %s)", k, vb))
		}
	}
	sort.Strings(diff)
	return diff
}

// microBatch is the effective micro-batch size.
func (c RunConfig) microBatch() int {
	if c.MicroBatch == 0 {
		return c.BatchSize
	}
	return c.MicroBatch
}

// LoadRunConfig reads a config JSON file over the defaults; unknown fields are an error so
// that a typo is not silently ignored.
func LoadRunConfig(path string) (RunConfig, error) {
	c := DefaultRunConfig()
	b, err := safefile.ReadFile(path, "run config", maxConfigBytes)
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	if err := DecodeRunConfig(b, &c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// DecodeRunConfig decodes JSON into c (fields absent from the JSON keep c's values) and
// validates the result.
func DecodeRunConfig(b []byte, c *RunConfig) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("decode JSON: %w", err)
	}
	// A model given by preset starts from that preset, not from c's model: {"model":
	// {"preset": "tiny"}} is the tiny network, with any fields given beside it overriding.
	var probe struct {
		Model json.RawMessage `json:"model"`
	}
	if json.Unmarshal(b, &probe) == nil && len(probe.Model) > 0 {
		var m nn.Config
		if json.Unmarshal(probe.Model, &m) == nil && m.Preset != "" {
			if base, err := nn.PresetConfig(m.Preset); err == nil {
				if err := json.Unmarshal(probe.Model, &base); err == nil {
					c.Model = base
				}
			} else if m.Filters == 0 {
				return err
			}
		}
	}
	return c.Validate()
}
