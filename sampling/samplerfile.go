package sampling

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"mdsm/internal/safefile"
)

// SamplerFormat tags a saved sampler file.
const SamplerFormat = "mdsm-sampler-v1"

// samplerFile is the JSON of a saved sampler: a LangevinConfig and its format tag.
type samplerFile struct {
	Format string `json:"format,omitempty"`
	LangevinConfig
}

// EncodeSampler is the one saved-sampler format: the LangevinConfig's JSON (schedule, eps,
// sigma0, init_mean, init_std) tagged with SamplerFormat. The workbench's Schedule pane
// saves it (RUN/sampler.json), `mdsm sample --schedule FILE` and `mdsm inpaint --schedule
// FILE` read it. Sigma0 is written for completeness; a reader that knows the model replaces
// it with the model's own (the denoising jump belongs to the network, not the sampler).
func EncodeSampler(c LangevinConfig) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(samplerFile{Format: SamplerFormat, LangevinConfig: c}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sampling: encode sampler: %w", err)
	}
	return append(b, '\n'), nil
}

// DecodeSampler reads a saved sampler: fields it lacks keep DefaultLangevinConfig's values
// (files written before the format tag hold only schedule and eps), except the schedule,
// which the file must give whole;, unknown fields are an
// error (a typo must not pass silently), and the result is validated.
func DecodeSampler(b []byte) (LangevinConfig, error) {
	f := samplerFile{LangevinConfig: DefaultLangevinConfig()}
	f.Schedule = Schedule{} // the schedule is required, whole: no field of it defaults
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return LangevinConfig{}, fmt.Errorf("not a saved sampler (%s JSON with schedule, eps, ...): %w", SamplerFormat, err)
	}
	if f.Format != "" && f.Format != SamplerFormat {
		return LangevinConfig{}, fmt.Errorf("sampler format %q: this mdsm reads %s", f.Format, SamplerFormat)
	}
	if err := f.LangevinConfig.Validate(); err != nil {
		return LangevinConfig{}, err
	}
	return f.LangevinConfig, nil
}

// maxSamplerFile bounds a saved sampler file (a few hundred bytes when saved by mdsm; a
// long piecewise schedule stays far below it).
const maxSamplerFile = 16 << 20

// WriteSamplerFile writes c to path atomically in the saved-sampler format: a regular file
// of the run's replaced, never a symbolic link followed (safefile.WriteAtomic).
func WriteSamplerFile(path string, c LangevinConfig) error {
	b, err := EncodeSampler(c)
	if err != nil {
		return fmt.Errorf("save sampler %s: %w", path, err)
	}
	if err := safefile.WriteAtomic(path, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return fmt.Errorf("save sampler: %w", err)
	}
	return nil
}

// ReadSamplerFile reads a sampler saved by WriteSamplerFile with the checked reader (a
// regular file of at most maxSamplerFile bytes: a FIFO, a device or a huge file is refused
// before it is read); errors name the file.
func ReadSamplerFile(path string) (LangevinConfig, error) {
	b, err := safefile.ReadFile(path, "sampler file", maxSamplerFile)
	if err != nil {
		return LangevinConfig{}, fmt.Errorf("read sampler: %w", err)
	}
	c, err := DecodeSampler(b)
	if err != nil {
		return LangevinConfig{}, fmt.Errorf("sampler file %s: %w", path, err)
	}
	return c, nil
}
