// Package nn is the energy network of MDSM: the pre-activation ResNet with a generalised
// quadratic head described in docs/REFERENCE.md, its named parameters, a fast layer
// engine (energy, dE/dx and the score-matching weight gradient) and safetensors checkpoints.
package nn

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Float is the element type of the engine: float32 for training and sampling, float64 for
// the finite-difference gradient tests.
type Float interface{ ~float32 | ~float64 }

// Config describes one network of the family: a 3x3 stem conv to Filters channels, then
// Stages stages of [one downsampling block that doubles the channels, ExtraBlocks same-size
// blocks], then the quadratic head on the flattened final feature map.
type Config struct {
	Preset      string `json:"preset,omitempty"`
	InChannels  int    `json:"in_channels"`
	ImageSize   int    `json:"image_size"`
	Filters     int    `json:"filters"`
	Stages      int    `json:"stages"`
	ExtraBlocks int    `json:"extra_blocks"`
}

// presets are the named configurations. paper-mnist is the authors' Res12 (9,060,483
// parameters), paper-cifar their Res18. The CPU presets were chosen by measurement on a
// 2-core CPU (README "Presets"): at 14x14 (MNIST area-downsampled) a 2-core machine makes
// four times the steps of 28x28, and steps decide whether digits appear.
var presets = map[string]Config{
	"paper-mnist": {InChannels: 1, ImageSize: 32, Filters: 64, Stages: 3, ExtraBlocks: 1},
	"paper-cifar": {InChannels: 3, ImageSize: 32, Filters: 128, Stages: 3, ExtraBlocks: 2},
	"medium":      {InChannels: 1, ImageSize: 28, Filters: 16, Stages: 2, ExtraBlocks: 1},
	"small":       {InChannels: 1, ImageSize: 14, Filters: 32, Stages: 1, ExtraBlocks: 1},
	"tiny":        {InChannels: 1, ImageSize: 14, Filters: 16, Stages: 1, ExtraBlocks: 0},
}

// DefaultPreset is the preset a first run uses: full-resolution MNIST digits of every class
// from 20 minutes on 2 CPU cores (docs/QUALITY.md); "small" (14x14) is the quick look.
const DefaultPreset = "medium"

// PresetNames lists the preset names in sorted order.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PresetConfig returns the configuration of a named preset.
func PresetConfig(name string) (Config, error) {
	c, ok := presets[name]
	if !ok {
		return Config{}, fmt.Errorf("unknown preset %q: choose one of %s", name, strings.Join(PresetNames(), ", "))
	}
	c.Preset = name
	return c, nil
}

// Validate reports a configuration that cannot be built, naming the field and the fix.
func (c Config) Validate() error {
	var errs []error
	if c.InChannels < 1 || c.InChannels > 4 {
		errs = append(errs, fmt.Errorf("in_channels = %d: must be 1 (grey) to 4", c.InChannels))
	}
	if c.Filters < 1 || c.Filters > 1024 {
		errs = append(errs, fmt.Errorf("filters = %d: must be in 1..1024", c.Filters))
	}
	if c.Stages < 0 || c.Stages > 6 {
		errs = append(errs, fmt.Errorf("stages = %d: must be in 0..6", c.Stages))
	}
	if c.ExtraBlocks < 0 || c.ExtraBlocks > 8 {
		errs = append(errs, fmt.Errorf("extra_blocks = %d: must be in 0..8", c.ExtraBlocks))
	}
	if c.ImageSize < 4 || c.ImageSize > 256 {
		errs = append(errs, fmt.Errorf("image_size = %d: must be in 4..256", c.ImageSize))
	} else if c.Stages >= 0 && c.Stages <= 6 && c.ImageSize%(1<<c.Stages) != 0 {
		errs = append(errs, fmt.Errorf("image_size = %d is not divisible by 2^stages = %d: choose a size divisible by %d", c.ImageSize, 1<<c.Stages, 1<<c.Stages))
	}
	return errors.Join(errs...)
}

