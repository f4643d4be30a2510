package core

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"mdsm/nn"
	"mdsm/sampling"
)

// The values of the enumerated settings.
const (
	LRCosine   = "cosine"   // RunConfig.LRSchedule: cosine decay to LRMin
	LRConstant = "constant" // RunConfig.LRSchedule: no decay

	SpacingLinear    = "linear"    // RunConfig.NoiseSpacing: linspace(sigma_min, sigma_max)
	SpacingGeometric = "geometric" // RunConfig.NoiseSpacing: logspace(sigma_min, sigma_max)

	NoiseMultiscale = "multiscale" // RunConfig.NoiseMode: MDSM, one sigma per batch index
	NoiseSingle     = "single"     // RunConfig.NoiseMode: one-sigma DSM, the paper's baseline
)

// FieldKind is the type of a setting's value.
type FieldKind int

// The kinds of settings.
const (
	KindInt FieldKind = iota
	KindUint
	KindFloat
	KindString
	KindBool
)

// Field is one setting of a RunConfig with everything the command-line flags (cmd/mdsm) and
// the workbench's Configure form are built from: both iterate RunFields, so a new setting
// is one entry in that table. Values travel as text (flags and form fields are text): Get
// formats, Set parses into a config, and Problems validates.
type Field struct {
	// Name is the JSON name in config.json (inside "model" for network settings); every
	// validation message about the field starts with it.
	Name string
	// Flag is the command-line flag, without dashes.
	Flag string
	// Label is the form's label; Help one line for the flag's usage and the form.
	Label, Help string
	Kind        FieldKind
	// Choices are the allowed values; with Open they are suggestions and any text is
	// allowed (the dataset may be an image folder).
	Choices []string
	Open    bool
	// Model marks a network setting: setting it makes the preset "NAME+custom".
	Model bool
	// Resume marks a setting a resumed run may change (its flag is accepted with
	// `mdsm train --resume`, and a checkpoint whose config differs in it still resumes): the
	// step total, the micro-batch (gradient accumulation gives the same update), NaN
	// rollback, where the data lives and the device (the same numbers up to rounding), and
	// the share of time sample grids take (they never touch training). Anything else would
	// silently make the run another run. See ResumeChangeable.
	Resume bool

	get   func(c *RunConfig) string
	set   func(c *RunConfig, v string) error
	check func(c RunConfig) string // "" or why the value is invalid
}

// Get formats the field's value in c.
func (f Field) Get(c RunConfig) string { return f.get(&c) }

// Set parses v into the field of c. It reports text that does not parse (or a choice that
// is not allowed); ranges and relations between fields are Problems' job, so that a form
// can hold a value that is invalid for now.
func (f Field) Set(c *RunConfig, v string) error {
	v = strings.TrimSpace(v)
	if len(f.Choices) > 0 && !f.Open && f.Kind != KindBool && !f.isChoice(v) {
		return fmt.Errorf("%q: choose one of %s", v, strings.Join(f.Choices, ", "))
	}
	return f.set(c, v)
}

// Default is the field's value in DefaultRunConfig.
func (f Field) Default() string { return f.Get(DefaultRunConfig()) }

func (f Field) isChoice(v string) bool {
	for _, c := range f.Choices {
		if c == v {
			return true
		}
	}
	return false
}

