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
	// the workbench). The paper uses 100; the 14x14 CPU presets sample best from 10 (README).
	SampleT0 float64 `json:"sample_t0"`
	// SampleInitMean is where this run's chains start: x0 = SampleInitMean + N(0, I). The
	// paper starts from 0.5; the 28x28 default draws every digit class from a darker 0.25
	// (from 0.5 ones held 1-2% of the samples and zeros 19%; docs/QUALITY.md).
	SampleInitMean float64 `json:"sample_init_mean"`
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

// DefaultRunConfig is the first run a newcomer gets: the default preset (nn.DefaultPreset)
// on the embedded MNIST subset, with that preset's measured settings (PresetDefaults).
func DefaultRunConfig() RunConfig {
	m, _ := nn.PresetConfig(nn.DefaultPreset)
	c := RunConfig{
		Model: m, Data: "embedded", Seed: 1,
		BatchSize:  64,
		LRSchedule: LRCosine, LRMin: 1e-6, Warmup: 100, Beta1: 0.9, Beta2: 0.95,
		Sigma0: 0.1, SigmaMin: 0.05, NoiseSpacing: SpacingLinear, NoiseMode: NoiseMultiscale,
		SingleSigma: 0.3,
		LogEvery:    5, CheckpointEvery: 500, KeepCheckpoints: 3, SampleEvery: 500, SampleCount: 36, SampleSteps: 1000,
		SampleShare: DefaultSampleShare, Device: "auto",
	}
	PresetDefaults(&c, m.Preset)
	return c
}

// PresetDefaults sets the run settings a preset was measured with: the training length,
// learning rate and noise range, and the sampler's start temperature and start mean.
//
//   - medium (28x28, the default): 13,000 steps at lr 2e-3, noise up to 2, sampled from
//     T0 = 150 with chains starting at 0.25: the research of docs/QUALITY.md, which fits 20
//     minutes on 2 AVX2 cores and draws every digit class.
//   - every other preset: the quick-look settings the 14x14 presets were tuned with (README
//     "Presets"): 6,000 steps at lr 1e-3, noise up to 1.2, T0 = 10 from the paper's 0.5.
//     The paper presets start from them too; PaperRunConfig has the authors' values.
//
// The preset field applies them (a flag, a form row, a config file naming a preset), before
// any setting given beside it, so an explicit --lr or "lr" still wins.
func PresetDefaults(c *RunConfig, preset string) {
	if preset == "medium" {
		c.Steps, c.LR, c.SigmaMax = 13000, 2e-3, 2
		c.SampleT0, c.SampleInitMean = 150, 0.25
		return
	}
	c.Steps, c.LR, c.SigmaMax = 6000, 1e-3, 1.2
	c.SampleT0, c.SampleInitMean = 10, 0.5
}

// switchPreset applies PresetDefaults for preset when it is not already c's preset (a
// "+custom" suffix on either side ignored): choosing the preset a config has keeps its
// settings.
func switchPreset(c *RunConfig, preset string) {
	preset = strings.TrimSuffix(preset, customSuffix)
	if preset != strings.TrimSuffix(c.Model.Preset, customSuffix) {
		PresetDefaults(c, preset)
	}
}

// PaperRunConfig returns the authors' settings for a dataset (docs/REFERENCE.md "Training").
func PaperRunConfig(dataset string) RunConfig {
	c := DefaultRunConfig()
	c.Data = dataset
	c.BatchSize, c.Steps, c.Warmup = 128, 100000, 0
	c.SampleSteps, c.SampleT0, c.SampleInitMean = 2700, 100, 0.5
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
	var probe struct {
		Model json.RawMessage `json:"model"`
	}
	var named nn.Config // the model as the JSON gives it, Preset empty when it names none
	if json.Unmarshal(b, &probe) == nil && len(probe.Model) > 0 && json.Unmarshal(probe.Model, &named) != nil {
		named = nn.Config{}
	}
	// A config naming another preset than c's starts from that preset's measured settings
	// (PresetDefaults); the settings the JSON gives override them below. A run's config.json
	// gives every setting but those added after it was written: a run written before
	// sample_init_mean existed gets its preset's (the paper's 0.5 but for medium).
	if _, err := nn.PresetConfig(strings.TrimSuffix(named.Preset, customSuffix)); err == nil {
		switchPreset(c, named.Preset)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("decode JSON: %w", err)
	}
	// A model given by preset starts from that preset, not from c's model: {"model":
	// {"preset": "tiny"}} is the tiny network, with any fields given beside it overriding.
	if named.Preset != "" {
		if base, err := nn.PresetConfig(named.Preset); err == nil {
			if err := json.Unmarshal(probe.Model, &base); err == nil {
				c.Model = base
			}
		} else if named.Filters == 0 {
			return err
		}
	}
	return c.Validate()
}