// ParamCount is the number of scalars of the network's parameters.
func (c Config) ParamCount() int {
	n := 0
	for _, s := range c.ParamSpecs() {
		k := 1
		for _, d := range s.Shape {
			k *= d
		}
		n += k
	}
	return n
}

// FinalChannels is the channel count of the last feature map (Filters * 2^Stages).
func (c Config) FinalChannels() int { return c.Filters << c.Stages }

// FinalSize is the spatial side of the last feature map.
func (c Config) FinalSize() int { return c.ImageSize >> c.Stages }

// HeadInputs is n, the length of the flattened feature vector the quadratic head reads.
func (c Config) HeadInputs() int { s := c.FinalSize(); return c.FinalChannels() * s * s }

// Dim is the number of scalars in one input image (C*H*W).
func (c Config) Dim() int { return c.InChannels * c.ImageSize * c.ImageSize }

// blockSpec is one residual block: its channels, spatial input size and whether it pools.
type blockSpec struct {
	cin, cout, size int
	down            bool
}

// outPlane is the pixels of one output channel of the block.
func (bs blockSpec) outPlane() int {
	s := bs.size
	if bs.down {
		s /= 2
	}
	return s * s
}

// blocks lists the residual blocks in order.
func (c Config) blocks() []blockSpec {
	var bs []blockSpec
	ch, s := c.Filters, c.ImageSize
	for st := 0; st < c.Stages; st++ {
		bs = append(bs, blockSpec{cin: ch, cout: 2 * ch, size: s, down: true})
		ch, s = 2*ch, s/2
		for e := 0; e < c.ExtraBlocks; e++ {
			bs = append(bs, blockSpec{cin: ch, cout: ch, size: s})
		}
	}
	return bs
}

// ParamSpec names one parameter tensor and its shape (PyTorch layout: conv weights are
// [out, in, kh, kw], linear weights [out, in]).
type ParamSpec struct {
	Name  string
	Shape []int
}

// ParamSpecs lists every parameter tensor in a fixed order. Names follow the PyTorch module
// names of the authors' PyTorch ResEnergy (docs/REFERENCE.md "Parameter names"), so a safetensors checkpoint loads
// into that module with load_state_dict.
func (c Config) ParamSpecs() []ParamSpec {
	f := c.Filters
	specs := []ParamSpec{
		{"stem.weight", []int{f, c.InChannels, 3, 3}},
		{"stem.bias", []int{f}},
	}
	for k, b := range c.blocks() {
		p := fmt.Sprintf("blocks.%d.", k)
		specs = append(specs,
			ParamSpec{p + "c1.weight", []int{b.cin, b.cin, 3, 3}},
			ParamSpec{p + "c2.weight", []int{b.cout, b.cin, 3, 3}},
			ParamSpec{p + "c2.bias", []int{b.cout}},
			ParamSpec{p + "skip.weight", []int{b.cout, b.cin, 1, 1}},
			ParamSpec{p + "skip.bias", []int{b.cout}},
		)
	}
	n := c.HeadInputs()
	for _, l := range []string{"l1", "l2", "lq"} {
		specs = append(specs,
			ParamSpec{"head." + l + ".weight", []int{1, n}},
			ParamSpec{"head." + l + ".bias", []int{1}},
		)
	}
	return specs
}

// EnergyOffset is the name of b3, the constant added to the energy. It has zero gradient in
// every score-matching loss, so the optimiser never updates it (docs/GORGONIA.md).
const EnergyOffset = "head.lq.bias"

// ForwardMACs estimates the multiply-accumulates of one forward pass for one image.
func (c Config) ForwardMACs() int64 {
	s := int64(c.ImageSize)
	macs := int64(c.Filters) * int64(c.InChannels) * 9 * s * s
	for _, b := range c.blocks() {
		hw := int64(b.size * b.size)
		ci, co := int64(b.cin), int64(b.cout)
		macs += ci * ci * 9 * hw
		macs += co * ci * 9 * hw
		if b.down {
			macs += co * ci * hw / 4
		} else {
			macs += co * ci * hw
		}
	}
	return macs + 3*int64(c.HeadInputs())
}