// FieldByName finds a field of RunFields by its JSON name.
func FieldByName(name string) (Field, bool) {
	for _, f := range RunFields() {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// RunFields lists every setting of a RunConfig, in the order the form shows them (and flags
// are applied: the preset before the widths it sets).
func RunFields() []Field {
	return []Field{
		stringField("data", "data", "dataset", "embedded, mnist, fashion-mnist, cifar10 or an image folder",
			func(c *RunConfig) *string { return &c.Data }, nil).open("embedded", "mnist", "fashion-mnist", "cifar10"),
		stringField("data_dir", "data-dir", "data directory", "where downloaded datasets live (empty = $MDSM_DATA or ~/.cache/mdsm/data)",
			func(c *RunConfig) *string { return &c.DataDir }, nil).resumable(),
		presetField(),
		modelField("in_channels", "in-channels", "in channels", "input channels: 1 grey, 3 colour", func(m *nn.Config) *int { return &m.InChannels }),
		modelField("image_size", "image-size", "image size", "image side: 28 keeps MNIST unpadded, 32 pads it, 14 halves it", func(m *nn.Config) *int { return &m.ImageSize }),
		modelField("filters", "filters", "filters", "base width (channels of the stem)", func(m *nn.Config) *int { return &m.Filters }),
		modelField("stages", "stages", "stages", "downsampling stages (each doubles the width)", func(m *nn.Config) *int { return &m.Stages }),
		modelField("extra_blocks", "extra-blocks", "extra blocks", "same-size blocks per stage", func(m *nn.Config) *int { return &m.ExtraBlocks }),
		stringField("noise_mode", "noise-mode", "noise mode", "multiscale (MDSM) or single (one-sigma DSM, the paper's Appendix B baseline)",
			func(c *RunConfig) *string { return &c.NoiseMode }, nil).choices(NoiseMultiscale, NoiseSingle),
		floatField("sigma_min", "sigma-min", "sigma min", "smallest training noise level", func(c *RunConfig) *float64 { return &c.SigmaMin },
			func(c RunConfig, v float64) string {
				if c.NoiseMode == NoiseMultiscale && !(v > 0 && v <= c.SigmaMax) {
					return fmt.Sprintf("need 0 < sigma_min <= sigma_max (%g)", c.SigmaMax)
				}
				return ""
			}),
		floatField("sigma_max", "sigma-max", "sigma max", "largest training noise level", func(c *RunConfig) *float64 { return &c.SigmaMax }, nil),
		stringField("noise_spacing", "noise-spacing", "noise spacing", "linear or geometric spacing of the noise levels over the batch",
			func(c *RunConfig) *string { return &c.NoiseSpacing }, nil).choices(SpacingLinear, SpacingGeometric),
		floatField("single_sigma", "single-sigma", "single sigma", "the sigma of noise mode single", func(c *RunConfig) *float64 { return &c.SingleSigma },
			func(c RunConfig, v float64) string {
				if c.NoiseMode == NoiseSingle && !(v > 0) {
					return "must be > 0"
				}
				return ""
			}),
		floatField("sigma0", "sigma0", "sigma0", "sigma0 of the score target (x~ - x)/sigma0^2 and of the denoising jump",
			func(c *RunConfig) *float64 { return &c.Sigma0 }, positive),
		floatField("lr", "lr", "learning rate", "peak learning rate (Adam)", func(c *RunConfig) *float64 { return &c.LR },
			func(_ RunConfig, v float64) string {
				if !(v > 0 && v < 1) {
					return "must be in (0, 1)"
				}
				return ""
			}),
		stringField("lr_schedule", "lr-schedule", "lr decay", "cosine (decay to lr min) or constant",
			func(c *RunConfig) *string { return &c.LRSchedule }, nil).choices(LRCosine, LRConstant),
		floatField("lr_min", "lr-min", "lr min", "final learning rate of the cosine decay", func(c *RunConfig) *float64 { return &c.LRMin },
			func(c RunConfig, v float64) string {
				if v < 0 || v > c.LR {
					return "must be in [0, lr]"
				}
				return ""
			}),
		intField("warmup_steps", "warmup", "warm-up steps", "linear learning-rate warm-up steps", func(c *RunConfig) *int { return &c.Warmup }, atLeast(0)),
		floatField("beta1", "beta1", "Adam beta1", "Adam's first-moment decay", func(c *RunConfig) *float64 { return &c.Beta1 }, unitInterval),
		floatField("beta2", "beta2", "Adam beta2", "Adam's second-moment decay", func(c *RunConfig) *float64 { return &c.Beta2 }, unitInterval),
		intField("batch_size", "batch", "batch", "images per step", func(c *RunConfig) *int { return &c.BatchSize }, between(1, 4096)),
		intField("micro_batch", "micro-batch", "micro-batch", "images per forward/backward pass (gradient accumulation); 0 = the whole batch (batch/N on N ranks under mpirun/srun)",
			func(c *RunConfig) *int { return &c.MicroBatch },
			func(c RunConfig, v int) string {
				if v < 0 || v > c.BatchSize {
					return fmt.Sprintf("must be 0 (whole batch) or 1..batch_size (%d)", c.BatchSize)
				}
				return ""
			}).resumable(),
		intField("steps", "steps", "steps", "total optimisation steps", func(c *RunConfig) *int { return &c.Steps }, atLeast(1)).resumable(),
		intField("log_every", "log-every", "log every", "write a metrics.jsonl line every N steps", func(c *RunConfig) *int { return &c.LogEvery }, atLeast(1)),
		intField("checkpoint_every", "checkpoint-every", "checkpoint every", "checkpoint every N steps", func(c *RunConfig) *int { return &c.CheckpointEvery }, atLeast(1)),
		intField("keep_checkpoints", "keep", "keep checkpoints", "periodic checkpoints kept (the newest; manual ones are never rotated)",
			func(c *RunConfig) *int { return &c.KeepCheckpoints }, atLeast(1)),
		intField("sample_every", "sample-every", "sample every", "write a sample grid to RUN/samples every N steps (0 = never)",
			func(c *RunConfig) *int { return &c.SampleEvery }, atLeast(0)),
		intField("sample_count", "sample-count", "sample count", "images in a periodic sample grid", func(c *RunConfig) *int { return &c.SampleCount },
			func(c RunConfig, v int) string {
				if c.SampleEvery > 0 && (v < 1 || v > 1024) {
					return "must be in 1..1024"
				}
				return ""
			}),
		intField("sample_steps", "sample-steps", "sample steps", "Langevin steps of the run's sampler (periodic grids, mdsm sample)",
			func(c *RunConfig) *int { return &c.SampleSteps }, between(1, sampling.MaxScheduleSteps)),
		floatField("sample_t0", "sample-t0", "sample T0", "start temperature of the run's sampler (the paper's 100; 10 for the 14x14 presets)",
			func(c *RunConfig) *float64 { return &c.SampleT0 }, positive),
		floatField("sample_init_mean", "sample-init-mean", "sample start", "mean of the run's chains' start x0 = mean + N(0, I) (the paper's 0.5; 0.25 for the 28x28 default)",
			func(c *RunConfig) *float64 { return &c.SampleInitMean }, func(_ RunConfig, v float64) string {
				if !(v >= -10 && v <= 10) {
					return "must be in [-10, 10]"
				}
				return ""
			}),
		floatField("sample_share", "sample-share", "sample share",
			fmt.Sprintf("largest share of wall time a periodic grid takes while it is drawn, between training steps (0 = %g; a grid due while one is drawn is skipped)", DefaultSampleShare),
			func(c *RunConfig) *float64 { return &c.SampleShare },
			func(_ RunConfig, v float64) string {
				if !(v >= 0 && v <= MaxSampleShare) {
					return fmt.Sprintf("must be in [0, %g] (0 = the default, %g)", MaxSampleShare, DefaultSampleShare)
				}
				return ""
			}).resumable(),
		floatField("ema", "ema", "weight EMA", "decay of the moving average of the weights that sampling uses (0 = off: the trained weights; e.g. 0.999)",
			func(c *RunConfig) *float64 { return &c.EMA },
			func(_ RunConfig, v float64) string {
				if !(v >= 0 && v < 1) {
					return "must be in [0, 1) (0 = off)"
				}
				return ""
			}),
		{Name: "seed", Flag: "seed", Label: "seed", Help: "random seed (weights, batches, noise)", Kind: KindUint,
			get: func(c *RunConfig) string { return strconv.FormatUint(c.Seed, 10) },
			set: func(c *RunConfig, v string) error {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return fmt.Errorf("%q is not a non-negative whole number", v)
				}
				c.Seed = n
				return nil
			}},
		stringField("device", "device", "device", DeviceFlagHelp, func(c *RunConfig) *string { return &c.Device },
			func(_ RunConfig, v string) string {
				if _, _, err := ParseDevice(v); err != nil {
					return "use auto, cpu, cuda or cuda:N (N = 0, 1, ...)"
				}
				return ""
			}).open("auto", "cpu", "cuda").resumable(),
		boolField("tf32", "tf32", "TF32 on GPU", "let a GPU use TF32 tensor cores in float32 convolutions (faster, ~1e-3 relative error per product)",
			func(c *RunConfig) *bool { return &c.TF32 }).resumable(),
		boolField("nan_rollback", "nan-rollback", "NaN rollback",
			fmt.Sprintf("on a NaN/Inf, roll back to the last good checkpoint with the learning rate halved and go on (at most %d times)", MaxNaNRollbacks),
			func(c *RunConfig) *bool { return &c.NaNRollback }).resumable(),
	}
}

// Problems lists every invalid setting of c, one FieldError per field, in table order.
// Validate joins them into one error.
func (c RunConfig) Problems() []FieldError {
	var out []FieldError
	seen := map[string]bool{}
	add := func(name, msg string) {
		if !seen[name] {
			seen[name] = true
			out = append(out, FieldError{Field: name, Msg: msg})
		}
	}
	for _, f := range RunFields() {
		if f.Kind == KindString && len(f.Choices) > 0 && !f.Open && !f.isChoice(f.Get(c)) {
			if f.Name == "noise_spacing" && c.NoiseMode != NoiseMultiscale {
				continue // only multiscale spaces its noise levels
			}
			add(f.Name, fmt.Sprintf("%s = %q: must be %s", f.Name, f.Get(c), strings.Join(f.Choices, " or ")))
			continue
		}
		if f.Name == "data" && c.Data == "" {
			add(f.Name, "data is empty: use embedded, mnist, fashion-mnist, cifar10 or an image folder")
			continue
		}
		if f.check != nil {
			if why := f.check(c); why != "" {
				add(f.Name, fmt.Sprintf("%s = %s: %s", f.Name, f.Get(c), why))
			}
		}
	}
	// The network's own checks (nn.Config.Validate) start with the field's JSON name.
	if err := c.Model.Validate(); err != nil {
		for _, e := range unjoin(err) {
			name, _, _ := strings.Cut(e.Error(), " ")
			if _, ok := FieldByName(name); !ok {
				name = "preset"
			}
			add(name, e.Error())
		}
	}
	return out
}

// FieldError is the problem with one setting: Field is its JSON name, Msg says what is
// wrong and what would be valid (starting with the name).
type FieldError struct {
	Field, Msg string
}

func (e FieldError) Error() string { return e.Msg }

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// The field constructors: one per kind, each with a rule that gets the whole config (for
// rules relating two fields) and the field's value.

func intField(name, flag, label, help string, p func(*RunConfig) *int, rule func(RunConfig, int) string) Field {
	f := Field{Name: name, Flag: flag, Label: label, Help: help, Kind: KindInt,
		get: func(c *RunConfig) string { return strconv.Itoa(*p(c)) },
		set: func(c *RunConfig, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%q is not a whole number", v)
			}
			*p(c) = n
			return nil
		}}
	if rule != nil {
		f.check = func(c RunConfig) string { return rule(c, *p(&c)) }
	}
	return f
}

