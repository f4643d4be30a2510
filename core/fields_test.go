package core

import (
	"encoding/json"
	"math"
	"mdsm/nn"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// jsonNames lists the JSON names of a struct's fields, descending into nested structs
// (RunConfig's "model").
func jsonNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			out = append(out, jsonNames(f.Type)...)
			continue
		}
		out = append(out, name)
	}
	return out
}

// TestRunFieldsCoverRunConfig: every setting of RunConfig (and of its network) has exactly
// one row in the table, every row a distinct flag, and every row's value survives
// Get -> Set -> Get and reaches config.json under the row's name.
func TestRunFieldsCoverRunConfig(t *testing.T) {
	want := jsonNames(reflect.TypeOf(RunConfig{}))
	var got []string
	flags := map[string]bool{}
	for _, f := range RunFields() {
		got = append(got, f.Name)
		if f.Flag == "" || flags[f.Flag] {
			t.Errorf("field %s: flag %q empty or repeated", f.Name, f.Flag)
		}
		flags[f.Flag] = true
		if f.Label == "" || f.Help == "" {
			t.Errorf("field %s has no label or help", f.Name)
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("table fields\n%v\nRunConfig JSON fields\n%v", got, want)
	}
	for _, f := range RunFields() {
		c := DefaultRunConfig()
		ex := f.Example()
		if ex == f.Default() {
			t.Errorf("%s: example %q equals the default", f.Name, ex)
		}
		if err := f.Set(&c, ex); err != nil {
			t.Errorf("%s: set %q: %v", f.Name, ex, err)
			continue
		}
		if g := f.Get(c); g != ex && !(f.Model && g == ex+customSuffix) {
			t.Errorf("%s: set %q, get %q", f.Name, ex, g)
		}
		b, _ := json.Marshal(c)
		var m map[string]any
		json.Unmarshal(b, &m)
		if mm, ok := m["model"].(map[string]any); ok && f.Model {
			m = mm
		}
		if _, ok := m[f.Name]; !ok && f.Name != "nan_rollback" {
			t.Errorf("%s: not a key of config.json %s", f.Name, b)
		}
	}
}

// TestProblemsNameTheirFields: each broken field gives one problem carrying its name, and
// the default config has none.
func TestProblemsNameTheirFields(t *testing.T) {
	if p := DefaultRunConfig().Problems(); len(p) != 0 {
		t.Fatalf("default config: %v", p)
	}
	cases := []struct {
		field string
		edit  func(c *RunConfig)
		msg   string
	}{
		{"steps", func(c *RunConfig) { c.Steps = 0 }, "steps = 0: must be at least 1"},
		{"batch_size", func(c *RunConfig) { c.BatchSize = 0 }, "batch_size = 0: must be in 1..4096"},
		{"micro_batch", func(c *RunConfig) { c.MicroBatch = 65 }, "micro_batch = 65"},
		{"lr_min", func(c *RunConfig) { c.LRMin = 1 }, "must be in [0, lr]"},
		{"lr_schedule", func(c *RunConfig) { c.LRSchedule = "cos" }, `lr_schedule = "cos": must be cosine or constant`},
		{"noise_spacing", func(c *RunConfig) { c.NoiseSpacing = "cubic" }, "noise_spacing"},
		{"sigma0", func(c *RunConfig) { c.Sigma0 = -1 }, "sigma0 = -1: must be > 0"},
		{"beta2", func(c *RunConfig) { c.Beta2 = 1 }, "beta2 = 1: must be in [0, 1)"},
		{"sample_t0", func(c *RunConfig) { c.SampleT0 = 0 }, "sample_t0"},
		{"lr", func(c *RunConfig) { c.LR = math.Inf(1) }, "must be a finite number"},
		{"filters", func(c *RunConfig) { c.Model.Filters = 0 }, "filters = 0"},
		{"image_size", func(c *RunConfig) { c.Model.ImageSize = 15 }, "image_size = 15"},
		{"data", func(c *RunConfig) { c.Data = "" }, "data is empty"},
	}
	for _, tc := range cases {
		c := DefaultRunConfig()
		tc.edit(&c)
		p := c.Problems()
		if len(p) != 1 || p[0].Field != tc.field || !strings.Contains(p[0].Msg, tc.msg) {
			t.Errorf("%s: problems %v, want one for %s containing %q", tc.field, p, tc.field, tc.msg)
		}
	}
	// single-noise runs do not care about the multiscale settings
	c := DefaultRunConfig()
	c.NoiseMode, c.NoiseSpacing, c.SigmaMin = NoiseSingle, "", -1
	if p := c.Problems(); len(p) != 0 {
		t.Errorf("single noise: %v", p)
	}
}

// TestFieldSetRefusesBadText: text that does not parse, or a choice that does not exist,
// is refused by Set and leaves the config as it was.
func TestFieldSetRefusesBadText(t *testing.T) {
	for name, text := range map[string]string{"steps": "abc", "lr": "fast", "seed": "-1", "nan_rollback": "maybe",
		"noise_mode": "double", "preset": "huge"} {
		f, ok := FieldByName(name)
		if !ok {
			t.Fatalf("no field %s", name)
		}
		c := DefaultRunConfig()
		if err := f.Set(&c, text); err == nil {
			t.Errorf("%s: %q accepted", name, text)
		}
		if !reflect.DeepEqual(c, DefaultRunConfig()) {
			t.Errorf("%s: a refused value changed the config", name)
		}
	}
	// a network setting marks the preset as customised; the preset resets the widths
	c := DefaultRunConfig()
	f, _ := FieldByName("filters")
	f.Set(&c, "8")
	if c.Model.Preset != nn.DefaultPreset+"+custom" || c.Model.Filters != 8 {
		t.Errorf("after filters=8: %+v", c.Model)
	}
	p, _ := FieldByName("preset")
	p.Set(&c, "tiny")
	if c.Model.Preset != "tiny" || c.Model.Filters == 8 {
		t.Errorf("after preset=tiny: %+v", c.Model)
	}
}

// TestPresetSetsItsMeasuredSettings: choosing a preset brings the run settings it was
// measured with (PresetDefaults), by flag order and in a config file, and a setting given
// beside it still wins.
func TestPresetSetsItsMeasuredSettings(t *testing.T) {
	def := DefaultRunConfig()
	if def.Model.Preset != "medium" || def.Steps != 13000 || def.LR != 2e-3 || def.SampleInitMean != 0.25 {
		t.Fatalf("default run: preset %s, %d steps, lr %g, start %g", def.Model.Preset, def.Steps, def.LR, def.SampleInitMean)
	}
	c := DefaultRunConfig()
	p, _ := FieldByName("preset")
	if err := p.Set(&c, "small"); err != nil {
		t.Fatal(err)
	}
	if c.Steps != 6000 || c.LR != 1e-3 || c.SigmaMax != 1.2 || c.SampleT0 != 10 || c.SampleInitMean != 0.5 {
		t.Errorf("small: %d steps, lr %g, sigma max %g, T0 %g, start %g", c.Steps, c.LR, c.SigmaMax, c.SampleT0, c.SampleInitMean)
	}
	if lc := c.SamplerConfig(); lc.InitMean != 0.5 || lc.Schedule.T0 != 10 {
		t.Errorf("small's sampler: start %g, T0 %g", lc.InitMean, lc.Schedule.T0)
	}
	// back to medium: its settings again
	p.Set(&c, "medium")
	if !reflect.DeepEqual(c, def) {
		t.Errorf("small then medium differs from the default:\n%+v\n%+v", c, def)
	}
	// a config file naming small, with an explicit lr; one written before sample_init_mean
	var f RunConfig = DefaultRunConfig()
	if err := DecodeRunConfig([]byte(`{"model": {"preset": "small"}, "lr": 5e-4}`), &f); err != nil {
		t.Fatal(err)
	}
	if f.Model.Filters != 32 || f.LR != 5e-4 || f.Steps != 6000 || f.SampleInitMean != 0.5 {
		t.Errorf("config file: %+v", f)
	}
	if f.SamplerConfig().InitMean != 0.5 {
		t.Errorf("config file's sampler starts at %g", f.SamplerConfig().InitMean)
	}
}

// TestResumeChangeableIsTheTable: a config that differs from another in one field is a
// change a resumed run refuses (ConfigChanges) exactly when the table does not mark the
// field Resume, for every field; ResumeChangeable lists the marked ones, in table order.
func TestResumeChangeableIsTheTable(t *testing.T) {
	var marked []string
	for _, f := range RunFields() {
		if f.Resume {
			marked = append(marked, f.Name)
		}
		a := DefaultRunConfig()
		b := a
		if err := f.Set(&b, f.Example()); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		diff := ConfigChanges(a, b)
		if f.Resume && len(diff) > 0 {
			t.Errorf("%s may change on a resume, but ConfigChanges reports %v", f.Name, diff)
		}
		if !f.Resume && len(diff) == 0 {
			t.Errorf("%s may not change on a resume, but ConfigChanges reports no change (set to %s)", f.Name, f.Example())
		}
	}
	if got := ResumeChangeable(); !slices.Equal(got, marked) || len(got) == 0 {
		t.Errorf("ResumeChangeable() = %v, the table marks %v", got, marked)
	}
}
