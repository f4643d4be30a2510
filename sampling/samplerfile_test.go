package sampling

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestSamplerFileRoundTrip: every field survives a write and a read, a file of the
// workbench's first format (schedule and eps only) reads with defaults for the rest, and
// bad files are refused with the file named.
func TestSamplerFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	sch, _, err := DefaultSchedule().Rescaled(300, 7).AddPoint(0.4, 2.5)
	if err != nil {
		t.Fatal(err)
	}
	want := LangevinConfig{Schedule: sch, Eps: 0.031, Sigma0: 0.2, InitMean: 0.4, InitStd: 0.8}
	path := filepath.Join(dir, "sampler.json")
	if err := WriteSamplerFile(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSamplerFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read %+v, wrote %+v", got, want)
	}
	old, err := DecodeSampler([]byte(`{"schedule":{"kind":"lin","steps":50,"t0":5},"eps":0.03}`))
	if err != nil || old.Eps != 0.03 || old.Schedule.Kind != KindLin || old.InitMean != 0.5 || old.InitStd != 1 {
		t.Errorf("first-format file: %+v, %v", old, err)
	}
	for _, bad := range []string{`{"kind":"exp","steps":10}`, `{"schedule":{"kind":"exp","steps":10},"eps":-1}`,
		`{"format":"mdsm-sampler-v9"}`, `[`} {
		if _, err := DecodeSampler([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if err := WriteSamplerFile(path, LangevinConfig{}); err == nil {
		t.Error("an invalid sampler was written")
	}
	if _, err := ReadSamplerFile(filepath.Join(dir, "none.json")); err == nil || !strings.Contains(err.Error(), "none.json") {
		t.Errorf("missing file: %v", err)
	}
}