func floatField(name, flag, label, help string, p func(*RunConfig) *float64, rule func(RunConfig, float64) string) Field {
	return Field{Name: name, Flag: flag, Label: label, Help: help, Kind: KindFloat,
		get: func(c *RunConfig) string { return strconv.FormatFloat(*p(c), 'g', -1, 64) },
		set: func(c *RunConfig, v string) error {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", v)
			}
			*p(c) = x
			return nil
		},
		check: func(c RunConfig) string {
			v := *p(&c)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return "must be a finite number"
			}
			if rule != nil {
				return rule(c, v)
			}
			return ""
		}}
}

func stringField(name, flag, label, help string, p func(*RunConfig) *string, rule func(RunConfig, string) string) Field {
	f := Field{Name: name, Flag: flag, Label: label, Help: help, Kind: KindString,
		get: func(c *RunConfig) string { return *p(c) },
		set: func(c *RunConfig, v string) error { *p(c) = v; return nil }}
	if rule != nil {
		f.check = func(c RunConfig) string { return rule(c, *p(&c)) }
	}
	return f
}

func boolField(name, flag, label, help string, p func(*RunConfig) *bool) Field {
	return Field{Name: name, Flag: flag, Label: label, Help: help, Kind: KindBool, Choices: []string{"off", "on"},
		get: func(c *RunConfig) string {
			if *p(c) {
				return "on"
			}
			return "off"
		},
		set: func(c *RunConfig, v string) error {
			b, ok := parseSwitch(v)
			if !ok {
				return fmt.Errorf("%q: choose on or off", v)
			}
			*p(c) = b
			return nil
		}}
}

