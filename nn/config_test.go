package nn

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestPaperParameterCounts(t *testing.T) {
	for _, tc := range []struct {
		preset string
		want   int
	}{
		{"paper-mnist", 9060483}, // docs/REFERENCE.md "Energy network", energy offset included
	} {
		c, err := PresetConfig(tc.preset)
		if err != nil {
			t.Fatal(err)
		}
		if got := NewParams[float32](c).Count(); got != tc.want {
			t.Errorf("%s: %d parameters, want %d", tc.preset, got, tc.want)
		}
	}
	c, _ := PresetConfig("paper-cifar")
	got := NewParams[float32](c).Count()
	if got < 62_000_000 || got > 62_600_000 {
		t.Errorf("paper-cifar: %d parameters, docs/REFERENCE.md says about 62.3M", got)
	}
	t.Logf("paper-cifar has %d parameters", got)
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{InChannels: 1, ImageSize: 28, Filters: 16, Stages: 3}, "divisible"},
		{Config{InChannels: 0, ImageSize: 32, Filters: 16, Stages: 2}, "in_channels"},
		{Config{InChannels: 1, ImageSize: 32, Filters: 0, Stages: 2}, "filters"},
		{Config{InChannels: 1, ImageSize: 32, Filters: 8, Stages: -1}, "stages"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", tc.cfg, err, tc.want)
		}
	}
	for _, name := range PresetNames() {
		c, _ := PresetConfig(name)
		if err := c.Validate(); err != nil {
			t.Errorf("preset %s invalid: %v", name, err)
		}
	}
	if _, err := PresetConfig("huge"); err == nil || !strings.Contains(err.Error(), "paper-mnist") {
		t.Errorf("unknown preset error should list the presets, got %v", err)
	}
}

func TestInitBounds(t *testing.T) {
	c, _ := PresetConfig("tiny")
	p := InitParams[float32](c, rand.New(rand.NewPCG(1, 2)))
	w := p.T["blocks.0.c1.weight"]
	bound := float32(1.0 / 12) // 1/sqrt(16*9)
	for _, v := range w.Data {
		if v < -bound || v > bound {
			t.Fatalf("init value %g outside +-%g", v, bound)
		}
	}
	if err := p.CheckFinite(); err != nil {
		t.Fatal(err)
	}
}