// parseSwitch reads a boolean setting: on/off as the form shows it, true/false as flags
// pass it.
func parseSwitch(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "on", "true", "1", "yes":
		return true, true
	case "off", "false", "0", "no":
		return false, true
	}
	return false, false
}

// choices makes a string field an enumeration.
func (f Field) choices(cs ...string) Field { f.Choices = cs; return f }

// resumable marks a setting a resumed run may change.
func (f Field) resumable() Field { f.Resume = true; return f }

// open gives a free-text field suggestions.
func (f Field) open(cs ...string) Field { f.Choices, f.Open = cs, true; return f }

// presetField sets the whole network from a preset; the widths below it follow.
func presetField() Field {
	return Field{Name: "preset", Flag: "preset", Label: "preset", Help: "network preset (sets the network settings below it, and its measured steps, lr, sigma max, sample T0 and start)",
		Kind: KindString, Choices: nn.PresetNames(), Model: true, Open: true,
		get: func(c *RunConfig) string { return c.Model.Preset },
		set: func(c *RunConfig, v string) error {
			m, err := nn.PresetConfig(strings.TrimSuffix(v, customSuffix))
			if err != nil {
				return err
			}
			switchPreset(c, v)
			c.Model = m
			return nil
		}}
}

// customSuffix marks a preset whose network settings were changed.
const customSuffix = "+custom"

// modelField is a network setting: setting it marks the preset as customised.
func modelField(name, flag, label, help string, p func(*nn.Config) *int) Field {
	f := intField(name, flag, label, help, func(c *RunConfig) *int { return p(&c.Model) }, nil)
	f.Model = true
	set := f.set
	f.set = func(c *RunConfig, v string) error {
		if err := set(c, v); err != nil {
			return err
		}
		if !strings.HasSuffix(c.Model.Preset, customSuffix) {
			c.Model.Preset += customSuffix
		}
		return nil
	}
	return f
}

// Rules shared by several fields.

func atLeast(lo int) func(RunConfig, int) string {
	return func(_ RunConfig, v int) string {
		if v < lo {
			return fmt.Sprintf("must be at least %d", lo)
		}
		return ""
	}
}

func between(lo, hi int) func(RunConfig, int) string {
	return func(_ RunConfig, v int) string {
		if v < lo || v > hi {
			return fmt.Sprintf("must be in %d..%d", lo, hi)
		}
		return ""
	}
}

func positive(_ RunConfig, v float64) string {
	if !(v > 0) {
		return "must be > 0"
	}
	return ""
}

func unitInterval(_ RunConfig, v float64) string {
	if !(v >= 0 && v < 1) {
		return "must be in [0, 1)"
	}
	return ""
}

// Example is a value of the field that parses and differs from the default: what tests use
// to prove that a flag or a form row reaches the field.
func (f Field) Example() string {
	def := f.Default()
	for i := len(f.Choices) - 1; i >= 0; i-- {
		if f.Choices[i] != def {
			return f.Choices[i]
		}
	}
	switch f.Kind {
	case KindInt, KindUint:
		return "7"
	case KindFloat:
		return "0.375"
	}
	return def + "-x"
}
